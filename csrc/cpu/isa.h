// isa.h — the one rule for instruction-set-specific code (read this before writing a kernel).
//
// The shipped module runs on any x86-64 (and any non-x86 host): AVX2 / AVX-512 code is compiled
// into *_avx2.cpp / *_avx512.cpp files and called only after cpu::isa_level() (CPUID) says so.
// Those files are compiled with the baseline flags; the wider ISA is switched on per function by
// FN_ISA_BEGIN / FN_ISA_END (#pragma GCC target) *after every #include*. Why not -mavx512f on the
// file: every inline function or template the file instantiates from a shared header
// (std::vector<long>'s constructor, std::chrono, std::min ...) is then compiled with AVX-512 too,
// emitted as a COMDAT symbol, and the linker keeps one copy for the whole module — possibly the
// AVX-512 one, which the generic code then calls without any CPUID check (SIGILL on Zen 3: the
// bug this rule fixes). Under the pragma only functions *defined* inside the region get the ISA;
// shared templates keep the baseline definition and are inlined into the wide code as usual.
//
// Layout of an ISA file:
//   #include <...>            every system and project header, first
//   #include "cpu/isa.h"
//   #if FN_X86
//   FN_ISA_BEGIN(FN_TARGET_AVX512)
//   namespace ... avx512 ... { code }   names carry the ISA: an `avx2`/`avx512` namespace or an
//   FN_ISA_END                          `_avx2`/`_avx512` suffix (the ISA test relies on it)
//   #endif
// Headers meant to be compiled once per ISA (activation_impl.h, gemm_ukernel.h) are included
// inside the region and may only include headers the file already included above it.
// tests/test_isa.py enforces the rule on the built module: any function holding VEX/EVEX code
// must carry an ISA name (and AVX2 code must hold no EVEX), and the smoke suite runs under
// qemu-x86_64 with CPU models that lack AVX-512 and AVX2.
#pragma once

#if defined(__x86_64__) || defined(_M_X64)
#define FN_X86 1
#else
#define FN_X86 0
#endif

#define FN_PRAGMA_(x) _Pragma(#x)
#define FN_PRAGMA(x) FN_PRAGMA_(x)

#define FN_TARGET_AVX2 "avx2,fma,f16c"
#define FN_TARGET_AVX512 "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,f16c"

#if defined(__clang__)
#define FN_ISA_BEGIN(t) FN_PRAGMA(clang attribute push(__attribute__((target(t))), apply_to = function))
#define FN_ISA_END FN_PRAGMA(clang attribute pop)
#else
#define FN_ISA_BEGIN(t) FN_PRAGMA(GCC push_options) FN_PRAGMA(GCC target(t))
#define FN_ISA_END FN_PRAGMA(GCC pop_options)
#endif
