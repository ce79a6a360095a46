// attention_avx2.cpp — the attention tile loops of attention_impl.h compiled for AVX2 (per-function
// target, see cpu/isa.h); called only when cpu::isa_level() says the CPU has it.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/common.h"
#include "cpu/attention.h"
#include "cpu/isa.h"

#if FN_X86
FN_ISA_BEGIN(FN_TARGET_AVX2)
#define FN_ISA_NS avx2
#include "cpu/attention_impl.h"
FN_ISA_END
#endif
