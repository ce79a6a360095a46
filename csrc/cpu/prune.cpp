// prune.cpp — magnitude mask for pruning by an exact radix select (formula and rule in prune.h).
//
// Why a radix select and not std::nth_element on a copy of |W|: it needs no n-float scratch copy,
// it is O(n) with a small constant (5 streaming passes over W: at 200k weights well under a
// millisecond, and it runs once per pruning step, not per training step), it is exact on ties,
// and it orders bit patterns, so NaN weights cannot violate a comparator's strict weak ordering.
// Single-threaded: the passes are memory-bound and this runs every `frequency` steps.
#include "cpu/prune.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace fusednet::cpu {

float magnitude_mask(float* mask, const float* W, i64 n, i64 k) {
  if (k <= 0) {
    for (i64 i = 0; i < n; ++i) mask[i] = 0.0f;
    return std::numeric_limits<float>::infinity();
  }
  uint32_t prefix = 0, pmask = 0;
  i64 rank = k;  // rank (1 = largest) of the threshold among the keys matching the prefix
  for (int shift = 24; shift >= 0; shift -= 8) {
    i64 hist[256] = {0};
    for (i64 i = 0; i < n; ++i) {
      const uint32_t key = magnitude_key(W[i]);
      if ((key & pmask) == prefix) ++hist[(key >> shift) & 0xffu];
    }
    prefix |= radix_pick(hist, &rank) << shift;
    pmask |= 0xffu << shift;
  }
  for (i64 i = 0; i < n; ++i) mask[i] = magnitude_key(W[i]) >= prefix ? 1.0f : 0.0f;
  return key_to_float(prefix);
}

// One output block per iteration, rows of the block read contiguously; double accumulation so the
// mean does not depend on the block's size. Blocks are few (n / (bh·bw)) and the pass runs once
// per pruning step: single-threaded, like the selection.
void block_magnitude(float* P, const float* W, i64 R, i64 C, i64 bh, i64 bw, bool use_max) {
  const i64 RB = (R + bh - 1) / bh, CB = (C + bw - 1) / bw;
  for (i64 rb = 0; rb < RB; ++rb) {
    const i64 r0 = rb * bh, r1 = std::min(R, r0 + bh);
    for (i64 cb = 0; cb < CB; ++cb) {
      const i64 c0 = cb * bw, c1 = std::min(C, c0 + bw);
      double acc = 0.0;
      for (i64 r = r0; r < r1; ++r)
        for (i64 c = c0; c < c1; ++c) {
          const double a = std::fabs(static_cast<double>(W[r * C + c]));
          acc = use_max ? (a > acc || a != a ? a : acc) : acc + a;  // max keeps a NaN (as the select ranks it)
        }
      P[rb * CB + cb] = static_cast<float>(use_max ? acc : acc / static_cast<double>((r1 - r0) * (c1 - c0)));
    }
  }
}

void block_mask_expand(float* mask, const float* BM, i64 R, i64 C, i64 bh, i64 bw) {
  const i64 CB = (C + bw - 1) / bw;
  for (i64 r = 0; r < R; ++r)
    for (i64 c = 0; c < C; ++c) mask[r * C + c] = BM[(r / bh) * CB + c / bw];
}

}  // namespace fusednet::cpu
