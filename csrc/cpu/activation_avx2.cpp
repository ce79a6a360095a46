// activation_avx2.cpp — activation loops compiled with -mavx2 -mfma (see activation_impl.h);
// called only when cpu::isa_level() >= 1.
#define FN_ISA_NS avx2
#include "cpu/activation_impl.h"
