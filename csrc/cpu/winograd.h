// winograd.h — 3x3 stride-1 convolution by Winograd F(4x4, 3x3), NHWC, inference forward only.
//
//   Y = act( bias + Aᵀ [ (Bᵀ d B) ⊙ (G w Gᵀ) ] A )   per 4x4 output tile, summed over input channels
// d: the tile's 6x6 input window (zero outside the image), w: one 3x3 filter, Bᵀ (6x6), G (6x3),
// Aᵀ (4x6) Lavin & Gray's matrices for the points 0, ±1, ±2, ∞.
//
// Layouts: X [N,H,W,C], Y [N,Ho,Wo,O] (Ho, Wo by conv2d's rules for a 3x3 stride-1 kernel, 'same' or
// 'valid'), U = the transformed kernel [36, C, O] (point t = 6r + s of G w Gᵀ), computed once by
// winograd_weights from the Keras kernel [3, 3, C, O].
// Why: a 4x4 output tile costs 36 multiplies per (C, O) pair instead of 144 — the 3x3 convs that
// are half of ResNet-50's FLOPs become 36 small GEMMs (tiles × C)·(C × O) per chunk of tiles, run
// by the BLIS-shaped sgemm at its usual efficiency, with the input transform fused into the tile
// gather and bias + relu fused into the output transform (no im2col, no conv output round trip).
// Chunks of tiles are sized so the 36 transformed tiles ([tiles, 36, C] and [tiles, 36, O]) stay in
// cache; each chunk is computed by one thread with the same operation order whatever the thread
// count or chunk-to-thread mapping, so results are bitwise independent of the thread count.
// Accuracy: the transforms add rounding with entries up to 8 (Aᵀ) and 5 (Bᵀ): relative error ~1e-5
// of the output's scale in float32 (TOL["winograd"]), versus ~1e-6 for the direct conv.
#pragma once
#include <cstdint>

#include "common/common.h"
#include "cpu/conv.h"
#include "cpu/isa.h"

namespace fusednet::cpu {

constexpr i64 kWinoM = 4;       // output tile edge
constexpr i64 kWinoA = 6;       // input tile edge (m + r - 1)
constexpr i64 kWinoT = 36;      // transform points per tile

// U [36, C, O] = G w Gᵀ for every (c, o); Wt is the Keras kernel [3, 3, C, O].
void winograd_weights(float* U, const float* Wt, i64 C, i64 O);

// The geometry Winograd F(4x4,3x3) computes: 3x3, stride 1, dilation 1.
bool winograd_geom_ok(const ConvGeom& g);

// Y = act(conv(X, W) + bias) with U = winograd_weights(W); act ∈ {None, Relu}; bias may be null.
void winograd_forward(float* Y, const float* X, const float* U, const float* bias, const ConvGeom& g, Act act);

// Testing hook: the same algorithm, every sum in double, one tile at a time (no GEMM, no vectors).
void winograd_forward_ref(float* Y, const float* X, const float* U, const float* bias, const ConvGeom& g, Act act);

// A 64-bit fingerprint of n bytes (FNV-1a over 8 interleaved 64-bit lanes per 1 MiB block, blocks
// hashed in parallel and combined in order: the same value for any thread count). Inference steps
// that cache transformed weights (folded Conv+BN, U) compare fingerprints of the source weights
// instead of recomputing every predict call: reading the weights once costs a fraction of
// refolding and retransforming them.
uint64_t fingerprint(const void* p, i64 nbytes);

namespace wino_detail {
// Per-ISA chunk kernels (winograd_impl.h instantiated per file). Tiles are numbered
// (n, tile row, tile column) row-major; a chunk is tiles [t0, t0 + nt).
//   in:  Vb [nt, 36, C] = Bᵀ d B of each tile (the gather reads X with zero padding)
//   out: Y tile pixels = act(Aᵀ m A + bias) from Mb [nt, 36, O], pixels outside Ho x Wo skipped
//   weights: U [36, C·O] = G w Gᵀ for the filters co in [c0, c1) of Wt [9, C·O]
void weights_block_portable(float* U, const float* Wt, i64 CO, i64 c0, i64 c1);
void in_chunk_portable(float* Vb, const float* X, const ConvGeom& g, i64 t0, i64 nt);
void out_chunk_portable(float* Y, const float* Mb, const float* bias, const ConvGeom& g, Act act, i64 t0, i64 nt);
#if FN_X86
void weights_block_avx512(float* U, const float* Wt, i64 CO, i64 c0, i64 c1);
void in_chunk_avx512(float* Vb, const float* X, const ConvGeom& g, i64 t0, i64 nt);
void out_chunk_avx512(float* Y, const float* Mb, const float* bias, const ConvGeom& g, Act act, i64 t0, i64 nt);
void weights_block_avx2(float* U, const float* Wt, i64 CO, i64 c0, i64 c1);
void in_chunk_avx2(float* Vb, const float* X, const ConvGeom& g, i64 t0, i64 nt);
void out_chunk_avx2(float* Y, const float* Mb, const float* bias, const ConvGeom& g, Act act, i64 t0, i64 nt);
#endif
}  // namespace wino_detail

}  // namespace fusednet::cpu
