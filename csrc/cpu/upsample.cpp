// upsample.cpp — CPU UpSampling2D (formulas in upsample.h). Work is split over (image, row) pairs
// of the array being written (y forward, dX backward) on the thread pool above kParallelMin
// elements; the inner step is a contiguous C-vector copy / blend. Bilinear taps are tabulated once
// per call per axis.
#include "cpu/upsample.h"

#include <cstring>
#include <vector>

#include "cpu/ftz_scope.h"
#include "cpu/parallel.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {

namespace {

constexpr i64 kParallelMin = 1 << 15;

template <class F>
void for_rows(i64 N, i64 rows, i64 elems, F&& f) {
  FtzScope guard;
  const i64 total = N * rows;
  if (elems < kParallelMin || num_threads() <= 1 || in_parallel()) {
    set_ftz();
    for (i64 k = 0; k < total; ++k) f(k / rows, k % rows);
    return;
  }
  parallel_for(total, num_threads(), [&](i64 k) { f(k / rows, k % rows); });
}

struct Taps {
  std::vector<i64> lo, hi;
  std::vector<float> f;
  Taps(i64 L, i64 s) : lo(size_t(L * s)), hi(size_t(L * s)), f(size_t(L * s)) {
    for (i64 i = 0; i < L * s; ++i) upsample_taps(i, s, L, &lo[size_t(i)], &hi[size_t(i)], &f[size_t(i)]);
  }
  float weight(i64 i, i64 h) const {
    float w = 0.f;
    if (lo[size_t(i)] == h) w += 1.f - f[size_t(i)];
    if (hi[size_t(i)] == h) w += f[size_t(i)];
    return w;
  }
};

}  // namespace

void upsample2d_forward(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, i64 sh, i64 sw, Interp interp) {
  const i64 Ho = H * sh, Wo = W * sw;
  if (N * Ho * Wo * C == 0) return;
  if (interp == Interp::Nearest) {
    for_rows(N, Ho, N * Ho * Wo * C, [&](i64 n, i64 i) {
      const float* src = X + ((n * H + i / sh) * W) * C;
      float* dst = Y + ((n * Ho + i) * Wo) * C;
      for (i64 w = 0; w < W; ++w)
        for (i64 b = 0; b < sw; ++b) std::memcpy(dst + (w * sw + b) * C, src + w * C, sizeof(float) * size_t(C));
    });
    return;
  }
  const Taps ty(H, sh), tx(W, sw);
  for_rows(N, Ho, N * Ho * Wo * C, [&](i64 n, i64 i) {
    const float fy = ty.f[size_t(i)], gy = 1.f - fy;
    const float* r0 = X + ((n * H + ty.lo[size_t(i)]) * W) * C;
    const float* r1 = X + ((n * H + ty.hi[size_t(i)]) * W) * C;
    float* dst = Y + ((n * Ho + i) * Wo) * C;
    for (i64 j = 0; j < Wo; ++j, dst += C) {
      const float fx = tx.f[size_t(j)], gx = 1.f - fx;
      const i64 a = tx.lo[size_t(j)] * C, b = tx.hi[size_t(j)] * C;
      for (i64 c = 0; c < C; ++c)
        dst[c] = gy * (gx * r0[a + c] + fx * r0[b + c]) + fy * (gx * r1[a + c] + fx * r1[b + c]);
    }
  });
}

void upsample2d_backward(float* dX, const float* dY, i64 N, i64 H, i64 W, i64 C, i64 sh, i64 sw, Interp interp) {
  const i64 Ho = H * sh, Wo = W * sw;
  if (N * H * W * C == 0) return;
  if (interp == Interp::Nearest) {
    for_rows(N, H, N * Ho * Wo * C, [&](i64 n, i64 h) {
      float* dst = dX + ((n * H + h) * W) * C;
      std::memset(dst, 0, sizeof(float) * size_t(W * C));
      for (i64 a = 0; a < sh; ++a) {
        const float* src = dY + ((n * Ho + h * sh + a) * Wo) * C;
        for (i64 w = 0; w < W; ++w)
          for (i64 b = 0; b < sw; ++b) {
            const float* s = src + (w * sw + b) * C;
            float* d = dst + w * C;
            for (i64 c = 0; c < C; ++c) d[c] += s[c];
          }
      }
    });
    return;
  }
  const Taps ty(H, sh), tx(W, sw);
  for_rows(N, H, N * Ho * Wo * C, [&](i64 n, i64 h) {
    float* dst = dX + ((n * H + h) * W) * C;
    std::memset(dst, 0, sizeof(float) * size_t(W * C));
    i64 i0, i1;
    upsample_window(h, sh, H, &i0, &i1);
    for (i64 i = i0; i < i1; ++i) {
      const float wy = ty.weight(i, h);
      if (wy == 0.f) continue;
      const float* row = dY + ((n * Ho + i) * Wo) * C;
      for (i64 w = 0; w < W; ++w) {
        i64 j0, j1;
        upsample_window(w, sw, W, &j0, &j1);
        float* d = dst + w * C;
        for (i64 j = j0; j < j1; ++j) {
          const float wxy = wy * tx.weight(j, w);
          if (wxy == 0.f) continue;
          const float* s = row + j * C;
          for (i64 c = 0; c < C; ++c) d[c] += wxy * s[c];
        }
      }
    }
  });
}

}  // namespace fusednet::cpu
