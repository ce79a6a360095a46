// activation.cpp — CPU activations: kind names, ISA selection and thread-pool chunking.
//
//   y = f(x), dx = dy * f'(.) over n contiguous floats; softmax over [rows, cols] rows.
// The loops themselves live in activation_impl.h, compiled here for portable x86-64 and in
// activation_avx2.cpp / activation_avx512.cpp for wider vectors; cpu::isa_level() (CPUID, capped by
// FUSEDNET_ISA) picks one. Work is split into fixed chunks (pointwise) or whole rows (softmax), so
// results are bitwise independent of the thread count. Arrays below kParallelMin elements stay on
// one thread: a fork/join costs microseconds, more than the whole op on small inputs.
#define FN_ISA_NS portable
#include "cpu/activation_impl.h"
#undef FN_ISA_NS


#include <cstring>

#include "cpu/isa.h"
#include "cpu/runtime.h"
#include "cpu/parallel.h"

namespace fusednet::cpu {

namespace {

constexpr i64 kParallelMin = 1 << 15;  // elements
constexpr i64 kChunk = 1 << 14;        // elements per parallel work item

struct NameKind {
  const char* name;
  ActKind kind;
};
constexpr NameKind kNames[] = {
    {"linear", ActKind::Linear},       {"relu", ActKind::Relu},
    {"relu6", ActKind::Relu6},         {"leaky_relu", ActKind::LeakyRelu},
    {"elu", ActKind::Elu},             {"selu", ActKind::Selu},
    {"gelu", ActKind::Gelu},           {"gelu_tanh", ActKind::GeluTanh},
    {"sigmoid", ActKind::Sigmoid},     {"hard_sigmoid", ActKind::HardSigmoid},
    {"tanh", ActKind::Tanh},           {"softplus", ActKind::Softplus},
    {"softsign", ActKind::Softsign},   {"silu", ActKind::Silu},
    {"mish", ActKind::Mish},           {"exponential", ActKind::Exponential},
};

using FwdFn = void (*)(float*, const float*, i64, ActKind, float);
using BwdFn = void (*)(float*, const float*, const float*, const float*, i64, ActKind, float);
using SmFn = void (*)(float*, const float*, i64, i64, bool);
using SmBwdFn = void (*)(float*, const float*, const float*, i64, i64, bool);

// Non-x86 hosts have only the portable loops (the ISA files compile to nothing there).
#if FN_X86
#define FN_PICK(fn) (isa_level() >= 2 ? avx512::fn : isa_level() == 1 ? avx2::fn : portable::fn)
#else
#define FN_PICK(fn) (portable::fn)
#endif
FwdFn pick_fwd() { return FN_PICK(act_fwd); }
BwdFn pick_bwd() { return FN_PICK(act_bwd); }
SmFn pick_sm() { return FN_PICK(softmax_rows); }
SmBwdFn pick_sm_bwd() { return FN_PICK(softmax_bwd_rows); }
#undef FN_PICK

// Runs body(lo, hi) over [0, n) in fixed chunks, in parallel when n is large enough.
template <class Body>
void chunked(i64 n, i64 chunk, bool parallel, Body body) {
  const i64 nchunks = (n + chunk - 1) / chunk;
  if (!parallel || nchunks <= 1 || num_threads() <= 1) {
    body(0, n);
    return;
  }
  parallel_for(nchunks, num_threads(), [&](i64 c) {
    const i64 lo = c * chunk;
    const i64 hi = lo + chunk < n ? lo + chunk : n;
    body(lo, hi);
  });
}

}  // namespace

ActKind act_kind_from_name(const char* op, const std::string& name) {
  if (name == "swish") return ActKind::Silu;
  if (name == "none" || name == "identity") return ActKind::Linear;
  std::string valid;
  for (const auto& nk : kNames) {
    if (name == nk.name) return nk.kind;
    valid += valid.empty() ? "" : ", ";
    valid += nk.name;
  }
  throw ValueError(std::string(op) + ": unknown activation '" + name + "' (valid: " + valid + ")");
}

const char* act_kind_name(ActKind k) {
  for (const auto& nk : kNames)
    if (nk.kind == k) return nk.name;
  return "?";
}

void activation_forward(float* y, const float* x, i64 n, ActKind kind, float alpha) {
  if (n <= 0) return;
  FwdFn f = pick_fwd();
  chunked(n, kChunk, n >= kParallelMin, [&](i64 lo, i64 hi) { f(y + lo, x + lo, hi - lo, kind, alpha); });
}

void activation_backward(float* dx, const float* dy, const float* x, const float* y, i64 n,
                         ActKind kind, float alpha) {
  if (n <= 0) return;
  BwdFn f = pick_bwd();
  chunked(n, kChunk, n >= kParallelMin, [&](i64 lo, i64 hi) {
    f(dx + lo, dy + lo, x + lo, y ? y + lo : nullptr, hi - lo, kind, alpha);
  });
}

static void softmax_any(float* y, const float* x, i64 rows, i64 cols, bool log) {
  if (rows <= 0 || cols <= 0) return;
  SmFn f = pick_sm();
  const i64 rows_per = cols >= kChunk ? 1 : (kChunk + cols - 1) / cols;
  chunked(rows, rows_per, rows * cols >= kParallelMin, [&](i64 lo, i64 hi) {
    f(y + lo * cols, x + lo * cols, hi - lo, cols, log);
  });
}

void softmax_forward(float* y, const float* x, i64 rows, i64 cols) { softmax_any(y, x, rows, cols, false); }
void log_softmax_forward(float* y, const float* x, i64 rows, i64 cols) { softmax_any(y, x, rows, cols, true); }

static void softmax_bwd_any(float* dx, const float* dy, const float* y, i64 rows, i64 cols, bool log) {
  if (rows <= 0 || cols <= 0) return;
  SmBwdFn f = pick_sm_bwd();
  const i64 rows_per = cols >= kChunk ? 1 : (kChunk + cols - 1) / cols;
  chunked(rows, rows_per, rows * cols >= kParallelMin, [&](i64 lo, i64 hi) {
    f(dx + lo * cols, dy + lo * cols, y + lo * cols, hi - lo, cols, log);
  });
}

void softmax_backward(float* dx, const float* dy, const float* y, i64 rows, i64 cols) {
  softmax_bwd_any(dx, dy, y, rows, cols, false);
}
void log_softmax_backward(float* dx, const float* dy, const float* y, i64 rows, i64 cols) {
  softmax_bwd_any(dx, dy, y, rows, cols, true);
}

}  // namespace fusednet::cpu
