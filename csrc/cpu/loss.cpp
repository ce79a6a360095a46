// loss.cpp — CPU loss kernels (see loss.h for the formulas and layout).
//
// Shape of the kernels: one task per row (sample). A row is read at most three times while it is
// hot in L1 (max, exp-and-sum, gradient), the loss and gradient are produced by the same visit,
// and nothing is allocated: the gradient buffer doubles as scratch for exp(x - max). Row sums are
// accumulated in double so the per-sample loss is accurate to float rounding even for C in the
// thousands and logits of ±1e4 (the loss is formed from (x - max) terms, never from x*t - lse
// differences of large numbers). Rows are independent, so the parallel split (static, over rows,
// only above kParallelMin elements) cannot change any result.
#include "cpu/loss.h"

#include <algorithm>
#include <cmath>

#include "cpu/ftz_scope.h"
#include "cpu/runtime.h"
#include "cpu/parallel.h"

namespace fusednet::cpu {

namespace {

constexpr i64 kParallelMin = 1 << 15;  // elements; below this the fork/join costs more than it saves

template <class F>
void for_rows(i64 rows, i64 C, F&& f) {
  const bool par = rows > 1 && rows * C >= kParallelMin && num_threads() > 1;
  FtzScope guard;  // FTZ/DAZ on both paths so results never depend on the thread count
  set_ftz();
  if (!par) {
    for (i64 r = 0; r < rows; ++r) f(r);
    return;
  }
  parallel_for(rows, num_threads(), [&](i64 r) { f(r); });
}

inline float row_max(const float* x, i64 C) {
  float m = x[0];
  for (i64 j = 1; j < C; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

template <class L>
void softmax_xent_sparse(float* loss, float* dlogits, const float* logits, const L* labels, i64 rows,
                         i64 C, float ls, float scale) {
  const double lsC = double(ls) / double(C);
  for_rows(rows, C, [&](i64 r) {
    const float* x = logits + r * C;
    const float m = row_max(x, C);
    double s = 0.0, sum_xm = 0.0;
    float* g = dlogits ? dlogits + r * C : nullptr;
    for (i64 j = 0; j < C; ++j) {
      const float d = x[j] - m;
      const float e = std::exp(d);
      if (g) g[j] = e;
      s += e;
      sum_xm += d;
    }
    const i64 y = static_cast<i64>(labels[r]);
    const double log_s = std::log(s);
    const double xy = double(x[y]) - double(m);
    loss[r] = static_cast<float>(log_s - (1.0 - ls) * xy - lsC * sum_xm);
    if (g) {
      const float inv = static_cast<float>(double(scale) / s);
      const float off = static_cast<float>(double(scale) * lsC);
      for (i64 j = 0; j < C; ++j) g[j] = g[j] * inv - off;
      g[y] -= static_cast<float>(double(scale) * (1.0 - ls));
    }
  });
}

}  // namespace

void softmax_xent_sparse_i32(float* loss, float* dlogits, const float* logits, const int32_t* labels,
                             i64 rows, i64 C, float ls, float scale) {
  softmax_xent_sparse(loss, dlogits, logits, labels, rows, C, ls, scale);
}
void softmax_xent_sparse_i64(float* loss, float* dlogits, const float* logits, const int64_t* labels,
                             i64 rows, i64 C, float ls, float scale) {
  softmax_xent_sparse(loss, dlogits, logits, labels, rows, C, ls, scale);
}

void softmax_xent_dense(float* loss, float* dlogits, const float* logits, const float* targets,
                        i64 rows, i64 C, float ls, float scale) {
  const float keep = 1.0f - ls, add = static_cast<float>(double(ls) / double(C));
  for_rows(rows, C, [&](i64 r) {
    const float* x = logits + r * C;
    const float* tt = targets + r * C;
    float* g = dlogits ? dlogits + r * C : nullptr;
    const float m = row_max(x, C);
    double s = 0.0, sum_t = 0.0, sum_txm = 0.0;
    for (i64 j = 0; j < C; ++j) {
      const float d = x[j] - m;
      const float e = std::exp(d);
      const float t = tt[j] * keep + add;
      if (g) g[j] = e;
      s += e;
      sum_t += t;
      sum_txm += double(t) * double(d);
    }
    loss[r] = static_cast<float>(sum_t * std::log(s) - sum_txm);
    if (g) {
      const float a = static_cast<float>(double(scale) * sum_t / s);
      for (i64 j = 0; j < C; ++j) g[j] = g[j] * a - scale * (tt[j] * keep + add);
    }
  });
}

void categorical_xent_probs(float* loss, float* dprobs, const float* probs, const float* targets,
                            i64 rows, i64 C, float ls, float scale) {
  const double eps = 1e-7, keep = 1.0 - ls, add = double(ls) / double(C);
  for_rows(rows, C, [&](i64 r) {
    const float* p = probs + r * C;
    const float* tt = targets + r * C;
    float* g = dprobs ? dprobs + r * C : nullptr;
    double S = 0.0;
    for (i64 j = 0; j < C; ++j) S += p[j];
    const double invS = 1.0 / S;
    double l = 0.0, sum_gq = 0.0;
    for (i64 j = 0; j < C; ++j) {
      const double t = tt[j] * keep + add;
      const double q = p[j] * invS;
      const double c = std::min(std::max(q, eps), 1.0 - eps);
      l -= t * std::log(c);
      if (g) {
        // d(-t log clip(q))/dq: -t/q inside the clip range (boundaries included, as TF), else 0.
        const double gq = (q >= eps && q <= 1.0 - eps) ? -t / q : 0.0;
        g[j] = static_cast<float>(gq);
        sum_gq += gq * q;
      }
    }
    loss[r] = static_cast<float>(l);
    if (g) {
      // q_j = p_j / S  =>  dL/dp_k = (dL/dq_k - Σ_j dL/dq_j q_j) / S
      const double a = double(scale) * invS;
      for (i64 j = 0; j < C; ++j) g[j] = static_cast<float>((double(g[j]) - sum_gq) * a);
    }
  });
}

namespace {

// Per-element (loss, dloss/dpred) for the elementwise losses. `t` is the raw target.
struct SigmoidBCE {
  float keep, add;
  void operator()(float x, float t0, float& l, float& d) const {
    const float t = t0 * keep + add;
    const float e = std::exp(-std::fabs(x));  // in (0, 1]: never overflows
    l = std::max(x, 0.0f) - x * t + std::log1p(e);
    const float sig = x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    d = sig - t;
  }
};
struct BCEProbs {
  float keep, add;
  void operator()(float p, float t0, float& l, float& d) const {
    const double eps = 1e-7;
    const double t = double(t0) * keep + add;
    const double c = std::min(std::max(double(p), eps), 1.0 - eps);
    l = static_cast<float>(-(t * std::log(c) + (1.0 - t) * std::log(1.0 - c)));
    d = (p >= eps && p <= 1.0 - eps) ? static_cast<float>(-t / c + (1.0 - t) / (1.0 - c)) : 0.0f;
  }
};
struct MSE {
  void operator()(float p, float t, float& l, float& d) const {
    const float e = p - t;
    l = e * e;
    d = 2.0f * e;
  }
};
struct MAE {
  void operator()(float p, float t, float& l, float& d) const {
    const float e = p - t;
    l = std::fabs(e);
    d = e > 0.0f ? 1.0f : (e < 0.0f ? -1.0f : 0.0f);  // subgradient 0 at e == 0 (= TF sign(0))
  }
};
struct Huber {
  float delta;
  void operator()(float p, float t, float& l, float& d) const {
    const float e = p - t, a = std::fabs(e);
    if (a <= delta) {
      l = 0.5f * e * e;
      d = e;
    } else {
      l = delta * a - 0.5f * delta * delta;
      d = e > 0.0f ? delta : -delta;
    }
  }
};

template <class F>
void run_pointwise(const F& f, float* loss, float* dpred, const float* pred, const float* target,
                   i64 rows, i64 C, float scale) {
  const double invC = 1.0 / double(C);
  const float gs = static_cast<float>(double(scale) * invC);
  for_rows(rows, C, [&](i64 r) {
    const float* p = pred + r * C;
    const float* t = target + r * C;
    double acc = 0.0;
    if (dpred) {
      float* g = dpred + r * C;
      for (i64 j = 0; j < C; ++j) {
        float l, d;
        f(p[j], t[j], l, d);
        acc += l;
        g[j] = d * gs;
      }
    } else {
      for (i64 j = 0; j < C; ++j) {
        float l, d;
        f(p[j], t[j], l, d);
        acc += l;
      }
    }
    loss[r] = static_cast<float>(acc * invC);
  });
}

}  // namespace

void pointwise_loss(PointLoss kind, float* loss, float* dpred, const float* pred,
                    const float* target, i64 rows, i64 C, float param, float scale) {
  const float keep = 1.0f - param, add = 0.5f * param;
  switch (kind) {
    case PointLoss::SigmoidBCE:
      run_pointwise(SigmoidBCE{keep, add}, loss, dpred, pred, target, rows, C, scale);
      break;
    case PointLoss::BCEProbs:
      run_pointwise(BCEProbs{keep, add}, loss, dpred, pred, target, rows, C, scale);
      break;
    case PointLoss::MSE: run_pointwise(MSE{}, loss, dpred, pred, target, rows, C, scale); break;
    case PointLoss::MAE: run_pointwise(MAE{}, loss, dpred, pred, target, rows, C, scale); break;
    case PointLoss::Huber: run_pointwise(Huber{param}, loss, dpred, pred, target, rows, C, scale); break;
  }
}

}  // namespace fusednet::cpu
