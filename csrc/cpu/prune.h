// prune.h — the magnitude-pruning mask (tfmot's `_update_mask` selection), CPU and CUDA.
//
//   key(x)    = bits(x) & 0x7fffffff          (|x| as an unsigned integer: for |x| >= 0 the
//                                              integer order is the numeric order; NaN > +Inf)
//   threshold = the k-th largest key over W[0..n)   (1 <= k <= n)
//   mask[i]   = key(W[i]) >= threshold ? 1 : 0    (ties at the threshold are all kept, as tfmot's
//                                                  |w| >= threshold: the mask may keep more than k)
//   k == 0: nothing kept, mask = 0, threshold = +Inf.   Returns the threshold as a float.
//
// Exact and O(n): an MSB-first radix select over the key bits (4 passes of 8-bit histograms, each
// narrowing the prefix the k-th largest key must have), then one pass writing the mask. No
// sorting, no comparison of floats (so NaN cannot break an ordering), no allocation beyond a
// 256-entry histogram, and the result depends only on W and k.
#pragma once
#include <cstdint>
#include <cstring>

#include "common/common.h"

namespace fusednet::cpu {

// mask[n] (float32 0/1), W[n]; 0 <= k <= n (checked by the binding). mask must not overlap W
// unless it is W itself.
float magnitude_mask(float* mask, const float* W, i64 n, i64 k);

// Block sparsity (tfmot block_size, 2-D kernels W[R, C]): blocks of bh x bw aligned at (0, 0);
// an edge block holds only its valid entries (ceil(R/bh) x ceil(C/bw) blocks).
//   P[rb, cb] = mean (use_max: max) of |W[r, c]| over block (rb, cb)   (mean: double sum / count)
//   mask[r, c] = BM[r / bh, c / bw]                                       (block mask -> W's shape)
void block_magnitude(float* P, const float* W, i64 R, i64 C, i64 bh, i64 bw, bool use_max);
void block_mask_expand(float* mask, const float* BM, i64 R, i64 C, i64 bh, i64 bw);

// The key above, shared by the CPU and CUDA kernels.
FN_HD uint32_t magnitude_key(float x) {
#ifdef __CUDA_ARCH__
  return static_cast<uint32_t>(__float_as_uint(x)) & 0x7fffffffu;
#else
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u & 0x7fffffffu;
#endif
}

// One radix step (host side, shared): given the 256-bin histogram of the next byte of the keys
// that match the prefix so far, pick the bin holding the `rank`-th largest (1-based) and make
// `rank` relative to that bin.
inline uint32_t radix_pick(const i64* hist, i64* rank) {
  for (int b = 255; b > 0; --b) {
    if (*rank <= hist[b]) return static_cast<uint32_t>(b);
    *rank -= hist[b];
  }
  return 0;
}

inline float key_to_float(uint32_t key) {
  float f;
  std::memcpy(&f, &key, sizeof f);
  return f;
}

}  // namespace fusednet::cpu
