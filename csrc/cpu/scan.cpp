// scan.cpp — CPU cumsum / cumprod and backward (formulas in scan.h). Each task owns one outer
// block [n, inner] and walks the scanned axis with a row of double accumulators, so the inner
// loop is contiguous; every line is summed in the same order for any thread count.
#include "cpu/scan.h"

#include <vector>

#include "cpu/parallel.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {

namespace {
template <class Step>
void scan_lines(float* y, const float* x, i64 outer, i64 n, i64 inner, bool reverse, double init,
                Step step) {
  if (outer <= 0 || n <= 0 || inner <= 0) return;
  const bool par = outer > 1 && outer * n * inner >= 32768;
  parallel_for_if(par, outer, num_threads(), [&](i64 o) {
    std::vector<double> acc(size_t(inner), init);
    for (i64 s = 0; s < n; ++s) {
      const i64 j = reverse ? n - 1 - s : s;
      const float* xr = x + (o * n + j) * inner;
      float* yr = y + (o * n + j) * inner;
      for (i64 i = 0; i < inner; ++i) {
        acc[size_t(i)] = step(acc[size_t(i)], double(xr[i]));
        yr[i] = float(acc[size_t(i)]);
      }
    }
  });
}
}  // namespace

void cumsum(float* y, const float* x, i64 outer, i64 n, i64 inner, bool reverse) {
  scan_lines(y, x, outer, n, inner, reverse, 0.0, [](double a, double v) { return a + v; });
}

void cumprod(float* y, const float* x, i64 outer, i64 n, i64 inner) {
  scan_lines(y, x, outer, n, inner, false, 1.0, [](double a, double v) { return a * v; });
}

void cumprod_backward(float* dx, const float* dy, const float* x, const float* y, i64 outer, i64 n,
                      i64 inner) {
  if (outer <= 0 || n <= 0 || inner <= 0) return;
  const i64 lines = outer * inner;
  const bool par = lines > 1 && lines * n >= 32768;
  parallel_for_if(par, lines, num_threads(), [&](i64 l) {
    const i64 o = l / inner, i = l % inner, base = o * n * inner + i;
    cumprod_backward_line(dx + base, dy + base, x + base, y + base, n, inner);
  });
}

}  // namespace fusednet::cpu
