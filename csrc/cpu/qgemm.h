// qgemm.h — int8 inference GEMM / convolution (post-training quantization, issue 13).
//
//   acc[i,j] = Σ_k A_u8[i,k] · B_s8[k,j]                           int32, exact
//   C[i,j]   = act( (acc[i,j] − zp_i·colsum_j) · (sa_i · sw_j) + bias[j] )   float32
// A: activations quantized asymmetrically to u8 (x ≈ sa·(q − zp)); one (sa, zp) per row
// ("dynamic": from each row's min/max at run time) or one for all rows ("static": calibrated).
// B: weights quantized symmetrically per output channel j (w ≈ sw_j·q, q in [-127, 127]),
// packed once (QPacked) at quantize time. colsum_j = Σ_k B[k,j] turns the u8 zero point into one
// multiply-add per output in the epilogue.
//
// Kernels (cpu::qgemm_isa() names the one running): AVX-512 VNNI (vpdpbusd: u8×s8 → s32, four
// products per lane, no intermediate saturation), AVX2 (operands widened to s16, vpmaddwd pair
// sums: exact, see qgemm_avx2.cpp for why not vpmaddubsw), portable (scalar int32). All give the
// same int32 accumulators bit for bit, and share one float epilogue (qgemm.cpp), so the float
// outputs are identical on every path too.
#pragma once
#include <cstdint>
#include <vector>

#include "common/common.h"
#include "cpu/conv.h"
#include "cpu/pool.h"

namespace fusednet::cpu {

// Packed weights. Layout: panels of 16 output columns; inside a panel, groups of 4 consecutive
// k; inside a group, for each of the 16 columns its 4 k-bytes (64 bytes: one zmm, the operand
// layout of vpdpbusd). K is padded to Kp (multiple of 4), N to Np (multiple of 16) with zeros.
struct QPacked {
  i64 K = 0, N = 0, Kp = 0, Np = 0;
  std::vector<int8_t> data;      // Np/16 panels × Kp/4 groups × 64 bytes
  std::vector<int32_t> colsum;   // [N] Σ_k B[k,j]
  std::vector<int8_t> w;         // [K, N] the unpacked weights (Keras kernel layout), for export
};

// B_s8 [K, N] row-major -> packed. Values must lie in [-127, 127] (checked by the caller).
void qpack_weights(QPacked& P, const int8_t* B, i64 K, i64 N);

// Activation quantization, x [M, K] row-major float -> q [M, ldq] u8 (columns K..ldq-1 zeroed).
// per_row (dynamic): sa[i], zp[i] are computed from row i's min/max (range always includes 0,
// so 0 is exact: padding stays exact) and written; else sa[0], zp[0] are inputs used for all rows.
// q = clamp(round_half_even(x / sa) + zp, 0, 255); NaN quantizes to zp (0.0).
void quantize_rows(uint8_t* q, float* sa, int32_t* zp, const float* x, i64 M, i64 K, i64 ldq,
                   bool per_row, int isa = -1);
// (sa, zp) for the range [lo, hi] (extended to include 0): sa = (hi − lo)/255, zp = round(−lo/sa).
void quant_params(float lo, float hi, float* sa, int32_t* zp);

// acc [M, N] int32 = A_u8 [M, lda] · B (raw sums, no zero-point correction). `isa` caps the path
// (-1 = best available; 0 portable, 1 avx2, 2 avx512-vnni) for tests.
void qgemm_s32(int32_t* acc, const uint8_t* A, i64 lda, const QPacked& B, i64 M, int isa = -1);

// C [M, N] float = epilogue above. sa/zp have M entries when per_row, else one.
// w_scale [N]; bias [N] or null.
void qgemm_f32(float* C, const uint8_t* A, i64 lda, const float* sa, const int32_t* zp,
               bool per_row, const QPacked& B, const float* w_scale, const float* bias, i64 M,
               Act act, int isa = -1);

// Quantized dense: C[M,N] = act(dequant(quant(X) · B) + bias), X float [M, K]; dynamic (per_row)
// or static (sa[0], zp[0] given). N <= 128: each GEMM task quantizes its own rows into its
// reused scratch; wider: a per-call u8 buffer. Same bits either way.
void qdense_forward(float* C, const float* X, const QPacked& B, const float* w_scale,
                    const float* bias, i64 M, bool dynamic, float in_scale, int32_t in_zp, Act act,
                    int isa = -1);

// Quantized conv (NHWC, Keras kernel layout packed as B [kh·kw·C, O]): the input is quantized
// once (dynamic: one (sa, zp) per image; static: the calibrated pair), im2col runs on the u8
// tensor with the zero point as padding (real 0.0), then qgemm_f32.
void qconv2d_forward(float* Y, const float* X, const QPacked& B, const float* w_scale,
                     const float* bias, const ConvGeom& g, bool dynamic, float in_scale,
                     int32_t in_zp, Act act, int isa = -1);

// Quantized conv + MaxPooling2D (inference): Yp [N, pg.Ho, pg.Wo, O] = max_pool(qconv2d(X)), pg
// the pool geometry over the conv output [N, Ho, Wo, O]. The conv output of a group of whole
// images (~128 KB of float) is produced by the epilogue into a reused per-thread buffer and pooled
// (max_pool2d_forward) while still in L2, threads splitting the groups: the full float conv tensor
// is never written. The same bits as qconv2d_forward followed by max_pool2d_forward.
void qconv2d_maxpool_forward(float* Yp, const float* X, const QPacked& B, const float* w_scale,
                             const float* bias, const ConvGeom& g, const PoolGeom& pg, bool dynamic,
                             float in_scale, int32_t in_zp, Act act, int isa = -1);

// Triple-loop int32 reference: acc[i,j] = Σ_k A[i,k]·B[k,j], B the unpacked [K, N] s8 matrix.
void qgemm_s32_ref(int32_t* acc, const uint8_t* A, i64 lda, const int8_t* B, i64 M, i64 N, i64 K);

// The fast path qgemm runs on: "avx512-vnni", "avx2" or "portable" (FUSEDNET_ISA caps it).
const char* qgemm_isa();
int qgemm_isa_level();  // 2, 1 or 0 as above

}  // namespace fusednet::cpu
