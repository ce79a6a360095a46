// qgemm.cpp — int8 GEMM / conv driver: weight packing, activation quantization, u8 im2col,
// threading, the shared float epilogue, the portable micro-kernel and the triple-loop reference.
//
//   acc[i,j] = Σ_k A_u8[i,k]·B_s8[k,j];   C[i,j] = act((acc − zp_i·colsum_j)·(sa_i·sw_j) + b_j)
//   A [M, lda] u8 (lda >= Kp), B packed (qgemm.h), C [M, N] row-major.
//
// Work split: C is cut into tasks of TM rows × TN columns (TN a multiple of 16: whole panels);
// each task runs the ISA micro-kernel over MR-row blocks into a task-local int32 tile and then
// the epilogue on that tile while it is in L1. K is never split, integer sums are exact, and the
// epilogue / quantizer ISA versions repeat the portable operations one for one (no FMA
// contraction), so every ISA path and every thread count gives the same bits.
// qdense with N <= 128 quantizes each task's rows inside that task (one fork/join per call).
#include "cpu/qgemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/isa.h"
#include "cpu/parallel.h"
#include "cpu/pool.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {

namespace qgemm_detail {
// Micro-kernels: acc[r, 0:16·np] (row stride ldacc) = A rows [0, rows) · panels [0, np) of Bp
// (consecutive panels, panel stride Kp·16 bytes). rows <= the kernel's MR. `scratch` holds at
// least MR·Kp int16 (the AVX2 kernel widens its A rows there once per block).
using QKernel = void (*)(int32_t* acc, i64 ldacc, const uint8_t* A, i64 lda, int rows,
                         const int8_t* Bp, i64 Kp, int np, void* scratch);
#if FN_X86
void qgemm_block_avx512vnni(int32_t*, i64, const uint8_t*, i64, int, const int8_t*, i64, int, void*);
void qgemm_block_avx2(int32_t*, i64, const uint8_t*, i64, int, const int8_t*, i64, int, void*);
void qminmax_avx512(const float* x, i64 K, float* lo, float* hi);
void qminmax_avx2(const float* x, i64 K, float* lo, float* hi);
void qquant_row_avx512(uint8_t* q, const float* x, i64 K, float s, int32_t zp);
void qquant_row_avx2(uint8_t* q, const float* x, i64 K, float s, int32_t zp);
void qepilogue_avx512(float*, const int32_t*, i64, int32_t, float, const int32_t*, const float*, const float*, bool);
void qepilogue_avx2(float*, const int32_t*, i64, int32_t, float, const int32_t*, const float*, const float*, bool);
#endif
}  // namespace qgemm_detail

using namespace qgemm_detail;

namespace {

// Portable micro-kernel: 4 rows × one panel at a time, int32 sums in the packed order.
void qgemm_block_portable(int32_t* acc, i64 ldacc, const uint8_t* A, i64 lda, int rows,
                          const int8_t* Bp, i64 Kp, int np, void*) {
  const i64 G = Kp / 4;
  for (int p = 0; p < np; ++p) {
    const int8_t* bp = Bp + i64(p) * Kp * 16;
    for (int r = 0; r < rows; ++r) {
      int32_t c[16] = {0};
      const uint8_t* a = A + r * lda;
      for (i64 g = 0; g < G; ++g) {
        const int8_t* bg = bp + g * 64;
        const int32_t a0 = a[4 * g], a1 = a[4 * g + 1], a2 = a[4 * g + 2], a3 = a[4 * g + 3];
        for (int j = 0; j < 16; ++j)
          c[j] += a0 * bg[4 * j] + a1 * bg[4 * j + 1] + a2 * bg[4 * j + 2] + a3 * bg[4 * j + 3];
      }
      std::memcpy(acc + r * ldacc + p * 16, c, sizeof c);
    }
  }
}

struct QPath {
  QKernel k;
  int mr;
};

int detect_qlevel() {
  int lvl = isa_level();
#if FN_X86
  if (lvl >= 2 && !__builtin_cpu_supports("avx512vnni")) lvl = 1;
#else
  lvl = 0;
#endif
  return lvl;
}

QPath qpath(int isa) {
  int lvl = qgemm_isa_level();
  if (isa >= 0 && isa < lvl) lvl = isa;
#if FN_X86
  if (lvl == 2) return {qgemm_block_avx512vnni, 8};
  if (lvl == 1) return {qgemm_block_avx2, 4};
#endif
  return {qgemm_block_portable, 4};
}

// Round half to even without SSE4.1 (baseline x86-64 has no roundps): adding 1.5·2^23 leaves
// the integer part in the mantissa under the default rounding mode. Valid for |t| < 2^22;
// callers clamp first.
inline float round_even(float t) {
  const float magic = 12582912.f;
  return (t + magic) - magic;
}

inline uint8_t quant1(float x, float s, int32_t zp) {
  float t = x / s;  // division, as ONNX QuantizeLinear specifies (x · (1/s) differs on ties)
  if (!(t == t)) t = 0.f;  // NaN -> the zero point
  t = std::min(std::max(t, -512.f), 512.f);
  int32_t q = int32_t(round_even(t)) + zp;
  return uint8_t(std::min(std::max(q, int32_t(0)), int32_t(255)));
}

void qminmax_portable(const float* x, i64 K, float* lo, float* hi) {
  float a = 0.f, b = 0.f;
  for (i64 k = 0; k < K; ++k) {
    const float v = x[k];
    a = v < a ? v : a;
    b = v > b ? v : b;
  }
  *lo = a;
  *hi = b;
}

void qquant_row_portable(uint8_t* q, const float* x, i64 K, float s, int32_t zp) {
  for (i64 k = 0; k < K; ++k) q[k] = quant1(x[k], s, zp);
}

using QEpilogue = void (*)(float*, const int32_t*, i64, int32_t, float, const int32_t*, const float*,
                          const float*, bool);

// Portable row epilogue (also the ISA versions' specification): no FMA on baseline x86-64.
void qepilogue_portable(float* c, const int32_t* t, i64 n, int32_t z, float s, const int32_t* cs,
                        const float* ws, const float* b, bool relu) {
  for (i64 j = 0; j < n; ++j) {
    float v = float(t[j] - z * cs[j]) * (s * ws[j]);
    if (b) v += b[j];
    c[j] = relu ? (v > 0.f ? v : 0.f) : v;
  }
}

struct QRowFns {
  void (*minmax)(const float*, i64, float*, float*);
  void (*quant)(uint8_t*, const float*, i64, float, int32_t);
  QEpilogue epi;
};

QRowFns qrow_fns(int isa) {
  int lvl = isa_level();  // the AVX-512 F/BW row code needs no VNNI
  if (isa >= 0 && isa < lvl) lvl = isa;
#if FN_X86
  if (lvl == 2) return {qminmax_avx512, qquant_row_avx512, qepilogue_avx512};
  if (lvl == 1) return {qminmax_avx2, qquant_row_avx2, qepilogue_avx2};
#endif
  return {qminmax_portable, qquant_row_portable, qepilogue_portable};
}

// Tasks of kTM rows × kTN columns: M = 64, N = 128 (the seed MLP's first layer) still gives two
// tasks for two threads; large shapes give many, taken dynamically.
constexpr i64 kTM = 32;
constexpr i64 kTN = 128;

// Task-local int32 tile; thread_local so steady-state calls do not allocate.
thread_local std::vector<int32_t> tl_tile;
thread_local std::vector<int16_t> tl_a16;
thread_local std::vector<uint8_t> tl_arows;

// A rows [i0, i0 + rows) of the GEMM: a pointer and row stride (the rows may be produced on
// demand into `buf`, kTM·Kp bytes: the conv's block-local im2col).
struct ARows {
  const uint8_t* p;
  i64 ld;
};

template <class AFn, class Epi>
void qgemm_run(AFn&& arows, const QPacked& B, i64 M, int isa, Epi&& epi) {
  if (M <= 0 || B.N <= 0) return;
  const QPath path = qpath(isa);
  const i64 tm = (M + kTM - 1) / kTM, tn = (B.Np + kTN - 1) / kTN;
  const i64 ntask = tm * tn;
  const i64 work = M * B.Np * std::max<i64>(B.Kp, 1);
  const int T = work < (i64(1) << 18) ? 1 : num_threads();
  parallel_for_dynamic_if(T > 1 && ntask > 1, ntask, T, [&](i64 t) {
    const i64 i0 = (t / tn) * kTM, j0 = (t % tn) * kTN;
    const i64 rows = std::min(kTM, M - i0), cols = std::min(kTN, B.Np - j0);
    if (tl_tile.size() < size_t(kTM * kTN)) tl_tile.resize(size_t(kTM * kTN));
    if (tl_a16.size() < size_t(8 * B.Kp)) tl_a16.resize(size_t(8 * B.Kp));
    if (tl_arows.size() < size_t(kTM * B.Kp)) tl_arows.resize(size_t(kTM * B.Kp));
    int32_t* tile = tl_tile.data();
    const ARows a = arows(i0, rows, tl_arows.data());
    const int8_t* bp = B.data.data() + (j0 / 16) * B.Kp * 16;
    for (i64 r = 0; r < rows; r += path.mr) {
      const int rr = int(std::min<i64>(path.mr, rows - r));
      path.k(tile + r * kTN, kTN, a.p + r * a.ld, a.ld, rr, bp, B.Kp, int(cols / 16), tl_a16.data());
    }
    epi(tile, kTN, i0, rows, j0, std::min(cols, B.N - j0));
  });
}

template <class Epi>
void qgemm_run(const uint8_t* A, i64 lda, const QPacked& B, i64 M, int isa, Epi&& epi) {
  qgemm_run([&](i64 i0, i64, uint8_t*) { return ARows{A + i0 * lda, lda}; }, B, M, isa, epi);
}

inline float apply_act(float v, Act act) {
  switch (act) {
    case Act::Relu: return v > 0.f ? v : 0.f;
    case Act::Sigmoid: return 1.f / (1.f + std::exp(-v));
    case Act::Tanh: return std::tanh(v);
    default: return v;
  }
}

}  // namespace

int qgemm_isa_level() {
  static const int lvl = detect_qlevel();
  return lvl;
}

const char* qgemm_isa() {
  static const char* names[] = {"portable", "avx2", "avx512-vnni"};
  return names[qgemm_isa_level()];
}

void qpack_weights(QPacked& P, const int8_t* B, i64 K, i64 N) {
  P.K = K;
  P.N = N;
  P.Kp = (K + 3) / 4 * 4;
  P.Np = (N + 15) / 16 * 16;
  P.data.assign(size_t(P.Np * P.Kp), 0);
  P.colsum.assign(size_t(N), 0);
  P.w.assign(B, B + K * N);
  for (i64 k = 0; k < K; ++k)
    for (i64 j = 0; j < N; ++j) {
      const int8_t v = B[k * N + j];
      P.data[size_t((j / 16) * P.Kp * 16 + (k / 4) * 64 + (j % 16) * 4 + (k % 4))] = v;
      P.colsum[size_t(j)] += v;
    }
}

void quant_params(float lo, float hi, float* sa, int32_t* zp) {
  if (!(lo == lo)) lo = 0.f;
  if (!(hi == hi)) hi = 0.f;
  lo = std::min(lo, 0.f);
  hi = std::max(hi, 0.f);
  const float big = 3.0e38f;  // inf ranges: clamp so the scale stays finite
  lo = std::max(lo, -big);
  hi = std::min(hi, big);
  float s = (hi - lo) / 255.f;
  if (!(s > 0.f) || !std::isfinite(s)) s = s > 0.f ? 3.0e38f / 255.f : 1.f;
  *sa = s;
  float z = -lo / s;
  z = std::min(std::max(z, 0.f), 255.f);
  *zp = int32_t(std::nearbyint(z));
}

namespace {
// Row i of quantize_rows (qr: its u8 row of ldq bytes): the one definition both the standalone
// quantizer and qdense's fused per-block quantization run, so they give the same bytes.
inline void quantize_row(const QRowFns& f, uint8_t* qr, float* sa, int32_t* zp, const float* xr, i64 i,
                         i64 K, i64 ldq, bool per_row) {
  if (per_row) {  // the dynamic mode's one extra pass: row min/max (L1/L2-resident row)
    float lo, hi;
    f.minmax(xr, K, &lo, &hi);
    quant_params(lo, hi, &sa[i], &zp[i]);
  }
  f.quant(qr, xr, K, per_row ? sa[i] : sa[0], per_row ? zp[i] : zp[0]);
  if (ldq > K) std::memset(qr + K, 0, size_t(ldq - K));
}
}  // namespace

void quantize_rows(uint8_t* q, float* sa, int32_t* zp, const float* x, i64 M, i64 K, i64 ldq,
                   bool per_row, int isa) {
  const QRowFns f = qrow_fns(isa);
  const int T = M * K < (i64(1) << 15) ? 1 : num_threads();
  parallel_for_if(T > 1 && M > 1, M, T, [&](i64 i) {
    quantize_row(f, q + i * ldq, sa, zp, x + i * K, i, K, ldq, per_row);
  });
}

void qgemm_s32(int32_t* acc, const uint8_t* A, i64 lda, const QPacked& B, i64 M, int isa) {
  const i64 N = B.N;
  qgemm_run(A, lda, B, M, isa, [&](const int32_t* tile, i64 ldt, i64 i0, i64 rows, i64 j0, i64 cols) {
    for (i64 r = 0; r < rows; ++r)
      std::memcpy(acc + (i0 + r) * N + j0, tile + r * ldt, size_t(cols) * sizeof(int32_t));
  });
}

namespace {
template <class AFn>
void qgemm_f32_impl(float* C, AFn&& arows, const float* sa, const int32_t* zp, bool per_row,
                    const QPacked& B, const float* w_scale, const float* bias, i64 M, Act act, int isa) {
  const i64 N = B.N;
  const int32_t* cs = B.colsum.data();
  const QEpilogue epi = qrow_fns(isa).epi;
  const bool simple = act == Act::None || act == Act::Relu;
  qgemm_run(arows, B, M, isa, [&](const int32_t* tile, i64 ldt, i64 i0, i64 rows, i64 j0, i64 cols) {
    for (i64 r = 0; r < rows; ++r) {
      const i64 i = i0 + r;
      const float s = per_row ? sa[i] : sa[0];
      const int32_t z = per_row ? zp[i] : zp[0];
      float* c = C + i * N + j0;
      epi(c, tile + r * ldt, cols, z, s, cs + j0, w_scale + j0, bias ? bias + j0 : nullptr,
          act == Act::Relu);
      if (!simple)
        for (i64 j = 0; j < cols; ++j) c[j] = apply_act(c[j], act);
    }
  });
}
}  // namespace

void qgemm_f32(float* C, const uint8_t* A, i64 lda, const float* sa, const int32_t* zp,
               bool per_row, const QPacked& B, const float* w_scale, const float* bias, i64 M,
               Act act, int isa) {
  qgemm_f32_impl(C, [&](i64 i0, i64, uint8_t*) { return ARows{A + i0 * lda, lda}; }, sa, zp, per_row, B,
                 w_scale, bias, M, act, isa);
}

void qdense_forward(float* C, const float* X, const QPacked& B, const float* w_scale,
                    const float* bias, i64 M, bool dynamic, float in_scale, int32_t in_zp, Act act,
                    int isa) {
  if (M <= 0) return;
  const i64 Kp = B.Kp;
  std::vector<float> sa(dynamic ? size_t(M) : 1, in_scale);
  std::vector<int32_t> zp(dynamic ? size_t(M) : 1, in_zp);
  if (B.Np <= kTN) {
    // One column task per row block (N <= 128: every Dense of the seed models): each task
    // quantizes its own kTM rows into its reused scratch right before its GEMM reads them, and
    // writes their dynamic (sa, zp) before its epilogue reads them. One fork/join per call
    // instead of two, no [M, Kp] u8 buffer; the same quantize_row, so the same bits.
    const QRowFns f = qrow_fns(isa);
    qgemm_f32_impl(C, [&](i64 i0, i64 nr, uint8_t* buf) {
      for (i64 r = 0; r < nr; ++r)
        quantize_row(f, buf + r * Kp, sa.data(), zp.data(), X + (i0 + r) * B.K, i0 + r, B.K, Kp, dynamic);
      return ARows{buf, Kp};
    }, sa.data(), zp.data(), dynamic, B, w_scale, bias, M, act, isa);
    return;
  }
  HostBuf qbuf(size_t((M * Kp + 3) / 4));
  uint8_t* q = reinterpret_cast<uint8_t*>(qbuf.p);
  quantize_rows(q, sa.data(), zp.data(), X, M, B.K, Kp, dynamic, isa);
  qgemm_f32(C, q, Kp, sa.data(), zp.data(), dynamic, B, w_scale, bias, M, act, isa);
}

namespace {
// One quantized convolution call's state: the u8 input (quantized once), its per-image or static
// (sa, zp) pair(s) and the per-output-row copies the epilogue reads. rows() computes any range of
// output rows, so the unpooled conv writes all of them at once and the pooled one works through
// L2-sized groups of whole images.
struct QConvRun {
  const ConvGeom& g;
  const QPacked& B;
  const float* w_scale;
  const float* bias;
  bool dynamic;
  Act act;
  int isa;
  i64 HWC, P, M, Kp;
  HostBuf xbuf;
  uint8_t* xq;
  std::vector<float> sa_img, sa_row;
  std::vector<int32_t> zp_img, zp_row;

  QConvRun(const float* X, const QPacked& B_, const float* ws, const float* b, const ConvGeom& g_, bool dyn,
           float in_scale, int32_t in_zp, Act a, int isa_)
      : g(g_), B(B_), w_scale(ws), bias(b), dynamic(dyn), act(a), isa(isa_), HWC(g_.H * g_.W * g_.C),
        P(g_.Ho * g_.Wo), M(g_.M()), Kp(B_.Kp), xbuf(size_t((g_.N * g_.H * g_.W * g_.C + 3) / 4)),
        xq(reinterpret_cast<uint8_t*>(xbuf.p)), sa_img(dyn ? size_t(g_.N) : 1, in_scale),
        zp_img(dyn ? size_t(g_.N) : 1, in_zp) {
    // 1. Quantize the input once: [N, H·W·C] u8, one (sa, zp) per image when dynamic.
    quantize_rows(xq, sa_img.data(), zp_img.data(), X, g.N, HWC, HWC, dynamic, isa);
    if (dynamic) {  // per output row: its image's pair
      sa_row.resize(size_t(M));
      zp_row.resize(size_t(M));
      for (i64 m = 0; m < M; ++m) {
        sa_row[size_t(m)] = sa_img[size_t(m / P)];
        zp_row[size_t(m)] = zp_img[size_t(m / P)];
      }
    }
  }

  // 2. u8 im2col (zero point = real 0.0 as padding) of output rows [m0, m0 + nrows) into col [nrows, Kp].
  void im2col(uint8_t* col, i64 m0, i64 nrows) const {
    for (i64 r = 0; r < nrows; ++r) {
      const i64 m = m0 + r, n = m / P, p = m % P, oh = p / g.Wo, ow = p % g.Wo;
      const uint8_t pad = uint8_t(dynamic ? zp_img[size_t(n)] : zp_img[0]);
      uint8_t* dst = col + r * Kp;
      const i64 iw0 = ow * g.sw - g.pl;
      // undilated kernel row fully inside the image: its kw·C bytes are contiguous in NHWC
      const bool row_inside = g.dw == 1 && iw0 >= 0 && iw0 + g.kw <= g.W;
      for (i64 i = 0; i < g.kh; ++i) {
        const i64 ih = oh * g.sh - g.pt + i * g.dh;
        if (ih < 0 || ih >= g.H) {
          std::memset(dst, pad, size_t(g.kw * g.C));
          dst += g.kw * g.C;
          continue;
        }
        const uint8_t* src = xq + n * HWC + ih * g.W * g.C;
        if (row_inside) {
          std::memcpy(dst, src + iw0 * g.C, size_t(g.kw * g.C));
          dst += g.kw * g.C;
          continue;
        }
        for (i64 j = 0; j < g.kw; ++j, dst += g.C) {
          const i64 iw = iw0 + j * g.dw;
          if (iw < 0 || iw >= g.W)
            std::memset(dst, pad, size_t(g.C));
          else
            std::memcpy(dst, src + iw * g.C, size_t(g.C));
        }
      }
      if (Kp > g.K()) std::memset(dst, 0, size_t(Kp - g.K()));
    }
  }

  // 3. Conv output rows [m0, m0 + mc) into C (row m0 at C[0]).
  void rows(float* C, i64 m0, i64 mc) const {
    const float* sa = dynamic ? sa_row.data() + m0 : sa_img.data();
    const int32_t* zp = dynamic ? zp_row.data() + m0 : zp_img.data();
    if (B.Np <= kTN) {
      // One column task per row block: each block's im2col rows are built right where the GEMM
      // reads them (L1/L2), never written out as a whole [M, Kp] matrix.
      qgemm_f32_impl(C, [&](i64 i0, i64 nr, uint8_t* buf) {
        im2col(buf, m0 + i0, nr);
        return ARows{buf, Kp};
      }, sa, zp, dynamic, B, w_scale, bias, mc, act, isa);
      return;
    }
    // Wide outputs (several column tasks per row block): materialize chunks of ~4 MB once.
    const i64 chunk = std::max<i64>(kTM, (i64(4) << 20) / std::max<i64>(Kp, 1) / kTM * kTM);
    HostBuf cbuf(size_t((std::min(chunk, mc) * Kp + 3) / 4));
    uint8_t* col = reinterpret_cast<uint8_t*>(cbuf.p);
    const int T = num_threads();
    for (i64 c0 = 0; c0 < mc; c0 += chunk) {
      const i64 cc = std::min(chunk, mc - c0);
      const i64 nb = (cc + kTM - 1) / kTM;
      parallel_for_if(T > 1 && cc * Kp > (i64(1) << 16), nb, T, [&](i64 b) {
        im2col(col + b * kTM * Kp, m0 + c0 + b * kTM, std::min(kTM, cc - b * kTM));
      });
      qgemm_f32(C + c0 * g.O, col, Kp, dynamic ? sa + c0 : sa, dynamic ? zp + c0 : zp, dynamic, B, w_scale,
                bias, cc, act, isa);
    }
  }
};
}  // namespace

void qconv2d_forward(float* Y, const float* X, const QPacked& B, const float* w_scale,
                     const float* bias, const ConvGeom& g, bool dynamic, float in_scale,
                     int32_t in_zp, Act act, int isa) {
  if (g.M() <= 0) return;
  const QConvRun run(X, B, w_scale, bias, g, dynamic, in_scale, in_zp, act, isa);
  run.rows(Y, 0, run.M);
}

void qconv2d_maxpool_forward(float* Yp, const float* X, const QPacked& B, const float* w_scale,
                             const float* bias, const ConvGeom& g, const PoolGeom& pg, bool dynamic,
                             float in_scale, int32_t in_zp, Act act, int isa) {
  if (g.M() <= 0 || pg.Ho * pg.Wo <= 0) return;
  const QConvRun run(X, B, w_scale, bias, g, dynamic, in_scale, in_zp, act, isa);
  // Groups of whole images (pool windows never cross images) whose float conv output fits in
  // ~128 KB: each group's im2col, GEMM, epilogue and pool run on one thread into that thread's
  // reused buffer and are pooled while still in L2. The threads split the groups (one fork/join
  // per call; a late thread's groups are taken by the others), so the GEMM and the pool inside a
  // group run inline; a single group (one image) lets them use the threads themselves.
  const i64 img = run.P * g.O, pimg = pg.Ho * pg.Wo * g.O;
  const i64 nb = std::min(g.N, std::max<i64>(1, (i64(128) << 10) / std::max<i64>(img * i64(sizeof(float)), 1)));
  const i64 ngroups = (g.N + nb - 1) / nb;
  thread_local std::vector<float> conv_buf;
  thread_local std::vector<int32_t> idx_buf;  // max_pool2d_forward's argmax (unused at inference)
  parallel_for_dynamic_if(ngroups > 1 && num_threads() > 1, ngroups, num_threads(), [&](i64 grp) {
    const i64 n0 = grp * nb, nc = std::min(nb, g.N - n0);
    if (conv_buf.size() < size_t(nb * img)) conv_buf.resize(size_t(nb * img));
    if (idx_buf.size() < size_t(nb * pimg)) idx_buf.resize(size_t(nb * pimg));
    run.rows(conv_buf.data(), n0 * run.P, nc * run.P);
    PoolGeom pc = pg;
    pc.N = nc;
    max_pool2d_forward(Yp + n0 * pimg, idx_buf.data(), conv_buf.data(), pc);
  });
}

void qgemm_s32_ref(int32_t* acc, const uint8_t* A, i64 lda, const int8_t* B, i64 M, i64 N, i64 K) {
  for (i64 i = 0; i < M; ++i)
    for (i64 j = 0; j < N; ++j) {
      int64_t s = 0;
      for (i64 k = 0; k < K; ++k) s += int64_t(A[i * lda + k]) * int64_t(B[k * N + j]);
      acc[i * N + j] = int32_t(s);
    }
}

}  // namespace fusednet::cpu
