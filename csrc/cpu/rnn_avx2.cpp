// rnn_avx2.cpp — the recurrent schedules of rnn_impl.h compiled for AVX2 (per-function
// target, see cpu/isa.h); called only when cpu::isa_level() says the CPU has it.
#include <algorithm>
#include <cstring>

#include "common/common.h"
#include "cpu/gemm.h"
#include "cpu/isa.h"
#include "cpu/parallel.h"
#include "cpu/rnn.h"
#include "cpu/runtime.h"

#if FN_X86
FN_ISA_BEGIN(FN_TARGET_AVX2)
#define FN_ISA_NS avx2
#include "cpu/rnn_impl.h"
FN_ISA_END
#endif
