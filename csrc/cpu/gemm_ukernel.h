// gemm_ukernel.h — the SGEMM micro-kernel, written once over a vector-traits type V and
// instantiated by gemm_avx512.cpp (V = 16 floats, 12×32 tile), gemm_avx2.cpp (8 floats, 6×16)
// and gemm.cpp (portable 4-float GCC vectors, 6×8). Internal to the gemm family.
//
//   C_tile[ROWS, NR] = epilogue( Σ_k Ap[k, 0:ROWS] ⊗ Bp[k, 0:NR] )
//   Ap: packed A panel, element (k, r) at Ap[k*MR + r]      (MR floats per k, column of A)
//   Bp: packed B sliver, element (k, c) at Bp[k*NR + c]     (NR floats per k, row of B)
// The C tile lives in ROWS×NR/W vector registers for the whole K loop; each k costs NR/W vector
// loads of B, ROWS broadcasts of A and ROWS·NR/W FMAs. ROWS is a template parameter so the last
// (short) row panel of M is computed without wasted FMAs and without padding the packed A.
// Columns are always the full NR: the driver routes a short last column panel through a scratch
// tile, so no masked loads are needed here.
//
// Epilogue (fused into the store while the tile is still in registers):
//   first K slice: x = acc (+ beta*C when beta != 0; C is not read when beta == 0, so it may hold
//                  garbage or NaN as `out=` of np.empty does)
//   later slices:  x = acc + C          (C holds the partial sum of the previous slices)
//   last slice:    x = act(x + bias)    (bias padded to NR by the driver where needed)
// The K summation order per element depends only on K and KC, never on the thread split.
#pragma once
#include <cmath>
#include <cstdint>

#include "common/common.h"
#include "common/gemm_config.h"
#include "cpu/isa.h"

namespace fusednet::cpu::gemm_detail {

struct Epilogue {
  const float* bias = nullptr;  // NR floats for this tile, or null
  float beta = 0.f;
  Act act = Act::None;
  bool first = true;   // first K slice: overwrite (or beta-scale) C
  bool last = true;    // last K slice: add bias, apply activation
};

// lda == 0: Ap is a packed panel. lda > 0: Ap points at row 0 of a row-major A (element (k, r)
// at Ap[r*lda + k]), read in place — same arithmetic, so the same bits (see gemm.cpp, direct A).
using UKernel = void (*)(int rows, int64_t kc, const float* Ap, int64_t lda, const float* Bp,
                         int64_t ldb, float* C, int64_t ldc, const Epilogue& e);

// Per-ISA entry points (defined in gemm_avx512.cpp / gemm_avx2.cpp / gemm.cpp). The x86 ones are
// declared on x86 only, so a call that escapes its FN_X86 guard fails to compile on aarch64
// rather than to link.
void ukernel_portable(int rows, int64_t kc, const float* Ap, int64_t lda, const float* Bp,
                      int64_t ldb, float* C, int64_t ldc, const Epilogue& e);
#if FN_X86
void ukernel_avx512(int rows, int64_t kc, const float* Ap, int64_t lda, const float* Bp,
                  int64_t ldb, float* C, int64_t ldc, const Epilogue& e);
void ukernel_avx2(int rows, int64_t kc, const float* Ap, int64_t lda, const float* Bp,
                  int64_t ldb, float* C, int64_t ldc, const Epilogue& e);
// Transposed-B packing of one full 32-column sliver with 16×16 register transposes (AVX-512).
void pack_bt32_avx512(float* dst, const float* src, int64_t ldb, int64_t kc);
// Non-transposed A: one 12-row panel (rows ≤ 12), same technique.
void pack_a12_avx512(float* dst, const float* src, int64_t lda, int rows, int64_t kc);
// Measured FP32 FMA peak of this machine (both vector FMA pipes busy, independent chains).
double fma_peak_avx512(int threads, double seconds);
double fma_peak_avx2(int threads, double seconds);
#endif

// ---------------------------------------------------------------- vector maths for the epilogue
// Cephes-style single-precision exp / tanh / sigmoid written with the traits' primitives; max
// relative error ~2 ulp, i.e. far below the GEMM's own K-dependent rounding.
template <class V>
struct VMath {
  using R = typename V::R;
  static inline R exp(R x) {
    // max(lo, x) / min(hi, .) with x second so NaN propagates (x86 max returns the 2nd operand).
    x = V::min(V::set1(88.3762626647949f), V::max(V::set1(-87.3365447504f), x));
    R fx = V::round(V::mul(x, V::set1(1.44269504088896341f)));
    x = V::fma(fx, V::set1(-0.693359375f), x);
    x = V::fma(fx, V::set1(2.12194440e-4f), x);
    R z = V::mul(x, x);
    R y = V::set1(1.9875691500E-4f);
    y = V::fma(y, x, V::set1(1.3981999507E-3f));
    y = V::fma(y, x, V::set1(8.3334519073E-3f));
    y = V::fma(y, x, V::set1(4.1665795894E-2f));
    y = V::fma(y, x, V::set1(1.6666665459E-1f));
    y = V::fma(y, x, V::set1(5.0000001201E-1f));
    y = V::fma(y, z, V::add(x, V::set1(1.f)));
    return V::mul(y, V::pow2n(fx));
  }
  static inline R sigmoid(R x) {
    R one = V::set1(1.f);
    return V::div(one, V::add(one, exp(V::sub(V::zero(), x))));
  }
  static inline R tanh(R x) {
    // |x| < 0.625: odd polynomial (no cancellation near 0); else 1 - 2/(e^{2|x|}+1), signed.
    R ax = V::abs(x);
    R z = V::mul(x, x);
    R p = V::set1(-5.70498872745E-3f);
    p = V::fma(p, z, V::set1(2.06390887954E-2f));
    p = V::fma(p, z, V::set1(-5.37397155531E-2f));
    p = V::fma(p, z, V::set1(1.33314422036E-1f));
    p = V::fma(p, z, V::set1(-3.33332819422E-1f));
    R small = V::fma(V::mul(p, z), x, x);
    R one = V::set1(1.f);
    R e = exp(V::add(ax, ax));
    R big = V::sub(one, V::div(V::set1(2.f), V::add(e, one)));
    big = V::copysign(big, x);
    return V::select_lt(ax, V::set1(0.625f), small, big);
  }
  static inline R act(R x, Act a) {
    switch (a) {
      case Act::Relu: return V::max(V::zero(), x);  // zero first: NaN passes through
      case Act::Sigmoid: return sigmoid(x);
      case Act::Tanh: return tanh(x);
      default: return x;
    }
  }
};

// ---------------------------------------------------------------- the micro-kernel
template <class V, int MR, int NR, int ROWS, bool RM, bool RB>
static inline void ukernel_tile(int64_t kc, const float* __restrict Ap, int64_t lda,
                                const float* __restrict Bp, int64_t ldb, float* __restrict C,
                                int64_t ldc, const Epilogue& e) {
  const int64_t bstep = RB ? ldb : NR;
  using R = typename V::R;
  constexpr int W = V::W;
  constexpr int NV = NR / W;
  static_assert(NR % W == 0, "NR must be a multiple of the vector width");
  R c[ROWS][NV];
#pragma GCC unroll 16
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) c[r][v] = V::zero();

  // Warm every line of the C tile while the K loop runs: the epilogue reads it (or at least
  // writes it, which on a miss stalls the stores just the same). A row of NR floats spans
  // NR*4/64 lines; prefetching only the first left half the tile to miss at the end of each call.
#pragma GCC unroll 16
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NR; v += 16) __builtin_prefetch(C + r * ldc + v, 1, 3);

#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    R b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = V::load(Bp + v * W);
    // A 32-float B row spans two cache lines: prefetch both. With only the first one (as up to
    // run 8) the second was left to the hardware prefetcher and the B loads stalled: one core,
    // 2048³/4096³ went from 95-101 to 102-105 GFLOP/s (alternating runs). A prefetch of the
    // packed A panel on top added nothing measurable.
    __builtin_prefetch(Bp + 8 * bstep, 0, 3);
    if constexpr (NR * 4 > 64) __builtin_prefetch(Bp + 8 * bstep + 16, 0, 3);
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; ++r) {
      R a = V::set1(RM ? Ap[r * lda] : Ap[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[r][v] = V::fma(a, b[v], c[r][v]);
    }
    Ap += RM ? 1 : MR;
    Bp += bstep;
  }

  const R vbeta = V::set1(e.beta);
#pragma GCC unroll 16
  for (int r = 0; r < ROWS; ++r) {
    float* cp = C + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      R x = c[r][v];
      if (!e.first) x = V::add(x, V::load(cp + v * W));
      else if (e.beta != 0.f) x = V::fma(vbeta, V::load(cp + v * W), x);
      if (e.last) {
        if (e.bias) x = V::add(x, V::load(e.bias + v * W));
        if (e.act != Act::None) x = VMath<V>::act(x, e.act);
      }
      V::store(cp + v * W, x);
    }
  }
}

// rows in [1, MR] -> the matching instantiation (a jump table; the call is per tile).
template <class V, int MR, int NR, int ROWS = MR>
static inline void ukernel_rows(int rows, int64_t kc, const float* Ap, int64_t lda, const float* Bp,
                                int64_t ldb, float* C, int64_t ldc, const Epilogue& e) {
  if constexpr (ROWS >= 1) {
    if (rows == ROWS) {
      if (lda && ldb) return ukernel_tile<V, MR, NR, ROWS, true, true>(kc, Ap, lda, Bp, ldb, C, ldc, e);
      if (lda) return ukernel_tile<V, MR, NR, ROWS, true, false>(kc, Ap, lda, Bp, 0, C, ldc, e);
      if (ldb) return ukernel_tile<V, MR, NR, ROWS, false, true>(kc, Ap, 0, Bp, ldb, C, ldc, e);
      return ukernel_tile<V, MR, NR, ROWS, false, false>(kc, Ap, 0, Bp, 0, C, ldc, e);
    }
    return ukernel_rows<V, MR, NR, ROWS - 1>(rows, kc, Ap, lda, Bp, ldb, C, ldc, e);
  }
}

// ---------------------------------------------------------------- single-row products
// c[0:n] = epilogue( Σ_{k<kc} s[k·ss] · B[k·ldb + 0:n] ) over one K slice: op(A) has one row, so
// the packed path would copy all of B (64 MiB for a 4096² weight) to multiply it by one vector.
// Here B streams once, row by row, into a block of accumulators that stays in L1. Each element
// gets exactly the micro-kernel's arithmetic (acc = +0, one FMA per k in k order, the same
// epilogue and vector maths), so the result is bitwise that of the tiled path: a model's output
// for a sample does not depend on how many rows were in the batch. e.bias points at bias[0:n].
template <class V>
static inline void gemv_slice(int64_t n, int64_t kc, const float* __restrict s, int64_t ss,
                              const float* __restrict B, int64_t ldb, float* __restrict C,
                              const Epilogue& e) {
  using R = typename V::R;
  constexpr int W = V::W;
  constexpr int64_t kBlk = 1024;  // 4 KiB of accumulators
  alignas(64) float acc[kBlk];
  alignas(64) float tc[W], tbias[W];
  const R vbeta = V::set1(e.beta);
  auto epi = [&](R x, const float* cp, const float* bp) {
    if (!e.first) x = V::add(x, V::load(cp));
    else if (e.beta != 0.f) x = V::fma(vbeta, V::load(cp), x);
    if (e.last) {
      if (bp) x = V::add(x, V::load(bp));
      if (e.act != Act::None) x = VMath<V>::act(x, e.act);
    }
    return x;
  };
  for (int64_t j0 = 0; j0 < n; j0 += kBlk) {
    const int64_t nb = n - j0 < kBlk ? n - j0 : kBlk;
    const int64_t nv = nb / W * W;
    for (int64_t j = 0; j < nb; ++j) acc[j] = 0.f;
    int64_t k = 0;
    // Four rows per pass: four B streams in flight and one accumulator load/store per four FMAs;
    // per element the FMAs still run in k order, so nothing changes bitwise.
    for (; k + 4 <= kc; k += 4) {
      const float a0 = s[k * ss], a1 = s[(k + 1) * ss], a2 = s[(k + 2) * ss], a3 = s[(k + 3) * ss];
      const R v0 = V::set1(a0), v1 = V::set1(a1), v2 = V::set1(a2), v3 = V::set1(a3);
      const float* b0 = B + k * ldb + j0;
      const float *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
      for (int64_t j = 0; j < nv; j += W) {
        R x = V::fma(v0, V::load(b0 + j), V::load(acc + j));
        x = V::fma(v1, V::load(b1 + j), x);
        x = V::fma(v2, V::load(b2 + j), x);
        V::store(acc + j, V::fma(v3, V::load(b3 + j), x));
      }
      for (int64_t j = nv; j < nb; ++j) {
        float x = __builtin_fmaf(a0, b0[j], acc[j]);
        x = __builtin_fmaf(a1, b1[j], x);
        x = __builtin_fmaf(a2, b2[j], x);
        acc[j] = __builtin_fmaf(a3, b3[j], x);
      }
    }
    for (; k < kc; ++k) {
      const float a = s[k * ss];
      const R va = V::set1(a);
      const float* b = B + k * ldb + j0;
      for (int64_t j = 0; j < nv; j += W) V::store(acc + j, V::fma(va, V::load(b + j), V::load(acc + j)));
      for (int64_t j = nv; j < nb; ++j) acc[j] = __builtin_fmaf(a, b[j], acc[j]);
    }
    float* c = C + j0;
    const float* bias = (e.last && e.bias) ? e.bias + j0 : nullptr;
    for (int64_t j = 0; j < nv; j += W) V::store(c + j, epi(V::load(acc + j), c + j, bias ? bias + j : nullptr));
    if (nv < nb) {  // tail through zero-padded vectors: the same vector maths as the full lanes
      const int64_t t = nb - nv;
      for (int i = 0; i < W; ++i) {
        const bool in = i < t;
        tc[i] = (in && (!e.first || e.beta != 0.f)) ? c[nv + i] : 0.f;
        tbias[i] = (in && bias) ? bias[nv + i] : 0.f;
        acc[nv + i] = in ? acc[nv + i] : 0.f;
      }
      alignas(64) float out[W];
      V::store(out, epi(V::load(acc + nv), tc, bias ? tbias : nullptr));
      for (int64_t i = 0; i < t; ++i) c[nv + i] = out[i];
    }
  }
}

// Matrix·vector with a row-major matrix: c[i·ldc] = act(beta·c + Σ_k A[i·lda + k]·b[k] + bias) for
// i < m (C[M,1] = A·b). Each row is a dot product over contiguous memory, summed in 4×W lanes
// combined in a fixed order: the same for every row, thread split and M (this is the one path
// whose K order differs from the tiled kernel, which would have to pack all of A to use one
// of its 32 columns).
template <class V>
static inline void gemv_dot_rows(int64_t m, int64_t K, const float* __restrict A, int64_t lda,
                                 const float* __restrict b, float* C, int64_t ldc, float bias,
                                 bool has_bias, float beta, Act act) {
  using R = typename V::R;
  constexpr int W = V::W;
  alignas(64) float dots[W], tc[W], lanes[W];
  for (int64_t i0 = 0; i0 < m; i0 += W) {
    const int64_t nr = m - i0 < W ? m - i0 : W;
    for (int64_t r = 0; r < W; ++r) {
      if (r >= nr) { dots[r] = 0.f; tc[r] = 0.f; continue; }
      const float* a = A + (i0 + r) * lda;
      R s0 = V::zero(), s1 = V::zero(), s2 = V::zero(), s3 = V::zero();
      int64_t k = 0;
      for (; k + 4 * W <= K; k += 4 * W) {
        s0 = V::fma(V::load(a + k), V::load(b + k), s0);
        s1 = V::fma(V::load(a + k + W), V::load(b + k + W), s1);
        s2 = V::fma(V::load(a + k + 2 * W), V::load(b + k + 2 * W), s2);
        s3 = V::fma(V::load(a + k + 3 * W), V::load(b + k + 3 * W), s3);
      }
      for (; k + W <= K; k += W) s0 = V::fma(V::load(a + k), V::load(b + k), s0);
      V::store(lanes, V::add(V::add(s0, s1), V::add(s2, s3)));
      float t = 0.f;
      for (; k < K; ++k) t = __builtin_fmaf(a[k], b[k], t);
      for (int l = 0; l < W; ++l) t += lanes[l];
      dots[r] = t;
      tc[r] = beta != 0.f ? C[(i0 + r) * ldc] : 0.f;
    }
    R x = V::load(dots);
    if (beta != 0.f) x = V::fma(V::set1(beta), V::load(tc), x);
    if (has_bias) x = V::add(x, V::set1(bias));
    if (act != Act::None) x = VMath<V>::act(x, act);
    V::store(dots, x);
    for (int64_t r = 0; r < nr; ++r) C[(i0 + r) * ldc] = dots[r];
  }
}

using GemvDot = void (*)(int64_t m, int64_t K, const float* A, int64_t lda, const float* b, float* C,
                         int64_t ldc, float bias, bool has_bias, float beta, Act act);
using GemvSlice = void (*)(int64_t n, int64_t kc, const float* s, int64_t ss, const float* B,
                           int64_t ldb, float* C, const Epilogue& e);
#if FN_X86
void gemv_dot_avx512(int64_t m, int64_t K, const float* A, int64_t lda, const float* b, float* C,
                     int64_t ldc, float bias, bool has_bias, float beta, Act act);
void gemv_dot_avx2(int64_t m, int64_t K, const float* A, int64_t lda, const float* b, float* C,
                   int64_t ldc, float bias, bool has_bias, float beta, Act act);
void gemv_slice_avx512(int64_t n, int64_t kc, const float* s, int64_t ss, const float* B, int64_t ldb,
                       float* C, const Epilogue& e);
void gemv_slice_avx2(int64_t n, int64_t kc, const float* s, int64_t ss, const float* B, int64_t ldb,
                     float* C, const Epilogue& e);
#endif

}  // namespace fusednet::cpu::gemm_detail
