// sort.cpp — CPU sort / argsort / top_k along the last axis and the scatter backward
// (contract and ordering in sort.h). One task per row: each sorts 64-bit (order key, index)
// words — a strict total order, so nth_element + sort of the first k gives exactly the same
// result as a stable full sort truncated to k.
#include "cpu/sort.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/parallel.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {

namespace {
// The order of sort.h as one unsigned integer per element: the float's bits made monotone
// (negative: all bits flipped; positive: sign bit set), -0 folded onto +0 (they compare equal),
// every NaN onto the largest key; flipped for descending; the index in the low 32 bits breaks
// ties towards the lower index in both directions. Sorting these 64-bit words is a plain integer
// sort (branch-free compares, no indirection), and gives exactly the comparator order of sort.h.
inline uint64_t order_key(float v, uint32_t idx, bool descending) {
  uint32_t b;
  if (v != v) {
    b = 0xffffffffu;
  } else {
    if (v == 0.f) v = 0.f;
    std::memcpy(&b, &v, sizeof b);
    b = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  }
  if (descending) b = ~b;
  return (uint64_t(b) << 32) | idx;
}
}  // namespace

void sort_rows(float* values, int64_t* indices, const float* x, i64 rows, i64 n, i64 k,
               bool descending) {
  if (rows <= 0 || k <= 0) return;
  if (n > i64(0xffffffff)) throw ValueError("sort: rows longer than 2^32 elements are not supported");
  const bool par = rows > 1 && rows * n >= 16384;
  parallel_for_if(par, rows, num_threads(), [&](i64 r) {
    const float* xr = x + r * n;
    std::vector<uint64_t> key(static_cast<size_t>(n));
    for (i64 i = 0; i < n; ++i) key[size_t(i)] = order_key(xr[i], uint32_t(i), descending);
    if (k < n) {
      std::nth_element(key.begin(), key.begin() + k, key.end());
      std::sort(key.begin(), key.begin() + k);
    } else {
      std::sort(key.begin(), key.end());
    }
    for (i64 j = 0; j < k; ++j) {
      const int64_t i = int64_t(key[size_t(j)] & 0xffffffffu);
      values[r * k + j] = xr[i];
      indices[r * k + j] = i;
    }
  });
}

i64 sort_backward(float* dx, const float* dy, const int64_t* indices, i64 rows, i64 n, i64 k) {
  for (i64 p = 0; p < rows * k; ++p)
    if (indices[p] < 0 || indices[p] >= n) return p;
  if (rows * n > 0) std::memset(dx, 0, sizeof(float) * size_t(rows * n));
  for (i64 r = 0; r < rows; ++r)
    for (i64 j = 0; j < k; ++j) dx[r * n + indices[r * k + j]] += dy[r * k + j];
  return -1;
}

}  // namespace fusednet::cpu
