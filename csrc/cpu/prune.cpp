// prune.cpp — magnitude mask for pruning by an exact radix select (formula and rule in prune.h).
//
// Why a radix select and not std::nth_element on a copy of |W|: it needs no n-float scratch copy,
// it is O(n) with a small constant (5 streaming passes over W: at 200k weights well under a
// millisecond, and it runs once per pruning step, not per training step), it is exact on ties,
// and it orders bit patterns, so NaN weights cannot violate a comparator's strict weak ordering.
// Single-threaded: the passes are memory-bound and this runs every `frequency` steps.
#include "cpu/prune.h"

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

}  // namespace fusednet::cpu
