// scalar_math.h — scalar float32 maths shared by the CPU kernels and (later) the CUDA kernels:
// branch-free exp/log/expm1/log1p/tanh/erfc, and every activation with its derivative.
//
// Why hand-written: glibc's expf/tanhf/erff are scalar calls that stop GCC from vectorising the
// activation loops (no -ffast-math in the shipped build). These Cephes-style versions are pure
// arithmetic + bit casts + selects, so a plain `for (i) y[i] = f(x[i])` loop vectorises for
// whatever ISA the translation unit is compiled for. Accuracy (checked in tests against float64
// NumPy with TOL["pointwise"] / TOL["pointwise_approx"]):
//   fn_exp, fn_log      ~1-2 ulp over the full float range (Cephes expf/logf polynomials)
//   fn_expm1, fn_log1p  relative ~2 ulp (Kahan/Goldberg correction, no cancellation near 0)
//   fn_tanh             ~2 ulp (odd polynomial below 0.625, exp identity above)
//   fn_erfc             relative < 1.2e-7 everywhere (Numerical Recipes erfcc Chebyshev fit)
// Special values follow IEEE/NumPy: NaN propagates, exp(+big) = inf, exp(-big) = 0, log(0) = -inf,
// log(<0) = NaN.
//
// Every function is `static` (internal linkage) on the host: this header is compiled into several
// translation units with different ISA flags (activation.cpp, activation_avx2.cpp,
// activation_avx512.cpp); internal linkage guarantees the linker never substitutes an AVX-512
// copy into the portable path (which would SIGILL on older CPUs).
#pragma once
#include <cstdint>
#include <cstring>
#include <cmath>

#include "common/common.h"

#if defined(__CUDACC__)
#define FN_SM static __host__ __device__ __forceinline__
#else
#define FN_SM static inline __attribute__((always_inline))
#endif

namespace fusednet::sm {

FN_SM float as_float(int32_t i) {
#if defined(__CUDA_ARCH__)
  return __int_as_float(i);
#else
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
#endif
}
FN_SM int32_t as_int(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_int(f);
#else
  int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
#endif
}

FN_SM float fabs_(float x) { return as_float(as_int(x) & 0x7fffffff); }
FN_SM bool isnan_(float x) { return x != x; }

// Round to nearest integer (|v| < 2^22) without floor/rint calls: the 1.5*2^23 trick.
FN_SM float round_magic(float v) {
  const float magic = 12582912.0f;
  float t = v + magic;
  return t - magic;
}

// exp(x): Cephes expf. n = round(x/ln2), r = x - n*ln2 (two-constant split), exp(r) by a degree-6
// polynomial, times 2^n built in the exponent bits.
FN_SM float fn_exp(float x) {
  const float hi = 88.3762626647949f, lo = -87.3365447504f;
  float xc = x > hi ? hi : (x < lo ? lo : x);
  float n = round_magic(xc * 1.44269504088896341f);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r * r + r + 1.0f;
  float y = p * as_float((static_cast<int32_t>(n) + 127) << 23);
  y = x > hi ? __builtin_inff() : y;
  y = x < lo ? 0.0f : y;
  return isnan_(x) ? x : y;
}

// log(x): Cephes logf. x = m*2^e with m in [sqrt(1/2), sqrt(2)), log(1+f) by a degree-9 polynomial.
FN_SM float fn_log(float x) {
  // All candidate values are computed unconditionally and then selected: with the default
  // -ftrapping-math GCC will not if-convert (vectorise) a select whose arm is an FP operation.
  const float fmin = 1.17549435e-38f;
  const bool sub = x < fmin;  // subnormal (or <= 0: handled below)
  const float xscaled = x * 8388608.0f;
  const float xs = sub ? xscaled : x;
  const float eadj = sub ? 23.0f : 0.0f;
  const int32_t bits = as_int(xs);
  const float e0 = static_cast<float>(((bits >> 23) & 0xff) - 126) - eadj;
  const float m0 = as_float((bits & 0x007fffff) | 0x3f000000);  // [0.5, 1)
  const bool small = m0 < 0.707106781186547524f;
  const float e1 = e0 - 1.0f, m1 = m0 + m0 - 1.0f, m2 = m0 - 1.0f;
  const float e = small ? e1 : e0;
  const float m = small ? m1 : m2;
  float z = m * m;
  float y = 7.0376836292E-2f;
  y = y * m - 1.1514610310E-1f;
  y = y * m + 1.1676998740E-1f;
  y = y * m - 1.2420140846E-1f;
  y = y * m + 1.4249322787E-1f;
  y = y * m - 1.6668057665E-1f;
  y = y * m + 2.0000714765E-1f;
  y = y * m - 2.4999993993E-1f;
  y = y * m + 3.3333331174E-1f;
  y = y * m * z;
  y = y + e * -2.12194440e-4f;
  y = y - 0.5f * z;
  float r = m + y + e * 0.693359375f;
  r = x == __builtin_inff() ? x : r;
  r = x == 0.0f ? -__builtin_inff() : r;
  r = x < 0.0f ? __builtin_nanf("") : r;
  return isnan_(x) ? x : r;
}

// log(1+u) without cancellation for small u (Goldberg): log(w) * u / (w - 1), w = 1 + u.
FN_SM float fn_log1p(float u) {
  float w = 1.0f + u;
  float d = w - 1.0f;
  float dd = d == 0.0f ? 1.0f : d;
  float q = u / dd;
  float r = fn_log(w) * q;
  r = d == 0.0f ? u : r;
  r = w == __builtin_inff() ? w : r;
  return r;
}

// exp(x) - 1 without cancellation near 0 (Kahan): (w - 1) * x / log(w), w = exp(x).
FN_SM float fn_expm1(float x) {
  float w = fn_exp(x);
  float d = w - 1.0f;
  float lw = fn_log(w);
  float lwd = lw == 0.0f ? 1.0f : lw;
  float q = x / lwd;
  float r = d * q;
  r = d == 0.0f ? x : r;
  r = d == -1.0f ? -1.0f : r;
  r = w == __builtin_inff() ? w : r;
  return isnan_(x) ? x : r;
}

// tanh(x): odd polynomial for |x| < 0.625, 1 - 2/(exp(2|x|)+1) above.
FN_SM float fn_tanh(float x) {
  float a = fabs_(x);
  float z = x * x;
  float p = -5.70498872745E-3f;
  p = p * z + 2.06390887954E-2f;
  p = p * z - 5.37397155531E-2f;
  p = p * z + 1.33314422036E-1f;
  p = p * z - 3.33332819422E-1f;
  float small = p * z * x + x;
  float big = 1.0f - 2.0f / (fn_exp(a + a) + 1.0f);
  big = x < 0.0f ? -big : big;
  float r = a < 0.625f ? small : big;
  return isnan_(x) ? x : r;
}

// erfc(x), relative error < 1.2e-7 (Numerical Recipes erfcc).
FN_SM float fn_erfc(float x) {
  float z = fabs_(x);
  float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  float r = t * fn_exp(p - z * z);
  r = x < 0.0f ? 2.0f - r : r;
  return isnan_(x) ? x : r;
}

// Numerically stable logistic: never evaluates exp of a positive argument.
FN_SM float fn_sigmoid(float x) {
  float e = fn_exp(-fabs_(x));
  float d = 1.0f / (1.0f + e);
  return x >= 0.0f ? d : e * d;
}

// softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|).
FN_SM float fn_softplus(float x) {
  float m = x > 0.0f ? x : 0.0f;
  float r = m + fn_log1p(fn_exp(-fabs_(x)));
  return isnan_(x) ? x : r;
}

// ------------------------------------------------------------------ activation constants
constexpr float kSeluScale = 1.05070098735548049342f;
constexpr float kSeluAlpha = 1.67326324235437728482f;
constexpr float kSqrt1_2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kGeluC = 0.044715f;

// ------------------------------------------------------------------ forward
FN_SM float relu(float x) { return x < 0.0f ? 0.0f : x; }  // NaN passes through
FN_SM float relu6(float x) { return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x); }
FN_SM float leaky_relu(float x, float a) { return x < 0.0f ? a * x : x; }
FN_SM float elu(float x, float a) { return x > 0.0f ? x : a * fn_expm1(x); }
FN_SM float selu(float x) { return kSeluScale * (x > 0.0f ? x : kSeluAlpha * fn_expm1(x)); }
// gelu(x) = x * Phi(x) = 0.5 x erfc(-x/sqrt2)
FN_SM float gelu(float x) { return 0.5f * x * fn_erfc(-x * kSqrt1_2); }
// tanh approximation: 0.5x(1 + tanh(u)) = x * sigmoid(2u), stable for large negative x.
FN_SM float gelu_tanh(float x) {
  float u = kSqrt2OverPi * (x + kGeluC * x * x * x);
  return x * fn_sigmoid(2.0f * u);
}
FN_SM float sigmoid(float x) { return fn_sigmoid(x); }
FN_SM float hard_sigmoid(float x) { return relu6(x + 3.0f) * (1.0f / 6.0f); }
FN_SM float tanh_(float x) { return fn_tanh(x); }
FN_SM float softplus(float x) { return fn_softplus(x); }
FN_SM float softsign(float x) { return x / (1.0f + fabs_(x)); }
FN_SM float silu(float x) { return x * fn_sigmoid(x); }
// tanh(softplus(x)) = n(n+2) / (n(n+2) + 2), n = e^x; exactly 1 in float32 once x > 20.
FN_SM float mish_t(float x) {
  float n = fn_exp(x > 20.0f ? 20.0f : x);
  float q = n * (n + 2.0f);
  float t = q / (q + 2.0f);
  return x > 20.0f ? 1.0f : t;
}
FN_SM float mish(float x) { return x * mish_t(x); }
FN_SM float exponential(float x) { return fn_exp(x); }

// ------------------------------------------------------------------ derivatives dy/dx
// Naming: d_<kind>(x[, y][, alpha]). Where y = f(x) is cheaper and as stable, the *_y form uses it.
FN_SM float d_relu(float x) { return x > 0.0f ? 1.0f : 0.0f; }
FN_SM float d_relu6(float x) { return (x > 0.0f && x < 6.0f) ? 1.0f : 0.0f; }
FN_SM float d_leaky_relu(float x, float a) { return x > 0.0f ? 1.0f : a; }
FN_SM float d_elu_y(float x, float y, float a) { return x > 0.0f ? 1.0f : y + a; }
FN_SM float d_elu(float x, float a) { return x > 0.0f ? 1.0f : a * fn_exp(x); }
FN_SM float d_selu_y(float x, float y) { return x > 0.0f ? kSeluScale : y + kSeluScale * kSeluAlpha; }
FN_SM float d_selu(float x) { return x > 0.0f ? kSeluScale : kSeluScale * kSeluAlpha * fn_exp(x); }
// Phi(x) + x phi(x)
FN_SM float d_gelu(float x) {
  return 0.5f * fn_erfc(-x * kSqrt1_2) + x * kInvSqrt2Pi * fn_exp(-0.5f * x * x);
}
FN_SM float d_gelu_tanh(float x) {
  float u = kSqrt2OverPi * (x + kGeluC * x * x * x);
  float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluC * x * x);
  float s = fn_sigmoid(2.0f * u);
  float r = s + x * 2.0f * s * (1.0f - s) * du;
  return fabs_(x) > 20.0f ? (x > 0.0f ? 1.0f : 0.0f) : r;  // avoid 0*inf for huge |x|
}
FN_SM float d_sigmoid_y(float y) { return y * (1.0f - y); }
FN_SM float d_sigmoid(float x) {
  float s = fn_sigmoid(x);
  return s * (1.0f - s);
}
FN_SM float d_hard_sigmoid(float x) { return (x > -3.0f && x < 3.0f) ? (1.0f / 6.0f) : 0.0f; }
FN_SM float d_tanh_y(float y) { return 1.0f - y * y; }
FN_SM float d_tanh(float x) {
  float t = fn_tanh(x);
  return 1.0f - t * t;
}
FN_SM float d_softplus(float x) { return fn_sigmoid(x); }
FN_SM float d_softsign(float x) {
  float d = 1.0f + fabs_(x);
  return 1.0f / (d * d);
}
FN_SM float d_silu(float x) {
  float s = fn_sigmoid(x);
  return s * (1.0f + x * (1.0f - s));
}
// d/dx x*t(x) = t + x * (1 - t^2) * sigmoid(x), t = tanh(softplus(x))
FN_SM float d_mish(float x) {
  float t = mish_t(x);
  return t + x * (1.0f - t * t) * fn_sigmoid(x);
}
FN_SM float d_exponential_y(float y) { return y; }

}  // namespace fusednet::sm
