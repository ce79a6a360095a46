// resize.cpp — CPU image resizing (formulas, layout and conventions in resize.h).
//
// Per call: one table of (index0, index1, weight) per output row and per output column, built in
// double from the half-pixel formula; then for each (image, output row) the two source rows are
// blended column by column over the C contiguous channels. uint8 input is converted to float per
// sample inside the blend (no float copy of the source image). Parallel over (image, row) pairs
// above kParallelMin output elements; below it (one decoded image at a time, the data pipeline's
// case) the calling thread does the work, so background decoding threads never contend for the
// pool.
#include "cpu/resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/ftz_scope.h"
#include "cpu/parallel.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {

namespace {

constexpr i64 kParallelMin = 1 << 15;

struct Tap {
  i64 i0, i1;
  float lam;  // weight of i1 (bilinear); unused for nearest (i0 == i1)
};

// Taps of one axis: `out` output positions over a window of `in` source pixels starting at `start`.
std::vector<Tap> axis_taps(i64 in, i64 out, i64 start, ResizeMode mode) {
  std::vector<Tap> t(static_cast<size_t>(out));
  const double s = static_cast<double>(in) / static_cast<double>(out);
  for (i64 o = 0; o < out; ++o) {
    if (mode == ResizeMode::Nearest) {
      i64 i = static_cast<i64>(std::floor((static_cast<double>(o) + 0.5) * s));
      i = std::min(std::max(i, i64(0)), in - 1);
      t[o] = Tap{start + i, start + i, 0.f};
    } else {
      double u = (static_cast<double>(o) + 0.5) * s - 0.5;
      if (u < 0) u = 0;
      i64 i0 = static_cast<i64>(std::floor(u));
      if (i0 > in - 1) i0 = in - 1;
      const i64 i1 = std::min(i0 + 1, in - 1);
      const double lam = u - static_cast<double>(i0);
      t[o] = Tap{start + i0, start + i1, static_cast<float>(std::min(lam, 1.0))};
    }
  }
  return t;
}

constexpr float kCubicA = -0.75f;

struct Tap4 {
  i64 i[4];
  float w[4];
};

// Bicubic taps of one axis (torch's upsample_bicubic2d, align_corners=False).
std::vector<Tap4> cubic_taps(i64 in, i64 out, i64 start) {
  std::vector<Tap4> t(static_cast<size_t>(out));
  const double s = static_cast<double>(in) / static_cast<double>(out);
  const float A = kCubicA;
  for (i64 o = 0; o < out; ++o) {
    const double u = (static_cast<double>(o) + 0.5) * s - 0.5;
    const i64 i0 = static_cast<i64>(std::floor(u));
    const float x = static_cast<float>(u - static_cast<double>(i0));
    auto near1 = [A](float d) { return ((A + 2) * d - (A + 3)) * d * d + 1; };
    auto far1 = [A](float d) { return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A; };
    Tap4& q = t[static_cast<size_t>(o)];
    q.w[0] = far1(x + 1.f);
    q.w[1] = near1(x);
    q.w[2] = near1(1.f - x);
    q.w[3] = far1(2.f - x);
    for (int k = 0; k < 4; ++k) q.i[k] = start + std::min(std::max(i0 - 1 + k, i64(0)), in - 1);
  }
  return t;
}

template <class T>
void resize_cubic(float* Y, const T* X, i64 N, i64 H, i64 W, i64 C, i64 Ho, i64 Wo, ResizeWindow win) {
  const std::vector<Tap4> rt = cubic_taps(win.h, Ho, win.top);
  const std::vector<Tap4> ct = cubic_taps(win.w, Wo, win.left);
  auto row = [&](i64 k) {
    const i64 n = k / Ho, oh = k % Ho;
    const Tap4& r = rt[static_cast<size_t>(oh)];
    const T* xr[4];
    for (int a = 0; a < 4; ++a) xr[a] = X + ((n * H + r.i[a]) * W) * C;
    float* y = Y + ((n * Ho + oh) * Wo) * C;
    for (i64 ow = 0; ow < Wo; ++ow) {
      const Tap4& q = ct[static_cast<size_t>(ow)];
      float* yo = y + ow * C;
      for (i64 c = 0; c < C; ++c) {
        float acc = 0.f;
        for (int a = 0; a < 4; ++a) {
          const T* p = xr[a] + c;
          const float h = q.w[0] * static_cast<float>(p[q.i[0] * C]) + q.w[1] * static_cast<float>(p[q.i[1] * C]) +
                          q.w[2] * static_cast<float>(p[q.i[2] * C]) + q.w[3] * static_cast<float>(p[q.i[3] * C]);
          acc += r.w[a] * h;
        }
        yo[c] = acc;
      }
    }
  };
  FtzScope guard;
  const i64 rows = N * Ho;
  if (N * Ho * Wo * C < kParallelMin || num_threads() <= 1 || in_parallel()) {
    set_ftz();
    for (i64 k = 0; k < rows; ++k) row(k);
    return;
  }
  parallel_for(rows, num_threads(), row);
}

template <class T>
void resize_impl(float* Y, const T* X, i64 N, i64 H, i64 W, i64 C, i64 Ho, i64 Wo, ResizeWindow win,
                 ResizeMode mode) {
  if (N <= 0 || Ho <= 0 || Wo <= 0 || C <= 0) return;
  if (mode == ResizeMode::Bicubic) return resize_cubic(Y, X, N, H, W, C, Ho, Wo, win);
  const std::vector<Tap> rt = axis_taps(win.h, Ho, win.top, mode);
  const std::vector<Tap> ct = axis_taps(win.w, Wo, win.left, mode);
  const i64 rows = N * Ho;
  auto row = [&](i64 k) {
    const i64 n = k / Ho, oh = k % Ho;
    const Tap& r = rt[static_cast<size_t>(oh)];
    const T* x0 = X + ((n * H + r.i0) * W) * C;
    const T* x1 = X + ((n * H + r.i1) * W) * C;
    float* y = Y + ((n * Ho + oh) * Wo) * C;
    if (mode == ResizeMode::Nearest) {
      for (i64 ow = 0; ow < Wo; ++ow) {
        const T* p = x0 + ct[static_cast<size_t>(ow)].i0 * C;
        for (i64 c = 0; c < C; ++c) y[ow * C + c] = static_cast<float>(p[c]);
      }
      return;
    }
    const float ly = r.lam, hy = 1.f - ly;
    for (i64 ow = 0; ow < Wo; ++ow) {
      const Tap& q = ct[static_cast<size_t>(ow)];
      const float lx = q.lam, hx = 1.f - lx;
      const T *a = x0 + q.i0 * C, *b = x0 + q.i1 * C, *c0 = x1 + q.i0 * C, *d = x1 + q.i1 * C;
      float* yo = y + ow * C;
#pragma omp simd
      for (i64 c = 0; c < C; ++c) {
        const float top = hx * static_cast<float>(a[c]) + lx * static_cast<float>(b[c]);
        const float bot = hx * static_cast<float>(c0[c]) + lx * static_cast<float>(d[c]);
        yo[c] = hy * top + ly * bot;
      }
    }
  };
  FtzScope guard;
  if (N * Ho * Wo * C < kParallelMin || num_threads() <= 1 || in_parallel()) {
    set_ftz();
    for (i64 k = 0; k < rows; ++k) row(k);
    return;
  }
  parallel_for(rows, num_threads(), row);
}

}  // namespace

void resize_images(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, i64 Ho, i64 Wo, ResizeWindow win,
                   ResizeMode mode) {
  resize_impl(Y, X, N, H, W, C, Ho, Wo, win, mode);
}

void resize_images_u8(float* Y, const uint8_t* X, i64 N, i64 H, i64 W, i64 C, i64 Ho, i64 Wo, ResizeWindow win,
                      ResizeMode mode) {
  resize_impl(Y, X, N, H, W, C, Ho, Wo, win, mode);
}

}  // namespace fusednet::cpu
