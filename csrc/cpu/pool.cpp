// pool.cpp — max / average / global pooling, NHWC, forward and backward (formulas in pool.h).
//
// Every output pixel's window is clipped to the image once ([h0,h1) x [w0,w1)); the inner loops
// run over the C contiguous channels so the compiler vectorises them. Forward splits N·Ho output
// rows across threads; backward scatter-adds per image (one thread owns an image), so results
// never depend on the thread count.
#include "cpu/pool.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/conv.h"
#include "cpu/ftz_scope.h"
#include "cpu/isa.h"
#include "cpu/runtime.h"
#include "cpu/parallel.h"

namespace fusednet::cpu {

#if FN_X86
namespace pool_detail {  // pool_avx512.cpp (isa_level() == 2), pool_avx2.cpp (isa_level() == 1)
void max_pool_row_avx512(float* Y, int32_t* idx, const float* xn, const PoolGeom& g, i64 oh);
bool max_pool_bwd_tiled_avx512(float* dx, const float* dy, const int32_t* id, const PoolGeom& g,
                               const float* relu_y);
void max_pool_row_avx2(float* Y, int32_t* idx, const float* xn, const PoolGeom& g, i64 oh);
bool max_pool_bwd_tiled_avx2(float* dx, const float* dy, const int32_t* id, const PoolGeom& g,
                             const float* relu_y);
}  // namespace pool_detail
#endif

PoolGeom make_pool_geom(const char* op, i64 N, i64 H, i64 W, i64 C, i64 ph, i64 pw, i64 sh, i64 sw,
                        bool same) {
  auto str2 = [](i64 a, i64 b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; };
  if (ph < 1 || pw < 1) throw ValueError(std::string(op) + ": pool_size must be >= 1, got " + str2(ph, pw));
  if (sh < 1 || sw < 1) throw ValueError(std::string(op) + ": strides must be >= 1, got " + str2(sh, sw));
  constexpr i64 kMaxExtent = i64(1) << 60;  // keep H + s - 1 far from int64 overflow
  if (ph > kMaxExtent || pw > kMaxExtent || sh > kMaxExtent || sw > kMaxExtent)
    throw ValueError(std::string(op) + ": pool_size " + str2(ph, pw) + " or strides " + str2(sh, sw) +
                     " too large");
  PoolGeom g;
  g.N = N; g.H = H; g.W = W; g.C = C; g.ph = ph; g.pw = pw; g.sh = sh; g.sw = sw;
  if (!conv_out_size(H, ph, sh, 1, same, &g.Ho, &g.pt) || !conv_out_size(W, pw, sw, 1, same, &g.Wo, &g.pl))
    throw ValueError(std::string(op) + ": pool_size " + str2(ph, pw) + " is larger than the input " +
                     str2(H, W) + " with padding='valid'");
  return g;
}

namespace {
struct Win { i64 h0, h1, w0, w1; };
inline Win window(const PoolGeom& g, i64 oh, i64 ow) {
  i64 hs = oh * g.sh - g.pt, ws = ow * g.sw - g.pl;
  return {std::max<i64>(hs, 0), std::min<i64>(hs + g.ph, g.H), std::max<i64>(ws, 0),
          std::min<i64>(ws + g.pw, g.W)};
}
inline bool par(i64 work) { return work > 1 && num_threads() > 1; }
}  // namespace

// ------------------------------------------------------------------ max
void max_pool2d_forward(float* Y, int32_t* idx, const float* X, const PoolGeom& g) {
  FtzScope ftz_scope;
  const i64 C = g.C, rows = g.N * g.Ho;
#if FN_X86
  const int simd = isa_level();
#endif
  parallel_for_if(par(rows) && rows * g.Wo * C > 16384, rows, num_threads(), [&](i64 row) {
    set_ftz();
    const i64 n = row / g.Ho, oh = row % g.Ho;
    const float* xn = X + n * g.H * g.W * C;
#if FN_X86
    if (simd >= 2) {
      pool_detail::max_pool_row_avx512(Y + row * g.Wo * C, idx + row * g.Wo * C, xn, g, oh);
      return;
    }
    if (simd == 1) {
      pool_detail::max_pool_row_avx2(Y + row * g.Wo * C, idx + row * g.Wo * C, xn, g, oh);
      return;
    }
#endif
    for (i64 ow = 0; ow < g.Wo; ++ow) {
      const Win wd = window(g, oh, ow);
      float* y = Y + ((row * g.Wo) + ow) * C;
      int32_t* id = idx + ((row * g.Wo) + ow) * C;
      {
        const int32_t pos = int32_t(wd.h0 * g.W + wd.w0);
        const float* x = xn + pos * C;
        for (i64 c = 0; c < C; ++c) { y[c] = x[c]; id[c] = pos; }
      }
      for (i64 h = wd.h0; h < wd.h1; ++h)
        for (i64 w = (h == wd.h0 ? wd.w0 + 1 : wd.w0); w < wd.w1; ++w) {
          const int32_t pos = int32_t(h * g.W + w);
          const float* x = xn + pos * C;
          for (i64 c = 0; c < C; ++c) {
            const float v = x[c], b = y[c];
            const bool take = (v > b) | ((v != v) & (b == b));  // strict: first index wins ties
            y[c] = take ? v : b;
            id[c] = take ? pos : id[c];
          }
        }
    }
  });
}

bool max_pool2d_backward(float* dX, const float* dY, const int32_t* idx, const PoolGeom& g,
                         const float* relu_y) {
  FtzScope ftz_scope;
  const i64 C = g.C, HW = g.H * g.W, per_out = g.Ho * g.Wo * C;
  // Non-overlapping windows (the usual pool_size == strides): dense masked stores per window
  // instead of a scatter; when the windows tile the image exactly nothing needs zeroing first.
#if FN_X86
  const int level = isa_level();
  const bool tiled = level >= 1 && g.sh >= g.ph && g.sw >= g.pw;
  const bool exact = tiled && g.pt == 0 && g.pl == 0 && g.sh == g.ph && g.sw == g.pw &&
                     g.Ho * g.ph == g.H && g.Wo * g.pw == g.W;
#endif
  std::atomic<int> bad{0};
  parallel_for_if(par(g.N) && g.N * per_out > 16384, g.N, num_threads(), [&](i64 n) {
    set_ftz();
    float* dx = dX + n * HW * C;
    const float* dy = dY + n * per_out;
    const int32_t* id = idx + n * per_out;
    const float* ry = relu_y ? relu_y + n * per_out : nullptr;
#if FN_X86
    if (tiled) {
      if (!exact) std::memset(dx, 0, size_t(HW * C) * sizeof(float));
      if (level >= 2 ? pool_detail::max_pool_bwd_tiled_avx512(dx, dy, id, g, ry)
                     : pool_detail::max_pool_bwd_tiled_avx2(dx, dy, id, g, ry))
        return;
    }
#endif
    std::memset(dx, 0, size_t(HW * C) * sizeof(float));
    for (i64 p = 0; p < g.Ho * g.Wo; ++p)
      for (i64 c = 0; c < C; ++c) {
        const int32_t k = id[p * C + c];
        if (k < 0 || k >= HW) { bad.store(1, std::memory_order_relaxed); continue; }
        if (ry && !(ry[p * C + c] > 0.f)) continue;
        dx[k * C + c] += dy[p * C + c];
      }
  });
  if (bad.load()) std::memset(dX, 0, size_t(g.N * HW * C) * sizeof(float));
  return !bad.load();
}

// ------------------------------------------------------------------ average
void avg_pool2d_forward(float* Y, const float* X, const PoolGeom& g) {
  FtzScope ftz_scope;
  const i64 C = g.C, rows = g.N * g.Ho;
  parallel_for_if(par(rows) && rows * g.Wo * C > 16384, rows, num_threads(), [&](i64 row) {
    set_ftz();
    const i64 n = row / g.Ho, oh = row % g.Ho;
    const float* xn = X + n * g.H * g.W * C;
    for (i64 ow = 0; ow < g.Wo; ++ow) {
      const Win wd = window(g, oh, ow);
      float* y = Y + ((row * g.Wo) + ow) * C;
      for (i64 c = 0; c < C; ++c) y[c] = 0.f;
      for (i64 h = wd.h0; h < wd.h1; ++h)
        for (i64 w = wd.w0; w < wd.w1; ++w) {
          const float* x = xn + (h * g.W + w) * C;
          for (i64 c = 0; c < C; ++c) y[c] += x[c];
        }
      const float inv = 1.f / float((wd.h1 - wd.h0) * (wd.w1 - wd.w0));
      for (i64 c = 0; c < C; ++c) y[c] *= inv;
    }
  });
}

void avg_pool2d_backward(float* dX, const float* dY, const PoolGeom& g) {
  FtzScope ftz_scope;
  const i64 C = g.C, HW = g.H * g.W, per_out = g.Ho * g.Wo * C;
  parallel_for_if(par(g.N) && g.N * per_out > 16384, g.N, num_threads(), [&](i64 n) {
    set_ftz();
    float* dx = dX + n * HW * C;
    std::memset(dx, 0, size_t(HW * C) * sizeof(float));
    const float* dy = dY + n * per_out;
    for (i64 oh = 0; oh < g.Ho; ++oh)
      for (i64 ow = 0; ow < g.Wo; ++ow) {
        const Win wd = window(g, oh, ow);
        const float inv = 1.f / float((wd.h1 - wd.h0) * (wd.w1 - wd.w0));
        const float* d = dy + (oh * g.Wo + ow) * C;
        for (i64 h = wd.h0; h < wd.h1; ++h)
          for (i64 w = wd.w0; w < wd.w1; ++w) {
            float* x = dx + (h * g.W + w) * C;
            for (i64 c = 0; c < C; ++c) x[c] += d[c] * inv;
          }
      }
  });
}

// ------------------------------------------------------------------ global
void global_avg_pool_forward(float* Y, const float* X, i64 N, i64 HW, i64 C) {
  FtzScope ftz_scope;
  parallel_for_if(par(N) && N * HW * C > 16384, N, num_threads(), [&](i64 n) {
    std::vector<double> acc(static_cast<size_t>(C), 0.0);
    std::vector<float> blk(static_cast<size_t>(C));
    const float* x = X + n * HW * C;
    for (i64 p0 = 0; p0 < HW; p0 += 64) {  // float partials over 64 positions, double across blocks
      const i64 p1 = std::min(HW, p0 + 64);
      for (i64 c = 0; c < C; ++c) blk[c] = 0.f;
      for (i64 p = p0; p < p1; ++p)
        for (i64 c = 0; c < C; ++c) blk[c] += x[p * C + c];
      for (i64 c = 0; c < C; ++c) acc[c] += blk[c];
    }
    for (i64 c = 0; c < C; ++c) Y[n * C + c] = HW ? float(acc[c] / double(HW)) : 0.f;
  });
}

void global_avg_pool_backward(float* dX, const float* dY, i64 N, i64 HW, i64 C) {
  FtzScope ftz_scope;
  const float inv = HW ? 1.f / float(HW) : 0.f;
  parallel_for_if(par(N) && N * HW * C > 16384, N, num_threads(), [&](i64 n) {
    float* dx = dX + n * HW * C;
    const float* d = dY + n * C;
    for (i64 p = 0; p < HW; ++p)
      for (i64 c = 0; c < C; ++c) dx[p * C + c] = d[c] * inv;
  });
}

void global_max_pool_forward(float* Y, int32_t* idx, const float* X, i64 N, i64 HW, i64 C) {
  FtzScope ftz_scope;
  parallel_for_if(par(N) && N * HW * C > 16384, N, num_threads(), [&](i64 n) {
    const float* x = X + n * HW * C;
    float* y = Y + n * C;
    int32_t* id = idx + n * C;
    for (i64 c = 0; c < C; ++c) { y[c] = HW ? x[c] : 0.f; id[c] = 0; }
    for (i64 p = 1; p < HW; ++p)
      for (i64 c = 0; c < C; ++c) {
        const float v = x[p * C + c], b = y[c];
        const bool take = (v > b) | ((v != v) & (b == b));
        y[c] = take ? v : b;
        id[c] = take ? int32_t(p) : id[c];
      }
  });
}

bool global_max_pool_backward(float* dX, const float* dY, const int32_t* idx, i64 N, i64 HW, i64 C) {
  FtzScope ftz_scope;
  std::memset(dX, 0, size_t(N * HW * C) * sizeof(float));
  for (i64 k = 0; k < N * C; ++k)
    if (idx[k] < 0 || idx[k] >= HW) return false;
  for (i64 n = 0; n < N; ++n)
    for (i64 c = 0; c < C; ++c) dX[(n * HW + idx[n * C + c]) * C + c] = dY[n * C + c];
  return true;
}

}  // namespace fusednet::cpu
