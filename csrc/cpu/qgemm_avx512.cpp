// qgemm_avx512.cpp — AVX-512 VNNI int8 micro-kernels (6 rows × 64 columns; 8 × 32 for the rest).
//
//   acc[r, j] += Σ_{k in group} A_u8[r, k] · B_s8[k, j]     one vpdpbusd per (row, 16 columns, 4 k)
// B arrives packed (qgemm.h): per group of 4 k, 16 columns × 4 bytes = one zmm, exactly the
// operand vpdpbusd wants; the row's 4 activation bytes are broadcast as one dword. vpdpbusd
// (not the saturating vpdpbusds) adds the four u8·s8 products into the s32 lane exactly.
// 16 accumulators + 2 B vectors + 1 broadcast: no spills. Compiled for AVX-512 F/VL/BW/DQ+VNNI
// inside an FN_ISA_BEGIN region (cpu/isa.h); called only when CPUID reports avx512vnni.
#include <immintrin.h>

#include <cstdint>

#include "common/common.h"
#include "cpu/isa.h"

#if FN_X86
FN_ISA_BEGIN("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni,avx2,fma,f16c")

namespace fusednet::cpu::qgemm_detail {
namespace avx512 {
namespace {

template <int R, int NP>
inline void qblock_avx512(int32_t* acc, i64 ldacc, const uint8_t* A, i64 lda, const int8_t* Bp,
                          i64 Kp) {
  const i64 G = Kp / 4, ps = Kp * 16;
  __m512i c[R][NP];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < NP; ++q) c[r][q] = _mm512_setzero_si512();
  for (i64 g = 0; g < G; ++g) {
    __m512i b[NP];
    for (int q = 0; q < NP; ++q) b[q] = _mm512_loadu_si512(Bp + q * ps + g * 64);
    for (int r = 0; r < R; ++r) {
      int32_t a4;
      __builtin_memcpy(&a4, A + r * lda + 4 * g, 4);
      const __m512i a = _mm512_set1_epi32(a4);
      for (int q = 0; q < NP; ++q) c[r][q] = _mm512_dpbusd_epi32(c[r][q], a, b[q]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < NP; ++q) _mm512_storeu_si512(acc + r * ldacc + q * 16, c[r][q]);
}

// 6 rows × 64 columns: 24 accumulators + 4 B vectors + 1 broadcast (29 of 32 zmm); 10 loads
// per 24 vpdpbusd instead of 10 per 16 for 8 × 32 (the loads, not the multiplies, bound it).
inline void qrows6x4_avx512(int32_t* acc, i64 ldacc, const uint8_t* A, i64 lda, int rows,
                            const int8_t* Bp, i64 Kp) {
  switch (rows) {
    case 6: return qblock_avx512<6, 4>(acc, ldacc, A, lda, Bp, Kp);
    case 5: return qblock_avx512<5, 4>(acc, ldacc, A, lda, Bp, Kp);
    case 4: return qblock_avx512<4, 4>(acc, ldacc, A, lda, Bp, Kp);
    case 3: return qblock_avx512<3, 4>(acc, ldacc, A, lda, Bp, Kp);
    case 2: return qblock_avx512<2, 4>(acc, ldacc, A, lda, Bp, Kp);
    default: return qblock_avx512<1, 4>(acc, ldacc, A, lda, Bp, Kp);
  }
}

template <int NP>
inline void qrows_avx512(int32_t* acc, i64 ldacc, const uint8_t* A, i64 lda, int rows,
                         const int8_t* Bp, i64 Kp) {
  switch (rows) {
    case 8: return qblock_avx512<8, NP>(acc, ldacc, A, lda, Bp, Kp);
    case 7: return qblock_avx512<7, NP>(acc, ldacc, A, lda, Bp, Kp);
    case 6: return qblock_avx512<6, NP>(acc, ldacc, A, lda, Bp, Kp);
    case 5: return qblock_avx512<5, NP>(acc, ldacc, A, lda, Bp, Kp);
    case 4: return qblock_avx512<4, NP>(acc, ldacc, A, lda, Bp, Kp);
    case 3: return qblock_avx512<3, NP>(acc, ldacc, A, lda, Bp, Kp);
    case 2: return qblock_avx512<2, NP>(acc, ldacc, A, lda, Bp, Kp);
    default: return qblock_avx512<1, NP>(acc, ldacc, A, lda, Bp, Kp);
  }
}

}  // namespace
}  // namespace avx512

void qgemm_block_avx512vnni(int32_t* acc, i64 ldacc, const uint8_t* A, i64 lda, int rows,
                            const int8_t* Bp, i64 Kp, int np, void*) {
  const i64 ps = Kp * 16;
  int p = 0;
  if (rows <= 6)
    for (; p + 4 <= np; p += 4)
      avx512::qrows6x4_avx512(acc + p * 16, ldacc, A, lda, rows, Bp + p * ps, Kp);
  for (; p + 2 <= np; p += 2)
    avx512::qrows_avx512<2>(acc + p * 16, ldacc, A, lda, rows, Bp + p * ps, Kp);
  if (p < np) avx512::qrows_avx512<1>(acc + p * 16, ldacc, A, lda, rows, Bp + p * ps, Kp);
}

// Row min/max (starting from 0, NaN ignored: min_ps/max_ps return the second operand, the
// running value, on NaN — the scalar `v < lo ? v : lo` rule) and row quantization
// q = clamp(rint(clamp(nan0(x / s), ±512)) + zp, 0, 255): cvtps2dq rounds to nearest even under
// the default MXCSR, the same integer the portable magic-number rounding gives.
void qminmax_avx512(const float* x, i64 K, float* lo, float* hi) {
  __m512 l = _mm512_setzero_ps(), h = _mm512_setzero_ps();
  i64 k = 0;
  for (; k + 16 <= K; k += 16) {
    const __m512 v = _mm512_loadu_ps(x + k);
    l = _mm512_min_ps(v, l);
    h = _mm512_max_ps(v, h);
  }
  if (k < K) {  // masked-off lanes load 0.0, which cannot move a range that contains 0
    const __mmask16 m = __mmask16((1u << (K - k)) - 1u);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + k);
    l = _mm512_min_ps(v, l);
    h = _mm512_max_ps(v, h);
  }
  *lo = _mm512_reduce_min_ps(l);
  *hi = _mm512_reduce_max_ps(h);
}

void qquant_row_avx512(uint8_t* q, const float* x, i64 K, float s, int32_t zp) {
  const __m512 vs = _mm512_set1_ps(s), lo = _mm512_set1_ps(-512.f), hi = _mm512_set1_ps(512.f);
  const __m512i vz = _mm512_set1_epi32(zp), z0 = _mm512_setzero_si512(), z255 = _mm512_set1_epi32(255);
  for (i64 k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (K - k)) - 1u);
    __m512 t = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + k), vs);
    t = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(t, t, _CMP_ORD_Q), t);  // NaN -> 0
    t = _mm512_min_ps(_mm512_max_ps(t, lo), hi);
    __m512i v = _mm512_add_epi32(_mm512_cvtps_epi32(t), vz);
    v = _mm512_min_epi32(_mm512_max_epi32(v, z0), z255);
    _mm_mask_storeu_epi8(q + k, m, _mm512_cvtepi32_epi8(v));
  }
}

}  // namespace fusednet::cpu::qgemm_detail

FN_ISA_END
#endif
