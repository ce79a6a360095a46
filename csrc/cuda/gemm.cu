// gemm.cu — CUDA SGEMM with a fused epilogue, TF32 tensor-core variant, dense backward.
//
//   C[M,N] = act(beta*C + op(A)·op(B) + bias[N])          (layout: see gemm.cuh / cpu/gemm.h)
//
// FP32 path ("highest", the default): classic register-blocked SIMT GEMM.
//   * Block tile BM×BN×BK = 128×128×8, 256 threads, each thread an 8×8 register tile (64 FFMA
//     per 16 shared-memory loads: compute-bound rather than smem-bound). The 8×8 is split into
//     two 4-wide halves 64 apart in m and in n, so a warp's 16-byte smem reads are contiguous
//     (conflict-free) rather than 32 bytes apart.
//   * Shared tiles are k-major (As[k][m], Bs[k][n]) and padded by 4 floats per row (keeps 16-byte
//     alignment, breaks the 2-way conflict of the transposing stores).
//   * Double buffering: while the block computes on one smem stage, each thread already holds
//     the next k-slice in registers (global loads in flight during the FFMAs); it stores them to
//     the other stage after computing; one __syncthreads per k-slice suffices because a stage
//     is only rewritten one iteration after every thread finished reading it.
//   * Small problems (fewer 128×128 tiles than SMs) use a 64×64 tile with 4×4 per thread so the
//     grid still fills the machine; ragged edges are handled by zero-filled loads and guarded
//     stores in both configurations (no separate "edge kernel" to keep in sync).
// TF32 path ("high", sm_80+): mma.sync.m16n8k8 tf32 with FP32 accumulation.
//   * Block tile 128×128×16, 8 warps in a 2×4 grid, each warp 64×32 = 4×4 m16n8 tiles
//     (64 accumulators per thread). Values are rounded to TF32 (cvt.rna) once, on the way into
//     shared memory. Smem rows padded to 136 floats: fragment reads (k = t, t+4; m/n = g) then hit
//     32 distinct banks (136 ≡ 8 mod 32, so t*8 + g covers 0..31).
// Dense backward: dZ = dY*act'(Y) (elementwise), dW = Xᵀ·dZ and dX = dZ·Wᵀ through sgemm, db by a
// fixed-order column reduction (deterministic; no float atomics anywhere in this file).
#include <algorithm>
#include <atomic>
#include <mutex>

#include "cuda/check.cuh"
#include "cuda/gemm.cuh"
#include "cuda/kernels.h"

namespace fusednet::cuda {

using namespace gemm_detail;

// ------------------------------------------------------------------ precision flag
namespace {
std::atomic<int> g_precision{0};  // 0 = highest (FP32), 1 = high (TF32)
}

void set_matmul_precision(const std::string& p) {
  if (p == "highest") g_precision.store(0);
  else if (p == "high" || p == "medium") g_precision.store(1);
  else
    throw ValueError("set_matmul_precision: precision must be 'highest', 'high' or 'medium', got '" +
                     p + "'");
}

std::string get_matmul_precision() { return g_precision.load() == 0 ? "highest" : "high"; }

// ------------------------------------------------------------------ device properties
namespace {
struct DevInfo {
  int sms = 0;
  int major = 0;
};

DevInfo device_info() {
  static std::mutex mu;
  static DevInfo cache[64];
  int dev = 0;
  FN_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev < 0 || dev >= 64) dev = 0;
  std::lock_guard<std::mutex> lk(mu);
  if (cache[dev].sms == 0) {
    FN_CUDA_CHECK(cudaDeviceGetAttribute(&cache[dev].sms, cudaDevAttrMultiProcessorCount, dev));
    FN_CUDA_CHECK(cudaDeviceGetAttribute(&cache[dev].major, cudaDevAttrComputeCapabilityMajor, dev));
    if (cache[dev].sms <= 0) cache[dev].sms = 1;
  }
  return cache[dev];
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }
}  // namespace

// ------------------------------------------------------------------ FP32 SIMT kernel
template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
    sgemm_fp32_kernel(GemmParams p0) {
  const GemmParams p = batch_slice(p0);
  constexpr int NT = (BM / TM) * (BN / TN);
  constexpr int TX = BN / TN;          // threads along n
  constexpr int PAD = 4;
  constexpr int SA = BM + PAD, SB = BN + PAD;
  constexpr int CHM = BM / (TM / 4);   // distance between a thread's 4-row chunks
  constexpr int CHN = BN / (TN / 4);
  static_assert(TM % 4 == 0 && TN % 4 == 0, "register tile must be made of 4-wide chunks");
  __shared__ __align__(16) float As[2][BK * SA];
  __shared__ __align__(16) float Bs[2][BK * SB];

  const int tid = threadIdx.x;
  const int tx = tid % TX, ty = tid / TX;
  const int64_t tm = static_cast<int64_t>(blockIdx.x) / p.tiles_n;
  const int64_t tn = static_cast<int64_t>(blockIdx.x) % p.tiles_n;
  const int64_t m0 = tm * BM, n0 = tn * BN;

  // op(A): trans_a → global [K rows, M cols] (contiguous m, direct store); else [M, K] (transposed).
  TileLoader<TA ? BK : BM, TA ? BM : BK, NT, !TA, false> la;
  TileLoader<TB ? BN : BK, TB ? BK : BN, NT, TB, false> lb;
  auto load_tiles = [&](int64_t k0) {
    if (TA) la.load(p.A, p.lda, k0, m0, p.K, p.M, p.vec_a, tid);
    else la.load(p.A, p.lda, m0, k0, p.M, p.K, p.vec_a, tid);
    if (TB) lb.load(p.B, p.ldb, n0, k0, p.N, p.K, p.vec_b, tid);
    else lb.load(p.B, p.ldb, k0, n0, p.K, p.N, p.vec_b, tid);
  };

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

  const int64_t ktiles = (p.K + BK - 1) / BK;
  if (ktiles > 0) {
    load_tiles(0);
    la.store(As[0], SA, tid);
    lb.store(Bs[0], SB, tid);
    __syncthreads();
    for (int64_t kt = 0; kt < ktiles; ++kt) {
      const int cur = static_cast<int>(kt & 1);
      const bool more = kt + 1 < ktiles;
      if (more) load_tiles((kt + 1) * BK);  // in flight while we compute
      const float* as = As[cur];
      const float* bs = Bs[cur];
#pragma unroll
      for (int k = 0; k < BK; ++k) {
        float a[TM], b[TN];
#pragma unroll
        for (int c = 0; c < TM / 4; ++c) {
          const float4 t = *reinterpret_cast<const float4*>(as + k * SA + c * CHM + ty * 4);
          a[c * 4 + 0] = t.x; a[c * 4 + 1] = t.y; a[c * 4 + 2] = t.z; a[c * 4 + 3] = t.w;
        }
#pragma unroll
        for (int c = 0; c < TN / 4; ++c) {
          const float4 t = *reinterpret_cast<const float4*>(bs + k * SB + c * CHN + tx * 4);
          b[c * 4 + 0] = t.x; b[c * 4 + 1] = t.y; b[c * 4 + 2] = t.z; b[c * 4 + 3] = t.w;
        }
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
      if (more) {
        la.store(As[cur ^ 1], SA, tid);
        lb.store(Bs[cur ^ 1], SB, tid);
      }
      __syncthreads();
    }
  }

  // Fused epilogue: bias, beta*C, activation; float4 stores where aligned and in range.
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t gm = m0 + (i / 4) * CHM + ty * 4 + (i % 4);
    if (gm >= p.M) continue;
#pragma unroll
    for (int cj = 0; cj < TN / 4; ++cj) {
      const int64_t gn = n0 + cj * CHN + tx * 4;
      if (gn >= p.N) continue;
      float* dst = p.C + gm * p.ldc + gn;
      if (p.vec_c && gn + 3 < p.N) {
        float4 o;
        o.x = epilogue_value(p, acc[i][cj * 4 + 0], gm, gn + 0);
        o.y = epilogue_value(p, acc[i][cj * 4 + 1], gm, gn + 1);
        o.z = epilogue_value(p, acc[i][cj * 4 + 2], gm, gn + 2);
        o.w = epilogue_value(p, acc[i][cj * 4 + 3], gm, gn + 3);
        *reinterpret_cast<float4*>(dst) = o;
      } else {
#pragma unroll
        for (int jj = 0; jj < 4; ++jj)
          if (gn + jj < p.N) dst[jj] = epilogue_value(p, acc[i][cj * 4 + jj], gm, gn + jj);
      }
    }
  }
}

// ------------------------------------------------------------------ TF32 tensor-core kernel
__device__ __forceinline__ void mma_tf32(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  __trap();  // the host never selects this kernel below sm_80
#endif
}

template <bool TA, bool TB>
__global__ void __launch_bounds__(256) sgemm_tf32_kernel(GemmParams p0) {
  const GemmParams p = batch_slice(p0);
  constexpr int BM = 128, BN = 128, BK = 16, NT = 256;
  constexpr int SA = BM + 8, SB = BN + 8;  // ≡ 8 (mod 32): conflict-free fragment reads
  constexpr int WM = 64, WN = 32;          // warp tile
  constexpr int MI = WM / 16, NI = WN / 8;
  __shared__ __align__(16) float As[2][BK * SA];
  __shared__ __align__(16) float Bs[2][BK * SB];

  const int tid = threadIdx.x;
  const int warp = tid / 32, lane = tid % 32;
  const int g = lane >> 2, t = lane & 3;  // mma "groupID" and "threadID_in_group"
  const int wm = warp / (BN / WN), wn = warp % (BN / WN);
  const int64_t tm = static_cast<int64_t>(blockIdx.x) / p.tiles_n;
  const int64_t tn = static_cast<int64_t>(blockIdx.x) % p.tiles_n;
  const int64_t m0 = tm * BM, n0 = tn * BN;

  TileLoader<TA ? BK : BM, TA ? BM : BK, NT, !TA, true> la;
  TileLoader<TB ? BN : BK, TB ? BK : BN, NT, TB, true> lb;
  auto load_tiles = [&](int64_t k0) {
    if (TA) la.load(p.A, p.lda, k0, m0, p.K, p.M, p.vec_a, tid);
    else la.load(p.A, p.lda, m0, k0, p.M, p.K, p.vec_a, tid);
    if (TB) lb.load(p.B, p.ldb, n0, k0, p.N, p.K, p.vec_b, tid);
    else lb.load(p.B, p.ldb, k0, n0, p.K, p.N, p.vec_b, tid);
  };

  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.f;

  const int64_t ktiles = (p.K + BK - 1) / BK;
  if (ktiles > 0) {
    load_tiles(0);
    la.store(As[0], SA, tid);
    lb.store(Bs[0], SB, tid);
    __syncthreads();
    for (int64_t kt = 0; kt < ktiles; ++kt) {
      const int cur = static_cast<int>(kt & 1);
      const bool more = kt + 1 < ktiles;
      if (more) load_tiles((kt + 1) * BK);
      const float* as = As[cur];
      const float* bs = Bs[cur];
#pragma unroll
      for (int ks = 0; ks < BK; ks += 8) {
        uint32_t af[MI][4], bf[NI][2];
#pragma unroll
        for (int mi = 0; mi < MI; ++mi) {
          const int rb = wm * WM + mi * 16 + g;
          af[mi][0] = __float_as_uint(as[(ks + t) * SA + rb]);
          af[mi][1] = __float_as_uint(as[(ks + t) * SA + rb + 8]);
          af[mi][2] = __float_as_uint(as[(ks + t + 4) * SA + rb]);
          af[mi][3] = __float_as_uint(as[(ks + t + 4) * SA + rb + 8]);
        }
#pragma unroll
        for (int ni = 0; ni < NI; ++ni) {
          const int cb = wn * WN + ni * 8 + g;
          bf[ni][0] = __float_as_uint(bs[(ks + t) * SB + cb]);
          bf[ni][1] = __float_as_uint(bs[(ks + t + 4) * SB + cb]);
        }
#pragma unroll
        for (int mi = 0; mi < MI; ++mi)
#pragma unroll
          for (int ni = 0; ni < NI; ++ni) mma_tf32(acc[mi][ni], af[mi], bf[ni]);
      }
      if (more) {
        la.store(As[cur ^ 1], SA, tid);
        lb.store(Bs[cur ^ 1], SB, tid);
      }
      __syncthreads();
    }
  }

  // Accumulator layout of m16n8: c0,c1 → (row g, cols 2t, 2t+1); c2,c3 → (row g+8, same cols).
#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int ni = 0; ni < NI; ++ni)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int64_t gm = m0 + wm * WM + mi * 16 + g + (r >= 2 ? 8 : 0);
        const int64_t gn = n0 + wn * WN + ni * 8 + 2 * t + (r & 1);
        if (gm < p.M && gn < p.N) p.C[gm * p.ldc + gn] = epilogue_value(p, acc[mi][ni][r], gm, gn);
      }
}

// ------------------------------------------------------------------ launchers
namespace {

template <int BM, int BN, int BK, int TM, int TN>
void launch_fp32(GemmParams p, bool ta, bool tb, cudaStream_t s, unsigned nb = 1) {
  constexpr int NT = (BM / TM) * (BN / TN);
  const int64_t tiles_m = (p.M + BM - 1) / BM;
  p.tiles_n = (p.N + BN - 1) / BN;
  const int64_t blocks = tiles_m * p.tiles_n;
  FN_CHECK(blocks <= 0x7fffffffLL, "matmul: output too large for one CUDA grid");
  const dim3 grid(static_cast<unsigned>(blocks), nb);
  if (!ta && !tb) sgemm_fp32_kernel<BM, BN, BK, TM, TN, false, false><<<grid, NT, 0, s>>>(p);
  else if (ta && !tb) sgemm_fp32_kernel<BM, BN, BK, TM, TN, true, false><<<grid, NT, 0, s>>>(p);
  else if (!ta && tb) sgemm_fp32_kernel<BM, BN, BK, TM, TN, false, true><<<grid, NT, 0, s>>>(p);
  else sgemm_fp32_kernel<BM, BN, BK, TM, TN, true, true><<<grid, NT, 0, s>>>(p);
  FN_CUDA_LAUNCH_CHECK();
}

void launch_tf32(GemmParams p, bool ta, bool tb, cudaStream_t s, unsigned nb = 1) {
  const int64_t tiles_m = (p.M + 127) / 128;
  p.tiles_n = (p.N + 127) / 128;
  const int64_t blocks = tiles_m * p.tiles_n;
  FN_CHECK(blocks <= 0x7fffffffLL, "matmul: output too large for one CUDA grid");
  const dim3 grid(static_cast<unsigned>(blocks), nb);
  if (!ta && !tb) sgemm_tf32_kernel<false, false><<<grid, 256, 0, s>>>(p);
  else if (ta && !tb) sgemm_tf32_kernel<true, false><<<grid, 256, 0, s>>>(p);
  else if (!ta && tb) sgemm_tf32_kernel<false, true><<<grid, 256, 0, s>>>(p);
  else sgemm_tf32_kernel<true, true><<<grid, 256, 0, s>>>(p);
  FN_CUDA_LAUNCH_CHECK();
}

}  // namespace

void sgemm(float* C, const float* A, const float* B, const float* bias, i64 M, i64 N, i64 K,
           bool trans_a, bool trans_b, i64 lda, i64 ldb, i64 ldc, float beta, Act act) {
  FN_CHECK(M >= 0 && N >= 0 && K >= 0, "sgemm: negative dimension");
  if (M == 0 || N == 0) return;
  FN_CHECK(ldc >= N, "sgemm: ldc smaller than N");
  FN_CHECK(lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N), "sgemm: lda/ldb too small");
  GemmParams p;
  p.C = C; p.A = A; p.B = B; p.bias = bias;
  p.M = M; p.N = N; p.K = K; p.lda = lda; p.ldb = ldb; p.ldc = ldc;
  p.beta = beta;
  p.act = static_cast<int>(act);
  p.vec_a = aligned16(A) && lda % 4 == 0;
  p.vec_b = aligned16(B) && ldb % 4 == 0;
  p.vec_c = aligned16(C) && ldc % 4 == 0;
  p.tiles_n = 1;
  const DevInfo info = device_info();
  cudaStream_t s = current_stream();
  if (g_precision.load() == 1 && info.major >= 8) {
    launch_tf32(p, trans_a, trans_b, s);
    return;
  }
  const int64_t big_tiles = ((M + 127) / 128) * ((N + 127) / 128);
  if (big_tiles >= info.sms) launch_fp32<128, 128, 8, 8, 8>(p, trans_a, trans_b, s);
  else launch_fp32<64, 64, 8, 4, 4>(p, trans_a, trans_b, s);
}

// Strided batch: matrix b reads A + b*sa, B + b*sb and writes C + b*sc (sa/sb may be 0: a
// broadcast operand). One launch per ≤ 65535 matrices (grid.y), blockIdx.y picks the matrix;
// the tile size is chosen by the tile count of the whole launch, so many small matrices use the
// big tile when together they fill the SMs. Each element is one k-ordered FFMA chain either way.
void sgemm_strided_batched(float* C, const float* A, const float* B, i64 batch, i64 M, i64 N, i64 K,
                           bool trans_a, bool trans_b, i64 lda, i64 ldb, i64 ldc, i64 sa, i64 sb,
                           i64 sc, float beta) {
  FN_CHECK(M >= 0 && N >= 0 && K >= 0 && batch >= 0, "sgemm_strided_batched: negative dimension");
  if (M == 0 || N == 0 || batch == 0) return;
  FN_CHECK(ldc >= N, "sgemm_strided_batched: ldc smaller than N");
  FN_CHECK(lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N),
           "sgemm_strided_batched: lda/ldb too small");
  GemmParams p;
  p.C = C; p.A = A; p.B = B; p.bias = nullptr;
  p.M = M; p.N = N; p.K = K; p.lda = lda; p.ldb = ldb; p.ldc = ldc;
  p.beta = beta;
  p.act = 0;
  p.sa = sa; p.sb = sb; p.sc = sc;
  p.vec_a = aligned16(A) && lda % 4 == 0 && sa % 4 == 0;
  p.vec_b = aligned16(B) && ldb % 4 == 0 && sb % 4 == 0;
  p.vec_c = aligned16(C) && ldc % 4 == 0 && sc % 4 == 0;
  p.tiles_n = 1;
  const DevInfo info = device_info();
  cudaStream_t s = current_stream();
  const bool tf32 = g_precision.load() == 1 && info.major >= 8;
  const int64_t big_tiles = ((M + 127) / 128) * ((N + 127) / 128) * batch;
  constexpr i64 kMaxY = 65535;
  for (i64 b0 = 0; b0 < batch; b0 += kMaxY) {
    const unsigned nb = static_cast<unsigned>(std::min<i64>(kMaxY, batch - b0));
    GemmParams q = p;
    q.A = A + b0 * sa;
    q.B = B + b0 * sb;
    q.C = C + b0 * sc;
    if (tf32) launch_tf32(q, trans_a, trans_b, s, nb);
    else if (big_tiles >= info.sms) launch_fp32<128, 128, 8, 8, 8>(q, trans_a, trans_b, s, nb);
    else launch_fp32<64, 64, 8, 4, 4>(q, trans_a, trans_b, s, nb);
  }
}

// ------------------------------------------------------------------ dense backward pieces
namespace {

// dZ[i] = dY[i] * act'(Y[i]), grid-stride (n may exceed the grid).
__global__ void act_grad_kernel(float* __restrict__ dZ, const float* __restrict__ dY,
                                const float* __restrict__ Y, int64_t n, int act) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dZ[i] = act == 1 ? (Y[i] > 0.f ? dY[i] : 0.f)  // as the CPU: select, not dY*1 (inf/NaN dY)
                     : dY[i] * act_grad_from_y(Y[i], act);
}

// out[c] = Σ_r x[r,c]. Block = 32 columns × 8 row lanes: lane ty sums rows ty, ty+8, … in order
// (coalesced: a warp reads 32 adjacent columns of one row), then thread ty==0 adds the 8 partial
// sums in a fixed order. The result depends only on (rows, cols), never on timing.
constexpr int kColX = 32, kColY = 8;
__global__ void __launch_bounds__(kColX * kColY)
    column_sum_kernel(float* __restrict__ out, const float* __restrict__ x, int64_t rows, int64_t cols) {
  __shared__ float part[kColY][kColX + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t cb = static_cast<int64_t>(blockIdx.x) * kColX; cb < cols;
       cb += static_cast<int64_t>(gridDim.x) * kColX) {
    const int64_t c = cb + tx;
    float s = 0.f;
    if (c < cols)
      for (int64_t r = ty; r < rows; r += kColY) s += x[r * cols + c];
    part[ty][tx] = s;
    __syncthreads();
    if (ty == 0 && c < cols) {
      float tot = 0.f;
#pragma unroll
      for (int j = 0; j < kColY; ++j) tot += part[j][tx];
      out[c] = tot;
    }
    __syncthreads();  // part is reused by the next column block
  }
}

}  // namespace

void column_sum(float* out, const float* x, i64 rows, i64 cols) {
  FN_CHECK(rows >= 0 && cols >= 0, "column_sum: negative dimension");
  if (cols == 0) return;
  const int blocks = grid_1d(cols, kColX, 65535);
  column_sum_kernel<<<blocks, dim3(kColX, kColY), 0, current_stream()>>>(out, x, rows, cols);
  FN_CUDA_LAUNCH_CHECK();
}

void dense_backward(float* dX, float* dW, float* db, float* dZ_scratch, const float* dY,
                    const float* X, const float* W, const float* Y, i64 M, i64 K, i64 N, Act act) {
  FN_CHECK(M >= 0 && K >= 0 && N >= 0, "dense_backward: negative dimension");
  const float* dZ = dY;
  if (act != Act::None && M * N > 0) {
    FN_CHECK(dZ_scratch != nullptr && Y != nullptr, "dense_backward: activation needs Y and scratch");
    act_grad_kernel<<<grid_1d(M * N, 256), 256, 0, current_stream()>>>(dZ_scratch, dY, Y, M * N,
                                                                      static_cast<int>(act));
    FN_CUDA_LAUNCH_CHECK();
    dZ = dZ_scratch;
  }
  // dW[K,N] = Xᵀ·dZ: op(A) = Xᵀ with X stored [M,K] (trans_a, lda = K); inner dimension M.
  if (dW) sgemm(dW, X, dZ, nullptr, K, N, M, true, false, K, N, N, 0.f, Act::None);
  if (db) column_sum(db, dZ, M, N);
  // dX[M,K] = dZ·Wᵀ: op(B) = Wᵀ with W stored [K,N] (trans_b, ldb = N); inner dimension N.
  if (dX) sgemm(dX, dZ, W, nullptr, M, K, N, false, true, N, N, K, 0.f, Act::None);
}

}  // namespace fusednet::cuda
