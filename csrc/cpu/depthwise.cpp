// depthwise.cpp — DepthwiseConv2D forward and backward on the CPU, NHWC, kernel (kh, kw, C, dm).
//
// Formula (see depthwise.h), with O = C·dm, o = c·dm + m, K = kh·kw taps, W viewed as [K, O]:
//   forward:   Y[n,oh,ow,o]  = act(b[o] + Σ_t W[t,o] · X[n, h(oh,t), w(ow,t), o/dm])
//   backward:  dZ = dY · act'(Y)            (through the saved output, as conv2d_backward)
//              db[o]   = Σ_{n,oh,ow} dZ[n,oh,ow,o]
//              dW[t,o] = Σ_{n,oh,ow} dZ[n,oh,ow,o] · X[n, h(oh,t), w(ow,t), o/dm]
//              dX[n,h,w,c] = Σ_{t,m} dZ[n,oh,ow,c·dm+m] · W[t,c·dm+m]  over taps t that read (h,w)
//
// Why shaped so:
// * Only K multiply-adds per output element: no GEMM, no im2col. Every inner loop is one tap
//   applied to one pixel's contiguous channel vector (O floats, or C for dX), so it vectorises
//   over channels; for dm > 1 each input value is broadcast over its dm output channels.
// * Forward: parallel over the N·Ho output rows; within a row, pixel by pixel, the accumulator
//   (one pixel's O channels) stays in L1 while the taps are added in (i, j) order, then the bias +
//   activation epilogue is applied in place. Each output element is written by one thread.
// * dX is a gather, not a scatter: parallel over the N·H input rows; each dX element sums the taps
//   that read it in (i, j) order. No atomics, no per-thread dX copies.
// * dW/db are reductions over all N·Ho·Wo pixels: the N·Ho rows are cut into G groups by a rule
//   that depends on the shapes only; a group sums each row into a float row partial and adds it to
//   its own double accumulator, rows in order; the G accumulators are summed in group order. So
//   dW/db are bitwise independent of the thread count (DESIGN invariant 6).
// * The row loops (depthwise_impl.h) are compiled per ISA (portable, _avx2, _avx512) and picked
//   by isa_level(): the baseline x86-64 build vectorises them 4 floats wide only. Same tap order
//   on every ISA; AVX2 and AVX-512 contract the multiply-adds into FMAs (bitwise equal to each
//   other), the baseline build rounds the product first.
// * Padding is handled by skipping taps outside the image (no padded copies): a depthwise layer
//   is memory-bound, and an extra copy of X would cost as much as the convolution itself.
#include "cpu/depthwise.h"

#define FN_ISA_NS portable
#include "cpu/depthwise_impl.h"
#undef FN_ISA_NS

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "cpu/ftz_scope.h"
#include "cpu/isa.h"
#include "cpu/runtime.h"
#include "cpu/parallel.h"

namespace fusednet::cpu {

// The row loops, per ISA (depthwise_impl.h; bitwise the same results on every ISA).
#if FN_X86
#define FN_DW_DECL(ns)                                                                                   \
  namespace ns {                                                                                         \
  void depthwise_fwd_row(float*, const float*, const float*, const float*, const ConvGeom&, i64, i64);   \
  void depthwise_dw_row(float*, float*, const float*, const float*, const ConvGeom&, i64, i64);          \
  void depthwise_dx_row(float*, const float*, const float*, const ConvGeom&, i64, i64);                  \
  }
FN_DW_DECL(avx2)
FN_DW_DECL(avx512)
#undef FN_DW_DECL
#define FN_PICK(fn) (isa_level() >= 2 ? avx512::fn : isa_level() == 1 ? avx2::fn : portable::fn)
#else
#define FN_PICK(fn) (portable::fn)
#endif

namespace {


inline void zero_floats(float* p, i64 n) {
  if (n > 0) std::memset(p, 0, size_t(n) * sizeof(float));
}

// Small problems run on the calling thread (a fork/join costs more than the work).
constexpr double kParallelFlops = 65536.0;

bool run_parallel(i64 items, double flops) {
  const int nt = num_threads();
  return nt > 1 && items >= 2 && flops >= kParallelFlops && !in_parallel();
}

// f(r) for r in [0, n): static blocks on the thread pool when worth it. f must not throw.
template <class F>
void for_each_row(i64 n, double flops, F&& f) {
  if (run_parallel(n, flops)) {
    parallel_for(n, num_threads(), [&](i64 r) { f(r); });
  } else {
    set_ftz();
    for (i64 r = 0; r < n; ++r) f(r);
  }
}

void epilogue(float* a, i64 n, Act act) {
  switch (act) {
    case Act::Relu:
#pragma omp simd
      for (i64 k = 0; k < n; ++k) a[k] = a[k] > 0.f ? a[k] : 0.f;
      break;
    case Act::Sigmoid:
      for (i64 k = 0; k < n; ++k) a[k] = 1.f / (1.f + std::exp(-a[k]));
      break;
    case Act::Tanh:
      for (i64 k = 0; k < n; ++k) a[k] = std::tanh(a[k]);
      break;
    default:
      break;
  }
}

}  // namespace

// ------------------------------------------------------------------ forward
void depthwise_conv2d_forward(float* Y, const float* X, const float* Wt, const float* bias,
                              const ConvGeom& g, i64 dm, Act act) {
  FtzScope ftz_scope;
  FN_CHECK(dm >= 1 && g.O == g.C * dm, "depthwise_conv2d_forward: output channels must be C * depth_multiplier");
  const i64 O = g.O, C = g.C, K = g.kh * g.kw;
  if (g.M() == 0 || O == 0) return;
  const i64 rows = g.N * g.Ho;
  const auto row_fn = FN_PICK(depthwise_fwd_row);
  for_each_row(rows, 2.0 * double(g.M()) * double(O) * double(K), [&](i64 r) {
    const i64 n = r / g.Ho, oh = r % g.Ho;
    float* yrow = Y + r * g.Wo * O;
    row_fn(yrow, X + n * g.H * g.W * C, Wt, bias, g, dm, oh);
    epilogue(yrow, g.Wo * O, act);
  });
}

// ------------------------------------------------------------------ backward
void depthwise_conv2d_backward(float* dX, float* dW, float* db, const float* dY, const float* X,
                               const float* Wt, const float* Y, const ConvGeom& g, i64 dm, Act act) {
  FtzScope ftz_scope;
  FN_CHECK(dm >= 1 && g.O == g.C * dm, "depthwise_conv2d_backward: output channels must be C * depth_multiplier");
  const i64 M = g.M(), O = g.O, C = g.C, K = g.kh * g.kw, KO = K * O;
  if (M == 0 || O == 0) {
    if (dX) zero_floats(dX, g.N * g.H * g.W * C);
    zero_floats(dW, KO);
    if (db) zero_floats(db, O);
    return;
  }
  if (act != Act::None && !Y)
    throw ValueError("depthwise_conv2d_backward: the saved output Y is required for the activation");

  // dZ (dY itself when there is no activation)
  const float* dZ = dY;
  std::unique_ptr<HostBuf> dz_store;
  if (act != Act::None) {
    dz_store = std::make_unique<HostBuf>(size_t(M * O));
    float* z = dz_store->p;
    const i64 blk = 16384, nb = (M * O + blk - 1) / blk;
    for_each_row(nb, double(M) * double(O), [&](i64 b) {
      const i64 e0 = b * blk;
      conv_act_backward(z + e0, dY + e0, Y + e0, std::min(blk, M * O - e0), act);
    });
    dZ = z;
  }

  // dW, db: G shape-only groups of output rows, double accumulators summed in group order.
  const i64 rows = g.N * g.Ho, L = KO + O;
  i64 G = std::min<i64>(rows, 16);
  while (G > 1 && G * L > (i64(4) << 20)) --G;  // accumulators ≤ 32 MiB of doubles
  std::vector<double> acc(size_t(G * L), 0.0);
  HostBuf part(size_t(G * L));
  const auto dw_fn = FN_PICK(depthwise_dw_row);
  for_each_row(G, 2.0 * double(M) * double(KO), [&](i64 gi) {
    double* ag = acc.data() + gi * L;
    float* pw = part.p + gi * L;
    float* pb = pw + KO;
    for (i64 r = gi * rows / G; r < (gi + 1) * rows / G; ++r) {
      const i64 n = r / g.Ho, oh = r % g.Ho;
      zero_floats(pw, L);
      dw_fn(pw, db ? pb : nullptr, X + n * g.H * g.W * C, dZ + r * g.Wo * O, g, dm, oh);
      for (i64 e = 0; e < L; ++e) ag[e] += pw[e];
    }
  });
  for (i64 e = 0; e < L; ++e) {
    if (e >= KO && !db) break;
    double s = 0;
    for (i64 gi = 0; gi < G; ++gi) s += acc[size_t(gi * L + e)];
    if (e < KO) dW[e] = float(s);
    else db[e - KO] = float(s);
  }

  if (!dX) return;
  // dX: gather over the N·H input rows; each element sums its taps in (i, j) order.
  const auto dx_fn = FN_PICK(depthwise_dx_row);
  for_each_row(g.N * g.H, 2.0 * double(M) * double(KO), [&](i64 r) {
    const i64 n = r / g.H, h = r % g.H;
    dx_fn(dX + r * g.W * C, dZ + n * g.Ho * g.Wo * O, Wt, g, dm, h);
  });
}
#undef FN_PICK

}  // namespace fusednet::cpu
