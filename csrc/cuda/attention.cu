// attention.cu — CUDA twin of csrc/cpu/attention.cpp (formulas, layouts, mask and dropout rules in
// csrc/cpu/attention.h). Compiled, not yet run on a GPU (no device was lent to this task).
//
// One warp per query row (forward, Dᵢ, dQ) or per key row (dK, dV); each lane holds the head
// dimensions d = lane + 32·t (t < kMaxPer, so D, Dv <= 256). Dot products are xor-butterfly warp
// sums (every lane ends with the same bits, fixed order), the softmax is online over the keys
// (running max / sum, no Tq×Tk buffer), causal rows stop at key i. The backward recomputes the
// probabilities from the saved log-sum-exp; dK/dV for key j are accumulated by the one warp that
// owns j and dQ for row i by the warp that owns i, so there are no atomics and the results are
// bitwise reproducible run to run. This is the simple, correct shape; a tiled shared-memory
// (FlashAttention-2) kernel is the follow-up once it can be measured on a device.
#include <cmath>

#include "common/philox.h"
#include "cuda/attention.h"
#include "cuda/check.cuh"
#include "cuda/runtime.h"
#include "cuda/scratch.cuh"

namespace fusednet::cuda {

namespace {

constexpr int kWarps = 4;  // rows per block
constexpr int kMaxPer = 8;  // head dims per lane: D, Dv <= 256

struct Args {
  attn::Dims d;
  attn::Strides qs, ks, vs, os;
  attn::Mask mask;
  bool causal;
  float scale;
  uint32_t thr;  // dropout threshold on (lane >> 8); 0 = no dropout
  float keep_scale;
  uint64_t seed, offset;
};

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ void load_row(float (&r)[kMaxPer], const float* p, i64 n, int lane) {
#pragma unroll
  for (int t = 0; t < kMaxPer; ++t) {
    const i64 e = lane + 32 * t;
    r[t] = e < n ? p[e] : 0.f;
  }
}

__device__ __forceinline__ float dot_row(const float (&r)[kMaxPer], const float* p, i64 n, int lane) {
  float s = 0.f;
#pragma unroll
  for (int t = 0; t < kMaxPer; ++t) {
    const i64 e = lane + 32 * t;
    if (e < n) s += r[t] * p[e];
  }
  return warp_sum(s);
}

__device__ __forceinline__ float apply_mask(const Args& a, float s, i64 b, i64 i, i64 j) {
  if (a.mask.p && !(a.mask.p[b * a.mask.sb + i * a.mask.si + j * a.mask.sj] > 0.5f)) s = -1e9f;
  if (a.causal && j > i) s = -INFINITY;
  return s;
}

__device__ __forceinline__ float keep(const Args& a, i64 b, i64 h, i64 i, i64 j) {
  if (!a.thr) return 1.f;
  const uint64_t idx = static_cast<uint64_t>(((b * a.d.H + h) * a.d.Tq + i) * a.d.Tk + j);
  const Philox4 r = philox_block(a.seed, a.offset, idx >> 2);
  return (r.v[idx & 3] >> 8) >= a.thr ? a.keep_scale : 0.f;
}

// Row r of [B·H·T] -> (b, h, t).
__device__ __forceinline__ void split_row(const Args& a, i64 r, i64 T, i64& b, i64& h, i64& t) {
  t = r % T;
  const i64 bh = r / T;
  b = bh / a.d.H;
  h = bh % a.d.H;
}

__global__ void fwd_kernel(float* O, float* LSE, const float* Q, const float* K, const float* V, Args a) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const i64 rows = a.d.B * a.d.H * a.d.Tq;
  for (i64 r = i64(blockIdx.x) * kWarps + warp; r < rows; r += i64(gridDim.x) * kWarps) {
    i64 b, h, i;
    split_row(a, r, a.d.Tq, b, h, i);
    float q[kMaxPer], acc[kMaxPer];
    load_row(q, Q + b * a.qs.b + h * a.qs.h + i * a.qs.t, a.d.D, lane);
#pragma unroll
    for (int t = 0; t < kMaxPer; ++t) acc[t] = 0.f;
    const float* Kb = K + b * a.ks.b + h * a.ks.h;
    const float* Vb = V + b * a.vs.b + h * a.vs.h;
    const i64 kend = a.causal ? min(a.d.Tk, i + 1) : a.d.Tk;
    float m = -INFINITY, l = 0.f;
    for (i64 j = 0; j < kend; ++j) {
      const float s = apply_mask(a, dot_row(q, Kb + j * a.ks.t, a.d.D, lane) * a.scale, b, i, j);
      const float mx = fmaxf(m, s);
      const float alpha = m == -INFINITY ? 0.f : expf(m - mx);
      const float p = expf(s - mx);
      l = l * alpha + p;
      const float pd = p * keep(a, b, h, i, j);
      const float* vr = Vb + j * a.vs.t;
#pragma unroll
      for (int t = 0; t < kMaxPer; ++t) {
        const i64 e = lane + 32 * t;
        acc[t] = acc[t] * alpha + (e < a.d.Dv ? pd * vr[e] : 0.f);
      }
      m = mx;
    }
    float* o = O + b * a.os.b + h * a.os.h + i * a.os.t;
#pragma unroll
    for (int t = 0; t < kMaxPer; ++t) {
      const i64 e = lane + 32 * t;
      if (e < a.d.Dv) o[e] = acc[t] / l;
    }
    if (lane == 0) LSE[r] = m + logf(l);
  }
}

// Dᵢ = dOᵢ·Oᵢ
__global__ void rowdot_kernel(float* Dr, const float* dO, const float* O, Args a) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const i64 rows = a.d.B * a.d.H * a.d.Tq;
  for (i64 r = i64(blockIdx.x) * kWarps + warp; r < rows; r += i64(gridDim.x) * kWarps) {
    i64 b, h, i;
    split_row(a, r, a.d.Tq, b, h, i);
    const i64 off = b * a.os.b + h * a.os.h + i * a.os.t;
    float g[kMaxPer];
    load_row(g, dO + off, a.d.Dv, lane);
    const float s = dot_row(g, O + off, a.d.Dv, lane);
    if (lane == 0) Dr[r] = s;
  }
}

__global__ void dq_kernel(float* dQ, const float* dO, const float* Q, const float* K, const float* V,
                          const float* LSE, const float* Dr, Args a) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const i64 rows = a.d.B * a.d.H * a.d.Tq;
  for (i64 r = i64(blockIdx.x) * kWarps + warp; r < rows; r += i64(gridDim.x) * kWarps) {
    i64 b, h, i;
    split_row(a, r, a.d.Tq, b, h, i);
    float q[kMaxPer], g[kMaxPer], dq[kMaxPer];
    load_row(q, Q + b * a.qs.b + h * a.qs.h + i * a.qs.t, a.d.D, lane);
    load_row(g, dO + b * a.os.b + h * a.os.h + i * a.os.t, a.d.Dv, lane);
#pragma unroll
    for (int t = 0; t < kMaxPer; ++t) dq[t] = 0.f;
    const float lse = LSE[r], Di = Dr[r];
    const float* Kb = K + b * a.ks.b + h * a.ks.h;
    const float* Vb = V + b * a.vs.b + h * a.vs.h;
    const i64 kend = a.causal ? min(a.d.Tk, i + 1) : a.d.Tk;
    for (i64 j = 0; j < kend; ++j) {
      const float* kr = Kb + j * a.ks.t;
      const float s = apply_mask(a, dot_row(q, kr, a.d.D, lane) * a.scale, b, i, j);
      const float p = expf(s - lse);
      const float dp = dot_row(g, Vb + j * a.vs.t, a.d.Dv, lane) * keep(a, b, h, i, j);
      const float ds = p * (dp - Di);
#pragma unroll
      for (int t = 0; t < kMaxPer; ++t) {
        const i64 e = lane + 32 * t;
        if (e < a.d.D) dq[t] += ds * kr[e];
      }
    }
    float* out = dQ + b * a.qs.b + h * a.qs.h + i * a.qs.t;
#pragma unroll
    for (int t = 0; t < kMaxPer; ++t) {
      const i64 e = lane + 32 * t;
      if (e < a.d.D) out[e] = a.scale * dq[t];
    }
  }
}

__global__ void dkv_kernel(float* dK, float* dV, const float* dO, const float* Q, const float* K, const float* V,
                           const float* LSE, const float* Dr, Args a) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const i64 rows = a.d.B * a.d.H * a.d.Tk;
  for (i64 r = i64(blockIdx.x) * kWarps + warp; r < rows; r += i64(gridDim.x) * kWarps) {
    i64 b, h, j;
    split_row(a, r, a.d.Tk, b, h, j);
    float k[kMaxPer], v[kMaxPer], dk[kMaxPer], dv[kMaxPer];
    load_row(k, K + b * a.ks.b + h * a.ks.h + j * a.ks.t, a.d.D, lane);
    load_row(v, V + b * a.vs.b + h * a.vs.h + j * a.vs.t, a.d.Dv, lane);
#pragma unroll
    for (int t = 0; t < kMaxPer; ++t) dk[t] = dv[t] = 0.f;
    const float* Qb = Q + b * a.qs.b + h * a.qs.h;
    const float* dOb = dO + b * a.os.b + h * a.os.h;
    const i64 bh = b * a.d.H + h;
    for (i64 i = a.causal ? j : 0; i < a.d.Tq; ++i) {
      const float* qr = Qb + i * a.qs.t;
      const float* gr = dOb + i * a.os.t;
      const float s = apply_mask(a, dot_row(k, qr, a.d.D, lane) * a.scale, b, i, j);
      const float p = expf(s - LSE[bh * a.d.Tq + i]);
      const float kd = keep(a, b, h, i, j);
      const float dp = dot_row(v, gr, a.d.Dv, lane) * kd;
      const float ds = p * (dp - Dr[bh * a.d.Tq + i]);
      const float pd = p * kd;
#pragma unroll
      for (int t = 0; t < kMaxPer; ++t) {
        const i64 e = lane + 32 * t;
        if (e < a.d.D) dk[t] += ds * qr[e];
        if (e < a.d.Dv) dv[t] += pd * gr[e];
      }
    }
    float* ok = dK + b * a.ks.b + h * a.ks.h + j * a.ks.t;
    float* ov = dV + b * a.vs.b + h * a.vs.h + j * a.vs.t;
#pragma unroll
    for (int t = 0; t < kMaxPer; ++t) {
      const i64 e = lane + 32 * t;
      if (e < a.d.D) ok[e] = a.scale * dk[t];
      if (e < a.d.Dv) ov[e] = dv[t];
    }
  }
}

Args make_args(const attn::Dims& d, bool causal, float scale, const attn::Mask& mask, const attn::Dropout& drop) {
  FN_CHECK(d.D <= 32 * kMaxPer && d.Dv <= 32 * kMaxPer,
           "attention (cuda): head sizes up to " + std::to_string(32 * kMaxPer) + " are supported, got D = " +
               std::to_string(d.D) + ", Dv = " + std::to_string(d.Dv));
  Args a;
  a.d = d;
  a.qs = attn::in_strides(d, d.Tq, d.D);  // packed QKV: token stride 3·H·D (attention.h)
  a.ks = attn::in_strides(d, d.Tk, d.D);
  a.vs = attn::in_strides(d, d.Tk, d.Dv);
  a.os = attn::strides(d, d.Tq, d.Dv);
  a.mask = mask;
  a.causal = causal;
  a.scale = scale;
  a.thr = drop.rate > 0.0 ? static_cast<uint32_t>(std::ceil(drop.rate * 16777216.0)) : 0u;
  a.keep_scale = drop.rate > 0.0 ? static_cast<float>(1.0 / (1.0 - drop.rate)) : 1.f;
  a.seed = drop.seed;
  a.offset = drop.offset;
  return a;
}

int blocks_for_rows(i64 rows) { return grid_1d(rows, kWarps, 65535 * 8); }

void zero(float* p, i64 n) {
  if (n > 0) FN_CUDA_CHECK(cudaMemsetAsync(p, 0, static_cast<size_t>(n) * sizeof(float), current_stream()));
}

}  // namespace

void attention_forward(float* O, float* LSE, const float* Q, const float* K, const float* V, const attn::Dims& d,
                       bool causal, float scale, const attn::Mask& mask, const attn::Dropout& drop) {
  if (d.B == 0 || d.H == 0 || d.Tq == 0 || d.Tk == 0) return;
  const Args a = make_args(d, causal, scale, mask, drop);
  const i64 rows = d.B * d.H * d.Tq;
  fwd_kernel<<<blocks_for_rows(rows), 32 * kWarps, 0, current_stream()>>>(O, LSE, Q, K, V, a);
  FN_CUDA_LAUNCH_CHECK();
}

void attention_backward(float* dQ, float* dK, float* dV, const float* dO, const float* Q, const float* K,
                        const float* V, const float* O, const float* LSE, const attn::Dims& d, bool causal,
                        float scale, const attn::Mask& mask, const attn::Dropout& drop) {
  if (d.B == 0 || d.H == 0) return;
  const i64 BH = d.B * d.H;
  if (d.Tq == 0 || d.Tk == 0) {
    zero(dQ, BH * d.Tq * d.D);
    zero(dK, BH * d.Tk * d.D);
    zero(dV, BH * d.Tk * d.Dv);
    return;
  }
  const Args a = make_args(d, causal, scale, mask, drop);
  cudaStream_t st = current_stream();
  const i64 qrows = BH * d.Tq, krows = BH * d.Tk;
  DeviceBuffer Dr(static_cast<size_t>(qrows) * sizeof(float));
  rowdot_kernel<<<blocks_for_rows(qrows), 32 * kWarps, 0, st>>>(Dr.as<float>(), dO, O, a);
  FN_CUDA_LAUNCH_CHECK();
  dq_kernel<<<blocks_for_rows(qrows), 32 * kWarps, 0, st>>>(dQ, dO, Q, K, V, LSE, Dr.as<float>(), a);
  FN_CUDA_LAUNCH_CHECK();
  dkv_kernel<<<blocks_for_rows(krows), 32 * kWarps, 0, st>>>(dK, dV, dO, Q, K, V, LSE, Dr.as<float>(), a);
  FN_CUDA_LAUNCH_CHECK();
}

}  // namespace fusednet::cuda
