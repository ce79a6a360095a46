// sort.h — CPU sort / argsort / top_k along the last axis, and their backward (a scatter).
//
//   x [rows, n] -> values [rows, k], indices [rows, k] (int64), k <= n (k == n: a full sort)
//   ascending:  values[r, :] = the k smallest of x[r, :] in ascending order, NaN last (NumPy)
//   descending: the k largest in descending order, NaN first (NaN counts as the largest, as in
//               torch.topk); the order of top_k (Keras sorted=True).
//   Ties are broken by the lower index first in both orders, so the order is total: the result
//   is unique (no dependence on the algorithm or on the thread count; the CUDA twin agrees).
//   backward: dx[r, :] = 0, then dx[r, indices[r, j]] += dy[r, j] for j < k in j order.
// Rows are independent: one row per task, std::sort/partial_sort on an index array.
#pragma once
#include <cstdint>

#include "common/common.h"

namespace fusednet::cpu {

void sort_rows(float* values, int64_t* indices, const float* x, i64 rows, i64 n, i64 k,
               bool descending);
// Returns -1, or the flat position in indices of the first entry outside [0, n) (nothing written).
i64 sort_backward(float* dx, const float* dy, const int64_t* indices, i64 rows, i64 n, i64 k);

// Key order shared with the CUDA twin: a before b (ascending: a < b, NaN last; descending:
// a > b, NaN first), index tie-break applied by the caller.
FN_HD bool sort_before(float a, float b, bool descending) {
  const bool na = a != a, nb = b != b;
  if (descending) return na ? !nb : (!nb && a > b);
  return nb ? !na : (!na && a < b);
}

}  // namespace fusednet::cpu
