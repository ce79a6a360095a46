// random.cu — Philox-based random ops on the device, bit-identical to the CPU kernels.
//
// Stream contract (csrc/common/philox.h, shared with the CPU): element i of an op with
// (seed, offset) uses lane i%4 of philox4x32_10(counter = (i/4, offset), key = seed). So every
// kernel here is a pure map over Philox blocks: one thread per block of 4 consecutive elements
// (grid-stride over blocks), four guarded stores. No state, no atomics, any grid size gives the
// same numbers.
//
// Bitwise identity with the CPU needs the same float operations in the same order: nvcc would
// contract `low + span*u` into one FMA (one rounding) while the baseline x86-64 CPU build rounds
// twice, so the affine transforms below use __fmul_rn/__fadd_rn, which are never contracted.
// Box–Muller runs in double (philox.h) and is rounded to float once, so libm-vs-CUDA-math
// differences of an ulp in double cannot reach the float result (barring a double result that
// lies within an ulp of a float rounding boundary — not observed, and tested bitwise).
//
//   uniform:   y = min(low + (high-low)*u, top), u = uniform01(lane) in [0,1), top = the largest
//              float below high (host-computed; keeps [low, high) half-open like the CPU)
//   normal:    y = mean + std*z,        z = normal4(block)[lane]
//   truncated: z resampled while |z| > 2: attempt k (k = 0,1,…) draws element i from the stream
//              (seed, offset + k·2^32); after 64 attempts (probability 0.0455^64) z = 0.
//   dropout:   keep iff (u >> 8) >= ceil(rate·2^24) (exact integer test, = uniform01 >= rate);
//              mask = keep ? float(1/(1-rate)) : 0 (scale rounded once from double); y = x*mask.
// permutation(n) is not done here: a shuffle is inherently sequential per stream, so the binding
// computes it with the CPU kernel and copies the int64 result to the device (documented in
// kernels.h).
#include <cmath>

#include "common/philox.h"
#include "cuda/check.cuh"
#include "cuda/kernels.h"
#include "cuda/reduce.cuh"

namespace fusednet::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kTruncMaxTries = 64;

int grid_for_blocks(i64 n) { return grid_1d((n + 3) / 4, kThreads); }

__global__ void uniform_kernel(float* __restrict__ out, int64_t n, uint64_t seed, uint64_t offset,
                               float low, float span, float top) {
  const int64_t nb = (n + 3) / 4;
  for (int64_t b = global_tid(); b < nb; b += grid_stride()) {
    const Philox4 r = philox_block(seed, offset, static_cast<uint64_t>(b));
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      const int64_t i = b * 4 + l;
      if (i < n) {
        const float v = __fadd_rn(low, __fmul_rn(span, uniform01(r.v[l])));
        out[i] = top < v ? top : v;  // std::min(v, top)
      }
    }
  }
}

__global__ void normal_kernel(float* __restrict__ out, int64_t n, uint64_t seed, uint64_t offset,
                              float mean, float stddev) {
  const int64_t nb = (n + 3) / 4;
  for (int64_t b = global_tid(); b < nb; b += grid_stride()) {
    float z[4];
    normal4(philox_block(seed, offset, static_cast<uint64_t>(b)), z);
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      const int64_t i = b * 4 + l;
      if (i < n) out[i] = __fadd_rn(mean, __fmul_rn(stddev, z[l]));
    }
  }
}

__global__ void truncated_normal_kernel(float* __restrict__ out, int64_t n, uint64_t seed,
                                        uint64_t offset, float mean, float stddev) {
  const int64_t nb = (n + 3) / 4;
  for (int64_t b = global_tid(); b < nb; b += grid_stride()) {
    float z[4];
    normal4(philox_block(seed, offset, static_cast<uint64_t>(b)), z);
    // Rejected lanes redraw from later streams; the whole block is redrawn but only the rejected
    // lanes take the new value, so each element's sequence is (seed, offset+k, i) for k = 0,1,….
    bool done = true;
#pragma unroll
    for (int l = 0; l < 4; ++l) done = done && !(fabsf(z[l]) > 2.0f);
    for (int k = 1; k < kTruncMaxTries && !done; ++k) {
      float w[4];
      normal4(philox_block(seed, offset + (static_cast<uint64_t>(k) << 32), static_cast<uint64_t>(b)), w);
      done = true;
#pragma unroll
      for (int l = 0; l < 4; ++l) {
        if (fabsf(z[l]) > 2.0f) z[l] = w[l];
        done = done && !(fabsf(z[l]) > 2.0f);
      }
    }
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      const float v = fabsf(z[l]) > 2.0f ? 0.0f : z[l];  // 64 rejections: 0, as the CPU
      const int64_t i = b * 4 + l;
      if (i < n) out[i] = __fadd_rn(mean, __fmul_rn(stddev, v));
    }
  }
}

__global__ void dropout_kernel(float* __restrict__ y, float* __restrict__ mask,
                               const float* __restrict__ x, int64_t n, uint32_t thr, float scale,
                               uint64_t seed, uint64_t offset) {
  const int64_t nb = (n + 3) / 4;
  for (int64_t b = global_tid(); b < nb; b += grid_stride()) {
    const Philox4 r = philox_block(seed, offset, static_cast<uint64_t>(b));
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      const int64_t i = b * 4 + l;
      if (i < n) {
        const float mk = (r.v[l] >> 8) >= thr ? scale : 0.0f;
        const float xv = x[i];  // read before the writes: y may alias x
        if (mask) mask[i] = mk;
        y[i] = __fmul_rn(xv, mk);
      }
    }
  }
}

}  // namespace

void random_uniform(float* out, i64 n, uint64_t seed, uint64_t offset, float low, float high) {
  if (n <= 0) return;
  const float span = high - low;
  const float top = span > 0.0f ? std::nextafter(high, low) : high;
  uniform_kernel<<<grid_for_blocks(n), kThreads, 0, current_stream()>>>(out, n, seed, offset, low,
                                                                         span, top);
  FN_CUDA_LAUNCH_CHECK();
}

void random_normal(float* out, i64 n, uint64_t seed, uint64_t offset, float mean, float stddev) {
  if (n <= 0) return;
  normal_kernel<<<grid_for_blocks(n), kThreads, 0, current_stream()>>>(out, n, seed, offset, mean,
                                                                        stddev);
  FN_CUDA_LAUNCH_CHECK();
}

void random_truncated_normal(float* out, i64 n, uint64_t seed, uint64_t offset, float mean,
                             float stddev) {
  if (n <= 0) return;
  truncated_normal_kernel<<<grid_for_blocks(n), kThreads, 0, current_stream()>>>(out, n, seed,
                                                                                  offset, mean, stddev);
  FN_CUDA_LAUNCH_CHECK();
}

void dropout_forward(float* y, float* mask, const float* x, i64 n, double rate, uint64_t seed,
                     uint64_t offset) {
  FN_CHECK(rate >= 0.0 && rate < 1.0, "dropout: rate must be in [0, 1)");
  if (n <= 0) return;
  const uint32_t thr = static_cast<uint32_t>(std::ceil(rate * 16777216.0));
  const float scale = static_cast<float>(1.0 / (1.0 - rate));
  dropout_kernel<<<grid_for_blocks(n), kThreads, 0, current_stream()>>>(y, mask, x, n, thr, scale,
                                                                         seed, offset);
  FN_CUDA_LAUNCH_CHECK();
}

}  // namespace fusednet::cuda
