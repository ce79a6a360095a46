// activation.h — CPU pointwise activations (forward + fused backward) and row softmax.
//
//   activation_forward:  y[i] = f(x[i])                       any shape, flattened to n
//   activation_backward: dx[i] = dy[i] * f'(x[i]) (or via y)  same n
//   softmax / log_softmax over the last axis of a [rows, cols] view, max-subtracted.
// Pointers may alias elementwise (y == x, dx == dy): every loop reads index i before writing it.
#pragma once
#include <string>

#include "common/common.h"
#include "cpu/isa.h"

namespace fusednet::cpu {

enum class ActKind : int {
  Linear = 0, Relu, Relu6, LeakyRelu, Elu, Selu, Gelu, GeluTanh, Sigmoid, HardSigmoid, Tanh,
  Softplus, Softsign, Silu, Mish, Exponential
};

// "relu", "swish" (alias of silu), ... ; throws ValueError naming `op` and the valid kinds.
ActKind act_kind_from_name(const char* op, const std::string& name);
const char* act_kind_name(ActKind k);

void activation_forward(float* y, const float* x, i64 n, ActKind kind, float alpha);
// y may be nullptr: kinds that prefer the saved output then use x-based formulas instead.
void activation_backward(float* dx, const float* dy, const float* x, const float* y, i64 n,
                         ActKind kind, float alpha);

void softmax_forward(float* y, const float* x, i64 rows, i64 cols);
void log_softmax_forward(float* y, const float* x, i64 rows, i64 cols);
// dx = y * (dy - sum_j dy_j y_j)
void softmax_backward(float* dx, const float* dy, const float* y, i64 rows, i64 cols);
// dx = dy - exp(y) * sum_j dy_j    (y = log-softmax output)
void log_softmax_backward(float* dx, const float* dy, const float* y, i64 rows, i64 cols);

// Per-ISA chunk kernels (activation_impl.h compiled three times); selected by cpu::isa_level().
#define FN_ACT_DECLS                                                                        \
  void act_fwd(float* y, const float* x, i64 n, ActKind kind, float alpha);                \
  void act_bwd(float* dx, const float* dy, const float* x, const float* y, i64 n,          \
               ActKind kind, float alpha);                                                  \
  void softmax_rows(float* y, const float* x, i64 rows, i64 cols, bool log);               \
  void softmax_bwd_rows(float* dx, const float* dy, const float* y, i64 rows, i64 cols,    \
                        bool log);
namespace portable { FN_ACT_DECLS }
#if FN_X86  // the ISA files compile to nothing elsewhere
namespace avx2 { FN_ACT_DECLS }
namespace avx512 { FN_ACT_DECLS }
#endif
#undef FN_ACT_DECLS

}  // namespace fusednet::cpu
