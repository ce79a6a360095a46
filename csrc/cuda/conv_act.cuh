// conv_act.cuh — the activation epilogue and its backward shared by the conv and depthwise
// launchers (act codes as Act: 0 none, 1 relu, 2 sigmoid, 3 tanh). Internal linkage: each .cu
// that includes it gets its own copy of the kernel (no relocatable device code needed).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/reduce.cuh"  // global_tid, grid_stride

namespace fusednet::cuda {
namespace {

__device__ __forceinline__ float act_fwd(float v, int act) {
  switch (act) {
    case 1: return v > 0.f ? v : 0.f;
    case 2: return 1.f / (1.f + expf(-v));
    case 3: return tanhf(v);
    default: return v;
  }
}

// dZ = dY·act'(Y) through the saved output (relu as a select, like the CPU).
__global__ void conv_act_grad_kernel(float* dZ, const float* dY, const float* Y, int64_t n, int act) {
  for (int64_t i = global_tid(); i < n; i += grid_stride()) {
    const float d = dY[i], y = Y[i];
    dZ[i] = act == 1 ? (y > 0.f ? d : 0.f) : act == 2 ? d * y * (1.f - y) : act == 3 ? d * (1.f - y * y) : d;
  }
}

}  // namespace
}  // namespace fusednet::cuda
