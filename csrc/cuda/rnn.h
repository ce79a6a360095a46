// rnn.h (cuda) — host-side launchers of the recurrent family (plain C++: includable without nvcc).
// Same names, raw-pointer signatures and contracts as csrc/cpu/rnn.h (formulas, layouts and the
// workspace there); all pointers are device pointers, work is enqueued on cuda::current_stream()
// without synchronising. Only compiled when FUSEDNET_WITH_CUDA is defined.
#pragma once
#include "common/common.h"
#include "cpu/rnn.h"  // RnnDims, RnnKind

namespace fusednet::cuda {

void rnn_forward(float* Y, float* hT, float* cT, float* Gw, float* Hw, float* Ew, const float* X,
                 const float* W, const float* R, const float* b, const float* h0, const float* c0,
                 const float* mask, const ::fusednet::cpu::RnnDims& d);

void rnn_backward(float* dX, float* dW, float* dR, float* db, float* dh0, float* dc0,
                  const float* dY, const float* dhT, const float* dcT, const float* X,
                  const float* W, const float* R, const float* Gw, const float* Hw, const float* Ew,
                  const float* c0, const float* mask, const ::fusednet::cpu::RnnDims& d);

}  // namespace fusednet::cuda
