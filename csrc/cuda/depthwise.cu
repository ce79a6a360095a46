// depthwise.cu — CUDA twin of csrc/cpu/depthwise.cpp: DepthwiseConv2D forward / backward, NHWC,
// Keras kernel layout (kh, kw, C, dm), O = C·dm output channels, output channel o = c·dm + m
// reads input channel c = o / dm. W viewed as [K = kh·kw, O].
//
//   forward:   Y[n,oh,ow,o] = act(b[o] + Σ_t W[t,o] · X[n, h(oh,t), w(ow,t), o/dm])
//   backward:  dZ = dY·act'(Y) (through the saved output);  db = column_sum(dZ)
//              dW[t,o] = Σ_pixels dZ[p,o] · X[tap t of p, o/dm]
//              dX[n,h,w,c] = Σ_{t,m} dZ[.., c·dm+m] · W[t, c·dm+m]  over the taps that read (h, w)
//
// * Forward: one thread per output element, o innermost, so reads of W, X (channels contiguous)
//   and writes of Y are coalesced; taps in (i, j) order after the bias, as on the CPU.
// * dX: a gather, one thread per dX element summing its taps in (i, j) order (no atomics).
// * dW: pass 1 cuts the M = N·Ho·Wo pixels into S segments (S depends on the shapes only); thread
//   (segment s, element e = t·O + o) sums its segment's pixels in order into part[s, e]. Pass 2
//   sums part[·, e] over s in order, in double. No float atomics: bitwise reproducible.
// * Scratch (dZ, the partials) comes from the caching allocator via DeviceBuffer.
#include <algorithm>

#include "cuda/check.cuh"
#include "cuda/conv_act.cuh"
#include "cuda/kernels.h"
#include "cuda/reduce.cuh"
#include "cuda/runtime.h"
#include "cuda/scratch.cuh"

namespace fusednet::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 65535 * 8;
constexpr int kDwThreads = 128;
constexpr int64_t kMaxPartials = int64_t(16) << 20;  // floats of dW partials (64 MiB)
int blocks_for(int64_t n) { return grid_1d(n, kThreads, kMaxBlocks); }

struct DG {  // ConvGeom + depth multiplier, passed by value
  int64_t N, H, W, C, kh, kw, O, sh, sw, dh, dw, pt, pl, Ho, Wo, dm;
};
DG to_dg(const ConvGeom& g, int64_t dm) {
  return DG{g.N, g.H, g.W, g.C, g.kh, g.kw, g.O, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl, g.Ho, g.Wo, dm};
}

__global__ void dw_forward_kernel(float* __restrict__ Y, const float* __restrict__ X,
                                  const float* __restrict__ Wt, const float* __restrict__ bias, DG g,
                                  int act) {
  const int64_t total = g.N * g.Ho * g.Wo * g.O;
  for (int64_t e = global_tid(); e < total; e += grid_stride()) {
    const int64_t o = e % g.O, p = e / g.O, ow = p % g.Wo, q = p / g.Wo, oh = q % g.Ho, n = q / g.Ho;
    const int64_t c = o / g.dm;
    const float* xn = X + n * g.H * g.W * g.C + c;
    float acc = bias ? bias[o] : 0.f;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t h = oh * g.sh - g.pt + i * g.dh;
      if (h < 0 || h >= g.H) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t w = ow * g.sw - g.pl + j * g.dw;
        if (w < 0 || w >= g.W) continue;
        acc += Wt[(i * g.kw + j) * g.O + o] * xn[(h * g.W + w) * g.C];
      }
    }
    Y[e] = act_fwd(acc, act);
  }
}

__global__ void dw_dx_kernel(float* __restrict__ dX, const float* __restrict__ dZ, const float* __restrict__ Wt,
                             DG g) {
  const int64_t total = g.N * g.H * g.W * g.C;
  for (int64_t e = global_tid(); e < total; e += grid_stride()) {
    const int64_t c = e % g.C, p = e / g.C, w = p % g.W, q = p / g.W, h = q % g.H, n = q / g.H;
    float acc = 0.f;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t th = h + g.pt - i * g.dh;
      if (th < 0 || th % g.sh) continue;
      const int64_t oh = th / g.sh;
      if (oh >= g.Ho) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t tw = w + g.pl - j * g.dw;
        if (tw < 0 || tw % g.sw) continue;
        const int64_t ow = tw / g.sw;
        if (ow >= g.Wo) continue;
        const float* z = dZ + ((n * g.Ho + oh) * g.Wo + ow) * g.O + c * g.dm;
        const float* wr = Wt + (i * g.kw + j) * g.O + c * g.dm;
        for (int64_t m = 0; m < g.dm; ++m) acc += z[m] * wr[m];
      }
    }
    dX[e] = acc;
  }
}

// part[s, t·O + o] = Σ over pixels p of segment s (in order) of dZ[p, o] · X[tap t of p, o/dm].
__global__ void dw_dw_partial_kernel(float* __restrict__ part, const float* __restrict__ dZ,
                                     const float* __restrict__ X, DG g, int64_t S) {
  const int64_t KO = g.kh * g.kw * g.O, M = g.N * g.Ho * g.Wo;
  const int64_t s = blockIdx.y;
  const int64_t p0 = s * M / S, p1 = (s + 1) * M / S;
  for (int64_t e = global_tid(); e < KO; e += grid_stride()) {
    const int64_t o = e % g.O, t = e / g.O, j = t % g.kw, i = t / g.kw, c = o / g.dm;
    float acc = 0.f;
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t ow = p % g.Wo, q = p / g.Wo, oh = q % g.Ho, n = q / g.Ho;
      const int64_t h = oh * g.sh - g.pt + i * g.dh, w = ow * g.sw - g.pl + j * g.dw;
      if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
      acc += dZ[p * g.O + o] * X[((n * g.H + h) * g.W + w) * g.C + c];
    }
    part[s * KO + e] = acc;
  }
}

__global__ void dw_dw_sum_kernel(float* __restrict__ dW, const float* __restrict__ part, int64_t KO, int64_t S) {
  for (int64_t e = global_tid(); e < KO; e += grid_stride()) {
    double acc = 0.0;
    for (int64_t s = 0; s < S; ++s) acc += part[s * KO + e];
    dW[e] = static_cast<float>(acc);
  }
}

void zero(float* p, int64_t n) {
  if (n > 0) FN_CUDA_CHECK(cudaMemsetAsync(p, 0, static_cast<size_t>(n) * sizeof(float), current_stream()));
}

}  // namespace

void depthwise_conv2d_forward(float* Y, const float* X, const float* Wt, const float* bias, const ConvGeom& g,
                              i64 dm, Act act) {
  FN_CHECK(dm >= 1 && g.O == g.C * dm, "depthwise_conv2d_forward: output channels must be C * depth_multiplier");
  const int64_t n = g.M() * g.O;
  if (n <= 0) return;
  dw_forward_kernel<<<blocks_for(n), kThreads, 0, current_stream()>>>(Y, X, Wt, bias, to_dg(g, dm),
                                                                      static_cast<int>(act));
  FN_CUDA_LAUNCH_CHECK();
}

void depthwise_conv2d_backward(float* dX, float* dW, float* db, const float* dY, const float* X, const float* Wt,
                               const float* Y, const ConvGeom& g, i64 dm, Act act) {
  FN_CHECK(dm >= 1 && g.O == g.C * dm, "depthwise_conv2d_backward: output channels must be C * depth_multiplier");
  const int64_t M = g.M(), O = g.O, KO = g.kh * g.kw * O;
  cudaStream_t st = current_stream();
  if (M == 0 || O == 0) {
    if (dX) zero(dX, g.N * g.H * g.W * g.C);
    zero(dW, KO);
    if (db) zero(db, O);
    return;
  }
  if (act != Act::None && !Y)
    throw ValueError("depthwise_conv2d_backward: the saved output Y is required for the activation");
  const DG dg = to_dg(g, dm);
  DeviceBuffer dz_buf;
  const float* dZ = dY;
  if (act != Act::None) {
    dz_buf.reset(static_cast<size_t>(M * O) * sizeof(float));
    conv_act_grad_kernel<<<blocks_for(M * O), kThreads, 0, st>>>(dz_buf.as<float>(), dY, Y, M * O,
                                                              static_cast<int>(act));
    FN_CUDA_LAUNCH_CHECK();
    dZ = dz_buf.as<float>();
  }
  if (db) column_sum(db, dZ, M, O);
  // dW: S shape-only pixel segments of ~256 pixels (at most 4096 and kMaxPartials floats).
  int64_t S = std::min<int64_t>((M + 255) / 256, 4096);
  S = std::max<int64_t>(1, std::min<int64_t>(S, kMaxPartials / std::max<int64_t>(KO, 1)));
  DeviceBuffer part(static_cast<size_t>(S * KO) * sizeof(float));
  const dim3 grid(static_cast<unsigned>(grid_1d(KO, kDwThreads, 65535)), static_cast<unsigned>(S));
  dw_dw_partial_kernel<<<grid, kDwThreads, 0, st>>>(part.as<float>(), dZ, X, dg, S);
  FN_CUDA_LAUNCH_CHECK();
  dw_dw_sum_kernel<<<blocks_for(KO), kThreads, 0, st>>>(dW, part.as<float>(), KO, S);
  FN_CUDA_LAUNCH_CHECK();
  if (dX) {
    const int64_t n = g.N * g.H * g.W * g.C;
    if (n > 0) {
      dw_dx_kernel<<<blocks_for(n), kThreads, 0, st>>>(dX, dZ, Wt, dg);
      FN_CUDA_LAUNCH_CHECK();
    }
  }
}

}  // namespace fusednet::cuda
