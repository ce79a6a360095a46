// sort.cpp — CPU sort / argsort / top_k along the last axis and the scatter backward
// (contract and ordering in sort.h). One task per row: each sorts an index array with a
// comparator that is a strict total order (key order, then index), so std::partial_sort gives
// exactly the same result as a stable full sort truncated to k, in O(n log k).
#include "cpu/sort.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "cpu/parallel.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {

void sort_rows(float* values, int64_t* indices, const float* x, i64 rows, i64 n, i64 k,
               bool descending) {
  if (rows <= 0 || k <= 0) return;
  const bool par = rows > 1 && rows * n >= 16384;
  parallel_for_if(par, rows, num_threads(), [&](i64 r) {
    const float* xr = x + r * n;
    std::vector<int64_t> idx(static_cast<size_t>(n));
    std::iota(idx.begin(), idx.end(), int64_t(0));
    auto before = [&](int64_t i, int64_t j) {
      if (sort_before(xr[i], xr[j], descending)) return true;
      if (sort_before(xr[j], xr[i], descending)) return false;
      return i < j;
    };
    if (k < n) std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), before);
    else std::sort(idx.begin(), idx.end(), before);
    for (i64 j = 0; j < k; ++j) {
      values[r * k + j] = xr[idx[size_t(j)]];
      indices[r * k + j] = idx[size_t(j)];
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
