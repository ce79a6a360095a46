// qgemm_avx512.cpp — AVX-512 VNNI int8 micro-kernel (8 rows × 32 columns).
//
//   acc[r, j] += Σ_{k in group} A_u8[r, k] · B_s8[k, j]     one vpdpbusd per (row, 16 columns, 4 k)
// B arrives packed (qgemm.h): per group of 4 k, 16 columns × 4 bytes = one zmm, exactly the
// operand vpdpbusd wants; the row's 4 activation bytes are broadcast as one dword. vpdpbusd
// (not the saturating vpdpbusds) adds the four u8·s8 products into the s32 lane exactly.
// 16 accumulators + 2 B vectors + 1 broadcast: no spills. Compiled for AVX-512 F/VL/BW/DQ+VNNI
// inside an FN_ISA_BEGIN region (cpu/isa.h); called only when CPUID reports avx512vnni.
#include <immintrin.h>

#include <cstdint>

#include "common/common.h"
#include "cpu/isa.h"

#if FN_X86
FN_ISA_BEGIN("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni,avx2,fma,f16c")

namespace fusednet::cpu::qgemm_detail {
namespace avx512 {
namespace {

template <int R, int NP>
inline void qblock_avx512(int32_t* acc, i64 ldacc, const uint8_t* A, i64 lda, const int8_t* Bp,
                          i64 Kp) {
  const i64 G = Kp / 4, ps = Kp * 16;
  __m512i c[R][NP];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < NP; ++q) c[r][q] = _mm512_setzero_si512();
  for (i64 g = 0; g < G; ++g) {
    __m512i b[NP];
    for (int q = 0; q < NP; ++q) b[q] = _mm512_loadu_si512(Bp + q * ps + g * 64);
    for (int r = 0; r < R; ++r) {
      int32_t a4;
      __builtin_memcpy(&a4, A + r * lda + 4 * g, 4);
      const __m512i a = _mm512_set1_epi32(a4);
      for (int q = 0; q < NP; ++q) c[r][q] = _mm512_dpbusd_epi32(c[r][q], a, b[q]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < NP; ++q) _mm512_storeu_si512(acc + r * ldacc + q * 16, c[r][q]);
}

template <int NP>
inline void qrows_avx512(int32_t* acc, i64 ldacc, const uint8_t* A, i64 lda, int rows,
                         const int8_t* Bp, i64 Kp) {
  switch (rows) {
    case 8: return qblock_avx512<8, NP>(acc, ldacc, A, lda, Bp, Kp);
    case 7: return qblock_avx512<7, NP>(acc, ldacc, A, lda, Bp, Kp);
    case 6: return qblock_avx512<6, NP>(acc, ldacc, A, lda, Bp, Kp);
    case 5: return qblock_avx512<5, NP>(acc, ldacc, A, lda, Bp, Kp);
    case 4: return qblock_avx512<4, NP>(acc, ldacc, A, lda, Bp, Kp);
    case 3: return qblock_avx512<3, NP>(acc, ldacc, A, lda, Bp, Kp);
    case 2: return qblock_avx512<2, NP>(acc, ldacc, A, lda, Bp, Kp);
    default: return qblock_avx512<1, NP>(acc, ldacc, A, lda, Bp, Kp);
  }
}

}  // namespace
}  // namespace avx512

void qgemm_block_avx512vnni(int32_t* acc, i64 ldacc, const uint8_t* A, i64 lda, int rows,
                            const int8_t* Bp, i64 Kp, int np, void*) {
  const i64 ps = Kp * 16;
  int p = 0;
  for (; p + 2 <= np; p += 2)
    avx512::qrows_avx512<2>(acc + p * 16, ldacc, A, lda, rows, Bp + p * ps, Kp);
  if (p < np) avx512::qrows_avx512<1>(acc + p * 16, ldacc, A, lda, rows, Bp + p * ps, Kp);
}

}  // namespace fusednet::cpu::qgemm_detail

FN_ISA_END
#endif
