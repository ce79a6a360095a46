// scan.cu — CUDA twin of csrc/cpu/scan.cpp: cumsum / cumprod and backward along one axis of
// [outer, n, inner] (formulas in cpu/scan.h). One thread per line (o, i), walking the scanned
// axis in order with a double accumulator — the CPU's order, so the same bits; adjacent threads
// take adjacent i, so every step is one coalesced row read when inner > 1. The cumprod backward
// runs the shared per-line routine (cpu::cumprod_backward_line).
#include "cpu/scan.h"
#include "cuda/check.cuh"
#include "cuda/kernels.h"
#include "cuda/reduce.cuh"

namespace fusednet::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 65535 * 8;

__global__ void scan_kernel(float* y, const float* x, int64_t outer, int64_t n, int64_t inner,
                            bool reverse, bool prod) {
  const int64_t lines = outer * inner;
  for (int64_t l = global_tid(); l < lines; l += grid_stride()) {
    const int64_t o = l / inner, i = l - o * inner, base = o * n * inner + i;
    double acc = prod ? 1.0 : 0.0;
    for (int64_t s = 0; s < n; ++s) {
      const int64_t j = reverse ? n - 1 - s : s;
      const double v = x[base + j * inner];
      acc = prod ? acc * v : acc + v;
      y[base + j * inner] = static_cast<float>(acc);
    }
  }
}

__global__ void cumprod_bwd_kernel(float* dx, const float* dy, const float* x, const float* y,
                                   int64_t outer, int64_t n, int64_t inner) {
  const int64_t lines = outer * inner;
  for (int64_t l = global_tid(); l < lines; l += grid_stride()) {
    const int64_t o = l / inner, i = l - o * inner, base = o * n * inner + i;
    cpu::cumprod_backward_line(dx + base, dy + base, x + base, y + base, n, inner);
  }
}

}  // namespace

void cumsum(float* y, const float* x, i64 outer, i64 n, i64 inner, bool reverse) {
  if (outer <= 0 || n <= 0 || inner <= 0) return;
  scan_kernel<<<grid_1d(outer * inner, kThreads, kMaxBlocks), kThreads, 0, current_stream()>>>(
      y, x, outer, n, inner, reverse, false);
  FN_CUDA_LAUNCH_CHECK();
}

void cumprod(float* y, const float* x, i64 outer, i64 n, i64 inner) {
  if (outer <= 0 || n <= 0 || inner <= 0) return;
  scan_kernel<<<grid_1d(outer * inner, kThreads, kMaxBlocks), kThreads, 0, current_stream()>>>(
      y, x, outer, n, inner, false, true);
  FN_CUDA_LAUNCH_CHECK();
}

void cumprod_backward(float* dx, const float* dy, const float* x, const float* y, i64 outer, i64 n,
                      i64 inner) {
  if (outer <= 0 || n <= 0 || inner <= 0) return;
  cumprod_bwd_kernel<<<grid_1d(outer * inner, kThreads, kMaxBlocks), kThreads, 0,
                       current_stream()>>>(dx, dy, x, y, outer, n, inner);
  FN_CUDA_LAUNCH_CHECK();
}

}  // namespace fusednet::cuda
