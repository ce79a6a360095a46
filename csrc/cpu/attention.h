// attention.h — fused scaled-dot-product attention (flash-attention style), forward + backward.
//
// Per batch b and head h, with S = scale·Q·Kᵀ (scale = 1/sqrt(D) by default):
//   S'ᵢⱼ = -inf            if causal and j > i      (top-left aligned, as Keras/torch tril)
//        = -1e9            if not mask[b,i,j] > 0.5 (Keras's masked softmax: where(mask, s, -1e9))
//        = Sᵢⱼ             otherwise
//   Pᵢⱼ  = exp(S'ᵢⱼ - LSEᵢ),   LSEᵢ = log Σⱼ exp(S'ᵢⱼ)      (log-sum-exp, saved for backward)
//   Oᵢ   = Σⱼ P̃ᵢⱼ Vⱼ,  P̃ = P ∘ keep / (1-rate)          (dropout on the probabilities)
// Backward (Dᵢ = dOᵢ·Oᵢ = Σⱼ Pᵢⱼ dPᵢⱼ, which holds with dropout too):
//   dVⱼ = Σᵢ P̃ᵢⱼ dOᵢ,   dPᵢⱼ = (dOᵢ·Vⱼ)·keepᵢⱼ/(1-rate),   dSᵢⱼ = Pᵢⱼ (dPᵢⱼ - Dᵢ)
//   dQᵢ = scale Σⱼ dSᵢⱼ Kⱼ,   dKⱼ = scale Σᵢ dSᵢⱼ Qᵢ
//
// Layout. Q [B, H, Tq, D], K [B, H, Tk, D], V [B, H, Tk, Dv], O/dO [B, H, Tq, Dv] ("bhtd", torch's
// scaled_dot_product_attention), or the same tensors as [B, T, H, D] ("bthd"): that is what a
// projection GEMM [B·T, d_model]·[d_model, H·D] produces and what the output projection reads,
// so MultiHeadAttention calls the kernel with no transposes. Only the strides differ. LSE is
// [B, H, Tq] in both. mask (optional) is float [Bm, Tqm, Tkm] with each of Bm/Tqm/Tkm either 1
// (broadcast) or the full size (Keras's attention_mask [B, Tq, Tk], or a padding mask [B, 1, Tk]).
//
// Why shaped so (O(T) memory): nothing of size Tq×Tk exists. The forward walks key blocks of
// kBK = 128 keys for a block of kBQ = 64 query rows, keeping a running max mᵢ, running sum lᵢ and the
// unnormalised output row (online softmax); causal key blocks entirely above the diagonal are
// never visited. The backward recomputes P block by block from LSE in two passes, so no
// gradient is ever shared between threads (no atomics, bitwise independent of thread count):
//   pass 1: one task per (b, h, key block) accumulates that block's dK, dV over the query rows;
//   pass 2: one task per (b, h, query block) accumulates dQ over the key blocks.
// Scratch is per task: two kBQ×kBK tiles and the kBQ×Dv (kBQ×D) accumulators.
// Dropout: element (b, h, i, j) has Philox index ((b·H + h)·Tq + i)·Tk + j in the stream
// (seed, offset), kept iff (lane >> 8) >= ceil(rate·2^24) — the rule of random.h's dropout.
// Argument order: outputs, inputs, sizes, parameters.
#pragma once
#include <cstdint>

#include "common/common.h"

namespace fusednet::attn {

struct Dims {
  i64 B = 0, H = 0, Tq = 0, Tk = 0, D = 0, Dv = 0;
  bool bthd = false;  // false: [B, H, T, D]; true: [B, T, H, D]
  // Packed self-attention ("bthd" only): Q, K, V are the thirds of one [B, T, 3, H, D] buffer (the
  // output of one fused QKV projection GEMM), so their token stride is ld = 3·H·D; dQ, dK, dV are
  // written with the same strides into one [B, T, 3, H, D] gradient. 0: strides from the layout.
  i64 ld = 0;
};

struct Mask {  // element (b, i, j) at p[b*sb + i*si + j*sj]; p == nullptr: no mask
  const float* p = nullptr;
  i64 sb = 0, si = 0, sj = 0;
};

struct Dropout {  // rate == 0: none
  double rate = 0.0;
  uint64_t seed = 0, offset = 0;
};

// Element strides of a [B, H, T, X] tensor in the given layout.
struct Strides {
  i64 b, h, t;
};
inline Strides strides(const Dims& d, i64 T, i64 X) {
  return d.bthd ? Strides{T * d.H * X, X, d.H * X} : Strides{d.H * T * X, T * X, X};
}
// Strides of Q, K, V (and of their gradients): the packed token stride when set.
inline Strides in_strides(const Dims& d, i64 T, i64 X) {
  return d.ld ? Strides{T * d.ld, X, d.ld} : strides(d, T, X);
}

}  // namespace fusednet::attn

namespace fusednet::cpu {

void attention_forward(float* O, float* LSE, const float* Q, const float* K, const float* V,
                       const attn::Dims& d, bool causal, float scale, const attn::Mask& mask,
                       const attn::Dropout& drop);

// dQ, dK, dV have the shapes (and layout) of Q, K, V.
void attention_backward(float* dQ, float* dK, float* dV, const float* dO, const float* Q, const float* K,
                        const float* V, const float* O, const float* LSE, const attn::Dims& d, bool causal,
                        float scale, const attn::Mask& mask, const attn::Dropout& drop);

// Per-ISA tile loops (attention_impl.h compiled three times; attention.cpp picks by isa_level()).
#define FN_ATTN_DECLS                                                                              \
  void attn_fwd_rows(float* S, const float* KD, float* acc, float* m, float* l, i64 nq, i64 nk, i64 ld, \
                     i64 Dv);                                                                      \
  void attn_bwd_rows(float* S, float* dP, const float* KD, const float* lse, const float* Di, i64 nq,   \
                     i64 nk, i64 ld);
namespace portable { FN_ATTN_DECLS }
#if defined(__x86_64__) || defined(_M_X64)  // the ISA files compile to nothing elsewhere
namespace avx2 { FN_ATTN_DECLS }
namespace avx512 { FN_ATTN_DECLS }
#endif
#undef FN_ATTN_DECLS

}  // namespace fusednet::cpu
