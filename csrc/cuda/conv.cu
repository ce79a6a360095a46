// conv.cu — CUDA twin of csrc/cpu/conv.cpp: Conv2D forward / backward, NHWC, Keras kernel layout
// (kh, kw, Cin, Cout), routed through cuda::sgemm (gemm.cu) exactly as the CPU routes through
// cpu::sgemm:
//
//   forward:   Y[M=N·Ho·Wo, O] = act(im2col(X)[M, K=kh·kw·C] · W[K, O] + b)   (GEMM epilogue)
//   backward:  dZ = dY·act'(Y) (through the saved output);  db = column_sum(dZ)
//              dW = Σ_chunks im2col(X)ᵀ · dZ   (beta = 0 for the first chunk, 1 after: fixed order)
//              dX = col2im(dZ · Wᵀ)             (a gather: no atomics)
//
// * im2col runs in row chunks into a scratch buffer from the caching allocator, at most
//   kChunkBytes (64 MiB) per buffer, so there is never an unbounded [M, K] temporary; for the
//   MNIST-sized layers one chunk covers the whole batch and a forward is two launches.
//   1x1 / stride 1 / unpadded convs skip im2col (X already is the [M, C] matrix).
// * im2col: one thread per col element (r, k) with k = (i·kw + j)·C + c innermost, so reads of X
//   (contiguous channels) and writes of col are coalesced; padding reads as 0.
// * col2im is a gather: one thread per dX element (n, h, w, c) of the chunk's images sums the
//   (i, j) taps whose output pixel exists, in (i, j) order. Backward chunks are whole images, so
//   every tap of an image is in the chunk's dcol. Deterministic, no float atomics.
// * dW accumulates the chunks in a fixed order with beta = 1 GEMMs; cuda::sgemm tiles M and N
//   only (no split-K), so dW is bitwise reproducible.
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
constexpr int64_t kChunkBytes = int64_t(64) << 20;
int blocks_for(int64_t n) { return grid_1d(n, kThreads, kMaxBlocks); }

struct CG {  // ConvGeom, device-side copy
  int64_t N, H, W, C, kh, kw, O, sh, sw, dh, dw, pt, pl, Ho, Wo;
};
CG to_cg(const ConvGeom& g) {
  return CG{g.N, g.H, g.W, g.C, g.kh, g.kw, g.O, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl, g.Ho, g.Wo};
}

// col[(r - r0), k] for rows [r0, r1) of im2col(X); K = kh·kw·C.
__global__ void im2col_kernel(float* col, const float* X, CG g, int64_t r0, int64_t r1) {
  const int64_t K = g.kh * g.kw * g.C, P = g.Ho * g.Wo;
  const int64_t total = (r1 - r0) * K;
  for (int64_t e = global_tid(); e < total; e += grid_stride()) {
    const int64_t rl = e / K, k = e - rl * K, r = r0 + rl;
    const int64_t n = r / P, p = r - n * P, oh = p / g.Wo, ow = p - oh * g.Wo;
    const int64_t c = k % g.C, ij = k / g.C, j = ij % g.kw, i = ij / g.kw;
    const int64_t h = oh * g.sh - g.pt + i * g.dh, w = ow * g.sw - g.pl + j * g.dw;
    col[e] = (h >= 0 && h < g.H && w >= 0 && w < g.W) ? X[((n * g.H + h) * g.W + w) * g.C + c] : 0.f;
  }
}

// dX[n, h, w, c] for images [n0, n1) = Σ_(i,j) dcol[(n-n0)·P + oh·Wo + ow, (i·kw + j)·C + c]
// over the taps with h = oh·sh - pt + i·dh, w = ow·sw - pl + j·dw for some valid (oh, ow).
__global__ void col2im_gather_kernel(float* dX, const float* dcol, CG g, int64_t n0, int64_t n1) {
  const int64_t K = g.kh * g.kw * g.C, P = g.Ho * g.Wo, HWC = g.H * g.W * g.C;
  const int64_t total = (n1 - n0) * HWC;
  float* dxc = dX + n0 * HWC;
  for (int64_t e = global_tid(); e < total; e += grid_stride()) {
    const int64_t nl = e / HWC, q = e - nl * HWC;
    const int64_t c = q % g.C, hw = q / g.C, w = hw % g.W, h = hw / g.W;
    const float* dn = dcol + nl * P * K + c;
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
        acc += dn[(oh * g.Wo + ow) * K + (i * g.kw + j) * g.C];
      }
    }
    dxc[e] = acc;
  }
}

// K == 0 (no input channels): Y[r, o] = act(bias[o]).
__global__ void bias_only_kernel(float* Y, const float* bias, int64_t M, int64_t O, int act) {
  for (int64_t e = global_tid(); e < M * O; e += grid_stride()) Y[e] = act_fwd(bias ? bias[e % O] : 0.f, act);
}

void zero(float* p, int64_t n) {
  if (n > 0) FN_CUDA_CHECK(cudaMemsetAsync(p, 0, static_cast<size_t>(n) * sizeof(float), current_stream()));
}

void im2col(float* col, const float* X, const ConvGeom& g, int64_t r0, int64_t r1) {
  const int64_t n = (r1 - r0) * g.K();
  if (n <= 0) return;
  im2col_kernel<<<blocks_for(n), kThreads, 0, current_stream()>>>(col, X, to_cg(g), r0, r1);
  FN_CUDA_LAUNCH_CHECK();
}

}  // namespace

void conv2d_forward(float* Y, const float* X, const float* Wt, const float* bias, const ConvGeom& g, Act act) {
  const int64_t M = g.M(), K = g.K(), O = g.O;
  if (M <= 0 || O <= 0) return;
  if (K == 0) {
    bias_only_kernel<<<blocks_for(M * O), kThreads, 0, current_stream()>>>(Y, bias, M, O, static_cast<int>(act));
    FN_CUDA_LAUNCH_CHECK();
    return;
  }
  if (g.pointwise()) {
    sgemm(Y, X, Wt, bias, M, O, K, false, false, K, O, O, 0.f, act);
    return;
  }
  const int64_t rpc = std::max<int64_t>(1, std::min<int64_t>(M, kChunkBytes / (K * 4)));
  DeviceBuffer col(static_cast<size_t>(rpc * K) * sizeof(float));
  for (int64_t r0 = 0; r0 < M; r0 += rpc) {
    const int64_t r1 = std::min(M, r0 + rpc);
    im2col(col.as<float>(), X, g, r0, r1);
    sgemm(Y + r0 * O, col.as<float>(), Wt, bias, r1 - r0, O, K, false, false, K, O, O, 0.f, act);
  }
}

void conv2d_backward(float* dX, float* dW, float* db, const float* dY, const float* X, const float* Wt,
                     const float* Y, const ConvGeom& g, Act act) {
  const int64_t M = g.M(), K = g.K(), O = g.O, C = g.C, P = g.Ho * g.Wo;
  cudaStream_t st = current_stream();
  if (act != Act::None && !Y && M > 0 && O > 0)
    throw ValueError("conv2d_backward: the saved output Y is required for the activation");
  // dZ: dY itself, or dY·act'(Y) in scratch
  DeviceBuffer dz_buf;
  const float* dZ = dY;
  if (act != Act::None && M * O > 0) {
    dz_buf.reset(static_cast<size_t>(M * O) * sizeof(float));
    conv_act_grad_kernel<<<blocks_for(M * O), kThreads, 0, st>>>(dz_buf.as<float>(), dY, Y, M * O,
                                                                static_cast<int>(act));
    FN_CUDA_LAUNCH_CHECK();
    dZ = dz_buf.as<float>();
  }
  if (M == 0 || K == 0 || O == 0) {
    if (dX) zero(dX, g.N * g.H * g.W * C);
    zero(dW, K * O);
    if (db) {
      if (K == 0 && M > 0) column_sum(db, dZ, M, O);  // db still gets Σ dZ
      else zero(db, O);
    }
    return;
  }
  if (db) column_sum(db, dZ, M, O);
  if (g.pointwise()) {
    // dW[C,O] = Xᵀ·dZ (X is the [M, C] im2col matrix);  dX[M,C] = dZ·Wᵀ (W stored [C, O])
    sgemm(dW, X, dZ, nullptr, K, O, M, true, false, K, O, O, 0.f, Act::None);
    if (dX) sgemm(dX, dZ, Wt, nullptr, M, C, O, false, true, O, O, C, 0.f, Act::None);
    return;
  }
  // chunks of whole images (so each image's col2im sees all its taps)
  const int64_t per_img = std::max<int64_t>(1, P * K * 4);
  const int64_t ipc = std::max<int64_t>(1, std::min<int64_t>(g.N, kChunkBytes / per_img));
  const int64_t max_rows = ipc * P;
  DeviceBuffer col(static_cast<size_t>(max_rows * K) * sizeof(float));
  DeviceBuffer dcol;
  if (dX) dcol.reset(static_cast<size_t>(max_rows * K) * sizeof(float));
  bool first = true;
  for (int64_t n0 = 0; n0 < g.N; n0 += ipc) {
    const int64_t n1 = std::min(g.N, n0 + ipc), r0 = n0 * P, r1 = n1 * P, rows = r1 - r0;
    if (rows > 0) {
      im2col(col.as<float>(), X, g, r0, r1);
      sgemm(dW, col.as<float>(), dZ + r0 * O, nullptr, K, O, rows, true, false, K, O, O, first ? 0.f : 1.f,
            Act::None);
      first = false;
      if (dX) sgemm(dcol.as<float>(), dZ + r0 * O, Wt, nullptr, rows, K, O, false, true, O, O, K, 0.f, Act::None);
    }
    if (dX) {
      const int64_t n = (n1 - n0) * g.H * g.W * C;
      if (n > 0) {
        if (rows > 0) {
          col2im_gather_kernel<<<blocks_for(n), kThreads, 0, st>>>(dX, dcol.as<float>(), to_cg(g), n0, n1);
          FN_CUDA_LAUNCH_CHECK();
        } else {
          zero(dX + n0 * g.H * g.W * C, n);
        }
      }
    }
  }
  if (first) zero(dW, K * O);
}

// ------------------------------------------------------------------ data gradient / transpose
namespace {
// Y[r, c] = act(Y[r, c] + bias[c]) in place (bias may be null).
__global__ void bias_act_kernel(float* Y, const float* bias, int64_t rows, int64_t C, int act) {
  for (int64_t e = global_tid(); e < rows * C; e += grid_stride())
    Y[e] = act_fwd(Y[e] + (bias ? bias[e % C] : 0.f), act);
}
}  // namespace

void conv2d_backward_data(float* dX, const float* dZ, const float* Wt, const ConvGeom& g) {
  const int64_t M = g.M(), K = g.K(), O = g.O, C = g.C, P = g.Ho * g.Wo;
  cudaStream_t st = current_stream();
  if (M == 0 || K == 0 || O == 0) {
    zero(dX, g.N * g.H * g.W * C);
    return;
  }
  if (g.pointwise()) {
    sgemm(dX, dZ, Wt, nullptr, M, C, O, false, true, O, O, C, 0.f, Act::None);
    return;
  }
  const int64_t per_img = std::max<int64_t>(1, P * K * 4);
  const int64_t ipc = std::max<int64_t>(1, std::min<int64_t>(g.N, kChunkBytes / per_img));
  DeviceBuffer dcol(static_cast<size_t>(ipc * P * K) * sizeof(float));
  for (int64_t n0 = 0; n0 < g.N; n0 += ipc) {
    const int64_t n1 = std::min(g.N, n0 + ipc), rows = (n1 - n0) * P, n = (n1 - n0) * g.H * g.W * C;
    sgemm(dcol.as<float>(), dZ + n0 * P * O, Wt, nullptr, rows, K, O, false, true, O, O, K, 0.f, Act::None);
    if (n > 0) {
      col2im_gather_kernel<<<blocks_for(n), kThreads, 0, st>>>(dX, dcol.as<float>(), to_cg(g), n0, n1);
      FN_CUDA_LAUNCH_CHECK();
    }
  }
}

void conv2d_transpose_forward(float* Y, const float* X, const float* Wt, const float* bias, const ConvGeom& g,
                              Act act) {
  cuda::conv2d_backward_data(Y, X, Wt, g);
  const int64_t rows = g.N * g.H * g.W;
  if ((!bias && act == Act::None) || rows * g.C == 0) return;
  bias_act_kernel<<<blocks_for(rows * g.C), kThreads, 0, current_stream()>>>(Y, bias, rows, g.C,
                                                                            static_cast<int>(act));
  FN_CUDA_LAUNCH_CHECK();
}

void conv2d_transpose_backward(float* dX, float* dW, float* db, const float* dY, const float* X,
                               const float* Wt, const float* Y, const ConvGeom& g, Act act) {
  const int64_t rows = g.N * g.H * g.W, n = rows * g.C;
  if (act != Act::None && !Y && n > 0)
    throw ValueError("conv2d_transpose_backward: the saved output Y is required");
  DeviceBuffer dz_buf;
  const float* dZ = dY;
  if (act != Act::None && n > 0) {
    dz_buf.reset(static_cast<size_t>(n) * sizeof(float));
    conv_act_grad_kernel<<<blocks_for(n), kThreads, 0, current_stream()>>>(dz_buf.as<float>(), dY, Y, n,
                                                                          static_cast<int>(act));
    FN_CUDA_LAUNCH_CHECK();
    dZ = dz_buf.as<float>();
  }
  if (db) {
    if (n > 0) column_sum(db, dZ, rows, g.C);
    else zero(db, g.C);
  }
  if (dX) cuda::conv2d_forward(dX, dZ, Wt, nullptr, g, Act::None);
  cuda::conv2d_backward(nullptr, dW, nullptr, X, dZ, Wt, nullptr, g, Act::None);
}

// ------------------------------------------------------------------ conv + max-pool pair
// (qualified calls: ConvGeom / PoolGeom live in cpu::, so ADL would also find the CPU twins)
void conv2d_maxpool_forward(float* P, int32_t* idx, const float* X, const float* Wt, const float* bias,
                            const ConvGeom& g, Act act, const cpu::PoolGeom& pg) {
  const int64_t ny = g.M() * g.O;
  DeviceBuffer y(static_cast<size_t>(std::max<int64_t>(ny, 1)) * sizeof(float));
  cuda::conv2d_forward(y.as<float>(), X, Wt, bias, g, act);
  cuda::max_pool2d_forward(P, idx, y.as<float>(), pg);
}

void conv2d_maxpool_backward(float* dX, float* dW, float* db, const float* dP, const int32_t* idx,
                             const float* relu_y, const float* X, const float* Wt, const ConvGeom& g,
                             const cpu::PoolGeom& pg) {
  const int64_t ny = g.M() * g.O;
  DeviceBuffer dz(static_cast<size_t>(std::max<int64_t>(ny, 1)) * sizeof(float));
  if (!cuda::max_pool2d_backward(dz.as<float>(), dP, idx, pg, relu_y))
    throw ValueError("conv2d_maxpool_backward: argmax holds an index outside the pooled image");
  cuda::conv2d_backward(dX, dW, db, dz.as<float>(), X, Wt, nullptr, g, Act::None);
}

}  // namespace fusednet::cuda
