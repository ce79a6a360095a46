// sort.cu — CUDA twin of csrc/cpu/sort.cpp: sort / argsort / top_k along the last axis and the
// scatter backward (contract in cpu/sort.h). The order is total (key, then index), so the output
// is unique and equals the CPU's bit for bit.
// Forward by ranking: one thread per element counts the elements of its row that come before it
// (sort_before, index tie-break) and, when its rank is below k, writes itself to that slot. No
// atomics, no shared state, O(n) per element: fast for the rows Keras models sort (class scores,
// a few thousand entries). Rows longer than kMaxRankRow would cost O(n²) per row, so they are
// copied to the host and sorted there by the CPU kernel (a documented gap: no device radix sort).
// Backward: one thread per row scatters dy in j order (deterministic; no float atomics).
#include <vector>

#include "cpu/sort.h"
#include "cuda/check.cuh"
#include "cuda/kernels.h"
#include "cuda/reduce.cuh"
#include "cuda/runtime.h"
#include "cuda/scratch.cuh"

namespace fusednet::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 65535 * 8;
constexpr i64 kMaxRankRow = 4096;

__global__ void sort_rank_kernel(float* values, int64_t* indices, const float* x, int64_t rows,
                                 int64_t n, int64_t k, bool descending) {
  const int64_t total = rows * n;
  for (int64_t e = global_tid(); e < total; e += grid_stride()) {
    const int64_t r = e / n, i = e - r * n;
    const float* xr = x + r * n;
    const float v = xr[i];
    int64_t rank = 0;
    for (int64_t j = 0; j < n; ++j) {
      const float u = xr[j];
      if (cpu::sort_before(u, v, descending) || (j < i && !cpu::sort_before(v, u, descending))) ++rank;
    }
    if (rank < k) {
      values[r * k + rank] = v;
      indices[r * k + rank] = i;
    }
  }
}

__global__ void sort_bwd_check_kernel(const int64_t* indices, int64_t total, int64_t n,
                                      unsigned long long* flag) {
  for (int64_t p = global_tid(); p < total; p += grid_stride())
    if (indices[p] < 0 || indices[p] >= n) flag_bad(flag, p);
}

__global__ void sort_bwd_kernel(float* dx, const float* dy, const int64_t* indices, int64_t rows,
                                int64_t n, int64_t k) {
  for (int64_t r = global_tid(); r < rows; r += grid_stride()) {
    float* d = dx + r * n;
    for (int64_t i = 0; i < n; ++i) d[i] = 0.f;
    for (int64_t j = 0; j < k; ++j) d[indices[r * k + j]] += dy[r * k + j];
  }
}

}  // namespace

void sort_rows(float* values, int64_t* indices, const float* x, i64 rows, i64 n, i64 k,
               bool descending) {
  if (rows <= 0 || k <= 0) return;
  if (n > kMaxRankRow) {
    std::vector<float> hx(size_t(rows * n)), hv(size_t(rows * k));
    std::vector<int64_t> hi(size_t(rows * k));
    memcpy_d2h(hx.data(), x, hx.size() * sizeof(float));
    cpu::sort_rows(hv.data(), hi.data(), hx.data(), rows, n, k, descending);
    memcpy_h2d(values, hv.data(), hv.size() * sizeof(float));
    memcpy_h2d(indices, hi.data(), hi.size() * sizeof(int64_t));
    return;
  }
  sort_rank_kernel<<<grid_1d(rows * n, kThreads, kMaxBlocks), kThreads, 0, current_stream()>>>(
      values, indices, x, rows, n, k, descending);
  FN_CUDA_LAUNCH_CHECK();
}

i64 sort_backward(float* dx, const float* dy, const int64_t* indices, i64 rows, i64 n, i64 k) {
  cudaStream_t st = current_stream();
  if (rows * k > 0) {
    BadFlag flag;
    sort_bwd_check_kernel<<<grid_1d(rows * k, kThreads, kMaxBlocks), kThreads, 0, st>>>(
        indices, rows * k, n, flag.ptr());
    FN_CUDA_LAUNCH_CHECK();
    const i64 bad = flag.read();
    if (bad >= 0) return bad;
  }
  if (rows * n <= 0) return -1;
  sort_bwd_kernel<<<grid_1d(rows, kThreads, kMaxBlocks), kThreads, 0, st>>>(dx, dy, indices, rows,
                                                                            n, k);
  FN_CUDA_LAUNCH_CHECK();
  return -1;
}

}  // namespace fusednet::cuda
