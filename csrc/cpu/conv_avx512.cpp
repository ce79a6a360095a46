// conv_avx512.cpp — AVX-512 direct convolution kernels for small K = kh·kw·C (see conv_direct.h).
//
// Forward tile: R ≤ 8 output pixels × 32 output channels (NV = 2 zmm per pixel) in registers:
//   acc[r][v] = Σ_k bcast(x_r[offs[k]]) · W[k, 16v : 16v+16]      (k = 0..K-1, FMA chain from 0)
//   Y = relu?(acc + bias)
// Per k: NV weight loads (L1), R broadcasts, R·NV FMAs — the GEMM micro-kernel's ratio without
// any im2col or packing. Channel tails use masked loads / stores (no scratch tile).
// dW tile: KB ≤ 12 rows of dW × 32 channels in registers while all pixels of the band stream by:
//   dz = dY·act'(Y) (computed once per pixel, in registers),  acc[kk][v] += bcast(x[offs[kb+kk]])·dz[v]
// Compiled for AVX-512 inside an FN_ISA_BEGIN region (cpu/isa.h, per function, not per file) and
// called only when isa_level() == 2.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "cpu/conv_direct.h"
#include "cpu/isa.h"

#if FN_X86
FN_ISA_BEGIN(FN_TARGET_AVX512)
namespace fusednet::cpu::conv_detail {
namespace avx512 {
namespace {

inline __mmask16 tail_mask(i64 n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u); }

template <int NV, int R>
inline void fwd_tile(float* __restrict Y, i64 O, const float* const* pp, const i64* __restrict offs,
                     i64 K, const float* __restrict Wb, const float* bb, __mmask16 m, bool relu) {
  __m512 acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  const float* p[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) p[r] = pp[r];
  for (i64 k = 0; k < K; ++k) {
    const i64 o = offs[k];
    __m512 w[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      w[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(m, Wb + k * O + 16 * v) : _mm512_loadu_ps(Wb + k * O + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(p[r][o]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(a, w[v], acc[r][v]);
    }
  }
  __m512 b[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v)
    b[v] = bb ? _mm512_maskz_loadu_ps(v == NV - 1 ? m : __mmask16(0xFFFF), bb + 16 * v) : _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m512 x = acc[r][v];
      if (bb) x = _mm512_add_ps(x, b[v]);
      if (relu) x = _mm512_max_ps(_mm512_setzero_ps(), x);  // zero first: NaN passes (as the GEMM)
      if (v == NV - 1) _mm512_mask_storeu_ps(Y + r * O + 16 * v, m, x);
      else _mm512_storeu_ps(Y + r * O + 16 * v, x);
    }
}

template <int NV, int R>
inline void fwd_rows(int rows, float* Y, i64 O, const float* const* pp, const i64* offs, i64 K,
                     const float* Wb, const float* bb, __mmask16 m, bool relu) {
  if constexpr (R >= 1) {
    if (rows == R) return fwd_tile<NV, R>(Y, O, pp, offs, K, Wb, bb, m, relu);
    return fwd_rows<NV, R - 1>(rows, Y, O, pp, offs, K, Wb, bb, m, relu);
  }
}

// Pixels per tile for NV vectors of channels: R·NV ≤ 24 accumulators (of 32 zmm registers).
template <int NV> constexpr int kTileR = NV <= 2 ? 8 : (NV == 3 ? 8 : 6);

template <int NV>
void fwd_block(float* Yn, const float* src, i64 rs, const i64* offs, const float* Wb, const float* bb,
               const ConvGeom& g, bool relu, i64 nrows, i64 ob, __mmask16 m) {
  constexpr int R = kTileR<NV>;
  const i64 O = g.O, K = g.K(), Wo = g.Wo, C = g.C, P = nrows * Wo;
  i64 oh = 0, ow = 0;
  for (i64 q = 0; q < P; q += R) {
    const int rows = int(std::min<i64>(R, P - q));
    const float* pp[R];
    for (int r = 0; r < rows; ++r) {
      pp[r] = src + oh * g.sh * rs + ow * g.sw * C;
      if (++ow == Wo) ow = 0, ++oh;
    }
    fwd_rows<NV, R>(rows, Yn + q * O + ob, O, pp, offs, K, Wb, bb, m, relu);
  }
}

inline __m512 dz_vec(const float* dY, const float* Y, __mmask16 m, Act act) {
  const __m512 d = _mm512_maskz_loadu_ps(m, dY);
  switch (act) {
    case Act::Relu: {
      const __m512 y = _mm512_maskz_loadu_ps(m, Y);
      return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_GT_OQ), d);
    }
    case Act::Sigmoid: {
      const __m512 y = _mm512_maskz_loadu_ps(m, Y);
      return _mm512_mul_ps(_mm512_mul_ps(d, y), _mm512_sub_ps(_mm512_set1_ps(1.f), y));
    }
    case Act::Tanh: {
      const __m512 y = _mm512_maskz_loadu_ps(m, Y);
      return _mm512_mul_ps(d, _mm512_sub_ps(_mm512_set1_ps(1.f), _mm512_mul_ps(y, y)));
    }
    default: return d;
  }
}

// dW rows [kb, kb+KB) × channels [ob, ob+16·NV) over every pixel of the band; db when dbn.
template <int NV, int KB>
void dw_tile(float* dWn, float* dbn, const float* src, i64 rs, const i64* offs, const float* dY,
             const float* Y, const ConvGeom& g, i64 nrows, Act act, i64 ob, __mmask16 m) {
  const i64 O = g.O, Wo = g.Wo, C = g.C;
  __m512 acc[KB][NV], dbv[NV];
#pragma GCC unroll 12
  for (int kk = 0; kk < KB; ++kk)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[kk][v] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int v = 0; v < NV; ++v) dbv[v] = _mm512_setzero_ps();
  i64 off[KB];
#pragma GCC unroll 12
  for (int kk = 0; kk < KB; ++kk) off[kk] = offs[kk];
  i64 q = 0;
  for (i64 oh = 0; oh < nrows; ++oh) {
    const float* prow = src + oh * g.sh * rs;
    for (i64 ow = 0; ow < Wo; ++ow, ++q) {
      const float* p = prow + ow * g.sw * C;
      const float* dyq = dY + q * O + ob;
      const float* yq = Y ? Y + q * O + ob : nullptr;
      __m512 dz[NV];
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v)
        dz[v] = dz_vec(dyq + 16 * v, yq ? yq + 16 * v : nullptr, v == NV - 1 ? m : __mmask16(0xFFFF), act);
      if (dbn)
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) dbv[v] = _mm512_add_ps(dbv[v], dz[v]);
#pragma GCC unroll 12
      for (int kk = 0; kk < KB; ++kk) {
        const __m512 a = _mm512_set1_ps(p[off[kk]]);
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) acc[kk][v] = _mm512_fmadd_ps(a, dz[v], acc[kk][v]);
      }
    }
  }
#pragma GCC unroll 12
  for (int kk = 0; kk < KB; ++kk)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v)
      _mm512_mask_storeu_ps(dWn + kk * O + ob + 16 * v, v == NV - 1 ? m : __mmask16(0xFFFF), acc[kk][v]);
  if (dbn)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v)
      _mm512_mask_storeu_ps(dbn + ob + 16 * v, v == NV - 1 ? m : __mmask16(0xFFFF), dbv[v]);
}

constexpr int kKB = 12;

template <int NV, int KB = kKB>
void dw_rows(int kb_n, float* dWn, float* dbn, const float* src, i64 rs, const i64* offs,
             const float* dY, const float* Y, const ConvGeom& g, i64 nrows, Act act, i64 ob,
             __mmask16 m) {
  if constexpr (KB >= 1) {
    if (kb_n == KB) return dw_tile<NV, KB>(dWn, dbn, src, rs, offs, dY, Y, g, nrows, act, ob, m);
    return dw_rows<NV, KB - 1>(kb_n, dWn, dbn, src, rs, offs, dY, Y, g, nrows, act, ob, m);
  }
}

}  // namespace
}  // namespace avx512
using namespace avx512;

void direct_fwd_image_avx512(float* Yn, const float* src, i64 rs, const i64* offs, const float* Wt,
                             const float* bias, const ConvGeom& g, Act act, i64 nrows) {
  const i64 O = g.O;
  const bool relu = act == Act::Relu;
  for (i64 ob = 0; ob < O; ob += 64) {  // 64-channel blocks: NV = 4 vectors (fewer on the tail)
    const i64 rem = std::min<i64>(O - ob, 64);
    const int NV = int((rem + 15) / 16);
    const __mmask16 m = tail_mask(rem - 16 * (NV - 1));
    const float* Wb = Wt + ob;
    const float* bb = bias ? bias + ob : nullptr;
    switch (NV) {
      case 4: fwd_block<4>(Yn, src, rs, offs, Wb, bb, g, relu, nrows, ob, m); break;
      case 3: fwd_block<3>(Yn, src, rs, offs, Wb, bb, g, relu, nrows, ob, m); break;
      case 2: fwd_block<2>(Yn, src, rs, offs, Wb, bb, g, relu, nrows, ob, m); break;
      default: fwd_block<1>(Yn, src, rs, offs, Wb, bb, g, relu, nrows, ob, m); break;
    }
  }
}

void direct_dw_image_avx512(float* dWn, float* dbn, const float* src, i64 rs, const i64* offs,
                            const float* dYn, const float* Yn, const ConvGeom& g, Act act, i64 nrows) {
  const i64 O = g.O, K = g.K();
  for (i64 ob = 0; ob < O; ob += 32) {
    const i64 rem = O - ob;
    const int NV = rem > 16 ? 2 : 1;
    const __mmask16 m = tail_mask(rem > 16 ? rem - 16 : rem);
    for (i64 kb = 0; kb < K; kb += kKB) {
      const int kn = int(std::min<i64>(kKB, K - kb));
      float* db = kb == 0 ? dbn : nullptr;
      if (NV == 2) dw_rows<2>(kn, dWn + kb * O, db, src, rs, offs + kb, dYn, Yn, g, nrows, act, ob, m);
      else dw_rows<1>(kn, dWn + kb * O, db, src, rs, offs + kb, dYn, Yn, g, nrows, act, ob, m);
    }
  }
}


// ------------------------------------------------------------------ dW over the whole batch
// One tile = dW rows [kb, kb+KB) × channels [ob, ob+16·NV): accumulated in registers over one
// image's pixels (row-major), then added to the tile's running sum in image order. Every tile is
// computed by one thread in this fixed order, so dW does not depend on the thread count.
// A call covers images [n0, n1) only and keeps the running sum in the caller's `sum` buffer, so the
// caller can sweep all tiles over an L2-sized chunk of images before moving on: over the whole
// batch at once every tile re-streamed all of dZ and X from L3 (48 tiles × 7 MB at batch 128).
// The per-tile add order is still image order: results are bitwise those of one full sweep.
namespace avx512 {
namespace {
template <int NV, int KB>
void dwt_tile(float* dW, float* db, const float* src, i64 img_stride, i64 rs, const i64* offs,
              const float* dZ, const ConvGeom& g, i64 ob, __mmask16 m, i64 n0, i64 n1, float* sumbuf) {
  const i64 O = g.O, Wo = g.Wo, Ho = g.Ho, C = g.C;
  float (*sum)[NV * 16] = reinterpret_cast<float (*)[NV * 16]>(sumbuf);  // [KB + 1][NV·16], 64-aligned
  if (n0 == 0)
    for (int kk = 0; kk <= KB; ++kk)
      for (int e = 0; e < NV * 16; ++e) sum[kk][e] = 0.f;
  i64 off[KB];
#pragma GCC unroll 12
  for (int kk = 0; kk < KB; ++kk) off[kk] = offs[kk];
  for (i64 n = n0; n < n1; ++n) {
    __m512 acc[KB][NV], dbv[NV];
#pragma GCC unroll 12
    for (int kk = 0; kk < KB; ++kk)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[kk][v] = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) dbv[v] = _mm512_setzero_ps();
    const float* xn = src + n * img_stride;
    const float* dzq = dZ + n * Ho * Wo * O + ob;
    for (i64 oh = 0; oh < Ho; ++oh) {
      const float* prow = xn + oh * g.sh * rs;
      for (i64 ow = 0; ow < Wo; ++ow, dzq += O) {
        const float* p = prow + ow * g.sw * C;
        __m512 dz[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v)
          dz[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(m, dzq + 16 * v) : _mm512_loadu_ps(dzq + 16 * v);
        if (db)
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) dbv[v] = _mm512_add_ps(dbv[v], dz[v]);
#pragma GCC unroll 12
        for (int kk = 0; kk < KB; ++kk) {
          const __m512 a = _mm512_set1_ps(p[off[kk]]);
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) acc[kk][v] = _mm512_fmadd_ps(a, dz[v], acc[kk][v]);
        }
      }
    }
#pragma GCC unroll 12
    for (int kk = 0; kk < KB; ++kk)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        _mm512_store_ps(sum[kk] + 16 * v, _mm512_add_ps(_mm512_load_ps(sum[kk] + 16 * v), acc[kk][v]));
    if (db)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        _mm512_store_ps(sum[KB] + 16 * v, _mm512_add_ps(_mm512_load_ps(sum[KB] + 16 * v), dbv[v]));
  }
  if (n1 < g.N) return;
  for (int kk = 0; kk < KB; ++kk)
    for (int v = 0; v < NV; ++v)
      _mm512_mask_storeu_ps(dW + kk * O + ob + 16 * v, v == NV - 1 ? m : __mmask16(0xFFFF),
                            _mm512_load_ps(sum[kk] + 16 * v));
  if (db)
    for (int v = 0; v < NV; ++v)
      _mm512_mask_storeu_ps(db + ob + 16 * v, v == NV - 1 ? m : __mmask16(0xFFFF), _mm512_load_ps(sum[KB] + 16 * v));
}

template <int NV, int KB>
void dwt_rows(int kn, float* dW, float* db, const float* src, i64 img_stride, i64 rs, const i64* offs,
              const float* dZ, const ConvGeom& g, i64 ob, __mmask16 m, i64 n0, i64 n1, float* sum) {
  if constexpr (KB >= 1) {
    if (kn == KB) return dwt_tile<NV, KB>(dW, db, src, img_stride, rs, offs, dZ, g, ob, m, n0, n1, sum);
    return dwt_rows<NV, KB - 1>(kn, dW, db, src, img_stride, rs, offs, dZ, g, ob, m, n0, n1, sum);
  }
}
}  // namespace
}  // namespace avx512
using namespace avx512;

void direct_dw_tile_avx512(float* dW, float* db, const float* src, i64 img_stride, i64 rs, const i64* offs,
                           const float* dZ, const ConvGeom& g, i64 kb, i64 ob, i64 n0, i64 n1,
                           float* sum) {
  const i64 rem = std::min<i64>(g.O - ob, 64);
  const int NV = int((rem + 15) / 16);
  const __mmask16 m = tail_mask(rem - 16 * (NV - 1));
  const int kn = int(std::min<i64>(dw_kstep(NV), g.K() - kb));
  float* dWk = dW + kb * g.O;
  const i64* o = offs + kb;
  switch (NV) {
    case 4: dwt_rows<4, dw_kstep(4)>(kn, dWk, db, src, img_stride, rs, o, dZ, g, ob, m, n0, n1, sum); break;
    case 3: dwt_rows<3, dw_kstep(3)>(kn, dWk, db, src, img_stride, rs, o, dZ, g, ob, m, n0, n1, sum); break;
    case 2: dwt_rows<2, dw_kstep(2)>(kn, dWk, db, src, img_stride, rs, o, dZ, g, ob, m, n0, n1, sum); break;
    default: dwt_rows<1, dw_kstep(1)>(kn, dWk, db, src, img_stride, rs, o, dZ, g, ob, m, n0, n1, sum); break;
  }
}


// ------------------------------------------------------------------ dX = col2im(dZ·Wᵀ), fused
// Tile: R output pixels × NV·16 columns of dcol = dZ·Wᵀ (columns (i, j, c), C % 16 == 0 so each
// vector lies in one tap), accumulated over o in registers, then added straight into dX at the
// tap's input pixel (skipped where it falls in the padding). One image per call, column blocks
// then pixels in a fixed order: the adds into dX never depend on the threads (or on R: for one
// column vector the R pixels of a tile hit distinct dX pixels, so every dX element receives its
// (pixel, tap) terms in column-block-then-pixel order whatever the tile height).
// O is short (64 for the seed CNN's conv2), so per-tile bookkeeping is not amortised by a long
// FMA chain: the tap (i, j, c) of each column vector and the (h0, w0) of each pixel are
// precomputed once per block / image — the integer divisions they used to cost per tile were
// ~20% of dX time. Narrow column blocks (NV ≤ 2, e.g. K = 288 = 4·64 + 32) use R = 12 pixels so
// the tile still holds 24 accumulators.
namespace avx512 {
namespace {
struct DxTap { i64 di, dj, off; };   // row / column offset in the input, offset in dXn

template <int NV, int R>
void dx_tile(float* dXn, const float* dZq, const float* WTk, i64 ldw, i64 O, const ConvGeom& g,
             const i64* h0, const i64* w0, const DxTap* tap) {
  __m512 acc[R][NV];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (i64 o = 0; o < O; ++o) {
    __m512 w[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) w[v] = _mm512_loadu_ps(WTk + o * ldw + 16 * v);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(dZq[r * O + o]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(a, w[v], acc[r][v]);
    }
  }
  const i64 C = g.C;
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const i64 h = h0[r] + tap[v].di, w = w0[r] + tap[v].dj;
      if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
      float* d = dXn + (h * g.W + w) * C + tap[v].off;
      _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), acc[r][v]));
    }
  }
}

template <int NV, int R>
void dx_rows(int rows, float* dXn, const float* dZq, const float* WTk, i64 ldw, i64 O,
             const ConvGeom& g, const i64* h0, const i64* w0, const DxTap* tap) {
  if constexpr (R >= 1) {
    if (rows == R) return dx_tile<NV, R>(dXn, dZq, WTk, ldw, O, g, h0, w0, tap);
    return dx_rows<NV, R - 1>(rows, dXn, dZq, WTk, ldw, O, g, h0, w0, tap);
  }
}

template <int NV, int R>
void dx_block(float* dXn, const float* dZn, const float* WTk, i64 ldw, const ConvGeom& g,
              const i64* h0, const i64* w0, const DxTap* tap) {
  const i64 O = g.O, P = g.Ho * g.Wo;
  for (i64 q = 0; q < P; q += R) {
    const int rows = int(std::min<i64>(R, P - q));
    dx_rows<NV, R>(rows, dXn, dZn + q * O, WTk, ldw, O, g, h0 + q, w0 + q, tap);
  }
}
}  // namespace
}  // namespace avx512
using namespace avx512;

void direct_dx_image_avx512(float* dXn, const float* dZn, const float* WT, const ConvGeom& g) {
  const i64 K = g.K(), P = g.Ho * g.Wo, C = g.C;
  std::vector<i64> hw(size_t(2 * P));
  i64* h0 = hw.data();
  i64* w0 = h0 + P;
  for (i64 oh = 0, q = 0; oh < g.Ho; ++oh)
    for (i64 ow = 0; ow < g.Wo; ++ow, ++q) {
      h0[q] = oh * g.sh - g.pt;
      w0[q] = ow * g.sw - g.pl;
    }
  for (i64 col0 = 0; col0 < K; col0 += 64) {
    const int NV = int(std::min<i64>(64, K - col0) / 16);
    DxTap tap[4];
    for (int v = 0; v < NV; ++v) {
      const i64 col = col0 + 16 * v, t = col / C, i = t / g.kw, j = t % g.kw;
      tap[v] = {i * g.dh, j * g.dw, col % C};
    }
    switch (NV) {
      case 4: dx_block<4, 6>(dXn, dZn, WT + col0, K, g, h0, w0, tap); break;
      case 3: dx_block<3, 8>(dXn, dZn, WT + col0, K, g, h0, w0, tap); break;
      case 2: dx_block<2, 12>(dXn, dZn, WT + col0, K, g, h0, w0, tap); break;
      default: dx_block<1, 12>(dXn, dZn, WT + col0, K, g, h0, w0, tap); break;
    }
  }
}

}  // namespace fusednet::cpu::conv_detail
FN_ISA_END
#endif  // FN_X86
