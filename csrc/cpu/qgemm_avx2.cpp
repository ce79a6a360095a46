// qgemm_avx2.cpp — AVX2 int8 micro-kernel (6 rows × 8 columns), exact s16 arithmetic.
//
//   acc[r, j] += Σ_k A_u8[r, k] · B_s8[k, j]
// Why not vpmaddubsw: it multiplies u8·s8 and adds adjacent pairs into a *saturating* int16,
// and 255·127·2 = 64770 > 32767, so full-range u8 activations with full-range int8 weights
// overflow. The usual fixes (7-bit activations or weights in [-64, 63], onnxruntime's
// reduce_range) cost accuracy and would make the AVX2 results differ from the VNNI and portable
// ones. Here both operands are widened to s16 (B by vpmovsxbw from the packed bytes, A once per
// row block into `scratch`) and vpmaddwd adds s16·s16 pairs into s32 exactly: same integers as
// every other path, at ~3/4 of vpmaddubsw's peak rate (still 2x the FP32 FMA rate per
// instruction).
// Register use: per group of 4 k the packed layout holds 16 columns × 4 bytes; this kernel takes
// 8 columns (32 bytes = two ymm of 4 columns × 4 k once widened). vpmaddwd leaves two partial
// sums per column (k pairs 0-1 and 2-3) in adjacent lanes; they are added by one vphaddd at the
// end. 12 accumulators + 2 B + 1 broadcast = 15 of 16 ymm registers.
#include <immintrin.h>

#include <cstdint>

#include "common/common.h"
#include "cpu/isa.h"

#if FN_X86
FN_ISA_BEGIN(FN_TARGET_AVX2)

namespace fusednet::cpu::qgemm_detail {
namespace avx2 {
namespace {

template <int R>
inline void qblock_avx2(int32_t* acc, i64 ldacc, const int16_t* a16, const int8_t* Bp, i64 Kp,
                        int half) {
  const i64 G = Kp / 4;
  __m256i c[R][2];
  for (int r = 0; r < R; ++r) c[r][0] = c[r][1] = _mm256_setzero_si256();
  const int8_t* b = Bp + half * 32;
  for (i64 g = 0; g < G; ++g, b += 64) {
    const __m256i b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b)));
    const __m256i b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 16)));
    for (int r = 0; r < R; ++r) {
      const __m256i a = _mm256_broadcastq_epi64(
          _mm_loadl_epi64(reinterpret_cast<const __m128i*>(a16 + r * Kp + 4 * g)));
      c[r][0] = _mm256_add_epi32(c[r][0], _mm256_madd_epi16(b0, a));
      c[r][1] = _mm256_add_epi32(c[r][1], _mm256_madd_epi16(b1, a));
    }
  }
  for (int r = 0; r < R; ++r) {
    // lanes [c0 c0' c1 c1' | c2 c2' c3 c3'] and the same for columns 4-7 -> [c0 .. c7]
    const __m256i h = _mm256_hadd_epi32(c[r][0], c[r][1]);
    const __m256i o = _mm256_permute4x64_epi64(h, _MM_SHUFFLE(3, 1, 2, 0));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + r * ldacc), o);
  }
}

template <int R>
inline void qpanels_avx2(int32_t* acc, i64 ldacc, const int16_t* a16, const int8_t* Bp, i64 Kp,
                         int np) {
  for (int p = 0; p < np; ++p)
    for (int h = 0; h < 2; ++h) qblock_avx2<R>(acc + p * 16 + h * 8, ldacc, a16, Bp + p * Kp * 16, Kp, h);
}

}  // namespace
}  // namespace avx2

void qgemm_block_avx2(int32_t* acc, i64 ldacc, const uint8_t* A, i64 lda, int rows,
                      const int8_t* Bp, i64 Kp, int np, void* scratch) {
  int16_t* a16 = static_cast<int16_t*>(scratch);
  for (int r = 0; r < rows; ++r)  // widen the block's rows once; reused by every panel
    for (i64 k = 0; k < Kp; ++k) a16[r * Kp + k] = int16_t(A[r * lda + k]);
  switch (rows) {
    case 6: return avx2::qpanels_avx2<6>(acc, ldacc, a16, Bp, Kp, np);
    case 5: return avx2::qpanels_avx2<5>(acc, ldacc, a16, Bp, Kp, np);
    case 4: return avx2::qpanels_avx2<4>(acc, ldacc, a16, Bp, Kp, np);
    case 3: return avx2::qpanels_avx2<3>(acc, ldacc, a16, Bp, Kp, np);
    case 2: return avx2::qpanels_avx2<2>(acc, ldacc, a16, Bp, Kp, np);
    default: return avx2::qpanels_avx2<1>(acc, ldacc, a16, Bp, Kp, np);
  }
}

}  // namespace fusednet::cpu::qgemm_detail

FN_ISA_END
#endif
