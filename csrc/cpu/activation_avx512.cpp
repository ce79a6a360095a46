// activation_avx512.cpp — activation loops compiled with AVX-512 F/VL/BW/DQ (see
// activation_impl.h); called only when cpu::isa_level() == 2.
#define FN_ISA_NS avx512
#include "cpu/activation_impl.h"
