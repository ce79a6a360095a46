// upsample.h — UpSampling2D on channels-last (NHWC) float32 batches, forward and backward.
//
//   x [N, H, W, C] -> y [N, H·sh, W·sw, C]
//   nearest:  y[n, i, j, c] = x[n, i / sh, j / sw, c]       (integer division: each pixel repeated)
//             backward: dX[n, h, w, c] = Σ_{a < sh, b < sw} dY[n, h·sh + a, w·sw + b, c]
//   bilinear: half-pixel centres, as Keras (ops.image.resize), TF (half_pixel_centers) and
//             PyTorch (align_corners=False): along each axis the output index i samples
//               src = max((i + 0.5) / s - 0.5, 0),  lo = floor(src),  hi = min(lo + 1, L - 1),
//               f = src - lo,
//             y = (1-fy)·((1-fx)·x[lo_y, lo_x] + fx·x[lo_y, hi_x]) + fy·((1-fx)·x[hi_y, lo_x] + fx·x[hi_y, hi_x]).
//             backward: a gather — dX[h, w] sums, over the outputs (i, j) whose taps include
//             (h, w), wy(i, h)·wx(j, w)·dY[i, j], in (i, j) order (no scatter, no atomics).
// Every output element is computed from its own indices only: bitwise independent of the threads.
#pragma once
#include "common/common.h"
#include "cpu/image.h"  // Interp

namespace fusednet::cpu {

void upsample2d_forward(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, i64 sh, i64 sw, Interp interp);
void upsample2d_backward(float* dX, const float* dY, i64 N, i64 H, i64 W, i64 C, i64 sh, i64 sw, Interp interp);

// Bilinear taps of output index i along an axis of input length L and integer scale s (the
// formula above); shared by the CPU and CUDA kernels.
FN_HD void upsample_taps(i64 i, i64 s, i64 L, i64* lo, i64* hi, float* f) {
  double src = (static_cast<double>(i) + 0.5) / static_cast<double>(s) - 0.5;
  if (src < 0.0) src = 0.0;
  i64 l = static_cast<i64>(src);  // floor: src >= 0
  if (l > L - 1) l = L - 1;
  *lo = l;
  *hi = l + 1 < L ? l + 1 : L - 1;
  *f = static_cast<float>(src - static_cast<double>(l));
}

// Weight of input index h in output index i (0 when i does not read h).
FN_HD float upsample_weight(i64 i, i64 h, i64 s, i64 L) {
  i64 lo, hi;
  float f;
  upsample_taps(i, s, L, &lo, &hi, &f);
  float w = 0.f;
  if (lo == h) w += 1.f - f;
  if (hi == h) w += f;
  return w;
}

// Output indices that can read input index h: [max(0, (h-1)·s), min(L·s, (h+2)·s)).
FN_HD void upsample_window(i64 h, i64 s, i64 L, i64* i0, i64* i1) {
  *i0 = h >= 1 ? (h - 1) * s : 0;
  *i1 = (h + 2) * s < L * s ? (h + 2) * s : L * s;
}

}  // namespace fusednet::cpu
