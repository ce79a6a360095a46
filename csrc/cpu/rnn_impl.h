// rnn_impl.h — the recurrent forward / backward schedules (csrc/cpu/rnn.h), compiled once per ISA.
//
// Included by rnn.cpp (portable x86-64), rnn_avx2.cpp and rnn_avx512.cpp with FN_ISA_NS set to
// portable / avx2 / avx512; the latter two include it inside an FN_ISA_BEGIN region (cpu/isa.h)
// after the headers below, so the fused gate passes (sigmoid / tanh from common/scalar_math.h,
// branch-free) vectorise at the TU's width. The GEMMs are cpu::sgemm calls (their own dispatch).
// Everything here has internal linkage or lives in the per-ISA namespace.
#ifndef FN_ISA_NS
#error "define FN_ISA_NS before including rnn_impl.h"
#endif
// As activation_impl.h: GCC will not if-convert (so not vectorise) the selects of the branch-free
// maths while -ftrapping-math is on; fusednet never unmasks FP exceptions.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <vector>
#include <algorithm>
#include <cstring>

#include "common/scalar_math.h"
#include "cpu/gemm.h"
#include "cpu/parallel.h"
#include "cpu/rnn.h"
#include "cpu/runtime.h"

namespace fusednet::cpu::FN_ISA_NS {
namespace {


constexpr int kRuntime = -1;

template <int A>
inline float act_f(float x, Act rt) {
  const Act a = A >= 0 ? Act(A) : rt;
  switch (a) {
    case Act::Relu: return x > 0.f ? x : 0.f;
    case Act::Sigmoid: return sm::fn_sigmoid(x);
    case Act::Tanh: return sm::fn_tanh(x);
    default: return x;
  }
}

// Derivative through the output y = act(x).
template <int A>
inline float act_dy(float y, Act rt) {
  const Act a = A >= 0 ? Act(A) : rt;
  switch (a) {
    case Act::Relu: return y > 0.f ? 1.f : 0.f;
    case Act::Sigmoid: return y * (1.f - y);
    case Act::Tanh: return 1.f - y * y;
    default: return 1.f;
  }
}

// Rows of the batch, split over the pool when the step has enough work.
template <class F>
void for_rows(i64 B, i64 work, F&& f) {
  parallel_for_if(num_threads() > 1 && B > 1 && work >= 16384, B, num_threads(), f);
}

inline bool kept(const float* mask, i64 b, i64 T, i64 t) { return !mask || mask[b * T + t] != 0.f; }

// Per row, the processing index of its first unmasked step (T when none; 0 without a mask).
// Keras: a masked step outputs the previous *output*, which is zeros before the first real step
// even when an initial state is carried (h_t = h0 there, the output is not), so the outputs of
// those leading steps are zeros and take no gradient.
inline std::vector<i64> first_kept(const float* mask, i64 B, i64 T, bool go_backwards) {
  std::vector<i64> first(static_cast<size_t>(B), 0);
  if (!mask) return first;
  for (i64 r = 0; r < B; ++r) {
    i64 s = 0;
    while (s < T && !kept(mask, r, T, go_backwards ? T - 1 - s : s)) ++s;
    first[static_cast<size_t>(r)] = s;
  }
  return first;
}

// out[c] (+)= Σ_r x[r, c], rows in order; column blocks split over the pool (deterministic).
void column_sum(float* out, const float* x, i64 rows, i64 cols, i64 ldx) {
  constexpr i64 W = 256;
  const i64 nb = (cols + W - 1) / W;
  parallel_for_if(num_threads() > 1 && nb > 1 && rows * cols >= 65536, nb, num_threads(), [&](i64 blk) {
    const i64 c0 = blk * W, c1 = std::min(cols, c0 + W);
    float acc[W];
    for (i64 c = c0; c < c1; ++c) acc[c - c0] = 0.f;
    for (i64 r = 0; r < rows; ++r) {
      const float* xr = x + r * ldx;
      for (i64 c = c0; c < c1; ++c) acc[c - c0] += xr[c];
    }
    for (i64 c = c0; c < c1; ++c) out[c] = acc[c - c0];
  });
}

struct Steps {  // processing order s -> input time t
  i64 T;
  bool back;
  i64 time(i64 s) const { return back ? T - 1 - s : s; }
};

// Elementwise maps, each a plain loop over contiguous floats so it vectorises at the TU's width.
template <int A>
inline void map_act(float* __restrict p, i64 n, Act rt) {
  for (i64 k = 0; k < n; ++k) p[k] = act_f<A>(p[k], rt);
}
template <int A>
inline void map_act_add(float* __restrict p, const float* __restrict q, i64 n, Act rt) {
  for (i64 k = 0; k < n; ++k) p[k] = act_f<A>(p[k] + q[k], rt);
}
inline void copy_row(float* dst, const float* src, i64 n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

// C[M, N] += / = A·B for the per-step recurrent products, in column blocks of 256 per thread:
// each thread's B columns are then read in place by the GEMM (it packs a non-transposed B only
// when a thread owns more than 256 columns), instead of R being re-packed on every step. Same
// bits for any blocking: the blocks are independent columns of the same products (K unsplit).
inline void step_gemm(float* C, const float* Am, const float* Bm, const float* bias, i64 M, i64 N, i64 K, i64 lda,
                      i64 ldb, i64 ldc, float beta) {
  const i64 kCols = 256 * std::max(1, num_threads());
  for (i64 n0 = 0; n0 < N; n0 += kCols)
    sgemm(C + n0, Am, Bm + n0, bias ? bias + n0 : nullptr, M, std::min(kCols, N - n0), K, false, false, lda, ldb,
          ldc, beta, Act::None);
}

// ------------------------------------------------------------------ forward
template <int A, int RA>
void forward_impl(float* Y, float* hT, float* cT, float* Gw, float* Hw, float* Ew, const float* X,
                  const float* W, const float* R, const float* b, const float* h0, const float* c0,
                  const float* mask, const RnnDims& d) {
  const i64 B = d.B, T = d.T, F = d.F, U = d.U, G = d.G(), GU = G * U;
  const Act ra = d.rec_act, aa = d.act;
  const Steps st{T, d.go_backwards};
  const bool gru = d.kind == RnnKind::GRU, lstm = d.kind == RnnKind::LSTM;
  const float* b_rec = (gru && d.reset_after && b) ? b + GU : nullptr;

  // Input projection of every (b, t) row: Gw = X·W + b.
  sgemm(Gw, X, W, b, B * T, GU, F, false, false, F, GU, GU, 0.f, Act::None);

  HostBuf zeros(static_cast<size_t>(B * U));
  std::fill(zeros.p, zeros.p + B * U, 0.f);
  HostBuf rec(gru && d.reset_after ? static_cast<size_t>(B * GU) : 1);
  const float* rd = d.rdrop;  // recurrent dropout masks [G, B, U] or null
  HostBuf hd(rd ? static_cast<size_t>(B * U) : 1);
  // hd = h_{t-1} ⊙ D_k (gate k's dropped state; the rows of h_{t-1} are T·U apart in Hw).
  auto drop_h = [&](const float* hp_base, i64 k) {
    for_rows(B, B * U, [&](i64 r) {
      const float* __restrict hp = hp_base + r * T * U;
      const float* __restrict m = rd + (k * B + r) * U;
      float* __restrict o = hd.p + r * U;
      for (i64 j = 0; j < U; ++j) o[j] = hp[j] * m[j];
    });
  };
  const i64 t0 = st.time(0);
  for (i64 r = 0; r < B; ++r) copy_row(Hw + (r * T + t0) * U, h0 ? h0 + r * U : zeros.p, U);
  const std::vector<i64> first = first_kept(mask, B, T, d.go_backwards);

  for (i64 s = 0; s < T; ++s) {
    const i64 t = st.time(s);
    const bool last = s == T - 1;
    const i64 tn = last ? 0 : st.time(s + 1), tp = s ? st.time(s - 1) : 0;
    float* hp_base = Hw + t * U;  // row r at hp_base + r*T*U
    float* g_base = Gw + t * GU;  // row r at g_base + r*T*GU
    // Recurrent GEMM(s), then the fused gate pass.
    if (rd) {  // recurrent dropout: one GEMM per gate on that gate's dropped state
      const i64 ng = gru && !d.reset_after ? 2 : G;
      for (i64 k = 0; k < ng; ++k) {
        drop_h(hp_base, k);
        if (gru && d.reset_after)
          step_gemm(rec.p + k * U, hd.p, R + k * U, b_rec ? b_rec + k * U : nullptr, B, U, U, U, GU, GU, 0.f);
        else
          step_gemm(g_base + k * U, hd.p, R + k * U, nullptr, B, U, U, U, GU, T * GU, 1.f);
      }
    } else if (!gru) {
      step_gemm(g_base, hp_base, R, nullptr, B, GU, U, T * U, GU, T * GU, 1.f);
    } else if (d.reset_after) {
      step_gemm(rec.p, hp_base, R, b_rec, B, GU, U, T * U, GU, GU, 0.f);
    } else {
      step_gemm(g_base, hp_base, R, nullptr, B, 2 * U, U, T * U, GU, T * GU, 1.f);
    }
    if (gru && !d.reset_after) {
      for_rows(B, B * 2 * U, [&](i64 r) {
        float* __restrict g = g_base + r * T * GU;
        const float* __restrict hp = hp_base + r * T * U;
        float* __restrict e = Ew + (r * T + t) * U;
        map_act<RA>(g, 2 * U, ra);                     // z, r
        if (rd) {                                      // r·(h_{t-1}⊙D_h)
          const float* __restrict m = rd + (2 * B + r) * U;
          for (i64 j = 0; j < U; ++j) e[j] = g[U + j] * hp[j] * m[j];
        } else {
          for (i64 j = 0; j < U; ++j) e[j] = g[U + j] * hp[j];
        }
      });
      step_gemm(g_base + 2 * U, Ew + t * U, R + 2 * U, nullptr, B, U, U, T * U, GU, T * GU, 1.f);
    }
    for_rows(B, B * GU, [&](i64 r) {
      float* __restrict g = g_base + r * T * GU;
      const float* __restrict hp = hp_base + r * T * U;
      float* __restrict hn = last ? hT + r * U : Hw + (r * T + tn) * U;
      const bool keep = kept(mask, r, T, t);
      if (lstm) {
        const float* __restrict cp = s ? Ew + (r * T + tp) * U : (c0 ? c0 + r * U : zeros.p);
        float* __restrict cn = Ew + (r * T + t) * U;
        map_act<RA>(g, 2 * U, ra);                     // i, f
        map_act<A>(g + 2 * U, U, aa);                  // c candidate
        map_act<RA>(g + 3 * U, U, ra);                 // o
        for (i64 j = 0; j < U; ++j) cn[j] = g[U + j] * cp[j] + g[j] * g[2 * U + j];
        copy_row(hn, cn, U);
        map_act<A>(hn, U, aa);
        for (i64 j = 0; j < U; ++j) hn[j] *= g[3 * U + j];
        if (!keep) {
          copy_row(cn, cp, U);
          copy_row(hn, hp, U);
        }
        if (last && cT) copy_row(cT + r * U, cn, U);
      } else if (gru) {
        if (d.reset_after) {
          const float* __restrict rc = rec.p + r * GU;
          float* __restrict e = Ew + (r * T + t) * U;
          map_act_add<RA>(g, rc, 2 * U, ra);           // z, r
          copy_row(e, rc + 2 * U, U);                  // rh = h_{t-1}·R_h + b'_h
          for (i64 j = 0; j < U; ++j) g[2 * U + j] += g[U + j] * e[j];
        }
        map_act<A>(g + 2 * U, U, aa);                  // ĥ
        for (i64 j = 0; j < U; ++j) hn[j] = g[j] * hp[j] + (1.f - g[j]) * g[2 * U + j];
        if (!keep) copy_row(hn, hp, U);
      } else {
        map_act<A>(g, U, aa);
        copy_row(hn, keep ? g : hp, U);
      }
      if (Y) copy_row(Y + (r * T + (d.y_time_order ? t : s)) * U, s < first[size_t(r)] ? zeros.p : hn, U);
    });
  }
}

// ------------------------------------------------------------------ backward
template <int A, int RA>
void backward_impl(float* dX, float* dW, float* dR, float* db, float* dh0, float* dc0, const float* dY,
                   const float* dhT, const float* dcT, const float* X, const float* W, const float* R,
                   const float* Gw, const float* Hw, const float* Ew, const float* c0, const float* mask,
                   const RnnDims& d) {
  const i64 B = d.B, T = d.T, F = d.F, U = d.U, G = d.G(), GU = G * U, BT = B * T;
  const Act ra = d.rec_act, aa = d.act;
  const Steps st{T, d.go_backwards};
  const bool gru = d.kind == RnnKind::GRU, lstm = d.kind == RnnKind::LSTM;
  const bool ra_gru = gru && d.reset_after, rb_gru = gru && !d.reset_after;
  const size_t ubytes = static_cast<size_t>(U) * sizeof(float);
  const float* rd = d.rdrop;  // recurrent dropout masks [G, B, U] or null
  HostBuf dtmp(rd ? static_cast<size_t>(B * U) : 1);

  HostBuf dZ(static_cast<size_t>(BT * GU));               // x-side pre-activation gradients
  HostBuf dZr(ra_gru ? static_cast<size_t>(BT * GU) : 1);  // GRU reset_after: recurrent side
  HostBuf dhc(static_cast<size_t>(B * U)), dcc(static_cast<size_t>(B * U));
  HostBuf dht(static_cast<size_t>(B * U)), drh(rb_gru ? static_cast<size_t>(B * U) : 1);
  HostBuf zeros(static_cast<size_t>(B * U));
  std::fill(zeros.p, zeros.p + B * U, 0.f);
  if (dhT) std::memcpy(dhc.p, dhT, static_cast<size_t>(B) * ubytes);
  else std::fill(dhc.p, dhc.p + B * U, 0.f);
  if (dcT) std::memcpy(dcc.p, dcT, static_cast<size_t>(B) * ubytes);
  else std::fill(dcc.p, dcc.p + B * U, 0.f);
  // Rᵀ [G·U, U], once: the per-step dZ_t·Rᵀ then reads B in place instead of transpose-packing
  // all of R on every step.
  HostBuf RT(static_cast<size_t>(GU * U));
  for (i64 i = 0; i < U; ++i)
    for (i64 k = 0; k < GU; ++k) RT.p[k * U + i] = R[i * GU + k];

  const std::vector<i64> first = first_kept(mask, B, T, d.go_backwards);
  for (i64 s = T - 1; s >= 0; --s) {
    const i64 t = st.time(s), tp = s ? st.time(s - 1) : 0;
    float* dz_base = dZ.p + t * GU;
    // dh of this step (state gradient + output gradient) into dht.
    auto dh_total = [&](i64 r) {
      float* __restrict dh = dht.p + r * U;
      const float* __restrict c = dhc.p + r * U;
      if (dY && s >= first[size_t(r)]) {          // leading masked outputs are constant zeros
        const float* __restrict dy = dY + (r * T + (d.y_time_order ? t : s)) * U;
        for (i64 j = 0; j < U; ++j) dh[j] = c[j] + dy[j];
      } else {
        copy_row(dh, c, U);
      }
    };
    if (rb_gru) {
      for_rows(B, B * U, [&](i64 r) {
        dh_total(r);
        const float* __restrict g = Gw + (r * T + t) * GU;
        float* __restrict dz = dz_base + r * T * GU;
        const float* __restrict dh = dht.p + r * U;
        if (kept(mask, r, T, t)) {
          for (i64 j = 0; j < U; ++j) dz[2 * U + j] = dh[j] * (1.f - g[j]) * act_dy<A>(g[2 * U + j], aa);
        } else {
          std::fill(dz + 2 * U, dz + 3 * U, 0.f);
        }
      });
      sgemm(drh.p, dz_base + 2 * U, RT.p + 2 * U * U, nullptr, B, U, U, false, false, T * GU, U, U, 0.f,
            Act::None);
    }
    for_rows(B, B * GU, [&](i64 r) {
      if (!rb_gru) dh_total(r);
      const float* __restrict g = Gw + (r * T + t) * GU;
      const float* __restrict hp = Hw + (r * T + t) * U;
      const float* __restrict e = Ew ? Ew + (r * T + t) * U : nullptr;
      const float* __restrict dh = dht.p + r * U;
      float* __restrict dz = dz_base + r * T * GU;
      float* __restrict hc = dhc.p + r * U;
      const bool keep = kept(mask, r, T, t);
      if (!keep) {  // state and its gradient pass straight through; no gate gradients
        copy_row(hc, dh, U);
        std::fill(dz, dz + (rb_gru ? 2 * U : GU), 0.f);
        if (ra_gru) std::fill(dZr.p + (r * T + t) * GU, dZr.p + (r * T + t + 1) * GU, 0.f);
        return;
      }
      if (lstm) {
        const float* __restrict cp = s ? Ew + (r * T + tp) * U : (c0 ? c0 + r * U : zeros.p);
        float* __restrict cc = dcc.p + r * U;
        copy_row(hc, e, U);                            // hc = a(c_t) (hc is rewritten below)
        map_act<A>(hc, U, aa);
        #pragma omp simd
        for (i64 j = 0; j < U; ++j) {
          const float i = g[j], f = g[U + j], gg = g[2 * U + j], o = g[3 * U + j], ac = hc[j];
          const float dc = cc[j] + dh[j] * o * act_dy<A>(ac, aa);
          dz[j] = dc * gg * act_dy<RA>(i, ra);
          dz[U + j] = dc * cp[j] * act_dy<RA>(f, ra);
          dz[2 * U + j] = dc * i * act_dy<A>(gg, aa);
          dz[3 * U + j] = dh[j] * ac * act_dy<RA>(o, ra);
          cc[j] = dc * f;
          hc[j] = 0.f;
        }
      } else if (ra_gru) {
        float* __restrict dzr = dZr.p + (r * T + t) * GU;
        #pragma omp simd
        for (i64 j = 0; j < U; ++j) {
          const float z = g[j], rr = g[U + j], hh = g[2 * U + j], rh = e[j];
          const float dzh = dh[j] * (1.f - z) * act_dy<A>(hh, aa);
          const float dzz = dh[j] * (hp[j] - hh) * act_dy<RA>(z, ra);
          const float dzr_ = dzh * rh * act_dy<RA>(rr, ra);
          dz[j] = dzz;
          dz[U + j] = dzr_;
          dz[2 * U + j] = dzh;
          dzr[j] = dzz;
          dzr[U + j] = dzr_;
          dzr[2 * U + j] = dzh * rr;
          hc[j] = dh[j] * z;
        }
      } else if (rb_gru && rd) {  // e = r·(h_{t-1}⊙D_h)
        const float* __restrict dr = drh.p + r * U;
        const float* __restrict m = rd + (2 * B + r) * U;
        for (i64 j = 0; j < U; ++j) {
          const float z = g[j], rr = g[U + j], hh = g[2 * U + j];
          dz[j] = dh[j] * (hp[j] - hh) * act_dy<RA>(z, ra);
          dz[U + j] = dr[j] * hp[j] * m[j] * act_dy<RA>(rr, ra);
          hc[j] = dh[j] * z + dr[j] * rr * m[j];
        }
      } else if (rb_gru) {
        const float* __restrict dr = drh.p + r * U;
        #pragma omp simd
        for (i64 j = 0; j < U; ++j) {
          const float z = g[j], rr = g[U + j], hh = g[2 * U + j];
          dz[j] = dh[j] * (hp[j] - hh) * act_dy<RA>(z, ra);
          dz[U + j] = dr[j] * hp[j] * act_dy<RA>(rr, ra);
          hc[j] = dh[j] * z + dr[j] * rr;
        }
      } else {
        for (i64 j = 0; j < U; ++j) {
          dz[j] = dh[j] * act_dy<A>(g[j], aa);
          hc[j] = 0.f;
        }
      }
    });
    // dh_{t-1} += dZ_t · Rᵀ (the recurrent part of the state gradient); with recurrent dropout
    // Σ_k (dZ_k · R_kᵀ) ⊙ D_k, one GEMM per gate.
    if (rd) {
      const float* src = ra_gru ? dZr.p + t * GU : dz_base;
      const i64 ng = rb_gru ? 2 : G;
      for (i64 k = 0; k < ng; ++k) {
        sgemm(dtmp.p, src + k * U, RT.p + k * U * U, nullptr, B, U, U, false, false, T * GU, U, U, 0.f,
              Act::None);
        for_rows(B, B * U, [&](i64 r) {
          float* __restrict hc = dhc.p + r * U;
          const float* __restrict q = dtmp.p + r * U;
          const float* __restrict m = rd + (k * B + r) * U;
          for (i64 j = 0; j < U; ++j) hc[j] += q[j] * m[j];
        });
      }
    } else if (ra_gru)
      sgemm(dhc.p, dZr.p + t * GU, RT.p, nullptr, B, U, GU, false, false, T * GU, U, U, 1.f, Act::None);
    else if (rb_gru)
      sgemm(dhc.p, dz_base, RT.p, nullptr, B, U, 2 * U, false, false, T * GU, U, U, 1.f, Act::None);
    else
      sgemm(dhc.p, dz_base, RT.p, nullptr, B, U, GU, false, false, T * GU, U, U, 1.f, Act::None);
  }
  if (dh0) std::memcpy(dh0, dhc.p, static_cast<size_t>(B) * ubytes);
  if (dc0) {
    if (lstm) std::memcpy(dc0, dcc.p, static_cast<size_t>(B) * ubytes);
    else std::fill(dc0, dc0 + B * U, 0.f);
  }

  // Weight gradients over all B·T rows at once.
  sgemm(dW, X, dZ.p, nullptr, F, GU, BT, true, false, F, GU, GU, 0.f, Act::None);
  if (rd) {  // dR_k = (H⊙D_k)ᵀ·dZ_k: the dropped states of every step, gate by gate
    HostBuf hm(static_cast<size_t>(BT * U));
    const float* src = ra_gru ? dZr.p : dZ.p;
    const i64 ng = rb_gru ? 2 : G;
    for (i64 k = 0; k < ng; ++k) {
      for_rows(B, BT * U, [&](i64 r) {
        const float* __restrict m = rd + (k * B + r) * U;
        for (i64 tt = 0; tt < T; ++tt) {
          const float* __restrict h = Hw + (r * T + tt) * U;
          float* __restrict o = hm.p + (r * T + tt) * U;
          for (i64 j = 0; j < U; ++j) o[j] = h[j] * m[j];
        }
      });
      sgemm(dR + k * U, hm.p, src + k * U, nullptr, U, U, BT, true, false, U, GU, GU, 0.f, Act::None);
    }
    if (rb_gru)
      sgemm(dR + 2 * U, Ew, dZ.p + 2 * U, nullptr, U, U, BT, true, false, U, GU, GU, 0.f, Act::None);
  } else if (ra_gru) {
    sgemm(dR, Hw, dZr.p, nullptr, U, GU, BT, true, false, U, GU, GU, 0.f, Act::None);
  } else if (rb_gru) {
    sgemm(dR, Hw, dZ.p, nullptr, U, 2 * U, BT, true, false, U, GU, GU, 0.f, Act::None);
    sgemm(dR + 2 * U, Ew, dZ.p + 2 * U, nullptr, U, U, BT, true, false, U, GU, GU, 0.f, Act::None);
  } else {
    sgemm(dR, Hw, dZ.p, nullptr, U, GU, BT, true, false, U, GU, GU, 0.f, Act::None);
  }
  if (db) {
    column_sum(db, dZ.p, BT, GU, GU);
    if (ra_gru) column_sum(db + GU, dZr.p, BT, GU, GU);
  }
  if (dX) sgemm(dX, dZ.p, W, nullptr, BT, F, GU, false, true, GU, GU, F, 0.f, Act::None);
}

bool defaults(const RnnDims& d) { return d.act == Act::Tanh && d.rec_act == Act::Sigmoid; }

}  // namespace

void rnn_forward_isa(float* Y, float* hT, float* cT, float* Gw, float* Hw, float* Ew, const float* X,
                     const float* W, const float* R, const float* b, const float* h0, const float* c0,
                     const float* mask, const RnnDims& d) {
  if (defaults(d))
    forward_impl<int(Act::Tanh), int(Act::Sigmoid)>(Y, hT, cT, Gw, Hw, Ew, X, W, R, b, h0, c0, mask, d);
  else
    forward_impl<kRuntime, kRuntime>(Y, hT, cT, Gw, Hw, Ew, X, W, R, b, h0, c0, mask, d);
}

void rnn_backward_isa(float* dX, float* dW, float* dR, float* db, float* dh0, float* dc0, const float* dY,
                      const float* dhT, const float* dcT, const float* X, const float* W, const float* R,
                      const float* Gw, const float* Hw, const float* Ew, const float* c0, const float* mask,
                      const RnnDims& d) {
  if (defaults(d))
    backward_impl<int(Act::Tanh), int(Act::Sigmoid)>(dX, dW, dR, db, dh0, dc0, dY, dhT, dcT, X, W, R, Gw,
                                                      Hw, Ew, c0, mask, d);
  else
    backward_impl<kRuntime, kRuntime>(dX, dW, dR, db, dh0, dc0, dY, dhT, dcT, X, W, R, Gw, Hw, Ew, c0, mask,
                                      d);
}

}  // namespace fusednet::cpu::FN_ISA_NS
