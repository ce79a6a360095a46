// winograd.cu — CUDA twin of csrc/cpu/winograd.cpp: Winograd F(4x4,3x3) for 3x3 stride-1 convs,
// NHWC, U = G w Gᵀ [36, C, O] (formulas in csrc/cpu/winograd.h).
//
//   winograd_weights: one thread per (c, o), the 6x3·3x3·3x6 product in double, rounded once.
//   forward, per chunk of tiles (scratch Vb [tiles, 36, C] from the caching allocator, at most
//   kChunkBytes): (1) one thread per (tile, c) writes Bᵀ d B (zero padding at the borders);
//   (2) one thread per (tile, o) sums Vb[tile, t, c]·U[t, c, o] over c in order for the 36 points in
//   registers, then applies Aᵀ m A, bias and relu and stores the pixels inside Ho x Wo.
// Why so plain: the GPU path exists so that a plan built for inference runs anywhere; the CUDA conv
// (im2col + sgemm) stays the fast path on devices. Deterministic: fixed summation order, no atomics.
#include <algorithm>

#include "cuda/check.cuh"
#include "cuda/reduce.cuh"
#include "cuda/runtime.h"
#include "cuda/scratch.cuh"
#include "cuda/winograd.h"

namespace fusednet::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunkBytes = int64_t(64) << 20;

struct WG {  // ConvGeom fields the kernels need, by value
  int64_t N, H, W, C, O, pt, pl, Ho, Wo, th, tw;
};

__device__ __forceinline__ void bt6(const float* d, int sd, float* t, int st) {
  t[0 * st] = 4.f * d[0] - 5.f * d[2 * sd] + d[4 * sd];
  t[1 * st] = -4.f * (d[sd] + d[2 * sd]) + (d[3 * sd] + d[4 * sd]);
  t[2 * st] = 4.f * (d[sd] - d[2 * sd]) + (d[4 * sd] - d[3 * sd]);
  t[3 * st] = 2.f * (d[3 * sd] - d[sd]) + (d[4 * sd] - d[2 * sd]);
  t[4 * st] = 2.f * (d[sd] - d[3 * sd]) + (d[4 * sd] - d[2 * sd]);
  t[5 * st] = 4.f * d[sd] - 5.f * d[3 * sd] + d[5 * sd];
}
__device__ __forceinline__ void at6(const float* m, int sm, float* y, int sy) {
  const float p12 = m[sm] + m[2 * sm], m12 = m[sm] - m[2 * sm];
  const float p34 = m[3 * sm] + m[4 * sm], m34 = m[3 * sm] - m[4 * sm];
  y[0] = m[0] + p12 + p34;
  y[sy] = m12 + 2.f * m34;
  y[2 * sy] = p12 + 4.f * p34;
  y[3 * sy] = m12 + 8.f * m34 + m[5 * sm];
}

__global__ void wino_weights_kernel(float* __restrict__ U, const float* __restrict__ Wt, int64_t CO) {
  const double G[6][3] = {{0.25, 0, 0}, {-1 / 6.0, -1 / 6.0, -1 / 6.0}, {-1 / 6.0, 1 / 6.0, -1 / 6.0},
                          {1 / 24.0, 1 / 12.0, 1 / 6.0}, {1 / 24.0, -1 / 12.0, 1 / 6.0}, {0, 0, 1}};
  for (int64_t co = global_tid(); co < CO; co += grid_stride()) {
    double w[3][3], t[6][3];
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) w[i][j] = Wt[(3 * i + j) * CO + co];
    for (int r = 0; r < 6; ++r)
      for (int j = 0; j < 3; ++j) t[r][j] = G[r][0] * w[0][j] + G[r][1] * w[1][j] + G[r][2] * w[2][j];
    for (int r = 0; r < 6; ++r)
      for (int s = 0; s < 6; ++s)
        U[(6 * r + s) * CO + co] = float(t[r][0] * G[s][0] + t[r][1] * G[s][1] + t[r][2] * G[s][2]);
  }
}

__global__ void wino_in_kernel(float* __restrict__ Vb, const float* __restrict__ X, WG g, int64_t t0, int64_t nt) {
  const int64_t total = nt * g.C;
  for (int64_t e = global_tid(); e < total; e += grid_stride()) {
    const int64_t c = e % g.C, k = e / g.C, tile = t0 + k;
    const int64_t n = tile / (g.th * g.tw), r = tile % (g.th * g.tw);
    const int64_t ih = (r / g.tw) * 4 - g.pt, iw = (r % g.tw) * 4 - g.pl;
    float d[36], t[36];
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) {
        const int64_t h = ih + i, w = iw + j;
        d[6 * i + j] = (h >= 0 && h < g.H && w >= 0 && w < g.W) ? X[((n * g.H + h) * g.W + w) * g.C + c] : 0.f;
      }
    for (int j = 0; j < 6; ++j) bt6(d + j, 6, t + j, 6);    // columns: t = Bᵀ d
    float v[36];
    for (int i = 0; i < 6; ++i) bt6(t + 6 * i, 1, v + 6 * i, 1);  // rows: v = t B
    float* dst = Vb + k * 36 * g.C + c;
    for (int p = 0; p < 36; ++p) dst[p * g.C] = v[p];
  }
}

__global__ void wino_out_kernel(float* __restrict__ Y, const float* __restrict__ Vb, const float* __restrict__ U,
                                const float* __restrict__ bias, WG g, int act, int64_t t0, int64_t nt) {
  const int64_t total = nt * g.O;
  for (int64_t e = global_tid(); e < total; e += grid_stride()) {
    const int64_t o = e % g.O, k = e / g.O, tile = t0 + k;
    const int64_t n = tile / (g.th * g.tw), r = tile % (g.th * g.tw);
    const int64_t oh = (r / g.tw) * 4, ow = (r % g.tw) * 4;
    float m[36];
    for (int p = 0; p < 36; ++p) m[p] = 0.f;
    const float* v = Vb + k * 36 * g.C;
    for (int64_t c = 0; c < g.C; ++c)
      for (int p = 0; p < 36; ++p) m[p] = fmaf(v[p * g.C + c], U[(p * g.C + c) * g.O + o], m[p]);
    float t[24], y[16];
    for (int j = 0; j < 6; ++j) at6(m + j, 6, t + j, 6);      // columns: t = Aᵀ m (4 x 6)
    for (int i = 0; i < 4; ++i) at6(t + 6 * i, 1, y + 4 * i, 1);  // rows: y = t A (4 x 4)
    const float b = bias ? bias[o] : 0.f;
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) {
        if (oh + i >= g.Ho || ow + j >= g.Wo) continue;
        float val = y[4 * i + j] + b;
        if (act == int(Act::Relu) && val < 0.f) val = 0.f;  // NaN passes, as the CPU's maxps(0, v)
        Y[((n * g.Ho + oh + i) * g.Wo + ow + j) * g.O + o] = val;
      }
  }
}

int blocks_for(int64_t n) { return grid_1d(n, kThreads, 65535 * 8); }

}  // namespace

void winograd_weights(float* U, const float* Wt, i64 C, i64 O) {
  const int64_t CO = C * O;
  if (CO == 0) return;
  wino_weights_kernel<<<blocks_for(CO), kThreads, 0, current_stream()>>>(U, Wt, CO);
  FN_CUDA_LAUNCH_CHECK();
}

void winograd_forward(float* Y, const float* X, const float* U, const float* bias, const cpu::ConvGeom& g, Act act) {
  if (g.M() == 0 || g.O == 0) return;
  WG w{g.N, g.H, g.W, g.C, g.O, g.pt, g.pl, g.Ho, g.Wo, (g.Ho + 3) / 4, (g.Wo + 3) / 4};
  const int64_t tiles = g.N * w.th * w.tw;
  const int64_t per_tile = 36 * std::max<int64_t>(g.C, 1) * int64_t(sizeof(float));
  const int64_t P = std::max<int64_t>(1, std::min<int64_t>(tiles, kChunkBytes / per_tile));
  DeviceBuffer vb(size_t(P * per_tile));
  cudaStream_t st = current_stream();
  for (int64_t t0 = 0; t0 < tiles; t0 += P) {
    const int64_t nt = std::min(P, tiles - t0);
    if (g.C > 0) {
      wino_in_kernel<<<blocks_for(nt * g.C), kThreads, 0, st>>>(vb.as<float>(), X, w, t0, nt);
      FN_CUDA_LAUNCH_CHECK();
    }
    wino_out_kernel<<<blocks_for(nt * g.O), kThreads, 0, st>>>(Y, vb.as<float>(), U, bias, w, int(act), t0, nt);
    FN_CUDA_LAUNCH_CHECK();
  }
}

}  // namespace fusednet::cuda
