// pool_avx2.cpp — AVX2 max-pooling loops (8 channels per vector, maskload / maskstore channel
// tails), the 8-wide twin of pool_avx512.cpp for machines without AVX-512.
// Same results as the portable loops in pool.cpp, bit for bit: the forward keeps a window's first
// maximum (strictly greater replaces; a NaN replaces a non-NaN), the backward adds each dY to the
// input its argmax names. Why a kernel at all: the portable loop's select of (value, index) pairs
// is auto-vectorised poorly (a 1.6-1.8x gap to the AVX-512 kernel at FUSEDNET_ISA=avx2 on the seed
// CNN's pools). Compiled for AVX2 inside an FN_ISA_BEGIN region (cpu/isa.h), called only when
// isa_level() == 1.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "cpu/pool.h"
#include "cpu/isa.h"

#if FN_X86
FN_ISA_BEGIN(FN_TARGET_AVX2)
namespace fusednet::cpu::pool_detail {

namespace avx2 {
namespace {
inline __m256i tail_mask(i64 n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n >= 8 ? 8 : n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
struct Win { i64 h0, h1, w0, w1; };
inline Win window(const PoolGeom& g, i64 oh, i64 ow) {
  i64 hs = oh * g.sh - g.pt, ws = ow * g.sw - g.pl;
  return {std::max<i64>(hs, 0), std::min<i64>(hs + g.ph, g.H), std::max<i64>(ws, 0),
          std::min<i64>(ws + g.pw, g.W)};
}

// One vector of 8 channels (c) of output pixel `wd`; `full` selects plain loads / stores.
template <bool full>
inline void max_vec(float* y, int32_t* id, const float* xn, const PoolGeom& g, const Win& wd, i64 c, __m256i m) {
  const i64 C = g.C;
  auto load = [&](const float* p) { return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m); };
  const int32_t p0 = int32_t(wd.h0 * g.W + wd.w0);
  __m256 b = load(xn + p0 * C + c);
  __m256 bi = _mm256_castsi256_ps(_mm256_set1_epi32(p0));
  for (i64 h = wd.h0; h < wd.h1; ++h)
    for (i64 w = (h == wd.h0 ? wd.w0 + 1 : wd.w0); w < wd.w1; ++w) {
      const int32_t pos = int32_t(h * g.W + w);
      const __m256 v = load(xn + pos * C + c);
      // take = !(v <= b) (v > b, or either is NaN) and b is a number (the first NaN wins)
      const __m256 take = _mm256_and_ps(_mm256_cmp_ps(v, b, _CMP_NLE_UQ), _mm256_cmp_ps(b, b, _CMP_ORD_Q));
      b = _mm256_blendv_ps(b, v, take);
      bi = _mm256_blendv_ps(bi, _mm256_castsi256_ps(_mm256_set1_epi32(pos)), take);
    }
  if (full) {
    _mm256_storeu_ps(y + c, b);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(id + c), _mm256_castps_si256(bi));
  } else {
    _mm256_maskstore_ps(y + c, m, b);
    _mm256_maskstore_epi32(id + c, m, _mm256_castps_si256(bi));
  }
}

// NV full vectors (8·NV channels from c) of output pixel `wd` at once: the window loop runs
// once per group instead of once per vector (2x2 windows are 4 positions: the loop bookkeeping
// cost as much as the compares).
template <int NV>
inline void max_vecs(float* y, int32_t* id, const float* xn, const PoolGeom& g, const Win& wd, i64 c) {
  const i64 C = g.C;
  const int32_t p0 = int32_t(wd.h0 * g.W + wd.w0);
  __m256 b[NV], bi[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    b[v] = _mm256_loadu_ps(xn + p0 * C + c + 8 * v);
    bi[v] = _mm256_castsi256_ps(_mm256_set1_epi32(p0));
  }
  for (i64 h = wd.h0; h < wd.h1; ++h)
    for (i64 w = (h == wd.h0 ? wd.w0 + 1 : wd.w0); w < wd.w1; ++w) {
      const int32_t pos = int32_t(h * g.W + w);
      const __m256 pv = _mm256_castsi256_ps(_mm256_set1_epi32(pos));
      const float* xp = xn + pos * C + c;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const __m256 x = _mm256_loadu_ps(xp + 8 * v);
        const __m256 take = _mm256_and_ps(_mm256_cmp_ps(x, b[v], _CMP_NLE_UQ), _mm256_cmp_ps(b[v], b[v], _CMP_ORD_Q));
        b[v] = _mm256_blendv_ps(b[v], x, take);
        bi[v] = _mm256_blendv_ps(bi[v], pv, take);
      }
    }
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    _mm256_storeu_ps(y + c + 8 * v, b[v]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(id + c + 8 * v), _mm256_castps_si256(bi[v]));
  }
}

// Backward of one vector of one window (see max_pool_bwd_tiled_avx2); returns the lanes hit.
template <bool full>
inline int bwd_vec(float* dx, const float* dy, const int32_t* id, const float* relu_y, const PoolGeom& g,
                   const Win& wd, i64 p, i64 c, __m256i m) {
  const i64 C = g.C;
  const __m256 d = full ? _mm256_loadu_ps(dy + p * C + c) : _mm256_maskload_ps(dy + p * C + c, m);
  const __m256i k = full ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(id + p * C + c))
                         : _mm256_maskload_epi32(id + p * C + c, m);
  const __m256 live = relu_y ? _mm256_cmp_ps(full ? _mm256_loadu_ps(relu_y + p * C + c)
                                                  : _mm256_maskload_ps(relu_y + p * C + c, m),
                                             _mm256_setzero_ps(), _CMP_GT_OQ)
                             : _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  __m256 hit = _mm256_setzero_ps();
  for (i64 h = wd.h0; h < wd.h1; ++h)
    for (i64 w = wd.w0; w < wd.w1; ++w) {
      const int32_t pos = int32_t(h * g.W + w);
      const __m256 eq = _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(pos)));
      hit = _mm256_or_ps(hit, eq);
      const __m256 v = _mm256_and_ps(_mm256_and_ps(eq, live), d);
      if (full) _mm256_storeu_ps(dx + pos * C + c, v);
      else _mm256_maskstore_ps(dx + pos * C + c, m, v);
    }
  return _mm256_movemask_ps(hit);
}
}  // namespace
}  // namespace avx2
using namespace avx2;

// One output row (n, oh): Y / idx [Wo, C].
void max_pool_row_avx2(float* Y, int32_t* idx, const float* xn, const PoolGeom& g, i64 oh) {
  const i64 C = g.C, Cf = C - C % 8;
  const __m256i m = tail_mask(C - Cf);
  for (i64 ow = 0; ow < g.Wo; ++ow) {
    const Win wd = window(g, oh, ow);
    float* y = Y + ow * C;
    int32_t* id = idx + ow * C;
    i64 c = 0;
    for (; c + 32 <= Cf; c += 32) max_vecs<4>(y, id, xn, g, wd, c);
    for (; c < Cf; c += 8) max_vec<true>(y, id, xn, g, wd, c, m);
    if (Cf < C) max_vec<false>(y, id, xn, g, wd, Cf, m);
  }
}

// One image, windows that do not overlap (sh >= ph, sw >= pw): as max_pool_bwd_tiled_avx512 —
// plain stores of dY-or-0 into every input of a window, false when some argmax is not a position
// of its own window (the caller then takes the general path).
bool max_pool_bwd_tiled_avx2(float* dx, const float* dy, const int32_t* id, const PoolGeom& g,
                             const float* relu_y) {
  const i64 C = g.C, Cf = C - C % 8;
  const __m256i m = tail_mask(C - Cf);
  const int tail_lanes = (1 << (C - Cf)) - 1;
  bool ok = true;
  for (i64 oh = 0; oh < g.Ho; ++oh)
    for (i64 ow = 0; ow < g.Wo; ++ow) {
      const Win wd = window(g, oh, ow);
      const i64 p = oh * g.Wo + ow;
      for (i64 c = 0; c < Cf; c += 8) ok &= bwd_vec<true>(dx, dy, id, relu_y, g, wd, p, c, m) == 0xFF;
      if (Cf < C) ok &= (bwd_vec<false>(dx, dy, id, relu_y, g, wd, p, Cf, m) & tail_lanes) == tail_lanes;
    }
  return ok;
}

}  // namespace fusednet::cpu::pool_detail
FN_ISA_END
#endif  // FN_X86
