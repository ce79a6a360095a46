// rnn.h — recurrent layers (SimpleRNN, LSTM, GRU) over a whole sequence: one call forward, one
// call backward through time. Keras 3 formulas, weight layouts and gate orders.
//
// Shapes (row-major, batch-major as Keras): X [B, T, F], W (kernel) [F, G·U], R (recurrent
// kernel) [U, G·U], G = 1 (SimpleRNN), 4 (LSTM: i, f, c, o), 3 (GRU: z, r, h). a = activation
// (tanh default), σ = recurrent_activation (sigmoid default), m_t ∈ {0,1} the optional mask.
//   SimpleRNN: h_t = a(x_t·W + b + h_{t-1}·R)
//   LSTM:      [i f g o] = x_t·W + b + h_{t-1}·R;  i,f,o = σ(.), g = a(.)
//              c_t = f·c_{t-1} + i·g;  h_t = o·a(c_t)
//   GRU, reset_after (bias [2, 3U]: input bias b, recurrent bias b'):
//              [xz xr xh] = x_t·W + b;  [rz rr rh] = h_{t-1}·R + b'
//              z = σ(xz+rz), r = σ(xr+rr), ĥ = a(xh + r·rh),  h_t = z·h_{t-1} + (1-z)·ĥ
//   GRU, reset_after=False (bias [3U]): z, r from x_t·W + b + h_{t-1}·R[:, :2U];
//              ĥ = a(xh + (r·h_{t-1})·R[:, 2U:]),  h_t as above
//   Masked step (m_t = 0): h_t = h_{t-1}, c_t = c_{t-1} (state carried, output = previous output).
//   Recurrent dropout (Keras 3, training only): per-gate masks D_k [B, U] (0 or 1/(1-rate)), fixed
//              over the steps; gate k's recurrent product uses (h_{t-1}⊙D_k)·R_k instead of
//              h_{t-1}·R_k (GRU reset_after=False: r·(h_{t-1}⊙D_h) before R_h). Everything else (the
//              GRU z·h_{t-1} term, masked-step carries) uses the undropped h_{t-1}, as Keras does.
//              Gates then get one GEMM each per step (U columns) instead of one over G·U; with no
//              masks (rdrop null) the schedule below is unchanged, bit for bit.
// go_backwards processes t = T-1 … 0; Y holds the outputs in processing order (Keras), or in input
// time order with y_time_order (what Bidirectional's backward half needs).
//
// Why shaped so: the input projection of all B·T rows is one GEMM written straight into the gate
// workspace; each step adds h_{t-1}·R into that step's rows with one GEMM (beta = 1, strided
// ldc), then one fused pass applies the gate maths and overwrites the pre-activations with the
// activations the backward needs. The backward walks the steps in reverse with one GEMM per step
// (dh_{t-1} = dZ_t·Rᵀ) and one fused pass; dW = Xᵀ·dZ, dR = H_prevᵀ·dZ and dX = dZ·Wᵀ are then
// one GEMM each over all B·T rows, db one column reduction (fixed order). The GEMM never splits K
// and the fused passes are elementwise, so every result is bitwise independent of thread count.
//
// Workspace (written by the forward, read by the backward), all indexed by input time t:
//   Gw [B, T, G·U]  activated gates (LSTM i f g o; GRU z r ĥ; SimpleRNN h_new)
//   Hw [B, T, U]    h_{t-1}: the state entering the step at time t
//   Ew [B, T, U]    LSTM: c_t;  GRU reset_after: rh (= h_{t-1}·R_h + b'_h);  GRU reset_after=False:
//                   r·h_{t-1};  SimpleRNN: unused (may be null)
#pragma once
#include "common/common.h"

namespace fusednet::cpu {

enum class RnnKind : int { Simple = 0, LSTM = 1, GRU = 2 };

struct RnnDims {
  i64 B = 0, T = 0, F = 0, U = 0;
  RnnKind kind = RnnKind::LSTM;
  bool reset_after = true;   // GRU only
  bool go_backwards = false;
  Act act = Act::Tanh;       // activation
  Act rec_act = Act::Sigmoid;  // recurrent_activation
  bool y_time_order = false;   // Y / dY indexed by input time instead of processing order
  // Recurrent dropout masks [G, B, U] (gate-major, Keras gate order), or null (no dropout). A
  // pointer in the dims because it changes the schedule like the flags above; same device as X.
  const float* rdrop = nullptr;
  i64 G() const { return kind == RnnKind::Simple ? 1 : kind == RnnKind::LSTM ? 4 : 3; }
  bool has_e() const { return kind != RnnKind::Simple; }
};

// Y [B, T, U] (processing order) may be null; hT [B, U]; cT [B, U] (LSTM only, else null).
// b: [G·U] (GRU reset_after: [2, 3U]) or null; h0, c0 [B, U] or null (zeros); mask [B, T] or null.
void rnn_forward(float* Y, float* hT, float* cT, float* Gw, float* Hw, float* Ew, const float* X,
                 const float* W, const float* R, const float* b, const float* h0, const float* c0,
                 const float* mask, const RnnDims& d);

// dY [B, T, U] (processing order) or null; dhT, dcT [B, U] or null (zero). Outputs: dX [B, T, F]
// (null: skipped), dW [F, G·U], dR [U, G·U], db like b (null: no bias), dh0 / dc0 [B, U] or null.
void rnn_backward(float* dX, float* dW, float* dR, float* db, float* dh0, float* dc0,
                  const float* dY, const float* dhT, const float* dcT, const float* X,
                  const float* W, const float* R, const float* Gw, const float* Hw, const float* Ew,
                  const float* c0, const float* mask, const RnnDims& d);

}  // namespace fusednet::cpu
