// ftz_scope.h — RAII guard that restores the calling thread's MXCSR (FTZ/DAZ) when a kernel
// returns. Kernels call set_ftz() on entry to every parallel region, and the pool's calling thread (and
// every serial path) is the Python thread, whose NumPy maths must keep IEEE denormals.
#pragma once
#include <xmmintrin.h>

namespace fusednet::cpu {
struct FtzScope {
  unsigned saved = _mm_getcsr();
  ~FtzScope() { _mm_setcsr(saved); }
};
}  // namespace fusednet::cpu
