// qgemm.h (CUDA) — launchers of the int8 inference kernels in qgemm.cu; the CPU twin and the
// maths are csrc/cpu/qgemm.h. Device pointers, current stream, no synchronisation.
#pragma once
#include <cstdint>

#include "common/common.h"
#include "cpu/conv.h"

namespace fusednet::cuda {

// q [M, ldq] u8 from x [M, K]; per_row: sa[i], zp[i] from row i's min/max (as the CPU), else
// sa[0] = scale, zp[0] = zero_point are written and used for every row.
void quantize_rows(uint8_t* q, float* sa, int32_t* zp, const float* x, i64 M, i64 K, i64 ldq,
                   bool per_row, float scale, int32_t zero_point);

// C [M, N] = act((Σ_k A[i,k]·B[k,j] − zp_i·colsum_j)·(sa_i·w_scale_j) + bias_j); A [M, lda] u8,
// B [K, N] s8 row-major (unpacked), sa/zp per row when per_row else one.
void qgemm_f32(float* C, const uint8_t* A, i64 lda, const float* sa, const int32_t* zp, bool per_row,
               const int8_t* B, const int32_t* colsum, const float* w_scale, const float* bias, i64 M,
               i64 N, i64 K, Act act);

// Y [N, Ho, Wo, O] int8 conv: xq [N, H·W·C] and col [M, Kp] (Kp = K rounded up to 4) are u8
// scratch, sa / zp scratch of N + M entries (per image, then per im2col row).
void qconv2d_forward(float* Y, uint8_t* xq, uint8_t* col, float* sa, int32_t* zp, const float* X,
                     const int8_t* B, const int32_t* colsum, const float* w_scale, const float* bias,
                     const cpu::ConvGeom& g, bool dynamic, float scale, int32_t zero_point, Act act);

}  // namespace fusednet::cuda
