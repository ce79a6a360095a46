// gemm.cpp — PLACEHOLDER: reference-only implementation until the packed BLIS-shaped path lands.
#include "cpu/gemm.h"

#include <cmath>

namespace fusednet::cpu {

static inline float apply_act(float v, Act act) {
  switch (act) {
    case Act::Relu: return v > 0.f ? v : 0.f;
    case Act::Sigmoid: return 1.f / (1.f + std::exp(-v));
    case Act::Tanh: return std::tanh(v);
    default: return v;
  }
}

void sgemm_ref(float* C, const float* A, const float* B, const float* bias, i64 M, i64 N, i64 K,
               bool trans_a, bool trans_b, i64 lda, i64 ldb, i64 ldc, float beta, Act act) {
  for (i64 i = 0; i < M; ++i)
    for (i64 j = 0; j < N; ++j) {
      double s = 0;
      for (i64 k = 0; k < K; ++k) {
        float a = trans_a ? A[k * lda + i] : A[i * lda + k];
        float b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        s += double(a) * double(b);
      }
      if (bias) s += bias[j];
      if (beta != 0.f) s += double(beta) * C[i * ldc + j];
      C[i * ldc + j] = apply_act(float(s), act);
    }
}

void sgemm(float* C, const float* A, const float* B, const float* bias, i64 M, i64 N, i64 K,
           bool trans_a, bool trans_b, i64 lda, i64 ldb, i64 ldc, float beta, Act act) {
  sgemm_ref(C, A, B, bias, M, N, K, trans_a, trans_b, lda, ldb, ldc, beta, act);
}

}  // namespace fusednet::cpu
