// special.h — CPU error function and its inverse, forward and backward (elementwise, float32).
//
//   erf:     y = erf(x)                      dx = dy · 2/√π · exp(-x²)
//   erfinv:  y = erf⁻¹(x), x in [-1, 1]      dx = dy · √π/2 · exp(y²)
//            (±1 -> ±inf, |x| > 1 or NaN -> NaN, as NumPy/SciPy/torch)
// erfinv has no libm function: Giles' single-precision polynomial ("Approximating the erfinv
// function", GPU Gems, 2010) as the start, then two Newton steps on erf in double — accurate to
// float rounding, and the same code (FN_HD) on the CPU and on CUDA, so both give the same bits
// up to libm's double erf/exp. Computation is in double, rounded once to float.
#pragma once
#include <cmath>

#include "common/common.h"

namespace fusednet::cpu {

void erf_forward(float* y, const float* x, i64 n);
void erf_backward(float* dx, const float* dy, const float* x, i64 n);
void erfinv_forward(float* y, const float* x, i64 n);
void erfinv_backward(float* dx, const float* dy, const float* y, i64 n);

FN_HD double erfinv_scalar(double x) {
  if (!(x >= -1.0 && x <= 1.0)) return NAN;  // also NaN
  if (x == 1.0) return INFINITY;
  if (x == -1.0) return -INFINITY;
  double w = -log((1.0 - x) * (1.0 + x)), p;
  if (w < 5.0) {
    w = w - 2.5;
    p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = sqrt(w) - 3.0;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  double y = p * x;
  // Newton on f(y) = erf(y) - x, f' = 2/√π exp(-y²): quadratic convergence from ~1e-7.
  const double k = 1.1283791670955126;  // 2/√π
  for (int it = 0; it < 2; ++it) {
    const double d = k * exp(-y * y);
    if (d == 0.0) break;  // |y| past ~26: erf(y) is ±1 in double, y is already exact in float
    y -= (erf(y) - x) / d;
  }
  return y;
}

}  // namespace fusednet::cpu
