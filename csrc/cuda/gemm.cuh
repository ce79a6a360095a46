// gemm.cuh — device building blocks of the CUDA SGEMM (included by gemm.cu only).
//
//   C[M,N] = act(beta*C + op(A)·op(B) + bias[N]),   row-major, lda/ldb/ldc = row strides
//   op(A)[m,k] = trans_a ? A[k*lda + m] : A[m*lda + k]
//   op(B)[k,n] = trans_b ? B[n*ldb + k] : B[k*ldb + n]
//
// Both kernels stage a BM×BK slice of op(A) and a BK×BN slice of op(B) in shared memory, always
// stored k-major (As[k][m], Bs[k][n]) whatever the transposes are: the inner loops then read
// contiguous runs along m and n, and the transposes are absorbed once per tile by the loader
// (TileLoader below: a direct float4 store when the global contiguous dimension is m/n, a
// scattered transposed store when it is k). The loader reads global memory as float4 when the
// base pointer is 16-byte aligned and the leading dimension is a multiple of 4 (then every float4
// it touches is aligned, because tile origins are multiples of 4); otherwise, and for the ragged
// last float4 of a row, it falls back to guarded scalar loads. Out-of-range elements load as 0,
// so partial tiles contribute nothing and the epilogue simply skips out-of-range stores.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common/common.h"

namespace fusednet::cuda::gemm_detail {

// Epilogue activation. Same formulas as the CPU reference (cpu/gemm.cpp); NaN propagates
// except through relu, where (like the CPU's `v > 0 ? v : 0`) it becomes 0.
__device__ __forceinline__ float apply_act(float v, int act) {
  switch (act) {
    case 1: return v > 0.f ? v : 0.f;
    case 2: return 1.f / (1.f + expf(-v));
    case 3: return tanhf(v);
    default: return v;
  }
}

// act'(z) expressed through the saved output y = act(z) (DESIGN: backward fuses the derivative).
__device__ __forceinline__ float act_grad_from_y(float y, int act) {
  switch (act) {
    case 1: return y > 0.f ? 1.f : 0.f;
    case 2: return y * (1.f - y);
    case 3: return 1.f - y * y;
    default: return 1.f;
  }
}

// Round-to-nearest (ties away) conversion to TF32, kept in a 32-bit register (sm_80+).
__device__ __forceinline__ uint32_t to_tf32(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t u;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(u) : "f"(x));
  return u;
#else
  return __float_as_uint(x);
#endif
}

// Copies an R×CC block of a row-major global matrix (row stride ld) into registers, then into a
// k-major shared tile. "Rows"/"columns" here are the global matrix's own: for op(A) without
// trans_a the global rows are m and the contiguous columns are k, so the smem store transposes.
//   NT: threads in the block. Each thread owns ceil(R*CC/4 / NT) float4 slots.
//   TRANS_STORE=false: smem[r*stride + c]   (global contiguous dim is the smem inner dim)
//   TRANS_STORE=true : smem[c*stride + r]   (global contiguous dim is k)
//   TF32: round each value to TF32 on the way into shared memory (tensor-core path).
template <int R, int CC, int NT, bool TRANS_STORE, bool TF32>
struct TileLoader {
  static_assert(CC % 4 == 0, "tile width must be a multiple of 4");
  static constexpr int kSlots = R * CC / 4;
  static constexpr int kIters = (kSlots + NT - 1) / NT;
  float4 v[kIters];

  // (r0, c0): tile origin in the global matrix; rows/cols: the global extents (for guards).
  // vec: float4 loads allowed (base 16B-aligned and ld % 4 == 0; c0 is a multiple of 4).
  __device__ __forceinline__ void load(const float* __restrict__ p, int64_t ld, int64_t r0,
                                       int64_t c0, int64_t rows, int64_t cols, bool vec, int tid) {
#pragma unroll
    for (int it = 0; it < kIters; ++it) {
      const int idx = tid + it * NT;
      float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
      if (kSlots % NT == 0 || idx < kSlots) {
        const int r = idx / (CC / 4);
        const int c = (idx % (CC / 4)) * 4;
        const int64_t gr = r0 + r, gc = c0 + c;
        if (gr < rows && gc < cols) {
          const float* src = p + gr * ld + gc;
          if (vec && gc + 3 < cols) {
            x = __ldg(reinterpret_cast<const float4*>(src));
          } else {
            x.x = __ldg(src);
            if (gc + 1 < cols) x.y = __ldg(src + 1);
            if (gc + 2 < cols) x.z = __ldg(src + 2);
            if (gc + 3 < cols) x.w = __ldg(src + 3);
          }
        }
      }
      v[it] = x;
    }
  }

  __device__ __forceinline__ void store(float* __restrict__ s, int stride, int tid) const {
#pragma unroll
    for (int it = 0; it < kIters; ++it) {
      const int idx = tid + it * NT;
      if (kSlots % NT == 0 || idx < kSlots) {
        const int r = idx / (CC / 4);
        const int c = (idx % (CC / 4)) * 4;
        float4 x = v[it];
        if (TF32) {
          x.x = __uint_as_float(to_tf32(x.x));
          x.y = __uint_as_float(to_tf32(x.y));
          x.z = __uint_as_float(to_tf32(x.z));
          x.w = __uint_as_float(to_tf32(x.w));
        }
        if (!TRANS_STORE) {
          *reinterpret_cast<float4*>(s + r * stride + c) = x;
        } else {
          s[(c + 0) * stride + r] = x.x;
          s[(c + 1) * stride + r] = x.y;
          s[(c + 2) * stride + r] = x.z;
          s[(c + 3) * stride + r] = x.w;
        }
      }
    }
  }
};

// Everything a GEMM kernel needs, passed by value (lives in the constant parameter bank).
struct GemmParams {
  float* C;
  const float* A;
  const float* B;
  const float* bias;
  int64_t M, N, K, lda, ldb, ldc;
  float beta;
  int act;
  bool vec_a, vec_b, vec_c;  // float4 global access allowed for A / B / C
  int64_t tiles_n;           // number of BN-wide column tiles (block id -> (tm, tn))
  // Strided batch (blockIdx.y = matrix): A/B/C advance by sa/sb/sc elements per matrix. All 0
  // for a single GEMM (gridDim.y == 1), so the plain path computes exactly what it did before.
  int64_t sa = 0, sb = 0, sc = 0;
};

// The kernels' view of one matrix of a strided batch: the params with A/B/C advanced.
__device__ __forceinline__ GemmParams batch_slice(const GemmParams& p0) {
  GemmParams p = p0;
  const int64_t z = static_cast<int64_t>(blockIdx.y);
  p.A += z * p.sa;
  p.B += z * p.sb;
  p.C += z * p.sc;
  return p;
}

// Writes one element of the epilogue: v = acc + bias + beta*C, then act. Reads C only when
// beta != 0 so an uninitialised (NaN-poisoned) C is never read.
__device__ __forceinline__ float epilogue_value(const GemmParams& p, float acc, int64_t gm,
                                                int64_t gn) {
  float v = acc;
  if (p.bias) v += __ldg(p.bias + gn);
  if (p.beta != 0.f) v += p.beta * p.C[gm * p.ldc + gn];
  return apply_act(v, p.act);
}

}  // namespace fusednet::cuda::gemm_detail
