// attention.cpp — CPU fused attention; formulas, layout and the blocking rationale in attention.h.
//
// Inner loops are written so that GCC vectorises them without -ffast-math (no reassociated
// reductions): scores for one query row against a key block are Σ_d q[d]·Kᵀ[d, :] over a
// transposed block (an axpy over the kBK keys), output / gradient rows are axpys over D or Dv,
// and exp is the branch-free polynomial of common/scalar_math.h. Every task writes only its own
// rows, so results are bitwise the same for any thread count.
#include "cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/philox.h"
#include "common/scalar_math.h"
#include "cpu/parallel.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {
namespace {

constexpr i64 kBQ = 32;  // query rows per forward / dQ task
constexpr i64 kBK = 64;  // keys per block
constexpr float kMasked = -1e9f;
const float kNegInf = -std::numeric_limits<float>::infinity();

// Xt[d*kBK + jj] = X[jj*st + d] for jj < nk, d < D.
void transpose_block(float* Xt, const float* X, i64 st, i64 nk, i64 D) {
  for (i64 jj = 0; jj < nk; ++jj) {
    const float* xr = X + jj * st;
    for (i64 d = 0; d < D; ++d) Xt[d * kBK + jj] = xr[d];
  }
}

// s[jj] = scale · Σ_d q[d]·Xt[d, jj]
void row_dots(float* s, const float* q, const float* Xt, i64 nk, i64 D, float scale) {
  for (i64 jj = 0; jj < nk; ++jj) s[jj] = 0.f;
  for (i64 d = 0; d < D; ++d) {
    const float qd = q[d];
    const float* xt = Xt + d * kBK;
    for (i64 jj = 0; jj < nk; ++jj) s[jj] += qd * xt[jj];
  }
  if (scale != 1.f)
    for (i64 jj = 0; jj < nk; ++jj) s[jj] *= scale;
}

// y[e] += a·x[e]
inline void axpy(float* y, float a, const float* x, i64 n) {
  for (i64 e = 0; e < n; ++e) y[e] += a * x[e];
}

struct Ctx {
  const attn::Dims& d;
  bool causal;
  float scale;
  const attn::Mask& mask;
  const attn::Dropout& drop;
  attn::Strides qs, ks, vs, os;
  uint32_t thr = 0;
  float keep_scale = 1.f;

  Ctx(const attn::Dims& d_, bool c, float sc, const attn::Mask& m, const attn::Dropout& dr)
      : d(d_), causal(c), scale(sc), mask(m), drop(dr), qs(attn::strides(d_, d_.Tq, d_.D)),
        ks(attn::strides(d_, d_.Tk, d_.D)), vs(attn::strides(d_, d_.Tk, d_.Dv)),
        os(attn::strides(d_, d_.Tq, d_.Dv)) {
    if (dr.rate > 0.0) {
      thr = static_cast<uint32_t>(std::ceil(dr.rate * 16777216.0));
      keep_scale = static_cast<float>(1.0 / (1.0 - dr.rate));
    }
  }

  // Causal and attention-mask rules on one row of scores (keys j0 .. j0+nk-1 of query row i).
  void apply_mask(float* s, i64 b, i64 i, i64 j0, i64 nk) const {
    if (mask.p) {
      const float* mr = mask.p + b * mask.sb + i * mask.si + j0 * mask.sj;
      for (i64 jj = 0; jj < nk; ++jj)
        if (!(mr[jj * mask.sj] > 0.5f)) s[jj] = kMasked;
    }
    if (causal)
      for (i64 jj = j0 > i ? 0 : i - j0 + 1; jj < nk; ++jj) s[jj] = kNegInf;
  }

  // kd[jj] = keep ? 1/(1-rate) : 0 for element (b, h, i, j0 + jj).
  void keep_row(float* kd, i64 b, i64 h, i64 i, i64 j0, i64 nk) const {
    const uint64_t base = static_cast<uint64_t>(((b * d.H + h) * d.Tq + i) * d.Tk + j0);
    uint64_t cur = ~uint64_t(0);
    Philox4 r{};
    for (i64 jj = 0; jj < nk; ++jj) {
      const uint64_t idx = base + static_cast<uint64_t>(jj);
      if ((idx >> 2) != cur) {
        cur = idx >> 2;
        r = philox_block(drop.seed, drop.offset, cur);
      }
      kd[jj] = (r.v[idx & 3] >> 8) >= thr ? keep_scale : 0.f;
    }
  }
};

bool worth_threads(const attn::Dims& d) {
  return double(d.B) * d.H * d.Tq * d.Tk * double(d.D + d.Dv) > 2e5;
}

void forward_task(const Ctx& c, float* O, float* LSE, const float* Q, const float* K, const float* V, i64 task) {
  const attn::Dims& d = c.d;
  const i64 nqb = (d.Tq + kBQ - 1) / kBQ;
  const i64 bh = task / nqb, qb = task % nqb, b = bh / d.H, h = bh % d.H;
  const i64 i0 = qb * kBQ, nq = std::min(kBQ, d.Tq - i0);
  const i64 kend = c.causal ? std::min(d.Tk, i0 + nq) : d.Tk;
  const float* Qb = Q + b * c.qs.b + h * c.qs.h;
  const float* Kb = K + b * c.ks.b + h * c.ks.h;
  const float* Vb = V + b * c.vs.b + h * c.vs.h;
  std::vector<float> Kt(static_cast<size_t>(d.D * kBK)), s(kBK), kd(kBK);
  std::vector<float> acc(static_cast<size_t>(nq * d.Dv), 0.f), m(nq, kNegInf), l(nq, 0.f);
  for (i64 j0 = 0; j0 < kend; j0 += kBK) {
    const i64 nk = std::min(kBK, kend - j0);
    transpose_block(Kt.data(), Kb + j0 * c.ks.t, c.ks.t, nk, d.D);
    for (i64 r = 0; r < nq; ++r) {
      const i64 i = i0 + r;
      if (c.causal && j0 > i) continue;  // block entirely above this row's diagonal
      row_dots(s.data(), Qb + i * c.qs.t, Kt.data(), nk, d.D, c.scale);
      c.apply_mask(s.data(), b, i, j0, nk);
      float mx = m[r];
      for (i64 jj = 0; jj < nk; ++jj) mx = std::max(mx, s[jj]);
      const float alpha = m[r] == kNegInf ? 0.f : sm::fn_exp(m[r] - mx);
      float sum = 0.f;
      for (i64 jj = 0; jj < nk; ++jj) {
        const float p = sm::fn_exp(s[jj] - mx);
        s[jj] = p;
        sum += p;
      }
      l[r] = l[r] * alpha + sum;
      float* a = acc.data() + r * d.Dv;
      if (alpha != 1.f)
        for (i64 e = 0; e < d.Dv; ++e) a[e] *= alpha;
      if (c.thr) {
        c.keep_row(kd.data(), b, h, i, j0, nk);
        for (i64 jj = 0; jj < nk; ++jj) s[jj] *= kd[jj];
      }
      for (i64 jj = 0; jj < nk; ++jj)
        if (s[jj] != 0.f) axpy(a, s[jj], Vb + (j0 + jj) * c.vs.t, d.Dv);
      m[r] = mx;
    }
  }
  float* Ob = O + b * c.os.b + h * c.os.h;
  float* Lb = LSE + (b * d.H + h) * d.Tq;
  for (i64 r = 0; r < nq; ++r) {
    const i64 i = i0 + r;
    float* o = Ob + i * c.os.t;
    const float* a = acc.data() + r * d.Dv;
    const float lr = l[r];
    for (i64 e = 0; e < d.Dv; ++e) o[e] = a[e] / lr;
    Lb[i] = m[r] + std::log(lr);
  }
}

// One row of the backward against a key block: p (dropped: pd) and dS. Shared by both passes so
// they recompute exactly the same probabilities.
struct RowGrad {
  std::vector<float> s, dp, kd, pd;
  explicit RowGrad() : s(kBK), dp(kBK), kd(kBK), pd(kBK) {}
  // On return: pd[jj] = P̃ᵢⱼ, s[jj] = dSᵢⱼ.
  void compute(const Ctx& c, const float* q, const float* dO, const float* Kt, const float* Vt, float lse,
               float Di, i64 b, i64 h, i64 i, i64 j0, i64 nk) {
    row_dots(s.data(), q, Kt, nk, c.d.D, c.scale);
    c.apply_mask(s.data(), b, i, j0, nk);
    for (i64 jj = 0; jj < nk; ++jj) s[jj] = sm::fn_exp(s[jj] - lse);  // P
    row_dots(dp.data(), dO, Vt, nk, c.d.Dv, 1.f);
    if (c.thr) {
      c.keep_row(kd.data(), b, h, i, j0, nk);
      for (i64 jj = 0; jj < nk; ++jj) {
        pd[jj] = s[jj] * kd[jj];
        dp[jj] *= kd[jj];
      }
    } else {
      for (i64 jj = 0; jj < nk; ++jj) pd[jj] = s[jj];
    }
    for (i64 jj = 0; jj < nk; ++jj) s[jj] = s[jj] * (dp[jj] - Di);
  }
};

}  // namespace

void attention_forward(float* O, float* LSE, const float* Q, const float* K, const float* V, const attn::Dims& d,
                       bool causal, float scale, const attn::Mask& mask, const attn::Dropout& drop) {
  if (d.B == 0 || d.H == 0 || d.Tq == 0 || d.Tk == 0) return;
  const Ctx c(d, causal, scale, mask, drop);
  const i64 n = d.B * d.H * ((d.Tq + kBQ - 1) / kBQ);
  parallel_for_dynamic_if(worth_threads(d) && n > 1, n, num_threads(),
                          [&](i64 t) { forward_task(c, O, LSE, Q, K, V, t); });
}

void attention_backward(float* dQ, float* dK, float* dV, const float* dO, const float* Q, const float* K,
                        const float* V, const float* O, const float* LSE, const attn::Dims& d, bool causal,
                        float scale, const attn::Mask& mask, const attn::Dropout& drop) {
  if (d.B == 0 || d.H == 0) return;
  const Ctx c(d, causal, scale, mask, drop);
  const i64 BH = d.B * d.H;
  if (d.Tq == 0 || d.Tk == 0) {  // empty softmax rows or no query: all gradients are zero
    std::fill(dQ, dQ + BH * d.Tq * d.D, 0.f);
    std::fill(dK, dK + BH * d.Tk * d.D, 0.f);
    std::fill(dV, dV + BH * d.Tk * d.Dv, 0.f);
    return;
  }
  const bool par = worth_threads(d);
  const int T = num_threads();
  // Dᵢ = dOᵢ·Oᵢ (double accumulation), [B, H, Tq].
  std::vector<float> Dr(static_cast<size_t>(BH * d.Tq));
  parallel_for_if(par && BH > 1, BH, T, [&](i64 bh) {
    const i64 b = bh / d.H, h = bh % d.H;
    for (i64 i = 0; i < d.Tq; ++i) {
      const i64 off = b * c.os.b + h * c.os.h + i * c.os.t;
      double acc = 0.0;
      for (i64 e = 0; e < d.Dv; ++e) acc += double(dO[off + e]) * double(O[off + e]);
      Dr[bh * d.Tq + i] = static_cast<float>(acc);
    }
  });
  // Pass 1: dK, dV per (b, h, key block).
  const i64 nkb = (d.Tk + kBK - 1) / kBK;
  parallel_for_dynamic_if(par && BH * nkb > 1, BH * nkb, T, [&](i64 task) {
    const i64 bh = task / nkb, kb = task % nkb, b = bh / d.H, h = bh % d.H;
    const i64 j0 = kb * kBK, nk = std::min(kBK, d.Tk - j0);
    const float* Qb = Q + b * c.qs.b + h * c.qs.h;
    const float* dOb = dO + b * c.os.b + h * c.os.h;
    const float* Kb = K + b * c.ks.b + h * c.ks.h;
    const float* Vb = V + b * c.vs.b + h * c.vs.h;
    std::vector<float> Kt(static_cast<size_t>(d.D * kBK)), Vt(static_cast<size_t>(d.Dv * kBK));
    std::vector<float> dKa(static_cast<size_t>(nk * d.D), 0.f), dVa(static_cast<size_t>(nk * d.Dv), 0.f);
    transpose_block(Kt.data(), Kb + j0 * c.ks.t, c.ks.t, nk, d.D);
    transpose_block(Vt.data(), Vb + j0 * c.vs.t, c.vs.t, nk, d.Dv);
    RowGrad g;
    for (i64 i = c.causal ? j0 : 0; i < d.Tq; ++i) {
      const float* q = Qb + i * c.qs.t;
      const float* go = dOb + i * c.os.t;
      g.compute(c, q, go, Kt.data(), Vt.data(), LSE[bh * d.Tq + i], Dr[bh * d.Tq + i], b, h, i, j0, nk);
      for (i64 jj = 0; jj < nk; ++jj) {
        if (g.pd[jj] != 0.f) axpy(dVa.data() + jj * d.Dv, g.pd[jj], go, d.Dv);
        if (g.s[jj] != 0.f) axpy(dKa.data() + jj * d.D, g.s[jj], q, d.D);
      }
    }
    float* dKb = dK + b * c.ks.b + h * c.ks.h;
    float* dVb = dV + b * c.vs.b + h * c.vs.h;
    for (i64 jj = 0; jj < nk; ++jj) {
      float* dk = dKb + (j0 + jj) * c.ks.t;
      float* dv = dVb + (j0 + jj) * c.vs.t;
      for (i64 e = 0; e < d.D; ++e) dk[e] = scale * dKa[jj * d.D + e];
      for (i64 e = 0; e < d.Dv; ++e) dv[e] = dVa[jj * d.Dv + e];
    }
  });
  // Pass 2: dQ per (b, h, query block).
  const i64 nqb = (d.Tq + kBQ - 1) / kBQ;
  parallel_for_dynamic_if(par && BH * nqb > 1, BH * nqb, T, [&](i64 task) {
    const i64 bh = task / nqb, qb = task % nqb, b = bh / d.H, h = bh % d.H;
    const i64 i0 = qb * kBQ, nq = std::min(kBQ, d.Tq - i0);
    const i64 kend = c.causal ? std::min(d.Tk, i0 + nq) : d.Tk;
    const float* Qb = Q + b * c.qs.b + h * c.qs.h;
    const float* dOb = dO + b * c.os.b + h * c.os.h;
    const float* Kb = K + b * c.ks.b + h * c.ks.h;
    const float* Vb = V + b * c.vs.b + h * c.vs.h;
    std::vector<float> Kt(static_cast<size_t>(d.D * kBK)), Vt(static_cast<size_t>(d.Dv * kBK));
    std::vector<float> dQa(static_cast<size_t>(nq * d.D), 0.f);
    RowGrad g;
    for (i64 j0 = 0; j0 < kend; j0 += kBK) {
      const i64 nk = std::min(kBK, kend - j0);
      transpose_block(Kt.data(), Kb + j0 * c.ks.t, c.ks.t, nk, d.D);
      transpose_block(Vt.data(), Vb + j0 * c.vs.t, c.vs.t, nk, d.Dv);
      for (i64 r = 0; r < nq; ++r) {
        const i64 i = i0 + r;
        if (c.causal && j0 > i) continue;
        g.compute(c, Qb + i * c.qs.t, dOb + i * c.os.t, Kt.data(), Vt.data(), LSE[bh * d.Tq + i],
                  Dr[bh * d.Tq + i], b, h, i, j0, nk);
        float* dq = dQa.data() + r * d.D;
        for (i64 jj = 0; jj < nk; ++jj)
          if (g.s[jj] != 0.f) axpy(dq, g.s[jj], Kb + (j0 + jj) * c.ks.t, d.D);
      }
    }
    float* dQb = dQ + b * c.qs.b + h * c.qs.h;
    for (i64 r = 0; r < nq; ++r) {
      float* dq = dQb + (i0 + r) * c.qs.t;
      for (i64 e = 0; e < d.D; ++e) dq[e] = scale * dQa[r * d.D + e];
    }
  });
}

}  // namespace fusednet::cpu
