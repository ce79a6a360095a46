// attention_impl.h — the row-wise softmax loops of the fused attention tiles, compiled once per
// ISA (the activation_impl.h pattern): attention.cpp includes it for portable x86-64,
// attention_avx2.cpp / attention_avx512.cpp inside an FN_ISA_BEGIN region (cpu/isa.h).
// Tiles are row-major with row stride ld; the GEMMs around them are cpu/gemm.h's.
// Reductions (row max, row sum) run in 16 fixed lanes combined in a fixed order, so a row is
// always reduced the same way by whichever thread owns it.
#ifndef FN_ISA_NS
#error "define FN_ISA_NS before including attention_impl.h"
#endif
// As activation_impl.h: without trapping-math GCC if-converts (and so vectorises) the selects
// of the branch-free exp.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <cmath>

#include "common/scalar_math.h"
#include "cpu/attention.h"

namespace fusednet::cpu::FN_ISA_NS {
namespace {

constexpr int kLanes = 16;

inline float row_max(const float* s, i64 n, float init) {
  float lane[kLanes];
  for (int u = 0; u < kLanes; ++u) lane[u] = init;
  i64 j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int u = 0; u < kLanes; ++u) lane[u] = s[j + u] > lane[u] ? s[j + u] : lane[u];
  for (; j < n; ++j) lane[0] = s[j] > lane[0] ? s[j] : lane[0];
  float m = lane[0];
  for (int u = 1; u < kLanes; ++u) m = lane[u] > m ? lane[u] : m;
  return m;
}

inline float row_sum(const float* s, i64 n) {
  float lane[kLanes] = {};
  i64 j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int u = 0; u < kLanes; ++u) lane[u] += s[j + u];
  for (; j < n; ++j) lane[0] += s[j];
  float t = 0.f;
  for (int u = 0; u < kLanes; ++u) t += lane[u];
  return t;
}

}  // namespace

// Online-softmax step of one forward tile. S [nq, nk] (scaled, masked scores) becomes P̃ = exp(S - m')
// (times the dropout factors KD, same layout, when KD != null); m, l (running max and sum per row)
// are updated and the rows of acc [nq, Dv] rescaled by exp(m - m').
void attn_fwd_rows(float* S, const float* KD, float* acc, float* m, float* l, i64 nq, i64 nk, i64 ld, i64 Dv) {
  const float ninf = -INFINITY;
  for (i64 r = 0; r < nq; ++r) {
    float* s = S + r * ld;
    const float mx = row_max(s, nk, m[r]);
    const float alpha = m[r] == ninf ? 0.f : sm::fn_exp(m[r] - mx);
    for (i64 j = 0; j < nk; ++j) s[j] = sm::fn_exp(s[j] - mx);
    l[r] = l[r] * alpha + row_sum(s, nk);
    m[r] = mx;
    if (KD) {
      const float* kd = KD + r * ld;
      for (i64 j = 0; j < nk; ++j) s[j] *= kd[j];
    }
    if (alpha != 1.f) {
      float* a = acc + r * Dv;
      for (i64 e = 0; e < Dv; ++e) a[e] *= alpha;
    }
  }
}

// One backward tile: S (scaled, masked scores) becomes dS = P∘(dP̃∘KD - Di) and dP (= dO·Vᵀ) becomes
// P̃ = P∘KD, with P = exp(S - lse) (KD == null: no dropout, factor 1).
void attn_bwd_rows(float* S, float* dP, const float* KD, const float* lse, const float* Di, i64 nq, i64 nk, i64 ld) {
  for (i64 r = 0; r < nq; ++r) {
    float* s = S + r * ld;
    float* dp = dP + r * ld;
    const float L = lse[r], D = Di[r];
    if (KD) {
      const float* kd = KD + r * ld;
      for (i64 j = 0; j < nk; ++j) {
        const float p = sm::fn_exp(s[j] - L);
        s[j] = p * (dp[j] * kd[j] - D);
        dp[j] = p * kd[j];
      }
    } else {
      for (i64 j = 0; j < nk; ++j) {
        const float p = sm::fn_exp(s[j] - L);
        s[j] = p * (dp[j] - D);
        dp[j] = p;
      }
    }
  }
}

}  // namespace fusednet::cpu::FN_ISA_NS
