// pool.cu — CUDA twins of csrc/cpu/pool.cpp: max / average / global pooling, NHWC.
//
// Forward: one thread per output element (n, oh, ow, c); c is innermost, so a warp reads 32
// adjacent channels of each window position (coalesced). The window is clipped to the image
// exactly as the CPU does and visited in the same row-major order, so max/argmax (first on ties,
// NaN wins) and the float window sums of average pooling are the CPU's bit for bit (up to FMA
// contraction, which plain adds do not have).
// Backward is a gather, not a scatter: one thread per dX element (n, h, w, c) visits the output
// windows that contain (h, w), in (oh, ow) order, and adds their share — no atomics, fixed order.
// Max backward adds dY where the window's argmax names (h, w); argmax values are validated first
// (a kernel records the first bad position, the launcher reads it back: this synchronises).
// Global pooling: one thread per (n, c) walks the H·W positions in order; global average uses the
// CPU's float partials over 64 positions flushed into a double sum — the same bits as the CPU.
#include <algorithm>

#include "cuda/check.cuh"
#include "cuda/kernels.h"
#include "cuda/reduce.cuh"
#include "cuda/runtime.h"
#include "cuda/scratch.cuh"

namespace fusednet::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 65535 * 8;

struct PG {  // PoolGeom, device-side copy (plain fields)
  int64_t N, H, W, C, ph, pw, sh, sw, pt, pl, Ho, Wo;
};
PG to_pg(const PoolGeom& g) {
  return PG{g.N, g.H, g.W, g.C, g.ph, g.pw, g.sh, g.sw, g.pt, g.pl, g.Ho, g.Wo};
}

struct Win {
  int64_t h0, h1, w0, w1;
};
__device__ __forceinline__ Win window(const PG& g, int64_t oh, int64_t ow) {
  const int64_t hs = oh * g.sh - g.pt, ws = ow * g.sw - g.pl;
  return {max(hs, int64_t(0)), min(hs + g.ph, g.H), max(ws, int64_t(0)), min(ws + g.pw, g.W)};
}
// Output rows/cols whose window contains input row h: oh*s - p <= h < oh*s - p + k.
__device__ __forceinline__ void covering(int64_t h, int64_t k, int64_t s, int64_t p, int64_t O,
                                         int64_t* lo, int64_t* hi) {
  const int64_t a = h + p - k + 1;              // oh*s >= a
  *lo = a <= 0 ? 0 : (a + s - 1) / s;
  *hi = min((h + p) / s + 1, O);                 // oh*s <= h + p  (h + p >= 0 always)
}

__global__ void max_fwd_kernel(float* Y, int32_t* idx, const float* X, PG g) {
  const int64_t total = g.N * g.Ho * g.Wo * g.C;
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    const int64_t c = i % g.C, p = i / g.C, ow = p % g.Wo, q = p / g.Wo, oh = q % g.Ho, n = q / g.Ho;
    const Win wd = window(g, oh, ow);
    const float* xn = X + n * g.H * g.W * g.C + c;
    if (wd.h0 >= wd.h1 || wd.w0 >= wd.w1) {  // cannot happen with the TF padding rule; never read
      Y[i] = __int_as_float(0x7fc00000);
      idx[i] = 0;
      continue;
    }
    int32_t best_pos = static_cast<int32_t>(wd.h0 * g.W + wd.w0);
    float best = xn[best_pos * g.C];
    for (int64_t h = wd.h0; h < wd.h1; ++h)
      for (int64_t w = (h == wd.h0 ? wd.w0 + 1 : wd.w0); w < wd.w1; ++w) {
        const int32_t pos = static_cast<int32_t>(h * g.W + w);
        const float v = xn[pos * g.C];
        if ((v > best) | ((v != v) & (best == best))) {  // strict: first index wins ties
          best = v;
          best_pos = pos;
        }
      }
    Y[i] = best;
    idx[i] = best_pos;
  }
}

__global__ void check_idx_kernel(const int32_t* idx, int64_t n, int64_t limit, unsigned long long* flag) {
  for (int64_t i = global_tid(); i < n; i += grid_stride())
    if (idx[i] < 0 || idx[i] >= limit) flag_bad(flag, i);
}

__global__ void max_bwd_kernel(float* dX, const float* dY, const int32_t* idx, const float* relu_y, PG g) {
  const int64_t total = g.N * g.H * g.W * g.C;
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    const int64_t c = i % g.C, p = i / g.C, w = p % g.W, q = p / g.W, h = q % g.H, n = q / g.H;
    int64_t oh0, oh1, ow0, ow1;
    covering(h, g.ph, g.sh, g.pt, g.Ho, &oh0, &oh1);
    covering(w, g.pw, g.sw, g.pl, g.Wo, &ow0, &ow1);
    const int32_t me = static_cast<int32_t>(h * g.W + w);
    const int64_t base = n * g.Ho * g.Wo * g.C + c;
    float acc = 0.f;
    for (int64_t oh = oh0; oh < oh1; ++oh)
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const int64_t o = base + (oh * g.Wo + ow) * g.C;
        if (idx[o] == me && (!relu_y || relu_y[o] > 0.f)) acc += dY[o];
      }
    dX[i] = acc;
  }
}

__global__ void avg_fwd_kernel(float* Y, const float* X, PG g) {
  const int64_t total = g.N * g.Ho * g.Wo * g.C;
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    const int64_t c = i % g.C, p = i / g.C, ow = p % g.Wo, q = p / g.Wo, oh = q % g.Ho, n = q / g.Ho;
    const Win wd = window(g, oh, ow);
    const float* xn = X + n * g.H * g.W * g.C + c;
    float s = 0.f;
    for (int64_t h = wd.h0; h < wd.h1; ++h)
      for (int64_t w = wd.w0; w < wd.w1; ++w) s += xn[(h * g.W + w) * g.C];
    const int64_t cnt = (wd.h1 - wd.h0) * (wd.w1 - wd.w0);
    Y[i] = cnt > 0 ? s * (1.f / static_cast<float>(cnt)) : __int_as_float(0x7fc00000);
  }
}

__global__ void avg_bwd_kernel(float* dX, const float* dY, PG g) {
  const int64_t total = g.N * g.H * g.W * g.C;
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    const int64_t c = i % g.C, p = i / g.C, w = p % g.W, q = p / g.W, h = q % g.H, n = q / g.H;
    int64_t oh0, oh1, ow0, ow1;
    covering(h, g.ph, g.sh, g.pt, g.Ho, &oh0, &oh1);
    covering(w, g.pw, g.sw, g.pl, g.Wo, &ow0, &ow1);
    const int64_t base = n * g.Ho * g.Wo * g.C + c;
    float acc = 0.f;
    for (int64_t oh = oh0; oh < oh1; ++oh)
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const Win wd = window(g, oh, ow);
        const float inv = 1.f / static_cast<float>((wd.h1 - wd.h0) * (wd.w1 - wd.w0));
        acc += dY[base + (oh * g.Wo + ow) * g.C] * inv;
      }
    dX[i] = acc;
  }
}

__global__ void gavg_fwd_kernel(float* Y, const float* X, int64_t N, int64_t HW, int64_t C) {
  for (int64_t t = global_tid(); t < N * C; t += grid_stride()) {
    const int64_t n = t / C, c = t - n * C;
    const float* x = X + n * HW * C + c;
    double acc = 0.0;
    for (int64_t p0 = 0; p0 < HW; p0 += 64) {  // float partials over 64 positions (as the CPU)
      const int64_t p1 = min(HW, p0 + 64);
      float blk = 0.f;
      for (int64_t p = p0; p < p1; ++p) blk += x[p * C];
      acc += blk;
    }
    Y[t] = HW ? static_cast<float>(acc / static_cast<double>(HW)) : 0.f;
  }
}

__global__ void gavg_bwd_kernel(float* dX, const float* dY, int64_t N, int64_t HW, int64_t C, float inv) {
  const int64_t total = N * HW * C;
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    const int64_t c = i % C, n = i / (HW * C);
    dX[i] = dY[n * C + c] * inv;
  }
}

__global__ void gmax_fwd_kernel(float* Y, int32_t* idx, const float* X, int64_t N, int64_t HW, int64_t C) {
  for (int64_t t = global_tid(); t < N * C; t += grid_stride()) {
    const int64_t n = t / C, c = t - n * C;
    const float* x = X + n * HW * C + c;
    float best = HW ? x[0] : 0.f;
    int32_t bi = 0;
    for (int64_t p = 1; p < HW; ++p) {
      const float v = x[p * C];
      if ((v > best) | ((v != v) & (best == best))) {
        best = v;
        bi = static_cast<int32_t>(p);
      }
    }
    Y[t] = best;
    idx[t] = bi;
  }
}

__global__ void gmax_bwd_kernel(float* dX, const float* dY, const int32_t* idx, int64_t N, int64_t HW, int64_t C) {
  const int64_t total = N * HW * C;
  for (int64_t i = global_tid(); i < total; i += grid_stride()) {
    const int64_t c = i % C, q = i / C, p = q % HW, n = q / HW;
    dX[i] = idx[n * C + c] == p ? dY[n * C + c] : 0.f;
  }
}

int blocks_for(int64_t n) { return grid_1d(n, kThreads, kMaxBlocks); }

// Validates argmax (synchronises); true when every entry is in [0, limit).
bool idx_ok(const int32_t* idx, int64_t n, int64_t limit) {
  if (n <= 0) return true;
  BadFlag flag;
  check_idx_kernel<<<blocks_for(n), kThreads, 0, current_stream()>>>(idx, n, limit, flag.ptr());
  FN_CUDA_LAUNCH_CHECK();
  return flag.read() < 0;
}

void zero(float* p, int64_t n) {
  if (n > 0) FN_CUDA_CHECK(cudaMemsetAsync(p, 0, static_cast<size_t>(n) * sizeof(float), current_stream()));
}

}  // namespace

void max_pool2d_forward(float* Y, int32_t* idx, const float* X, const PoolGeom& g) {
  const int64_t total = g.N * g.Ho * g.Wo * g.C;
  if (total <= 0) return;
  max_fwd_kernel<<<blocks_for(total), kThreads, 0, current_stream()>>>(Y, idx, X, to_pg(g));
  FN_CUDA_LAUNCH_CHECK();
}

bool max_pool2d_backward(float* dX, const float* dY, const int32_t* idx, const PoolGeom& g,
                         const float* relu_y) {
  const int64_t nx = g.N * g.H * g.W * g.C, ny = g.N * g.Ho * g.Wo * g.C;
  if (!idx_ok(idx, ny, g.H * g.W)) {
    zero(dX, nx);
    return false;
  }
  if (nx <= 0) return true;
  max_bwd_kernel<<<blocks_for(nx), kThreads, 0, current_stream()>>>(dX, dY, idx, relu_y, to_pg(g));
  FN_CUDA_LAUNCH_CHECK();
  return true;
}

void avg_pool2d_forward(float* Y, const float* X, const PoolGeom& g) {
  const int64_t total = g.N * g.Ho * g.Wo * g.C;
  if (total <= 0) return;
  avg_fwd_kernel<<<blocks_for(total), kThreads, 0, current_stream()>>>(Y, X, to_pg(g));
  FN_CUDA_LAUNCH_CHECK();
}

void avg_pool2d_backward(float* dX, const float* dY, const PoolGeom& g) {
  const int64_t nx = g.N * g.H * g.W * g.C;
  if (nx <= 0) return;
  avg_bwd_kernel<<<blocks_for(nx), kThreads, 0, current_stream()>>>(dX, dY, to_pg(g));
  FN_CUDA_LAUNCH_CHECK();
}

void global_avg_pool_forward(float* Y, const float* X, i64 N, i64 HW, i64 C) {
  if (N * C <= 0) return;
  gavg_fwd_kernel<<<blocks_for(N * C), kThreads, 0, current_stream()>>>(Y, X, N, HW, C);
  FN_CUDA_LAUNCH_CHECK();
}

void global_avg_pool_backward(float* dX, const float* dY, i64 N, i64 HW, i64 C) {
  const int64_t total = N * HW * C;
  if (total <= 0) return;
  const float inv = HW ? 1.f / static_cast<float>(HW) : 0.f;
  gavg_bwd_kernel<<<blocks_for(total), kThreads, 0, current_stream()>>>(dX, dY, N, HW, C, inv);
  FN_CUDA_LAUNCH_CHECK();
}

void global_max_pool_forward(float* Y, int32_t* idx, const float* X, i64 N, i64 HW, i64 C) {
  if (N * C <= 0) return;
  gmax_fwd_kernel<<<blocks_for(N * C), kThreads, 0, current_stream()>>>(Y, idx, X, N, HW, C);
  FN_CUDA_LAUNCH_CHECK();
}

bool global_max_pool_backward(float* dX, const float* dY, const int32_t* idx, i64 N, i64 HW, i64 C) {
  const int64_t total = N * HW * C;
  if (!idx_ok(idx, N * C, HW)) {
    zero(dX, total);
    return false;
  }
  if (total <= 0) return true;
  gmax_bwd_kernel<<<blocks_for(total), kThreads, 0, current_stream()>>>(dX, dY, idx, N, HW, C);
  FN_CUDA_LAUNCH_CHECK();
  return true;
}

}  // namespace fusednet::cuda
