// pool_avx512.cpp — AVX-512 max-pooling loops (16 channels per vector, masked channel tails).
// Same results as the portable loops in pool.cpp, bit for bit: the forward keeps a window's first
// maximum (strictly greater replaces; a NaN replaces a non-NaN), the backward adds each dY to the
// input its argmax names. Compiled for AVX-512 inside an FN_ISA_BEGIN region (cpu/isa.h), called only when
// isa_level() == 2.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "cpu/pool.h"
#include "cpu/isa.h"

#if FN_X86
FN_ISA_BEGIN(FN_TARGET_AVX512)
namespace fusednet::cpu::pool_detail {

namespace avx512 {
namespace {
inline __mmask16 tail_mask(i64 n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u); }
struct Win { i64 h0, h1, w0, w1; };
inline Win window(const PoolGeom& g, i64 oh, i64 ow) {
  i64 hs = oh * g.sh - g.pt, ws = ow * g.sw - g.pl;
  return {std::max<i64>(hs, 0), std::min<i64>(hs + g.ph, g.H), std::max<i64>(ws, 0),
          std::min<i64>(ws + g.pw, g.W)};
}
}  // namespace
}  // namespace avx512
using namespace avx512;

// One output row (n, oh): Y / idx [Wo, C].
void max_pool_row_avx512(float* Y, int32_t* idx, const float* xn, const PoolGeom& g, i64 oh) {
  const i64 C = g.C;
  for (i64 ow = 0; ow < g.Wo; ++ow) {
    const Win wd = window(g, oh, ow);
    float* y = Y + ow * C;
    int32_t* id = idx + ow * C;
    for (i64 c = 0; c < C; c += 16) {
      const __mmask16 m = tail_mask(C - c);
      const int32_t p0 = int32_t(wd.h0 * g.W + wd.w0);
      __m512 b = _mm512_maskz_loadu_ps(m, xn + p0 * C + c);
      __m512i bi = _mm512_set1_epi32(p0);
      for (i64 h = wd.h0; h < wd.h1; ++h)
        for (i64 w = (h == wd.h0 ? wd.w0 + 1 : wd.w0); w < wd.w1; ++w) {
          const int32_t pos = int32_t(h * g.W + w);
          const __m512 v = _mm512_maskz_loadu_ps(m, xn + pos * C + c);
          // take = v > b, or v is NaN, unless b already is NaN (first NaN wins): !(v <= b) is
          // true for v > b and for either NaN, so one mask of "b is a number" finishes it.
          const __mmask16 take = _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(b, b, _CMP_ORD_Q), v, b, _CMP_NLE_UQ);
          b = _mm512_mask_mov_ps(b, take, v);
          bi = _mm512_mask_mov_epi32(bi, take, _mm512_set1_epi32(pos));
        }
      _mm512_mask_storeu_ps(y + c, m, b);
      _mm512_mask_storeu_epi32(id + c, m, bi);
    }
  }
}

// One image, windows that do not overlap (sh >= ph, sw >= pw): every input of a window gets
// dY where the argmax names it and 0 elsewhere (plain stores, no read-modify-write); inputs in
// no window must already be zero. Returns false when some argmax is not a position of its own
// window (an index array not made by the forward): the caller then takes the general path.
bool max_pool_bwd_tiled_avx512(float* dx, const float* dy, const int32_t* id, const PoolGeom& g,
                               const float* relu_y) {
  const i64 C = g.C;
  __mmask16 miss = 0;
  for (i64 oh = 0; oh < g.Ho; ++oh)
    for (i64 ow = 0; ow < g.Wo; ++ow) {
      const Win wd = window(g, oh, ow);
      const i64 p = oh * g.Wo + ow;
      for (i64 c = 0; c < C; c += 16) {
        const __mmask16 m = tail_mask(C - c);
        const __m512 d = _mm512_maskz_loadu_ps(m, dy + p * C + c);
        const __m512i k = _mm512_maskz_loadu_epi32(m, id + p * C + c);
        const __mmask16 live = relu_y ? _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(m, relu_y + p * C + c),
                                                           _mm512_setzero_ps(), _CMP_GT_OQ)
                                      : __mmask16(0xFFFF);
        __mmask16 hit = 0;
        for (i64 h = wd.h0; h < wd.h1; ++h)
          for (i64 w = wd.w0; w < wd.w1; ++w) {
            const int32_t pos = int32_t(h * g.W + w);
            const __mmask16 eq = _mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(pos));
            hit |= eq;
            _mm512_mask_storeu_ps(dx + pos * C + c, m, _mm512_maskz_mov_ps(eq & live, d));
          }
        miss |= __mmask16(m & ~hit);
      }
    }
  return miss == 0;
}

}  // namespace fusednet::cpu::pool_detail
FN_ISA_END
#endif  // FN_X86
