// winograd.h (cuda) — launchers of the CUDA twin of csrc/cpu/winograd.h: same names, arguments
// (device pointers), formulas and layouts (U [36, C, O], X / Y NHWC).
#pragma once
#include "cpu/winograd.h"

namespace fusednet::cuda {

void winograd_weights(float* U, const float* Wt, i64 C, i64 O);
void winograd_forward(float* Y, const float* X, const float* U, const float* bias, const cpu::ConvGeom& g, Act act);

}  // namespace fusednet::cuda
