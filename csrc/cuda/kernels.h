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
#include "cpu/loss.h"        // PointLoss
#include "cpu/optimizer.h"   // TensorList

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
               const float* const* grads, TensorList tl, double lr, double beta1, double beta2,
               double eps, i64 step, double weight_decay);
void sgd_step(float* const* params, float* const* velocities, const float* const* grads,
              TensorList tl, double lr, double momentum, bool nesterov, double weight_decay);
void rmsprop_step(float* const* params, float* const* velocities, float* const* moms,
                  float* const* avg_grads, const float* const* grads, TensorList tl, double lr,
                  double rho, double momentum, double eps, double weight_decay);
void adagrad_step(float* const* params, float* const* accumulators, const float* const* grads,
                  TensorList tl, double lr, double eps, double weight_decay);
double global_norm(const float* const* arrays, TensorList tl);
void tensor_norms(double* norms, const float* const* arrays, TensorList tl);
void scale_inplace(float* const* arrays, TensorList tl, double factor);
void clip_by_value_inplace(float* const* arrays, TensorList tl, double clip);
void clip_by_norm_inplace(float* const* arrays, TensorList tl, double max_norm);

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

}  // namespace fusednet::cuda
