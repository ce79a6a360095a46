// gemm_avx2.cpp — AVX2+FMA SGEMM micro-kernel (6×16 tile) and an FMA peak probe.
//
//   C_tile[6, 16] (+)= Ap[k, 0:6] ⊗ Bp[k, 0:16] over k, fused epilogue (see gemm_ukernel.h)
// Compiled for AVX2+FMA inside an FN_ISA_BEGIN region (cpu/isa.h) and called only after
// cpu::isa_level() >= 1. 16 ymm registers: 12 accumulators + 2 B vectors + 1 broadcast — the
// classic Haswell shape, which also keeps the FMA:load ratio at 12:8.
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
FN_ISA_BEGIN(FN_TARGET_AVX2)
#include "cpu/gemm_ukernel.h"  // the micro-kernel templates, instantiated below for this ISA

namespace fusednet::cpu::gemm_detail {
namespace avx2 {
namespace {

struct V256 {
  using R = __m256;
  static constexpr int W = 8;
  static inline R zero() { return _mm256_setzero_ps(); }
  static inline R load(const float* p) { return _mm256_loadu_ps(p); }
  static inline void store(float* p, R v) { _mm256_storeu_ps(p, v); }
  static inline R set1(float s) { return _mm256_set1_ps(s); }
  static inline R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static inline R add(R a, R b) { return _mm256_add_ps(a, b); }
  static inline R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static inline R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static inline R div(R a, R b) { return _mm256_div_ps(a, b); }
  static inline R max(R a, R b) { return _mm256_max_ps(a, b); }
  static inline R min(R a, R b) { return _mm256_min_ps(a, b); }
  static inline R round(R x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static inline R pow2n(R n) {
    __m256i i = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(i, 23));
  }
  static inline R abs(R x) {
    return _mm256_andnot_ps(_mm256_castsi256_ps(_mm256_set1_epi32(int(0x80000000u))), x);
  }
  static inline R copysign(R mag, R sgn) {
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32(int(0x80000000u)));
    return _mm256_or_ps(_mm256_andnot_ps(sign, mag), _mm256_and_ps(sign, sgn));
  }
  static inline R select_lt(R a, R b, R if_lt, R otherwise) {
    return _mm256_blendv_ps(otherwise, if_lt, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
  }
};

constexpr auto B = gemm::kBlockAvx2;

}  // namespace
}  // namespace avx2
using namespace avx2;

void gemv_dot_avx2(int64_t m, int64_t K, const float* A, int64_t lda, const float* b, float* C,
                   int64_t ldc, float bias, bool has_bias, float beta, Act act) {
  gemv_dot_rows<V256>(m, K, A, lda, b, C, ldc, bias, has_bias, beta, act);
}

void gemv_slice_avx2(int64_t n, int64_t kc, const float* s, int64_t ss, const float* B, int64_t ldb,
                     float* C, const Epilogue& e) {
  gemv_slice<V256>(n, kc, s, ss, B, ldb, C, e);
}

void ukernel_avx2(int rows, int64_t kc, const float* Ap, int64_t lda, const float* Bp,
                  int64_t ldb, float* C, int64_t ldc, const Epilogue& e) {
  ukernel_rows<V256, B.mr, B.nr>(rows, kc, Ap, lda, Bp, ldb, C, ldc, e);
}

double fma_peak_avx2(int threads, double seconds) {
  // one task per thread; a plain array (no STL container may be instantiated in an ISA file)
  double per[256] = {};
  if (threads > 256) threads = 256;
  cpu::parallel_team(threads, [&](int t, int) {
    cpu::set_ftz();
    __m256 acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(0.001f * float(i));
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    using clk = std::chrono::steady_clock;
    auto t0 = clk::now();
    int64_t iters = 0;
    double dt = 0;
    do {
      for (int rep = 0; rep < 4096; ++rep) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
      }
      // Opaque to the optimiser: without it GCC folds the constant-operand chains away.
#pragma GCC unroll 12
      for (int i = 0; i < 12; ++i) asm volatile("" : "+v"(acc[i]));
      iters += 4096;
      dt = std::chrono::duration<double>(clk::now() - t0).count();
    } while (dt < seconds);
    __m256 s = acc[0];
    for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
    alignas(32) float tmp[8];
    _mm256_store_ps(tmp, s);
    volatile float sink = tmp[0];
    (void)sink;
    per[t] = double(iters) * 12 * 8 * 2 / dt / 1e9;
  });
  double total = 0;
  for (int t = 0; t < threads; ++t) total += per[t];
  return total;
}

}  // namespace fusednet::cpu::gemm_detail
FN_ISA_END
#endif  // FN_X86
