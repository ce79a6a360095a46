// depthwise_avx2.cpp — the DepthwiseConv2D row loops of depthwise_impl.h compiled for AVX2
// (per-function target, see cpu/isa.h); called only when cpu::isa_level() says the CPU has it.
#include <cstring>

#include "common/common.h"
#include "cpu/conv.h"
#include "cpu/isa.h"

#if FN_X86
FN_ISA_BEGIN(FN_TARGET_AVX2)
#define FN_ISA_NS avx2
#include "cpu/depthwise_impl.h"
#undef FN_ISA_NS
FN_ISA_END
#endif
