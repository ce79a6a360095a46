// check.cuh — every CUDA runtime call and every kernel launch goes through these macros, so a
// failure surfaces as a Python RuntimeError naming the file and line instead of a later crash.
#pragma once
#include <cuda_runtime.h>
#include <stdexcept>
#include <string>

#define FN_CUDA_CHECK(expr)                                                               \
  do {                                                                                    \
    cudaError_t fn_err_ = (expr);                                                         \
    if (fn_err_ != cudaSuccess)                                                           \
      throw std::runtime_error(std::string("CUDA error at ") + __FILE__ + ":" +           \
                               std::to_string(__LINE__) + ": " + #expr + ": " +           \
                               cudaGetErrorString(fn_err_));                              \
  } while (0)

// Call right after a <<<...>>> launch: reports bad launch configurations immediately.
#define FN_CUDA_LAUNCH_CHECK() FN_CUDA_CHECK(cudaGetLastError())

namespace fusednet::cuda {
cudaStream_t current_stream();
inline int grid_1d(long long n, int block, int max_blocks = 65535 * 4) {
  long long g = (n + block - 1) / block;
  if (g < 1) g = 1;
  if (g > max_blocks) g = max_blocks;
  return static_cast<int>(g);
}
}  // namespace fusednet::cuda
