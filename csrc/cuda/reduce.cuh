// reduce.cuh — deterministic warp/block reductions shared by the CUDA kernels.
//
// Why no atomics: float addition is not associative, so atomicAdd makes sums depend on thread
// timing. Every reduction here combines values in an order fixed by (blockDim, thread index):
// an xor-butterfly inside each warp, then warp 0 combines the per-warp partials the same way.
// The same inputs and launch shape therefore give bit-identical results on every run.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace fusednet::cuda {

struct SumOp {
  template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {  // NaN-propagating: max(NaN, x) = NaN, as NumPy's max
  __device__ __forceinline__ float operator()(float a, float b) const {
    return (a != a || a > b) ? a : b;
  }
  __device__ __forceinline__ double operator()(double a, double b) const {
    return (a != a || a > b) ? a : b;
  }
};
struct MinOp {
  __device__ __forceinline__ float operator()(float a, float b) const {
    return (a != a || a < b) ? a : b;
  }
  __device__ __forceinline__ double operator()(double a, double b) const {
    return (a != a || a < b) ? a : b;
  }
};
struct ProdOp {
  template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a * b; }
};

// Every lane ends with the reduction of the warp's 32 values.
template <class T, class Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Every thread of the block gets the result. blockDim.x must be a multiple of 32 (≤ 1024) and
// every thread must call it (it contains barriers). `scratch` is __shared__ T[32]; the leading
// barrier makes back-to-back calls with the same scratch safe.
template <class T, class Op>
__device__ __forceinline__ T block_reduce(T v, Op op, T identity, T* scratch) {
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  const int nw = blockDim.x >> 5;
  v = warp_reduce(v, op);
  __syncthreads();
  if (lane == 0) scratch[w] = v;
  __syncthreads();
  if (w == 0) {
    T r = lane < nw ? scratch[lane] : identity;
    r = warp_reduce(r, op);
    if (lane == 0) scratch[0] = r;
  }
  __syncthreads();
  return scratch[0];
}

// Grid-stride helpers: 64-bit indices, any n.
__device__ __forceinline__ int64_t global_tid() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

}  // namespace fusednet::cuda
