// resize.cu — CUDA twin of csrc/cpu/resize.cpp: nearest / bilinear / bicubic resizing of NHWC
// float32 batches with half-pixel centres (formulas in csrc/cpu/resize.h).
//
// One thread per output element (n, oh, ow, c), c innermost, so a warp reads the C adjacent
// channels of the same source pixels (coalesced for C >= 32, cached otherwise). Each thread
// recomputes its row and column taps in double with the CPU's expressions, so indices agree with
// the CPU exactly and values up to FMA contraction of the blend.
#include <cmath>

#include "cuda/check.cuh"
#include "cuda/reduce.cuh"
#include "cuda/resize.h"
#include "cuda/runtime.h"

namespace fusednet::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 65535 * 8;

struct RG {
  int64_t N, H, W, C, Ho, Wo, top, left, h, w;
  double sh, sw;
};

__device__ __forceinline__ void tap(int64_t o, int64_t in, double s, bool bilinear, int64_t* i0, int64_t* i1,
                                    float* lam) {
  if (!bilinear) {
    int64_t i = static_cast<int64_t>(floor((static_cast<double>(o) + 0.5) * s));
    i = min(max(i, int64_t(0)), in - 1);
    *i0 = *i1 = i;
    *lam = 0.f;
    return;
  }
  double u = (static_cast<double>(o) + 0.5) * s - 0.5;
  if (u < 0) u = 0;
  int64_t a = static_cast<int64_t>(floor(u));
  if (a > in - 1) a = in - 1;
  *i0 = a;
  *i1 = min(a + 1, in - 1);
  *lam = static_cast<float>(fmin(u - static_cast<double>(a), 1.0));
}

__device__ __forceinline__ void cubic_tap(int64_t o, int64_t in, double s, int64_t idx[4], float w[4]) {
  const float A = -0.75f;
  const double u = (static_cast<double>(o) + 0.5) * s - 0.5;
  const int64_t i0 = static_cast<int64_t>(floor(u));
  const float x = static_cast<float>(u - static_cast<double>(i0));
  const float d0 = x + 1.f, d3 = 2.f - x, d2 = 1.f - x;
  w[0] = ((A * d0 - 5 * A) * d0 + 8 * A) * d0 - 4 * A;
  w[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
  w[2] = ((A + 2) * d2 - (A + 3)) * d2 * d2 + 1;
  w[3] = ((A * d3 - 5 * A) * d3 + 8 * A) * d3 - 4 * A;
  for (int k = 0; k < 4; ++k) idx[k] = min(max(i0 - 1 + k, int64_t(0)), in - 1);
}

__global__ void resize_cubic_kernel(float* Y, const float* X, RG g) {
  const int64_t total = g.N * g.Ho * g.Wo * g.C;
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    const int64_t c = i % g.C, p = i / g.C, ow = p % g.Wo, q = p / g.Wo, oh = q % g.Ho, n = q / g.Ho;
    int64_t ri[4], ci[4];
    float rw[4], cw[4];
    cubic_tap(oh, g.h, g.sh, ri, rw);
    cubic_tap(ow, g.w, g.sw, ci, cw);
    const float* xn = X + n * g.H * g.W * g.C + c;
    float acc = 0.f;
    for (int a = 0; a < 4; ++a) {
      const float* xr = xn + (g.top + ri[a]) * g.W * g.C;
      float h = 0.f;
      for (int b = 0; b < 4; ++b) h += cw[b] * xr[(g.left + ci[b]) * g.C];
      acc += rw[a] * h;
    }
    Y[i] = acc;
  }
}

__global__ void resize_kernel(float* Y, const float* X, RG g, bool bilinear) {
  const int64_t total = g.N * g.Ho * g.Wo * g.C;
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    const int64_t c = i % g.C, p = i / g.C, ow = p % g.Wo, q = p / g.Wo, oh = q % g.Ho, n = q / g.Ho;
    int64_t r0, r1, c0, c1;
    float ly, lx;
    tap(oh, g.h, g.sh, bilinear, &r0, &r1, &ly);
    tap(ow, g.w, g.sw, bilinear, &c0, &c1, &lx);
    r0 += g.top;
    r1 += g.top;
    c0 += g.left;
    c1 += g.left;
    const float* xn = X + n * g.H * g.W * g.C + c;
    if (!bilinear) {
      Y[i] = xn[(r0 * g.W + c0) * g.C];
      continue;
    }
    const float a = xn[(r0 * g.W + c0) * g.C], b = xn[(r0 * g.W + c1) * g.C];
    const float cc = xn[(r1 * g.W + c0) * g.C], d = xn[(r1 * g.W + c1) * g.C];
    const float top = (1.f - lx) * a + lx * b, bot = (1.f - lx) * cc + lx * d;
    Y[i] = (1.f - ly) * top + ly * bot;
  }
}

int blocks_for(int64_t n) { return grid_1d(n, kThreads, kMaxBlocks); }

}  // namespace

void resize_images(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, i64 Ho, i64 Wo, cpu::ResizeWindow win,
                   cpu::ResizeMode mode) {
  const int64_t total = N * Ho * Wo * C;
  if (total <= 0) return;
  RG g{N, H, W, C, Ho, Wo, win.top, win.left, win.h, win.w, static_cast<double>(win.h) / static_cast<double>(Ho),
       static_cast<double>(win.w) / static_cast<double>(Wo)};
  if (mode == cpu::ResizeMode::Bicubic)
    resize_cubic_kernel<<<blocks_for(total), kThreads, 0, current_stream()>>>(Y, X, g);
  else
    resize_kernel<<<blocks_for(total), kThreads, 0, current_stream()>>>(Y, X, g, mode == cpu::ResizeMode::Bilinear);
  FN_CUDA_LAUNCH_CHECK();
}

}  // namespace fusednet::cuda
