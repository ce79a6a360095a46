// qgemm_avx512.cpp — AVX-512 VNNI int8 micro-kernel (8 rows × 32 columns).
//
//   acc[r, j] += Σ_{k in group} A_u8[r, k] · B_s8[k, j]     one vpdpbusd per (row, 16 columns, 4 k)
// B arrives packed (qgemm.h): per group of 4 k, 16 columns × 4 bytes = one zmm, exactly the
// operand vpdpbusd wants; the row's 4 activation bytes are broadcast as one dword. vpdpbusd
// (not the saturating vpdpbusds) adds the four u8·s8 products into the s32 lane exactly.
// 16 accumulators + 2 B vectors + 1 broadcast: no spills. (A 6 × 64 variant, 24 accumulators and
// fewer loads per vpdpbusd, measured 1.2-1.6x slower on Zen 4.) Compiled for AVX-512 F/VL/BW/DQ+VNNI
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

// The full 8 × 32 block with named accumulators: with the c[R][NP] array GCC 12 shuffled the
// accumulators through extra register moves and a stack spill every k step (perf annotate).
inline void qblock8x2_avx512(int32_t* acc, i64 ldacc, const uint8_t* A, i64 lda, const int8_t* Bp,
                             i64 Kp) {
  const i64 G = Kp / 4, ps = Kp * 16;
  __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
          c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00,
          c70 = c00, c71 = c00;
  const uint8_t* a = A;
  const int8_t* b0p = Bp;
  const int8_t* b1p = Bp + ps;
  for (i64 g = 0; g < G; ++g, a += 4, b0p += 64, b1p += 64) {
    const __m512i b0 = _mm512_loadu_si512(b0p), b1 = _mm512_loadu_si512(b1p);
#define FN_QROW(r, x0, x1)                                                   \
    {                                                                        \
      int32_t a4;                                                            \
      __builtin_memcpy(&a4, a + (r) * lda, 4);                               \
      const __m512i av = _mm512_set1_epi32(a4);                              \
      x0 = _mm512_dpbusd_epi32(x0, av, b0);                                  \
      x1 = _mm512_dpbusd_epi32(x1, av, b1);                                  \
    }
    FN_QROW(0, c00, c01) FN_QROW(1, c10, c11) FN_QROW(2, c20, c21) FN_QROW(3, c30, c31)
    FN_QROW(4, c40, c41) FN_QROW(5, c50, c51) FN_QROW(6, c60, c61) FN_QROW(7, c70, c71)
#undef FN_QROW
  }
  const __m512i out[16] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71};
  for (int r = 0; r < 8; ++r)
    for (int q = 0; q < 2; ++q) _mm512_storeu_si512(acc + r * ldacc + q * 16, out[2 * r + q]);
}

template <int NP>
inline void qrows_avx512(int32_t* acc, i64 ldacc, const uint8_t* A, i64 lda, int rows,
                         const int8_t* Bp, i64 Kp) {
  if (NP == 2 && rows == 8) return qblock8x2_avx512(acc, ldacc, A, lda, Bp, Kp);
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

// Epilogue of one row: c[j] = relu?((float(t[j] - z·cs[j]) · (s·ws[j])) + b[j]), the portable
// expression operation for operation. The empty asm keeps the compiler from contracting the
// multiply and the bias add into an FMA (one rounding instead of two: different bits).
void qepilogue_avx512(float* c, const int32_t* t, i64 n, int32_t z, float s, const int32_t* cs,
                      const float* ws, const float* b, bool relu) {
  const __m512i vz = _mm512_set1_epi32(z);
  const __m512 vs = _mm512_set1_ps(s), zero = _mm512_setzero_ps();
  for (i64 j = 0; j < n; j += 16) {
    const __mmask16 m = n - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - j)) - 1u);
    const __m512i d = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, t + j),
                                       _mm512_mullo_epi32(vz, _mm512_maskz_loadu_epi32(m, cs + j)));
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(vs, _mm512_maskz_loadu_ps(m, ws + j)));
    __asm__("" : "+v"(v));
    if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + j));
    if (relu) v = _mm512_max_ps(v, zero);  // NaN and -0 give +0, as `v > 0 ? v : 0`
    _mm512_mask_storeu_ps(c + j, m, v);
  }
}

}  // namespace fusednet::cpu::qgemm_detail

FN_ISA_END
#endif
