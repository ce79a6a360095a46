// elementwise.h — CPU broadcasting binary/unary maths, reductions and layout copies.
//
// All kernels take raw pointers into C-contiguous buffers; shapes and strides are in ELEMENTS.
// Broadcasting is expressed by the caller as per-input strides over the output shape with 0 on
// broadcast dimensions (NumPy semantics); the kernel coalesces dimensions and picks a fast path.
// Outputs may alias an input exactly (same start, same shape): every loop reads element i of the
// aliased input before writing element i of the output. Results never depend on the thread count.
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/common.h"

namespace fusednet::cpu {

constexpr int kMaxDims = 8;

enum class BinOp : int { Add, Sub, Mul, Div, Maximum, Minimum, Pow, Equal, NotEqual, Greater,
                         GreaterEqual, Less, LessEqual };
enum class UnOp : int { Neg, Exp, Log, Sqrt, Rsqrt, Square, Abs, Sign, Reciprocal, Sin, Cos, Floor,
                        Round };
enum class RedOp : int { Sum, Mean, Max, Min, Prod };

// c[i] = a[i . astride] op b[i . bstride] over `shape` (ndim <= kMaxDims).
void binary(float* c, const float* a, const float* b, BinOp op, int ndim, const i64* shape,
            const i64* astride, const i64* bstride);
void unary(float* y, const float* x, i64 n, UnOp op);
void clip(float* y, const float* x, i64 n, float lo, float hi);
void scale(float* y, const float* x, i64 n, float alpha);
void axpy(float* y, const float* x, i64 n, float alpha);  // y += alpha * x
// y[i] = cond[i] != 0 ? a[i] : b[i] (a select, not arithmetic: inf/NaN in the branch not taken
// never reach y; a NaN condition counts as true, like bool(nan) in Python).
void where(float* y, const float* cond, const float* a, const float* b, i64 n);

// y = reduce_op over the dimensions with reduced[d] = true (y holds the kept dims, in order).
// Sums/means/products accumulate in double; max/min propagate NaN. Max/min over an empty
// reduction are the caller's error to raise; sum/prod/mean of nothing give 0 / 1 / NaN.
void reduce(float* y, const float* x, RedOp op, int ndim, const i64* shape, const bool* reduced);

// y = x.transpose(perm) for 4- or 8-byte elements.
void transpose(void* y, const void* x, size_t itemsize, int ndim, const i64* shape, const int* perm);

// Row gathers/scatters. Return -1 on success or the position in idx of the first bad index
// (idx < 0 or idx >= nrows); nothing is written in that case. IdxT is int32_t or int64_t.
template <class IdxT>
i64 take_rows(void* y, const void* x, const IdxT* idx, i64 nidx, i64 nrows, size_t row_bytes);
template <class IdxT>
i64 scatter_add_rows(float* dx, const float* dy, const IdxT* idx, i64 nidx, i64 nrows, i64 row);
template <class IdxT>
i64 one_hot(float* y, const IdxT* idx, i64 n, i64 num_classes);

// Copies: out is [outer, sum_k widths[k]] bytes; input k is [outer, widths[k]] bytes.
void concat(void* y, const void* const* xs, const size_t* widths, int k, i64 outer);

// dtype codes: 0 float32, 1 int32, 2 int64 (fusednet::DType). float -> int truncates toward zero,
// saturates at the integer range and maps NaN to 0 (C++ would be undefined there).
void cast(void* y, int ydtype, const void* x, int xdtype, i64 n);

// y[o, j] = first index r of the maximum of x[o, r, j] over r < n (NaN counts as the maximum).
void argmax(int64_t* y, const float* x, i64 outer, i64 n, i64 inner);

}  // namespace fusednet::cpu
