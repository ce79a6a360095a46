// norm.cpp — BatchNormalization / LayerNormalization kernels (formulas and layout in norm.h).
//
// BatchNorm is memory-bound: statistics take two passes (mean, then centred sum of squares, which
// is stabler than E[x²]-E[x]² for large-mean activations), normalisation one more, backward two.
// Inner loops run over the C contiguous channels of a row (vectorised); the reductions over rows
// go through col_reduce below, whose partition depends on M only (deterministic).
#include "cpu/norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/ftz_scope.h"
#include "cpu/runtime.h"
#include "cpu/parallel.h"

namespace fusednet::cpu {
namespace {

constexpr i64 kSub = 64;  // rows accumulated in float before flushing to double

// out[a*C + c] = Σ_r contribution a of row r, channel c, for a < NA.
// RowFn(r, float* acc) adds row r's NA contributions into acc[NA*C].
template <int NA, class RowFn>
void col_reduce(double* out, i64 M, i64 C, RowFn row_fn) {
  const i64 NB = std::max<i64>(1, std::min<i64>(64, (M + 1023) / 1024));  // shape-only partition
  std::vector<double> part(static_cast<size_t>(NB * NA * C), 0.0);
  parallel_for_dynamic_if(NB > 1 && num_threads() > 1, NB, num_threads(), [&](i64 b) {
    set_ftz();
    const i64 r0 = b * M / NB, r1 = (b + 1) * M / NB;
    std::vector<float> acc(static_cast<size_t>(NA * C));
    double* pb = part.data() + b * NA * C;
    for (i64 s = r0; s < r1; s += kSub) {
      std::fill(acc.begin(), acc.end(), 0.f);
      const i64 se = std::min(r1, s + kSub);
      for (i64 r = s; r < se; ++r) row_fn(r, acc.data());
      for (i64 k = 0; k < NA * C; ++k) pb[k] += acc[k];
    }
  });
  std::fill(out, out + NA * C, 0.0);
  for (i64 b = 0; b < NB; ++b)
    for (i64 k = 0; k < NA * C; ++k) out[k] += part[b * NA * C + k];
}

inline bool par_rows(i64 M, i64 D) { return num_threads() > 1 && M > 1 && M * D > 32768; }

// y = x*scale + shift, per channel
void affine_rows(float* Y, const float* X, const float* scale, const float* shift, i64 M, i64 C) {
  parallel_for_if(par_rows(M, C), M, num_threads(), [&](i64 r) {
    const float* x = X + r * C;
    float* y = Y + r * C;
    for (i64 c = 0; c < C; ++c) y[c] = x[c] * scale[c] + shift[c];
  });
}

// Deterministic float sum of n values with 16 lanes (vectorisable), combined in double.
inline double lane_sum(const float* v, i64 n) {
  float l[16] = {0};
  i64 k = 0;
  for (; k + 16 <= n; k += 16)
    for (int j = 0; j < 16; ++j) l[j] += v[k + j];
  double s = 0;
  for (int j = 0; j < 16; ++j) s += l[j];
  for (; k < n; ++k) s += v[k];
  return s;
}

}  // namespace

// ------------------------------------------------------------------ BatchNorm
// The training forward is sums -> mean -> centred sums -> finish, exactly the pieces synchronized
// BatchNorm runs with an allreduce between them (so world size 1 and the fused call agree bitwise).
void batch_norm_sums(double* out, const float* X, const float* center, i64 M, i64 C) {
  FtzScope ftz_scope;
  if (!center) {
    col_reduce<1>(out, M, C, [&](i64 r, float* acc) {
      const float* x = X + r * C;
      for (i64 c = 0; c < C; ++c) acc[c] += x[c];
    });
    return;
  }
  col_reduce<1>(out, M, C, [&](i64 r, float* acc) {
    const float* x = X + r * C;
    for (i64 c = 0; c < C; ++c) {
      const float d = x[c] - center[c];
      acc[c] += d * d;
    }
  });
}

void batch_norm_mean(float* mean, const double* s1, i64 Mg, i64 C) {
  FtzScope ftz_scope;
  for (i64 c = 0; c < C; ++c) mean[c] = Mg ? float(s1[c] / double(Mg)) : 0.f;
}

void batch_norm_forward_finish(float* Y, float* inv_std, float* moving_mean, float* moving_var, const float* X,
                               const float* gamma, const float* beta, const float* mean, const double* s2,
                               i64 M, i64 C, i64 Mg, float momentum, float eps) {
  FtzScope ftz_scope;
  std::vector<float> scale(static_cast<size_t>(C)), shift(static_cast<size_t>(C));
  for (i64 c = 0; c < C; ++c) {
    const double var = Mg ? s2[c] / double(Mg) : 0.0;
    const float inv = float(1.0 / std::sqrt(var + double(eps)));
    inv_std[c] = inv;
    scale[c] = (gamma ? gamma[c] : 1.f) * inv;
    shift[c] = (beta ? beta[c] : 0.f) - mean[c] * scale[c];
    moving_mean[c] = moving_mean[c] * momentum + mean[c] * (1.f - momentum);
    moving_var[c] = moving_var[c] * momentum + float(var) * (1.f - momentum);
  }
  affine_rows(Y, X, scale.data(), shift.data(), M, C);
}

void batch_norm_forward_train(float* Y, float* mean, float* inv_std, float* moving_mean, float* moving_var,
                              const float* X, const float* gamma, const float* beta, i64 M, i64 C,
                              float momentum, float eps) {
  FtzScope ftz_scope;
  std::vector<double> s1(static_cast<size_t>(C)), s2(static_cast<size_t>(C));
  batch_norm_sums(s1.data(), X, nullptr, M, C);
  batch_norm_mean(mean, s1.data(), M, C);
  batch_norm_sums(s2.data(), X, mean, M, C);
  batch_norm_forward_finish(Y, inv_std, moving_mean, moving_var, X, gamma, beta, mean, s2.data(), M, C, M,
                            momentum, eps);
}

void batch_norm_forward_infer(float* Y, const float* X, const float* gamma, const float* beta,
                              const float* moving_mean, const float* moving_var, i64 M, i64 C, float eps) {
  FtzScope ftz_scope;
  std::vector<float> scale(static_cast<size_t>(C)), shift(static_cast<size_t>(C));
  for (i64 c = 0; c < C; ++c) {
    const float inv = float(1.0 / std::sqrt(double(moving_var[c]) + double(eps)));
    scale[c] = (gamma ? gamma[c] : 1.f) * inv;
    shift[c] = (beta ? beta[c] : 0.f) - moving_mean[c] * scale[c];
  }
  affine_rows(Y, X, scale.data(), shift.data(), M, C);
}

void batch_norm_backward_sums(double* s, const float* dY, const float* X, const float* mean,
                              const float* inv_std, i64 M, i64 C) {
  FtzScope ftz_scope;
  col_reduce<2>(s, M, C, [&](i64 r, float* acc) {
    const float* x = X + r * C;
    const float* dy = dY + r * C;
    float* a0 = acc;
    float* a1 = acc + C;
    for (i64 c = 0; c < C; ++c) {
      a0[c] += dy[c];
      a1[c] += dy[c] * (x[c] - mean[c]) * inv_std[c];
    }
  });
}

void batch_norm_backward_finish(float* dX, float* dgamma, float* dbeta, const float* dY, const float* X,
                                const float* gamma, const float* mean, const float* inv_std, const double* s,
                                const double* sg, double rescale, i64 M, i64 C, i64 Mg, bool training) {
  FtzScope ftz_scope;
  // dx = a*dy + b*(x-mean) + k   (per channel), folding x̂ = (x-mean)*inv
  std::vector<float> ka(static_cast<size_t>(C)), kb(static_cast<size_t>(C)), kc(static_cast<size_t>(C));
  for (i64 c = 0; c < C; ++c) {
    const double g = gamma ? gamma[c] : 1.0, inv = inv_std[c];
    if (dbeta) dbeta[c] = float(s[c]);
    if (dgamma) dgamma[c] = float(s[C + c]);
    const double db = sg[c] * rescale, dg = sg[C + c] * rescale;   // rescale 1: exact
    if (training && Mg > 0) {
      const double a = g * inv;
      ka[c] = float(a);
      kb[c] = float(-a * inv * dg / double(Mg));  // coefficient of (x - mean)
      kc[c] = float(-a * db / double(Mg));
    } else {
      ka[c] = float(g * inv);
      kb[c] = 0.f;
      kc[c] = 0.f;
    }
  }
  const float *pa = ka.data(), *pb = kb.data(), *pc = kc.data(), *pm = mean;
  parallel_for_if(par_rows(M, C), M, num_threads(), [&](i64 r) {
    const float* x = X + r * C;
    const float* dy = dY + r * C;
    float* dx = dX + r * C;
    for (i64 c = 0; c < C; ++c) dx[c] = pa[c] * dy[c] + pb[c] * (x[c] - pm[c]) + pc[c];
  });
}

void batch_norm_backward(float* dX, float* dgamma, float* dbeta, const float* dY, const float* X,
                         const float* gamma, const float* mean, const float* inv_std, i64 M, i64 C,
                         bool training) {
  FtzScope ftz_scope;
  std::vector<double> s(static_cast<size_t>(2 * C));
  batch_norm_backward_sums(s.data(), dY, X, mean, inv_std, M, C);
  batch_norm_backward_finish(dX, dgamma, dbeta, dY, X, gamma, mean, inv_std, s.data(), s.data(), 1.0, M, C, M,
                             training);
}

void fold_batchnorm(float* w_out, float* b_out, const float* w, const float* b, const float* gamma,
                    const float* beta, const float* mean, const float* var, i64 R, i64 O, float eps) {
  std::vector<float> s(static_cast<size_t>(O));
  for (i64 o = 0; o < O; ++o) {
    const double sc = (gamma ? gamma[o] : 1.0) / std::sqrt(double(var[o]) + double(eps));
    s[o] = float(sc);
    b_out[o] = float(((b ? b[o] : 0.0) - mean[o]) * sc + (beta ? beta[o] : 0.0));
  }
  for (i64 r = 0; r < R; ++r)
    for (i64 o = 0; o < O; ++o) w_out[r * O + o] = w[r * O + o] * s[o];
}

// ------------------------------------------------------------------ LayerNorm
void layer_norm_forward(float* Y, float* mean, float* inv_std, const float* X, const float* gamma,
                        const float* beta, i64 M, i64 D, float eps) {
  FtzScope ftz_scope;
  parallel_for_if(par_rows(M, D), M, num_threads(), [&](i64 r) {
    set_ftz();
    const float* x = X + r * D;
    float* y = Y + r * D;
    const float mu = D ? float(lane_sum(x, D) / double(D)) : 0.f;
    // centred squares into y (scratch), then sum
    for (i64 j = 0; j < D; ++j) { const float d = x[j] - mu; y[j] = d * d; }
    const double var = D ? lane_sum(y, D) / double(D) : 0.0;
    const float inv = float(1.0 / std::sqrt(var + double(eps)));
    mean[r] = mu;
    inv_std[r] = inv;
    if (gamma && beta) for (i64 j = 0; j < D; ++j) y[j] = (x[j] - mu) * inv * gamma[j] + beta[j];
    else if (gamma)    for (i64 j = 0; j < D; ++j) y[j] = (x[j] - mu) * inv * gamma[j];
    else if (beta)     for (i64 j = 0; j < D; ++j) y[j] = (x[j] - mu) * inv + beta[j];
    else               for (i64 j = 0; j < D; ++j) y[j] = (x[j] - mu) * inv;
  });
}

void layer_norm_backward(float* dX, float* dgamma, float* dbeta, const float* dY, const float* X,
                         const float* gamma, const float* mean, const float* inv_std, i64 M, i64 D) {
  FtzScope ftz_scope;
  if (dgamma || dbeta) {
    std::vector<double> s(static_cast<size_t>(2 * D));
    col_reduce<2>(s.data(), M, D, [&](i64 r, float* acc) {
      const float* x = X + r * D;
      const float* dy = dY + r * D;
      const float mu = mean[r], inv = inv_std[r];
      float* a1 = acc + D;
      for (i64 j = 0; j < D; ++j) {
        acc[j] += dy[j];
        a1[j] += dy[j] * (x[j] - mu) * inv;
      }
    });
    for (i64 j = 0; j < D; ++j) {
      if (dbeta) dbeta[j] = float(s[j]);
      if (dgamma) dgamma[j] = float(s[D + j]);
    }
  }
  parallel_for_if(par_rows(M, D), M, num_threads(), [&](i64 r) {
    set_ftz();
    const float* x = X + r * D;
    const float* dy = dY + r * D;
    float* dx = dX + r * D;
    const float mu = mean[r], inv = inv_std[r];
    // dx temporarily holds g = dy*gamma, then g*x̂
    for (i64 j = 0; j < D; ++j) dx[j] = gamma ? dy[j] * gamma[j] : dy[j];
    const double mg = D ? lane_sum(dx, D) / double(D) : 0.0;
    for (i64 j = 0; j < D; ++j) dx[j] = dx[j] * (x[j] - mu) * inv;
    const double mgx = D ? lane_sum(dx, D) / double(D) : 0.0;
    const float fmg = float(mg), fmgx = float(mgx);
    for (i64 j = 0; j < D; ++j) {
      const float xh = (x[j] - mu) * inv;
      const float g = gamma ? dy[j] * gamma[j] : dy[j];
      dx[j] = inv * (g - fmg - xh * fmgx);
    }
  });
}

}  // namespace fusednet::cpu
