// param_act.h — activations with parameters the generic activation kernels do not take: PReLU
// (a learned slope per position, broadcast over shared axes) and Keras' full ReLU
// (negative_slope, max_value, threshold).
//
// PReLU: x is [N, D] (D = the per-sample elements), alpha is broadcast over x's per-sample dims:
//   the per-sample shape is given collapsed as dims[0..nd) with astride[k] = 0 for a shared axis,
//   so position d = (i_0, ..., i_{nd-1}) (row-major) uses alpha[Σ i_k·astride_k].
//   forward   y = x > 0 ? x : alpha·x
//   backward  dX = dY·(x > 0 ? 1 : alpha);   dAlpha = Σ_{n, shared axes} dY·(x > 0 ? 0 : x)
//             (per-element terms, then the library's reduce: double sums, fixed order).
// ReLU (Keras 3 activations.relu): with t = threshold, s = negative_slope, m = max_value (has_max)
//   y = clip((x > t ? x : 0), 0, m if has_max) - s·max(t - x, 0)
//   (no clip at all without max_value: for t < 0, x in (t, 0] stays x, as Keras);
//   dX = dY·[(x > t)·(has_max ? (0 < x < m) : 1) + (x < t)·s].
#pragma once
#include "common/common.h"

namespace fusednet::cpu {

constexpr int kPreluMaxDims = 8;
struct PreluMap {
  int nd = 0;
  i64 dims[kPreluMaxDims] = {0};
  i64 astride[kPreluMaxDims] = {0};
  i64 D() const {
    i64 d = 1;
    for (int k = 0; k < nd; ++k) d *= dims[k];
    return d;
  }
};

FN_HD i64 prelu_alpha_index(const PreluMap& m, i64 d) {
  i64 a = 0;
  for (int k = m.nd - 1; k >= 0; --k) {
    const i64 ik = d % m.dims[k];
    d /= m.dims[k];
    a += ik * m.astride[k];
  }
  return a;
}

void prelu_forward(float* Y, const float* X, const float* alpha, i64 N, const PreluMap& m);
// dX may be null; dAlpha (alpha's numel) is written; scratch-free for the caller.
void prelu_backward(float* dX, float* dAlpha, const float* dY, const float* X, const float* alpha, i64 N,
                    const PreluMap& m);

void relu_ext_forward(float* Y, const float* X, i64 n, float threshold, bool has_max, float max_value,
                      float negative_slope);
void relu_ext_backward(float* dX, const float* dY, const float* X, i64 n, float threshold, bool has_max,
                       float max_value, float negative_slope);

FN_HD float relu_ext_value(float x, float t, bool has_max, float m, float s) {
  float a = x > t ? x : 0.f;
  if (has_max) a = a < 0.f ? 0.f : (a > m ? m : a);
  const float neg = t - x > 0.f ? t - x : 0.f;
  return s != 0.f ? a - s * neg : a;
}
FN_HD float relu_ext_grad(float x, float t, bool has_max, float m, float s) {
  float g = 0.f;
  if (x > t) g = has_max ? ((x > 0.f && x < m) ? 1.f : 0.f) : 1.f;
  if (x < t) g += s;
  return g;
}

}  // namespace fusednet::cpu
