// conv_direct.h — direct (no im2col, no GEMM) convolution kernels for layers with a small
// reduction depth K = kh·kw·C (the first layer of an image model: C = 1 or 3). Internal to the
// conv family; the drivers (threading, padding, determinism) are in conv.cpp.
//
// Why: with K = 9 (3×3 on one channel) the implicit GEMM spends its time building a 9-wide
// im2col matrix and packing it into 12-row panels, not multiplying (26 GFLOP/s on conv1 of the
// seed CNN). Here each output pixel's K inputs are broadcast straight from the image through a
// fixed offset table, the weights W [K, O] (a few KiB) stay in L1, and the C tile of R pixels ×
// 32 channels lives in registers, exactly like the GEMM micro-kernel's tile.
//
// Addressing: `src` is one image laid out with row stride `rs` floats (the caller passes the image
// itself, or a zero-padded copy of it when padding is not 'valid', so every window is in bounds).
// The window of output pixel (oh, ow) starts at src + oh·sh·rs + ow·sw·C, and its k-th input
// (k = (i·kw + j)·C + c, the row order of W) is at that origin + offs[k], with
// offs[k] = i·dh·rs + j·dw·C + c.
#pragma once
#include "common/common.h"
#include "cpu/conv.h"
#include "cpu/isa.h"

namespace fusednet::cpu::conv_detail {

// Largest K the direct dW path takes (no dX wanted); above it the implicit GEMM is as fast.
constexpr i64 kDirectMaxK = 32;
// Largest K the direct forward takes: a tile streams W[:, 64 channels] (K·256 bytes) from L2.
constexpr i64 kDirectFwdMaxK = 2048;

// Scratch size and K step of direct_dw_tile_avx512 (below).
constexpr int kDwSumFloats = 13 * 64;
constexpr int dw_kstep(int nv) { return nv >= 4 ? 6 : (nv == 3 ? 8 : 12); }
// The AVX2 twins (conv_avx2.cpp): channel blocks of kDwBlockAvx2 = 16 (NV ≤ 2 ymm vectors), K step
// 5 for NV = 2 (10 accumulators + 2 dz + 2 db + 1 broadcast of 16 ymm), 12 for NV = 1.
constexpr i64 kDwBlockAvx2 = 16;
constexpr int dw_kstep_avx2(int nv) { return nv >= 2 ? 5 : 12; }

// The kernels exist on x86-64 only (conv_avx512.cpp, conv_avx2.cpp); declaring them only there makes a call that
// escapes conv.cpp's FN_X86 guards a compile error on other targets.
#if FN_X86
// A band of `nrows` output rows of one image (src at the window origin of its first pixel, Yn at
// its first output pixel): Yn [nrows·Wo, O] = act(Σ_k src[origin + offs[k]]·W[k, :] + bias), act ∈ {None, Relu}.
// Per element the sum runs k = 0..K-1 with FMAs from 0, then + bias, then relu — the same
// operation order as the GEMM path's single-K-slice micro-kernel, so the results are identical.
void direct_fwd_image_avx512(float* Yn, const float* src, i64 rs, const i64* offs, const float* Wt,
                             const float* bias, const ConvGeom& g, Act act, i64 nrows);

// One band's (as above) contribution to dW and db: dWn [K, O] = Σ_pixels x_k·dZ, dbn [O] = Σ_pixels dZ
// (dbn may be null), dZ = dY·act'(Y) through the saved output (Y unused for Act::None).
// Sums run over the pixels in row-major order, in float (≤ Ho·Wo terms); the caller reduces the
// per-band partials in double in band order, so the result does not depend on the threads.
void direct_dw_image_avx512(float* dWn, float* dbn, const float* src, i64 rs, const i64* offs,
                            const float* dYn, const float* Yn, const ConvGeom& g, Act act, i64 nrows);

// Batch dW (dX wanted too, or K large): one tile of dW rows [kb, kb + dw_kstep(NV)) × channels
// [ob, ob+64) (clipped to K and O; NV = vectors in the channel block), db [ob, ob+64) too when db
// is non-null (pass it for kb == 0 only). dW[k, o] = Σ_n Σ_pixels x·dZ: registers over one image,
// then a running sum in image order. src = N images (or zero-padded copies) img_stride apart,
// addressed as above; dZ [N·Ho·Wo, O] is the gradient w.r.t. the pre-activation. One call adds
// images [n0, n1) to the running sum kept in `sum` (kDwSumFloats floats, 64-byte aligned; zeroed
// when n0 == 0); dW / db are written when n1 == N. Calls for one tile must come in image order.
void direct_dw_tile_avx512(float* dW, float* db, const float* src, i64 img_stride, i64 rs, const i64* offs,
                           const float* dZ, const ConvGeom& g, i64 kb, i64 ob, i64 n0, i64 n1,
                           float* sum);

// dXn [H, W, C] += col2im(dZn · Wᵀ) for one image (C % 16 == 0); WT = Wᵀ [O, K]; dZn [Ho·Wo, O].
void direct_dx_image_avx512(float* dXn, const float* dZn, const float* WT, const ConvGeom& g);

// AVX2 + FMA twins (conv_avx2.cpp), same contracts; forward, dW and db are bitwise the AVX-512
// results (same per-element operation order), dX adds its terms in another fixed order.
// direct_dw_tile_avx2 tiles are dW rows [kb, kb + dw_kstep_avx2(NV)) × channels [ob, ob+16).
void direct_fwd_image_avx2(float* Yn, const float* src, i64 rs, const i64* offs, const float* Wt,
                           const float* bias, const ConvGeom& g, Act act, i64 nrows);
void direct_dw_image_avx2(float* dWn, float* dbn, const float* src, i64 rs, const i64* offs,
                          const float* dYn, const float* Yn, const ConvGeom& g, Act act, i64 nrows);
void direct_dw_tile_avx2(float* dW, float* db, const float* src, i64 img_stride, i64 rs, const i64* offs,
                         const float* dZ, const ConvGeom& g, i64 kb, i64 ob, i64 n0, i64 n1, float* sum);
void direct_dx_image_avx2(float* dXn, const float* dZn, const float* WT, const ConvGeom& g);
#endif

}  // namespace fusednet::cpu::conv_detail
