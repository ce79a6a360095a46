// winograd.cpp — 3x3 stride-1 convolution by Winograd F(4x4, 3x3) (formulas, layouts and the
// why in winograd.h): the kernel transform, the chunked driver and a double-precision reference.
//
// Driver: tiles (n, tile row, tile column) are cut into chunks of P tiles (P from C and O only, so
// that the chunk's transformed input [P, 36, C] and GEMM output [P, 36, O] together stay within
// ~2 MiB of cache). Per chunk, on one thread:
//   1. Vb = Bᵀ d B for every tile, gathered straight from X (zero padding at the borders);
//   2. Mb[:, t, :] = Vb[:, t, :] · U[t] for the 36 points t: 36 serial sgemm calls (a nested sgemm
//      runs inline, parallel.h) with lda = 36·C and ldc = 36·O, so neither side is reshuffled;
//   3. Y tile = act(Aᵀ m A + bias), written straight into NHWC.
// Chunks are claimed dynamically by the pool's threads. Every tile's arithmetic is fixed by the
// shape (sgemm's K order depends on K only), so the result is bitwise the same for any thread
// count and any chunk-to-thread mapping.
#include "cpu/winograd.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <vector>

#include "cpu/ftz_scope.h"
#include "cpu/gemm.h"
#include "cpu/isa.h"
#include "cpu/parallel.h"
#include "cpu/runtime.h"
#include "cpu/winograd_impl.h"

namespace fusednet::cpu {

namespace wino_detail {
namespace portable {
namespace {
struct V {  // one channel per "vector": the non-x86 / pre-AVX2 path
  using R = float;
  static constexpr int W = 1;
  static inline R zero() { return 0.f; }
  static inline R load(const float* p) { return *p; }
  static inline void store(float* p, R v) { *p = v; }
  static inline R set1(float s) { return s; }
  static inline R fma(R a, R b, R c) { return a * b + c; }
  static inline R add(R a, R b) { return a + b; }
  static inline R mul(R a, R b) { return a * b; }
  static inline R sub(R a, R b) { return a - b; }
  static inline R max(R a, R b) { return a > b ? a : b; }  // max(0, NaN) = NaN, as maxps
};
}  // namespace
}  // namespace portable

void weights_block_portable(float* U, const float* Wt, i64 CO, i64 c0, i64 c1) {
  weights_block<portable::V, portable::V>(U, Wt, CO, c0, c1);
}
void in_chunk_portable(float* Vb, const float* X, const ConvGeom& g, i64 t0, i64 nt) {
  in_chunk<portable::V, portable::V>(Vb, X, g, t0, nt);
}
void out_chunk_portable(float* Y, const float* Mb, const float* bias, const ConvGeom& g, Act act, i64 t0, i64 nt) {
  out_chunk<portable::V, portable::V>(Y, Mb, bias, g, act, t0, nt);
}
}  // namespace wino_detail

namespace {

// Bᵀ (6x6) and Aᵀ (4x6) for the points 0, ±1, ±2, ∞, as matrices, for the reference.
constexpr double kBT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                              {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
constexpr double kAT[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

// Reused per-thread scratch (the pool keeps its threads: allocated once per size).
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
thread_local Scratch tl_v, tl_m;

// Tiles per chunk: [P, 36, C] + [P, 36, O] floats within ~2 MiB, a multiple of the 12-row GEMM
// panel, at least 12 (deep layers: the 36 packed U[t] matter more than the chunk then).
i64 chunk_tiles(const ConvGeom& g) {
  const i64 per_tile = 36 * (g.C + g.O) * i64(sizeof(float));
  i64 P = (i64(2) << 20) / std::max<i64>(per_tile, 1);
  P = std::max<i64>(12, std::min<i64>(240, P / 12 * 12));
  return P;
}

}  // namespace

uint64_t fingerprint(const void* p, i64 nbytes) {
  constexpr uint64_t kPrime = 0x100000001b3ull, kBasis = 0xcbf29ce484222325ull;
  constexpr i64 kBlock = i64(1) << 20;
  const unsigned char* b = static_cast<const unsigned char*>(p);
  const i64 nb = nbytes > 0 ? (nbytes + kBlock - 1) / kBlock : 0;
  std::vector<uint64_t> part(size_t(std::max<i64>(nb, 1)), kBasis);
  auto block = [&](i64 k) {
    const unsigned char* q = b + k * kBlock;
    const i64 n = std::min(kBlock, nbytes - k * kBlock);
    uint64_t h[8];
    for (int l = 0; l < 8; ++l) h[l] = kBasis + uint64_t(l);
    i64 i = 0;
    for (; i + 64 <= n; i += 64)
      for (int l = 0; l < 8; ++l) {
        uint64_t w;
        std::memcpy(&w, q + i + 8 * l, 8);
        h[l] = (h[l] ^ w) * kPrime;
      }
    uint64_t t = kBasis;
    for (; i < n; ++i) t = (t ^ q[i]) * kPrime;
    uint64_t r = t;
    for (int l = 0; l < 8; ++l) r = (r ^ h[l]) * kPrime ^ (r >> 29);
    part[size_t(k)] = r;
  };
  const int T = nb >= 4 ? int(std::min<i64>(num_threads(), nb)) : 1;
  if (T > 1) parallel_for(nb, T, block);
  else for (i64 k = 0; k < nb; ++k) block(k);
  uint64_t r = kBasis ^ uint64_t(nbytes);
  for (i64 k = 0; k < nb; ++k) r = (r ^ part[size_t(k)]) * kPrime ^ (r >> 31);
  return r;
}

bool winograd_geom_ok(const ConvGeom& g) {
  return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1;
}

void winograd_weights(float* U, const float* Wt, i64 C, i64 O) {
  const i64 CO = C * O;
  if (CO == 0) return;
  FtzScope ftz_scope;
  auto fn = wino_detail::weights_block_portable;
#if FN_X86
  if (isa_level() >= 2) fn = wino_detail::weights_block_avx512;
  else if (isa_level() >= 1) fn = wino_detail::weights_block_avx2;
#endif
  // blocks of 4096 filters (a multiple of every vector width): each element's arithmetic is fixed
  constexpr i64 kBlk = 4096;
  const i64 nb = (CO + kBlk - 1) / kBlk;
  parallel_for(nb, int(std::min<i64>(num_threads(), nb)), [&](i64 b) {
    fn(U, Wt, CO, b * kBlk, std::min(CO, (b + 1) * kBlk));
  });
}

void winograd_forward(float* Y, const float* X, const float* U, const float* bias, const ConvGeom& g, Act act) {
  if (g.M() == 0 || g.O == 0) return;
  FtzScope ftz_scope;
  if (g.C == 0) {  // no input channels: the output is act(bias), as conv2d_forward
    for (i64 r = 0; r < g.M(); ++r)
      for (i64 o = 0; o < g.O; ++o) {
        const float v = bias ? bias[o] : 0.f;
        Y[r * g.O + o] = (act == Act::Relu && v < 0.f) ? 0.f : v;
      }
    return;
  }
  const i64 tiles = g.N * ((g.Ho + 3) / 4) * ((g.Wo + 3) / 4);
  const i64 P = chunk_tiles(g), nchunks = (tiles + P - 1) / P;
  const i64 C = g.C, O = g.O;
  using namespace wino_detail;
  auto in_fn = in_chunk_portable;
  auto out_fn = out_chunk_portable;
#if FN_X86
  if (isa_level() >= 2) in_fn = in_chunk_avx512, out_fn = out_chunk_avx512;
  else if (isa_level() >= 1) in_fn = in_chunk_avx2, out_fn = out_chunk_avx2;
#endif
  auto chunk = [&](i64 ci) {
    const i64 t0 = ci * P, nt = std::min(P, tiles - t0);
    float* Vb = tl_v.get(size_t(P * 36 * C));
    float* Mb = tl_m.get(size_t(P * 36 * O));
    in_fn(Vb, X, g, t0, nt);
    for (i64 t = 0; t < 36; ++t)
      sgemm(Mb + t * O, Vb + t * C, U + t * C * O, nullptr, nt, O, C, false, false, 36 * C, O, 36 * O, 0.f,
            Act::None);
    out_fn(Y, Mb, bias, g, act, t0, nt);
  };
  if (nchunks == 1 || num_threads() == 1) {
    set_ftz();
    for (i64 ci = 0; ci < nchunks; ++ci) chunk(ci);
  } else {
    parallel_for_dynamic(nchunks, num_threads(), chunk);
  }
}

void winograd_forward_ref(float* Y, const float* X, const float* U, const float* bias, const ConvGeom& g, Act act) {
  const i64 C = g.C, O = g.O, th = (g.Ho + 3) / 4, tw = (g.Wo + 3) / 4;
  for (i64 n = 0; n < g.N; ++n)
    for (i64 a = 0; a < th; ++a)
      for (i64 b = 0; b < tw; ++b)
        for (i64 o = 0; o < O; ++o) {
          double m[6][6] = {};
          for (i64 c = 0; c < C; ++c) {
            double d[6][6], t[6][6];
            for (int i = 0; i < 6; ++i)
              for (int j = 0; j < 6; ++j) {
                const i64 ih = 4 * a - g.pt + i, iw = 4 * b - g.pl + j;
                d[i][j] = (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) ? X[((n * g.H + ih) * g.W + iw) * C + c] : 0.0;
              }
            for (int r = 0; r < 6; ++r)
              for (int j = 0; j < 6; ++j) {
                double s = 0;
                for (int i = 0; i < 6; ++i) s += kBT[r][i] * d[i][j];
                t[r][j] = s;
              }
            for (int r = 0; r < 6; ++r)
              for (int s = 0; s < 6; ++s) {
                double v = 0;
                for (int j = 0; j < 6; ++j) v += t[r][j] * kBT[s][j];
                m[r][s] += v * double(U[(6 * r + s) * C * O + c * O + o]);
              }
          }
          for (int p = 0; p < 4; ++p)
            for (int q = 0; q < 4; ++q) {
              const i64 oh = 4 * a + p, ow = 4 * b + q;
              if (oh >= g.Ho || ow >= g.Wo) continue;
              double v = bias ? double(bias[o]) : 0.0;
              for (int r = 0; r < 6; ++r)
                for (int s = 0; s < 6; ++s) v += kAT[p][r] * m[r][s] * kAT[q][s];
              float f = float(v);
              if (act == Act::Relu) f = f < 0.f ? 0.f : f;
              Y[((n * g.Ho + oh) * g.Wo + ow) * O + o] = f;
            }
        }
}

}  // namespace fusednet::cpu
