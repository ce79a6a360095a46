// special.cu — CUDA twin of csrc/cpu/special.cpp: erf / erfinv and their derivatives
// (formulas in cpu/special.h). Elementwise, grid-stride, computed in double like the CPU and
// rounded once; erfinv is the shared cpu::erfinv_scalar (Giles start + two Newton steps).
#include "cpu/special.h"
#include "cuda/check.cuh"
#include "cuda/kernels.h"
#include "cuda/reduce.cuh"

namespace fusednet::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 65535 * 8;

// kind: 0 erf, 1 erf', 2 erfinv, 3 erfinv'  (a = x or y, g = dy)
__global__ void special_kernel(float* out, const float* a, const float* g, int64_t n, int kind) {
  for (int64_t i = global_tid(); i < n; i += grid_stride()) {
    const double v = a[i];
    double r;
    switch (kind) {
      case 0: r = erf(v); break;
      case 1: r = double(g[i]) * 1.1283791670955126 * exp(-v * v); break;
      case 2: r = cpu::erfinv_scalar(v); break;
      default: r = double(g[i]) * 0.88622692545275801 * exp(v * v); break;
    }
    out[i] = static_cast<float>(r);
  }
}

void launch(float* out, const float* a, const float* g, i64 n, int kind) {
  if (n <= 0) return;
  special_kernel<<<grid_1d(n, kThreads, kMaxBlocks), kThreads, 0, current_stream()>>>(out, a, g, n, kind);
  FN_CUDA_LAUNCH_CHECK();
}

}  // namespace

void erf_forward(float* y, const float* x, i64 n) { launch(y, x, nullptr, n, 0); }
void erf_backward(float* dx, const float* dy, const float* x, i64 n) { launch(dx, x, dy, n, 1); }
void erfinv_forward(float* y, const float* x, i64 n) { launch(y, x, nullptr, n, 2); }
void erfinv_backward(float* dx, const float* dy, const float* y, i64 n) { launch(dx, y, dy, n, 3); }

}  // namespace fusednet::cuda
