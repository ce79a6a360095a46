// image_intensity.cu — CUDA twin of csrc/cpu/image_intensity.cpp (formulas in
// cpu/image_intensity.h): channel shift, brightness and standardisation of NHWC float32 images.
//
// One block per image: block-wide min / max (or double sum and sum of squares) with the
// deterministic reductions of reduce.cuh, then a block-stride element pass. The per-element
// brightness rule is the shared FN_HD brightness_value, so CPU and CUDA truncate identically;
// the standardisation's statistics are summed in a different order (equal to rounding).
#include "cpu/image_intensity.h"
#include "cuda/check.cuh"
#include "cuda/image_intensity.h"
#include "cuda/reduce.cuh"
#include "cuda/runtime.h"

namespace fusednet::cuda {

namespace {

constexpr int kThreads = 256;

__device__ void block_min_max(const float* x, int64_t n, float* lo, float* hi, float* scratch) {
  float a = x[0], b = x[0];
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    a = fminf(a, x[i]);
    b = fmaxf(b, x[i]);
  }
  *lo = block_reduce(a, MinOp{}, a, scratch);
  *hi = block_reduce(b, MaxOp{}, b, scratch);
}

__global__ void intensity_kernel(float* Y, const float* X, int64_t P, int64_t C, const float* shift,
                                 const float* bright) {
  __shared__ float scratch[32];
  const int64_t per = P * C, n = blockIdx.x;
  const float* x = X + n * per;
  float* y = Y + n * per;
  float lo, hi;
  if (shift) {
    block_min_max(x, per, &lo, &hi, scratch);
    const float s = shift[n];
    for (int64_t i = threadIdx.x; i < per; i += blockDim.x) y[i] = fminf(fmaxf(x[i] + s, lo), hi);
  } else if (y != x) {
    for (int64_t i = threadIdx.x; i < per; i += blockDim.x) y[i] = x[i];
  }
  if (!bright) return;
  __syncthreads();  // y complete before its statistics
  block_min_max(y, per, &lo, &hi, scratch);
  const bool local = lo < 0.f || hi > 255.f;
  const float b = bright[n];
  for (int64_t i = threadIdx.x; i < per; i += blockDim.x)
    y[i] = cpu::brightness_value(y[i], lo, hi, b, local, C == 4 && i % C == 3);
}

__global__ void standardize_kernel(float* Y, const float* X, int64_t P, int64_t C, float rescale, bool sample_center,
                                   bool sample_std, const float* mean, const float* std) {
  __shared__ double scratch[32];
  const int64_t per = P * C, n = blockIdx.x;
  const float* x = X + n * per;
  float* y = Y + n * per;
  float mf = 0.f, sd = 1.f;
  if (sample_center || sample_std) {
    double s = 0.0, q = 0.0;
    for (int64_t i = threadIdx.x; i < per; i += blockDim.x) {
      const double v = rescale != 0.f ? static_cast<double>(x[i] * rescale) : static_cast<double>(x[i]);
      s += v;
      q += v * v;
    }
    s = block_reduce(s, SumOp{}, 0.0, scratch);
    q = block_reduce(q, SumOp{}, 0.0, scratch);
    const double m = s / static_cast<double>(per);
    const double var = fmax(q / static_cast<double>(per) - m * m, 0.0);
    if (sample_center) mf = static_cast<float>(m);
    if (sample_std) sd = static_cast<float>(sqrt(var)) + 1e-6f;
  }
  for (int64_t i = threadIdx.x; i < per; i += blockDim.x) {
    float v = rescale != 0.f ? x[i] * rescale : x[i];
    if (sample_center) v -= mf;
    if (sample_std) v /= sd;
    const int64_t c = i % C;
    if (mean) v -= mean[c];
    if (std) v /= std[c] + 1e-6f;
    y[i] = v;
  }
}

}  // namespace

void image_intensity(float* Y, const float* X, i64 N, i64 P, i64 C, const float* shift, const float* bright) {
  if (N <= 0 || P * C <= 0) return;
  intensity_kernel<<<static_cast<unsigned>(N), kThreads, 0, current_stream()>>>(Y, X, P, C, shift, bright);
  FN_CUDA_LAUNCH_CHECK();
}

void image_standardize(float* Y, const float* X, i64 N, i64 P, i64 C, float rescale, bool sample_center,
                       bool sample_std, const float* mean, const float* std) {
  if (N <= 0 || P * C <= 0) return;
  standardize_kernel<<<static_cast<unsigned>(N), kThreads, 0, current_stream()>>>(Y, X, P, C, rescale, sample_center,
                                                                                 sample_std, mean, std);
  FN_CUDA_LAUNCH_CHECK();
}

}  // namespace fusednet::cuda
