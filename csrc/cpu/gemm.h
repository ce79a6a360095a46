// gemm.h — CPU single-precision GEMM with a fused epilogue (BLIS-shaped; see gemm.cpp).
// Thread count: cpu::num_threads(); results are bitwise independent of it (K is never split).
//
//   C[M,N] = beta*C + op(A)·op(B) (+ bias[N] broadcast over rows), then act(C) elementwise
//   op(A) is A[M,K] (lda = row stride) or, with trans_a, A^T where A is stored [K,M]
//   op(B) is B[K,N] (ldb)             or, with trans_b, B^T where B is stored [N,K]
// Row-major throughout. The activation is applied after bias and after the beta term.
#pragma once
#include "common/common.h"

namespace fusednet::cpu {

void sgemm(float* C, const float* A, const float* B, const float* bias, i64 M, i64 N, i64 K,
           bool trans_a, bool trans_b, i64 lda, i64 ldb, i64 ldc, float beta = 0.f,
           Act act = Act::None);

// Contiguous convenience overload (lda/ldb/ldc implied by the shapes).
inline void sgemm(float* C, const float* A, const float* B, const float* bias, i64 M, i64 N, i64 K,
                  bool trans_a = false, bool trans_b = false, float beta = 0.f, Act act = Act::None) {
  sgemm(C, A, B, bias, M, N, K, trans_a, trans_b, trans_a ? M : K, trans_b ? K : N, N, beta, act);
}

// Batched GEMM with NumPy-broadcast batch axes, expressed by the caller as element offsets:
//   C[b] = beta*C[b] + op(A + a_off[b]) · op(B + b_off[b]),  C[b] at C + b*c_stride,  b < batch.
// Every C[b] is exactly sgemm(...) on that matrix (same bits as the 2-D call; a broadcast
// operand has repeated offsets). Small matrices (M·N·K under the serial threshold) are spread
// over the threads one whole matrix per task; larger ones run in batch order, each split over
// M/N by sgemm itself. Neither choice changes any bit, so results stay thread-count independent.
void sgemm_batched(float* C, const float* A, const float* B, const i64* a_off, const i64* b_off,
                   i64 batch, i64 M, i64 N, i64 K, bool trans_a, bool trans_b, i64 lda, i64 ldb,
                   i64 ldc, i64 c_stride, float beta = 0.f);

// Triple-loop reference (double accumulation) used by tests to check the fast path.
void sgemm_ref(float* C, const float* A, const float* B, const float* bias, i64 M, i64 N, i64 K,
               bool trans_a, bool trans_b, i64 lda, i64 ldb, i64 ldc, float beta, Act act);

// The instruction set the fast path runs on ("avx512", "avx2", "portable"; FUSEDNET_ISA caps it).
const char* sgemm_isa();
// Testing hook: 0 = choose by shape whether a non-transposed operand is read in place or packed,
// 1 = always pack, 2 = never pack a non-transposed operand. Results are bitwise identical.
void sgemm_set_direct(int mode);

// Measured FP32 FMA peak (GFLOP/s) of `threads` threads running independent vector FMA chains for
// `seconds` each; 0 on the portable path. Used by bench/ to report the fraction of peak.
double fma_peak_gflops(int threads, double seconds = 0.2);

}  // namespace fusednet::cpu
