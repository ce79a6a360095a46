// special.cpp — CPU erf / erfinv and their derivatives (formulas in special.h). Elementwise in
// double, one rounding to float; blocks of elements per task (bitwise independent of threads).
#include "cpu/special.h"

#include <algorithm>
#include <cmath>

#include "cpu/parallel.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {

namespace {
constexpr i64 kBlock = 4096;

template <class F>
void blocks(i64 n, F&& f) {
  if (n <= 0) return;
  const i64 nb = (n + kBlock - 1) / kBlock;
  parallel_for_if(nb > 1, nb, num_threads(), [&](i64 b) {
    const i64 e = std::min(n, (b + 1) * kBlock);
    for (i64 i = b * kBlock; i < e; ++i) f(i);
  });
}
constexpr double kTwoOverSqrtPi = 1.1283791670955126;
constexpr double kSqrtPiOverTwo = 0.88622692545275801;
}  // namespace

void erf_forward(float* y, const float* x, i64 n) {
  blocks(n, [&](i64 i) { y[i] = float(std::erf(double(x[i]))); });
}

void erf_backward(float* dx, const float* dy, const float* x, i64 n) {
  blocks(n, [&](i64 i) {
    const double v = x[i];
    dx[i] = float(double(dy[i]) * kTwoOverSqrtPi * std::exp(-v * v));
  });
}

void erfinv_forward(float* y, const float* x, i64 n) {
  blocks(n, [&](i64 i) { y[i] = float(erfinv_scalar(double(x[i]))); });
}

void erfinv_backward(float* dx, const float* dy, const float* y, i64 n) {
  blocks(n, [&](i64 i) {
    const double v = y[i];
    dx[i] = float(double(dy[i]) * kSqrtPiOverTwo * std::exp(v * v));
  });
}

}  // namespace fusednet::cpu
