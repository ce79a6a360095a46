// conv.cpp — Conv2D forward and backward on the CPU, NHWC, routed through cpu::sgemm.
//
// Formula (see conv.h):  Y = act(im2col(X) · W + b)   with im2col(X) [M = N·Ho·Wo, K = kh·kw·C]
// Backward (one call):   dZ = dY · act'(Y)  (through the saved output, as dense_backward)
//                        dW = im2col(X)ᵀ · dZ      [K, O]
//                        db = Σ_rows dZ            [O]
//                        dX = col2im(dZ · Wᵀ)      (scatter-add of [M, K] back onto [N,H,W,C])
//
// Why shaped so:
// * NHWC + Keras kernel layout make the im2col row order (i, j, c) equal to W's row order, so W is
//   used in place as the GEMM's B [K, O] and Y is written directly as C [M, O] — no transposes.
// * im2col is done in row chunks into a reused, thread-local, 64-byte aligned buffer sized to stay
//   in L2 (the GEMM packs it while it is still hot); there is never a full [M, K] temporary.
//   1x1 stride-1 unpadded convs skip im2col entirely (X already is the [M, C] matrix).
// * Chunks are whole images (several small images per chunk) or, for big images, fixed slices of
//   one image. The chunk partition depends only on the shapes, never on the thread count.
// * Threads: with enough chunks, the thread pool runs whole chunks in parallel and each calls sgemm from
//   inside the region (nested, so the GEMM runs single-threaded); with few chunks the chunks run
//   in order and the GEMM's own M/N threading does the work. GEMM results do not depend on its
//   thread count (DESIGN invariant 6), so both give identical bits.
// * dW is a reduction over M: chunks are split into G fixed groups (G depends on shapes only);
//   each group accumulates its chunks in order into its own partial (beta = 1), and the partials
//   are summed in group order. dX scatter-add touches only the chunk's own images, and a unit of
//   work (one group of images) is always processed by one thread, so col2im needs no atomics.
#include "cpu/conv.h"


#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cpu/conv_direct.h"
#include "cpu/gemm.h"
#include "cpu/ftz_scope.h"
#include "cpu/isa.h"
#include "cpu/parallel.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {

// ------------------------------------------------------------------ geometry
bool conv_out_size(i64 H, i64 k, i64 s, i64 d, bool same, i64* Ho, i64* pad_before) {
  const i64 eff = (k - 1) * d + 1;
  if (same) {
    i64 o = (H + s - 1) / s;
    i64 total = std::max<i64>((o - 1) * s + eff - H, 0);
    *Ho = o;
    *pad_before = total / 2;
    return true;
  }
  if (H < eff) return false;
  *Ho = (H - eff) / s + 1;
  *pad_before = 0;
  return true;
}

ConvGeom make_conv_geom(const char* op, i64 N, i64 H, i64 W, i64 C, i64 kh, i64 kw, i64 O, i64 sh,
                        i64 sw, i64 dh, i64 dw, bool same) {
  auto str2 = [](i64 a, i64 b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; };
  if (kh < 1 || kw < 1)
    throw ValueError(std::string(op) + ": kernel size must be >= 1, got " + str2(kh, kw));
  if (sh < 1 || sw < 1)
    throw ValueError(std::string(op) + ": strides must be >= 1, got " + str2(sh, sw));
  if (dh < 1 || dw < 1)
    throw ValueError(std::string(op) + ": dilation_rate must be >= 1, got " + str2(dh, dw));
  // Keep (k-1)·d + 1 and H + s - 1 far from int64 overflow (absurd strides/dilations from Python).
  constexpr i64 kMaxExtent = i64(1) << 60;
  if (sh > kMaxExtent || sw > kMaxExtent || kh > kMaxExtent || kw > kMaxExtent ||
      (kh > 1 && dh > kMaxExtent / (kh - 1)) || (kw > 1 && dw > kMaxExtent / (kw - 1)))
    throw ValueError(std::string(op) + ": strides " + str2(sh, sw) + " or dilation_rate " + str2(dh, dw) +
                     " too large for kernel " + str2(kh, kw));
  ConvGeom g;
  g.N = N; g.H = H; g.W = W; g.C = C; g.kh = kh; g.kw = kw; g.O = O;
  g.sh = sh; g.sw = sw; g.dh = dh; g.dw = dw;
  if (!conv_out_size(H, kh, sh, dh, same, &g.Ho, &g.pt) ||
      !conv_out_size(W, kw, sw, dw, same, &g.Wo, &g.pl))
    throw ValueError(std::string(op) + ": kernel " + str2(kh, kw) + " with dilation " + str2(dh, dw) +
                     " is larger than the input " + str2(H, W) + " with padding='valid'");
  return g;
}

// ------------------------------------------------------------------ helpers
namespace {

// Reused per-thread scratch (the pool keeps its threads, so this is allocated once per size).
struct Scratch {
  float* p = nullptr;
  size_t n = 0;
  ~Scratch() { aligned_free(p); }
  float* get(size_t want) {
    if (want > n) {
      aligned_free(p);
      p = nullptr;
      n = 0;
      p = static_cast<float*>(aligned_malloc(want * sizeof(float)));
      n = want;
    }
    return p;
  }
};
thread_local Scratch tl_scratch[4];  // [3]: one image of a conv+pool pair


// Captures the first exception thrown inside a parallel task; rethrown after it.
struct OmpErr {
  std::exception_ptr e;
  template <class F> void run(F&& f) {
    try {
      f();
    } catch (...) {
      static std::mutex mu;
      std::lock_guard<std::mutex> lk(mu);
      if (!e) e = std::current_exception();
    }
  }
  void rethrow() { if (e) std::rethrow_exception(e); }
};

// f(i) for i in [0, n): across the pool's threads when `parallel` (static blocks, or one unit at a
// time for uneven units), else in order on this thread. FTZ is set on every thread; the first
// exception thrown by any unit is rethrown here.
enum class Sched { Static, Dynamic };
template <class F>
void for_units(i64 n, bool parallel, Sched sched, F&& f) {
  if (!parallel) {
    set_ftz();
    for (i64 i = 0; i < n; ++i) f(i);
    return;
  }
  OmpErr err;
  if (sched == Sched::Dynamic) {
    parallel_for_dynamic(n, num_threads(), [&](i64 i) {
      set_ftz();
      err.run([&] { f(i); });
    });
  } else {
    parallel_for(n, num_threads(), [&](i64 i) {
      set_ftz();
      err.run([&] { f(i); });
    });
  }
  err.rethrow();
}

i64 chunk_budget_bytes() {
  static const i64 b = [] {
    const char* s = std::getenv("FUSEDNET_CONV_CHUNK_KB");
    i64 kb = s ? std::atol(s) : 0;
    return (kb > 0 ? kb : 384) * 1024;
  }();
  return b;
}

// How the M = N·P rows (P = Ho·Wo per image) are cut: `units` groups of `ipc` whole images, each
// cut into `sub` chunks (sub > 1 only when ipc == 1). Depends on shapes only.
struct Plan {
  i64 P = 0, N = 0, ipc = 1, sub = 1, units = 0;
  i64 unit_img0(i64 u) const { return u * ipc; }
  i64 unit_img1(i64 u) const { return std::min(N, (u + 1) * ipc); }
  i64 nchunks_in(i64 /*u*/) const { return sub; }
  // rows [r0, r1) of chunk s of unit u (global row index)
  void chunk(i64 u, i64 s, i64* r0, i64* r1) const {
    if (sub == 1) {
      *r0 = unit_img0(u) * P;
      *r1 = unit_img1(u) * P;
    } else {
      *r0 = u * P + s * P / sub;
      *r1 = u * P + (s + 1) * P / sub;
    }
  }
  i64 max_rows() const { return sub == 1 ? ipc * P : (P + sub - 1) / sub; }
};

Plan make_plan(const ConvGeom& g, i64 row_bytes) {
  Plan p;
  p.P = g.Ho * g.Wo;
  p.N = g.N;
  i64 target = std::max<i64>(chunk_budget_bytes() / std::max<i64>(row_bytes, 1), 32);
  target = std::min<i64>(target, 8192);
  if (p.P >= target) {
    p.ipc = 1;
    p.sub = (p.P + target - 1) / target;
  } else {
    p.ipc = std::max<i64>(1, std::min<i64>(g.N, target / std::max<i64>(p.P, 1)));
    p.sub = 1;
  }
  p.units = (g.N + p.ipc - 1) / p.ipc;
  return p;
}

inline void copy_floats(float* dst, const float* src, i64 n) {
  if (n >= 16) std::memcpy(dst, src, size_t(n) * sizeof(float));
  else for (i64 k = 0; k < n; ++k) dst[k] = src[k];
}
inline void zero_floats(float* dst, i64 n) { std::memset(dst, 0, size_t(n) * sizeof(float)); }

// col [r1-r0, K] = im2col rows [r0, r1) of X (global row index over N·Ho·Wo).
void im2col(float* col, const float* X, const ConvGeom& g, i64 r0, i64 r1) {
  const i64 K = g.K(), C = g.C, P = g.Ho * g.Wo, kwC = g.kw * C;
  for (i64 r = r0; r < r1; ++r) {
    const i64 n = r / P, p = r % P, oh = p / g.Wo, ow = p % g.Wo;
    const float* xn = X + n * g.H * g.W * C;
    float* dst = col + (r - r0) * K;
    const i64 h0 = oh * g.sh - g.pt, w0 = ow * g.sw - g.pl;
    const bool wfull = w0 >= 0 && w0 + (g.kw - 1) * g.dw < g.W;
    for (i64 i = 0; i < g.kh; ++i, dst += kwC) {
      const i64 h = h0 + i * g.dh;
      if (h < 0 || h >= g.H) { zero_floats(dst, kwC); continue; }
      const float* xrow = xn + h * g.W * C;
      if (wfull && g.dw == 1) { copy_floats(dst, xrow + w0 * C, kwC); continue; }
      for (i64 j = 0; j < g.kw; ++j) {
        const i64 w = w0 + j * g.dw;
        if (w < 0 || w >= g.W) zero_floats(dst + j * C, C);
        else copy_floats(dst + j * C, xrow + w * C, C);
      }
    }
  }
}

// dX += col2im(dcol) for rows [r0, r1). Sequential within the call (overlapping windows add up).
void col2im_add(float* dX, const float* dcol, const ConvGeom& g, i64 r0, i64 r1) {
  const i64 K = g.K(), C = g.C, P = g.Ho * g.Wo;
  for (i64 r = r0; r < r1; ++r) {
    const i64 n = r / P, p = r % P, oh = p / g.Wo, ow = p % g.Wo;
    float* xn = dX + n * g.H * g.W * C;
    const float* src = dcol + (r - r0) * K;
    const i64 h0 = oh * g.sh - g.pt, w0 = ow * g.sw - g.pl;
    for (i64 i = 0; i < g.kh; ++i) {
      const i64 h = h0 + i * g.dh;
      if (h < 0 || h >= g.H) continue;
      float* xrow = xn + h * g.W * C;
      for (i64 j = 0; j < g.kw; ++j) {
        const i64 w = w0 + j * g.dw;
        if (w < 0 || w >= g.W) continue;
        float* d = xrow + w * C;
        const float* s = src + (i * g.kw + j) * C;
        for (i64 c = 0; c < C; ++c) d[c] += s[c];
      }
    }
  }
}

inline float act_apply(float v, Act act) {
  switch (act) {
    case Act::Relu: return v > 0.f ? v : 0.f;
    case Act::Sigmoid: return 1.f / (1.f + std::exp(-v));
    case Act::Tanh: return std::tanh(v);
    default: return v;
  }
}

bool run_parallel(i64 work_items) {
  const int nt = num_threads();
  return nt > 1 && work_items >= 2 * nt && !in_parallel();
}

constexpr const char* kBadArgmax = "conv2d_maxpool_backward: argmax holds an index outside the pooled image";

// ------------------------------------------------------------------ direct path (small K)
// x86-64 only: the kernels are AVX-512 (conv_avx512.cpp) or AVX2 + FMA (conv_avx2.cpp), picked by
// isa_level() at each call; other targets (and x86-64 without AVX2) always take the GEMM path.
#if FN_X86
// Layers with K = kh·kw·C ≤ kDirectMaxK (first layers: C = 1 or 3) skip im2col and the GEMM
// (conv_direct.h). Work is cut into units = (image, band of hb output rows), hb depending on the
// shape only; padding other than 'valid' is materialised per band in a zero-padded copy, so the
// kernels never test bounds.
// FUSEDNET_CONV_DIRECT=0 turns the direct kernels off (benchmarks, cross-checking the GEMM path).
bool direct_enabled() {
  static const bool on = [] {
    const char* s = std::getenv("FUSEDNET_CONV_DIRECT");
    return !(s && s[0] == '0');
  }();
  return on;
}

struct DirectPlan {
  i64 hb = 1, S = 1, units = 0;   // rows per band, bands per image, N·S
  bool padded = false;
  i64 Wp = 0, rs = 0;             // source row width (pixels) and stride (floats)
  std::vector<i64> offs;          // K offsets of the window's inputs from its origin
};

bool direct_ok(const ConvGeom& g, i64 max_k = conv_detail::kDirectMaxK) {
  return isa_level() >= 1 && g.K() > 0 && g.K() <= max_k && direct_enabled();
}

DirectPlan make_direct(const ConvGeom& g) {
  DirectPlan d;
  d.hb = std::max<i64>(1, std::min<i64>(g.Ho, (4096 + g.Wo - 1) / std::max<i64>(g.Wo, 1)));
  d.S = (g.Ho + d.hb - 1) / d.hb;
  d.units = g.N * d.S;
  const i64 need_h = (g.Ho - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  const i64 need_w = (g.Wo - 1) * g.sw + (g.kw - 1) * g.dw + 1;
  d.padded = g.pt > 0 || g.pl > 0 || need_h - g.pt > g.H || need_w - g.pl > g.W;
  d.Wp = d.padded ? need_w : g.W;
  d.rs = d.Wp * g.C;
  d.offs.resize(size_t(g.K()));
  for (i64 i = 0, k = 0; i < g.kh; ++i)
    for (i64 j = 0; j < g.kw; ++j)
      for (i64 c = 0; c < g.C; ++c) d.offs[size_t(k++)] = i * g.dh * d.rs + j * g.dw * g.C + c;
  return d;
}

// rows [h0, h0+rows) of image Xn (h may be out of range: zero rows), columns [-pl, Wp-pl), into buf.
void fill_padded(float* buf, const float* Xn, const ConvGeom& g, i64 Wp, i64 h0, i64 rows) {
  const i64 C = g.C;
  const i64 lo = std::min(g.pl, Wp), hi = std::min(g.pl + g.W, Wp);
  for (i64 r = 0; r < rows; ++r) {
    float* dst = buf + r * Wp * C;
    const i64 h = h0 + r;
    if (h < 0 || h >= g.H) { zero_floats(dst, Wp * C); continue; }
    zero_floats(dst, lo * C);
    if (hi > lo) copy_floats(dst + lo * C, Xn + (h * g.W + (lo - g.pl)) * C, (hi - lo) * C);
    if (Wp > hi) zero_floats(dst + hi * C, (Wp - hi) * C);
  }
}

// Source of unit u: the window origin of its first output pixel (a padded copy when needed).
const float* direct_src(const DirectPlan& d, const ConvGeom& g, const float* X, i64 u, i64* oh0, i64* nr) {
  const i64 n = u / d.S, b = u % d.S, C = g.C;
  *oh0 = b * d.hb;
  *nr = std::min(d.hb, g.Ho - *oh0);
  const float* Xn = X + n * g.H * g.W * C;
  if (!d.padded) return Xn + (*oh0 * g.sh) * g.W * C;
  const i64 rows = (*nr - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  float* buf = tl_scratch[0].get(size_t(rows * d.Wp * C));
  fill_padded(buf, Xn, g, d.Wp, *oh0 * g.sh - g.pt, rows);
  return buf;
}

void direct_forward(float* Y, const float* X, const float* Wt, const float* bias, const ConvGeom& g, Act act) {
  const DirectPlan d = make_direct(g);
  auto unit = [&](i64 u) {
    i64 oh0, nr;
    const float* src = direct_src(d, g, X, u, &oh0, &nr);
    const i64 n = u / d.S;
    float* Yn = Y + ((n * g.Ho + oh0) * g.Wo) * g.O;
    if (isa_level() >= 2) conv_detail::direct_fwd_image_avx512(Yn, src, d.rs, d.offs.data(), Wt, bias, g, act, nr);
    else conv_detail::direct_fwd_image_avx2(Yn, src, d.rs, d.offs.data(), Wt, bias, g, act, nr);
  };
  for_units(d.units, run_parallel(d.units), Sched::Static, unit);
}

// dW, db (no dX) of the direct path. Units are dealt into G groups by a shape-only rule; each
// group sums its units' float partials in unit order into double, and groups are summed in order.
// With `pooled` set (conv2d_maxpool_backward; needs d.S == 1, one unit per image) dY is not read:
// each image's dZ is rebuilt from the pooled gradient into thread-local scratch first.
struct PooledGrad {
  const float* dP;
  const int32_t* idx;
  const float* relu_y;
  PoolGeom p1;  // one image
};

void direct_backward(float* dW, float* db, const float* dY, const float* X, const float* Y,
                     const ConvGeom& g, Act act, const PooledGrad* pooled = nullptr) {
  const DirectPlan d = make_direct(g);
  const i64 K = g.K(), O = g.O, KO = K * O, L = KO + O;
  const i64 G = std::min<i64>(d.units, 16);
  std::vector<double> gacc(size_t(G * L), 0.0);
  auto group = [&](i64 gi) {
    double* acc = gacc.data() + gi * L;
    float* part = tl_scratch[1].get(size_t(L));
    for (i64 u = gi * d.units / G; u < (gi + 1) * d.units / G; ++u) {
      i64 oh0, nr;
      const float* src = direct_src(d, g, X, u, &oh0, &nr);
      const i64 q0 = ((u / d.S) * g.Ho + oh0) * g.Wo;
      const float* dYu = pooled ? nullptr : dY + q0 * O;
      if (pooled) {
        const i64 n = u, pimg = pooled->p1.Ho * pooled->p1.Wo * pooled->p1.C;
        float* z = tl_scratch[3].get(size_t(g.Ho * g.Wo * O));
        if (!max_pool2d_backward(z, pooled->dP + n * pimg, pooled->idx + n * pimg, pooled->p1,
                                 pooled->relu_y ? pooled->relu_y + n * pimg : nullptr))
          throw ValueError(kBadArgmax);
        dYu = z;
      }
      float* dbp = db ? part + KO : nullptr;
      const float* Yu = Y ? Y + q0 * O : nullptr;
      if (isa_level() >= 2) conv_detail::direct_dw_image_avx512(part, dbp, src, d.rs, d.offs.data(), dYu, Yu, g, act, nr);
      else conv_detail::direct_dw_image_avx2(part, dbp, src, d.rs, d.offs.data(), dYu, Yu, g, act, nr);
      const i64 n_acc = db ? L : KO;
      for (i64 e = 0; e < n_acc; ++e) acc[e] += part[e];
    }
  };
  for_units(G, run_parallel(G), Sched::Static, group);
  for (i64 e = 0; e < L; ++e) {
    if (e >= KO && !db) break;
    double s = 0;
    for (i64 gi = 0; gi < G; ++gi) s += gacc[gi * L + e];
    if (e < KO) dW[e] = float(s);
    else db[e - KO] = float(s);
  }
}


// Full backward on the direct kernels (C % 16 == 0, e.g. every layer after the first):
//   dZ = dY·act'(Y)                          one elementwise pass (skipped for Act::None)
//   dW, db: direct_dw_tile over (K-block, 64-channel block) tiles, each over the whole batch
//   dX = col2im(dZ·Wᵀ) with the col2im fused into the tile's store (direct_dx_image).
// X is read through a zero-padded copy when the forward padded. Deterministic (see the tiles).
bool direct_full_ok(const ConvGeom& g) {
  if (!direct_ok(g, conv_detail::kDirectFwdMaxK) || g.C % 16 != 0) return false;
  const DirectPlan d = make_direct(g);
  const i64 rows = (g.Ho - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  return !d.padded || g.N * rows * d.Wp * g.C <= (i64(16) << 20);  // padded copy ≤ 64 MiB
}

void direct_backward_full(float* dX, float* dW, float* db, const float* dY, const float* X,
                          const float* Wt, const float* Y, const ConvGeom& g, Act act) {
  const i64 M = g.M(), K = g.K(), O = g.O, C = g.C;
  // dZ
  const float* dZ = dY;
  std::unique_ptr<HostBuf> dzbuf;
  if (act != Act::None) {
    dzbuf = std::make_unique<HostBuf>(size_t(M * O));
    float* z = dzbuf->p;
    const i64 n = M * O, blk = 16384;
    parallel_for_if(n > 65536 && !in_parallel(), (n + blk - 1) / blk, num_threads(), [&](i64 b) {
      const i64 b0 = b * blk;
      conv_act_backward(z + b0, dY + b0, Y + b0, std::min(blk, n - b0), act);
    });
    dZ = z;
  }
  // X source for dW (whole images, zero-padded when needed)
  const DirectPlan d = make_direct(g);
  const float* src = X;
  i64 img_stride = g.H * g.W * C;
  std::unique_ptr<HostBuf> xpad;
  if (d.padded) {
    const i64 rows = (g.Ho - 1) * g.sh + (g.kh - 1) * g.dh + 1;
    img_stride = rows * d.rs;
    xpad = std::make_unique<HostBuf>(size_t(g.N * img_stride));
    for (i64 n = 0; n < g.N; ++n)
      fill_padded(xpad->p + n * img_stride, X + n * g.H * g.W * C, g, d.Wp, -g.pt, rows);
    src = xpad->p;
  }
  // dW tiles
  // (AVX-512: 64-channel blocks of up to 4 zmm; AVX2: 16-channel blocks of up to 2 ymm.)
  const bool z512 = isa_level() >= 2;
  const i64 oblk = z512 ? 64 : conv_detail::kDwBlockAvx2;
  std::vector<std::pair<i64, i64>> tiles;
  for (i64 ob = 0; ob < O; ob += oblk) {
    const i64 rem = std::min<i64>(O - ob, oblk);
    const i64 kstep = z512 ? conv_detail::dw_kstep(int((rem + 15) / 16)) : conv_detail::dw_kstep_avx2(rem > 8 ? 2 : 1);
    for (i64 kb = 0; kb < K; kb += kstep) tiles.emplace_back(kb, ob);
  }
  const i64 nt = i64(tiles.size());
  // Images in L2-sized chunks (dZ + X of a chunk ≈ 384 KiB), every tile swept over a chunk before
  // the next: each tile reads the chunk from L2 instead of the whole batch from L3. Running sums
  // live in `sums` between chunks; per tile the images still come in order (bitwise unchanged).
  const i64 img_bytes = (g.Ho * g.Wo * O + img_stride) * i64(sizeof(float));
  const i64 nchunk = std::max<i64>(1, (i64(384) << 10) / std::max<i64>(img_bytes, 1));
  HostBuf sums(size_t(nt * conv_detail::kDwSumFloats));
  for (i64 n0 = 0; n0 < g.N; n0 += nchunk) {
    const i64 n1 = std::min(g.N, n0 + nchunk);
    auto tile = [&](i64 t) {
      const i64 kb = tiles[size_t(t)].first, ob = tiles[size_t(t)].second;
      float* sum = sums.p + t * conv_detail::kDwSumFloats;
      float* dbt = kb == 0 ? db : nullptr;
      if (z512) conv_detail::direct_dw_tile_avx512(dW, dbt, src, img_stride, d.rs, d.offs.data(), dZ, g, kb, ob, n0, n1, sum);
      else conv_detail::direct_dw_tile_avx2(dW, dbt, src, img_stride, d.rs, d.offs.data(), dZ, g, kb, ob, n0, n1, sum);
    };
    for_units(nt, run_parallel(nt), Sched::Dynamic, tile);
  }
  if (!dX) return;
  // dX = col2im(dZ·Wᵀ) fused: per image (one thread owns an image's dX), dX already zeroed.
  HostBuf wt(size_t(K * O));
  for (i64 k = 0; k < K; ++k)
    for (i64 o = 0; o < O; ++o) wt.p[o * K + k] = Wt[k * O + o];
  const i64 P = g.Ho * g.Wo;
  auto image = [&](i64 n) {
    if (z512) conv_detail::direct_dx_image_avx512(dX + n * g.H * g.W * C, dZ + n * P * O, wt.p, g);
    else conv_detail::direct_dx_image_avx2(dX + n * g.H * g.W * C, dZ + n * P * O, wt.p, g);
  };
  for_units(g.N, run_parallel(g.N), Sched::Static, image);
}
#endif  // FN_X86
}  // namespace

// ------------------------------------------------------------------ activation backward
// Both operands are loaded unconditionally so the relu select vectorises (a conditional load of
// dY would compile to a branch, which mispredicts on half-zero activations: 4x slower).
void conv_act_backward(float* __restrict dZ, const float* __restrict dY, const float* __restrict Y, i64 n,
                       Act act) {
  switch (act) {
    case Act::Relu:
      for (i64 k = 0; k < n; ++k) {
        const float d = dY[k], y = Y[k];
        dZ[k] = y > 0.f ? d : 0.f;
      }
      break;
    case Act::Sigmoid:
      for (i64 k = 0; k < n; ++k) dZ[k] = dY[k] * Y[k] * (1.f - Y[k]);
      break;
    case Act::Tanh:
      for (i64 k = 0; k < n; ++k) dZ[k] = dY[k] * (1.f - Y[k] * Y[k]);
      break;
    default:
      copy_floats(dZ, dY, n);
  }
}

// ------------------------------------------------------------------ forward
void conv2d_forward(float* Y, const float* X, const float* Wt, const float* bias, const ConvGeom& g,
                    Act act) {
  FtzScope ftz_scope;
  const i64 M = g.M(), K = g.K(), O = g.O;
  if (M == 0 || O == 0) return;
  if (K == 0) {  // no input channels: the output is act(bias)
    for (i64 r = 0; r < M; ++r)
      for (i64 o = 0; o < O; ++o) Y[r * O + o] = act_apply(bias ? bias[o] : 0.f, act);
    return;
  }
#if FN_X86
  if (direct_ok(g, conv_detail::kDirectFwdMaxK) && (act == Act::None || act == Act::Relu)) {
    direct_forward(Y, X, Wt, bias, g, act);
    return;
  }
#endif
  if (g.pointwise()) {  // X [M, C] is the im2col matrix
    sgemm(Y, X, Wt, bias, M, O, K, false, false, K, O, O, 0.f, act);
    return;
  }
  const Plan p = make_plan(g, K * 4);
  const i64 nchunks = p.units * p.sub;
  auto do_chunk = [&](i64 ci) {
    i64 r0, r1;
    p.chunk(ci / p.sub, ci % p.sub, &r0, &r1);
    if (r1 <= r0) return;
    float* col = tl_scratch[0].get(size_t(p.max_rows() * K));
    im2col(col, X, g, r0, r1);
    sgemm(Y + r0 * O, col, Wt, bias, r1 - r0, O, K, false, false, K, O, O, 0.f, act);
  };
  for_units(nchunks, run_parallel(nchunks), Sched::Dynamic, do_chunk);
}

// ------------------------------------------------------------------ backward
void conv2d_backward(float* dX, float* dW, float* db, const float* dY, const float* X,
                     const float* Wt, const float* Y, const ConvGeom& g, Act act) {
  FtzScope ftz_scope;
  const i64 M = g.M(), K = g.K(), O = g.O, C = g.C;
  if (dX) zero_floats(dX, g.N * g.H * g.W * C);
  if (M == 0 || K == 0 || O == 0) {
    zero_floats(dW, K * O);
    if (db) {
      zero_floats(db, O);
      if (K == 0 && M > 0) {  // db still gets Σ dZ
        std::vector<float> dz(static_cast<size_t>(O));
        std::vector<double> acc(size_t(O), 0.0);
        for (i64 r = 0; r < M; ++r) {
          conv_act_backward(dz.data(), dY + r * O, Y ? Y + r * O : dY + r * O, O, Y ? act : Act::None);
          for (i64 o = 0; o < O; ++o) acc[o] += dz[o];
        }
        for (i64 o = 0; o < O; ++o) db[o] = float(acc[o]);
      }
    }
    return;
  }
  if (act != Act::None && !Y) throw ValueError("conv2d_backward: the saved output Y is required for the activation");
#if FN_X86
  if (!dX && direct_ok(g)) {
    direct_backward(dW, db, dY, X, act != Act::None ? Y : nullptr, g, act);
    return;
  }
  if (direct_full_ok(g)) {
    direct_backward_full(dX, dW, db, dY, X, Wt, Y, g, act);
    return;
  }
#endif
  const bool pw = g.pointwise();
  const i64 row_bytes = 4 * ((pw ? 0 : K) + O + (dX && !pw ? K : 0));
  const Plan p = make_plan(g, row_bytes);
  // Fixed number of dW partials (shape-dependent only), capped by memory (~32 MiB).
  i64 G = std::min<i64>(p.units, 8);
  while (G > 1 && G * K * O > (i64(8) << 20)) --G;
  std::unique_ptr<HostBuf> part;
  if (G > 1) part = std::make_unique<HostBuf>(size_t(G * K * O));
  std::vector<double> dbacc(size_t(G * O), 0.0);
  // Wᵀ [O, K] once per call, so the per-chunk dX GEMMs pack B with row copies, not transposes.
  std::unique_ptr<HostBuf> wt_buf;
  if (dX) {
    wt_buf = std::make_unique<HostBuf>(size_t(K * O));
    float* wt = wt_buf->p;
    for (i64 k0 = 0; k0 < K; k0 += 64)
      for (i64 o = 0; o < O; ++o)
        for (i64 k = k0; k < std::min(K, k0 + 64); ++k) wt[o * K + k] = Wt[k * O + o];
  }
  const float* WT = dX ? wt_buf->p : nullptr;

  auto run_group = [&](i64 gi) {
    float* dWg = G > 1 ? part->p + gi * K * O : dW;
    double* dbg = dbacc.data() + gi * O;
    const i64 u0 = gi * p.units / G, u1 = (gi + 1) * p.units / G;
    bool first = true;
    for (i64 u = u0; u < u1; ++u) {
      for (i64 s = 0; s < p.sub; ++s) {
        i64 r0, r1;
        p.chunk(u, s, &r0, &r1);
        const i64 rows = r1 - r0;
        if (rows <= 0) continue;
        const float* dZ = dY + r0 * O;
        if (act != Act::None) {
          float* z = tl_scratch[1].get(size_t(p.max_rows() * O));
          conv_act_backward(z, dY + r0 * O, Y + r0 * O, rows * O, act);
          dZ = z;
        }
        const float* col = X + r0 * C;
        if (!pw) {
          float* c = tl_scratch[0].get(size_t(p.max_rows() * K));
          im2col(c, X, g, r0, r1);
          col = c;
        }
        sgemm(dWg, col, dZ, nullptr, K, O, rows, true, false, K, O, O, first ? 0.f : 1.f, Act::None);
        first = false;
        if (db)
          for (i64 r = 0; r < rows; ++r)
            for (i64 o = 0; o < O; ++o) dbg[o] += dZ[r * O + o];
        if (dX) {
          if (pw) {
            sgemm(dX + r0 * C, dZ, WT, nullptr, rows, C, O, false, false, O, K, C, 0.f, Act::None);
          } else {
            float* dcol = tl_scratch[2].get(size_t(p.max_rows() * K));
            sgemm(dcol, dZ, WT, nullptr, rows, K, O, false, false, O, K, K, 0.f, Act::None);
            col2im_add(dX, dcol, g, r0, r1);
          }
        }
      }
    }
    if (first) zero_floats(dWg, K * O);  // empty group (cannot happen when G <= units)
  };

  for_units(G, run_parallel(G), Sched::Dynamic, run_group);

  if (G > 1) {  // fixed-order sum of the partials
    const float* pp = part->p;
    const i64 KO = K * O;
    parallel_for_if(KO > 65536, KO, num_threads(), [&](i64 e) {
      float s = pp[e];
      for (i64 gi = 1; gi < G; ++gi) s += pp[gi * KO + e];
      dW[e] = s;
    });
  }
  if (db)
    for (i64 o = 0; o < O; ++o) {
      double s = 0;
      for (i64 gi = 0; gi < G; ++gi) s += dbacc[gi * O + o];
      db[o] = float(s);
    }
}


// ------------------------------------------------------------------ data gradient / transpose
void conv2d_backward_data(float* dX, const float* dZ, const float* Wt, const ConvGeom& g) {
  FtzScope ftz_scope;
  const i64 M = g.M(), K = g.K(), O = g.O, C = g.C;
  zero_floats(dX, g.N * g.H * g.W * C);
  if (M == 0 || K == 0 || O == 0) return;
  // Wᵀ [O, K] once per call (row copies when packing the GEMM's B).
  HostBuf wt(size_t(K * O));
  for (i64 k0 = 0; k0 < K; k0 += 64)
    for (i64 o = 0; o < O; ++o)
      for (i64 k = k0; k < std::min(K, k0 + 64); ++k) wt.p[o * K + k] = Wt[k * O + o];
#if FN_X86
  if (direct_full_ok(g)) {  // col2im fused into the tile's store, one thread per image
    const i64 P = g.Ho * g.Wo;
    for_units(g.N, run_parallel(g.N), Sched::Static, [&](i64 n) {
      if (isa_level() >= 2) conv_detail::direct_dx_image_avx512(dX + n * g.H * g.W * C, dZ + n * P * O, wt.p, g);
      else conv_detail::direct_dx_image_avx2(dX + n * g.H * g.W * C, dZ + n * P * O, wt.p, g);
    });
    return;
  }
#endif
  if (g.pointwise()) {
    sgemm(dX, dZ, wt.p, nullptr, M, C, O, false, false, O, K, C, 0.f, Act::None);
    return;
  }
  // Units are disjoint groups of whole images, so their col2im never touch the same dX; the
  // chunks of one unit run in order on one thread (overlapping windows add up in a fixed order).
  const Plan p = make_plan(g, 4 * (O + K));
  for_units(p.units, run_parallel(p.units), Sched::Dynamic, [&](i64 u) {
    for (i64 s = 0; s < p.sub; ++s) {
      i64 r0, r1;
      p.chunk(u, s, &r0, &r1);
      if (r1 <= r0) continue;
      float* dcol = tl_scratch[2].get(size_t(p.max_rows() * K));
      sgemm(dcol, dZ + r0 * O, wt.p, nullptr, r1 - r0, K, O, false, false, O, K, K, 0.f, Act::None);
      col2im_add(dX, dcol, g, r0, r1);
    }
  });
}

void conv2d_transpose_forward(float* Y, const float* X, const float* Wt, const float* bias, const ConvGeom& g,
                              Act act) {
  conv2d_backward_data(Y, X, Wt, g);
  if (!bias && act == Act::None) return;
  FtzScope ftz_scope;
  const i64 rows = g.N * g.H * g.W, C = g.C, blk = std::max<i64>(1, 16384 / std::max<i64>(C, 1));
  const i64 nb = (rows + blk - 1) / blk;
  parallel_for_if(rows * C > 65536 && !in_parallel(), nb, num_threads(), [&](i64 b) {
    set_ftz();
    for (i64 r = b * blk; r < std::min(rows, (b + 1) * blk); ++r) {
      float* y = Y + r * C;
      for (i64 c = 0; c < C; ++c) y[c] = act_apply(y[c] + (bias ? bias[c] : 0.f), act);
    }
  });
}

void conv2d_transpose_backward(float* dX, float* dW, float* db, const float* dY, const float* X,
                               const float* Wt, const float* Y, const ConvGeom& g, Act act) {
  FtzScope ftz_scope;
  const i64 rows = g.N * g.H * g.W, C = g.C, n = rows * C;
  if (act != Act::None && !Y) throw ValueError("conv2d_transpose_backward: the saved output Y is required");
  const float* dZ = dY;
  std::unique_ptr<HostBuf> dzbuf;
  if (act != Act::None && n > 0) {
    dzbuf = std::make_unique<HostBuf>(size_t(n));
    const i64 blk = 16384;
    parallel_for_if(n > 65536 && !in_parallel(), (n + blk - 1) / blk, num_threads(), [&](i64 b) {
      const i64 b0 = b * blk;
      conv_act_backward(dzbuf->p + b0, dY + b0, Y + b0, std::min(blk, n - b0), act);
    });
    dZ = dzbuf->p;
  }
  if (db) {  // Σ over pixels: double partials over G shape-only row groups, added in group order
    const i64 G = std::max<i64>(1, std::min<i64>(16, rows / 4096));
    std::vector<double> acc(size_t(G * C), 0.0);
    parallel_for_if(G > 1 && !in_parallel(), G, num_threads(), [&](i64 gi) {
      double* a = acc.data() + gi * C;
      for (i64 r = gi * rows / G; r < (gi + 1) * rows / G; ++r)
        for (i64 c = 0; c < C; ++c) a[c] += dZ[r * C + c];
    });
    for (i64 c = 0; c < C; ++c) {
      double t = 0;
      for (i64 gi = 0; gi < G; ++gi) t += acc[size_t(gi * C + c)];
      db[c] = float(t);
    }
  }
  // The layer's input X is the conv's output side [N, Ho, Wo, O]; dZ is on the conv's input side.
  if (dX) conv2d_forward(dX, dZ, Wt, nullptr, g, Act::None);
  conv2d_backward(nullptr, dW, nullptr, X, dZ, Wt, nullptr, g, Act::None);
}


// ------------------------------------------------------------------ conv + max-pool pair
namespace {
// Pooling windows with no padding that end before the conv output does ('valid' pooling of an
// odd size: 11x11 -> 5x5 uses rows/columns 0..9 only) never read the last rows/columns, so the
// pair convolves only the covered [Hc, Wc] block (17% of the seed CNN's conv2 work). Every conv
// output pixel is computed independently of which others are computed, so the block holds the
// same bits as the full output. Returns false when nothing would be cropped.
bool pool_crop(const ConvGeom& g, const PoolGeom& pg, ConvGeom* gc, PoolGeom* pc) {
  *gc = g;
  *pc = pg;
  if (pg.pt != 0 || pg.pl != 0 || pg.Ho == 0 || pg.Wo == 0) return false;
  const i64 Hc = (pg.Ho - 1) * pg.sh + pg.ph, Wc = (pg.Wo - 1) * pg.sw + pg.pw;
  if (Hc > g.Ho || Wc > g.Wo || (Hc == g.Ho && Wc == g.Wo)) return false;
  gc->Ho = pc->H = Hc;
  gc->Wo = pc->W = Wc;
  return true;
}

// argmax positions h·Wc + w of the cropped block -> h·Wo + w of the full conv output (in place).
void crop_idx_to_full(int32_t* idx, i64 n, i64 Wc, i64 Wo) {
  if (Wc == Wo) return;
  for (i64 e = 0; e < n; ++e) {
    const int32_t v = idx[e], h = v / int32_t(Wc);
    idx[e] = h * int32_t(Wo) + (v - h * int32_t(Wc));
  }
}

#if FN_X86  // used by the direct path only
// The reverse, into `out`. False when a position is outside the block (or the image): such an
// argmax was not made by the forward, and the caller takes the uncropped path, which validates it.
bool full_idx_to_crop(int32_t* out, const int32_t* idx, i64 n, i64 Ho, i64 Wo, i64 Hc, i64 Wc) {
  bool ok = true;
  for (i64 e = 0; e < n; ++e) {
    const int32_t v = idx[e];
    const int32_t h = v / int32_t(Wo), w = v - h * int32_t(Wo);
    ok &= v >= 0 && h < Hc && w < Wc;
    out[e] = h * int32_t(Wc) + w;
  }
  (void)Ho;
  return ok;
}
#endif
}  // namespace

void conv2d_maxpool_forward(float* P, int32_t* idx, const float* X, const float* Wt, const float* bias,
                            const ConvGeom& g, Act act, const PoolGeom& pg) {
  FtzScope ftz_scope;
  const i64 nt = num_threads();
  ConvGeom gc;
  PoolGeom pc;
  pool_crop(g, pg, &gc, &pc);
  const i64 x_img = g.H * g.W * g.C, y_img = gc.Ho * gc.Wo * g.O, p_img = pg.Ho * pg.Wo * pg.C;
  if (g.N == 0 || p_img == 0) return;
  // Image by image needs whole images per thread, and an image's output that fits in L2.
  if ((nt > 1 && g.N < 2 * nt) || y_img * i64(sizeof(float)) > (i64(512) << 10) || in_parallel()) {
    HostBuf y(size_t(g.N * y_img));
    conv2d_forward(y.p, X, Wt, bias, gc, act);
    max_pool2d_forward(P, idx, y.p, pc);
    crop_idx_to_full(idx, g.N * p_img, gc.Wo, g.Wo);
    return;
  }
  ConvGeom g1 = gc;
  g1.N = 1;
  PoolGeom p1 = pc;
  p1.N = 1;
  auto image = [&](i64 n) {
    float* y = tl_scratch[3].get(size_t(y_img));
    conv2d_forward(y, X + n * x_img, Wt, bias, g1, act);
    max_pool2d_forward(P + n * p_img, idx + n * p_img, y, p1);
    crop_idx_to_full(idx + n * p_img, p_img, gc.Wo, g.Wo);
  };
  for_units(g.N, nt > 1, Sched::Static, image);
}

void conv2d_maxpool_backward(float* dX, float* dW, float* db, const float* dP, const int32_t* idx,
                             const float* relu_y, const float* X, const float* Wt, const ConvGeom& g,
                             const PoolGeom& pg) {
  FtzScope ftz_scope;
  const i64 y_img = g.Ho * g.Wo * g.O;
#if FN_X86
  const i64 np = pg.N * pg.Ho * pg.Wo * pg.C;
  if (!dX && g.N > 0 && y_img > 0 && g.K() > 0 && direct_ok(g) && make_direct(g).S == 1) {
    PoolGeom p1 = pg;
    p1.N = 1;
    const PooledGrad pooled{dP, idx, relu_y, p1};
    direct_backward(dW, db, nullptr, X, nullptr, g, Act::None, &pooled);
    return;
  }
  // With dX on the direct full path, the backward also runs on the covered block only: dZ is 0
  // outside it, and that path adds per-pixel terms in pixel order (dropping +0 terms changes no
  // bits). The GEMM paths chunk by rows, so a cropped M would regroup their sums: not cropped.
  ConvGeom gc;
  PoolGeom pc;
  if (dX && np > 0 && pool_crop(g, pg, &gc, &pc) && direct_full_ok(gc)) {
    std::unique_ptr<int32_t[]> idx_c(new int32_t[size_t(np)]);
    if (full_idx_to_crop(idx_c.get(), idx, np, g.Ho, g.Wo, gc.Ho, gc.Wo)) {
      HostBuf dz(size_t(g.N * gc.Ho * gc.Wo * g.O));
      if (!max_pool2d_backward(dz.p, dP, idx_c.get(), pc, relu_y)) throw ValueError(kBadArgmax);
      conv2d_backward(dX, dW, db, dz.p, X, Wt, nullptr, gc, Act::None);
      return;
    }
  }
#endif
  HostBuf dz(size_t(g.N * y_img));
  if (!max_pool2d_backward(dz.p, dP, idx, pg, relu_y)) throw ValueError(kBadArgmax);
  conv2d_backward(dX, dW, db, dz.p, X, Wt, nullptr, g, Act::None);
}

}  // namespace fusednet::cpu
