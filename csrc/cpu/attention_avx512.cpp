// attention_avx512.cpp — the attention tile loops of attention_impl.h compiled for AVX512 (per-function
// target, see cpu/isa.h); called only when cpu::isa_level() says the CPU has it.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/common.h"
#include "cpu/attention.h"
#include "cpu/isa.h"

#if FN_X86
FN_ISA_BEGIN(FN_TARGET_AVX512)
#define FN_ISA_NS avx512
#include "cpu/attention_impl.h"
FN_ISA_END
#endif
