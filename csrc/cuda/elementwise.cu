// elementwise.cu — CUDA twins of csrc/cpu/elementwise.cpp: broadcasting binary ops, unary maths,
// clip/scale/axpy, deterministic reductions, transpose, row copies (concat / slice), gathers and
// scatters, casts, argmax and one_hot.
//
// Binary: the host coalesces dimensions exactly as the CPU does (size-1 dims dropped, neighbours
// merged while both inputs stay linear), then picks
//   * same-shape contiguous (or scalar-scalar): the float4 grid-stride map of pointwise.cuh;
//   * 1-D strided (scalar broadcast: strides (1,0) / (0,1));
//   * 2-D (row broadcast [M,N] op [N], column broadcast [M,N] op [M,1], …): one division per
//     element, strides in registers;
//   * anything else: a rank ≤ 8 odometer whose shape/strides struct is passed by value.
// Unary / clip / scale / axpy go through the same map; the scalar maths is scalar_math.h's
// fn_exp / fn_log (the CPU's functions) and the IEEE-rounded sqrtf / division of nvcc's default
// (-prec-div=true -prec-sqrt=true), so CPU and GPU differ only by FMA contraction and by sinf /
// cosf / powf's last ulp.
//
// Reductions (no atomics; every partition depends on the shape only, so results are bitwise
// identical run to run). After coalescing into kept/reduced groups:
//   [K, R]      contiguous rows: one warp per row (R ≤ 256) or one block per row segment; long
//               rows are cut into S fixed segments whose partials a second pass combines in order;
//   [K, R, J]   columns (J > 1): 32-column × 8-row-lane blocks, optional fixed S-way split of R;
//   other       (two or more separate reduced groups): one thread per output, odometer walk.
// Sums, means and products accumulate in double (as the CPU); max/min in float, NaN-propagating.
//
// Index ops validate every index in-kernel (out-of-range ones are never dereferenced) and report
// the smallest bad position through scratch.cuh's BadFlag — reading it back synchronises.
// scatter_add_rows builds a stable CSR on the host (it must see the indices to validate them
// anyway) so each output element sums its rows in index order, like the CPU: no float atomics.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "common/scalar_math.h"
#include "cuda/check.cuh"
#include "cuda/kernels.h"
#include "cuda/pointwise.cuh"
#include "cuda/reduce.cuh"
#include "cuda/runtime.h"
#include "cuda/scratch.cuh"

namespace fusednet::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 65535 * 8;

// ------------------------------------------------------------------ binary
template <BinOp OP>
struct Bin {
  __device__ __forceinline__ float operator()(float a, float b) const {
    if constexpr (OP == BinOp::Add) return a + b;
    else if constexpr (OP == BinOp::Sub) return a - b;
    else if constexpr (OP == BinOp::Mul) return a * b;
    else if constexpr (OP == BinOp::Div) return a / b;
    else if constexpr (OP == BinOp::Maximum) return (a != a || a > b) ? a : b;  // NaN propagates
    else if constexpr (OP == BinOp::Minimum) return (a != a || a < b) ? a : b;
    else if constexpr (OP == BinOp::Pow) return powf(a, b);
    else if constexpr (OP == BinOp::Equal) return a == b ? 1.0f : 0.0f;
    else if constexpr (OP == BinOp::NotEqual) return a != b ? 1.0f : 0.0f;
    else if constexpr (OP == BinOp::Greater) return a > b ? 1.0f : 0.0f;
    else if constexpr (OP == BinOp::GreaterEqual) return a >= b ? 1.0f : 0.0f;
    else if constexpr (OP == BinOp::Less) return a < b ? 1.0f : 0.0f;
    else return a <= b ? 1.0f : 0.0f;
  }
};

// ND = 1: c[i] = f(a[i*sa], b[i*sb]); ND = 2: rows of g.n[1]; ND = 0: general odometer.
// c may alias a or b exactly (same start, broadcast shape): element i is read then written by
// the same thread.
template <int ND, class F>
__global__ void binary_kernel(float* c, const float* a, const float* b, int64_t total, Dims8 g, F f) {
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    int64_t oa, ob;
    if constexpr (ND == 1) {
      oa = i * g.s0[0];
      ob = i * g.s1[0];
    } else if constexpr (ND == 2) {
      const int64_t r = i / g.n[1], j = i - r * g.n[1];
      oa = r * g.s0[0] + j * g.s0[1];
      ob = r * g.s1[0] + j * g.s1[1];
    } else {
      int64_t rem = i;
      oa = 0;
      ob = 0;
      for (int d = g.nd - 1; d >= 0; --d) {
        const int64_t q = rem / g.n[d], k = rem - q * g.n[d];
        oa += k * g.s0[d];
        ob += k * g.s1[d];
        rem = q;
      }
    }
    c[i] = f(a[oa], b[ob]);
  }
}

Dims8 coalesce2(int ndim, const i64* shape, const i64* as, const i64* bs) {
  Dims8 c;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    if (c.nd > 0) {
      const int p = c.nd - 1;
      if (c.s0[p] == as[d] * shape[d] && c.s1[p] == bs[d] * shape[d]) {
        c.n[p] *= shape[d];
        c.s0[p] = as[d];
        c.s1[p] = bs[d];
        continue;
      }
    }
    c.n[c.nd] = shape[d];
    c.s0[c.nd] = as[d];
    c.s1[c.nd] = bs[d];
    ++c.nd;
  }
  return c;
}

template <BinOp OP>
void binary_launch(float* c, const float* a, const float* b, const Dims8& g, int64_t total) {
  const Bin<OP> f{};
  cudaStream_t s = current_stream();
  if (g.nd == 0 || (g.nd == 1 && g.s0[0] == 1 && g.s1[0] == 1)) {
    launch_map(c, total, f, a, b);  // float4 when aligned
    return;
  }
  const int blocks = grid_1d(total, kThreads, kMaxBlocks);
  if (g.nd == 1) binary_kernel<1><<<blocks, kThreads, 0, s>>>(c, a, b, total, g, f);
  else if (g.nd == 2) binary_kernel<2><<<blocks, kThreads, 0, s>>>(c, a, b, total, g, f);
  else binary_kernel<0><<<blocks, kThreads, 0, s>>>(c, a, b, total, g, f);
  FN_CUDA_LAUNCH_CHECK();
}

// ------------------------------------------------------------------ unary & friends
template <UnOp OP>
struct Un {
  __device__ __forceinline__ float operator()(float x) const {
    using namespace fusednet::sm;
    if constexpr (OP == UnOp::Neg) return -x;
    else if constexpr (OP == UnOp::Exp) return fn_exp(x);
    else if constexpr (OP == UnOp::Log) return fn_log(x);
    else if constexpr (OP == UnOp::Sqrt) return sqrtf(x);
    else if constexpr (OP == UnOp::Rsqrt) return 1.0f / sqrtf(x);
    else if constexpr (OP == UnOp::Square) return x * x;
    else if constexpr (OP == UnOp::Abs) return fabsf(x);
    else if constexpr (OP == UnOp::Sign) return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);  // 0, NaN kept
    else if constexpr (OP == UnOp::Reciprocal) return 1.0f / x;
    else if constexpr (OP == UnOp::Sin) return sinf(x);
    else if constexpr (OP == UnOp::Cos) return cosf(x);
    else if constexpr (OP == UnOp::Floor) return floorf(x);
    else return rintf(x);  // half to even, like NumPy / nearbyint
  }
};

struct ClipF {
  float lo, hi;
  __device__ __forceinline__ float operator()(float v) const { return v < lo ? lo : (v > hi ? hi : v); }
};
struct ScaleF {
  float alpha;
  __device__ __forceinline__ float operator()(float v) const { return alpha * v; }
};
struct WhereF {
  __device__ __forceinline__ float operator()(float c, float a, float b) const { return c != 0.0f ? a : b; }
};
struct AxpyF {
  float alpha;
  __device__ __forceinline__ float operator()(float yv, float xv) const { return yv + alpha * xv; }
};

// ------------------------------------------------------------------ reductions
template <RedOp OP> struct Acc;
template <> struct Acc<RedOp::Sum> {
  using T = double;
  static __device__ __forceinline__ T init() { return 0.0; }
  static __device__ __forceinline__ T merge(T a, T b) { return a + b; }
};
template <> struct Acc<RedOp::Mean> : Acc<RedOp::Sum> {};
template <> struct Acc<RedOp::Prod> {
  using T = double;
  static __device__ __forceinline__ T init() { return 1.0; }
  static __device__ __forceinline__ T merge(T a, T b) { return a * b; }
};
template <> struct Acc<RedOp::Max> {
  using T = float;
  static __device__ __forceinline__ T init() { return -INFINITY; }
  static __device__ __forceinline__ T merge(T a, T b) { return (a != a || a > b) ? a : b; }
};
template <> struct Acc<RedOp::Min> {
  using T = float;
  static __device__ __forceinline__ T init() { return INFINITY; }
  static __device__ __forceinline__ T merge(T a, T b) { return (a != a || a < b) ? a : b; }
};
template <RedOp OP>
struct MergeOp {  // functor for reduce.cuh's warp/block reductions
  template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return Acc<OP>::merge(a, b); }
};

template <RedOp OP>
__device__ __forceinline__ float finish(typename Acc<OP>::T v, int64_t count) {
  if constexpr (OP == RedOp::Mean)
    return count ? static_cast<float>(v / static_cast<double>(count)) : __int_as_float(0x7fc00000);
  else
    return static_cast<float>(v);
}

// Rows [rows, R] with R ≤ 256: one warp per row (8 rows per 256-thread block).
template <RedOp OP>
__global__ void __launch_bounds__(kThreads) reduce_rows_warp(float* y, const float* x, int64_t rows, int64_t R) {
  using A = Acc<OP>;
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
    typename A::T acc = A::init();
    const float* xr = x + r * R;
    for (int64_t k = lane; k < R; k += 32) acc = A::merge(acc, static_cast<typename A::T>(xr[k]));
    acc = warp_reduce(acc, MergeOp<OP>{});
    if (lane == 0) y[r] = finish<OP>(acc, R);
  }
}

// Rows [rows, R] cut into S segments of `seg`: block b handles (row b / S, segment b % S).
// S == 1: writes finish(row) into y; else writes the raw partial into part[row*S + s].
template <RedOp OP, class In>
__global__ void __launch_bounds__(kThreads)
    reduce_rows_block(float* y, typename Acc<OP>::T* part, const In* x, int64_t rows, int64_t R,
                      int64_t S, int64_t seg, int64_t count) {
  using A = Acc<OP>;
  using T = typename A::T;
  __shared__ T scratch[32];
  for (int64_t b = blockIdx.x; b < rows * S; b += gridDim.x) {
    const int64_t r = b / S, s = b - r * S;
    const int64_t k0 = s * seg, k1 = min(R, k0 + seg);
    const In* xr = x + r * R;
    T acc = A::init();
    for (int64_t k = k0 + threadIdx.x; k < k1; k += blockDim.x) acc = A::merge(acc, static_cast<T>(xr[k]));
    acc = block_reduce(acc, MergeOp<OP>{}, A::init(), scratch);
    if (threadIdx.x == 0) {
      if (S == 1) y[r] = finish<OP>(acc, count);
      else part[b] = acc;
    }
  }
}

// Columns of [outer, R, inner]: block (32, 8) covers 32 adjacent columns; lane ty sums rows
// r0+ty, r0+ty+8, … of segment blockIdx.y; ty == 0 merges the 8 lane partials in order.
template <RedOp OP>
__global__ void __launch_bounds__(256)
    reduce_cols_kernel(float* y, typename Acc<OP>::T* part, const float* x, int64_t outer, int64_t R,
                       int64_t inner, int64_t seg) {
  using A = Acc<OP>;
  using T = typename A::T;
  __shared__ T sh[8][33];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t jt = (inner + 31) / 32, tiles = outer * jt, S = gridDim.y, s = blockIdx.y;
  const int64_t r0 = s * seg, r1 = min(R, r0 + seg);
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t o = t / jt, j = (t - o * jt) * 32 + tx;
    T acc = A::init();
    if (j < inner) {
      const float* base = x + o * R * inner + j;
      for (int64_t r = r0 + ty; r < r1; r += 8) acc = A::merge(acc, static_cast<T>(base[r * inner]));
    }
    sh[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && j < inner) {
      T tot = sh[0][tx];
#pragma unroll
      for (int k = 1; k < 8; ++k) tot = A::merge(tot, sh[k][tx]);
      if (S == 1) y[o * inner + j] = finish<OP>(tot, R);
      else part[s * outer * inner + o * inner + j] = tot;
    }
    __syncthreads();
  }
}

// y[k] = finish(merge over s of part[s*n + k]) in s order.
template <RedOp OP>
__global__ void combine_parts(float* y, const typename Acc<OP>::T* part, int64_t n, int64_t S, int64_t count) {
  using A = Acc<OP>;
  for (int64_t k = global_tid(); k < n; k += grid_stride()) {
    typename A::T acc = part[k];
    for (int64_t s = 1; s < S; ++s) acc = A::merge(acc, part[s * n + k]);
    y[k] = finish<OP>(acc, count);
  }
}

// General: kept dims (kn, ks) and reduced dims (rn, rs) of the coalesced input.
struct RedGeom {
  int nk = 0, nr = 0;
  int64_t kn[8], ks[8], rn[8], rs[8];
  int64_t rcount = 1;
};
template <RedOp OP>
__global__ void reduce_general(float* y, const float* x, int64_t out_n, RedGeom g) {
  using A = Acc<OP>;
  for (int64_t o = global_tid(); o < out_n; o += grid_stride()) {
    int64_t base = 0, rem = o;
    for (int q = g.nk - 1; q >= 0; --q) {
      const int64_t qq = rem / g.kn[q];
      base += (rem - qq * g.kn[q]) * g.ks[q];
      rem = qq;
    }
    int64_t idx[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t off = 0;
    typename A::T acc = A::init();
    for (int64_t t = 0; t < g.rcount; ++t) {
      acc = A::merge(acc, static_cast<typename A::T>(x[base + off]));
      for (int q = g.nr - 1; q >= 0; --q) {  // odometer over the reduced dims
        off += g.rs[q];
        if (++idx[q] < g.rn[q]) break;
        off -= g.rs[q] * g.rn[q];
        idx[q] = 0;
      }
    }
    y[o] = finish<OP>(acc, g.rcount);
  }
}

template <RedOp OP>
void reduce_rows(float* y, const float* x, int64_t rows, int64_t R) {
  using T = typename Acc<OP>::T;
  cudaStream_t st = current_stream();
  if (R <= 256) {
    const int blocks = static_cast<int>(std::min<int64_t>((rows + 7) / 8, kMaxBlocks));
    reduce_rows_warp<OP><<<blocks, kThreads, 0, st>>>(y, x, rows, R);
    FN_CUDA_LAUNCH_CHECK();
    return;
  }
  // Segments: shape-only. Long rows (few of them) are split so the whole GPU works.
  int64_t S = 1;
  if (rows < 256 && R >= (int64_t(1) << 16)) S = std::min<int64_t>(1024, (R + 32767) / 32768);
  const int64_t seg = (R + S - 1) / S;
  const int blocks = static_cast<int>(std::min<int64_t>(rows * S, kMaxBlocks));
  if (S == 1) {
    reduce_rows_block<OP, float><<<blocks, kThreads, 0, st>>>(y, nullptr, x, rows, R, 1, seg, R);
    FN_CUDA_LAUNCH_CHECK();
    return;
  }
  DeviceBuffer part(static_cast<size_t>(rows * S) * sizeof(T));
  reduce_rows_block<OP, float><<<blocks, kThreads, 0, st>>>(nullptr, part.as<T>(), x, rows, R, S, seg, R);
  FN_CUDA_LAUNCH_CHECK();
  const int b2 = static_cast<int>(std::min<int64_t>(rows, kMaxBlocks));
  reduce_rows_block<OP, T><<<b2, kThreads, 0, st>>>(y, nullptr, part.as<T>(), rows, S, 1, S, R);
  FN_CUDA_LAUNCH_CHECK();
}

template <RedOp OP>
void reduce_cols(float* y, const float* x, int64_t outer, int64_t R, int64_t inner) {
  using T = typename Acc<OP>::T;
  cudaStream_t st = current_stream();
  const int64_t tiles = outer * ((inner + 31) / 32);
  int64_t S = 1;
  if (tiles < 256 && R >= 1024) S = std::min<int64_t>({64, (512 + tiles - 1) / tiles, (R + 255) / 256});
  const int64_t seg = (R + S - 1) / S;
  const dim3 block(32, 8);
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>(tiles, 65535)), static_cast<unsigned>(S));
  if (S == 1) {
    reduce_cols_kernel<OP><<<grid, block, 0, st>>>(y, nullptr, x, outer, R, inner, seg);
    FN_CUDA_LAUNCH_CHECK();
    return;
  }
  const int64_t n = outer * inner;
  DeviceBuffer part(static_cast<size_t>(n * S) * sizeof(T));
  reduce_cols_kernel<OP><<<grid, block, 0, st>>>(nullptr, part.as<T>(), x, outer, R, inner, seg);
  FN_CUDA_LAUNCH_CHECK();
  combine_parts<OP><<<grid_1d(n, kThreads, kMaxBlocks), kThreads, 0, st>>>(y, part.as<T>(), n, S, R);
  FN_CUDA_LAUNCH_CHECK();
}

template <RedOp OP>
void reduce_impl(float* y, const float* x, int ndim, const i64* shape, const bool* reduced) {
  i64 total = 1, out_n = 1;
  for (int d = 0; d < ndim; ++d) {
    total *= shape[d];
    if (!reduced[d]) out_n *= shape[d];
  }
  if (out_n == 0) return;
  if (total == 0) {  // empty reduction: the identity (sum 0, prod 1, mean NaN; max/min rejected earlier)
    float v = OP == RedOp::Prod ? 1.f : 0.f;
    if (OP == RedOp::Mean) v = std::numeric_limits<float>::quiet_NaN();
    if (OP == RedOp::Max) v = -std::numeric_limits<float>::infinity();
    if (OP == RedOp::Min) v = std::numeric_limits<float>::infinity();
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    fill_bytes4(y, bits, static_cast<size_t>(out_n));
    return;
  }
  int nd = 0;
  i64 gs[8];
  bool gr[8];
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    if (nd && gr[nd - 1] == reduced[d]) {
      gs[nd - 1] *= shape[d];
    } else {
      gs[nd] = shape[d];
      gr[nd] = reduced[d];
      ++nd;
    }
  }
  if (nd == 0) return reduce_cols<OP>(y, x, 1, 1, 1);           // one element
  if (nd == 1 && !gr[0]) return reduce_cols<OP>(y, x, 1, 1, gs[0]);  // nothing reduced
  if (nd == 1) return reduce_rows<OP>(y, x, 1, gs[0]);
  if (nd == 2 && !gr[0]) return reduce_rows<OP>(y, x, gs[0], gs[1]);
  if (nd == 2) return reduce_cols<OP>(y, x, 1, gs[0], gs[1]);
  if (nd == 3 && !gr[0]) return reduce_cols<OP>(y, x, gs[0], gs[1], gs[2]);
  RedGeom g;
  i64 stride[8];
  i64 s = 1;
  for (int d = nd - 1; d >= 0; --d) {
    stride[d] = s;
    s *= gs[d];
  }
  for (int d = 0; d < nd; ++d) {
    if (gr[d]) {
      g.rn[g.nr] = gs[d];
      g.rs[g.nr] = stride[d];
      ++g.nr;
      g.rcount *= gs[d];
    } else {
      g.kn[g.nk] = gs[d];
      g.ks[g.nk] = stride[d];
      ++g.nk;
    }
  }
  reduce_general<OP><<<grid_1d(out_n, kThreads, kMaxBlocks), kThreads, 0, current_stream()>>>(y, x, out_n, g);
  FN_CUDA_LAUNCH_CHECK();
}

// ------------------------------------------------------------------ transpose
constexpr int kTile = 32;
// Output [A, B] (row-major), y[a*B + b] = x[a*is0 + b*is1]; 32x32 tiles through shared memory so
// both the reads (along a, where is0 == 1) and the writes (along b) are coalesced.
template <class T>
__global__ void transpose2d_kernel(T* y, const T* x, int64_t A, int64_t B, int64_t is0, int64_t is1) {
  __shared__ T tile[kTile][kTile + 1];
  const int64_t ta = (A + kTile - 1) / kTile, tb = (B + kTile - 1) / kTile;
  for (int64_t t = blockIdx.x; t < ta * tb; t += gridDim.x) {
    const int64_t a0 = (t / tb) * kTile, b0 = (t % tb) * kTile;
    // read: threadIdx.x along a (input-contiguous), threadIdx.y along b
    for (int k = threadIdx.y; k < kTile; k += blockDim.y) {
      const int64_t a = a0 + threadIdx.x, b = b0 + k;
      if (a < A && b < B) tile[k][threadIdx.x] = x[a * is0 + b * is1];
    }
    __syncthreads();
    for (int k = threadIdx.y; k < kTile; k += blockDim.y) {
      const int64_t a = a0 + k, b = b0 + threadIdx.x;
      if (a < A && b < B) y[a * B + b] = tile[threadIdx.x][k];
    }
    __syncthreads();
  }
}

// General: y[i] = x[Σ idx_d(i) * is_d] over output dims os (s0 = input strides).
template <class T>
__global__ void transpose_general(T* y, const T* x, int64_t total, Dims8 g) {
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    int64_t rem = i, off = 0;
    for (int d = g.nd - 1; d >= 0; --d) {
      const int64_t q = rem / g.n[d];
      off += (rem - q * g.n[d]) * g.s0[d];
      rem = q;
    }
    y[i] = x[off];
  }
}

template <class T>
void transpose_impl(T* y, const T* x, int ndim, const i64* shape, const int* perm) {
  i64 xs[8];
  i64 s = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    xs[d] = s;
    s *= shape[d];
  }
  Dims8 g;
  i64 total = 1;
  for (int d = 0; d < ndim; ++d) {
    const i64 n = shape[perm[d]], st = xs[perm[d]];
    total *= n;
    if (n == 1) continue;
    if (g.nd && g.s0[g.nd - 1] == st * n) {
      g.n[g.nd - 1] *= n;
      g.s0[g.nd - 1] = st;
      continue;
    }
    g.n[g.nd] = n;
    g.s0[g.nd] = st;
    ++g.nd;
  }
  if (total == 0) return;
  if (g.nd <= 1) {
    memcpy_d2d(y, x, static_cast<size_t>(total) * sizeof(T));
    return;
  }
  cudaStream_t st = current_stream();
  if (g.nd == 2 && g.s0[1] != 1) {
    const int64_t tiles = ((g.n[0] + kTile - 1) / kTile) * ((g.n[1] + kTile - 1) / kTile);
    const int blocks = static_cast<int>(std::min<int64_t>(tiles, kMaxBlocks));
    transpose2d_kernel<T><<<blocks, dim3(kTile, 8), 0, st>>>(y, x, g.n[0], g.n[1], g.s0[0], g.s0[1]);
  } else {
    transpose_general<T><<<grid_1d(total, kThreads, kMaxBlocks), kThreads, 0, st>>>(y, x, total, g);
  }
  FN_CUDA_LAUNCH_CHECK();
}

// ------------------------------------------------------------------ row copies
template <class U>
__global__ void copy_rows_kernel(U* dst, int64_t dpitch, const U* src, int64_t spitch, int64_t width,
                                 int64_t rows) {
  const int64_t total = rows * width;
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    const int64_t r = i / width, w = i - r * width;
    dst[r * dpitch + w] = src[r * spitch + w];
  }
}

bool all_mult(int64_t m) { return m == 1; }
template <class... V>
bool all_mult(int64_t m, int64_t v, V... rest) {
  return v % m == 0 && all_mult(m, rest...);
}

// ------------------------------------------------------------------ gathers / scatters
template <class U, class IdxT>
__global__ void take_rows_kernel(U* y, const U* x, const IdxT* idx, int64_t nidx, int64_t nrows,
                                 int64_t row_units, unsigned long long* flag) {
  for (int64_t k = global_tid(); k < nidx; k += grid_stride()) {
    const int64_t v = static_cast<int64_t>(idx[k]);
    if (v < 0 || v >= nrows) flag_bad(flag, k);
  }
  const int64_t total = nidx * row_units;
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    const int64_t k = i / row_units, w = i - k * row_units;
    const int64_t v = static_cast<int64_t>(idx[k]);
    if (v >= 0 && v < nrows) y[i] = x[v * row_units + w];  // a bad index is never dereferenced
  }
}

__global__ void scatter_csr_kernel(float* dx, const float* dy, const int64_t* offsets, const int64_t* pos,
                                   int64_t nrows, int64_t row) {
  const int64_t total = nrows * row;
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    const int64_t r = i / row, j = i - r * row;
    float acc = 0.f;
    for (int64_t k = offsets[r]; k < offsets[r + 1]; ++k) acc += dy[pos[k] * row + j];  // index order
    dx[i] = acc;
  }
}

template <class IdxT>
__global__ void one_hot_kernel(float* y, const IdxT* idx, int64_t n, int64_t C, unsigned long long* flag) {
  for (int64_t k = global_tid(); k < n; k += grid_stride()) {
    const int64_t v = static_cast<int64_t>(idx[k]);
    if (v < 0 || v >= C) flag_bad(flag, k);
  }
  const int64_t total = n * C;
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    const int64_t k = i / C, c = i - k * C;
    y[i] = static_cast<int64_t>(idx[k]) == c ? 1.0f : 0.0f;
  }
}

// ------------------------------------------------------------------ cast
template <class D> struct IntRange;
template <> struct IntRange<int32_t> {
  static constexpr int32_t lo = INT32_MIN, hi = INT32_MAX;
};
template <> struct IntRange<int64_t> {
  static constexpr int64_t lo = INT64_MIN, hi = INT64_MAX;
};
// float -> int: NaN -> 0, saturate, truncate toward zero (the CPU's cast_one); others: C++ casts.
template <class D, class S>
__device__ __forceinline__ D cast_one(S v) {
  if constexpr (std::is_same_v<S, float> && !std::is_same_v<D, float>) {
    const double lo = static_cast<double>(IntRange<D>::lo), hi = static_cast<double>(IntRange<D>::hi);
    const double d = static_cast<double>(v);
    if (!(d == d)) return 0;
    if (d <= lo) return IntRange<D>::lo;
    if (d >= hi) return IntRange<D>::hi;
    return static_cast<D>(d);
  } else {
    return static_cast<D>(v);
  }
}
template <class D, class S>
__global__ void cast_kernel(D* y, const S* x, int64_t n) {
  for (int64_t i = global_tid(); i < n; i += grid_stride()) y[i] = cast_one<D, S>(x[i]);
}
template <class D, class S>
void cast_launch(void* y, const void* x, int64_t n) {
  cast_kernel<D, S><<<grid_1d(n, kThreads, kMaxBlocks), kThreads, 0, current_stream()>>>(
      static_cast<D*>(y), static_cast<const S*>(x), n);
  FN_CUDA_LAUNCH_CHECK();
}

// ------------------------------------------------------------------ argmax
// true when (v2, i2) beats (v1, i1): NaN beats numbers, larger beats smaller, ties -> lower index.
// Commutative and associative, so any combination order gives NumPy's answer (first NaN, else
// first maximum).
__device__ __forceinline__ bool beats(float v1, int64_t i1, float v2, int64_t i2) {
  const bool n1 = v1 != v1, n2 = v2 != v2;
  if (n1 || n2) return n1 && n2 ? i2 < i1 : n2;
  if (v2 != v1) return v2 > v1;
  return i2 < i1;
}
__global__ void argmax_rows_warp(int64_t* y, const float* x, int64_t outer, int64_t n) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); o < outer; o += warps) {
    const float* r = x + o * n;
    float bv = NAN;
    int64_t bi = -1;  // -1 = none yet (lanes with no element)
    for (int64_t i = lane; i < n; i += 32) {
      const float v = r[i];
      if (bi < 0 || beats(bv, bi, v, i)) {
        bv = v;
        bi = i;
      }
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, bv, off);
      const long long oi = __shfl_xor_sync(0xffffffffu, static_cast<long long>(bi), off);
      if (oi >= 0 && (bi < 0 || beats(bv, bi, ov, oi))) {
        bv = ov;
        bi = oi;
      }
    }
    if (lane == 0) y[o] = bi;
  }
}
__global__ void argmax_cols(int64_t* y, const float* x, int64_t outer, int64_t n, int64_t inner) {
  const int64_t total = outer * inner;
  for (int64_t t = global_tid(); t < total; t += grid_stride()) {
    const int64_t o = t / inner, j = t - o * inner;
    const float* base = x + o * n * inner + j;
    float best = base[0];
    int64_t bi = 0;
    for (int64_t r = 1; r < n; ++r) {
      const float v = base[r * inner];
      if (v > best || (v != v && best == best)) {
        best = v;
        bi = r;
      }
    }
    y[t] = bi;
  }
}

}  // namespace

// ==================================================================== launchers
void binary(float* c, const float* a, const float* b, BinOp op, int ndim, const i64* shape,
            const i64* astride, const i64* bstride) {
  FN_CHECK(ndim >= 0 && ndim <= 8, "binary: rank > 8");
  i64 total = 1;
  for (int d = 0; d < ndim; ++d) total *= shape[d];
  if (total == 0) return;
  const Dims8 g = coalesce2(ndim, shape, astride, bstride);
  switch (op) {
#define FN_CASE(O) case BinOp::O: binary_launch<BinOp::O>(c, a, b, g, total); break;
    FN_CASE(Add) FN_CASE(Sub) FN_CASE(Mul) FN_CASE(Div) FN_CASE(Maximum) FN_CASE(Minimum)
    FN_CASE(Pow) FN_CASE(Equal) FN_CASE(NotEqual) FN_CASE(Greater) FN_CASE(GreaterEqual)
    FN_CASE(Less) FN_CASE(LessEqual)
#undef FN_CASE
  }
}

void unary(float* y, const float* x, i64 n, UnOp op) {
  switch (op) {
#define FN_CASE(O) case UnOp::O: launch_map(y, n, Un<UnOp::O>{}, x); break;
    FN_CASE(Neg) FN_CASE(Exp) FN_CASE(Log) FN_CASE(Sqrt) FN_CASE(Rsqrt) FN_CASE(Square) FN_CASE(Abs)
    FN_CASE(Sign) FN_CASE(Reciprocal) FN_CASE(Sin) FN_CASE(Cos) FN_CASE(Floor) FN_CASE(Round)
#undef FN_CASE
  }
}

void clip(float* y, const float* x, i64 n, float lo, float hi) { launch_map(y, n, ClipF{lo, hi}, x); }
void scale(float* y, const float* x, i64 n, float alpha) { launch_map(y, n, ScaleF{alpha}, x); }
void axpy(float* y, const float* x, i64 n, float alpha) {
  launch_map(y, n, AxpyF{alpha}, static_cast<const float*>(y), x);
}

void where(float* y, const float* cond, const float* a, const float* b, i64 n) {
  launch_map(y, n, WhereF{}, cond, a, b);
}

void reduce(float* y, const float* x, RedOp op, int ndim, const i64* shape, const bool* reduced) {
  FN_CHECK(ndim >= 0 && ndim <= 8, "reduce: rank > 8");
  switch (op) {
    case RedOp::Sum: reduce_impl<RedOp::Sum>(y, x, ndim, shape, reduced); break;
    case RedOp::Mean: reduce_impl<RedOp::Mean>(y, x, ndim, shape, reduced); break;
    case RedOp::Max: reduce_impl<RedOp::Max>(y, x, ndim, shape, reduced); break;
    case RedOp::Min: reduce_impl<RedOp::Min>(y, x, ndim, shape, reduced); break;
    case RedOp::Prod: reduce_impl<RedOp::Prod>(y, x, ndim, shape, reduced); break;
  }
}

void transpose(void* y, const void* x, size_t itemsize, int ndim, const i64* shape, const int* perm) {
  FN_CHECK(ndim >= 0 && ndim <= 8, "transpose: rank > 8");
  if (itemsize == 8)
    transpose_impl(static_cast<uint64_t*>(y), static_cast<const uint64_t*>(x), ndim, shape, perm);
  else
    transpose_impl(static_cast<uint32_t*>(y), static_cast<const uint32_t*>(x), ndim, shape, perm);
}

void copy_rows(void* dst, i64 dst_pitch, const void* src, i64 src_pitch, i64 width, i64 rows) {
  FN_CHECK(width % 4 == 0 && dst_pitch % 4 == 0 && src_pitch % 4 == 0, "copy_rows: widths must be multiples of 4 bytes");
  if (width <= 0 || rows <= 0) return;
  const int64_t da = static_cast<int64_t>(reinterpret_cast<uintptr_t>(dst));
  const int64_t sa = static_cast<int64_t>(reinterpret_cast<uintptr_t>(src));
  cudaStream_t st = current_stream();
  if (all_mult(16, da, sa, dst_pitch, src_pitch, width)) {
    const int64_t w = width / 16;
    copy_rows_kernel<<<grid_1d(rows * w, kThreads, kMaxBlocks), kThreads, 0, st>>>(
        static_cast<uint4*>(dst), dst_pitch / 16, static_cast<const uint4*>(src), src_pitch / 16, w, rows);
  } else if (all_mult(8, da, sa, dst_pitch, src_pitch, width)) {
    const int64_t w = width / 8;
    copy_rows_kernel<<<grid_1d(rows * w, kThreads, kMaxBlocks), kThreads, 0, st>>>(
        static_cast<uint2*>(dst), dst_pitch / 8, static_cast<const uint2*>(src), src_pitch / 8, w, rows);
  } else {
    const int64_t w = width / 4;
    copy_rows_kernel<<<grid_1d(rows * w, kThreads, kMaxBlocks), kThreads, 0, st>>>(
        static_cast<uint32_t*>(dst), dst_pitch / 4, static_cast<const uint32_t*>(src), src_pitch / 4, w, rows);
  }
  FN_CUDA_LAUNCH_CHECK();
}

void concat(void* y, const void* const* xs, const size_t* widths, int k, i64 outer) {
  size_t total_w = 0;
  for (int q = 0; q < k; ++q) total_w += widths[q];
  if (total_w == 0 || outer == 0) return;
  size_t off = 0;
  for (int q = 0; q < k; ++q) {
    if (widths[q])
      copy_rows(static_cast<char*>(y) + off, static_cast<i64>(total_w), xs[q], static_cast<i64>(widths[q]),
                static_cast<i64>(widths[q]), outer);
    off += widths[q];
  }
}

template <class IdxT>
i64 take_rows(void* y, const void* x, const IdxT* idx, i64 nidx, i64 nrows, size_t row_bytes) {
  if (nidx <= 0) return -1;
  FN_CHECK(row_bytes % 4 == 0, "take_rows: row size must be a multiple of 4 bytes");
  BadFlag flag;
  cudaStream_t st = current_stream();
  const int64_t xa = static_cast<int64_t>(reinterpret_cast<uintptr_t>(x));
  const int64_t ya = static_cast<int64_t>(reinterpret_cast<uintptr_t>(y));
  const int64_t rb = static_cast<int64_t>(row_bytes);
  const int64_t work = std::max<int64_t>(nidx, nidx * (rb / 4));
  const int blocks = grid_1d(work, kThreads, kMaxBlocks);
  if (rb > 0 && all_mult(16, xa, ya, rb)) {
    take_rows_kernel<<<blocks, kThreads, 0, st>>>(static_cast<uint4*>(y), static_cast<const uint4*>(x), idx,
                                                  nidx, nrows, rb / 16, flag.ptr());
  } else {
    take_rows_kernel<<<blocks, kThreads, 0, st>>>(static_cast<uint32_t*>(y), static_cast<const uint32_t*>(x),
                                                  idx, nidx, nrows, rb / 4, flag.ptr());
  }
  FN_CUDA_LAUNCH_CHECK();
  return flag.read();
}

template <class IdxT>
i64 scatter_add_rows(float* dx, const float* dy, const IdxT* idx, i64 nidx, i64 nrows, i64 row) {
  std::vector<IdxT> h(static_cast<size_t>(std::max<i64>(nidx, 0)));
  if (nidx > 0) memcpy_d2h(h.data(), idx, static_cast<size_t>(nidx) * sizeof(IdxT));
  for (i64 i = 0; i < nidx; ++i)
    if (static_cast<i64>(h[i]) < 0 || static_cast<i64>(h[i]) >= nrows) return i;
  if (nrows <= 0 || row <= 0) return -1;
  // stable CSR: offsets[r]..offsets[r+1] lists the positions i with idx[i] == r, ascending
  std::vector<int64_t> offsets(static_cast<size_t>(nrows) + 1, 0), pos(static_cast<size_t>(std::max<i64>(nidx, 1)));
  for (i64 i = 0; i < nidx; ++i) ++offsets[static_cast<size_t>(h[i]) + 1];
  for (i64 r = 0; r < nrows; ++r) offsets[r + 1] += offsets[r];
  {
    std::vector<int64_t> fillp(offsets.begin(), offsets.end() - 1);
    for (i64 i = 0; i < nidx; ++i) pos[fillp[static_cast<size_t>(h[i])]++] = i;
  }
  DeviceBuffer doff(offsets.size() * sizeof(int64_t)), dpos(pos.size() * sizeof(int64_t));
  memcpy_h2d(doff.as<void>(), offsets.data(), offsets.size() * sizeof(int64_t));
  memcpy_h2d(dpos.as<void>(), pos.data(), pos.size() * sizeof(int64_t));
  scatter_csr_kernel<<<grid_1d(nrows * row, kThreads, kMaxBlocks), kThreads, 0, current_stream()>>>(
      dx, dy, doff.as<int64_t>(), dpos.as<int64_t>(), nrows, row);
  FN_CUDA_LAUNCH_CHECK();
  return -1;
}

template <class IdxT>
i64 one_hot(float* y, const IdxT* idx, i64 n, i64 num_classes) {
  if (n <= 0) return -1;
  BadFlag flag;
  one_hot_kernel<<<grid_1d(std::max<i64>(n, n * num_classes), kThreads, kMaxBlocks), kThreads, 0,
                   current_stream()>>>(y, idx, n, num_classes, flag.ptr());
  FN_CUDA_LAUNCH_CHECK();
  return flag.read();
}

template i64 take_rows<int32_t>(void*, const void*, const int32_t*, i64, i64, size_t);
template i64 take_rows<int64_t>(void*, const void*, const int64_t*, i64, i64, size_t);
template i64 scatter_add_rows<int32_t>(float*, const float*, const int32_t*, i64, i64, i64);
template i64 scatter_add_rows<int64_t>(float*, const float*, const int64_t*, i64, i64, i64);
template i64 one_hot<int32_t>(float*, const int32_t*, i64, i64);
template i64 one_hot<int64_t>(float*, const int64_t*, i64, i64);

void cast(void* y, int yd, const void* x, int xd, i64 n) {
  if (n <= 0) return;
  if (xd == yd) {
    memcpy_d2d(y, x, static_cast<size_t>(n) * (xd == 2 ? 8 : 4));
    return;
  }
  if (xd == 0 && yd == 1) cast_launch<int32_t, float>(y, x, n);
  else if (xd == 0 && yd == 2) cast_launch<int64_t, float>(y, x, n);
  else if (xd == 1 && yd == 0) cast_launch<float, int32_t>(y, x, n);
  else if (xd == 1 && yd == 2) cast_launch<int64_t, int32_t>(y, x, n);
  else if (xd == 2 && yd == 0) cast_launch<float, int64_t>(y, x, n);
  else if (xd == 2 && yd == 1) cast_launch<int32_t, int64_t>(y, x, n);  // wraps modulo 2^32
  else throw ValueError("cast: unknown dtype code");
}

void argmax(int64_t* y, const float* x, i64 outer, i64 n, i64 inner) {
  if (outer <= 0 || inner <= 0 || n <= 0) return;
  cudaStream_t st = current_stream();
  if (inner == 1) {
    const int blocks = static_cast<int>(std::min<int64_t>((outer + 7) / 8, kMaxBlocks));
    argmax_rows_warp<<<blocks, kThreads, 0, st>>>(y, x, outer, n);
  } else {
    argmax_cols<<<grid_1d(outer * inner, kThreads, kMaxBlocks), kThreads, 0, st>>>(y, x, outer, n, inner);
  }
  FN_CUDA_LAUNCH_CHECK();
}

}  // namespace fusednet::cuda
