// attention.cpp — CPU fused attention; formulas, layout and the blocking rationale in attention.h.
//
// Tiles are kBQ query rows × kBK keys. Every product of a tile is one call of the project's SGEMM
// (cpu/gemm.h: run-time AVX-512/AVX2 micro-kernels; strided operands, so both layouts are read in
// place): S = Q·Kᵀ, acc += P̃·V (forward); dP = dO·Vᵀ, dV += P̃ᵀ·dO, dK += dSᵀ·Q, dQ += dS·K
// (backward). Called inside a task it runs on that thread, and its results do not depend on
// the thread count (K is never split). The row-wise softmax between the products uses the
// branch-free exp of common/scalar_math.h. Every task writes only its own rows, so results are
// bitwise the same for any thread count.
#define FN_ISA_NS portable
#include "cpu/attention_impl.h"
#undef FN_ISA_NS

#include "cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/philox.h"
#include "common/scalar_math.h"
#include "cpu/gemm.h"
#include "cpu/isa.h"
#include "cpu/parallel.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {
namespace {

constexpr i64 kBQ = 64;   // query rows per tile (and per forward / dQ task)
constexpr i64 kBK = 128;  // keys per tile (and per dK/dV task)
constexpr float kMasked = -1e9f;
const float kNegInf = -std::numeric_limits<float>::infinity();

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
      : d(d_), causal(c), scale(sc), mask(m), drop(dr), qs(attn::in_strides(d_, d_.Tq, d_.D)),
        ks(attn::in_strides(d_, d_.Tk, d_.D)), vs(attn::in_strides(d_, d_.Tk, d_.Dv)),
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

// S[r, jj] (row stride kBK) = scale·Q[i0 + r]·K[j0 + jj] with the causal / mask rules applied.
void block_scores(const Ctx& c, float* S, const float* Qb, const float* Kb, i64 b, i64 i0, i64 nq, i64 j0,
                  i64 nk) {
  sgemm(S, Qb + i0 * c.qs.t, Kb + j0 * c.ks.t, nullptr, nq, nk, c.d.D, false, true, c.qs.t, c.ks.t, kBK);
  for (i64 r = 0; r < nq; ++r) {
    float* s = S + r * kBK;
    for (i64 jj = 0; jj < nk; ++jj) s[jj] *= c.scale;
    c.apply_mask(s, b, i0 + r, j0, nk);
  }
}

// Scratch of one task, O(kBQ·kBK + kBQ·(D + Dv)) floats.
struct Scratch {
  std::vector<float> S, dP, KD;
  Scratch(bool grad, bool drop) : S(kBQ * kBK), dP(grad ? kBQ * kBK : 0), KD(drop ? kBQ * kBK : 0) {}
  // Dropout factors of the tile (rows i0.., keys j0..), or null without dropout.
  const float* keep(const Ctx& c, i64 b, i64 h, i64 i0, i64 nq, i64 j0, i64 nk) {
    if (!c.thr) return nullptr;
    for (i64 r = 0; r < nq; ++r) c.keep_row(KD.data() + r * kBK, b, h, i0 + r, j0, nk);
    return KD.data();
  }
};

#if FN_X86
#define FN_ATTN_PICK(fn) (isa_level() >= 2 ? avx512::fn : isa_level() == 1 ? avx2::fn : portable::fn)
#else
#define FN_ATTN_PICK(fn) (portable::fn)
#endif

void forward_task(const Ctx& c, float* O, float* LSE, const float* Q, const float* K, const float* V, i64 task) {
  const attn::Dims& d = c.d;
  const i64 nqb = (d.Tq + kBQ - 1) / kBQ;
  const i64 bh = task / nqb, qb = task % nqb, b = bh / d.H, h = bh % d.H;
  const i64 i0 = qb * kBQ, nq = std::min(kBQ, d.Tq - i0);
  const i64 kend = c.causal ? std::min(d.Tk, i0 + nq) : d.Tk;  // blocks above the diagonal: never visited
  const float* Qb = Q + b * c.qs.b + h * c.qs.h;
  const float* Kb = K + b * c.ks.b + h * c.ks.h;
  const float* Vb = V + b * c.vs.b + h * c.vs.h;
  Scratch w(false, c.thr != 0);
  const auto fwd_rows = FN_ATTN_PICK(attn_fwd_rows);
  std::vector<float> acc(static_cast<size_t>(nq * d.Dv), 0.f), m(nq, kNegInf), l(nq, 0.f);
  for (i64 j0 = 0; j0 < kend; j0 += kBK) {
    const i64 nk = std::min(kBK, kend - j0);
    block_scores(c, w.S.data(), Qb, Kb, b, i0, nq, j0, nk);
    fwd_rows(w.S.data(), w.keep(c, b, h, i0, nq, j0, nk), acc.data(), m.data(), l.data(), nq, nk, kBK, d.Dv);
    // acc += P̃ · V[j0 : j0 + nk]
    sgemm(acc.data(), w.S.data(), Vb + j0 * c.vs.t, nullptr, nq, d.Dv, nk, false, false, kBK, c.vs.t, d.Dv, 1.f);
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

// One (query block, key block) tile of the backward: on return w.S holds dS and w.dP holds P̃
// (the dropped probabilities). Shared by both passes so they recompute the same values.
void backward_tile(const Ctx& c, Scratch& w, const float* Qb, const float* Kb, const float* Vb, const float* dOb,
                   const float* lse, const float* Dr, i64 b, i64 h, i64 i0, i64 nq, i64 j0, i64 nk) {
  block_scores(c, w.S.data(), Qb, Kb, b, i0, nq, j0, nk);
  // dP = dO · Vᵀ (before dropout's factor)
  sgemm(w.dP.data(), dOb + i0 * c.os.t, Vb + j0 * c.vs.t, nullptr, nq, nk, c.d.Dv, false, true, c.os.t, c.vs.t,
        kBK);
  FN_ATTN_PICK(attn_bwd_rows)(w.S.data(), w.dP.data(), w.keep(c, b, h, i0, nq, j0, nk), lse + i0, Dr + i0, nq,
                               nk, kBK);
}

// Dᵢ = dOᵢ·Oᵢ of rows i of one (b, h), double accumulation (the two-pass path's rule).
void row_dots(const Ctx& c, float* Dr, const float* dOb, const float* Ob, i64 Tq) {
  for (i64 i = 0; i < Tq; ++i) {
    const float* g = dOb + i * c.os.t;
    const float* o = Ob + i * c.os.t;
    double acc = 0.0;
    for (i64 e = 0; e < c.d.Dv; ++e) acc += double(g[e]) * double(o[e]);
    Dr[i] = static_cast<float>(acc);
  }
}

// The one-pass backward applies when there are enough (b, h) pairs to spread over the threads and
// a head's key-side accumulators dK, dV [Tk, D + Dv] stay cache-sized. A fixed shape rule (never
// the thread count), so a given shape always takes the same path and the same bits.
bool one_pass(const attn::Dims& d) { return d.B * d.H >= 8 && d.Tk * (d.D + d.Dv) <= (i64(1) << 16); }

// One-pass backward of one (b, h): every tile (query block × key block, causal tiles above the
// diagonal skipped) is recomputed once and feeds all three gradients, dV += P̃ᵀ·dO, dK += dSᵀ·Q into
// whole-head accumulators and dQ += dS·K into the query block's. The two-pass path (below) computes
// each tile twice (once for dK/dV per key block, once for dQ per query block) so that no two tasks
// share a gradient row; here the task owns the whole head, which gives the same guarantee. The
// accumulation order (query blocks ascending for dK/dV, key blocks ascending for dQ) is the two-pass
// order; the tiles differ in width (here a causal query block stops at its diagonal), so the two
// paths agree to rounding, not bit for bit. For GPT-mini's shape (T 128, D 32) this is 60 % of the
// two-pass work: 10 GEMMs per head instead of 14, 12k exps instead of 29k.
void backward_one_pass(const Ctx& c, float* dQ, float* dK, float* dV, const float* dO, const float* Q,
                       const float* K, const float* V, const float* O, const float* LSE, i64 bh) {
  const attn::Dims& d = c.d;
  const i64 b = bh / d.H, h = bh % d.H;
  const float* Qb = Q + b * c.qs.b + h * c.qs.h;
  const float* Kb = K + b * c.ks.b + h * c.ks.h;
  const float* Vb = V + b * c.vs.b + h * c.vs.h;
  const float* dOb = dO + b * c.os.b + h * c.os.h;
  const float* lse = LSE + bh * d.Tq;
  std::vector<float> Dr(static_cast<size_t>(d.Tq));
  row_dots(c, Dr.data(), dOb, O + b * c.os.b + h * c.os.h, d.Tq);
  Scratch w(true, c.thr != 0);
  std::vector<float> dKa(static_cast<size_t>(d.Tk * d.D), 0.f), dVa(static_cast<size_t>(d.Tk * d.Dv), 0.f);
  std::vector<float> dQa(static_cast<size_t>(kBQ * d.D));
  float* dQb = dQ + b * c.qs.b + h * c.qs.h;
  for (i64 i0 = 0; i0 < d.Tq; i0 += kBQ) {
    const i64 nq = std::min(kBQ, d.Tq - i0);
    const i64 kend = c.causal ? std::min(d.Tk, i0 + nq) : d.Tk;
    std::fill(dQa.begin(), dQa.end(), 0.f);
    for (i64 j0 = 0; j0 < kend; j0 += kBK) {
      const i64 nk = std::min(kBK, kend - j0);
      backward_tile(c, w, Qb, Kb, Vb, dOb, lse, Dr.data(), b, h, i0, nq, j0, nk);
      sgemm(dVa.data() + j0 * d.Dv, w.dP.data(), dOb + i0 * c.os.t, nullptr, nk, d.Dv, nq, true, false, kBK,
            c.os.t, d.Dv, 1.f);
      sgemm(dKa.data() + j0 * d.D, w.S.data(), Qb + i0 * c.qs.t, nullptr, nk, d.D, nq, true, false, kBK, c.qs.t,
            d.D, 1.f);
      sgemm(dQa.data(), w.S.data(), Kb + j0 * c.ks.t, nullptr, nq, d.D, nk, false, false, kBK, c.ks.t, d.D, 1.f);
    }
    for (i64 r = 0; r < nq; ++r) {
      float* dq = dQb + (i0 + r) * c.qs.t;
      for (i64 e = 0; e < d.D; ++e) dq[e] = c.scale * dQa[r * d.D + e];
    }
  }
  // Causal keys no query reaches (Tk > Tq) keep their zero accumulators.
  float* dKb = dK + b * c.ks.b + h * c.ks.h;
  float* dVb = dV + b * c.vs.b + h * c.vs.h;
  for (i64 j = 0; j < d.Tk; ++j) {
    float* dk = dKb + j * c.ks.t;
    float* dv = dVb + j * c.vs.t;
    for (i64 e = 0; e < d.D; ++e) dk[e] = c.scale * dKa[j * d.D + e];
    for (i64 e = 0; e < d.Dv; ++e) dv[e] = dVa[j * d.Dv + e];
  }
}

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
  if (one_pass(d)) {
    parallel_for_dynamic_if(par && BH > 1, BH, T, [&](i64 bh) {
      backward_one_pass(c, dQ, dK, dV, dO, Q, K, V, O, LSE, bh);
    });
    return;
  }
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
  // Pass 1: dK, dV per (b, h, key block): dV += P̃ᵀ·dO, dK += dSᵀ·Q over the query blocks.
  const i64 nkb = (d.Tk + kBK - 1) / kBK, nqb = (d.Tq + kBQ - 1) / kBQ;
  parallel_for_dynamic_if(par && BH * nkb > 1, BH * nkb, T, [&](i64 task) {
    const i64 bh = task / nkb, kb = task % nkb, b = bh / d.H, h = bh % d.H;
    const i64 j0 = kb * kBK, nk = std::min(kBK, d.Tk - j0);
    const float* Qb = Q + b * c.qs.b + h * c.qs.h;
    const float* dOb = dO + b * c.os.b + h * c.os.h;
    const float* Kb = K + b * c.ks.b + h * c.ks.h;
    const float* Vb = V + b * c.vs.b + h * c.vs.h;
    Scratch w(true, c.thr != 0);
    std::vector<float> dKa(static_cast<size_t>(nk * d.D), 0.f), dVa(static_cast<size_t>(nk * d.Dv), 0.f);
    for (i64 qb = c.causal ? j0 / kBQ : 0; qb < nqb; ++qb) {  // causal: rows i < j0 see none of these keys
      const i64 i0 = qb * kBQ, nq = std::min(kBQ, d.Tq - i0);
      backward_tile(c, w, Qb, Kb, Vb, dOb, LSE + bh * d.Tq, Dr.data() + bh * d.Tq, b, h, i0, nq, j0, nk);
      sgemm(dVa.data(), w.dP.data(), dOb + i0 * c.os.t, nullptr, nk, d.Dv, nq, true, false, kBK, c.os.t, d.Dv, 1.f);
      sgemm(dKa.data(), w.S.data(), Qb + i0 * c.qs.t, nullptr, nk, d.D, nq, true, false, kBK, c.qs.t, d.D, 1.f);
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
  // Pass 2: dQ per (b, h, query block): dQ += dS·K over the key blocks.
  parallel_for_dynamic_if(par && BH * nqb > 1, BH * nqb, T, [&](i64 task) {
    const i64 bh = task / nqb, qb = task % nqb, b = bh / d.H, h = bh % d.H;
    const i64 i0 = qb * kBQ, nq = std::min(kBQ, d.Tq - i0);
    const i64 kend = c.causal ? std::min(d.Tk, i0 + nq) : d.Tk;
    const float* Qb = Q + b * c.qs.b + h * c.qs.h;
    const float* dOb = dO + b * c.os.b + h * c.os.h;
    const float* Kb = K + b * c.ks.b + h * c.ks.h;
    const float* Vb = V + b * c.vs.b + h * c.vs.h;
    Scratch w(true, c.thr != 0);
    std::vector<float> dQa(static_cast<size_t>(nq * d.D), 0.f);
    for (i64 j0 = 0; j0 < kend; j0 += kBK) {
      const i64 nk = std::min(kBK, kend - j0);
      backward_tile(c, w, Qb, Kb, Vb, dOb, LSE + bh * d.Tq, Dr.data() + bh * d.Tq, b, h, i0, nq, j0, nk);
      sgemm(dQa.data(), w.S.data(), Kb + j0 * c.ks.t, nullptr, nq, d.D, nk, false, false, kBK, c.ks.t, d.D, 1.f);
    }
    float* dQb = dQ + b * c.qs.b + h * c.qs.h;
    for (i64 r = 0; r < nq; ++r) {
      float* dq = dQb + (i0 + r) * c.qs.t;
      for (i64 e = 0; e < d.D; ++e) dq[e] = scale * dQa[r * d.D + e];
    }
  });
}

}  // namespace fusednet::cpu
