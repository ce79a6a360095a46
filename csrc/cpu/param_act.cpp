// param_act.cpp — CPU PReLU and Keras ReLU (formulas in param_act.h). Elementwise passes in
// static blocks over the thread pool (each element from its own index: thread-count invariant);
// PReLU's dAlpha is per-element terms in a scratch buffer, then cpu::reduce (double sums in a
// fixed order), so it does not depend on the threads either.
#include "cpu/param_act.h"

#include <algorithm>
#include <vector>

#include "cpu/elementwise.h"
#include "cpu/ftz_scope.h"
#include "cpu/parallel.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {

namespace {

constexpr i64 kBlock = 16384;

// f(i0, i1) over [0, n) in blocks; parallel above 4 blocks.
template <class F>
void for_blocks(i64 n, F&& f) {
  FtzScope guard;
  const i64 nb = (n + kBlock - 1) / kBlock;
  if (nb <= 4 || num_threads() <= 1 || in_parallel()) {
    set_ftz();
    for (i64 b = 0; b < nb; ++b) f(b * kBlock, std::min(n, (b + 1) * kBlock));
    return;
  }
  parallel_for(nb, num_threads(), [&](i64 b) { f(b * kBlock, std::min(n, (b + 1) * kBlock)); });
}

// alpha index of every per-sample position (D entries): the div/mod work once per call.
std::vector<i64> alpha_table(const PreluMap& m) {
  const i64 D = m.D();
  std::vector<i64> t(size_t(std::max<i64>(D, 1)));
  for (i64 d = 0; d < D; ++d) t[size_t(d)] = prelu_alpha_index(m, d);
  return t;
}

}  // namespace

void prelu_forward(float* Y, const float* X, const float* alpha, i64 N, const PreluMap& m) {
  const i64 D = m.D(), n = N * D;
  if (n == 0) return;
  const std::vector<i64> at = alpha_table(m);
  for_blocks(n, [&](i64 i0, i64 i1) {
    for (i64 i = i0; i < i1; ++i) {
      const float x = X[i];
      Y[i] = x > 0.f ? x : alpha[at[size_t(i % D)]] * x;
    }
  });
}

void prelu_backward(float* dX, float* dAlpha, const float* dY, const float* X, const float* alpha, i64 N,
                    const PreluMap& m) {
  const i64 D = m.D(), n = N * D;
  i64 A = 1;
  for (int k = 0; k < m.nd; ++k)
    if (m.astride[k] != 0) A *= m.dims[k];
  if (n == 0) {
    std::fill(dAlpha, dAlpha + A, 0.f);
    return;
  }
  const std::vector<i64> at = alpha_table(m);
  HostBuf terms{size_t(n)};
  for_blocks(n, [&](i64 i0, i64 i1) {
    for (i64 i = i0; i < i1; ++i) {
      const float x = X[i], d = dY[i];
      const bool pos = x > 0.f;
      if (dX) dX[i] = pos ? d : alpha[at[size_t(i % D)]] * d;
      terms.p[i] = pos ? 0.f : d * x;
    }
  });
  i64 shape[kPreluMaxDims + 1];
  bool reduced[kPreluMaxDims + 1];
  shape[0] = N;
  reduced[0] = true;
  for (int k = 0; k < m.nd; ++k) {
    shape[k + 1] = m.dims[k];
    reduced[k + 1] = m.astride[k] == 0;
  }
  reduce(dAlpha, terms.p, RedOp::Sum, m.nd + 1, shape, reduced);
}

void relu_ext_forward(float* Y, const float* X, i64 n, float t, bool has_max, float mx, float s) {
  for_blocks(n, [&](i64 i0, i64 i1) {
    for (i64 i = i0; i < i1; ++i) Y[i] = relu_ext_value(X[i], t, has_max, mx, s);
  });
}

void relu_ext_backward(float* dX, const float* dY, const float* X, i64 n, float t, bool has_max, float mx,
                       float s) {
  for_blocks(n, [&](i64 i0, i64 i1) {
    for (i64 i = i0; i < i1; ++i) dX[i] = dY[i] * relu_ext_grad(X[i], t, has_max, mx, s);
  });
}

}  // namespace fusednet::cpu
