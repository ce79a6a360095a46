// scan.h — CPU cumulative sum / product along one axis, forward and backward.
//
//   x viewed as [outer, n, inner] (the scanned axis in the middle; C-contiguous)
//   cumsum:  y[o, j, i] = Σ_{t <= j} x[o, t, i]      (reverse: Σ_{t >= j}; the backward of cumsum
//            is the reverse cumsum of dy)
//   cumprod: y[o, j, i] = Π_{t <= j} x[o, t, i]
//            backward, per line, with z = the first t where x[t] == 0 (n if none):
//              dx[j] = (Σ_{z > t >= j} dy[t]·y[t]) / x[j]         for j < z
//              dx[z] = Σ_{t >= z} dy[t]·Π_{s <= t, s != z} x[s]    (a forward scan from z)
//              dx[j] = 0                                           for j > z (x[z] is a factor)
//            exact at zeros, O(n) per line.
// Sums and products accumulate in double along the line, each output rounded once to float.
// Lines are independent: one task per outer block, the inner axis innermost (vectorises).
#pragma once
#include "common/common.h"

namespace fusednet::cpu {

void cumsum(float* y, const float* x, i64 outer, i64 n, i64 inner, bool reverse);
void cumprod(float* y, const float* x, i64 outer, i64 n, i64 inner);
void cumprod_backward(float* dx, const float* dy, const float* x, const float* y, i64 outer, i64 n,
                      i64 inner);

// One line of the cumprod backward (stride `st` between elements); shared with the CUDA twin.
FN_HD void cumprod_backward_line(float* dx, const float* dy, const float* x, const float* y, i64 n,
                                 i64 st) {
  i64 z = n;
  for (i64 t = 0; t < n; ++t)
    if (x[t * st] == 0.f) {
      z = t;
      break;
    }
  double acc = 0.0;
  for (i64 t = n - 1; t >= 0; --t) {
    if (t < z) {
      acc += double(dy[t * st]) * double(y[t * st]);
      dx[t * st] = float(acc / double(x[t * st]));
    } else {
      dx[t * st] = 0.f;
    }
  }
  if (z < n) {
    double q = z > 0 ? double(y[(z - 1) * st]) : 1.0;  // Π_{s < z} x[s]
    double s = double(dy[z * st]) * q;
    for (i64 t = z + 1; t < n; ++t) {
      q *= double(x[t * st]);
      s += double(dy[t * st]) * q;
    }
    dx[z * st] = float(s);
  }
}

}  // namespace fusednet::cpu
