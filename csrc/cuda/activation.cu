// activation.cu — CUDA twins of csrc/cpu/activation.cpp.
//
//   activation_forward:  y[i]  = f(x[i])                       (any shape, flattened to n)
//   activation_backward: dx[i] = dy[i] * f'(x[i])  or  dy[i] * f'(x[i], y[i]) / f'(y[i])
//   softmax / log_softmax over the last axis of a [rows, cols] view (max-subtracted), and their
//   backward: dx = y*(dy - Σ dy·y),  dx = dy - exp(y)*Σ dy.
//
// The scalar maths is csrc/common/scalar_math.h — the very functions the CPU kernels call
// (FN_SM is __host__ __device__ under nvcc), and the same x-vs-y derivative choices as the CPU's
// act_bwd, so CPU and CUDA differ only by FMA contraction.
//
// Pointwise ops are one templated grid-stride map per kind (pointwise.cuh: float4 when aligned);
// a functor per kind keeps the switch on the host, out of the per-element loop.
// Row ops: one block per row (grid-stride over rows), three visits of the row — max, Σexp,
// normalise — with the second and third served from L1/L2, and deterministic block reductions in
// double like the CPU's sum_f64. y may alias x and dx may alias dy: each element is read and
// written by the same thread, after the block-wide reductions that read the rest of the row.
#include "common/scalar_math.h"
#include "cpu/activation.h"
#include "cuda/check.cuh"
#include "cuda/kernels.h"
#include "cuda/pointwise.cuh"
#include "cuda/reduce.cuh"

namespace fusednet::cuda {

using cpu::ActKind;

namespace {

// ---- forward functors (x -> y)
#define FN_ACT1(Name, expr)                                          \
  struct Name {                                                      \
    float a;                                                         \
    __device__ __forceinline__ float operator()(float v) const {     \
      using namespace fusednet::sm;                                  \
      (void)a;                                                       \
      return expr;                                                   \
    }                                                                \
  };
FN_ACT1(FLinear, v)
FN_ACT1(FRelu, relu(v))
FN_ACT1(FRelu6, relu6(v))
FN_ACT1(FLeaky, leaky_relu(v, a))
FN_ACT1(FElu, elu(v, a))
FN_ACT1(FSelu, selu(v))
FN_ACT1(FGelu, gelu(v))
FN_ACT1(FGeluTanh, gelu_tanh(v))
FN_ACT1(FSigmoid, sigmoid(v))
FN_ACT1(FHardSigmoid, hard_sigmoid(v))
FN_ACT1(FTanh, tanh_(v))
FN_ACT1(FSoftplus, softplus(v))
FN_ACT1(FSoftsign, softsign(v))
FN_ACT1(FSilu, silu(v))
FN_ACT1(FMish, mish(v))
FN_ACT1(FExp, exponential(v))
// ---- derivative functors: dx = dy * g(w), w = x or y (x-only / y-only forms)
FN_ACT1(DRelu, d_relu(v))
FN_ACT1(DRelu6, d_relu6(v))
FN_ACT1(DLeaky, d_leaky_relu(v, a))
FN_ACT1(DElu, d_elu(v, a))
FN_ACT1(DSelu, d_selu(v))
FN_ACT1(DGelu, d_gelu(v))
FN_ACT1(DGeluTanh, d_gelu_tanh(v))
FN_ACT1(DSigmoidY, d_sigmoid_y(v))
FN_ACT1(DSigmoid, d_sigmoid(v))
FN_ACT1(DHardSigmoid, d_hard_sigmoid(v))
FN_ACT1(DTanhY, d_tanh_y(v))
FN_ACT1(DTanh, d_tanh(v))
FN_ACT1(DSoftplus, d_softplus(v))
FN_ACT1(DSoftsign, d_softsign(v))
FN_ACT1(DSilu, d_silu(v))
FN_ACT1(DMish, d_mish(v))
FN_ACT1(DExpY, d_exponential_y(v))
FN_ACT1(DExp, exponential(v))
#undef FN_ACT1

// dx = dy * g(w)
template <class G>
struct BwdW {
  G g;
  __device__ __forceinline__ float operator()(float dy, float w) const { return dy * g(w); }
};
template <class G>
void bwd_w(float* dx, const float* dy, const float* w, int64_t n, G g) {
  launch_map(dx, n, BwdW<G>{g}, dy, w);
}

// dx = dy * g(x, y) for the kinds whose saved-output form needs both.
struct BwdEluY {
  float a;
  __device__ __forceinline__ float operator()(float dy, float x, float y) const {
    return dy * sm::d_elu_y(x, y, a);
  }
};
struct BwdSeluY {
  __device__ __forceinline__ float operator()(float dy, float x, float y) const {
    return dy * sm::d_selu_y(x, y);
  }
};
struct Identity {
  __device__ __forceinline__ float operator()(float v) const { return v; }
};

// ---- row ops
int row_block(i64 cols) { return cols <= 128 ? 32 : 256; }
int row_grid(i64 rows) { return static_cast<int>(rows < 65535 * 4 ? rows : 65535 * 4); }

__global__ void softmax_kernel(float* y, const float* x, int64_t rows, int64_t cols, bool log) {
  __shared__ float redf[32];
  __shared__ double redd[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) m = MaxOp()(m, xr[j]);
    m = block_reduce(m, MaxOp(), -INFINITY, redf);
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += sm::fn_exp(xr[j] - m);
    s = block_reduce(s, SumOp(), 0.0, redd);
    if (!log) {
      const float inv = static_cast<float>(1.0 / s);
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = sm::fn_exp(xr[j] - m) * inv;
    } else {
      // (x - m) - log(s), as the CPU: m + log(s) would round to m's ulp for large logits.
      const float ls = static_cast<float>(::log(s));
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = (xr[j] - m) - ls;
    }
  }
}

__global__ void softmax_bwd_kernel(float* dx, const float* dy, const float* y, int64_t rows,
                                   int64_t cols, bool log) {
  __shared__ double redd[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* dyr = dy + r * cols;
    const float* yr = y + r * cols;
    float* dxr = dx + r * cols;
    double s = 0.0;
    if (!log)
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += double(dyr[j]) * double(yr[j]);
    else
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += dyr[j];
    const float sf = static_cast<float>(block_reduce(s, SumOp(), 0.0, redd));
    if (!log)
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) dxr[j] = yr[j] * (dyr[j] - sf);
    else
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
        dxr[j] = dyr[j] - sm::fn_exp(yr[j]) * sf;
  }
}

void launch_softmax(float* y, const float* x, i64 rows, i64 cols, bool log) {
  if (rows <= 0 || cols <= 0) return;
  softmax_kernel<<<row_grid(rows), row_block(cols), 0, current_stream()>>>(y, x, rows, cols, log);
  FN_CUDA_LAUNCH_CHECK();
}

void launch_softmax_bwd(float* dx, const float* dy, const float* y, i64 rows, i64 cols, bool log) {
  if (rows <= 0 || cols <= 0) return;
  softmax_bwd_kernel<<<row_grid(rows), row_block(cols), 0, current_stream()>>>(dx, dy, y, rows,
                                                                                cols, log);
  FN_CUDA_LAUNCH_CHECK();
}

}  // namespace

void activation_forward(float* y, const float* x, i64 n, ActKind kind, float alpha) {
  switch (kind) {
    case ActKind::Linear: launch_map(y, n, FLinear{alpha}, x); break;
    case ActKind::Relu: launch_map(y, n, FRelu{alpha}, x); break;
    case ActKind::Relu6: launch_map(y, n, FRelu6{alpha}, x); break;
    case ActKind::LeakyRelu: launch_map(y, n, FLeaky{alpha}, x); break;
    case ActKind::Elu: launch_map(y, n, FElu{alpha}, x); break;
    case ActKind::Selu: launch_map(y, n, FSelu{alpha}, x); break;
    case ActKind::Gelu: launch_map(y, n, FGelu{alpha}, x); break;
    case ActKind::GeluTanh: launch_map(y, n, FGeluTanh{alpha}, x); break;
    case ActKind::Sigmoid: launch_map(y, n, FSigmoid{alpha}, x); break;
    case ActKind::HardSigmoid: launch_map(y, n, FHardSigmoid{alpha}, x); break;
    case ActKind::Tanh: launch_map(y, n, FTanh{alpha}, x); break;
    case ActKind::Softplus: launch_map(y, n, FSoftplus{alpha}, x); break;
    case ActKind::Softsign: launch_map(y, n, FSoftsign{alpha}, x); break;
    case ActKind::Silu: launch_map(y, n, FSilu{alpha}, x); break;
    case ActKind::Mish: launch_map(y, n, FMish{alpha}, x); break;
    case ActKind::Exponential: launch_map(y, n, FExp{alpha}, x); break;
  }
}

// Mirrors cpu act_bwd: where the CPU uses the saved output y (when given), so do we.
void activation_backward(float* dx, const float* dy, const float* x, const float* y, i64 n,
                         ActKind kind, float alpha) {
  switch (kind) {
    case ActKind::Linear: launch_map(dx, n, Identity{}, dy); break;
    case ActKind::Relu: bwd_w(dx, dy, x, n, DRelu{alpha}); break;
    case ActKind::Relu6: bwd_w(dx, dy, x, n, DRelu6{alpha}); break;
    case ActKind::LeakyRelu: bwd_w(dx, dy, x, n, DLeaky{alpha}); break;
    case ActKind::Elu:
      if (y) launch_map(dx, n, BwdEluY{alpha}, dy, x, y);
      else bwd_w(dx, dy, x, n, DElu{alpha});
      break;
    case ActKind::Selu:
      if (y) launch_map(dx, n, BwdSeluY{}, dy, x, y);
      else bwd_w(dx, dy, x, n, DSelu{alpha});
      break;
    case ActKind::Gelu: bwd_w(dx, dy, x, n, DGelu{alpha}); break;
    case ActKind::GeluTanh: bwd_w(dx, dy, x, n, DGeluTanh{alpha}); break;
    case ActKind::Sigmoid:
      if (y) bwd_w(dx, dy, y, n, DSigmoidY{alpha});
      else bwd_w(dx, dy, x, n, DSigmoid{alpha});
      break;
    case ActKind::HardSigmoid: bwd_w(dx, dy, x, n, DHardSigmoid{alpha}); break;
    case ActKind::Tanh:
      if (y) bwd_w(dx, dy, y, n, DTanhY{alpha});
      else bwd_w(dx, dy, x, n, DTanh{alpha});
      break;
    case ActKind::Softplus: bwd_w(dx, dy, x, n, DSoftplus{alpha}); break;
    case ActKind::Softsign: bwd_w(dx, dy, x, n, DSoftsign{alpha}); break;
    case ActKind::Silu: bwd_w(dx, dy, x, n, DSilu{alpha}); break;
    case ActKind::Mish: bwd_w(dx, dy, x, n, DMish{alpha}); break;
    case ActKind::Exponential:
      if (y) bwd_w(dx, dy, y, n, DExpY{alpha});
      else bwd_w(dx, dy, x, n, DExp{alpha});
      break;
  }
}

void softmax_forward(float* y, const float* x, i64 rows, i64 cols) {
  launch_softmax(y, x, rows, cols, false);
}
void log_softmax_forward(float* y, const float* x, i64 rows, i64 cols) {
  launch_softmax(y, x, rows, cols, true);
}
void softmax_backward(float* dx, const float* dy, const float* y, i64 rows, i64 cols) {
  launch_softmax_bwd(dx, dy, y, rows, cols, false);
}
void log_softmax_backward(float* dx, const float* dy, const float* y, i64 rows, i64 cols) {
  launch_softmax_bwd(dx, dy, y, rows, cols, true);
}

}  // namespace fusednet::cuda
