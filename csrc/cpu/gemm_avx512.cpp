// gemm_avx512.cpp — AVX-512 SGEMM micro-kernel (12×32 tile) and an FMA peak probe.
//
//   C_tile[12, 32] (+)= Ap[k, 0:12] ⊗ Bp[k, 0:32] over k, fused epilogue (see gemm_ukernel.h)
// Compiled for AVX-512 F/VL/BW/DQ inside an FN_ISA_BEGIN region (cpu/isa.h) and only ever called after
// cpu::isa_level() reported AVX-512, so the shipped build still runs on any x86-64.
// 24 zmm accumulators + 2 B vectors + 1 broadcast = 27 of 32 registers: the C tile never spills.
#include <immintrin.h>

#include <chrono>
#include <cmath>
#include <cstdint>

#include "common/common.h"
#include "common/gemm_config.h"
#include "cpu/isa.h"
#include "cpu/runtime.h"
#include "cpu/parallel.h"

#if FN_X86
FN_ISA_BEGIN(FN_TARGET_AVX512)
#include "cpu/gemm_ukernel.h"  // the micro-kernel templates, instantiated below for this ISA

namespace fusednet::cpu::gemm_detail {
namespace avx512 {
namespace {

struct V512 {
  using R = __m512;
  static constexpr int W = 16;
  static inline R zero() { return _mm512_setzero_ps(); }
  static inline R load(const float* p) { return _mm512_loadu_ps(p); }
  static inline void store(float* p, R v) { _mm512_storeu_ps(p, v); }
  static inline R set1(float s) { return _mm512_set1_ps(s); }
  static inline R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static inline R add(R a, R b) { return _mm512_add_ps(a, b); }
  static inline R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static inline R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static inline R div(R a, R b) { return _mm512_div_ps(a, b); }
  static inline R max(R a, R b) { return _mm512_max_ps(a, b); }
  static inline R min(R a, R b) { return _mm512_min_ps(a, b); }
  static inline R round(R x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static inline R pow2n(R n) {  // 2^n for integral n in [-126, 127]
    __m512i i = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(i, 23));
  }
  static inline R abs(R x) { return _mm512_abs_ps(x); }
  static inline R copysign(R mag, R sgn) {
    const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(int(0x80000000u)));
    return _mm512_or_ps(_mm512_andnot_ps(sign, mag), _mm512_and_ps(sign, sgn));
  }
  static inline R select_lt(R a, R b, R if_lt, R otherwise) {
    __mmask16 m = _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ);
    return _mm512_mask_blend_ps(m, otherwise, if_lt);
  }
};

constexpr auto B = gemm::kBlockAvx512;

}  // namespace
}  // namespace avx512
using namespace avx512;

void gemv_dot_avx512(int64_t m, int64_t K, const float* A, int64_t lda, const float* b, float* C,
                     int64_t ldc, float bias, bool has_bias, float beta, Act act) {
  gemv_dot_rows<V512>(m, K, A, lda, b, C, ldc, bias, has_bias, beta, act);
}

void gemv_slice_avx512(int64_t n, int64_t kc, const float* s, int64_t ss, const float* B, int64_t ldb,
                       float* C, const Epilogue& e) {
  gemv_slice<V512>(n, kc, s, ss, B, ldb, C, e);
}

void ukernel_avx512(int rows, int64_t kc, const float* Ap, int64_t lda, const float* Bp,
                    int64_t ldb, float* C, int64_t ldc, const Epilogue& e) {
  ukernel_rows<V512, B.mr, B.nr>(rows, kc, Ap, lda, Bp, ldb, C, ldc, e);
}

// 16×16 in-register transpose (three shuffle stages, 64 shuffles for 256 floats): row i of the
// input (src + i*ld, 16 floats; rows >= nrows read as zero) becomes column i of the output rows
// dst + t*dst_ld, t < 16, of which only the lanes in `mask` are stored.
static inline void transpose16_avx512(float* __restrict dst, int64_t dst_ld, __mmask16 mask,
                               const float* __restrict src, int64_t ld, int nrows) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = i < nrows ? _mm512_loadu_ps(src + i * ld) : _mm512_setzero_ps();
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
  }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
  }
  for (int i = 0; i < 16; ++i) _mm512_mask_storeu_ps(dst + i * dst_ld, mask, r[i]);
}

// Packs one full 32-column sliver of a transposed B (B stored [N,K]; column c of op(B) is the
// contiguous row src + c*ldb) into dst (k, c) at k*32 + c. The register transposes replace 256
// scalar strided stores each: dX = dZ·Wᵀ repacks all of W every call, and with a small batch
// that repacking was a third of the run time when scalar.
void pack_bt32_avx512(float* __restrict dst, const float* __restrict src, int64_t ldb, int64_t kc) {
  int64_t k0 = 0;
  for (; k0 + 16 <= kc; k0 += 16)
    for (int h = 0; h < 2; ++h)
      transpose16_avx512(dst + k0 * 32 + h * 16, 32, 0xFFFF, src + int64_t(h) * 16 * ldb + k0, ldb, 16);
  for (int c = 0; c < 32; ++c)  // K tail
    for (int64_t k = k0; k < kc; ++k) dst[k * 32 + c] = src[c * ldb + k];
}

// Packs one 12-row panel of a non-transposed A (rows contiguous in k) into dst (k, r) at
// k*12 + r: the same transpose with 4 zero rows, storing 12 lanes per k. For the training
// shapes (batch × 784) this pack is otherwise ~25% of each thread's time.
void pack_a12_avx512(float* __restrict dst, const float* __restrict src, int64_t lda, int rows,
                     int64_t kc) {
  int64_t k0 = 0;
  for (; k0 + 16 <= kc; k0 += 16) transpose16_avx512(dst + k0 * 12, 12, 0x0FFF, src + k0, lda, rows);
  for (int r = 0; r < rows; ++r)
    for (int64_t k = k0; k < kc; ++k) dst[k * 12 + r] = src[r * lda + k];
}

// 12 independent zmm FMA chains per thread: enough to cover FMA latency (4) × issue width (2)
// on every current core. Returns GFLOP/s summed over `threads` threads (2 flops per FMA lane).
double fma_peak_avx512(int threads, double seconds) {
  // one task per thread; a plain array (no STL container may be instantiated in an ISA file)
  double per[256] = {};
  if (threads > 256) threads = 256;
  cpu::parallel_team(threads, [&](int t, int) {
    cpu::set_ftz();
    __m512 acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(0.001f * float(i));
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    using clk = std::chrono::steady_clock;
    auto t0 = clk::now();
    int64_t iters = 0;
    double dt = 0;
    do {
      for (int rep = 0; rep < 4096; ++rep) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
      }
      // Opaque to the optimiser: without it GCC folds the constant-operand chains away.
#pragma GCC unroll 12
      for (int i = 0; i < 12; ++i) asm volatile("" : "+v"(acc[i]));
      iters += 4096;
      dt = std::chrono::duration<double>(clk::now() - t0).count();
    } while (dt < seconds);
    __m512 s = acc[0];
    for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    per[t] = double(iters) * 12 * 16 * 2 / dt / 1e9;
  });
  double total = 0;
  for (int t = 0; t < threads; ++t) total += per[t];
  return total;
}

}  // namespace fusednet::cpu::gemm_detail
FN_ISA_END
#endif  // FN_X86
