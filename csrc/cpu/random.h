// random.h — CPU random kernels on the Philox4x32-10 stream defined in common/philox.h.
//
// Element i of every op is a pure function of (seed, offset, i) — see philox.h for the exact
// counter/key/lane layout — so outputs do not depend on thread count and match the CUDA twins.
// Argument order: outputs, inputs, sizes, parameters.
#pragma once
#include "common/common.h"

namespace fusednet::cpu {

// out[i] = min(low + (high - low) * uniform01(lane i%4 of block i/4), largest float < high)
void random_uniform(float* out, i64 n, uint64_t seed, uint64_t offset, float low, float high);
// out[i] = mean + std * z_i, z from Box–Muller on lane pairs (0,1), (2,3) of block i/4.
void random_normal(float* out, i64 n, uint64_t seed, uint64_t offset, float mean, float std);
// Keras truncated normal: z_i with |z_i| > 2 is re-drawn. Attempt k (k = 0, 1, ...) of element i
// uses the normal of element i in the stream (seed, offset + k * 2^32); after 64 rejections
// (probability 0.0455^64) the element is 0. out[i] = mean + std * z_i.
void random_truncated_normal(float* out, i64 n, uint64_t seed, uint64_t offset, float mean, float std);
// Dropout, rate in [0, 1): keep element i iff uniform01(element i) >= rate (exactly: (u >> 8) >=
// ceil(rate * 2^24)); mask = keep ? float(1/(1-rate)) : 0 (1/(1-rate) computed in double); y = x*mask.
void dropout_forward(float* y, float* mask, const float* x, i64 n, double rate, uint64_t seed,
                     uint64_t offset);
// Random permutation of 0..n-1: stable sort of indices by 64-bit Philox keys, key_i = lanes
// (2*(i%2), 2*(i%2)+1) of block i/2 as (hi << 32 | lo). Ties (astronomically rare) keep index order.
void random_permutation(int64_t* out, i64 n, uint64_t seed, uint64_t offset);

}  // namespace fusednet::cpu
