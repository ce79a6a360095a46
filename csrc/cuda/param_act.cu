// param_act.cu — CUDA twin of csrc/cpu/param_act.cpp (formulas in cpu/param_act.h): one thread per
// element; PReLU's dAlpha is per-element terms in scratch, then cuda::reduce (fixed order, no
// float atomics), as on the CPU.
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

__global__ void prelu_fwd_kernel(float* Y, const float* X, const float* alpha, int64_t n, cpu::PreluMap m,
                                 int64_t D) {
  for (int64_t i = global_tid(); i < n; i += grid_stride()) {
    const float x = X[i];
    Y[i] = x > 0.f ? x : alpha[cpu::prelu_alpha_index(m, i % D)] * x;
  }
}

__global__ void prelu_bwd_kernel(float* dX, float* terms, const float* dY, const float* X, const float* alpha,
                                 int64_t n, cpu::PreluMap m, int64_t D) {
  for (int64_t i = global_tid(); i < n; i += grid_stride()) {
    const float x = X[i], d = dY[i];
    const bool pos = x > 0.f;
    if (dX) dX[i] = pos ? d : alpha[cpu::prelu_alpha_index(m, i % D)] * d;
    terms[i] = pos ? 0.f : d * x;
  }
}

__global__ void relu_ext_fwd_kernel(float* Y, const float* X, int64_t n, float t, bool has_max, float mx, float s) {
  for (int64_t i = global_tid(); i < n; i += grid_stride()) Y[i] = cpu::relu_ext_value(X[i], t, has_max, mx, s);
}

__global__ void relu_ext_bwd_kernel(float* dX, const float* dY, const float* X, int64_t n, float t, bool has_max,
                                    float mx, float s) {
  for (int64_t i = global_tid(); i < n; i += grid_stride())
    dX[i] = dY[i] * cpu::relu_ext_grad(X[i], t, has_max, mx, s);
}

}  // namespace

void prelu_forward(float* Y, const float* X, const float* alpha, i64 N, const cpu::PreluMap& m) {
  const i64 D = m.D(), n = N * D;
  if (n <= 0) return;
  prelu_fwd_kernel<<<blocks_for(n), kThreads, 0, current_stream()>>>(Y, X, alpha, n, m, D);
  FN_CUDA_LAUNCH_CHECK();
}

void prelu_backward(float* dX, float* dAlpha, const float* dY, const float* X, const float* alpha, i64 N,
                    const cpu::PreluMap& m) {
  const i64 D = m.D(), n = N * D;
  DeviceBuffer terms(static_cast<size_t>(n > 0 ? n : 1) * sizeof(float));
  if (n > 0) {
    prelu_bwd_kernel<<<blocks_for(n), kThreads, 0, current_stream()>>>(dX, terms.as<float>(), dY, X, alpha, n, m, D);
    FN_CUDA_LAUNCH_CHECK();
  }
  i64 shape[cpu::kPreluMaxDims + 1];
  bool reduced[cpu::kPreluMaxDims + 1];
  shape[0] = N;
  reduced[0] = true;
  for (int k = 0; k < m.nd; ++k) {
    shape[k + 1] = m.dims[k];
    reduced[k + 1] = m.astride[k] == 0;
  }
  cuda::reduce(dAlpha, terms.as<float>(), RedOp::Sum, m.nd + 1, shape, reduced);
}

void relu_ext_forward(float* Y, const float* X, i64 n, float t, bool has_max, float mx, float s) {
  if (n <= 0) return;
  relu_ext_fwd_kernel<<<blocks_for(n), kThreads, 0, current_stream()>>>(Y, X, n, t, has_max, mx, s);
  FN_CUDA_LAUNCH_CHECK();
}

void relu_ext_backward(float* dX, const float* dY, const float* X, i64 n, float t, bool has_max, float mx, float s) {
  if (n <= 0) return;
  relu_ext_bwd_kernel<<<blocks_for(n), kThreads, 0, current_stream()>>>(dX, dY, X, n, t, has_max, mx, s);
  FN_CUDA_LAUNCH_CHECK();
}

}  // namespace fusednet::cuda
