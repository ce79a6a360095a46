// ftz_scope.h — the calling thread's floating-point control register (x86-64 MXCSR, AArch64
// FPCR), and an RAII guard that restores it when a kernel returns. Kernels call set_ftz() on entry
// to every parallel region, and the pool's calling thread (and every serial path) is the Python thread,
// whose NumPy maths must keep IEEE denormals.
//
// This is the only header that touches the register: a generic file that included
// <xmmintrin.h> for _mm_getcsr itself would not compile on aarch64 (issue 16).
#pragma once
#include <cstdint>

#include "cpu/isa.h"

#if FN_X86
#include <xmmintrin.h>
#endif

namespace fusednet::cpu {

#if FN_X86
using FpControl = unsigned;
inline FpControl fp_control_get() { return _mm_getcsr(); }
inline void fp_control_set(FpControl v) { _mm_setcsr(v); }
#elif defined(__aarch64__)
// FPCR.FZ (bit 24) flushes denormal inputs and results to zero: MXCSR's FTZ and DAZ in one bit.
// Inline asm rather than GCC's __builtin_aarch64_{get,set}_fpcr64 so clang builds too; the memory
// clobber keeps the kernel's stores on the right side of the write.
using FpControl = uint64_t;
constexpr FpControl kFpcrFz = FpControl(1) << 24;
inline FpControl fp_control_get() {
  FpControl v;
  __asm__ __volatile__("mrs %0, fpcr" : "=r"(v) : : "memory");
  return v;
}
inline void fp_control_set(FpControl v) { __asm__ __volatile__("msr fpcr, %0" : : "r"(v) : "memory"); }
#else
// No known flush-to-zero control on this target: kernels run with IEEE denormals, which only
// costs speed (and then the same on every thread, so results stay thread-count independent).
using FpControl = int;
inline FpControl fp_control_get() { return 0; }
inline void fp_control_set(FpControl) {}
#endif

struct FtzScope {
  FpControl saved = fp_control_get();
  ~FtzScope() { fp_control_set(saved); }
};

}  // namespace fusednet::cpu
