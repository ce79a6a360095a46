// resize_filter.cpp — CPU separable-filter image resizing: "area", "lanczos3", "lanczos5", and
// "bilinear" / "bicubic" with antialias (formulas in common/resize_filter.h, contract in resize.h).
//
// Per call: a tap table per axis (first index, count, normalised float weights, padded to the
// longest span), built once in double. Then for each (image, output row): the row's vertical taps
// are accumulated into a scratch row of the window's width (float, C contiguous channels: the
// inner loop is a contiguous axpy), and the output row is the horizontal taps over that scratch
// row. Work per output row is taps_y·w·C + Wo·taps_x·C, i.e. O(antialiased support) per output
// value, not O(H·W). Each (image, row) depends on its own indices only, so the result is bitwise
// independent of the thread count. Forward only: resizing is preprocessing (see resize.h).
#include <algorithm>
#include <vector>

#include "common/resize_filter.h"
#include "cpu/ftz_scope.h"
#include "cpu/parallel.h"
#include "cpu/resize.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {

namespace {

constexpr i64 kParallelMin = 1 << 15;

struct AxisTable {
  std::vector<i64> j0, n;   // first source index (window-relative + offset) and tap count per output
  std::vector<float> w;     // [out, stride] normalised weights
  i64 stride = 0;
};

AxisTable axis_table(i64 in, i64 out, i64 start, ResizeFilter f, bool antialias) {
  const FilterAxis a = make_filter_axis(in, out, f, antialias);
  AxisTable t;
  t.j0.resize(static_cast<size_t>(out));
  t.n.resize(static_cast<size_t>(out));
  for (i64 o = 0; o < out; ++o) {
    i64 b, e;
    resize_filter_span(a, o, &b, &e);
    t.j0[o] = b;
    t.n[o] = e - b;
    t.stride = std::max(t.stride, e - b);
  }
  t.w.assign(static_cast<size_t>(out * t.stride), 0.f);
  for (i64 o = 0; o < out; ++o) {
    const double norm = resize_filter_norm(a, o);
    for (i64 k = 0; k < t.n[o]; ++k)
      t.w[o * t.stride + k] = static_cast<float>(resize_filter_tap(a, o, t.j0[o] + k) * norm);
    t.j0[o] += start;
  }
  return t;
}

template <class T>
void filtered_impl(float* Y, const T* X, i64 N, i64 H, i64 W, i64 C, i64 Ho, i64 Wo, ResizeWindow win,
                   ResizeFilter f, bool antialias) {
  if (N <= 0 || Ho <= 0 || Wo <= 0 || C <= 0) return;
  const AxisTable rt = axis_table(win.h, Ho, win.top, f, antialias);
  const AxisTable ct = axis_table(win.w, Wo, win.left, f, antialias);
  const i64 rows = N * Ho, wc = win.w * C;
  // One scratch row per task (not per output row): [win.w, C] vertical blend of the row's taps.
  auto run = [&](i64 lo, i64 hi) {
    std::vector<float> tmp(static_cast<size_t>(wc));
    for (i64 k = lo; k < hi; ++k) {
      const i64 n = k / Ho, oh = k % Ho;
      std::fill(tmp.begin(), tmp.end(), 0.f);
      const float* wy = rt.w.data() + oh * rt.stride;
      for (i64 a = 0; a < rt.n[oh]; ++a) {
        const T* xr = X + ((n * H + rt.j0[oh] + a) * W + win.left) * C;
        const float wa = wy[a];
        float* t = tmp.data();
#pragma omp simd
        for (i64 i = 0; i < wc; ++i) t[i] += wa * static_cast<float>(xr[i]);
      }
      float* y = Y + ((n * Ho + oh) * Wo) * C;
      for (i64 ow = 0; ow < Wo; ++ow) {
        float* yo = y + ow * C;
        for (i64 c = 0; c < C; ++c) yo[c] = 0.f;
        const float* wx = ct.w.data() + ow * ct.stride;
        const float* src = tmp.data() + (ct.j0[ow] - win.left) * C;
        for (i64 b = 0; b < ct.n[ow]; ++b) {
          const float wb = wx[b];
          const float* s = src + b * C;
#pragma omp simd
          for (i64 c = 0; c < C; ++c) yo[c] += wb * s[c];
        }
      }
    }
  };
  FtzScope guard;
  if (N * Ho * Wo * C < kParallelMin || num_threads() <= 1 || in_parallel()) {
    set_ftz();
    run(0, rows);
    return;
  }
  const int tasks = static_cast<int>(std::min<i64>(num_threads(), rows));
  parallel_team(tasks, [&](int t, int nt) {
    set_ftz();
    run(rows * t / nt, rows * (t + 1) / nt);
  });
}

}  // namespace

void resize_images_filtered(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, i64 Ho, i64 Wo, ResizeWindow win,
                            ResizeFilter f, bool antialias) {
  filtered_impl(Y, X, N, H, W, C, Ho, Wo, win, f, antialias);
}

void resize_images_filtered_u8(float* Y, const uint8_t* X, i64 N, i64 H, i64 W, i64 C, i64 Ho, i64 Wo,
                               ResizeWindow win, ResizeFilter f, bool antialias) {
  filtered_impl(Y, X, N, H, W, C, Ho, Wo, win, f, antialias);
}

}  // namespace fusednet::cpu
