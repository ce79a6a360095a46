// norm.cu — CUDA twins of csrc/cpu/norm.cpp: BatchNormalization (channels last, x viewed as
// [M, C]) and LayerNormalization (last axis, x viewed as [M, D]); formulas in csrc/cpu/norm.h.
//
// Column statistics (BatchNorm sums, dgamma/dbeta) go through colred_kernel: blocks of 32 adjacent
// channels × 8 row lanes, the M rows cut into S fixed segments (S depends on M only); each thread
// accumulates its rows in double, lane partials are merged in lane order, segment partials land in
// a double scratch [S, NA, C] that the per-channel finalize kernels sum in segment order. No
// atomics: results are bitwise reproducible run to run (they differ from the CPU's partition only
// by rounding, well inside TOL["cuda_vs_cpu"]).
// Row work (normalise, dx) is one thread per element; LayerNorm's per-row statistics are one warp
// per row (xor-butterfly in double, fixed order).
#include <algorithm>

#include "cuda/check.cuh"
#include "cuda/kernels.h"
#include "cuda/reduce.cuh"
#include "cuda/runtime.h"
#include "cuda/scratch.cuh"

namespace fusednet::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 65535 * 8;
int blocks_for(int64_t n) { return grid_1d(n, kThreads, kMaxBlocks); }

int64_t segments(int64_t M) { return std::max<int64_t>(1, std::min<int64_t>(64, (M + 1023) / 1024)); }

template <int NA>
struct Vals {  // returned by value so the contributions stay in registers
  float v[NA];
};

// part[(s*NA + a)*C + c] = Σ_{r in segment s} f(r, c)[a]
template <int NA, class F>
__global__ void __launch_bounds__(256, 4) colred_kernel(double* part, int64_t M, int64_t C, int64_t seg, F f) {
  __shared__ double sh[NA][8][33];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t tiles = (C + 31) / 32, s = blockIdx.y;
  const int64_t r0 = s * seg, r1 = min(M, r0 + seg);
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t c = t * 32 + tx;
    double acc[NA];
#pragma unroll
    for (int a = 0; a < NA; ++a) acc[a] = 0.0;
    if (c < C)
      for (int64_t r = r0 + ty; r < r1; r += 8) {
        const Vals<NA> v = f(r, c);
#pragma unroll
        for (int a = 0; a < NA; ++a) acc[a] += static_cast<double>(v.v[a]);
      }
#pragma unroll
    for (int a = 0; a < NA; ++a) sh[a][ty][tx] = acc[a];
    __syncthreads();
    if (ty == 0 && c < C) {
#pragma unroll
      for (int a = 0; a < NA; ++a) {
        double tot = sh[a][0][tx];
#pragma unroll
        for (int k = 1; k < 8; ++k) tot += sh[a][k][tx];
        part[(s * NA + a) * C + c] = tot;
      }
    }
    __syncthreads();
  }
}

template <int NA, class F>
void colred(double* part, int64_t M, int64_t C, int64_t S, F f) {
  const int64_t seg = (M + S - 1) / S;
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>((C + 31) / 32, 65535)), static_cast<unsigned>(S));
  colred_kernel<NA><<<grid, dim3(32, 8), 0, current_stream()>>>(part, M, C, seg, f);
  FN_CUDA_LAUNCH_CHECK();
}

__device__ __forceinline__ double sum_parts(const double* part, int64_t S, int NA, int64_t C, int a, int64_t c) {
  double s = 0.0;
  for (int64_t k = 0; k < S; ++k) s += part[(k * NA + a) * C + c];
  return s;
}

struct FX {
  const float* X;
  int64_t C;
  __device__ __forceinline__ Vals<1> operator()(int64_t r, int64_t c) const { return {{X[r * C + c]}}; }
};
struct FCentredSq {
  const float* X;
  const float* mean;
  int64_t C;
  __device__ __forceinline__ Vals<1> operator()(int64_t r, int64_t c) const {
    const float d = X[r * C + c] - mean[c];
    return {{d * d}};
  }
};
struct FBnBwd {  // (dy, dy·x̂) with per-channel stats
  const float *dY, *X, *mean, *inv;
  int64_t C;
  __device__ __forceinline__ Vals<2> operator()(int64_t r, int64_t c) const {
    const float dy = dY[r * C + c];
    return {{dy, dy * (X[r * C + c] - mean[c]) * inv[c]}};
  }
};
struct FLnBwd {  // (dy, dy·x̂) with per-row stats
  const float *dY, *X, *mean, *inv;
  int64_t D;
  __device__ __forceinline__ Vals<2> operator()(int64_t r, int64_t j) const {
    const float dy = dY[r * D + j];
    return {{dy, dy * (X[r * D + j] - mean[r]) * inv[r]}};
  }
};

__global__ void bn_mean_kernel(float* mean, const double* part, int64_t S, int64_t M, int64_t C) {
  for (int64_t c = global_tid(); c < C; c += grid_stride())
    mean[c] = M ? static_cast<float>(sum_parts(part, S, 1, C, 0, c) / static_cast<double>(M)) : 0.f;
}

// scale/shift [2C] for y = x*scale + shift; inv_std; moving statistics.
__global__ void bn_train_finalize(float* ss, float* inv_std, float* moving_mean, float* moving_var,
                                  const float* mean, const double* part, int64_t S, int64_t M, int64_t C,
                                  const float* gamma, const float* beta, float momentum, float eps) {
  for (int64_t c = global_tid(); c < C; c += grid_stride()) {
    const double var = M ? sum_parts(part, S, 1, C, 0, c) / static_cast<double>(M) : 0.0;
    const float inv = static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)));
    const float mu = mean[c];
    inv_std[c] = inv;
    const float sc = (gamma ? gamma[c] : 1.f) * inv;
    ss[c] = sc;
    ss[C + c] = (beta ? beta[c] : 0.f) - mu * sc;
    moving_mean[c] = moving_mean[c] * momentum + mu * (1.f - momentum);
    moving_var[c] = moving_var[c] * momentum + static_cast<float>(var) * (1.f - momentum);
  }
}

__global__ void bn_infer_prep(float* ss, const float* gamma, const float* beta, const float* mm, const float* mv,
                              int64_t C, float eps) {
  for (int64_t c = global_tid(); c < C; c += grid_stride()) {
    const float inv = static_cast<float>(1.0 / sqrt(static_cast<double>(mv[c]) + static_cast<double>(eps)));
    const float sc = (gamma ? gamma[c] : 1.f) * inv;
    ss[c] = sc;
    ss[C + c] = (beta ? beta[c] : 0.f) - mm[c] * sc;
  }
}

__global__ void affine_kernel(float* Y, const float* X, const float* ss, int64_t M, int64_t C) {
  const int64_t total = M * C;
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    const int64_t c = i % C;
    Y[i] = X[i] * ss[c] + ss[C + c];
  }
}

// k[3C] = (ka, kb, kc) for dx = ka*dy + kb*(x-mean) + kc; dgamma / dbeta (may be null).
__global__ void bn_bwd_finalize(float* k, float* dgamma, float* dbeta, const double* part, int64_t S,
                                const float* gamma, const float* inv_std, int64_t M, int64_t C, bool training) {
  for (int64_t c = global_tid(); c < C; c += grid_stride()) {
    const double g = gamma ? gamma[c] : 1.0, inv = inv_std[c];
    const double db = sum_parts(part, S, 2, C, 0, c), dg = sum_parts(part, S, 2, C, 1, c);
    if (dbeta) dbeta[c] = static_cast<float>(db);
    if (dgamma) dgamma[c] = static_cast<float>(dg);
    const double a = g * inv;
    k[c] = static_cast<float>(a);
    if (training && M > 0) {
      k[C + c] = static_cast<float>(-a * inv * dg / static_cast<double>(M));
      k[2 * C + c] = static_cast<float>(-a * db / static_cast<double>(M));
    } else {
      k[C + c] = 0.f;
      k[2 * C + c] = 0.f;
    }
  }
}

__global__ void ln_dgb_finalize(float* dgamma, float* dbeta, const double* part, int64_t S, int64_t D) {
  for (int64_t j = global_tid(); j < D; j += grid_stride()) {
    if (dbeta) dbeta[j] = static_cast<float>(sum_parts(part, S, 2, D, 0, j));
    if (dgamma) dgamma[j] = static_cast<float>(sum_parts(part, S, 2, D, 1, j));
  }
}

__global__ void bn_dx_kernel(float* dX, const float* dY, const float* X, const float* mean, const float* k,
                             int64_t M, int64_t C) {
  const int64_t total = M * C;
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    const int64_t c = i % C;
    dX[i] = k[c] * dY[i] + k[C + c] * (X[i] - mean[c]) + k[2 * C + c];
  }
}

__global__ void fold_scale_kernel(float* s, float* b_out, const float* b, const float* gamma, const float* beta,
                                  const float* mean, const float* var, int64_t O, float eps) {
  for (int64_t o = global_tid(); o < O; o += grid_stride()) {
    const double sc = (gamma ? gamma[o] : 1.0) / sqrt(static_cast<double>(var[o]) + static_cast<double>(eps));
    s[o] = static_cast<float>(sc);
    b_out[o] = static_cast<float>(((b ? b[o] : 0.0) - mean[o]) * sc + (beta ? beta[o] : 0.0));
  }
}

__global__ void fold_w_kernel(float* w_out, const float* w, const float* s, int64_t R, int64_t O) {
  const int64_t total = R * O;
  for (int64_t i = global_tid(); i < total; i += grid_stride()) w_out[i] = w[i] * s[i % O];
}

// One warp per row.
__global__ void ln_fwd_kernel(float* Y, float* mean, float* inv_std, const float* X, const float* gamma,
                              const float* beta, int64_t M, int64_t D, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); r < M; r += warps) {
    const float* x = X + r * D;
    double s = 0.0;
    for (int64_t j = lane; j < D; j += 32) s += x[j];
    s = warp_reduce(s, SumOp{});
    const float mu = D ? static_cast<float>(s / static_cast<double>(D)) : 0.f;
    double q = 0.0;
    for (int64_t j = lane; j < D; j += 32) {
      const float d = x[j] - mu;
      q += static_cast<double>(d * d);
    }
    q = warp_reduce(q, SumOp{});
    const double var = D ? q / static_cast<double>(D) : 0.0;
    const float inv = static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)));
    if (lane == 0) {
      mean[r] = mu;
      inv_std[r] = inv;
    }
    float* y = Y + r * D;
    for (int64_t j = lane; j < D; j += 32) {
      float v = (x[j] - mu) * inv;
      if (gamma) v *= gamma[j];
      if (beta) v += beta[j];
      y[j] = v;
    }
  }
}

__global__ void ln_bwd_dx_kernel(float* dX, const float* dY, const float* X, const float* gamma, const float* mean,
                                 const float* inv_std, int64_t M, int64_t D) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); r < M; r += warps) {
    const float* x = X + r * D;
    const float* dy = dY + r * D;
    const float mu = mean[r], inv = inv_std[r];
    double sg = 0.0, sgx = 0.0;
    for (int64_t j = lane; j < D; j += 32) {
      const float g = gamma ? dy[j] * gamma[j] : dy[j];
      sg += g;
      sgx += static_cast<double>(g * (x[j] - mu) * inv);
    }
    sg = warp_reduce(sg, SumOp{});
    sgx = warp_reduce(sgx, SumOp{});
    const float fmg = D ? static_cast<float>(sg / static_cast<double>(D)) : 0.f;
    const float fmgx = D ? static_cast<float>(sgx / static_cast<double>(D)) : 0.f;
    float* dx = dX + r * D;
    for (int64_t j = lane; j < D; j += 32) {  // dx written only after both row sums: dx may alias dy
      const float xh = (x[j] - mu) * inv;
      const float g = gamma ? dy[j] * gamma[j] : dy[j];
      dx[j] = inv * (g - fmg - xh * fmgx);
    }
  }
}

int warp_blocks(int64_t rows) { return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>((rows + 7) / 8, kMaxBlocks))); }

}  // namespace

void batch_norm_forward_train(float* Y, float* mean, float* inv_std, float* moving_mean, float* moving_var,
                              const float* X, const float* gamma, const float* beta, i64 M, i64 C,
                              float momentum, float eps) {
  if (C <= 0) return;
  cudaStream_t st = current_stream();
  const int64_t S = segments(M);
  DeviceBuffer part(static_cast<size_t>(S * C) * sizeof(double)), ss(static_cast<size_t>(2 * C) * sizeof(float));
  if (M > 0) colred<1>(part.as<double>(), M, C, S, FX{X, C});
  else FN_CUDA_CHECK(cudaMemsetAsync(part.as<void>(), 0, static_cast<size_t>(S * C) * sizeof(double), st));
  bn_mean_kernel<<<blocks_for(C), kThreads, 0, st>>>(mean, part.as<double>(), S, M, C);
  FN_CUDA_LAUNCH_CHECK();
  if (M > 0) colred<1>(part.as<double>(), M, C, S, FCentredSq{X, mean, C});
  bn_train_finalize<<<blocks_for(C), kThreads, 0, st>>>(ss.as<float>(), inv_std, moving_mean, moving_var, mean,
                                                       part.as<double>(), S, M, C, gamma, beta, momentum, eps);
  FN_CUDA_LAUNCH_CHECK();
  if (M > 0) {
    affine_kernel<<<blocks_for(M * C), kThreads, 0, st>>>(Y, X, ss.as<float>(), M, C);
    FN_CUDA_LAUNCH_CHECK();
  }
}

void batch_norm_forward_infer(float* Y, const float* X, const float* gamma, const float* beta,
                              const float* moving_mean, const float* moving_var, i64 M, i64 C, float eps) {
  if (C <= 0 || M <= 0) return;
  cudaStream_t st = current_stream();
  DeviceBuffer ss(static_cast<size_t>(2 * C) * sizeof(float));
  bn_infer_prep<<<blocks_for(C), kThreads, 0, st>>>(ss.as<float>(), gamma, beta, moving_mean, moving_var, C, eps);
  FN_CUDA_LAUNCH_CHECK();
  affine_kernel<<<blocks_for(M * C), kThreads, 0, st>>>(Y, X, ss.as<float>(), M, C);
  FN_CUDA_LAUNCH_CHECK();
}

void batch_norm_backward(float* dX, float* dgamma, float* dbeta, const float* dY, const float* X,
                         const float* gamma, const float* mean, const float* inv_std, i64 M, i64 C,
                         bool training) {
  if (C <= 0) return;
  cudaStream_t st = current_stream();
  const int64_t S = segments(M);
  DeviceBuffer part(static_cast<size_t>(S * 2 * C) * sizeof(double)), k(static_cast<size_t>(3 * C) * sizeof(float));
  if (M > 0) colred<2>(part.as<double>(), M, C, S, FBnBwd{dY, X, mean, inv_std, C});
  else FN_CUDA_CHECK(cudaMemsetAsync(part.as<void>(), 0, static_cast<size_t>(S * 2 * C) * sizeof(double), st));
  bn_bwd_finalize<<<blocks_for(C), kThreads, 0, st>>>(k.as<float>(), dgamma, dbeta, part.as<double>(), S, gamma,
                                                     inv_std, M, C, training);
  FN_CUDA_LAUNCH_CHECK();
  if (M > 0) {
    bn_dx_kernel<<<blocks_for(M * C), kThreads, 0, st>>>(dX, dY, X, mean, k.as<float>(), M, C);
    FN_CUDA_LAUNCH_CHECK();
  }
}

void fold_batchnorm(float* w_out, float* b_out, const float* w, const float* b, const float* gamma,
                    const float* beta, const float* mean, const float* var, i64 R, i64 O, float eps) {
  if (O <= 0) return;
  cudaStream_t st = current_stream();
  DeviceBuffer s(static_cast<size_t>(O) * sizeof(float));
  fold_scale_kernel<<<blocks_for(O), kThreads, 0, st>>>(s.as<float>(), b_out, b, gamma, beta, mean, var, O, eps);
  FN_CUDA_LAUNCH_CHECK();
  if (R > 0) {
    fold_w_kernel<<<blocks_for(R * O), kThreads, 0, st>>>(w_out, w, s.as<float>(), R, O);
    FN_CUDA_LAUNCH_CHECK();
  }
}

void layer_norm_forward(float* Y, float* mean, float* inv_std, const float* X, const float* gamma,
                        const float* beta, i64 M, i64 D, float eps) {
  if (M <= 0) return;
  ln_fwd_kernel<<<warp_blocks(M), kThreads, 0, current_stream()>>>(Y, mean, inv_std, X, gamma, beta, M, D, eps);
  FN_CUDA_LAUNCH_CHECK();
}

void layer_norm_backward(float* dX, float* dgamma, float* dbeta, const float* dY, const float* X,
                         const float* gamma, const float* mean, const float* inv_std, i64 M, i64 D) {
  cudaStream_t st = current_stream();
  if ((dgamma || dbeta) && D > 0) {
    const int64_t S = segments(M);
    DeviceBuffer part(static_cast<size_t>(S * 2 * D) * sizeof(double));
    if (M > 0) colred<2>(part.as<double>(), M, D, S, FLnBwd{dY, X, mean, inv_std, D});
    else FN_CUDA_CHECK(cudaMemsetAsync(part.as<void>(), 0, static_cast<size_t>(S * 2 * D) * sizeof(double), st));
    ln_dgb_finalize<<<blocks_for(D), kThreads, 0, st>>>(dgamma, dbeta, part.as<double>(), S, D);
    FN_CUDA_LAUNCH_CHECK();
  }
  if (M > 0 && D > 0) {
    ln_bwd_dx_kernel<<<warp_blocks(M), kThreads, 0, st>>>(dX, dY, X, gamma, mean, inv_std, M, D);
    FN_CUDA_LAUNCH_CHECK();
  }
}

}  // namespace fusednet::cuda
