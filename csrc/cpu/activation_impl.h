// activation_impl.h — the activation/softmax loops, compiled once per ISA.
//
// Included by activation.cpp (portable x86-64), activation_avx2.cpp and activation_avx512.cpp
// with FN_ISA_NS set to portable / avx2 / avx512; the latter two include it inside an
// FN_ISA_BEGIN region (cpu/isa.h), after the headers below, so only its own loops get the ISA.
// Each loop is `out[i] = f(in[i])` over contiguous float32 with f from common/scalar_math.h
// (branch-free, no libm calls), so GCC vectorises it at the TU's vector width. Everything here
// has internal linkage or lives in the per-ISA namespace, so no symbol is shared between ISAs.
// Softmax rows: max (16 lanes), exp into a 256-float block buffer, sum in 8 double lanes,
// normalise. Deterministic: a row is always reduced in the same order by one thread.
#ifndef FN_ISA_NS
#error "define FN_ISA_NS before including activation_impl.h"
#endif
// GCC will not if-convert (hence not vectorise, below AVX-512 masking) a select whose arm holds an
// FP operation while -ftrapping-math is on; fusednet never unmasks FP exceptions, so turn it off
// for these loops. Must precede scalar_math.h so the always_inline helpers get the same options.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <cmath>

#include "common/scalar_math.h"
#include "cpu/activation.h"

namespace fusednet::cpu::FN_ISA_NS {
namespace {

template <class F>
inline void map1(float* y, const float* x, i64 n, F f) {
  for (i64 i = 0; i < n; ++i) y[i] = f(x[i]);
}
// dx = dy * g(x)
template <class F>
inline void bwd_x(float* dx, const float* dy, const float* x, i64 n, F g) {
  for (i64 i = 0; i < n; ++i) dx[i] = dy[i] * g(x[i]);
}
// dx = dy * g(x, y)
template <class F>
inline void bwd_xy(float* dx, const float* dy, const float* x, const float* y, i64 n, F g) {
  for (i64 i = 0; i < n; ++i) dx[i] = dy[i] * g(x[i], y[i]);
}

inline double sum_f64(const float* p, i64 n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  i64 j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += p[j + k];
  double s = 0;
  for (; j < n; ++j) s += p[j];
  for (int k = 0; k < 8; ++k) s += acc[k];
  return s;
}

inline double dot_f64(const float* a, const float* b, i64 n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  i64 j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += double(a[j + k]) * double(b[j + k]);
  double s = 0;
  for (; j < n; ++j) s += double(a[j]) * double(b[j]);
  for (int k = 0; k < 8; ++k) s += acc[k];
  return s;
}

// Row maximum; NaN-tolerant in that a NaN row yields NaN later through exp(x - m).
inline float row_max(const float* x, i64 n) {
  float acc[16];
  for (int k = 0; k < 16; ++k) acc[k] = -__builtin_inff();
  i64 j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; ++k) acc[k] = x[j + k] > acc[k] ? x[j + k] : acc[k];
  float m = -__builtin_inff();
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  for (int k = 0; k < 16; ++k) m = acc[k] > m ? acc[k] : m;
  return m;
}

}  // namespace

void act_fwd(float* y, const float* x, i64 n, ActKind kind, float alpha) {
  using namespace fusednet::sm;
  switch (kind) {
    case ActKind::Linear: map1(y, x, n, [](float v) { return v; }); break;
    case ActKind::Relu: map1(y, x, n, [](float v) { return relu(v); }); break;
    case ActKind::Relu6: map1(y, x, n, [](float v) { return relu6(v); }); break;
    case ActKind::LeakyRelu: map1(y, x, n, [alpha](float v) { return leaky_relu(v, alpha); }); break;
    case ActKind::Elu: map1(y, x, n, [alpha](float v) { return elu(v, alpha); }); break;
    case ActKind::Selu: map1(y, x, n, [](float v) { return selu(v); }); break;
    case ActKind::Gelu: map1(y, x, n, [](float v) { return gelu(v); }); break;
    case ActKind::GeluTanh: map1(y, x, n, [](float v) { return gelu_tanh(v); }); break;
    case ActKind::Sigmoid: map1(y, x, n, [](float v) { return sigmoid(v); }); break;
    case ActKind::HardSigmoid: map1(y, x, n, [](float v) { return hard_sigmoid(v); }); break;
    case ActKind::Tanh: map1(y, x, n, [](float v) { return tanh_(v); }); break;
    case ActKind::Softplus: map1(y, x, n, [](float v) { return softplus(v); }); break;
    case ActKind::Softsign: map1(y, x, n, [](float v) { return softsign(v); }); break;
    case ActKind::Silu: map1(y, x, n, [](float v) { return silu(v); }); break;
    case ActKind::Mish: map1(y, x, n, [](float v) { return mish(v); }); break;
    case ActKind::Exponential: map1(y, x, n, [](float v) { return exponential(v); }); break;
  }
}

void act_bwd(float* dx, const float* dy, const float* x, const float* y, i64 n, ActKind kind,
             float alpha) {
  using namespace fusednet::sm;
  switch (kind) {
    case ActKind::Linear: map1(dx, dy, n, [](float v) { return v; }); break;
    case ActKind::Relu: bwd_x(dx, dy, x, n, [](float v) { return d_relu(v); }); break;
    case ActKind::Relu6: bwd_x(dx, dy, x, n, [](float v) { return d_relu6(v); }); break;
    case ActKind::LeakyRelu:
      bwd_x(dx, dy, x, n, [alpha](float v) { return d_leaky_relu(v, alpha); });
      break;
    case ActKind::Elu:
      if (y) bwd_xy(dx, dy, x, y, n, [alpha](float v, float w) { return d_elu_y(v, w, alpha); });
      else bwd_x(dx, dy, x, n, [alpha](float v) { return d_elu(v, alpha); });
      break;
    case ActKind::Selu:
      if (y) bwd_xy(dx, dy, x, y, n, [](float v, float w) { return d_selu_y(v, w); });
      else bwd_x(dx, dy, x, n, [](float v) { return d_selu(v); });
      break;
    case ActKind::Gelu: bwd_x(dx, dy, x, n, [](float v) { return d_gelu(v); }); break;
    case ActKind::GeluTanh: bwd_x(dx, dy, x, n, [](float v) { return d_gelu_tanh(v); }); break;
    case ActKind::Sigmoid:
      if (y) bwd_x(dx, dy, y, n, [](float w) { return d_sigmoid_y(w); });
      else bwd_x(dx, dy, x, n, [](float v) { return d_sigmoid(v); });
      break;
    case ActKind::HardSigmoid: bwd_x(dx, dy, x, n, [](float v) { return d_hard_sigmoid(v); }); break;
    case ActKind::Tanh:
      if (y) bwd_x(dx, dy, y, n, [](float w) { return d_tanh_y(w); });
      else bwd_x(dx, dy, x, n, [](float v) { return d_tanh(v); });
      break;
    case ActKind::Softplus: bwd_x(dx, dy, x, n, [](float v) { return d_softplus(v); }); break;
    case ActKind::Softsign: bwd_x(dx, dy, x, n, [](float v) { return d_softsign(v); }); break;
    case ActKind::Silu: bwd_x(dx, dy, x, n, [](float v) { return d_silu(v); }); break;
    case ActKind::Mish: bwd_x(dx, dy, x, n, [](float v) { return d_mish(v); }); break;
    case ActKind::Exponential:
      if (y) bwd_x(dx, dy, y, n, [](float w) { return d_exponential_y(w); });
      else bwd_x(dx, dy, x, n, [](float v) { return exponential(v); });
      break;
  }
}

void softmax_rows(float* y, const float* x, i64 rows, i64 cols, bool log) {
  constexpr i64 B = 256;
  float buf[B];
  for (i64 r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float m = row_max(xr, cols);
    double s = 0;
    if (!log) {
      // y may alias x: each element is read once, then only y is used.
      for (i64 j = 0; j < cols; ++j) yr[j] = sm::fn_exp(xr[j] - m);
      s = sum_f64(yr, cols);
      const float inv = static_cast<float>(1.0 / s);
      for (i64 j = 0; j < cols; ++j) yr[j] *= inv;
    } else {
      for (i64 j0 = 0; j0 < cols; j0 += B) {
        const i64 nb = cols - j0 < B ? cols - j0 : B;
        for (i64 k = 0; k < nb; ++k) buf[k] = sm::fn_exp(xr[j0 + k] - m);
        s += sum_f64(buf, nb);
      }
      // (x - m) - log(s), not x - (m + log(s)): m + log(s) would round to m's ulp (1e-3 at 1e4).
      const float ls = static_cast<float>(std::log(s));
      for (i64 j = 0; j < cols; ++j) yr[j] = (xr[j] - m) - ls;
    }
  }
}

void softmax_bwd_rows(float* dx, const float* dy, const float* y, i64 rows, i64 cols, bool log) {
  for (i64 r = 0; r < rows; ++r) {
    const float* dyr = dy + r * cols;
    const float* yr = y + r * cols;
    float* dxr = dx + r * cols;
    if (!log) {
      const float s = static_cast<float>(dot_f64(dyr, yr, cols));
      for (i64 j = 0; j < cols; ++j) dxr[j] = yr[j] * (dyr[j] - s);
    } else {
      const float s = static_cast<float>(sum_f64(dyr, cols));
      for (i64 j = 0; j < cols; ++j) dxr[j] = dyr[j] - sm::fn_exp(yr[j]) * s;
    }
  }
}

}  // namespace fusednet::cpu::FN_ISA_NS
