// rnn.cu — CUDA twins of csrc/cpu/rnn.cpp: SimpleRNN / LSTM / GRU over a whole sequence
// (formulas, layouts and workspace in csrc/cpu/rnn.h).
//
// Same schedule as the CPU: the input projection of all B·T rows is one cuda::sgemm into the gate
// workspace; each step runs one recurrent sgemm (strided lda/ldc on the batch-major buffers) and
// one fused gate kernel, one thread per (row, unit) doing every gate of that unit. The backward
// walks the steps in reverse (one sgemm dh_{t-1} = dZ_t·Rᵀ per step, one fused kernel), then
// dW, dR, dX are one sgemm each over all rows and db one fixed-order column_sum. No atomics, so
// results are reproducible run to run. Recurrent dropout (d.rdrop, per-gate masks [G, B, U]) runs
// the recurrent sgemm gate by gate on h_{t-1}⊙D_k (drop_rows_kernel), as the CPU does; without
// masks the schedule is the one above, unchanged.
#include <cuda_runtime.h>

#include "common/scalar_math.h"
#include "cuda/check.cuh"
#include "cuda/kernels.h"
#include "cuda/rnn.h"
#include "cuda/runtime.h"
#include "cuda/scratch.cuh"

namespace fusednet::cuda {
namespace {

using ::fusednet::cpu::RnnDims;
using ::fusednet::cpu::RnnKind;

constexpr int kThreads = 256;

__device__ __forceinline__ float act_f(float x, Act a) {
  switch (a) {
    case Act::Relu: return x > 0.f ? x : 0.f;
    case Act::Sigmoid: return sm::fn_sigmoid(x);
    case Act::Tanh: return sm::fn_tanh(x);
    default: return x;
  }
}
__device__ __forceinline__ float act_dy(float y, Act a) {
  switch (a) {
    case Act::Relu: return y > 0.f ? 1.f : 0.f;
    case Act::Sigmoid: return y * (1.f - y);
    case Act::Tanh: return 1.f - y * y;
    default: return 1.f;
  }
}

// One step's view of the buffers (passed by value).
struct Step {
  int64_t B, T, U, GU, s, t, tp, tn;  // s: the row of Y for this step (processing or time order)
  bool first, last, reset_after;
  int kind;  // RnnKind
  Act a, ra;
  float* Gw;
  float* Hw;
  float* Ew;
  const float* rec;   // GRU reset_after: h_{t-1}·R + b' [B, 3U]
  const float* c0;
  const float* mask;
  const float* rdh;   // GRU reset_after=False with recurrent dropout: D_h [B, U], else null
  float* hT;
  float* cT;
  float* Y;
  const int64_t* firstk;  // per row, the processing index of its first unmasked step (null: no mask)
  int64_t sp;             // this step's processing index
};

__device__ __forceinline__ bool kept(const float* mask, int64_t r, int64_t T, int64_t t) {
  return !mask || mask[r * T + t] != 0.f;
}

// Keras: outputs before a row's first unmasked step are zeros (the previous output), even when an
// initial state is carried through them; the CPU twin is cpu/rnn_impl.h first_kept.
__global__ void first_kept_kernel(int64_t* first, const float* mask, int64_t B, int64_t T, bool back) {
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < B; r += int64_t(gridDim.x) * blockDim.x) {
    int64_t s = 0;
    while (s < T && !kept(mask, r, T, back ? T - 1 - s : s)) ++s;
    first[r] = s;
  }
}

__global__ void init_h_kernel(float* Hw, const float* h0, int64_t B, int64_t T, int64_t U, int64_t t0) {
  const int64_t n = B * U;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / U, j = i % U;
    Hw[(r * T + t0) * U + j] = h0 ? h0[i] : 0.f;
  }
}

// GRU reset_after=False, first half of a step: z, r and r·h_{t-1}.
__global__ void gru_zr_kernel(Step p) {
  const int64_t n = p.B * p.U, U = p.U;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / U, j = i % U;
    float* g = p.Gw + (r * p.T + p.t) * p.GU;
    const float hp = p.Hw[(r * p.T + p.t) * U + j];
    const float z = act_f(g[j], p.ra), rr = act_f(g[U + j], p.ra);
    g[j] = z;
    g[U + j] = rr;
    p.Ew[(r * p.T + p.t) * U + j] = p.rdh ? rr * hp * p.rdh[i] : rr * hp;
  }
}

// Recurrent dropout: out [B, U] = h_{t-1} ⊙ D_k (rows of h_{t-1} are T·U apart in Hw).
__global__ void drop_rows_kernel(float* out, const float* hp_base, const float* m, int64_t B, int64_t T,
                                 int64_t U) {
  const int64_t n = B * U;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / U, j = i % U;
    out[i] = hp_base[r * T * U + j] * m[i];
  }
}

// Recurrent dropout, backward: acc += q ⊙ D_k.
__global__ void add_masked_kernel(float* acc, const float* q, const float* m, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    acc[i] += q[i] * m[i];
}

// Recurrent dropout, dR: out [B, T, U] = Hw ⊙ D_k (one mask row per batch row, all steps).
__global__ void drop_all_kernel(float* out, const float* Hw, const float* m, int64_t B, int64_t T, int64_t U) {
  const int64_t n = B * T * U;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / (T * U), j = i % U;
    out[i] = Hw[i] * m[r * U + j];
  }
}

__global__ void gates_fwd_kernel(Step p) {
  const int64_t n = p.B * p.U, U = p.U, T = p.T;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / U, j = i % U;
    float* g = p.Gw + (r * T + p.t) * p.GU;
    const float hp = p.Hw[(r * T + p.t) * U + j];
    const bool keep = kept(p.mask, r, T, p.t);
    float h;
    if (p.kind == int(RnnKind::LSTM)) {
      const float cp = p.first ? (p.c0 ? p.c0[r * U + j] : 0.f) : p.Ew[(r * T + p.tp) * U + j];
      const float ig = act_f(g[j], p.ra), f = act_f(g[U + j], p.ra);
      const float gg = act_f(g[2 * U + j], p.a), o = act_f(g[3 * U + j], p.ra);
      g[j] = ig;
      g[U + j] = f;
      g[2 * U + j] = gg;
      g[3 * U + j] = o;
      float c = f * cp + ig * gg;
      h = o * act_f(c, p.a);
      if (!keep) {
        c = cp;
        h = hp;
      }
      p.Ew[(r * T + p.t) * U + j] = c;
      if (p.last && p.cT) p.cT[r * U + j] = c;
    } else if (p.kind == int(RnnKind::GRU)) {
      if (p.reset_after) {
        const float* rc = p.rec + r * p.GU;
        const float z = act_f(g[j] + rc[j], p.ra), rr = act_f(g[U + j] + rc[U + j], p.ra);
        const float rh = rc[2 * U + j];
        const float hh = act_f(g[2 * U + j] + rr * rh, p.a);
        g[j] = z;
        g[U + j] = rr;
        g[2 * U + j] = hh;
        p.Ew[(r * T + p.t) * U + j] = rh;
        h = z * hp + (1.f - z) * hh;
      } else {
        const float z = g[j];
        const float hh = act_f(g[2 * U + j], p.a);
        g[2 * U + j] = hh;
        h = z * hp + (1.f - z) * hh;
      }
      if (!keep) h = hp;
    } else {
      h = act_f(g[j], p.a);
      g[j] = h;
      if (!keep) h = hp;
    }
    if (p.last) p.hT[r * U + j] = h;
    else p.Hw[(r * T + p.tn) * U + j] = h;
    if (p.Y) p.Y[(r * T + p.s) * U + j] = (p.firstk && p.sp < p.firstk[r]) ? 0.f : h;
  }
}

struct BStep {
  int64_t B, T, U, GU, s, t, tp;  // s: the row of dY for this step
  bool first;
  int kind;
  bool reset_after;
  Act a, ra;
  const float* Gw;
  const float* Hw;
  const float* Ew;
  const float* c0;
  const float* mask;
  const float* rdh;   // as Step::rdh
  const float* dY;
  const int64_t* firstk;  // as Step::firstk: dY of leading masked steps is dropped
  int64_t sp;
  float* dZ;    // [B, T, GU]
  float* dZr;   // GRU reset_after
  float* dhc;   // [B, U]
  float* dcc;   // [B, U]
  float* dht;   // GRU reset_after=False: dh of this step
  const float* drh;
};

// GRU reset_after=False, first half of a backward step: dh and the candidate's pre-activation grad.
__global__ void gru_bwd_h_kernel(BStep p) {
  const int64_t n = p.B * p.U, U = p.U, T = p.T;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / U, j = i % U;
    const float* g = p.Gw + (r * T + p.t) * p.GU;
    float* dz = p.dZ + (r * T + p.t) * p.GU;
    const float dh = p.dhc[i] + (p.dY && !(p.firstk && p.sp < p.firstk[r]) ? p.dY[(r * T + p.s) * U + j] : 0.f);
    p.dht[i] = dh;
    dz[2 * U + j] = kept(p.mask, r, T, p.t) ? dh * (1.f - g[j]) * act_dy(g[2 * U + j], p.a) : 0.f;
  }
}

__global__ void gates_bwd_kernel(BStep p) {
  const int64_t n = p.B * p.U, U = p.U, T = p.T;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / U, j = i % U, row = r * T + p.t;
    const float* g = p.Gw + row * p.GU;
    const float hp = p.Hw[row * U + j];
    float* dz = p.dZ + row * p.GU;
    const float dy = p.dY && !(p.firstk && p.sp < p.firstk[r]) ? p.dY[(r * T + p.s) * U + j] : 0.f;
    const bool keep = kept(p.mask, r, T, p.t);
    if (p.kind == int(RnnKind::LSTM)) {
      const float dh = p.dhc[i] + dy;
      if (keep) {
        const float cp = p.first ? (p.c0 ? p.c0[i] : 0.f) : p.Ew[(r * T + p.tp) * U + j];
        const float ig = g[j], f = g[U + j], gg = g[2 * U + j], o = g[3 * U + j];
        const float ac = act_f(p.Ew[row * U + j], p.a);
        const float dc = p.dcc[i] + dh * o * act_dy(ac, p.a);
        dz[j] = dc * gg * act_dy(ig, p.ra);
        dz[U + j] = dc * cp * act_dy(f, p.ra);
        dz[2 * U + j] = dc * ig * act_dy(gg, p.a);
        dz[3 * U + j] = dh * ac * act_dy(o, p.ra);
        p.dcc[i] = dc * f;
        p.dhc[i] = 0.f;
      } else {
        for (int k = 0; k < 4; ++k) dz[k * U + j] = 0.f;
        p.dhc[i] = dh;
      }
    } else if (p.kind == int(RnnKind::GRU) && p.reset_after) {
      const float dh = p.dhc[i] + dy;
      float* dzr = p.dZr + row * p.GU;
      if (keep) {
        const float z = g[j], rr = g[U + j], hh = g[2 * U + j], rh = p.Ew[row * U + j];
        const float dzh = dh * (1.f - z) * act_dy(hh, p.a);
        const float dzz = dh * (hp - hh) * act_dy(z, p.ra);
        const float dzr_ = dzh * rh * act_dy(rr, p.ra);
        dz[j] = dzz;
        dz[U + j] = dzr_;
        dz[2 * U + j] = dzh;
        dzr[j] = dzz;
        dzr[U + j] = dzr_;
        dzr[2 * U + j] = dzh * rr;
        p.dhc[i] = dh * z;
      } else {
        for (int k = 0; k < 3; ++k) dz[k * U + j] = dzr[k * U + j] = 0.f;
        p.dhc[i] = dh;
      }
    } else if (p.kind == int(RnnKind::GRU)) {
      const float dh = p.dht[i], dr = p.drh[i];
      if (keep) {
        const float z = g[j], rr = g[U + j], hh = g[2 * U + j];
        dz[j] = dh * (hp - hh) * act_dy(z, p.ra);
        if (p.rdh) {  // e = r·(h_{t-1}⊙D_h)
          dz[U + j] = dr * hp * p.rdh[i] * act_dy(rr, p.ra);
          p.dhc[i] = dh * z + dr * rr * p.rdh[i];
        } else {
          dz[U + j] = dr * hp * act_dy(rr, p.ra);
          p.dhc[i] = dh * z + dr * rr;
        }
      } else {
        dz[j] = dz[U + j] = 0.f;
        p.dhc[i] = dh;
      }
    } else {
      const float dh = p.dhc[i] + dy;
      dz[j] = keep ? dh * act_dy(g[j], p.a) : 0.f;
      p.dhc[i] = keep ? 0.f : dh;
    }
  }
}

int blocks(int64_t n) { return grid_1d(n, kThreads); }

}  // namespace

void rnn_forward(float* Y, float* hT, float* cT, float* Gw, float* Hw, float* Ew, const float* X,
                 const float* W, const float* R, const float* b, const float* h0, const float* c0,
                 const float* mask, const RnnDims& d) {
  const int64_t B = d.B, T = d.T, F = d.F, U = d.U, GU = d.G() * U;
  const bool gru = d.kind == RnnKind::GRU;
  cudaStream_t st = current_stream();
  sgemm(Gw, X, W, b, B * T, GU, F, false, false, F, GU, GU, 0.f, Act::None);
  DeviceBuffer rec(gru && d.reset_after ? size_t(B * GU) * sizeof(float) : sizeof(float));
  const float* b_rec = (gru && d.reset_after && b) ? b + GU : nullptr;
  const float* rd = d.rdrop;
  const bool rb_gru = gru && !d.reset_after;
  DeviceBuffer hd(rd ? size_t(B * U) * sizeof(float) : sizeof(float));
  auto time = [&](int64_t s) { return d.go_backwards ? T - 1 - s : s; };
  init_h_kernel<<<blocks(B * U), kThreads, 0, st>>>(Hw, h0, B, T, U, time(0));
  FN_CUDA_LAUNCH_CHECK();
  DeviceBuffer firstk(mask ? size_t(B) * sizeof(int64_t) : sizeof(int64_t));
  if (mask) {
    first_kept_kernel<<<blocks(B), kThreads, 0, st>>>(firstk.as<int64_t>(), mask, B, T, d.go_backwards);
    FN_CUDA_LAUNCH_CHECK();
  }
  for (int64_t s = 0; s < T; ++s) {
    Step p{};
    p.firstk = mask ? firstk.as<int64_t>() : nullptr;
    p.sp = s;
    p.B = B; p.T = T; p.U = U; p.GU = GU; p.t = time(s); p.s = d.y_time_order ? p.t : s;
    p.first = s == 0; p.last = s == T - 1;
    p.tp = s ? time(s - 1) : 0; p.tn = p.last ? 0 : time(s + 1);
    p.reset_after = d.reset_after; p.kind = int(d.kind); p.a = d.act; p.ra = d.rec_act;
    p.Gw = Gw; p.Hw = Hw; p.Ew = Ew; p.rec = rec.as<float>(); p.c0 = c0; p.mask = mask;
    p.rdh = rd && rb_gru ? rd + 2 * B * U : nullptr;
    p.hT = hT; p.cT = cT; p.Y = Y;
    float* g_base = Gw + p.t * GU;
    const float* hp_base = Hw + p.t * U;
    if (rd) {  // recurrent dropout: one sgemm per gate on that gate's dropped state
      const int64_t ng = rb_gru ? 2 : d.G();
      for (int64_t k = 0; k < ng; ++k) {
        drop_rows_kernel<<<blocks(B * U), kThreads, 0, st>>>(hd.as<float>(), hp_base, rd + k * B * U, B, T, U);
        FN_CUDA_LAUNCH_CHECK();
        if (gru && d.reset_after)
          sgemm(rec.as<float>() + k * U, hd.as<float>(), R + k * U, b_rec ? b_rec + k * U : nullptr, B, U, U,
                false, false, U, GU, GU, 0.f, Act::None);
        else
          sgemm(g_base + k * U, hd.as<float>(), R + k * U, nullptr, B, U, U, false, false, U, GU, T * GU, 1.f,
                Act::None);
      }
    } else if (!gru) {
      sgemm(g_base, hp_base, R, nullptr, B, GU, U, false, false, T * U, GU, T * GU, 1.f, Act::None);
    } else if (d.reset_after) {
      sgemm(rec.as<float>(), hp_base, R, b_rec, B, GU, U, false, false, T * U, GU, GU, 0.f, Act::None);
    } else {
      sgemm(g_base, hp_base, R, nullptr, B, 2 * U, U, false, false, T * U, GU, T * GU, 1.f, Act::None);
    }
    if (rb_gru) {
      gru_zr_kernel<<<blocks(B * U), kThreads, 0, st>>>(p);
      FN_CUDA_LAUNCH_CHECK();
      sgemm(g_base + 2 * U, Ew + p.t * U, R + 2 * U, nullptr, B, U, U, false, false, T * U, GU, T * GU, 1.f,
            Act::None);
    }
    gates_fwd_kernel<<<blocks(B * U), kThreads, 0, st>>>(p);
    FN_CUDA_LAUNCH_CHECK();
  }
}

void rnn_backward(float* dX, float* dW, float* dR, float* db, float* dh0, float* dc0,
                  const float* dY, const float* dhT, const float* dcT, const float* X,
                  const float* W, const float* R, const float* Gw, const float* Hw, const float* Ew,
                  const float* c0, const float* mask, const RnnDims& d) {
  const int64_t B = d.B, T = d.T, F = d.F, U = d.U, GU = d.G() * U, BT = B * T;
  const bool gru = d.kind == RnnKind::GRU, lstm = d.kind == RnnKind::LSTM;
  const bool ra_gru = gru && d.reset_after, rb_gru = gru && !d.reset_after;
  cudaStream_t st = current_stream();
  const size_t ub = size_t(B * U) * sizeof(float);
  DeviceBuffer dZ(size_t(BT * GU) * sizeof(float));
  DeviceBuffer dZr(ra_gru ? size_t(BT * GU) * sizeof(float) : sizeof(float));
  DeviceBuffer dhc(ub), dcc(ub);
  DeviceBuffer dht(rb_gru ? ub : sizeof(float)), drh(rb_gru ? ub : sizeof(float));
  if (dhT) FN_CUDA_CHECK(cudaMemcpyAsync(dhc.as<void>(), dhT, ub, cudaMemcpyDeviceToDevice, st));
  else FN_CUDA_CHECK(cudaMemsetAsync(dhc.as<void>(), 0, ub, st));
  if (dcT) FN_CUDA_CHECK(cudaMemcpyAsync(dcc.as<void>(), dcT, ub, cudaMemcpyDeviceToDevice, st));
  else FN_CUDA_CHECK(cudaMemsetAsync(dcc.as<void>(), 0, ub, st));
  const float* rd = d.rdrop;
  DeviceBuffer dtmp(rd ? ub : sizeof(float));
  auto time = [&](int64_t s) { return d.go_backwards ? T - 1 - s : s; };
  DeviceBuffer firstk(mask ? size_t(B) * sizeof(int64_t) : sizeof(int64_t));
  if (mask) {
    first_kept_kernel<<<blocks(B), kThreads, 0, st>>>(firstk.as<int64_t>(), mask, B, T, d.go_backwards);
    FN_CUDA_LAUNCH_CHECK();
  }
  for (int64_t s = T - 1; s >= 0; --s) {
    BStep p{};
    p.firstk = mask ? firstk.as<int64_t>() : nullptr;
    p.sp = s;
    p.B = B; p.T = T; p.U = U; p.GU = GU; p.t = time(s); p.s = d.y_time_order ? p.t : s;
    p.tp = s ? time(s - 1) : 0;
    p.first = s == 0; p.kind = int(d.kind); p.reset_after = d.reset_after; p.a = d.act; p.ra = d.rec_act;
    p.Gw = Gw; p.Hw = Hw; p.Ew = Ew; p.c0 = c0; p.mask = mask; p.dY = dY;
    p.rdh = rd && rb_gru ? rd + 2 * B * U : nullptr;
    p.dZ = dZ.as<float>(); p.dZr = dZr.as<float>(); p.dhc = dhc.as<float>(); p.dcc = dcc.as<float>();
    p.dht = dht.as<float>(); p.drh = drh.as<float>();
    float* dz_base = dZ.as<float>() + p.t * GU;
    if (rb_gru) {
      gru_bwd_h_kernel<<<blocks(B * U), kThreads, 0, st>>>(p);
      FN_CUDA_LAUNCH_CHECK();
      sgemm(drh.as<float>(), dz_base + 2 * U, R + 2 * U, nullptr, B, U, U, false, true, T * GU, GU, U, 0.f,
            Act::None);
    }
    gates_bwd_kernel<<<blocks(B * U), kThreads, 0, st>>>(p);
    FN_CUDA_LAUNCH_CHECK();
    if (rd) {  // Σ_k (dZ_k · R_kᵀ) ⊙ D_k, one sgemm per gate
      const float* src = ra_gru ? dZr.as<float>() + p.t * GU : dz_base;
      const int64_t ng = rb_gru ? 2 : d.G();
      for (int64_t k = 0; k < ng; ++k) {
        sgemm(dtmp.as<float>(), src + k * U, R + k * U, nullptr, B, U, U, false, true, T * GU, GU, U, 0.f,
              Act::None);
        add_masked_kernel<<<blocks(B * U), kThreads, 0, st>>>(dhc.as<float>(), dtmp.as<float>(), rd + k * B * U,
                                                               B * U);
        FN_CUDA_LAUNCH_CHECK();
      }
    } else if (ra_gru)
      sgemm(dhc.as<float>(), dZr.as<float>() + p.t * GU, R, nullptr, B, U, GU, false, true, T * GU, GU, U, 1.f,
            Act::None);
    else if (rb_gru)
      sgemm(dhc.as<float>(), dz_base, R, nullptr, B, U, 2 * U, false, true, T * GU, GU, U, 1.f, Act::None);
    else
      sgemm(dhc.as<float>(), dz_base, R, nullptr, B, U, GU, false, true, T * GU, GU, U, 1.f, Act::None);
  }
  if (dh0) FN_CUDA_CHECK(cudaMemcpyAsync(dh0, dhc.as<void>(), ub, cudaMemcpyDeviceToDevice, st));
  if (dc0) {
    if (lstm) FN_CUDA_CHECK(cudaMemcpyAsync(dc0, dcc.as<void>(), ub, cudaMemcpyDeviceToDevice, st));
    else FN_CUDA_CHECK(cudaMemsetAsync(dc0, 0, ub, st));
  }
  sgemm(dW, X, dZ.as<float>(), nullptr, F, GU, BT, true, false, F, GU, GU, 0.f, Act::None);
  if (rd) {  // dR_k = (H⊙D_k)ᵀ·dZ_k
    DeviceBuffer hm(size_t(BT * U) * sizeof(float));
    const float* src = ra_gru ? dZr.as<float>() : dZ.as<float>();
    const int64_t ng = rb_gru ? 2 : d.G();
    for (int64_t k = 0; k < ng; ++k) {
      drop_all_kernel<<<blocks(BT * U), kThreads, 0, st>>>(hm.as<float>(), Hw, rd + k * B * U, B, T, U);
      FN_CUDA_LAUNCH_CHECK();
      sgemm(dR + k * U, hm.as<float>(), src + k * U, nullptr, U, U, BT, true, false, U, GU, GU, 0.f, Act::None);
    }
    if (rb_gru)
      sgemm(dR + 2 * U, Ew, dZ.as<float>() + 2 * U, nullptr, U, U, BT, true, false, U, GU, GU, 0.f, Act::None);
  } else if (ra_gru) {
    sgemm(dR, Hw, dZr.as<float>(), nullptr, U, GU, BT, true, false, U, GU, GU, 0.f, Act::None);
  } else if (rb_gru) {
    sgemm(dR, Hw, dZ.as<float>(), nullptr, U, 2 * U, BT, true, false, U, GU, GU, 0.f, Act::None);
    sgemm(dR + 2 * U, Ew, dZ.as<float>() + 2 * U, nullptr, U, U, BT, true, false, U, GU, GU, 0.f, Act::None);
  } else {
    sgemm(dR, Hw, dZ.as<float>(), nullptr, U, GU, BT, true, false, U, GU, GU, 0.f, Act::None);
  }
  if (db) {
    column_sum(db, dZ.as<float>(), BT, GU);
    if (ra_gru) column_sum(db + GU, dZr.as<float>(), BT, GU);
  }
  if (dX) sgemm(dX, dZ.as<float>(), W, nullptr, BT, F, GU, false, true, GU, GU, F, 0.f, Act::None);
}

}  // namespace fusednet::cuda
