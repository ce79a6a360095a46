// winograd_avx512.cpp — the F(4x4,3x3) tile transforms (winograd_impl.h) for AVX-512 (16 channels per zmm).
//
//   in_chunk:  Vb [nt, 36, C] = Bᵀ d B per tile        out_chunk: Y = act(Aᵀ m A + bias)
// Compiled inside an FN_ISA_BEGIN region (cpu/isa.h) and called only after cpu::isa_level() said
// so; the templates are instantiated with this file's own traits types (namespace avx512), so no
// shared inline code is emitted with this ISA.
#include <immintrin.h>

#include "common/common.h"
#include "cpu/conv.h"
#include "cpu/isa.h"
#include "cpu/winograd.h"

#if FN_X86
FN_ISA_BEGIN(FN_TARGET_AVX512)
#include "cpu/winograd_impl.h"

namespace fusednet::cpu::wino_detail {
namespace avx512 {
namespace {

struct V {
  using R = __m512;
  static constexpr int W = 16;
  static inline R zero() { return _mm512_setzero_ps(); }
  static inline R load(const float* p) { return _mm512_loadu_ps(p); }
  static inline void store(float* p, R v) { _mm512_storeu_ps(p, v); }
  static inline R set1(float s) { return _mm512_set1_ps(s); }
  static inline R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static inline R add(R a, R b) { return _mm512_add_ps(a, b); }
  static inline R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static inline R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static inline R max(R a, R b) { return _mm512_max_ps(a, b); }
};

// The channel tail: one float per "vector", the same operations (fmaf: one rounding, as the FMA).
struct S {
  using R = float;
  static constexpr int W = 1;
  static inline R zero() { return 0.f; }
  static inline R load(const float* p) { return *p; }
  static inline void store(float* p, R v) { *p = v; }
  static inline R set1(float s) { return s; }
  static inline R fma(R a, R b, R c) { return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c))); }
  static inline R add(R a, R b) { return a + b; }
  static inline R mul(R a, R b) { return a * b; }
  static inline R sub(R a, R b) { return a - b; }
  static inline R max(R a, R b) { return _mm_cvtss_f32(_mm_max_ss(_mm_set_ss(a), _mm_set_ss(b))); }
};

}  // namespace
}  // namespace avx512

void weights_block_avx512(float* U, const float* Wt, i64 CO, i64 c0, i64 c1) {
  weights_block<avx512::V, avx512::S>(U, Wt, CO, c0, c1);
}
void in_chunk_avx512(float* Vb, const float* X, const ConvGeom& g, i64 t0, i64 nt) {
  in_chunk<avx512::V, avx512::S>(Vb, X, g, t0, nt);
}
void out_chunk_avx512(float* Y, const float* Mb, const float* bias, const ConvGeom& g, Act act, i64 t0, i64 nt) {
  out_chunk<avx512::V, avx512::S>(Y, Mb, bias, g, act, t0, nt);
}

}  // namespace fusednet::cpu::wino_detail
FN_ISA_END
#endif
