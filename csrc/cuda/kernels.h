// kernels.h — host-side launchers of the CUDA op families (plain C++: includable without nvcc).
//
// Every launcher mirrors its CPU twin in csrc/cpu/<family>.h: same name, same raw-pointer
// signature (outputs, inputs, sizes, parameters), so a binding's FN_DISPATCH just swaps the
// namespace `cpu::` for `cuda::`. All pointers are device pointers on the current device; every
// launcher enqueues on cuda::current_stream() and returns without synchronising (the Array copy
// back to the host synchronises). Launchers validate sizes and throw ValueError; CUDA failures
// throw std::runtime_error via FN_CUDA_CHECK.
//
// Only compiled when FUSEDNET_WITH_CUDA is defined.
#pragma once
#include <cstdint>
#include <string>

#include "common/common.h"
#include "cpu/activation.h"  // ActKind
#include "cpu/conv.h"        // ConvGeom
#include "cpu/elementwise.h" // BinOp, UnOp, RedOp
#include "cpu/norm.h"
#include "cpu/pool.h"        // PoolGeom
#include "cpu/loss.h"        // PointLoss
#include "cpu/optimizer.h"   // TensorList
#include "cpu/param_act.h"   // PreluMap
#include "cpu/upsample.h"    // Interp, bilinear taps

namespace fusednet::cuda {

// ------------------------------------------------------------------ gemm (gemm.cu)
// C[M,N] = act(beta*C + op(A)·op(B) + bias[N]); see csrc/cpu/gemm.h for the layout conventions.
// beta == 0 never reads C (C may hold garbage/NaN). C must not overlap A, B or bias.
void sgemm(float* C, const float* A, const float* B, const float* bias, i64 M, i64 N, i64 K,
           bool trans_a, bool trans_b, i64 lda, i64 ldb, i64 ldc, float beta = 0.f,
           Act act = Act::None);
inline void sgemm(float* C, const float* A, const float* B, const float* bias, i64 M, i64 N, i64 K,
                  bool trans_a = false, bool trans_b = false, float beta = 0.f, Act act = Act::None) {
  sgemm(C, A, B, bias, M, N, K, trans_a, trans_b, trans_a ? M : K, trans_b ? K : N, N, beta, act);
}

// Strided-batched GEMM (no bias/activation): C + b*sc = beta*C[b] + op(A + b*sa)·op(B + b*sb)
// for b < batch; sa or sb 0 broadcasts that operand. Same kernels and rounding as sgemm.
void sgemm_strided_batched(float* C, const float* A, const float* B, i64 batch, i64 M, i64 N, i64 K,
                           bool trans_a, bool trans_b, i64 lda, i64 ldb, i64 ldc, i64 sa, i64 sb,
                           i64 sc, float beta = 0.f);

// Matmul precision, torch-style: "highest" (default) = exact FP32 FFMA path; "high" = TF32 tensor
// cores (mma.sync m16n8k8, 10-bit mantissa inputs, FP32 accumulation) on sm_80+; "medium" is
// accepted as an alias of "high". Process-global; read on every sgemm call.
void set_matmul_precision(const std::string& p);  // throws ValueError on an unknown name
std::string get_matmul_precision();

// Dense backward for Y = act(X·W + b), X [M,K], W [K,N], Y/dY [M,N]:
//   dZ = dY * act'(Y)   (dZ_scratch [M,N]; unused and may be null when act == None: dZ = dY)
//   dW = Xᵀ·dZ [K,N];  db = Σ_rows dZ [N] (may be null);  dX = dZ·Wᵀ [M,K] (may be null).
// Deterministic: no atomics; db is a fixed-order two-level column reduction.
void dense_backward(float* dX, float* dW, float* db, float* dZ_scratch, const float* dY,
                    const float* X, const float* W, const float* Y, i64 M, i64 K, i64 N, Act act);
// out[c] = Σ_r x[r, c] for x [rows, cols] (fixed summation order, no atomics).
void column_sum(float* out, const float* x, i64 rows, i64 cols);

// ------------------------------------------------------------------ activation (activation.cu)
// Same contracts as csrc/cpu/activation.h (y may alias x, dx may alias dy).
using cpu::ActKind;
void activation_forward(float* y, const float* x, i64 n, ActKind kind, float alpha);
void activation_backward(float* dx, const float* dy, const float* x, const float* y, i64 n,
                         ActKind kind, float alpha);
void softmax_forward(float* y, const float* x, i64 rows, i64 cols);
void log_softmax_forward(float* y, const float* x, i64 rows, i64 cols);
void softmax_backward(float* dx, const float* dy, const float* y, i64 rows, i64 cols);
void log_softmax_backward(float* dx, const float* dy, const float* y, i64 rows, i64 cols);

// ------------------------------------------------------------------ loss (loss.cu)
// Same contracts as csrc/cpu/loss.h. Sparse labels must already be range-checked by the caller
// (an out-of-range label yields NaN for that row, never an out-of-bounds read).
void softmax_xent_sparse_i32(float* loss, float* dlogits, const float* logits, const int32_t* labels,
                             i64 rows, i64 C, float label_smoothing, float grad_scale);
void softmax_xent_sparse_i64(float* loss, float* dlogits, const float* logits, const int64_t* labels,
                             i64 rows, i64 C, float label_smoothing, float grad_scale);
void softmax_xent_dense(float* loss, float* dlogits, const float* logits, const float* targets,
                        i64 rows, i64 C, float label_smoothing, float grad_scale);
void categorical_xent_probs(float* loss, float* dprobs, const float* probs, const float* targets,
                            i64 rows, i64 C, float label_smoothing, float grad_scale);
void pointwise_loss(cpu::PointLoss kind, float* loss, float* dpred, const float* pred,
                    const float* target, i64 rows, i64 C, float param, float grad_scale);

// ------------------------------------------------------------------ optimizer (optimizer.cu)
// Same contracts as csrc/cpu/optimizer.h: the pointer arrays are HOST arrays holding DEVICE
// pointers (one per tensor). One kernel launch per step for all tensors. global_norm /
// tensor_norms synchronise (they return host values); clip_by_norm_ therefore does too.
using cpu::TensorList;
void adam_step(float* const* params, float* const* m, float* const* v, float* const* vhat,
               const float* const* grads, const float* const* masks, TensorList tl, double lr,
               double beta1, double beta2, double eps, i64 step, double weight_decay);
void sgd_step(float* const* params, float* const* velocities, const float* const* grads,
              const float* const* masks, TensorList tl, double lr, double momentum, bool nesterov,
              double weight_decay);
void rmsprop_step(float* const* params, float* const* velocities, float* const* moms,
                  float* const* avg_grads, const float* const* grads, const float* const* masks,
                  TensorList tl, double lr, double rho, double momentum, double eps, double weight_decay);
void adagrad_step(float* const* params, float* const* accumulators, const float* const* grads,
                  const float* const* masks, TensorList tl, double lr, double eps, double weight_decay);
double global_norm(const float* const* arrays, TensorList tl);
void tensor_norms(double* norms, const float* const* arrays, TensorList tl);
void scale_inplace(float* const* arrays, TensorList tl, double factor);
void clip_by_value_inplace(float* const* arrays, TensorList tl, double clip);
void clip_by_norm_inplace(float* const* arrays, TensorList tl, double max_norm);

// ------------------------------------------------------------------ prune (prune.cu)
// Same contract as csrc/cpu/prune.h (exact radix select; ties kept; k == 0: mask 0, +Inf).
// Synchronises (4 small histogram copies to the host); returns the threshold.
float magnitude_mask(float* mask, const float* W, i64 n, i64 k);
void block_magnitude(float* P, const float* W, i64 R, i64 C, i64 bh, i64 bw, bool use_max);
void block_mask_expand(float* mask, const float* BM, i64 R, i64 C, i64 bh, i64 bw);

// ------------------------------------------------------------------ random (random.cu)
// Philox4x32-10 streams per csrc/common/philox.h: element i of (seed, offset) is bit-identical to
// the CPU kernel's element i. n elements, contiguous float32 output.
void random_uniform(float* out, i64 n, uint64_t seed, uint64_t offset, float low, float high);
void random_normal(float* out, i64 n, uint64_t seed, uint64_t offset, float mean, float stddev);
// |z| > 2 is redrawn from the stream (seed, offset + k·2^32), k = 1, 2, …; 0 after 64 (random.cu).
void random_truncated_normal(float* out, i64 n, uint64_t seed, uint64_t offset, float mean,
                             float stddev);
// mask[i] = ((u>>8) >= ceil(rate·2^24)) ? float(1/(1-rate)) : 0 (mask may be null); y = x*mask.
void dropout_forward(float* y, float* mask, const float* x, i64 n, double rate, uint64_t seed,
                     uint64_t offset);
// permutation: no device kernel — it is a sort by Philox keys, computed on the host by
// cpu::random_permutation (the `permutation` binding returns a CPU int64 Array; move it with .to()).

// ------------------------------------------------------------------ elementwise (elementwise.cu)
// Same contracts as csrc/cpu/elementwise.h. Index-taking ops (take_rows, scatter_add_rows,
// one_hot) validate every index and return -1 or the position of the first bad one (nothing
// meaningful is written then; the binding raises); they SYNCHRONISE the stream to read that
// answer back. Everything else is asynchronous.
using cpu::BinOp;
using cpu::RedOp;
using cpu::UnOp;
void binary(float* c, const float* a, const float* b, BinOp op, int ndim, const i64* shape,
            const i64* astride, const i64* bstride);
void unary(float* y, const float* x, i64 n, UnOp op);
void clip(float* y, const float* x, i64 n, float lo, float hi);
void scale(float* y, const float* x, i64 n, float alpha);
void axpy(float* y, const float* x, i64 n, float alpha);  // y += alpha * x
void where(float* y, const float* cond, const float* a, const float* b, i64 n);  // cond != 0 ? a : b
// Deterministic: fixed partitions that depend on the shape only; sums/means/products in double.
void reduce(float* y, const float* x, RedOp op, int ndim, const i64* shape, const bool* reduced);
void transpose(void* y, const void* x, size_t itemsize, int ndim, const i64* shape, const int* perm);
// dst row r (width_bytes, a multiple of 4) = src row r, for rows with the given pitches (bytes).
void copy_rows(void* dst, i64 dst_pitch, const void* src, i64 src_pitch, i64 width_bytes, i64 rows);
// xs is a HOST array of k DEVICE pointers; widths in bytes (multiples of 4).
void concat(void* y, const void* const* xs, const size_t* widths, int k, i64 outer);
template <class IdxT>
i64 take_rows(void* y, const void* x, const IdxT* idx, i64 nidx, i64 nrows, size_t row_bytes);
// Deterministic without float atomics: the index list is copied to the host, validated and turned
// into a stable CSR (rows -> positions in index order); one thread per output element then sums
// its row's contributions in index order — the CPU's order.
template <class IdxT>
i64 scatter_add_rows(float* dx, const float* dy, const IdxT* idx, i64 nidx, i64 nrows, i64 row);
template <class IdxT>
i64 one_hot(float* y, const IdxT* idx, i64 n, i64 num_classes);
void cast(void* y, int ydtype, const void* x, int xdtype, i64 n);
void argmax(int64_t* y, const float* x, i64 outer, i64 n, i64 inner);

// ------------------------------------------------------------------ conv (conv.cu)
// Same contracts as csrc/cpu/conv.h. Forward: im2col chunks (scratch from the caching allocator,
// at most kConvChunkBytes each) + sgemm with the bias/activation epilogue. Backward: dZ, then per
// chunk of whole images dW += colᵀ·dZ (fixed chunk order, beta = 1), dcol = dZ·Wᵀ and a gather
// col2im (each dX element sums its (i, j) taps in a fixed order: no atomics); db = column_sum(dZ).
using cpu::ConvGeom;
void conv2d_forward(float* Y, const float* X, const float* Wt, const float* bias, const ConvGeom& g,
                    Act act);
void conv2d_backward(float* dX, float* dW, float* db, const float* dY, const float* X,
                     const float* Wt, const float* Y, const ConvGeom& g, Act act);
// dX only / transposed convolution (csrc/cpu/conv.h): chunks of whole images, dcol = dZ·Wᵀ and
// the gather col2im; the transpose's bias + activation is one more pass, its backward the forward
// conv (dX), the conv's dW and column_sum (db).
void conv2d_backward_data(float* dX, const float* dZ, const float* Wt, const ConvGeom& g);
void conv2d_transpose_forward(float* Y, const float* X, const float* Wt, const float* bias, const ConvGeom& g,
                              Act act);
void conv2d_transpose_backward(float* dX, float* dW, float* db, const float* dY, const float* X,
                               const float* Wt, const float* Y, const ConvGeom& g, Act act);
// Conv2D → MaxPooling2D pair (csrc/cpu/conv.h). On the GPU the pair is the two launchers with the
// conv output in scratch: device bandwidth makes the round trip cheap, and the results are the
// same as the separate calls. The backward synchronises (it validates argmax, as the pool's does).
void conv2d_maxpool_forward(float* P, int32_t* idx, const float* X, const float* Wt, const float* bias,
                            const ConvGeom& g, Act act, const cpu::PoolGeom& pg);
void conv2d_maxpool_backward(float* dX, float* dW, float* db, const float* dP, const int32_t* idx,
                             const float* relu_y, const float* X, const float* Wt, const ConvGeom& g,
                             const cpu::PoolGeom& pg);

// ------------------------------------------------------------------ depthwise (depthwise.cu)
// Same contracts as csrc/cpu/depthwise.h (g.O = g.C·dm). Forward: one thread per output element.
// Backward: dX is a gather (one thread per dX element, taps in (i, j) order); dW is two passes,
// per-segment partials over fixed, shape-only pixel segments, then a sum over segments in order;
// db = column_sum(dZ). No float atomics: bitwise reproducible run to run.
void depthwise_conv2d_forward(float* Y, const float* X, const float* Wt, const float* bias,
                              const ConvGeom& g, i64 dm, Act act);
void depthwise_conv2d_backward(float* dX, float* dW, float* db, const float* dY, const float* X,
                               const float* Wt, const float* Y, const ConvGeom& g, i64 dm, Act act);

// ------------------------------------------------------------------ upsample (upsample.cu)
// Same contracts as csrc/cpu/upsample.h: one thread per output (forward) / per dX element
// (backward, a gather in (i, j) order with the CPU's tap formulas).
void upsample2d_forward(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, i64 sh, i64 sw, cpu::Interp interp);
void upsample2d_backward(float* dX, const float* dY, i64 N, i64 H, i64 W, i64 C, i64 sh, i64 sw,
                         cpu::Interp interp);

// ------------------------------------------------------------------ param_act (param_act.cu)
// Same contracts as csrc/cpu/param_act.h: elementwise kernels; dAlpha via cuda::reduce.
void prelu_forward(float* Y, const float* X, const float* alpha, i64 N, const cpu::PreluMap& m);
void prelu_backward(float* dX, float* dAlpha, const float* dY, const float* X, const float* alpha, i64 N,
                    const cpu::PreluMap& m);
void relu_ext_forward(float* Y, const float* X, i64 n, float threshold, bool has_max, float max_value,
                      float negative_slope);
void relu_ext_backward(float* dX, const float* dY, const float* X, i64 n, float threshold, bool has_max,
                       float max_value, float negative_slope);

// ------------------------------------------------------------------ pool (pool.cu)
// Same contracts as csrc/cpu/pool.h (same argmax convention: h*W + w, first on ties, NaN wins).
// Backward of max pooling is a gather: each dX element sums dY over the windows that contain it
// and whose argmax names it (fixed order, no atomics). An argmax that is inside [0, H*W) but not
// inside its window is therefore ignored here, where the CPU scatter would add it — forward never
// produces one. The *_backward functions returning bool synchronise (they validate argmax).
using cpu::PoolGeom;
void max_pool2d_forward(float* Y, int32_t* idx, const float* X, const PoolGeom& g);
bool max_pool2d_backward(float* dX, const float* dY, const int32_t* idx, const PoolGeom& g,
                         const float* relu_y = nullptr);
void avg_pool2d_forward(float* Y, const float* X, const PoolGeom& g);
void avg_pool2d_backward(float* dX, const float* dY, const PoolGeom& g);
void global_avg_pool_forward(float* Y, const float* X, i64 N, i64 HW, i64 C);
void global_avg_pool_backward(float* dX, const float* dY, i64 N, i64 HW, i64 C);
void global_max_pool_forward(float* Y, int32_t* idx, const float* X, i64 N, i64 HW, i64 C);
bool global_max_pool_backward(float* dX, const float* dY, const int32_t* idx, i64 N, i64 HW, i64 C);

// ------------------------------------------------------------------ norm (norm.cu)
// Same contracts as csrc/cpu/norm.h. Column reductions over M use a fixed row partition (shape
// only) with double partials combined in order: bitwise reproducible run to run.
void batch_norm_forward_train(float* Y, float* mean, float* inv_std, float* moving_mean, float* moving_var,
                              const float* X, const float* gamma, const float* beta, i64 M, i64 C,
                              float momentum, float eps);
void batch_norm_forward_infer(float* Y, const float* X, const float* gamma, const float* beta,
                              const float* moving_mean, const float* moving_var, i64 M, i64 C, float eps);
void batch_norm_backward(float* dX, float* dgamma, float* dbeta, const float* dY, const float* X,
                         const float* gamma, const float* mean, const float* inv_std, i64 M, i64 C,
                         bool training);
void fold_batchnorm(float* w_out, float* b_out, const float* w, const float* b, const float* gamma,
                    const float* beta, const float* mean, const float* var, i64 R, i64 O, float eps);
void layer_norm_forward(float* Y, float* mean, float* inv_std, const float* X, const float* gamma,
                        const float* beta, i64 M, i64 D, float eps);
void layer_norm_backward(float* dX, float* dgamma, float* dbeta, const float* dY, const float* X,
                         const float* gamma, const float* mean, const float* inv_std, i64 M, i64 D);

// ------------------------------------------------------------------ sort (sort.cu)
// Same contracts as csrc/cpu/sort.h (rows longer than 4096 are sorted on the host).
void sort_rows(float* values, int64_t* indices, const float* x, i64 rows, i64 n, i64 k,
               bool descending);
i64 sort_backward(float* dx, const float* dy, const int64_t* indices, i64 rows, i64 n, i64 k);

// ------------------------------------------------------------------ scan (scan.cu)
// Same contracts as csrc/cpu/scan.h: one thread per line, double accumulation.
void cumsum(float* y, const float* x, i64 outer, i64 n, i64 inner, bool reverse);
void cumprod(float* y, const float* x, i64 outer, i64 n, i64 inner);
void cumprod_backward(float* dx, const float* dy, const float* x, const float* y, i64 outer, i64 n,
                      i64 inner);

// ------------------------------------------------------------------ special (special.cu)
// Same contracts as csrc/cpu/special.h.
void erf_forward(float* y, const float* x, i64 n);
void erf_backward(float* dx, const float* dy, const float* x, i64 n);
void erfinv_forward(float* y, const float* x, i64 n);
void erfinv_backward(float* dx, const float* dy, const float* y, i64 n);

}  // namespace fusednet::cuda
