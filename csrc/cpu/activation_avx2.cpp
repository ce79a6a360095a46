// activation_avx2.cpp — the activation loops of activation_impl.h compiled for AVX2 (per-function
// target, see cpu/isa.h); called only when cpu::isa_level() says the CPU has it.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "common/common.h"
#include "cpu/activation.h"
#include "cpu/isa.h"

#if FN_X86
FN_ISA_BEGIN(FN_TARGET_AVX2)
#define FN_ISA_NS avx2
#include "cpu/activation_impl.h"
FN_ISA_END
#endif
