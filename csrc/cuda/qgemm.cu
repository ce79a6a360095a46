// qgemm.cu — CUDA twin of csrc/cpu/qgemm.cpp: int8 inference GEMM / conv.
//
//   acc[i,j] = Σ_k A_u8[i,k]·B_s8[k,j] (int32, exact);  C = act((acc − zp_i·colsum_j)·sa_i·sw_j + b_j)
// Plain int32 accumulation over 16×16 output tiles with 64-deep shared-memory slices of A and B
// (B stays [K, N] row-major: no packed layout on the device; dp4a would need 4 consecutive k per
// column, a later optimisation). Integer sums are exact, so the accumulators equal the CPU's; the
// epilogue is the same float expression in the same order (the CPU build has no FMA
// contraction; __fmul_rn/__fadd_rn keep nvcc from contracting here either).
// Activation quantization: one block per row (dynamic: block min/max reduction, then the
// CPU's quant_params formula), q = clamp(rint(x / sa) + zp, 0, 255) — round half to even as
// the CPU and ONNX QuantizeLinear.
#include <algorithm>

#include "cuda/check.cuh"
#include "cuda/qgemm.h"

namespace fusednet::cuda {

namespace {

constexpr int kT = 16, kTK = 64;

__device__ inline void quant_params_dev(float lo, float hi, float* sa, int32_t* zp) {
  if (!(lo == lo)) lo = 0.f;
  if (!(hi == hi)) hi = 0.f;
  lo = fminf(lo, 0.f);
  hi = fmaxf(hi, 0.f);
  lo = fmaxf(lo, -3.0e38f);
  hi = fminf(hi, 3.0e38f);
  float s = __fdiv_rn(__fsub_rn(hi, lo), 255.f);
  if (!(s > 0.f) || isinf(s)) s = s > 0.f ? 3.0e38f / 255.f : 1.f;
  *sa = s;
  float z = __fdiv_rn(-lo, s);
  z = fminf(fmaxf(z, 0.f), 255.f);
  *zp = int32_t(rintf(z));
}

__global__ void quantize_rows_kernel(uint8_t* q, float* sa, int32_t* zp, const float* x, int64_t K,
                                     int64_t ldq, bool per_row, float scale, int32_t zero_point) {
  const int64_t i = blockIdx.x;
  const float* xr = x + i * K;
  __shared__ float slo[256], shi[256];
  __shared__ float s_s;
  __shared__ int32_t s_z;
  if (per_row) {
    float lo = 0.f, hi = 0.f;
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
      const float v = xr[k];
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    slo[threadIdx.x] = lo;
    shi[threadIdx.x] = hi;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
      if (threadIdx.x < w) {
        slo[threadIdx.x] = fminf(slo[threadIdx.x], slo[threadIdx.x + w]);
        shi[threadIdx.x] = fmaxf(shi[threadIdx.x], shi[threadIdx.x + w]);
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      quant_params_dev(slo[0], shi[0], &sa[i], &zp[i]);
      s_s = sa[i];
      s_z = zp[i];
    }
  } else if (threadIdx.x == 0) {
    s_s = scale;
    s_z = zero_point;
    if (i == 0) {
      sa[0] = scale;
      zp[0] = zero_point;
    }
  }
  __syncthreads();
  const float s = s_s;
  const int32_t z = s_z;
  uint8_t* qr = q + i * ldq;
  for (int64_t k = threadIdx.x; k < ldq; k += blockDim.x) {
    if (k >= K) {
      qr[k] = 0;
      continue;
    }
    float t = __fdiv_rn(xr[k], s);
    if (!(t == t)) t = 0.f;
    t = fminf(fmaxf(t, -512.f), 512.f);
    int32_t v = int32_t(rintf(t)) + z;
    qr[k] = uint8_t(min(max(v, 0), 255));
  }
}

__global__ void qgemm_kernel(float* C, const uint8_t* A, int64_t lda, const float* sa, const int32_t* zp,
                             bool per_row, const int8_t* B, const int32_t* colsum, const float* w_scale,
                             const float* bias, int64_t M, int64_t N, int64_t K, int act) {
  __shared__ int32_t As[kT][kTK + 1];
  __shared__ int32_t Bs[kTK][kT + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t i = int64_t(blockIdx.y) * kT + ty, j = int64_t(blockIdx.x) * kT + tx;
  int32_t acc = 0;
  for (int64_t k0 = 0; k0 < K; k0 += kTK) {
    for (int t = ty * kT + tx; t < kT * kTK; t += kT * kT) {
      const int r = t / kTK, c = t % kTK;
      const int64_t gi = int64_t(blockIdx.y) * kT + r, gk = k0 + c;
      As[r][c] = (gi < M && gk < K) ? int32_t(A[gi * lda + gk]) : 0;
      const int br = t / kT, bc = t % kT;
      const int64_t bk = k0 + br, bj = int64_t(blockIdx.x) * kT + bc;
      Bs[br][bc] = (bk < K && bj < N) ? int32_t(B[bk * N + bj]) : 0;
    }
    __syncthreads();
#pragma unroll 8
    for (int c = 0; c < kTK; ++c) acc += As[ty][c] * Bs[c][tx];
    __syncthreads();
  }
  if (i >= M || j >= N) return;
  const float s = per_row ? sa[i] : sa[0];
  const int32_t z = per_row ? zp[i] : zp[0];
  const float scale = __fmul_rn(s, w_scale[j]);
  float v = __fmul_rn(float(acc - z * colsum[j]), scale);
  if (bias) v = __fadd_rn(v, bias[j]);
  if (act == int(Act::Relu)) v = v > 0.f ? v : 0.f;
  else if (act == int(Act::Sigmoid)) v = 1.f / (1.f + expf(-v));
  else if (act == int(Act::Tanh)) v = tanhf(v);
  C[i * N + j] = v;
}

struct G {  // ConvGeom, device-side copy
  int64_t N, H, W, C, kh, kw, sh, sw, dh, dw, pt, pl, Ho, Wo, Kp;
};

// One thread per (im2col row, byte); the per-row (sa, zp) are copied from the row's image.
__global__ void im2col_u8_kernel(uint8_t* col, float* sa_row, int32_t* zp_row, const uint8_t* xq,
                                 const float* sa_img, const int32_t* zp_img, G g, bool dynamic, int64_t M) {
  const int64_t total = M * g.Kp, K = g.kh * g.kw * g.C, P = g.Ho * g.Wo;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t m = t / g.Kp, k = t % g.Kp, n = m / P, p = m % P, oh = p / g.Wo, ow = p % g.Wo;
    const int32_t z = dynamic ? zp_img[n] : zp_img[0];
    if (k == 0 && dynamic) {
      sa_row[m] = sa_img[n];
      zp_row[m] = z;
    }
    uint8_t v = 0;
    if (k < K) {
      const int64_t c = k % g.C, ij = k / g.C, i = ij / g.kw, j = ij % g.kw;
      const int64_t ih = oh * g.sh - g.pt + i * g.dh, iw = ow * g.sw - g.pl + j * g.dw;
      v = (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) ? uint8_t(z)
                                                       : xq[n * g.H * g.W * g.C + (ih * g.W + iw) * g.C + c];
    }
    col[t] = v;
  }
}

}  // namespace

void quantize_rows(uint8_t* q, float* sa, int32_t* zp, const float* x, i64 M, i64 K, i64 ldq,
                   bool per_row, float scale, int32_t zero_point) {
  FN_CHECK(M >= 0 && K >= 0 && ldq >= K, "quantize_rows: bad sizes");
  if (M == 0) return;
  quantize_rows_kernel<<<unsigned(M), 256, 0, current_stream()>>>(q, sa, zp, x, K, ldq, per_row, scale,
                                                                  zero_point);
  FN_CUDA_LAUNCH_CHECK();
}

void qgemm_f32(float* C, const uint8_t* A, i64 lda, const float* sa, const int32_t* zp, bool per_row,
               const int8_t* B, const int32_t* colsum, const float* w_scale, const float* bias, i64 M,
               i64 N, i64 K, Act act) {
  FN_CHECK(M >= 0 && N >= 0 && K >= 0 && lda >= K, "qgemm_f32: bad sizes");
  if (M == 0 || N == 0) return;
  dim3 block(kT, kT), grid(unsigned((N + kT - 1) / kT), unsigned((M + kT - 1) / kT));
  qgemm_kernel<<<grid, block, 0, current_stream()>>>(C, A, lda, sa, zp, per_row, B, colsum, w_scale, bias,
                                                     M, N, K, int(act));
  FN_CUDA_LAUNCH_CHECK();
}

void qconv2d_forward(float* Y, uint8_t* xq, uint8_t* col, float* sa, int32_t* zp, const float* X,
                     const int8_t* B, const int32_t* colsum, const float* w_scale, const float* bias,
                     const cpu::ConvGeom& g, bool dynamic, float scale, int32_t zero_point, Act act) {
  const i64 M = g.M(), K = g.K(), Kp = (K + 3) / 4 * 4, HWC = g.H * g.W * g.C;
  if (M == 0) return;
  quantize_rows(xq, sa, zp, X, g.N, HWC, HWC, dynamic, scale, zero_point);
  G dg{g.N, g.H, g.W, g.C, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl, g.Ho, g.Wo, Kp};
  im2col_u8_kernel<<<grid_1d(M * Kp, 256), 256, 0, current_stream()>>>(col, sa + g.N, zp + g.N, xq, sa, zp,
                                                                       dg, dynamic, M);
  FN_CUDA_LAUNCH_CHECK();
  qgemm_f32(Y, col, Kp, dynamic ? sa + g.N : sa, dynamic ? zp + g.N : zp, dynamic, B, colsum, w_scale, bias,
            M, g.O, K, act);
}

}  // namespace fusednet::cuda
