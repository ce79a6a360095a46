// depthwise_impl.h — the DepthwiseConv2D row loops (formulas in depthwise.cpp), compiled once per ISA.
//
// Included by depthwise.cpp (portable x86-64 / any target), depthwise_avx2.cpp and
// depthwise_avx512.cpp with FN_ISA_NS set to portable / avx2 / avx512; the latter two include it
// inside an FN_ISA_BEGIN region (cpu/isa.h), after the headers below, so only these loops get the
// ISA. Why per ISA: every inner loop is one tap over a pixel's contiguous channels, which GCC
// vectorises at the TU's width — 4 floats in the baseline x86-64 build, 8 / 16 here.
// Each element's terms are added in the same (i, j) tap order on every ISA; GCC contracts
// `a += w·x` into an FMA where the ISA has one (x86 builds do not pass -ffp-contract=off), so the
// AVX2 and AVX-512 builds give bitwise the same results and the baseline build (mul, then add)
// agrees with them to rounding.
// Everything lives in the per-ISA namespace, so no symbol is shared between ISAs.
#ifndef FN_ISA_NS
#error "define FN_ISA_NS before including depthwise_impl.h"
#endif
#include <cstring>

#include "cpu/conv.h"

namespace fusednet::cpu::FN_ISA_NS {
namespace {
// a[o] += w[o] · x[o / dm] for o < C·dm (one tap on one pixel).
inline void tap_fma(float* __restrict a, const float* __restrict w, const float* __restrict x, i64 C, i64 dm) {
  if (dm == 1) {
#pragma omp simd
    for (i64 c = 0; c < C; ++c) a[c] += w[c] * x[c];
    return;
  }
  for (i64 c = 0; c < C; ++c) {
    const float xv = x[c];
    float* __restrict ac = a + c * dm;
    const float* __restrict wc = w + c * dm;
#pragma omp simd
    for (i64 m = 0; m < dm; ++m) ac[m] += wc[m] * xv;
  }
}

// d[c] += Σ_m z[c·dm+m] · w[c·dm+m] (one tap's contribution to one input pixel's gradient).
inline void tap_dx(float* __restrict d, const float* __restrict z, const float* __restrict w, i64 C, i64 dm) {
  if (dm == 1) {
#pragma omp simd
    for (i64 c = 0; c < C; ++c) d[c] += z[c] * w[c];
    return;
  }
  for (i64 c = 0; c < C; ++c) {
    const float* zc = z + c * dm;
    const float* wc = w + c * dm;
    float s = 0.f;
    for (i64 m = 0; m < dm; ++m) s += zc[m] * wc[m];
    d[c] += s;
  }
}
}  // namespace

// One output row oh of image xn: yrow [Wo, O] = bias + Σ_taps W·X (no activation).
void depthwise_fwd_row(float* yrow, const float* xn, const float* Wt, const float* bias, const ConvGeom& g,
                       i64 dm, i64 oh) {
  const i64 O = g.O, C = g.C;
  const i64 h0 = oh * g.sh - g.pt;
  for (i64 ow = 0; ow < g.Wo; ++ow) {
    float* a = yrow + ow * O;
    if (bias) std::memcpy(a, bias, size_t(O) * sizeof(float));
    else std::memset(a, 0, size_t(O) * sizeof(float));
    const i64 w0 = ow * g.sw - g.pl;
    for (i64 i = 0; i < g.kh; ++i) {
      const i64 h = h0 + i * g.dh;
      if (h < 0 || h >= g.H) continue;
      const float* xr = xn + h * g.W * C;
      for (i64 j = 0; j < g.kw; ++j) {
        const i64 w = w0 + j * g.dw;
        if (w < 0 || w >= g.W) continue;
        tap_fma(a, Wt + (i * g.kw + j) * O, xr + w * C, C, dm);
      }
    }
  }
}

// One output row's dW / db terms, added into pw [K, O] / pb [O] (pb null: no db), pixels in order.
void depthwise_dw_row(float* pw, float* pb, const float* xn, const float* dzr, const ConvGeom& g, i64 dm,
                      i64 oh) {
  const i64 O = g.O, C = g.C;
  const i64 h0 = oh * g.sh - g.pt;
  for (i64 ow = 0; ow < g.Wo; ++ow) {
    const float* dz = dzr + ow * O;
    if (pb) {
#pragma omp simd
      for (i64 o = 0; o < O; ++o) pb[o] += dz[o];
    }
    const i64 w0 = ow * g.sw - g.pl;
    for (i64 i = 0; i < g.kh; ++i) {
      const i64 h = h0 + i * g.dh;
      if (h < 0 || h >= g.H) continue;
      const float* xr = xn + h * g.W * C;
      for (i64 j = 0; j < g.kw; ++j) {
        const i64 w = w0 + j * g.dw;
        if (w < 0 || w >= g.W) continue;
        tap_fma(pw + (i * g.kw + j) * O, dz, xr + w * C, C, dm);
      }
    }
  }
}

// dX row h of image n (dxr [W, C], zeroed here): a gather of the taps that read it, in (i, j) order.
void depthwise_dx_row(float* dxr, const float* dZn, const float* Wt, const ConvGeom& g, i64 dm, i64 h) {
  const i64 O = g.O, C = g.C;
  std::memset(dxr, 0, size_t(g.W * C) * sizeof(float));
  for (i64 i = 0; i < g.kh; ++i) {
    const i64 th = h + g.pt - i * g.dh;
    if (th < 0 || th % g.sh) continue;
    const i64 oh = th / g.sh;
    if (oh >= g.Ho) continue;
    const float* dzr = dZn + oh * g.Wo * O;
    for (i64 w = 0; w < g.W; ++w) {
      float* d = dxr + w * C;
      for (i64 j = 0; j < g.kw; ++j) {
        const i64 tw = w + g.pl - j * g.dw;
        if (tw < 0 || tw % g.sw) continue;
        const i64 ow = tw / g.sw;
        if (ow >= g.Wo) continue;
        tap_dx(d, dzr + ow * O, Wt + (i * g.kw + j) * O, C, dm);
      }
    }
  }
}

}  // namespace fusednet::cpu::FN_ISA_NS
