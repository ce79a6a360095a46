// image.cpp — CPU image ops (formulas, shapes and fill-mode semantics in image.h).
//
// Why this shape: NHWC puts the C channels of a pixel next to each other, so every op here is a
// loop over output pixels whose inner step is a contiguous C-vector copy or a C-vector blend of at
// most four input pixels. The address / weight work (index mapping, projective division, fill
// mode) is done once per output pixel and amortised over C. Work is split over (image, output row)
// pairs in static blocks on the thread pool above kParallelMin output elements; each output element is
// computed from its own indices only, so any thread count gives identical bits. Random decisions
// are drawn per image from Philox (block n of (seed, offset)), never from a thread-local state.
#include "cpu/image.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/philox.h"
#include "cpu/ftz_scope.h"
#include "cpu/runtime.h"
#include "cpu/parallel.h"

namespace fusednet::cpu {

namespace {

constexpr i64 kParallelMin = 1 << 15;

// f(n, row) for every (image, output row); parallel above the threshold. FTZ is set on every
// path so denormal handling is the same for one thread and many.
template <class F>
void for_rows(i64 N, i64 rows, i64 elems, F&& f) {
  FtzScope guard;
  const i64 total = N * rows;
  if (elems < kParallelMin || num_threads() <= 1) {
    set_ftz();
    for (i64 k = 0; k < total; ++k) f(k / rows, k % rows);
    return;
  }
  parallel_for(total, num_threads(), [&](i64 k) { f(k / rows, k % rows); });
}

// Index mapping of fill modes; returns -1 for "use fill_value" (constant mode only).
inline i64 map_index(i64 i, i64 L, FillMode m) {
  if (i >= 0 && i < L) return i;
  switch (m) {
    case FillMode::Constant:
      return -1;
    case FillMode::Nearest:
      return i < 0 ? 0 : L - 1;
    case FillMode::Wrap: {
      i64 r = i % L;
      return r < 0 ? r + L : r;
    }
    case FillMode::Reflect:
    default: {
      if (L == 1) return 0;
      const i64 p = 2 * L;
      i64 r = i % p;
      if (r < 0) r += p;
      return r >= L ? p - 1 - r : r;
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------- pad / crop
void pad2d_forward(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, i64 t, i64 b, i64 l, i64 r,
                   float value) {
  const i64 Ho = H + t + b, Wo = W + l + r;
  for_rows(N, Ho, N * Ho * Wo * C, [&](i64 n, i64 oh) {
    float* y = Y + ((n * Ho + oh) * Wo) * C;
    const i64 ih = oh - t;
    if (ih < 0 || ih >= H) {
      std::fill(y, y + Wo * C, value);
      return;
    }
    std::fill(y, y + l * C, value);
    std::memcpy(y + l * C, X + ((n * H + ih) * W) * C, sizeof(float) * W * C);
    std::fill(y + (l + W) * C, y + Wo * C, value);
  });
}

void pad2d_backward(float* dX, const float* dY, i64 N, i64 H, i64 W, i64 C, i64 t, i64 b, i64 l, i64 r) {
  const i64 Ho = H + t + b, Wo = W + l + r;
  for_rows(N, H, N * H * W * C, [&](i64 n, i64 ih) {
    std::memcpy(dX + ((n * H + ih) * W) * C, dY + ((n * Ho + ih + t) * Wo + l) * C, sizeof(float) * W * C);
  });
}

void crop_windows(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, i64 h, i64 w,
                  const int64_t* oh, const int64_t* ow, i64 off_h, i64 off_w) {
  for_rows(N, h, N * h * w * C, [&](i64 n, i64 row) {
    const i64 y0 = off_h + (oh ? oh[n] : 0), x0 = off_w + (ow ? ow[n] : 0);
    std::memcpy(Y + ((n * h + row) * w) * C, X + ((n * H + y0 + row) * W + x0) * C, sizeof(float) * w * C);
  });
}

// ---------------------------------------------------------------------------- flips
void flip_images(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, bool horizontal, bool vertical,
                 uint64_t seed, uint64_t offset) {
  // uniform01(u) < 0.5  <=>  (u >> 8) < 2^23  <=>  top bit clear.
  for_rows(N, H, N * H * W * C, [&](i64 n, i64 oh) {
    const Philox4 r = philox_block(seed, offset, static_cast<uint64_t>(n));
    const bool fh = horizontal && (r.v[0] >> 31) == 0;
    const bool fv = vertical && (r.v[1] >> 31) == 0;
    const i64 ih = fv ? H - 1 - oh : oh;
    const float* src = X + ((n * H + ih) * W) * C;
    float* dst = Y + ((n * H + oh) * W) * C;
    if (!fh) {
      std::memcpy(dst, src, sizeof(float) * W * C);
      return;
    }
    for (i64 ow = 0; ow < W; ++ow) std::memcpy(dst + ow * C, src + (W - 1 - ow) * C, sizeof(float) * C);
  });
}

// ---------------------------------------------------------------------------- affine
void affine_transform(float* Y, const float* X, const float* params, i64 P, i64 N, i64 H, i64 W, i64 C,
                      Interp interp, FillMode fill, float fill_value) {
  constexpr double kBig = 1e15;  // keeps floor() of absurd coordinates inside int64
  for_rows(N, H, N * H * W * C, [&](i64 n, i64 oh) {
    const float* p = params + (P == 1 ? 0 : n) * 8;
    const double a0 = p[0], a1 = p[1], a2 = p[2], b0 = p[3], b1 = p[4], b2 = p[5], c0 = p[6], c1 = p[7];
    const float* img = X + n * H * W * C;
    float* dst = Y + ((n * H + oh) * W) * C;
    const double yo = static_cast<double>(oh);
    for (i64 ow = 0; ow < W; ++ow, dst += C) {
      const double xo = static_cast<double>(ow);
      const double k = c0 * xo + c1 * yo + 1.0;
      const double xs = (a0 * xo + a1 * yo + a2) / k, ys = (b0 * xo + b1 * yo + b2) / k;
      if (k == 0.0 || !std::isfinite(xs) || !std::isfinite(ys)) {
        std::fill(dst, dst + C, fill_value);
        continue;
      }
      const double xc = std::clamp(xs, -kBig, kBig), yc = std::clamp(ys, -kBig, kBig);
      if (interp == Interp::Nearest) {
        const i64 ix = map_index(static_cast<i64>(std::floor(xc + 0.5)), W, fill);
        const i64 iy = map_index(static_cast<i64>(std::floor(yc + 0.5)), H, fill);
        if (ix < 0 || iy < 0)
          std::fill(dst, dst + C, fill_value);
        else
          std::memcpy(dst, img + (iy * W + ix) * C, sizeof(float) * C);
        continue;
      }
      const double fx0 = std::floor(xc), fy0 = std::floor(yc);
      const float wx = static_cast<float>(xc - fx0), wy = static_cast<float>(yc - fy0);
      const i64 x0 = static_cast<i64>(fx0), y0 = static_cast<i64>(fy0);
      const i64 ix[2] = {map_index(x0, W, fill), map_index(x0 + 1, W, fill)};
      const i64 iy[2] = {map_index(y0, H, fill), map_index(y0 + 1, H, fill)};
      const float w[4] = {(1.0f - wy) * (1.0f - wx), (1.0f - wy) * wx, wy * (1.0f - wx), wy * wx};
      const float* src[4];
      float fill_part = 0.0f;
      int ns = 0;
      float ws[4];
      for (int q = 0; q < 4; ++q) {
        const i64 yy = iy[q >> 1], xx = ix[q & 1];
        if (yy < 0 || xx < 0) {
          fill_part += w[q] * fill_value;
        } else {
          src[ns] = img + (yy * W + xx) * C;
          ws[ns++] = w[q];
        }
      }
      for (i64 c = 0; c < C; ++c) {
        float acc = fill_part;
        for (int q = 0; q < ns; ++q) acc += ws[q] * src[q][c];
        dst[c] = acc;
      }
    }
  });
}

// ---------------------------------------------------------------------------- random crop
void random_crop_offsets(int64_t* oh, int64_t* ow, i64 N, i64 H, i64 W, i64 h, i64 w, uint64_t seed,
                         uint64_t offset) {
  const uint64_t rh = static_cast<uint64_t>(H - h + 1), rw = static_cast<uint64_t>(W - w + 1);
  for (i64 n = 0; n < N; ++n) {
    const Philox4 r = philox_block(seed, offset, static_cast<uint64_t>(n));
    oh[n] = static_cast<int64_t>((static_cast<uint64_t>(r.v[0] >> 8) * rh) >> 24);
    ow[n] = static_cast<int64_t>((static_cast<uint64_t>(r.v[1] >> 8) * rw) >> 24);
  }
}

}  // namespace fusednet::cpu
