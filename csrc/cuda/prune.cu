// prune.cu — magnitude mask for pruning on the device: the CPU's exact radix select
// (csrc/cpu/prune.h for the formula and the tie rule, csrc/cpu/prune.cpp for why a radix select).
//
// Shape: each of the 4 passes is one histogram kernel (256 bins in shared memory per block,
// integer atomics, then one atomic add per bin per block into a global histogram: integer sums,
// so the counts — and the threshold — are exact and independent of scheduling) followed by a
// 1 KiB copy to the host, which picks the next byte (radix_pick, shared with the CPU). A last
// kernel writes the mask. 4 small synchronising copies per call: this runs once per pruning
// step, not per training step.
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

}  // namespace fusednet::cuda
