// optimizer.h — multi-tensor optimizer steps and gradient-clipping helpers (Keras 3 formulas).
//
// One call updates every parameter tensor: the arguments are parallel arrays of raw pointers
// (one entry per tensor) plus the tensors' element counts. All updates are elementwise and in
// place. Optional state (velocities, vhat, average gradients) is a nullptr array when absent.
// Argument order: outputs/in-place state, inputs, sizes, hyper-parameters.
//
// Pruning masks (`masks`, after grads): nullptr = every tensor dense; else masks[t] is nullptr
// (tensor t dense) or a float32 0/1 array of tensor t's size. A masked tensor is updated by the
// same expressions, then in the same loop every entry with mask == 0 gets p = 0 and all of its
// optimizer state (m, v, vhat, velocity, momentum, average grad, accumulator) = 0; entries with
// mask != 0 keep the dense result bit for bit. A mask must not overlap the arrays written.
#pragma once
#include "common/common.h"

namespace fusednet::cpu {

struct TensorList {
  int count = 0;
  const i64* sizes = nullptr;  // elements per tensor
};

// Keras 3 Adam / AdamW (weight_decay > 0: p -= lr*wd*p first, decoupled).
//   alpha = lr*sqrt(1-b2^t)/(1-b1^t); m += (g-m)(1-b1); v += (g²-v)(1-b2);
//   amsgrad: vhat = max(vhat, v), v_used = vhat;  p -= m*alpha / (sqrt(v_used) + eps)
void adam_step(float* const* params, float* const* m, float* const* v, float* const* vhat,
               const float* const* grads, const float* const* masks, TensorList tl, double lr,
               double beta1, double beta2, double eps, i64 step, double weight_decay);

// Keras 3 SGD: momentum == 0: p -= lr*g; else m = momentum*m - lr*g and
// p += m (classic) or p += momentum*m - lr*g (nesterov). velocities may be nullptr iff momentum == 0.
void sgd_step(float* const* params, float* const* velocities, const float* const* grads,
              const float* const* masks, TensorList tl, double lr, double momentum, bool nesterov,
              double weight_decay);

// Keras 3 RMSprop: v = rho v + (1-rho) g²; centered (avg != nullptr): a = rho a + (1-rho) g,
// denom = v - a² + eps, else denom = v + eps; inc = lr g / sqrt(denom);
// momentum > 0 (moms != nullptr): mom = momentum*mom + inc, p -= mom; else p -= inc.
void rmsprop_step(float* const* params, float* const* velocities, float* const* moms,
                  float* const* avg_grads, const float* const* grads, const float* const* masks,
                  TensorList tl, double lr, double rho, double momentum, double eps, double weight_decay);

// Keras 3 Adagrad: acc += g²; p -= lr g / sqrt(acc + eps).
void adagrad_step(float* const* params, float* const* accumulators, const float* const* grads,
                  const float* const* masks, TensorList tl, double lr, double eps, double weight_decay);

// sqrt(Σ_tensors Σ x²), accumulated in double over fixed blocks in a fixed order: the result is
// bit-identical for any thread count.
double global_norm(const float* const* arrays, TensorList tl);
// Per-tensor L2 norms (same determinism), written to norms[count].
void tensor_norms(double* norms, const float* const* arrays, TensorList tl);
void scale_inplace(float* const* arrays, TensorList tl, double factor);
void clip_by_value_inplace(float* const* arrays, TensorList tl, double clip);
// Keras clipnorm: each tensor x with ||x|| > max_norm becomes x * max_norm/||x||.
void clip_by_norm_inplace(float* const* arrays, TensorList tl, double max_norm);

}  // namespace fusednet::cpu
