// loss.cu — CUDA twins of csrc/cpu/loss.cpp: per-row loss and the already-scaled gradient.
//
// Layout: inputs viewed as rows × C (C = last axis), loss[rows], grad like the input (nullptr =
// loss only). Formulas are exactly the CPU's (see cpu/loss.h); sums are accumulated in double as
// on the CPU, so the two agree to float rounding.
//
// Cross-entropies (softmax_xent_*, categorical_xent_probs): one block per row (grid-stride over
// rows). The row is read three times — max, Σexp/Σt terms, gradient — and the second and third
// visits hit L1/L2, so HBM traffic is one read of the logits and one write of the gradient: the
// fused kernel DESIGN invariant 4 asks for. Reductions are deterministic block reductions
// (reduce.cuh); the label's own gradient term is folded into the single store of g[j] (no
// read-modify-write race). Block size: 32 threads for C ≤ 128 (typical classifiers: a 256-thread
// block would idle), else 256.
//
// Elementwise losses (MSE, MAE, Huber, BCE variants): one warp per row, 8 rows per block, lanes
// stride over C; the per-row mean is a warp butterfly in double. For C = 1 (1-D inputs) a row is
// one element and only lane 0 works — acceptable: such losses are tiny next to the model.
#include <cmath>

#include "cpu/loss.h"
#include "cuda/check.cuh"
#include "cuda/kernels.h"
#include "cuda/reduce.cuh"

namespace fusednet::cuda {

namespace {

constexpr int kMaxGrid = 65535 * 4;

int xent_block(i64 C) { return C <= 128 ? 32 : 256; }

__device__ __forceinline__ float row_max(const float* __restrict__ x, int64_t C, float* red) {
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < C; j += blockDim.x) m = MaxOp()(m, x[j]);
  return block_reduce(m, MaxOp(), -INFINITY, red);
}

template <class L>
__global__ void xent_sparse_kernel(float* __restrict__ loss, float* __restrict__ g,
                                   const float* __restrict__ logits, const L* __restrict__ labels,
                                   int64_t rows, int64_t C, float ls, float scale) {
  __shared__ float redf[32];
  __shared__ double redd[32];
  const double lsC = double(ls) / double(C);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* x = logits + r * C;
    const float m = row_max(x, C, redf);
    double s = 0.0, sum_xm = 0.0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      const float d = x[j] - m;
      s += expf(d);
      sum_xm += d;
    }
    s = block_reduce(s, SumOp(), 0.0, redd);
    sum_xm = block_reduce(sum_xm, SumOp(), 0.0, redd);
    const int64_t y = static_cast<int64_t>(labels[r]);
    const bool valid = y >= 0 && y < C;  // the binding range-checks; never read out of bounds
    if (threadIdx.x == 0) {
      const double xy = valid ? double(x[y]) - double(m) : 0.0;
      loss[r] = valid ? static_cast<float>(log(s) - (1.0 - ls) * xy - lsC * sum_xm) : NAN;
    }
    if (g) {
      float* gr = g + r * C;
      const float inv = static_cast<float>(double(scale) / s);
      const float off = static_cast<float>(double(scale) * lsC);
      const float hit = static_cast<float>(double(scale) * (1.0 - ls));
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
        float v = expf(x[j] - m) * inv - off;
        if (j == y) v -= hit;
        gr[j] = valid ? v : NAN;
      }
    }
  }
}

__global__ void xent_dense_kernel(float* __restrict__ loss, float* __restrict__ g,
                                  const float* __restrict__ logits, const float* __restrict__ targets,
                                  int64_t rows, int64_t C, float ls, float scale) {
  __shared__ float redf[32];
  __shared__ double redd[32];
  const float keep = 1.0f - ls, add = static_cast<float>(double(ls) / double(C));
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* x = logits + r * C;
    const float* tt = targets + r * C;
    const float m = row_max(x, C, redf);
    double s = 0.0, sum_t = 0.0, sum_txm = 0.0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      const float d = x[j] - m;
      const float t = tt[j] * keep + add;
      s += expf(d);
      sum_t += t;
      sum_txm += double(t) * double(d);
    }
    s = block_reduce(s, SumOp(), 0.0, redd);
    sum_t = block_reduce(sum_t, SumOp(), 0.0, redd);
    sum_txm = block_reduce(sum_txm, SumOp(), 0.0, redd);
    if (threadIdx.x == 0) loss[r] = static_cast<float>(sum_t * log(s) - sum_txm);
    if (g) {
      float* gr = g + r * C;
      const float a = static_cast<float>(double(scale) * sum_t / s);
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x)
        gr[j] = expf(x[j] - m) * a - scale * (tt[j] * keep + add);
    }
  }
}

__global__ void cat_xent_probs_kernel(float* __restrict__ loss, float* __restrict__ g,
                                      const float* __restrict__ probs,
                                      const float* __restrict__ targets, int64_t rows, int64_t C,
                                      float ls, float scale) {
  __shared__ double redd[32];
  const double eps = 1e-7, keep = 1.0 - ls, add = double(ls) / double(C);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* p = probs + r * C;
    const float* tt = targets + r * C;
    double S = 0.0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) S += p[j];
    S = block_reduce(S, SumOp(), 0.0, redd);
    const double invS = 1.0 / S;
    double l = 0.0, sum_gq = 0.0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      const double t = tt[j] * keep + add;
      const double q = p[j] * invS;
      const double c = fmin(fmax(q, eps), 1.0 - eps);
      l -= t * log(c);
      const double gq = (q >= eps && q <= 1.0 - eps) ? -t / q : 0.0;
      sum_gq += gq * q;
    }
    l = block_reduce(l, SumOp(), 0.0, redd);
    if (threadIdx.x == 0) loss[r] = static_cast<float>(l);
    if (g) {
      sum_gq = block_reduce(sum_gq, SumOp(), 0.0, redd);
      float* gr = g + r * C;
      const double a = double(scale) * invS;
      for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
        const double t = tt[j] * keep + add;
        const double q = p[j] * invS;
        // CPU stores gq in float before subtracting; mirror that rounding.
        const float gqf = static_cast<float>((q >= eps && q <= 1.0 - eps) ? -t / q : 0.0);
        gr[j] = static_cast<float>((double(gqf) - sum_gq) * a);
      }
    }
  }
}

// ---- elementwise losses: per-element (loss, dloss/dpred), same maths as the CPU functors.
struct SigmoidBCE {
  float keep, add;
  __device__ void operator()(float x, float t0, float& l, float& d) const {
    const float t = t0 * keep + add;
    const float e = expf(-fabsf(x));
    l = fmaxf(x, 0.0f) - x * t + log1pf(e);
    const float sig = x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    d = sig - t;
  }
};
struct BCEProbs {
  float keep, add;
  __device__ void operator()(float p, float t0, float& l, float& d) const {
    const double eps = 1e-7;
    const double t = double(t0) * keep + add;
    const double c = fmin(fmax(double(p), eps), 1.0 - eps);
    l = static_cast<float>(-(t * log(c) + (1.0 - t) * log(1.0 - c)));
    d = (p >= eps && p <= 1.0 - eps) ? static_cast<float>(-t / c + (1.0 - t) / (1.0 - c)) : 0.0f;
  }
};
struct MSE {
  __device__ void operator()(float p, float t, float& l, float& d) const {
    const float e = p - t;
    l = e * e;
    d = 2.0f * e;
  }
};
struct MAE {
  __device__ void operator()(float p, float t, float& l, float& d) const {
    const float e = p - t;
    l = fabsf(e);
    d = e > 0.0f ? 1.0f : (e < 0.0f ? -1.0f : 0.0f);
  }
};
struct Huber {
  float delta;
  __device__ void operator()(float p, float t, float& l, float& d) const {
    const float e = p - t, a = fabsf(e);
    if (a <= delta) {
      l = 0.5f * e * e;
      d = e;
    } else {
      l = delta * a - 0.5f * delta * delta;
      d = e > 0.0f ? delta : -delta;
    }
  }
};

constexpr int kRowsPerBlock = 8;  // one warp per row

template <class F>
__global__ void __launch_bounds__(32 * kRowsPerBlock)
    pointwise_loss_kernel(F f, float* __restrict__ loss, float* __restrict__ dpred,
                          const float* __restrict__ pred, const float* __restrict__ target,
                          int64_t rows, int64_t C, float scale) {
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  const double invC = 1.0 / double(C);
  const float gs = static_cast<float>(double(scale) * invC);
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + w; r < rows;
       r += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const float* p = pred + r * C;
    const float* t = target + r * C;
    double acc = 0.0;
    for (int64_t j = lane; j < C; j += 32) {
      float l, d;
      f(p[j], t[j], l, d);
      acc += l;
      if (dpred) dpred[r * C + j] = d * gs;
    }
    acc = warp_reduce(acc, SumOp());
    if (lane == 0) loss[r] = static_cast<float>(acc * invC);
  }
}

template <class F>
void launch_pointwise(const F& f, float* loss, float* dpred, const float* pred, const float* target,
                      i64 rows, i64 C, float scale) {
  const int blocks = grid_1d(rows, kRowsPerBlock, kMaxGrid);
  pointwise_loss_kernel<F><<<blocks, 32 * kRowsPerBlock, 0, current_stream()>>>(
      f, loss, dpred, pred, target, rows, C, scale);
  FN_CUDA_LAUNCH_CHECK();
}

int row_grid(i64 rows) { return static_cast<int>(rows < kMaxGrid ? rows : kMaxGrid); }

}  // namespace

void softmax_xent_sparse_i32(float* loss, float* dlogits, const float* logits, const int32_t* labels,
                             i64 rows, i64 C, float ls, float scale) {
  if (rows <= 0) return;
  FN_CHECK(C > 0, "softmax_cross_entropy: no classes");
  xent_sparse_kernel<int32_t><<<row_grid(rows), xent_block(C), 0, current_stream()>>>(
      loss, dlogits, logits, labels, rows, C, ls, scale);
  FN_CUDA_LAUNCH_CHECK();
}

void softmax_xent_sparse_i64(float* loss, float* dlogits, const float* logits, const int64_t* labels,
                             i64 rows, i64 C, float ls, float scale) {
  if (rows <= 0) return;
  FN_CHECK(C > 0, "softmax_cross_entropy: no classes");
  xent_sparse_kernel<int64_t><<<row_grid(rows), xent_block(C), 0, current_stream()>>>(
      loss, dlogits, logits, labels, rows, C, ls, scale);
  FN_CUDA_LAUNCH_CHECK();
}

void softmax_xent_dense(float* loss, float* dlogits, const float* logits, const float* targets,
                        i64 rows, i64 C, float ls, float scale) {
  if (rows <= 0) return;
  FN_CHECK(C > 0, "softmax_cross_entropy: no classes");
  xent_dense_kernel<<<row_grid(rows), xent_block(C), 0, current_stream()>>>(
      loss, dlogits, logits, targets, rows, C, ls, scale);
  FN_CUDA_LAUNCH_CHECK();
}

void categorical_xent_probs(float* loss, float* dprobs, const float* probs, const float* targets,
                            i64 rows, i64 C, float ls, float scale) {
  if (rows <= 0) return;
  FN_CHECK(C > 0, "categorical_crossentropy_probs: no classes");
  cat_xent_probs_kernel<<<row_grid(rows), xent_block(C), 0, current_stream()>>>(
      loss, dprobs, probs, targets, rows, C, ls, scale);
  FN_CUDA_LAUNCH_CHECK();
}

void pointwise_loss(cpu::PointLoss kind, float* loss, float* dpred, const float* pred,
                    const float* target, i64 rows, i64 C, float param, float scale) {
  if (rows <= 0) return;
  FN_CHECK(C > 0, "loss: empty last axis");
  const float keep = 1.0f - param, add = 0.5f * param;
  switch (kind) {
    case cpu::PointLoss::SigmoidBCE:
      launch_pointwise(SigmoidBCE{keep, add}, loss, dpred, pred, target, rows, C, scale);
      break;
    case cpu::PointLoss::BCEProbs:
      launch_pointwise(BCEProbs{keep, add}, loss, dpred, pred, target, rows, C, scale);
      break;
    case cpu::PointLoss::MSE: launch_pointwise(MSE{}, loss, dpred, pred, target, rows, C, scale); break;
    case cpu::PointLoss::MAE: launch_pointwise(MAE{}, loss, dpred, pred, target, rows, C, scale); break;
    case cpu::PointLoss::Huber:
      launch_pointwise(Huber{param}, loss, dpred, pred, target, rows, C, scale);
      break;
  }
}

}  // namespace fusednet::cuda
