// loss.h — CPU loss kernels: per-sample loss and the (already scaled) gradient in one pass.
//
// Layout: every input is viewed as rows x C (C = last dimension, rows = product of the others;
// the binding maps a 1-D [N] input to [N, 1]). loss[r] is the per-row loss (Keras: mean over the
// last axis for elementwise losses, sum over classes for cross-entropies). grad has the input's
// shape and already carries grad_scale (Python passes 1/N for mean reduction). grad == nullptr
// means "loss only". Argument order: outputs, inputs, sizes, parameters.
#pragma once
#include "common/common.h"

namespace fusednet::cpu {

// Softmax + cross-entropy fused. labels: int32/int64 class ids [rows] (caller has range-checked
// them) or dense float targets [rows, C]. Targets are smoothed t = t*(1-ls) + ls/C.
// loss = Σt·lse - Σ t·x; dlogits = grad_scale * (softmax * Σt - t)  (= softmax - t for Σt = 1).
void softmax_xent_sparse_i32(float* loss, float* dlogits, const float* logits, const int32_t* labels,
                             i64 rows, i64 C, float label_smoothing, float grad_scale);
void softmax_xent_sparse_i64(float* loss, float* dlogits, const float* logits, const int64_t* labels,
                             i64 rows, i64 C, float label_smoothing, float grad_scale);
void softmax_xent_dense(float* loss, float* dlogits, const float* logits, const float* targets,
                        i64 rows, i64 C, float label_smoothing, float grad_scale);

// Keras categorical_crossentropy on probabilities: q = p / Σp, c = clip(q, 1e-7, 1-1e-7),
// loss = -Σ t log c; gradient w.r.t. the unnormalised p. Dense targets only (smoothed as above).
void categorical_xent_probs(float* loss, float* dprobs, const float* probs, const float* targets,
                            i64 rows, i64 C, float label_smoothing, float grad_scale);

enum class PointLoss : int {
  SigmoidBCE = 0,  // param = label smoothing (t = t*(1-ls) + 0.5*ls)
  BCEProbs = 1,    // param = label smoothing
  MSE = 2,
  MAE = 3,
  Huber = 4,       // param = delta
};

// Elementwise losses, per-row mean over C; grad = grad_scale * dℓ/dpred / C.
void pointwise_loss(PointLoss kind, float* loss, float* dpred, const float* pred,
                    const float* target, i64 rows, i64 C, float param, float grad_scale);

}  // namespace fusednet::cpu
