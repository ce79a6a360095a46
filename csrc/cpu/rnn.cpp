// rnn.cpp — SimpleRNN / LSTM / GRU forward and backward through time on the CPU (formulas,
// layouts and workspace in rnn.h).
//
// Every matrix product goes through cpu::sgemm (strided lda/ldc address one time step's rows of
// the batch-major [B, T, ·] buffers in place, so no per-step copies or transposes). Between the
// GEMMs, one fused elementwise pass per step handles all gates of a row: read the
// pre-activations, apply σ / a, write the activations back (forward) or the pre-activation
// gradients (backward). The passes split the batch rows over the thread pool; each element is
// computed by exactly one thread with the same arithmetic, so results are bitwise independent of
// the thread count (as the GEMM's, which never splits K).
//
// The activations are template parameters for the Keras defaults (a = tanh, σ = sigmoid) so the
// loops vectorise; any other pair from {linear, relu, sigmoid, tanh} runs the same code with the
// choice made per element at run time.
#include "cpu/rnn.h"

#include <algorithm>
#include <cstring>

#include "common/scalar_math.h"
#include "cpu/ftz_scope.h"
#include "cpu/gemm.h"
#include "cpu/parallel.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {
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

// ------------------------------------------------------------------ forward
template <int A, int RA>
void forward_impl(float* Y, float* hT, float* cT, float* Gw, float* Hw, float* Ew, const float* X,
                  const float* W, const float* R, const float* b, const float* h0, const float* c0,
                  const float* mask, const RnnDims& d) {
  const i64 B = d.B, T = d.T, F = d.F, U = d.U, G = d.G(), GU = G * U;
  const Act ra = d.rec_act, aa = d.act;
  const Steps st{T, d.go_backwards};
  const bool gru = d.kind == RnnKind::GRU, lstm = d.kind == RnnKind::LSTM;
  const float* b_in = b;
  const float* b_rec = (gru && d.reset_after && b) ? b + GU : nullptr;

  // Input projection of every (b, t) row: Gw = X·W + b.
  sgemm(Gw, X, W, b_in, B * T, GU, F, false, false, F, GU, GU, 0.f, Act::None);

  HostBuf zeros(static_cast<size_t>(B * U));
  std::fill(zeros.p, zeros.p + B * U, 0.f);
  HostBuf rec(gru && d.reset_after ? static_cast<size_t>(B * GU) : 1);
  const i64 t0 = st.time(0);
  for (i64 r = 0; r < B; ++r)
    std::memcpy(Hw + (r * T + t0) * U, h0 ? h0 + r * U : zeros.p, static_cast<size_t>(U) * sizeof(float));

  for (i64 s = 0; s < T; ++s) {
    const i64 t = st.time(s);
    const bool last = s == T - 1;
    const i64 tn = last ? 0 : st.time(s + 1), tp = s ? st.time(s - 1) : 0;
    float* hp_base = Hw + t * U;  // row r at hp_base + r*T*U
    float* g_base = Gw + t * GU;  // row r at g_base + r*T*GU
    // Recurrent GEMM(s) and the fused gate pass.
    if (!gru) {
      sgemm(g_base, hp_base, R, nullptr, B, GU, U, false, false, T * U, GU, T * GU, 1.f, Act::None);
    } else if (d.reset_after) {
      sgemm(rec.p, hp_base, R, b_rec, B, GU, U, false, false, T * U, GU, GU, 0.f, Act::None);
    } else {
      sgemm(g_base, hp_base, R, nullptr, B, 2 * U, U, false, false, T * U, GU, T * GU, 1.f, Act::None);
      for_rows(B, B * 2 * U, [&](i64 r) {
        float* g = g_base + r * T * GU;
        const float* hp = hp_base + r * T * U;
        float* e = Ew + (r * T + t) * U;
        for (i64 j = 0; j < U; ++j) {
          const float z = act_f<RA>(g[j], ra), rr = act_f<RA>(g[U + j], ra);
          g[j] = z;
          g[U + j] = rr;
          e[j] = rr * hp[j];
        }
      });
      sgemm(g_base + 2 * U, Ew + t * U, R + 2 * U, nullptr, B, U, U, false, false, T * U, GU, T * GU, 1.f,
            Act::None);
    }
    for_rows(B, B * GU, [&](i64 r) {
      float* g = g_base + r * T * GU;
      const float* hp = hp_base + r * T * U;
      float* hn = last ? hT + r * U : Hw + (r * T + tn) * U;
      if (lstm) {
        const float* cp = s ? Ew + (r * T + tp) * U : (c0 ? c0 + r * U : zeros.p);
        float* cn = Ew + (r * T + t) * U;
        for (i64 j = 0; j < U; ++j) {
          const float i = act_f<RA>(g[j], ra), f = act_f<RA>(g[U + j], ra);
          const float gg = act_f<A>(g[2 * U + j], aa), o = act_f<RA>(g[3 * U + j], ra);
          g[j] = i;
          g[U + j] = f;
          g[2 * U + j] = gg;
          g[3 * U + j] = o;
          const float c = f * cp[j] + i * gg;
          cn[j] = c;
          hn[j] = o * act_f<A>(c, aa);
        }
        if (!kept(mask, r, T, t)) {
          std::memcpy(cn, cp, static_cast<size_t>(U) * sizeof(float));
          std::memcpy(hn, hp, static_cast<size_t>(U) * sizeof(float));
        }
        if (last && cT) std::memcpy(cT + r * U, cn, static_cast<size_t>(U) * sizeof(float));
      } else if (gru) {
        float* e = Ew + (r * T + t) * U;
        if (d.reset_after) {
          const float* rc = rec.p + r * GU;
          for (i64 j = 0; j < U; ++j) {
            const float z = act_f<RA>(g[j] + rc[j], ra), rr = act_f<RA>(g[U + j] + rc[U + j], ra);
            const float rh = rc[2 * U + j];
            const float hh = act_f<A>(g[2 * U + j] + rr * rh, aa);
            g[j] = z;
            g[U + j] = rr;
            g[2 * U + j] = hh;
            e[j] = rh;
            hn[j] = z * hp[j] + (1.f - z) * hh;
          }
        } else {
          for (i64 j = 0; j < U; ++j) {
            const float z = g[j];
            const float hh = act_f<A>(g[2 * U + j], aa);
            g[2 * U + j] = hh;
            hn[j] = z * hp[j] + (1.f - z) * hh;
          }
        }
        if (!kept(mask, r, T, t)) std::memcpy(hn, hp, static_cast<size_t>(U) * sizeof(float));
      } else {
        for (i64 j = 0; j < U; ++j) {
          const float h = act_f<A>(g[j], aa);
          g[j] = h;
          hn[j] = h;
        }
        if (!kept(mask, r, T, t)) std::memcpy(hn, hp, static_cast<size_t>(U) * sizeof(float));
      }
      if (Y) std::memcpy(Y + (r * T + s) * U, hn, static_cast<size_t>(U) * sizeof(float));
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

  HostBuf dZ(static_cast<size_t>(BT * GU));               // x-side pre-activation gradients
  HostBuf dZr(ra_gru ? static_cast<size_t>(BT * GU) : 1);  // GRU reset_after: recurrent side
  HostBuf dhc(static_cast<size_t>(B * U)), dcc(static_cast<size_t>(B * U));
  HostBuf dht(rb_gru ? static_cast<size_t>(B * U) : 1), drh(rb_gru ? static_cast<size_t>(B * U) : 1);
  HostBuf zeros(static_cast<size_t>(B * U));
  std::fill(zeros.p, zeros.p + B * U, 0.f);
  if (dhT) std::memcpy(dhc.p, dhT, static_cast<size_t>(B) * ubytes);
  else std::fill(dhc.p, dhc.p + B * U, 0.f);
  if (dcT) std::memcpy(dcc.p, dcT, static_cast<size_t>(B) * ubytes);
  else std::fill(dcc.p, dcc.p + B * U, 0.f);

  for (i64 s = T - 1; s >= 0; --s) {
    const i64 t = st.time(s), tp = s ? st.time(s - 1) : 0;
    const float* dyb = dY ? dY + s * U : nullptr;  // row r at + r*T*U
    float* dz_base = dZ.p + t * GU;
    if (rb_gru) {
      for_rows(B, B * U, [&](i64 r) {
        const float* g = Gw + (r * T + t) * GU;
        float* dz = dz_base + r * T * GU;
        float* dh = dht.p + r * U;
        const float* c = dhc.p + r * U;
        const float* dy = dyb ? dyb + r * T * U : nullptr;
        const bool keep = kept(mask, r, T, t);
        for (i64 j = 0; j < U; ++j) {
          const float h = c[j] + (dy ? dy[j] : 0.f);
          dh[j] = h;
          const float hh = g[2 * U + j];
          dz[2 * U + j] = keep ? h * (1.f - g[j]) * act_dy<A>(hh, aa) : 0.f;
        }
      });
      sgemm(drh.p, dz_base + 2 * U, R + 2 * U, nullptr, B, U, U, false, true, T * GU, GU, U, 0.f, Act::None);
    }
    for_rows(B, B * GU, [&](i64 r) {
      const float* g = Gw + (r * T + t) * GU;
      const float* hp = Hw + (r * T + t) * U;
      const float* e = Ew ? Ew + (r * T + t) * U : nullptr;
      float* dz = dz_base + r * T * GU;
      float* hc = dhc.p + r * U;
      const float* dy = dyb ? dyb + r * T * U : nullptr;
      const bool keep = kept(mask, r, T, t);
      if (lstm) {
        const float* cp = s ? Ew + (r * T + tp) * U : (c0 ? c0 + r * U : zeros.p);
        float* cc = dcc.p + r * U;
        if (keep) {
          for (i64 j = 0; j < U; ++j) {
            const float dh = hc[j] + (dy ? dy[j] : 0.f);
            const float i = g[j], f = g[U + j], gg = g[2 * U + j], o = g[3 * U + j];
            const float ac = act_f<A>(e[j], aa);
            const float dc = cc[j] + dh * o * act_dy<A>(ac, aa);
            dz[j] = dc * gg * act_dy<RA>(i, ra);
            dz[U + j] = dc * cp[j] * act_dy<RA>(f, ra);
            dz[2 * U + j] = dc * i * act_dy<A>(gg, aa);
            dz[3 * U + j] = dh * ac * act_dy<RA>(o, ra);
            cc[j] = dc * f;
            hc[j] = 0.f;
          }
        } else {
          for (i64 j = 0; j < U; ++j) hc[j] += dy ? dy[j] : 0.f;
          std::fill(dz, dz + GU, 0.f);
        }
      } else if (ra_gru) {
        float* dzr = dZr.p + (r * T + t) * GU;
        if (keep) {
          for (i64 j = 0; j < U; ++j) {
            const float dh = hc[j] + (dy ? dy[j] : 0.f);
            const float z = g[j], rr = g[U + j], hh = g[2 * U + j], rh = e[j];
            const float dzh = dh * (1.f - z) * act_dy<A>(hh, aa);
            const float dzz = dh * (hp[j] - hh) * act_dy<RA>(z, ra);
            const float dzr_ = dzh * rh * act_dy<RA>(rr, ra);
            dz[j] = dzz;
            dz[U + j] = dzr_;
            dz[2 * U + j] = dzh;
            dzr[j] = dzz;
            dzr[U + j] = dzr_;
            dzr[2 * U + j] = dzh * rr;
            hc[j] = dh * z;
          }
        } else {
          for (i64 j = 0; j < U; ++j) hc[j] += dy ? dy[j] : 0.f;
          std::fill(dz, dz + GU, 0.f);
          std::fill(dzr, dzr + GU, 0.f);
        }
      } else if (rb_gru) {
        const float* dh = dht.p + r * U;
        const float* dr = drh.p + r * U;
        if (keep) {
          for (i64 j = 0; j < U; ++j) {
            const float z = g[j], rr = g[U + j], hh = g[2 * U + j];
            dz[j] = dh[j] * (hp[j] - hh) * act_dy<RA>(z, ra);
            dz[U + j] = dr[j] * hp[j] * act_dy<RA>(rr, ra);
            hc[j] = dh[j] * z + dr[j] * rr;
          }
        } else {
          std::memcpy(hc, dh, ubytes);
          std::fill(dz, dz + 2 * U, 0.f);
        }
      } else {
        if (keep) {
          for (i64 j = 0; j < U; ++j) {
            const float dh = hc[j] + (dy ? dy[j] : 0.f);
            dz[j] = dh * act_dy<A>(g[j], aa);
            hc[j] = 0.f;
          }
        } else {
          for (i64 j = 0; j < U; ++j) hc[j] += dy ? dy[j] : 0.f;
          std::fill(dz, dz + GU, 0.f);
        }
      }
    });
    // dh_{t-1} += dZ_t · Rᵀ (the recurrent part of the state gradient).
    if (ra_gru)
      sgemm(dhc.p, dZr.p + t * GU, R, nullptr, B, U, GU, false, true, T * GU, GU, U, 1.f, Act::None);
    else if (rb_gru)
      sgemm(dhc.p, dz_base, R, nullptr, B, U, 2 * U, false, true, T * GU, GU, U, 1.f, Act::None);
    else
      sgemm(dhc.p, dz_base, R, nullptr, B, U, GU, false, true, T * GU, GU, U, 1.f, Act::None);
  }
  if (dh0) std::memcpy(dh0, dhc.p, static_cast<size_t>(B) * ubytes);
  if (dc0) {
    if (lstm) std::memcpy(dc0, dcc.p, static_cast<size_t>(B) * ubytes);
    else std::fill(dc0, dc0 + B * U, 0.f);
  }

  // Weight gradients over all B·T rows at once.
  sgemm(dW, X, dZ.p, nullptr, F, GU, BT, true, false, F, GU, GU, 0.f, Act::None);
  if (ra_gru) {
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

void rnn_forward(float* Y, float* hT, float* cT, float* Gw, float* Hw, float* Ew, const float* X,
                 const float* W, const float* R, const float* b, const float* h0, const float* c0,
                 const float* mask, const RnnDims& d) {
  FtzScope ftz_scope;
  set_ftz();
  if (defaults(d))
    forward_impl<int(Act::Tanh), int(Act::Sigmoid)>(Y, hT, cT, Gw, Hw, Ew, X, W, R, b, h0, c0, mask, d);
  else
    forward_impl<kRuntime, kRuntime>(Y, hT, cT, Gw, Hw, Ew, X, W, R, b, h0, c0, mask, d);
}

void rnn_backward(float* dX, float* dW, float* dR, float* db, float* dh0, float* dc0,
                  const float* dY, const float* dhT, const float* dcT, const float* X,
                  const float* W, const float* R, const float* Gw, const float* Hw, const float* Ew,
                  const float* c0, const float* mask, const RnnDims& d) {
  FtzScope ftz_scope;
  set_ftz();
  if (defaults(d))
    backward_impl<int(Act::Tanh), int(Act::Sigmoid)>(dX, dW, dR, db, dh0, dc0, dY, dhT, dcT, X, W, R, Gw,
                                                      Hw, Ew, c0, mask, d);
  else
    backward_impl<kRuntime, kRuntime>(dX, dW, dR, db, dh0, dc0, dY, dhT, dcT, X, W, R, Gw, Hw, Ew, c0, mask,
                                      d);
}

}  // namespace fusednet::cpu
