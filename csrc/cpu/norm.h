// norm.h — BatchNormalization (channels last) and LayerNormalization (last axis), fwd + bwd.
//
// BatchNorm, x viewed as [M, C] (every axis but the last is a batch axis):
//   training:  mean_c = Σ_r x/M,  var_c = Σ_r (x-mean)²/M (biased, Keras 3 for both the
//              normalisation and the moving variance), inv_c = 1/sqrt(var_c + eps)
//              y = gamma·(x-mean)·inv + beta
//              moving_mean = moving_mean·momentum + mean·(1-momentum)   (same for moving_var, var)
//   inference: same y with the moving statistics.
//   backward (training): x̂ = (x-mean)·inv, dbeta = Σ_r dy, dgamma = Σ_r dy·x̂,
//              dx = gamma·inv·(dy - dbeta/M - x̂·dgamma/M);  (inference: dx = gamma·inv·dy)
// LayerNorm, x viewed as [M, D], per row: mean, biased var, inv = 1/sqrt(var+eps),
//   y = gamma·x̂ + beta;  dx = inv·(g - mean(g) - x̂·mean(g·x̂)) with g = dy·gamma;
//   dgamma = Σ_r dy·x̂, dbeta = Σ_r dy.
// gamma / beta may be null (Keras scale=False / center=False): 1 and 0.
//
// Column reductions over M use a fixed row partition (blocks of a shape-only size, float partials
// over 64 rows flushed into double block sums, blocks combined in order), so results are
// bit-identical for any thread count. Row-wise work (normalise, dx, LayerNorm stats) is split
// over rows freely.
#pragma once
#include "common/common.h"

namespace fusednet::cpu {

void batch_norm_forward_train(float* Y, float* mean, float* inv_std, float* moving_mean, float* moving_var,
                              const float* X, const float* gamma, const float* beta, i64 M, i64 C,
                              float momentum, float eps);
void batch_norm_forward_infer(float* Y, const float* X, const float* gamma, const float* beta,
                              const float* moving_mean, const float* moving_var, i64 M, i64 C, float eps);
// dgamma / dbeta may be null (not wanted). training=false: mean/inv_std are the moving statistics.
void batch_norm_backward(float* dX, float* dgamma, float* dbeta, const float* dY, const float* X,
                         const float* gamma, const float* mean, const float* inv_std, i64 M, i64 C,
                         bool training);
// The pieces of the two above, for synchronized BatchNorm (sums allreduced between them; Mg = the
// global row count, M the local one). batch_norm_sums: out[c] = Σ_r x (center null) or
// Σ_r (x-center)². batch_norm_mean: mean = float(s1/Mg). backward_sums: s[c] = Σ_r dy,
// s[C+c] = Σ_r dy·x̂ (local: dgamma/dbeta come from s); backward_finish takes the dx coefficients
// from sg·rescale (the global sums; rescale undoes the rank's loss-scale, 1 = plain).
void batch_norm_sums(double* out, const float* X, const float* center, i64 M, i64 C);
void batch_norm_mean(float* mean, const double* s1, i64 Mg, i64 C);
void batch_norm_forward_finish(float* Y, float* inv_std, float* moving_mean, float* moving_var, const float* X,
                               const float* gamma, const float* beta, const float* mean, const double* s2,
                               i64 M, i64 C, i64 Mg, float momentum, float eps);
void batch_norm_backward_sums(double* s, const float* dY, const float* X, const float* mean,
                              const float* inv_std, i64 M, i64 C);
void batch_norm_backward_finish(float* dX, float* dgamma, float* dbeta, const float* dY, const float* X,
                                const float* gamma, const float* mean, const float* inv_std, const double* s,
                                const double* sg, double rescale, i64 M, i64 C, i64 Mg, bool training);
// w [R, O] (any leading shape flattened, output channels last), b [O] or null.
void fold_batchnorm(float* w_out, float* b_out, const float* w, const float* b, const float* gamma,
                    const float* beta, const float* mean, const float* var, i64 R, i64 O, float eps);

void layer_norm_forward(float* Y, float* mean, float* inv_std, const float* X, const float* gamma,
                        const float* beta, i64 M, i64 D, float eps);
void layer_norm_backward(float* dX, float* dgamma, float* dbeta, const float* dY, const float* X,
                         const float* gamma, const float* mean, const float* inv_std, i64 M, i64 D);

}  // namespace fusednet::cpu
