// prune.cu — magnitude mask for pruning on the device: the CPU's exact radix select
// (csrc/cpu/prune.h for the formula and the tie rule, csrc/cpu/prune.cpp for why a radix select).
//
// Shape: each of the 4 passes is one histogram kernel (256 bins in shared memory per block,
// integer atomics, then one atomic add per bin per block into a global histogram: integer sums,
// so the counts — and the threshold — are exact and independent of scheduling) followed by a
// 1 KiB copy to the host, which picks the next byte (radix_pick, shared with the CPU). A last
// kernel writes the mask. 4 small synchronising copies per call: this runs once per pruning
// step, not per training step. Block sparsity (block_magnitude / block_mask_expand): one thread
// per block / per element, the CPU's arithmetic.
#include <limits>

#include "cpu/prune.h"
#include "cuda/check.cuh"
#include "cuda/kernels.h"
#include "cuda/runtime.h"

namespace fusednet::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    key_hist_kernel(unsigned long long* __restrict__ hist, const float* __restrict__ W, int64_t n,
                    uint32_t prefix, uint32_t pmask, int shift) {
  __shared__ unsigned int local[256];
  for (int b = threadIdx.x; b < 256; b += blockDim.x) local[b] = 0u;
  __syncthreads();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const uint32_t key = cpu::magnitude_key(W[i]);
    if ((key & pmask) == prefix) atomicAdd(&local[(key >> shift) & 0xffu], 1u);
  }
  __syncthreads();
  for (int b = threadIdx.x; b < 256; b += blockDim.x)
    if (local[b]) atomicAdd(&hist[b], static_cast<unsigned long long>(local[b]));
}

__global__ void __launch_bounds__(kThreads)
    mask_kernel(float* __restrict__ mask, const float* W, int64_t n, uint32_t thr, float fill) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    mask[i] = fill >= 0.f ? fill : (cpu::magnitude_key(W[i]) >= thr ? 1.0f : 0.0f);
}

// Block sparsity: one thread per block of W (a block is bh x bw, small), same arithmetic as the CPU.
__global__ void __launch_bounds__(kThreads)
    block_magnitude_kernel(float* __restrict__ P, const float* __restrict__ W, int64_t R, int64_t C, int64_t bh,
                           int64_t bw, bool use_max) {
  const int64_t RB = (R + bh - 1) / bh, CB = (C + bw - 1) / bw;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < RB * CB; b += stride) {
    const int64_t rb = b / CB, cb = b % CB;
    const int64_t r0 = rb * bh, r1 = min(R, r0 + bh), c0 = cb * bw, c1 = min(C, c0 + bw);
    double acc = 0.0;
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = c0; c < c1; ++c) {
        const double a = fabs(static_cast<double>(W[r * C + c]));
        acc = use_max ? (a > acc || a != a ? a : acc) : acc + a;
      }
    P[b] = static_cast<float>(use_max ? acc : acc / static_cast<double>((r1 - r0) * (c1 - c0)));
  }
}

__global__ void __launch_bounds__(kThreads)
    block_expand_kernel(float* __restrict__ mask, const float* __restrict__ BM, int64_t R, int64_t C, int64_t bh,
                        int64_t bw) {
  const int64_t CB = (C + bw - 1) / bw;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < R * C; i += stride)
    mask[i] = BM[(i / C / bh) * CB + (i % C) / bw];
}

int grid_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 1 ? 1 : (b > 4096 ? 4096 : b));  // grid-stride beyond 1M elements
}

}  // namespace

float magnitude_mask(float* mask, const float* W, i64 n, i64 k) {
  if (n <= 0) return k <= 0 ? std::numeric_limits<float>::infinity() : 0.0f;
  if (k <= 0) {
    mask_kernel<<<grid_for(n), kThreads, 0, current_stream()>>>(mask, W, n, 0u, 0.0f);
    FN_CUDA_LAUNCH_CHECK();
    return std::numeric_limits<float>::infinity();
  }
  int dev = 0;
  FN_CUDA_CHECK(cudaGetDevice(&dev));
  auto* hist = static_cast<unsigned long long*>(device_malloc(256 * sizeof(unsigned long long), dev));
  uint32_t prefix = 0, pmask = 0;
  try {
    i64 rank = k;
    for (int shift = 24; shift >= 0; shift -= 8) {
      fill_bytes8(hist, 0, 256);
      key_hist_kernel<<<grid_for(n), kThreads, 0, current_stream()>>>(hist, W, n, prefix,
                                                                                         pmask, shift);
      FN_CUDA_LAUNCH_CHECK();
      unsigned long long h[256];
      memcpy_d2h(h, hist, sizeof h);  // synchronises
      i64 hh[256];
      for (int b = 0; b < 256; ++b) hh[b] = static_cast<i64>(h[b]);
      prefix |= cpu::radix_pick(hh, &rank) << shift;
      pmask |= 0xffu << shift;
    }
  } catch (...) {
    device_free(hist, dev);
    throw;
  }
  device_free(hist, dev);
  mask_kernel<<<grid_for(n), kThreads, 0, current_stream()>>>(mask, W, n, prefix, -1.0f);
  FN_CUDA_LAUNCH_CHECK();
  return cpu::key_to_float(prefix);
}

void block_magnitude(float* P, const float* W, i64 R, i64 C, i64 bh, i64 bw, bool use_max) {
  const i64 nb = ((R + bh - 1) / bh) * ((C + bw - 1) / bw);
  if (nb <= 0) return;
  block_magnitude_kernel<<<grid_for(nb), kThreads, 0, current_stream()>>>(P, W, R, C, bh, bw, use_max);
  FN_CUDA_LAUNCH_CHECK();
}

void block_mask_expand(float* mask, const float* BM, i64 R, i64 C, i64 bh, i64 bw) {
  if (R * C <= 0) return;
  block_expand_kernel<<<grid_for(R * C), kThreads, 0, current_stream()>>>(mask, BM, R, C, bh, bw);
  FN_CUDA_LAUNCH_CHECK();
}

}  // namespace fusednet::cuda
