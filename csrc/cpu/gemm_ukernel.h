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

namespace fusednet::cpu::gemm_detail {

struct Epilogue {
  const float* bias = nullptr;  // NR floats for this tile, or null
  float beta = 0.f;
  Act act = Act::None;
  bool first = true;   // first K slice: overwrite (or beta-scale) C
  bool last = true;    // last K slice: add bias, apply activation
};

using UKernel = void (*)(int rows, int64_t kc, const float* Ap, const float* Bp, float* C,
                         int64_t ldc, const Epilogue& e);

// Per-ISA entry points (defined in gemm_avx512.cpp / gemm_avx2.cpp / gemm.cpp).
void ukernel_avx512(int rows, int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc,
                    const Epilogue& e);
void ukernel_avx2(int rows, int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc,
                  const Epilogue& e);
void ukernel_portable(int rows, int64_t kc, const float* Ap, const float* Bp, float* C,
                      int64_t ldc, const Epilogue& e);
// Transposed-B packing of one full 32-column sliver with 16×16 register transposes (AVX-512).
void pack_bt32_avx512(float* dst, const float* src, int64_t ldb, int64_t kc);
// Non-transposed A: one 12-row panel (rows ≤ 12), same technique.
void pack_a12_avx512(float* dst, const float* src, int64_t lda, int rows, int64_t kc);
// Measured FP32 FMA peak of this machine (both vector FMA pipes busy, independent chains).
double fma_peak_avx512(int threads, double seconds);
double fma_peak_avx2(int threads, double seconds);

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
template <class V, int MR, int NR, int ROWS>
static inline void ukernel_tile(int64_t kc, const float* __restrict Ap, const float* __restrict Bp,
                                float* __restrict C, int64_t ldc, const Epilogue& e) {
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
    __builtin_prefetch(Bp + 8 * NR, 0, 3);
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; ++r) {
      R a = V::set1(Ap[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[r][v] = V::fma(a, b[v], c[r][v]);
    }
    Ap += MR;
    Bp += NR;
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
static inline void ukernel_rows(int rows, int64_t kc, const float* Ap, const float* Bp, float* C,
                                int64_t ldc, const Epilogue& e) {
  if constexpr (ROWS >= 1) {
    if (rows == ROWS) return ukernel_tile<V, MR, NR, ROWS>(kc, Ap, Bp, C, ldc, e);
    return ukernel_rows<V, MR, NR, ROWS - 1>(rows, kc, Ap, Bp, C, ldc, e);
  }
}

}  // namespace fusednet::cpu::gemm_detail
