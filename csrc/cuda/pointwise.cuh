// pointwise.cuh — one grid-stride "map" kernel for every elementwise op (activations, unary,
// elementwise backward): out[i] = f(in0[i], in1[i], …).
//
// Memory-bound, so the shape is about bytes in flight: when every pointer is 16-byte aligned each
// thread moves float4s (one 16-byte load per input, one store), otherwise scalars; the ragged
// tail (n % 4) is done by scalars in the same launch. Grid: enough blocks to cover n/4 but capped
// (grid_1d), threads then stride. Pointers are deliberately not __restrict__: out may alias an
// input (in-place activations); each index is read before it is written by the same thread.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/check.cuh"
#include "cuda/reduce.cuh"

namespace fusednet::cuda {

template <class F, class... V>
__device__ __forceinline__ float4 apply4(const F& f, V... v) {
  return make_float4(f(v.x...), f(v.y...), f(v.z...), f(v.w...));
}

template <class F, class... P>
__global__ void map_kernel(float* out, int64_t n, bool vec, F f, P... in) {
  int64_t start = 0;
  if (vec) {
    const int64_t nv = n / 4;
    for (int64_t v = global_tid(); v < nv; v += grid_stride())
      reinterpret_cast<float4*>(out)[v] = apply4(f, reinterpret_cast<const float4*>(in)[v]...);
    start = nv * 4;
  }
  for (int64_t i = start + global_tid(); i < n; i += grid_stride()) out[i] = f(in[i]...);
}

inline bool all_aligned16() { return true; }
template <class... P>
inline bool all_aligned16(const void* p, P... rest) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0 && all_aligned16(rest...);
}

// Host launcher: out[i] = f(in[i]...) for i < n, on the current stream.
template <class F, class... P>
void launch_map(float* out, int64_t n, F f, P... in) {
  if (n <= 0) return;
  const bool vec = all_aligned16(out, in...);
  constexpr int kThreads = 256;
  const int blocks = grid_1d(vec ? (n + 3) / 4 : n, kThreads, 65535 * 8);
  map_kernel<F, P...><<<blocks, kThreads, 0, current_stream()>>>(out, n, vec, f, in...);
  FN_CUDA_LAUNCH_CHECK();
}

}  // namespace fusednet::cuda
