// conv_avx2.cpp — AVX2 + FMA direct convolution kernels (see conv_direct.h), the 8-wide twin of
// conv_avx512.cpp for machines without AVX-512 (Zen 2/3, Haswell..Alder Lake).
//
// Forward tile: R output pixels × 8·NV output channels in ymm registers:
//   acc[r][v] = Σ_k bcast(x_r[offs[k]]) · W[k, 8v : 8v+8]      (k = 0..K-1, FMA chain from 0)
//   Y = relu?(acc + bias)
// dW tile: KB rows of dW × 8·NV channels in registers while the pixels stream by:
//   dz = dY·act'(Y) (in registers),  acc[kk][v] += bcast(x[offs[kb+kk]])·dz[v]
// dX tile: R pixels × 8·NV columns of dZ·Wᵀ, accumulated over o, added into dX at the tap's pixel.
//
// Why shaped so: 16 ymm registers (not 32 zmm) hold R·NV accumulators + NV weight / dz vectors +
// one broadcast, so the tiles are the AVX2 GEMM micro-kernel's 6 × 16 (12 accumulators): channel
// blocks of 16 (NV = 2) with R = 6 pixels or KB = 5 dW rows (+ 2 db vectors), and NV = 1 tails
// with R = 12 / KB = 12. Every output element is summed in exactly the order the AVX-512 kernels
// use (k from 0 with FMAs, then bias, then relu; dW over pixels in row-major order, per image,
// then image order), so forward, dW and db are bitwise those of the AVX-512 path; only dX adds
// its (pixel, tap) terms into a dX element in a different (still fixed) order: 16-column blocks
// instead of 64. Channel tails use maskload / maskstore (no scratch tile).
// Compiled for AVX2 + FMA inside an FN_ISA_BEGIN region (cpu/isa.h, per function, not per file)
// and called only when isa_level() == 1.
#include <immintrin.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "cpu/conv_direct.h"
#include "cpu/isa.h"

#if FN_X86
FN_ISA_BEGIN(FN_TARGET_AVX2)
namespace fusednet::cpu::conv_detail {
namespace avx2 {
namespace {

// The channel tail of a block: the last vector's lane mask, and whether it is partial. Only a
// partial vector goes through maskload / maskstore: vmaskmovps stores are slow on AMD (measured:
// unconditional masking of the last vector cost 2x on the seed CNN's conv1 forward, K = 9).
struct Tail {
  __m256i m;
  bool part;
};
inline Tail tail_mask(i64 n) {
  return {_mm256_cmpgt_epi32(_mm256_set1_epi32(int(n >= 8 ? 8 : n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)),
          n < 8};
}
// Vector v of NV: a full load / store, except a partial last one, which is masked.
inline __m256 ld(const float* p, bool last, const Tail& m) {
  return last && m.part ? _mm256_maskload_ps(p, m.m) : _mm256_loadu_ps(p);
}
inline void st(float* p, __m256 x, bool last, const Tail& m) {
  if (last && m.part) _mm256_maskstore_ps(p, m.m, x);
  else _mm256_storeu_ps(p, x);
}

template <int NV, int R>
inline void fwd_tile(float* __restrict Y, i64 O, const float* const* pp, const i64* __restrict offs,
                     i64 K, const float* __restrict Wb, const float* bb, const Tail& m, bool relu) {
  __m256 acc[R][NV];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  const float* p[R];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) p[r] = pp[r];
  for (i64 k = 0; k < K; ++k) {
    const i64 o = offs[k];
    __m256 w[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) w[v] = ld(Wb + k * O + 8 * v, v == NV - 1, m);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_broadcast_ss(p[r] + o);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(a, w[v], acc[r][v]);
    }
  }
  __m256 b[NV];
#pragma GCC unroll 2
  for (int v = 0; v < NV; ++v) b[v] = bb ? ld(bb + 8 * v, v == NV - 1, m) : _mm256_setzero_ps();
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      __m256 x = acc[r][v];
      if (bb) x = _mm256_add_ps(x, b[v]);
      // max(x, 0) with x second: maxps returns its second operand when either is NaN, so a NaN
      // passes, as in the AVX-512 kernel and the GEMM.
      if (relu) x = _mm256_max_ps(_mm256_setzero_ps(), x);
      st(Y + r * O + 8 * v, x, v == NV - 1, m);
    }
}

template <int NV, int R>
inline void fwd_rows(int rows, float* Y, i64 O, const float* const* pp, const i64* offs, i64 K,
                     const float* Wb, const float* bb, const Tail& m, bool relu) {
  if constexpr (R >= 1) {
    if (rows == R) return fwd_tile<NV, R>(Y, O, pp, offs, K, Wb, bb, m, relu);
    return fwd_rows<NV, R - 1>(rows, Y, O, pp, offs, K, Wb, bb, m, relu);
  }
}

// Pixels per tile: R·NV = 12 accumulators + NV weights + 1 broadcast ≤ 16 ymm.
constexpr int kTileR = 6;

// R-pixel tiles × 16-channel blocks over a band, in one of two orders:
// * W small (K·O·4 ≤ 16 KiB, a first layer): pixel tiles outer, blocks inner, so a tile's output
//   rows (O floats each) are written whole while in L1 and its inputs are broadcast from L1 for
//   every block. Blocks outer wrote each output line in 16-channel pieces, one pass per block:
//   1.2x slower on conv1 (K = 9, O = 32).
// * W large: blocks outer (the AVX-512 kernel's order), so the block's W[:, 16] (K·64 bytes)
//   stays in L1 while every pixel tile streams by; pixel-outer re-read all of W from L2 per tile
//   (conv2, K = 288, O = 64: 1.2x slower).
void fwd_band(float* Yn, const float* src, i64 rs, const i64* offs, const float* Wt, const float* bias,
              const ConvGeom& g, bool relu, i64 nrows) {
  constexpr int R = kTileR;
  const i64 O = g.O, K = g.K(), Wo = g.Wo, C = g.C, P = nrows * Wo;
  const i64 Of = O - O % 16;  // full 16-channel blocks; then a tail of 1..15 channels
  const i64 rem = O - Of;
  const Tail full = tail_mask(8), tail = tail_mask(rem > 8 ? rem - 8 : rem);
  const i64 nb = Of / 16 + (rem > 0);
  const bool pixel_outer = K * O * 4 <= 16384;
  // one tile: pixels [q, q + rows) (origins pp) × block b
  auto tile = [&](int rows, const float* const* pp, i64 q, i64 b) {
    const i64 ob = 16 * b;
    float* Yq = Yn + q * O + ob;
    const float* bb = bias ? bias + ob : nullptr;
    if (ob < Of) fwd_rows<2, R>(rows, Yq, O, pp, offs, K, Wt + ob, bb, full, relu);
    else if (rem > 8) fwd_rows<2, R>(rows, Yq, O, pp, offs, K, Wt + ob, bb, tail, relu);
    else fwd_rows<1, R>(rows, Yq, O, pp, offs, K, Wt + ob, bb, tail, relu);
  };
  for (i64 b0 = 0; b0 < nb; b0 += pixel_outer ? nb : 1) {
    i64 oh = 0, ow = 0;
    for (i64 q = 0; q < P; q += R) {
      const int rows = int(std::min<i64>(R, P - q));
      const float* pp[R];
      for (int r = 0; r < rows; ++r) {
        pp[r] = src + oh * g.sh * rs + ow * g.sw * C;
        if (++ow == Wo) ow = 0, ++oh;
      }
      if (pixel_outer)
        for (i64 b = 0; b < nb; ++b) tile(rows, pp, q, b);
      else
        tile(rows, pp, q, b0);
    }
  }
}

// dW rows [kb, kb+KB) × channels [ob, ob+8·NV) over pixels [q0, q1) of the band; db when dbs.
// The sums live in acc [K, ldz] / dbs [ldz] between pixel chunks (loaded into registers at the
// start of a chunk, stored at its end): per element still one FMA chain over the pixels in order
// from 0, so the bits are those of one sweep (and of the AVX-512 kernel). dz is the chunk's
// dY·act'(Y), [q1 - q0, ldz], ldz a multiple of 16, zeros past O: the pixel loop has full loads
// only and no branch. (dz computed inline, as the AVX-512 kernel does, put the act switch and
// the tail test in the loop: 2x slower; one dz pass over the whole band streamed dY, Y and dz
// through L2 with nothing to overlap: 1.5x slower than L1-sized chunks.)
template <int NV, int KB>
void dw_tile(float* acc_s, float* dbs, const float* src, i64 rs, const i64* offs, const float* dz,
             i64 ldz, const ConvGeom& g, i64 q0, i64 q1, i64 ob) {
  const i64 Wo = g.Wo, C = g.C;
  __m256 acc[KB][NV], dbv[NV];
#pragma GCC unroll 12
  for (int kk = 0; kk < KB; ++kk)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[kk][v] = _mm256_loadu_ps(acc_s + kk * ldz + ob + 8 * v);
#pragma GCC unroll 2
  for (int v = 0; v < NV; ++v) dbv[v] = dbs ? _mm256_loadu_ps(dbs + ob + 8 * v) : _mm256_setzero_ps();
  i64 off[KB];
#pragma GCC unroll 12
  for (int kk = 0; kk < KB; ++kk) off[kk] = offs[kk];
  const float* dzq = dz + ob;
  i64 oh = q0 / Wo, ow = q0 % Wo;
  const float* prow = src + oh * g.sh * rs;
  for (i64 q = q0; q < q1; ++q, dzq += ldz) {
    const float* p = prow + ow * g.sw * C;
    if (++ow == Wo) ow = 0, prow += g.sh * rs;
    __m256 d[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) d[v] = _mm256_loadu_ps(dzq + 8 * v);
    if (dbs)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) dbv[v] = _mm256_add_ps(dbv[v], d[v]);
#pragma GCC unroll 12
    for (int kk = 0; kk < KB; ++kk) {
      const __m256 a = _mm256_broadcast_ss(p + off[kk]);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[kk][v] = _mm256_fmadd_ps(a, d[v], acc[kk][v]);
    }
  }
#pragma GCC unroll 12
  for (int kk = 0; kk < KB; ++kk)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(acc_s + kk * ldz + ob + 8 * v, acc[kk][v]);
  if (dbs)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(dbs + ob + 8 * v, dbv[v]);
}

template <int NV, int KB>
void dw_rows(int kb_n, float* acc_s, float* dbs, const float* src, i64 rs, const i64* offs,
             const float* dz, i64 ldz, const ConvGeom& g, i64 q0, i64 q1, i64 ob) {
  if constexpr (KB >= 1) {
    if (kb_n == KB) return dw_tile<NV, KB>(acc_s, dbs, src, rs, offs, dz, ldz, g, q0, q1, ob);
    return dw_rows<NV, KB - 1>(kb_n, acc_s, dbs, src, rs, offs, dz, ldz, g, q0, q1, ob);
  }
}

// dz [P, ldz] = dY·act'(Y) of P pixels, channels past O zero (maskload gives 0, and every act'
// maps dY = Y = 0 to 0). The act is a template parameter: a switch per vector cost as much as
// the dW tiles themselves on conv1 (O = 32).
template <Act A>
inline __m256 dz_one(__m256 d, const float* Y, bool part, __m256i m) {
  if constexpr (A == Act::None) {
    (void)Y, (void)part, (void)m;
    return d;
  } else {
    const __m256 y = part ? _mm256_maskload_ps(Y, m) : _mm256_loadu_ps(Y);
    if constexpr (A == Act::Relu) return _mm256_and_ps(_mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_GT_OQ), d);
    if constexpr (A == Act::Sigmoid) return _mm256_mul_ps(_mm256_mul_ps(d, y), _mm256_sub_ps(_mm256_set1_ps(1.f), y));
    return _mm256_mul_ps(d, _mm256_sub_ps(_mm256_set1_ps(1.f), _mm256_mul_ps(y, y)));   // Tanh
  }
}

template <Act A>
void dz_rows(float* dz, i64 ldz, const float* dY, const float* Y, i64 P, i64 O) {
  const i64 O8 = O - O % 8;
  const Tail t = tail_mask(O - O8);
  for (i64 q = 0; q < P; ++q) {
    const float* dy = dY + q * O;
    const float* y = A == Act::None ? nullptr : Y + q * O;
    float* z = dz + q * ldz;
    i64 c = 0;
    for (; c < O8; c += 8) _mm256_storeu_ps(z + c, dz_one<A>(_mm256_loadu_ps(dy + c), y ? y + c : nullptr, false, t.m));
    if (c < O) {
      _mm256_storeu_ps(z + c, dz_one<A>(_mm256_maskload_ps(dy + c, t.m), y ? y + c : nullptr, true, t.m));
      c += 8;
    }
    for (; c < ldz; c += 8) _mm256_storeu_ps(z + c, _mm256_setzero_ps());
  }
}

void dz_band(float* dz, i64 ldz, const float* dY, const float* Y, i64 P, i64 O, Act act) {
  switch (Y ? act : Act::None) {   // no Y: the pooled path's dY already is dZ
    case Act::Relu: return dz_rows<Act::Relu>(dz, ldz, dY, Y, P, O);
    case Act::Sigmoid: return dz_rows<Act::Sigmoid>(dz, ldz, dY, Y, P, O);
    case Act::Tanh: return dz_rows<Act::Tanh>(dz, ldz, dY, Y, P, O);
    default: return dz_rows<Act::None>(dz, ldz, dY, Y, P, O);
  }
}

}  // namespace
}  // namespace avx2
using namespace avx2;

void direct_fwd_image_avx2(float* Yn, const float* src, i64 rs, const i64* offs, const float* Wt,
                           const float* bias, const ConvGeom& g, Act act, i64 nrows) {
  fwd_band(Yn, src, rs, offs, Wt, bias, g, act == Act::Relu, nrows);
}

void direct_dw_image_avx2(float* dWn, float* dbn, const float* src, i64 rs, const i64* offs,
                          const float* dYn, const float* Yn, const ConvGeom& g, Act act, i64 nrows) {
  const i64 O = g.O, K = g.K(), P = nrows * g.Wo, ldz = (O + 15) / 16 * 16;
  const i64 CH = std::max<i64>(16, 2048 / ldz);   // pixels per chunk: dz chunk ≈ 8 KiB (L1)
  // [dz chunk | acc K·ldz | db ldz], acc and db zeroed (the sums start from 0)
  std::unique_ptr<float[]> buf(new float[size_t(CH * ldz + (K + 1) * ldz)]);
  float* dz = buf.get();
  float* acc = dz + CH * ldz;
  float* dbs = dbn ? acc + K * ldz : nullptr;
  for (i64 e = 0; e < (K + 1) * ldz; ++e) acc[e] = 0.f;
  for (i64 q0 = 0; q0 < P; q0 += CH) {
    const i64 q1 = std::min(P, q0 + CH);
    dz_band(dz, ldz, dYn + q0 * O, Yn ? Yn + q0 * O : nullptr, q1 - q0, O, act);
    for (i64 ob = 0; ob < O; ob += 16) {
      const int NV = O - ob > 8 ? 2 : 1;
      const int kstep = dw_kstep_avx2(NV);
      for (i64 kb = 0; kb < K; kb += kstep) {
        const int kn = int(std::min<i64>(kstep, K - kb));
        float* db = kb == 0 ? dbs : nullptr;
        if (NV == 2) dw_rows<2, dw_kstep_avx2(2)>(kn, acc + kb * ldz, db, src, rs, offs + kb, dz, ldz, g, q0, q1, ob);
        else dw_rows<1, dw_kstep_avx2(1)>(kn, acc + kb * ldz, db, src, rs, offs + kb, dz, ldz, g, q0, q1, ob);
      }
    }
  }
  for (i64 k = 0; k < K; ++k)
    for (i64 o = 0; o < O; ++o) dWn[k * O + o] = acc[k * ldz + o];
  if (dbn)
    for (i64 o = 0; o < O; ++o) dbn[o] = dbs[o];
}


// ------------------------------------------------------------------ dW over the whole batch
// As in conv_avx512.cpp: one tile = dW rows [kb, kb+KB) × channels [ob, ob+8·NV), registers over
// one image, then a running sum (the caller's `sum`, 32-byte aligned) in image order.
namespace avx2 {
namespace {
template <int NV, int KB>
void dwt_tile(float* dW, float* db, const float* src, i64 img_stride, i64 rs, const i64* offs,
              const float* dZ, const ConvGeom& g, i64 ob, const Tail& m, i64 n0, i64 n1, float* sumbuf) {
  const i64 O = g.O, Wo = g.Wo, Ho = g.Ho, C = g.C;
  float (*sum)[NV * 8] = reinterpret_cast<float (*)[NV * 8]>(sumbuf);  // [KB + 1][NV·8]
  if (n0 == 0)
    for (int kk = 0; kk <= KB; ++kk)
      for (int e = 0; e < NV * 8; ++e) sum[kk][e] = 0.f;
  i64 off[KB];
#pragma GCC unroll 12
  for (int kk = 0; kk < KB; ++kk) off[kk] = offs[kk];
  for (i64 n = n0; n < n1; ++n) {
    __m256 acc[KB][NV], dbv[NV];
#pragma GCC unroll 12
    for (int kk = 0; kk < KB; ++kk)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[kk][v] = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) dbv[v] = _mm256_setzero_ps();
    const float* xn = src + n * img_stride;
    const float* dzq = dZ + n * Ho * Wo * O + ob;
    for (i64 oh = 0; oh < Ho; ++oh) {
      const float* prow = xn + oh * g.sh * rs;
      for (i64 ow = 0; ow < Wo; ++ow, dzq += O) {
        const float* p = prow + ow * g.sw * C;
        __m256 dz[NV];
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) dz[v] = ld(dzq + 8 * v, v == NV - 1, m);
        if (db)
#pragma GCC unroll 2
          for (int v = 0; v < NV; ++v) dbv[v] = _mm256_add_ps(dbv[v], dz[v]);
#pragma GCC unroll 12
        for (int kk = 0; kk < KB; ++kk) {
          const __m256 a = _mm256_broadcast_ss(p + off[kk]);
#pragma GCC unroll 2
          for (int v = 0; v < NV; ++v) acc[kk][v] = _mm256_fmadd_ps(a, dz[v], acc[kk][v]);
        }
      }
    }
#pragma GCC unroll 12
    for (int kk = 0; kk < KB; ++kk)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v)
        _mm256_store_ps(sum[kk] + 8 * v, _mm256_add_ps(_mm256_load_ps(sum[kk] + 8 * v), acc[kk][v]));
    if (db)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v)
        _mm256_store_ps(sum[KB] + 8 * v, _mm256_add_ps(_mm256_load_ps(sum[KB] + 8 * v), dbv[v]));
  }
  if (n1 < g.N) return;
  for (int kk = 0; kk < KB; ++kk)
    for (int v = 0; v < NV; ++v) st(dW + kk * O + ob + 8 * v, _mm256_load_ps(sum[kk] + 8 * v), v == NV - 1, m);
  if (db)
    for (int v = 0; v < NV; ++v) st(db + ob + 8 * v, _mm256_load_ps(sum[KB] + 8 * v), v == NV - 1, m);
}

template <int NV, int KB>
void dwt_rows(int kn, float* dW, float* db, const float* src, i64 img_stride, i64 rs, const i64* offs,
              const float* dZ, const ConvGeom& g, i64 ob, const Tail& m, i64 n0, i64 n1, float* sum) {
  if constexpr (KB >= 1) {
    if (kn == KB) return dwt_tile<NV, KB>(dW, db, src, img_stride, rs, offs, dZ, g, ob, m, n0, n1, sum);
    return dwt_rows<NV, KB - 1>(kn, dW, db, src, img_stride, rs, offs, dZ, g, ob, m, n0, n1, sum);
  }
}
}  // namespace
}  // namespace avx2
using namespace avx2;

void direct_dw_tile_avx2(float* dW, float* db, const float* src, i64 img_stride, i64 rs, const i64* offs,
                         const float* dZ, const ConvGeom& g, i64 kb, i64 ob, i64 n0, i64 n1, float* sum) {
  const i64 rem = std::min<i64>(g.O - ob, kDwBlockAvx2);
  const int NV = rem > 8 ? 2 : 1;
  const Tail m = tail_mask(rem - 8 * (NV - 1));
  const int kn = int(std::min<i64>(dw_kstep_avx2(NV), g.K() - kb));
  float* dWk = dW + kb * g.O;
  const i64* o = offs + kb;
  if (NV == 2) dwt_rows<2, dw_kstep_avx2(2)>(kn, dWk, db, src, img_stride, rs, o, dZ, g, ob, m, n0, n1, sum);
  else dwt_rows<1, dw_kstep_avx2(1)>(kn, dWk, db, src, img_stride, rs, o, dZ, g, ob, m, n0, n1, sum);
}


// ------------------------------------------------------------------ dX = col2im(dZ·Wᵀ), fused
// As in conv_avx512.cpp, with 16-column blocks (C % 16 == 0: a block lies in one tap, so the tap
// is fixed per block) and R = 6 pixels (12 accumulators); the tap offsets and pixel origins are
// precomputed per block / image. One image per call, blocks then pixels in a fixed order.
namespace avx2 {
namespace {
struct DxTap { i64 di, dj, off; };   // row / column offset in the input, offset in dXn

template <int R>
void dx_tile(float* dXn, const float* dZq, const float* WTk, i64 ldw, i64 O, const ConvGeom& g,
             const i64* h0, const i64* w0, const DxTap& tap) {
  __m256 acc[R][2];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (i64 o = 0; o < O; ++o) {
    const __m256 w0v = _mm256_loadu_ps(WTk + o * ldw), w1v = _mm256_loadu_ps(WTk + o * ldw + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_broadcast_ss(dZq + r * O + o);
      acc[r][0] = _mm256_fmadd_ps(a, w0v, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, w1v, acc[r][1]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    const i64 h = h0[r] + tap.di, w = w0[r] + tap.dj;
    if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
    float* d = dXn + (h * g.W + w) * g.C + tap.off;
    _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), acc[r][0]));
    _mm256_storeu_ps(d + 8, _mm256_add_ps(_mm256_loadu_ps(d + 8), acc[r][1]));
  }
}

template <int R>
void dx_rows(int rows, float* dXn, const float* dZq, const float* WTk, i64 ldw, i64 O, const ConvGeom& g,
             const i64* h0, const i64* w0, const DxTap& tap) {
  if constexpr (R >= 1) {
    if (rows == R) return dx_tile<R>(dXn, dZq, WTk, ldw, O, g, h0, w0, tap);
    return dx_rows<R - 1>(rows, dXn, dZq, WTk, ldw, O, g, h0, w0, tap);
  }
}
}  // namespace
}  // namespace avx2
using namespace avx2;

void direct_dx_image_avx2(float* dXn, const float* dZn, const float* WT, const ConvGeom& g) {
  constexpr int R = 6;
  const i64 K = g.K(), P = g.Ho * g.Wo, C = g.C, O = g.O;
  std::vector<i64> hw(size_t(2 * P));
  i64* h0 = hw.data();
  i64* w0 = h0 + P;
  for (i64 oh = 0, q = 0; oh < g.Ho; ++oh)
    for (i64 ow = 0; ow < g.Wo; ++ow, ++q) {
      h0[q] = oh * g.sh - g.pt;
      w0[q] = ow * g.sw - g.pl;
    }
  for (i64 col = 0; col < K; col += 16) {
    const i64 t = col / C, i = t / g.kw, j = t % g.kw;
    const DxTap tap{i * g.dh, j * g.dw, col % C};
    for (i64 q = 0; q < P; q += R) {
      const int rows = int(std::min<i64>(R, P - q));
      dx_rows<R>(rows, dXn, dZn + q * O, WT + col, K, O, g, h0 + q, w0 + q, tap);
    }
  }
}

}  // namespace fusednet::cpu::conv_detail
FN_ISA_END
#endif  // FN_X86
