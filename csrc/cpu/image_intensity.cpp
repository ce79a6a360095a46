// image_intensity.cpp — CPU channel shift / brightness / standardisation of image batches
// (formulas in image_intensity.h). One image per work item: a pass for its statistics (min / max,
// or the double mean and variance), then an element pass. Parallel over images when the batch
// is large enough; otherwise on the calling thread (the data pipeline's case).
#include "cpu/image_intensity.h"

#include <algorithm>
#include <cmath>

#include "cpu/ftz_scope.h"
#include "cpu/parallel.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {

namespace {

constexpr i64 kParallelMin = 1 << 15;

void min_max(const float* x, i64 n, float* lo, float* hi) {
  float a = x[0], b = x[0];
  for (i64 i = 1; i < n; ++i) {
    a = std::min(a, x[i]);
    b = std::max(b, x[i]);
  }
  *lo = a;
  *hi = b;
}

template <class F>
void over_images(i64 N, i64 per, F&& f) {
  FtzScope guard;
  if (N * per < kParallelMin || num_threads() <= 1 || in_parallel()) {
    set_ftz();
    for (i64 n = 0; n < N; ++n) f(n);
    return;
  }
  parallel_for(N, num_threads(), f);
}

}  // namespace

void image_intensity(float* Y, const float* X, i64 N, i64 P, i64 C, const float* shift, const float* bright) {
  const i64 per = P * C;
  if (N <= 0 || per <= 0) return;
  over_images(N, per, [&](i64 n) {
    const float* x = X + n * per;
    float* y = Y + n * per;
    float lo, hi;
    if (shift) {
      min_max(x, per, &lo, &hi);
      const float s = shift[n];
      for (i64 i = 0; i < per; ++i) y[i] = std::min(std::max(x[i] + s, lo), hi);
    } else if (y != x) {
      std::copy(x, x + per, y);
    }
    if (bright) {
      min_max(y, per, &lo, &hi);
      const bool local = lo < 0.f || hi > 255.f;
      const float b = bright[n];
      for (i64 p = 0; p < P; ++p)
        for (i64 c = 0; c < C; ++c) {
          float& v = y[p * C + c];
          v = brightness_value(v, lo, hi, b, local, C == 4 && c == 3);
        }
    }
  });
}

void image_standardize(float* Y, const float* X, i64 N, i64 P, i64 C, float rescale, bool sample_center,
                       bool sample_std, const float* mean, const float* std) {
  const i64 per = P * C;
  if (N <= 0 || per <= 0) return;
  over_images(N, per, [&](i64 n) {
    const float* x = X + n * per;
    float* y = Y + n * per;
    for (i64 i = 0; i < per; ++i) y[i] = rescale != 0.f ? x[i] * rescale : x[i];
    if (sample_center || sample_std) {
      double s = 0.0;
      for (i64 i = 0; i < per; ++i) s += y[i];
      const double m = s / static_cast<double>(per);
      if (sample_center) {
        const float mf = static_cast<float>(m);
        for (i64 i = 0; i < per; ++i) y[i] -= mf;
      }
      if (sample_std) {
        // std of the (possibly centred) values: centring changes the mean only
        const double m2 = sample_center ? 0.0 : m;
        double q = 0.0;
        for (i64 i = 0; i < per; ++i) {
          const double d = static_cast<double>(y[i]) - m2;
          q += d * d;
        }
        const float sd = static_cast<float>(std::sqrt(q / static_cast<double>(per))) + 1e-6f;
        for (i64 i = 0; i < per; ++i) y[i] /= sd;
      }
    }
    if (mean || std) {
      for (i64 p = 0; p < P; ++p)
        for (i64 c = 0; c < C; ++c) {
          float v = y[p * C + c];
          if (mean) v -= mean[c];
          if (std) v /= std[c] + 1e-6f;
          y[p * C + c] = v;
        }
    }
  });
}

}  // namespace fusednet::cpu
