// rnn.cpp — SimpleRNN / LSTM / GRU forward and backward through time on the CPU (formulas,
// layouts and workspace in rnn.h).
//
// Every matrix product goes through cpu::sgemm (strided lda/ldc address one time step's rows of
// the batch-major [B, T, ·] buffers in place, so no per-step copies or transposes). Between the
// GEMMs, one fused elementwise pass per step handles all gates of a row: read the
// pre-activations, apply σ / a, write the activations back (forward) or the pre-activation
// gradients (backward). The passes split the batch rows over the thread pool; each element is
// computed by exactly one thread with the same arithmetic, so results are bitwise independent of
// the thread count (as the GEMM's, which never splits K).
//
// The schedules live in rnn_impl.h, compiled here for portable x86-64 and in rnn_avx2.cpp /
// rnn_avx512.cpp for wider vectors (the fused passes are mostly sigmoid / tanh; measured for
// LSTM(256) on [32, 100, 128], one core: the forward's passes went from ~45 ms scalar to ~5 ms
// with AVX-512); cpu::isa_level() picks one per call.
// The activations are template parameters for the Keras defaults (a = tanh, σ = sigmoid) so the
// loops vectorise; any other pair from {linear, relu, sigmoid, tanh} runs the same code with the
// choice made per element at run time.
#define FN_ISA_NS portable
#include "cpu/rnn_impl.h"
#undef FN_ISA_NS

#include "cpu/ftz_scope.h"
#include "cpu/isa.h"
#include "cpu/rnn.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {

#define FN_RNN_DECL(ns)                                                                                  \
  namespace ns {                                                                                         \
  void rnn_forward_isa(float*, float*, float*, float*, float*, float*, const float*, const float*,       \
                       const float*, const float*, const float*, const float*, const float*,             \
                       const RnnDims&);                                                                  \
  void rnn_backward_isa(float*, float*, float*, float*, float*, float*, const float*, const float*,      \
                        const float*, const float*, const float*, const float*, const float*,            \
                        const float*, const float*, const float*, const float*, const RnnDims&);         \
  }
#if FN_X86
FN_RNN_DECL(avx2)
FN_RNN_DECL(avx512)
#define FN_PICK(fn) (isa_level() >= 2 ? avx512::fn : isa_level() == 1 ? avx2::fn : portable::fn)
#else
#define FN_PICK(fn) (portable::fn)
#endif
#undef FN_RNN_DECL

void rnn_forward(float* Y, float* hT, float* cT, float* Gw, float* Hw, float* Ew, const float* X,
                 const float* W, const float* R, const float* b, const float* h0, const float* c0,
                 const float* mask, const RnnDims& d) {
  FtzScope ftz_scope;
  set_ftz();
  FN_PICK(rnn_forward_isa)(Y, hT, cT, Gw, Hw, Ew, X, W, R, b, h0, c0, mask, d);
}

void rnn_backward(float* dX, float* dW, float* dR, float* db, float* dh0, float* dc0,
                  const float* dY, const float* dhT, const float* dcT, const float* X,
                  const float* W, const float* R, const float* Gw, const float* Hw, const float* Ew,
                  const float* c0, const float* mask, const RnnDims& d) {
  FtzScope ftz_scope;
  set_ftz();
  FN_PICK(rnn_backward_isa)(dX, dW, dR, db, dh0, dc0, dY, dhT, dcT, X, W, R, Gw, Hw, Ew, c0, mask, d);
}
#undef FN_PICK

}  // namespace fusednet::cpu
