// qgemm_avx2.cpp — AVX2 int8 micro-kernel (4 rows × 8 columns), exact s16 arithmetic.
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
// end. 8 accumulators + 2 B + 1 broadcast + 2 vpmaddwd results = 13 of 16 ymm registers (6 rows
// spilled accumulators to the stack every k step).
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
    case 4: return avx2::qpanels_avx2<4>(acc, ldacc, a16, Bp, Kp, np);
    case 3: return avx2::qpanels_avx2<3>(acc, ldacc, a16, Bp, Kp, np);
    case 2: return avx2::qpanels_avx2<2>(acc, ldacc, a16, Bp, Kp, np);
    default: return avx2::qpanels_avx2<1>(acc, ldacc, a16, Bp, Kp, np);
  }
}

// Row min/max and quantization, same rules as qgemm_avx512.cpp (tails in scalar code written
// with the same operations).
void qminmax_avx2(const float* x, i64 K, float* lo, float* hi) {
  __m256 l = _mm256_setzero_ps(), h = _mm256_setzero_ps();
  i64 k = 0;
  for (; k + 8 <= K; k += 8) {
    const __m256 v = _mm256_loadu_ps(x + k);
    l = _mm256_min_ps(v, l);
    h = _mm256_max_ps(v, h);
  }
  alignas(32) float lb[8], hb[8];
  _mm256_store_ps(lb, l);
  _mm256_store_ps(hb, h);
  float a = 0.f, b = 0.f;
  for (int i = 0; i < 8; ++i) {
    a = lb[i] < a ? lb[i] : a;
    b = hb[i] > b ? hb[i] : b;
  }
  for (; k < K; ++k) {
    a = x[k] < a ? x[k] : a;
    b = x[k] > b ? x[k] : b;
  }
  *lo = a;
  *hi = b;
}

void qquant_row_avx2(uint8_t* q, const float* x, i64 K, float s, int32_t zp) {
  const __m256 vs = _mm256_set1_ps(s), lo = _mm256_set1_ps(-512.f), hi = _mm256_set1_ps(512.f);
  const __m256i vz = _mm256_set1_epi32(zp), z0 = _mm256_setzero_si256(), z255 = _mm256_set1_epi32(255);
  i64 k = 0;
  for (; k < K; k += 8) {
    alignas(32) float buf[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    const i64 n = K - k < 8 ? K - k : 8;
    const float* src = x + k;
    if (n < 8) {
      for (i64 i = 0; i < n; ++i) buf[i] = x[k + i];
      src = buf;
    }
    __m256 t = _mm256_div_ps(_mm256_loadu_ps(src), vs);
    t = _mm256_and_ps(t, _mm256_cmp_ps(t, t, _CMP_ORD_Q));  // NaN -> 0
    t = _mm256_min_ps(_mm256_max_ps(t, lo), hi);
    __m256i v = _mm256_add_epi32(_mm256_cvtps_epi32(t), vz);
    v = _mm256_min_epi32(_mm256_max_epi32(v, z0), z255);
    // 8 x int32 in [0, 255] -> 8 bytes: pack to u16 then u8 (in-lane), lanes' low dwords
    const __m256i p16 = _mm256_packus_epi32(v, v);
    const __m256i p8 = _mm256_packus_epi16(p16, p16);
    alignas(8) uint32_t w[2] = {uint32_t(_mm_cvtsi128_si32(_mm256_castsi256_si128(p8))),
                                uint32_t(_mm_cvtsi128_si32(_mm256_extracti128_si256(p8, 1)))};
    const uint8_t* wb = reinterpret_cast<const uint8_t*>(w);
    for (i64 i = 0; i < n; ++i) q[k + i] = wb[i];
  }
}

// Row epilogue, the portable expression operation for operation (see qgemm_avx512.cpp).
void qepilogue_avx2(float* c, const int32_t* t, i64 n, int32_t z, float s, const int32_t* cs,
                    const float* ws, const float* b, bool relu) {
  const __m256i vz = _mm256_set1_epi32(z);
  const __m256 vs = _mm256_set1_ps(s), zero = _mm256_setzero_ps();
  i64 j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256i d = _mm256_sub_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(t + j)),
                                       _mm256_mullo_epi32(vz, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(cs + j))));
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(d), _mm256_mul_ps(vs, _mm256_loadu_ps(ws + j)));
    __asm__("" : "+x"(v));
    if (b) v = _mm256_add_ps(v, _mm256_loadu_ps(b + j));
    if (relu) v = _mm256_max_ps(v, zero);
    _mm256_storeu_ps(c + j, v);
  }
  for (; j < n; ++j) {
    float v = float(t[j] - z * cs[j]) * (s * ws[j]);
    __asm__("" : "+x"(v));
    if (b) v += b[j];
    c[j] = relu ? (v > 0.f ? v : 0.f) : v;
  }
}

}  // namespace fusednet::cpu::qgemm_detail

FN_ISA_END
#endif
