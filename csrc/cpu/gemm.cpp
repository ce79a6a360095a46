// gemm.cpp — CPU SGEMM driver: BLIS-style blocking, packing, threading; portable micro-kernel;
// triple-loop reference.
//
//   C[M,N] = act(beta*C + op(A)·op(B) + bias[N])        row-major, strides lda/ldb/ldc
//   op(A) = A [M,K] or (trans_a) Aᵀ with A stored [K,M];  op(B) = B [K,N] or (trans_b) Bᵀ, B [N,K]
//
// Loop nest (per thread, over its own rectangle of C):
//   for jc in N step NC:                    B block columns
//     for pc in K step kc (balanced ≤ KC):  K slice
//       pack op(B)[pc:pc+kc, jc:jc+nc] -> Bp, NR-column slivers, zero-padded to NR   (L3/L2)
//       for ic in M step MC:
//         pack op(A)[ic:ic+mc, pc:pc+kc] -> Ap, MR-row panels                          (L2)
//           (A and/or B are read in place instead when few columns per thread: "direct", below)
//         for jr in nc step NR:  for ir in mc step MR:  micro-kernel (C tile in registers, L1 B)
// Packing is where the transposes are absorbed: the micro-kernel only ever sees "k-major"
// panels, so trans_a / trans_b cost one pass over the operand, never a strided inner loop.
//
// Threading (DESIGN invariant 6): C is cut into a Tm×Tn grid of MR/NR-aligned rectangles, one per
// thread, each running the whole nest above with thread-local packing buffers. K is never split,
// and the K slicing depends only on K and KC, so every element is summed in the same order for
// any thread count: results are bitwise identical. The grid shape is chosen per call to keep
// both threads busy on skinny training shapes (e.g. 784×32·32×128 splits M) while minimising
// duplicated packing. When nothing is packed (both operands direct, e.g. 128×784·784×128), C is
// instead cut into small sliver×panel tasks that idle threads take from busy ones (direct_tasks).
#include "cpu/gemm.h"


#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <vector>

#include "common/gemm_config.h"
#include "cpu/ftz_scope.h"
#include "cpu/gemm_ukernel.h"
#include "cpu/isa.h"
#include "cpu/parallel.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {

using namespace gemm_detail;

// ---------------------------------------------------------------- portable micro-kernel
namespace {

typedef float v4f __attribute__((vector_size(16)));
typedef int v4i __attribute__((vector_size(16)));

// GCC generic vectors: SSE2 on x86-64 baseline, NEON/whatever elsewhere. No FMA: a*b+c.
struct VPortable {
  using R = v4f;
  static constexpr int W = 4;
  static inline R zero() { return R{0.f, 0.f, 0.f, 0.f}; }
  static inline R load(const float* p) { R v; std::memcpy(&v, p, sizeof v); return v; }
  static inline void store(float* p, R v) { std::memcpy(p, &v, sizeof v); }
  static inline R set1(float s) { return R{s, s, s, s}; }
  static inline R fma(R a, R b, R c) { return a * b + c; }
  static inline R add(R a, R b) { return a + b; }
  static inline R sub(R a, R b) { return a - b; }
  static inline R mul(R a, R b) { return a * b; }
  static inline R div(R a, R b) { return a / b; }
  // Same operand conventions as x86 max/min (second operand returned on NaN).
  static inline R max(R a, R b) { return a > b ? a : b; }
  static inline R min(R a, R b) { return a < b ? a : b; }
  static inline R round(R x) {
    for (int i = 0; i < 4; ++i) x[i] = std::nearbyint(x[i]);
    return x;
  }
  static inline R pow2n(R n) {
    R r;
    for (int i = 0; i < 4; ++i) r[i] = std::ldexp(1.f, std::isnan(n[i]) ? 0 : int(n[i]));
    return r;
  }
  static inline R abs(R x) {
    for (int i = 0; i < 4; ++i) x[i] = std::fabs(x[i]);
    return x;
  }
  static inline R copysign(R m, R s) {
    for (int i = 0; i < 4; ++i) m[i] = std::copysign(m[i], s[i]);
    return m;
  }
  static inline R select_lt(R a, R b, R x, R y) { return a < b ? x : y; }
};

constexpr auto kPB = gemm::kBlockPortable;

}  // namespace

namespace gemm_detail {
void ukernel_portable(int rows, int64_t kc, const float* Ap, int64_t lda, const float* Bp,
                      int64_t ldb, float* C, int64_t ldc, const Epilogue& e) {
  ukernel_rows<VPortable, kPB.mr, kPB.nr>(rows, kc, Ap, lda, Bp, ldb, C, ldc, e);
}
}  // namespace gemm_detail

// ---------------------------------------------------------------- reference
static inline float apply_act(float v, Act act) {
  switch (act) {
    case Act::Relu: return v > 0.f ? v : 0.f;
    case Act::Sigmoid: return 1.f / (1.f + std::exp(-v));
    case Act::Tanh: return std::tanh(v);
    default: return v;
  }
}

void sgemm_ref(float* C, const float* A, const float* B, const float* bias, i64 M, i64 N, i64 K,
               bool trans_a, bool trans_b, i64 lda, i64 ldb, i64 ldc, float beta, Act act) {
  for (i64 i = 0; i < M; ++i)
    for (i64 j = 0; j < N; ++j) {
      double s = 0;
      for (i64 k = 0; k < K; ++k) {
        float a = trans_a ? A[k * lda + i] : A[i * lda + k];
        float b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        s += double(a) * double(b);
      }
      if (bias) s += bias[j];
      if (beta != 0.f) s += double(beta) * C[i * ldc + j];
      C[i * ldc + j] = apply_act(float(s), act);
    }
}

// ---------------------------------------------------------------- packing
namespace {

struct IsaPath {
  UKernel kern;
  gemm::Blocking blk;
  GemvSlice gemv;  // null on the portable path (its vectors have no fused multiply-add)
  GemvDot dot;
};

const IsaPath& isa_path() {
  static const IsaPath p = [] {
    switch (isa_level()) {
#if FN_X86  // elsewhere isa_level() is 0 and the ISA kernels are not compiled in
      case 2: return IsaPath{ukernel_avx512, gemm::kBlockAvx512, gemv_slice_avx512, gemv_dot_avx512};
      case 1: return IsaPath{ukernel_avx2, gemm::kBlockAvx2, gemv_slice_avx2, gemv_dot_avx2};
#endif
      default: return IsaPath{ukernel_portable, gemm::kBlockPortable, nullptr, nullptr};
    }
  }();
  return p;
}

// op(A)[i0:i0+m, p0:p0+kc] -> MR-row panels; panel at Ap + ir*kc holds (k, r) at k*MR + r.
// Rows past m in the last panel are left untouched: the row-templated kernel never reads them.
void pack_a(float* __restrict Ap, const float* __restrict A, i64 lda, bool ta, i64 i0, i64 p0,
            i64 m, i64 kc, int MR) {
  for (i64 ir = 0; ir < m; ir += MR) {
    const int rows = int(std::min<i64>(MR, m - ir));
    float* dst = Ap + ir * kc;
    if (ta) {  // A stored [K,M]: the MR values of one k are contiguous — a row copy per k
      const float* src = A + p0 * lda + i0 + ir;
      if (rows == 12 && MR == 12) {  // fixed-size copies compile to two vector moves (dW = Xᵀ·dZ)
        for (i64 k = 0; k < kc; ++k) std::memcpy(dst + k * 12, src + k * lda, 12 * sizeof(float));
      } else if (rows == 6 && MR == 6) {
        for (i64 k = 0; k < kc; ++k) std::memcpy(dst + k * 6, src + k * lda, 6 * sizeof(float));
      } else {
        for (i64 k = 0; k < kc; ++k)
          for (int r = 0; r < rows; ++r) dst[k * MR + r] = src[k * lda + r];
      }
#if FN_X86
    } else if (MR == 12 && isa_level() >= 2) {  // A stored [M,K], AVX-512 register transposes
      pack_a12_avx512(dst, A + (i0 + ir) * lda + p0, lda, rows, kc);
#endif
    } else {   // A stored [M,K]: a transpose; 16-deep k chunks keep the stores within L1 lines
      const float* src = A + (i0 + ir) * lda + p0;
      i64 k0 = 0;
      for (; k0 + 16 <= kc; k0 += 16)
        for (int r = 0; r < rows; ++r) {
          const float* s = src + r * lda + k0;
          float* d = dst + k0 * MR + r;
#pragma GCC unroll 16
          for (int t = 0; t < 16; ++t) d[t * MR] = s[t];
        }
      for (int r = 0; r < rows; ++r)
        for (i64 k = k0; k < kc; ++k) dst[k * MR + r] = src[r * lda + k];
    }
  }
}

// op(B)[p0:p0+kc, j0:j0+n] -> NR-column slivers; sliver at Bp + jr*kc holds (k, c) at k*NR + c,
// columns past n zero-filled (the kernel always computes full NR; the driver discards them).
void pack_b(float* __restrict Bp, const float* __restrict B, i64 ldb, bool tb, i64 p0, i64 j0,
            i64 kc, i64 n, int NR) {
  for (i64 jr = 0; jr < n; jr += NR) {
    const int cols = int(std::min<i64>(NR, n - jr));
    float* dst = Bp + jr * kc;
    if (!tb) {  // B stored [K,N]: each k row of the sliver is a contiguous copy
      const float* src = B + p0 * ldb + j0 + jr;
      if (cols == NR) {
        for (i64 k = 0; k < kc; ++k) std::memcpy(dst + k * NR, src + k * ldb, sizeof(float) * NR);
      } else {
        for (i64 k = 0; k < kc; ++k) {
          std::memcpy(dst + k * NR, src + k * ldb, sizeof(float) * cols);
          std::memset(dst + k * NR + cols, 0, sizeof(float) * (NR - cols));
        }
      }
#if FN_X86
    } else if (cols == 32 && NR == 32 && isa_level() >= 2) {  // B stored [N,K], AVX-512 path
      pack_bt32_avx512(dst, B + (j0 + jr) * ldb + p0, ldb, kc);
#endif
    } else {    // B stored [N,K]: a transpose, blocked 32 k at a time so the block stays in L1
      const float* src = B + (j0 + jr) * ldb + p0;
      for (i64 k0 = 0; k0 < kc; k0 += 32) {
        const i64 kn = std::min<i64>(32, kc - k0);
        for (int c = 0; c < cols; ++c) {
          const float* s = src + c * ldb + k0;
          float* d = dst + k0 * NR + c;
          if (kn == 32) {
#pragma GCC unroll 32
            for (int t = 0; t < 32; ++t) d[t * NR] = s[t];
          } else {
            for (i64 t = 0; t < kn; ++t) d[t * NR] = s[t];
          }
        }
        if (cols < NR)
          for (i64 t = 0; t < kn; ++t)
            std::memset(dst + (k0 + t) * NR + cols, 0, sizeof(float) * (NR - cols));
      }
    }
  }
}

// Thread-local packing buffers, grown on demand and kept for the thread's lifetime (thread pool
// threads persist), so steady-state calls never allocate.
struct Workspace {
  float* ap = nullptr;
  float* bp = nullptr;
  size_t ap_n = 0, bp_n = 0;
  alignas(64) float tmp[gemm::kMaxMR * gemm::kMaxNR] = {};
  alignas(64) float bias[gemm::kMaxNR] = {};
  void reserve(size_t na, size_t nb) {
    if (na > ap_n) {
      aligned_free(ap);
      ap = nullptr;
      ap_n = 0;
      ap = static_cast<float*>(aligned_malloc(na * sizeof(float)));
      ap_n = na;
    }
    if (nb > bp_n) {
      aligned_free(bp);
      bp = nullptr;
      bp_n = 0;
      bp = static_cast<float*>(aligned_malloc(nb * sizeof(float)));
      bp_n = nb;
    }
  }
  ~Workspace() {
    aligned_free(ap);
    aligned_free(bp);
  }
};
thread_local Workspace tl_ws;

struct Problem {
  float* C;
  const float *A, *B, *bias;
  i64 M, N, K, lda, ldb, ldc;
  bool ta, tb;
  float beta;
  Act act;
  i64 kcb;  // K slice depth (balanced, ≤ KC): depends only on K and KC
};

// Direct operands (no packing): when op(A) is A itself (row-major), the micro-kernel can broadcast
// A[r*lda + k] straight from the caller's rows instead of from a packed MR-panel; when op(B) is B
// itself, it can load B[k*ldb + c] from the caller's rows instead of from a packed NR-sliver. The
// arithmetic is the same, so the bits are too; only the memory traffic changes. Packing pays when
// a packed panel is reused many times; with few columns per thread it does not: the training
// shapes split N across the threads, so each thread packed all of A (a register transpose, 9% of
// a 128×784·784×128 product) to use it for two slivers, and copied its B slivers to reuse them
// over ~11 A panels. Measured on one core (Zen 4, K = 784), direct A vs packed: 1.22× at N = 32,
// 1.05-1.10× at 128, 1.00-1.02× at 512, 0.97-0.99× at 2048; direct B on top: 1.14× at
// 32×784·784×128, 1.03× at 128×…, 1.01-1.02× at M = 256-1024, but 0.91-0.96× at N = 1000-1024.
// So both apply to a thread's rectangle of at most kDirectMaxCols columns. Rows whose stride is a
// multiple of 4 KiB all map to one L1 set (12 A rows in an 8-way set): lda 1024 or 2048 lose
// 4-8% from N = 128 on, so such operands keep packing.
constexpr i64 kDirectMaxCols = 256;
std::atomic<int> g_direct_mode{0};  // 0 auto, 1 never, 2 always (tests pin the paths)

inline bool use_direct(bool trans, i64 ld, i64 cols) {
  const int mode = g_direct_mode.load(std::memory_order_relaxed);
  if (trans || mode == 1) return false;
  if (mode == 2) return true;
  return cols <= kDirectMaxCols && ld % 1024 != 0;
}

inline i64 cdiv(i64 a, i64 b) { return (a + b - 1) / b; }
inline i64 round_up(i64 a, i64 b) { return cdiv(a, b) * b; }

// The one-row and matrix·vector paths: `part(i0, i1)` over [0, n) cut at multiples of W (one
// vector), on at most one thread per kMacsPerThread of the n·K multiply-adds.
template <class F>
void split_vectors(i64 n, i64 K, int W, F&& part) {
  const i64 macs = n * std::max<i64>(K, 1);
  int T = macs < gemm::kSerialMacs ? 1 : int(std::min<i64>(num_threads(), std::max<i64>(1, macs / gemm::kMacsPerThread)));
  T = int(std::min<i64>(T, cdiv(n, W)));
  if (T <= 1) {
    part(i64(0), n);
    return;
  }
  parallel_team(T, [&](int t, int nt) {
    const i64 nv = cdiv(n, W);
    part(std::min(n, nv * t / nt * W), std::min(n, nv * (t + 1) / nt * W));
  });
}

// The whole blocked nest over C[m0:m1, n0:n1], on the calling thread.
void gemm_rect(const Problem& p, const IsaPath& isa, i64 m0, i64 m1, i64 n0, i64 n1) {
  if (m0 >= m1 || n0 >= n1) return;
  const int MR = isa.blk.mr, NR = isa.blk.nr;
  const i64 MC = isa.blk.mc, NC = isa.blk.nc;
  Workspace& ws = tl_ws;
  const i64 kcap = std::max<i64>(p.kcb, 1);
  const bool direct_a = p.K > 0 && use_direct(p.ta, p.lda, n1 - n0);
  const bool direct_b = p.K > 0 && use_direct(p.tb, p.ldb, n1 - n0);
  ws.reserve(direct_a ? 0 : size_t(round_up(std::min(MC, m1 - m0), MR) * kcap),
             size_t(kcap * (direct_b ? NR : round_up(std::min(NC, n1 - n0), NR))));
  Epilogue ep;
  ep.beta = p.beta;
  ep.act = p.act;
  for (i64 jc = n0; jc < n1; jc += NC) {
    const i64 nc = std::min(NC, n1 - jc);
    i64 pk = 0;
    do {  // runs once with kc = 0 when K == 0: the epilogue alone gives act(beta*C + bias)
      const i64 kc = std::min(p.kcb, p.K - pk);
      ep.first = pk == 0;
      ep.last = pk + kc >= p.K;
      const i64 nfull = direct_b ? nc / NR * NR : 0;  // direct B: only a short last sliver is packed
      if (nfull < nc) pack_b(ws.bp, p.B, p.ldb, p.tb, pk, jc + nfull, kc, nc - nfull, NR);
      for (i64 ic = m0; ic < m1; ic += MC) {
        const i64 mc = std::min(MC, m1 - ic);
        if (!direct_a) pack_a(ws.ap, p.A, p.lda, p.ta, ic, pk, mc, kc, MR);
        for (i64 jr = 0; jr < nc; jr += NR) {
          const int nr = int(std::min<i64>(NR, nc - jr));
          const float* bp = jr < nfull ? p.B + pk * p.ldb + jc + jr : ws.bp + (jr - nfull) * kc;
          const i64 bldb = jr < nfull ? p.ldb : 0;
          const i64 j = jc + jr;
          const float* bias_j = (p.bias && ep.last) ? p.bias + j : nullptr;
          if (nr < NR && bias_j) {  // pad the bias of a short column panel to NR
            std::memcpy(ws.bias, bias_j, sizeof(float) * nr);
            std::memset(ws.bias + nr, 0, sizeof(float) * (NR - nr));
            bias_j = ws.bias;
          }
          ep.bias = bias_j;
          for (i64 ir = 0; ir < mc; ir += MR) {
            const int rows = int(std::min<i64>(MR, mc - ir));
            const float* ap = direct_a ? p.A + (ic + ir) * p.lda + pk : ws.ap + ir * kc;
            const i64 alda = direct_a ? p.lda : 0;
            float* c = p.C + (ic + ir) * p.ldc + j;
            if (nr == NR) {
              isa.kern(rows, kc, ap, alda, bp, bldb, c, p.ldc, ep);
            } else {  // short last column panel: compute a full tile in scratch, copy nr columns
              float* t = ws.tmp;
              if (!ep.first || p.beta != 0.f)
                for (int r = 0; r < rows; ++r)
                  std::memcpy(t + r * NR, c + r * p.ldc, sizeof(float) * nr);
              isa.kern(rows, kc, ap, alda, bp, bldb, t, NR, ep);
              for (int r = 0; r < rows; ++r)
                std::memcpy(c + r * p.ldc, t + r * NR, sizeof(float) * nr);
            }
          }
        }
      }
      pk += kc;
    } while (pk < p.K);
  }
}

// gemm_rect in a parallel task: an exception must not escape a worker thread, so the first
// one is kept for the caller to rethrow after the join.
void gemm_rect_in_team(const Problem& p, const IsaPath& isa, i64 m0, i64 m1, i64 n0, i64 n1,
                       std::exception_ptr& err) {
  try {
    gemm_rect(p, isa, m0, m1, n0, n1);
  } catch (...) {
    static std::mutex mu;
    std::lock_guard<std::mutex> lk(mu);
    if (!err) err = std::current_exception();
  }
}

// Both operands read in place (direct): no thread packs anything, so C can be cut into small
// tasks (one NR sliver × kDirectTaskPanels MR panels, every K slice) that any thread may run.
// Each thread owns a contiguous range of tasks (sliver-major, so the static case keeps the N
// split's locality: a thread's B columns stay in its L2) and, once it is done, takes the tasks
// still left in the others' ranges. On a shared host one core is often slowed or taken away for
// a while; a fixed split then waits for the slow thread, this one lets the fast thread finish
// the work. Each C element is still computed whole by one task in the same K order: the bits do
// not depend on the thread count or on which thread ran what.
constexpr i64 kDirectTaskPanels = 4;

struct alignas(64) TaskRange {
  std::atomic<i64> next{0};
  i64 end = 0;
};

void direct_tasks(const Problem& p, const IsaPath& isa, int T, i64 mp, i64 np) {
  const int MR = isa.blk.mr, NR = isa.blk.nr;
  const i64 ng = cdiv(mp, kDirectTaskPanels), ntask = np * ng;
  T = int(std::min<i64>(T, ntask));
  std::unique_ptr<TaskRange[]> ranges(new TaskRange[size_t(T)]);
  for (int t = 0; t < T; ++t) {
    ranges[t].next.store(ntask * t / T, std::memory_order_relaxed);
    ranges[t].end = ntask * (t + 1) / T;
  }
  std::exception_ptr err;
  parallel_team(T, [&](int tid, int) {
    set_ftz();
    // Own range first, then the others' leftovers (all of them when this task runs late).
    for (int v = 0; v < T; ++v) {
      TaskRange& r = ranges[(tid + v) % T];
      for (i64 i = r.next.fetch_add(1, std::memory_order_relaxed); i < r.end;
           i = r.next.fetch_add(1, std::memory_order_relaxed)) {
        const i64 s = i / ng, g = i % ng;
        const i64 m0 = g * kDirectTaskPanels * MR, m1 = std::min(p.M, m0 + kDirectTaskPanels * MR);
        const i64 n0 = s * NR, n1 = std::min(p.N, n0 + NR);
        gemm_rect_in_team(p, isa, m0, m1, n0, n1, err);
      }
    }
  });
  if (err) std::rethrow_exception(err);
}

}  // namespace

// Scratch for the narrow-result path below (one per calling thread, grown on demand).
struct NarrowScratch {
  float* p = nullptr;
  size_t n = 0;
  float* get(size_t want) {
    if (want > n) {
      aligned_free(p);
      p = nullptr;
      n = 0;
      p = static_cast<float*>(aligned_malloc(want * sizeof(float)));
      n = want;
    }
    return p;
  }
  ~NarrowScratch() { aligned_free(p); }
};
thread_local NarrowScratch tl_narrow;

void sgemm(float* C, const float* A, const float* B, const float* bias, i64 M, i64 N, i64 K,
           bool trans_a, bool trans_b, i64 lda, i64 ldb, i64 ldc, float beta, Act act) {
  if (M <= 0 || N <= 0) return;
  if (K < 0) K = 0;
  const IsaPath& isa = isa_path();
  const int MR = isa.blk.mr, NR = isa.blk.nr;

  // One-row products: C[1,N] = a·B with B not transposed (a Dense layer on one sample), or its
  // mirror C[M,1] = Aᵀ·b with A stored [K,M] (the dW of a Dense(1)). B (resp. A) streams once
  // instead of being packed; bitwise the tiled result (see gemv_slice).
  if (isa.gemv && ((M == 1 && !trans_b) || (N == 1 && trans_a && M > 1))) {
    const bool row = M == 1 && !trans_b;
    const i64 n = row ? N : M;
    const float* s = row ? A : B;                       // the vector
    const i64 ss = row ? (trans_a ? lda : 1) : (trans_b ? 1 : ldb);
    const float* R = row ? B : A;                       // the streamed [K, n] matrix
    const i64 ldr = row ? ldb : lda;
    const i64 ldo = row ? 1 : ldc;                      // output element stride
    float* out = C;
    const float* bvec = bias;
    std::vector<float> col, bcol;
    if (ldo != 1) {  // a strided output column: accumulate in a contiguous copy
      col.assign(size_t(n), 0.f);
      if (beta != 0.f) for (i64 i = 0; i < n; ++i) col[size_t(i)] = C[i * ldo];
      out = col.data();
    }
    if (!row && bias) {  // C[M,1]: the one bias value applies to every row
      bcol.assign(size_t(n), bias[0]);
      bvec = bcol.data();
    }
    const i64 nk = std::max<i64>(1, cdiv(K, isa.blk.kc)), kcb = cdiv(K, nk);
    const int W = isa.blk.nr / 2;  // NR is two vectors on both SIMD paths
    auto part = [&](i64 j0, i64 j1) {
      set_ftz();
      Epilogue ep;
      ep.beta = beta;
      ep.act = act;
      i64 pk = 0;
      do {
        const i64 kc = std::min(kcb, K - pk);
        ep.first = pk == 0;
        ep.last = pk + kc >= K;
        ep.bias = bvec ? bvec + j0 : nullptr;
        isa.gemv(j1 - j0, kc, s + pk * ss, ss, R + pk * ldr + j0, ldr, out + j0, ep);
        pk += kc;
      } while (pk < K);
    };
    FtzScope guard;
    split_vectors(n, K, W, part);
    if (ldo != 1)
      for (i64 i = 0; i < n; ++i) C[i * ldo] = out[i];
    return;
  }

  // Matrix·vector, C[M,1] = A·b with A row-major: row dot products (see gemv_dot_rows).
  if (isa.dot && N == 1 && !trans_a && M > 1) {
    const i64 ldb1 = trans_b ? 1 : ldb;  // b's elements
    std::vector<float> bc;
    const float* b = B;
    if (ldb1 != 1) {
      bc.resize(size_t(K));
      for (i64 k = 0; k < K; ++k) bc[size_t(k)] = B[k * ldb1];
      b = bc.data();
    }
    const int W = isa.blk.nr / 2;
    auto part = [&](i64 i0, i64 i1) {
      set_ftz();
      if (i1 > i0) isa.dot(i1 - i0, K, A + i0 * lda, lda, b, C + i0 * ldc, ldc, bias ? bias[0] : 0.f, bias != nullptr, beta, act);
    };
    FtzScope guard;
    split_vectors(M, K, W, part);
    return;
  }

  // Narrow results (N at most half an NR sliver, M several MR panels tall — a classifier head
  // [batch,128]·[128,10] or its dW): the NR-wide tiles would be mostly padding (10 of 32
  // columns), so compute Cᵀ[N,M] = op(B)ᵀ·op(A)ᵀ instead (N rows fill an MR panel, M fills the
  // slivers) into scratch and transpose back with the bias and relu. Same per-element K order
  // (the K slicing depends only on K), decided by shape only: thread invariance is kept.
  // Restricted to beta == 0 and none/relu, whose epilogue is exact to replay here.
  if (beta == 0.f && (act == Act::None || act == Act::Relu) && 2 * N <= NR && M >= 2 * MR) {
    float* ct = tl_narrow.get(size_t(N * M));
    sgemm(ct, B, A, nullptr, N, M, K, !trans_b, !trans_a, ldb, lda, M, 0.f, Act::None);
    FtzScope guard;
    set_ftz();  // as the micro-kernel's epilogue
    for (i64 i = 0; i < M; ++i) {
      float* c = C + i * ldc;
      for (i64 j = 0; j < N; ++j) {
        float v = ct[j * M + i];
        if (bias) v += bias[j];
        if (act == Act::Relu) v = v < 0.f ? 0.f : v;  // = maxps(0, v): NaN and -0 pass
        c[j] = v;
      }
    }
    return;
  }
  const i64 nk = std::max<i64>(1, cdiv(K, isa.blk.kc));
  Problem p{C, A, B, bias, M, N, K, lda, ldb, ldc, trans_a, trans_b, beta, act, cdiv(K, nk)};

  // Thread count: serial for tiny problems, else at most one thread per kMacsPerThread.
  const i64 macs = M * N * std::max<i64>(K, 1);
  int T = num_threads();
  if (macs < gemm::kSerialMacs) T = 1;
  else T = int(std::min<i64>(T, std::max<i64>(1, macs / gemm::kMacsPerThread)));

  const i64 mp = cdiv(M, MR), np = cdiv(N, NR);
  const i64 cols_per_thread = cdiv(np, T) * NR;
  if (T > 1 && K > 0 && use_direct(trans_a, lda, cols_per_thread) &&
      use_direct(trans_b, ldb, cols_per_thread)) {
    FtzScope guard;
    direct_tasks(p, isa, T, mp, np);
    return;
  }

  // Grid Tm×Tn minimising (padded work of the largest rectangle + duplicated packing).
  int Tm = 1, Tn = 1;
  if (T > 1) {
    double best = 1e300;
    for (int tm = 1; tm <= T; ++tm) {
      if (T % tm) continue;
      const int tn = T / tm;
      if (tm > mp || tn > np) continue;  // a thread with no panel is wasted
      const double rows = double(std::min(M, cdiv(mp, tm) * MR));
      const double cols = double(std::min(N, cdiv(np, tn) * NR));
      const double kk = double(std::max<i64>(K, 1));
      const double cost = rows * cols * kk + 8.0 * kk * (rows + cols);
      if (cost < best) best = cost, Tm = tm, Tn = tn;
    }
    T = Tm * Tn;
  }

  FtzScope guard;
  if (T == 1) {
    set_ftz();
    gemm_rect(p, isa, 0, M, 0, N);
    return;
  }
  std::exception_ptr err;
  parallel_team(T, [&](int w, int) {
    set_ftz();
    const int ti = w / Tn, tj = w % Tn;
    const i64 m0 = std::min(M, (mp * ti / Tm) * MR), m1 = std::min(M, (mp * (ti + 1) / Tm) * MR);
    const i64 n0 = std::min(N, (np * tj / Tn) * NR), n1 = std::min(N, (np * (tj + 1) / Tn) * NR);
    gemm_rect_in_team(p, isa, m0, m1, n0, n1, err);
  });
  if (err) std::rethrow_exception(err);
}

// Batched: one sgemm per matrix (see gemm.h). Parallel over the batch only when one matrix is
// too small for sgemm to use the threads itself; a nested sgemm inside a task runs its own
// parallel_team inline (parallel.h), so each matrix is then computed serially by one thread.
void sgemm_batched(float* C, const float* A, const float* B, const i64* a_off, const i64* b_off,
                   i64 batch, i64 M, i64 N, i64 K, bool trans_a, bool trans_b, i64 lda, i64 ldb,
                   i64 ldc, i64 c_stride, float beta) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  auto one = [&](i64 b) {
    sgemm(C + b * c_stride, A + a_off[b], B + b_off[b], nullptr, M, N, K, trans_a, trans_b, lda,
          ldb, ldc, beta, Act::None);
  };
  const i64 macs = M * N * std::max<i64>(K, 1);
  if (batch == 1 || macs >= gemm::kSerialMacs) {
    for (i64 b = 0; b < batch; ++b) one(b);
    return;
  }
  const i64 total = macs * batch;
  int T = total < gemm::kSerialMacs ? 1
                                    : int(std::min<i64>(num_threads(), std::max<i64>(1, total / gemm::kMacsPerThread)));
  if (T <= 1) {
    for (i64 b = 0; b < batch; ++b) one(b);
    return;
  }
  FtzScope guard;
  parallel_for(batch, T, one);  // exceptions: parallel_team rethrows the first on this thread
}

const char* sgemm_isa() { return isa_name(); }

void sgemm_set_direct(int mode) { g_direct_mode = mode; }

double fma_peak_gflops(int threads, double seconds) {
  if (threads < 1) threads = 1;
  switch (isa_level()) {
#if FN_X86
    case 2: return fma_peak_avx512(threads, seconds);
    case 1: return fma_peak_avx2(threads, seconds);
#endif
    default: return 0.0;
  }
}

}  // namespace fusednet::cpu
