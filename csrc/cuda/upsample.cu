// upsample.cu — CUDA twin of csrc/cpu/upsample.cpp (formulas in cpu/upsample.h).
// Forward: one thread per output element (n, i, j, c), c innermost (coalesced). Backward is a
// gather: one thread per dX element visits the outputs that read it, in (i, j) order, with the
// same tap formulas as the CPU (upsample_taps / upsample_weight) — no atomics, fixed order.
#include "cuda/check.cuh"
#include "cuda/kernels.h"
#include "cuda/reduce.cuh"
#include "cuda/runtime.h"

namespace fusednet::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 65535 * 8;

__global__ void up_fwd_kernel(float* Y, const float* X, int64_t N, int64_t H, int64_t W, int64_t C, int64_t sh,
                              int64_t sw, int bilinear) {
  const int64_t Ho = H * sh, Wo = W * sw, total = N * Ho * Wo * C;
  for (int64_t e = global_tid(); e < total; e += grid_stride()) {
    const int64_t c = e % C, q = e / C, j = q % Wo, r = q / Wo, i = r % Ho, n = r / Ho;
    const float* img = X + n * H * W * C + c;
    if (!bilinear) {
      Y[e] = img[((i / sh) * W + j / sw) * C];
      continue;
    }
    int64_t ylo, yhi, xlo, xhi;
    float fy, fx;
    cpu::upsample_taps(i, sh, H, &ylo, &yhi, &fy);
    cpu::upsample_taps(j, sw, W, &xlo, &xhi, &fx);
    const float gy = 1.f - fy, gx = 1.f - fx;
    Y[e] = gy * (gx * img[(ylo * W + xlo) * C] + fx * img[(ylo * W + xhi) * C]) +
           fy * (gx * img[(yhi * W + xlo) * C] + fx * img[(yhi * W + xhi) * C]);
  }
}

__global__ void up_bwd_kernel(float* dX, const float* dY, int64_t N, int64_t H, int64_t W, int64_t C, int64_t sh,
                              int64_t sw, int bilinear) {
  const int64_t Ho = H * sh, Wo = W * sw, total = N * H * W * C;
  for (int64_t e = global_tid(); e < total; e += grid_stride()) {
    const int64_t c = e % C, q = e / C, w = q % W, r = q / W, h = r % H, n = r / H;
    const float* img = dY + n * Ho * Wo * C + c;
    float acc = 0.f;
    if (!bilinear) {
      for (int64_t a = 0; a < sh; ++a)
        for (int64_t b = 0; b < sw; ++b) acc += img[((h * sh + a) * Wo + w * sw + b) * C];
    } else {
      int64_t i0, i1, j0, j1;
      cpu::upsample_window(h, sh, H, &i0, &i1);
      cpu::upsample_window(w, sw, W, &j0, &j1);
      for (int64_t i = i0; i < i1; ++i) {
        const float wy = cpu::upsample_weight(i, h, sh, H);
        if (wy == 0.f) continue;
        for (int64_t j = j0; j < j1; ++j) {
          const float wxy = wy * cpu::upsample_weight(j, w, sw, W);
          if (wxy != 0.f) acc += wxy * img[(i * Wo + j) * C];
        }
      }
    }
    dX[e] = acc;
  }
}

}  // namespace

void upsample2d_forward(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, i64 sh, i64 sw, cpu::Interp interp) {
  const i64 n = N * H * sh * W * sw * C;
  if (n <= 0) return;
  up_fwd_kernel<<<grid_1d(n, kThreads, kMaxBlocks), kThreads, 0, current_stream()>>>(
      Y, X, N, H, W, C, sh, sw, interp == cpu::Interp::Bilinear ? 1 : 0);
  FN_CUDA_LAUNCH_CHECK();
}

void upsample2d_backward(float* dX, const float* dY, i64 N, i64 H, i64 W, i64 C, i64 sh, i64 sw,
                         cpu::Interp interp) {
  const i64 n = N * H * W * C;
  if (n <= 0) return;
  up_bwd_kernel<<<grid_1d(n, kThreads, kMaxBlocks), kThreads, 0, current_stream()>>>(
      dX, dY, N, H, W, C, sh, sw, interp == cpu::Interp::Bilinear ? 1 : 0);
  FN_CUDA_LAUNCH_CHECK();
}

}  // namespace fusednet::cuda
