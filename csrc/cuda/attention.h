// attention.h (cuda) — launchers of the CUDA twin of csrc/cpu/attention.h: same names, same
// arguments (device pointers), same formulas, layouts, mask and dropout rules.
#pragma once
#include "cpu/attention.h"

namespace fusednet::cuda {

void attention_forward(float* O, float* LSE, const float* Q, const float* K, const float* V,
                       const attn::Dims& d, bool causal, float scale, const attn::Mask& mask,
                       const attn::Dropout& drop);
void attention_backward(float* dQ, float* dK, float* dV, const float* dO, const float* Q, const float* K,
                        const float* V, const float* O, const float* LSE, const attn::Dims& d, bool causal,
                        float scale, const attn::Mask& mask, const attn::Dropout& drop);

}  // namespace fusednet::cuda
