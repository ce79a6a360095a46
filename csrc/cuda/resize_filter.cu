// resize_filter.cu — CUDA twin of csrc/cpu/resize_filter.cpp: separable-filter resizing of NHWC
// float32 batches ("area", "lanczos3/5", antialiased bilinear / bicubic; formulas in
// common/resize_filter.h).
//
// One thread per output element (n, oh, ow, c), c innermost (a warp reads adjacent channels of
// the same source pixels). Each thread computes its row and column spans, weights and
// normalisers with the shared FN_HD functions (the same double expressions as the CPU's tables),
// then sums w_y·w_x·x over the span. No tables in device memory: the launch allocates nothing.
// Values agree with the CPU up to float summation order (the CPU blends rows first).
#include "common/resize_filter.h"
#include "cuda/check.cuh"
#include "cuda/reduce.cuh"
#include "cuda/resize.h"
#include "cuda/runtime.h"

namespace fusednet::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 65535 * 8;

struct FG {
  int64_t N, H, W, C, Ho, Wo, top, left;
  FilterAxis ry, rx;
};

__global__ void resize_filter_kernel(float* Y, const float* X, FG g) {
  const int64_t total = g.N * g.Ho * g.Wo * g.C;
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    const int64_t c = i % g.C, p = i / g.C, ow = p % g.Wo, q = p / g.Wo, oh = q % g.Ho, n = q / g.Ho;
    int64_t r0, r1, c0, c1;
    resize_filter_span(g.ry, oh, &r0, &r1);
    resize_filter_span(g.rx, ow, &c0, &c1);
    const float ny = static_cast<float>(resize_filter_norm(g.ry, oh));
    const float nx = static_cast<float>(resize_filter_norm(g.rx, ow));
    const float* xn = X + n * g.H * g.W * g.C + c;
    float acc = 0.f;
    for (int64_t a = r0; a < r1; ++a) {
      const float wy = static_cast<float>(resize_filter_tap(g.ry, oh, a)) * ny;
      const float* xr = xn + (g.top + a) * g.W * g.C;
      float h = 0.f;
      for (int64_t b = c0; b < c1; ++b) h += static_cast<float>(resize_filter_tap(g.rx, ow, b)) * nx * xr[(g.left + b) * g.C];
      acc += wy * h;
    }
    Y[i] = acc;
  }
}

}  // namespace

void resize_images_filtered(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, i64 Ho, i64 Wo,
                            cpu::ResizeWindow win, ResizeFilter f, bool antialias) {
  const int64_t total = N * Ho * Wo * C;
  if (total <= 0) return;
  FG g{N, H, W, C, Ho, Wo, win.top, win.left, make_filter_axis(win.h, Ho, f, antialias),
       make_filter_axis(win.w, Wo, f, antialias)};
  resize_filter_kernel<<<grid_1d(total, kThreads, kMaxBlocks), kThreads, 0, current_stream()>>>(Y, X, g);
  FN_CUDA_LAUNCH_CHECK();
}

}  // namespace fusednet::cuda
