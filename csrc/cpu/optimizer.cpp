// optimizer.cpp — multi-tensor optimizer steps (see optimizer.h for the Keras 3 formulas).
//
// Why it is shaped this way: an optimizer step is memory-bound (Adam reads p, g, m, v and writes
// p, m, v: 7 floats per parameter) and a model has a few large tensors and many tiny ones (biases).
// So every step (1) flattens all tensors into one work list of fixed-size blocks (kBlock elements,
// the tail of each tensor is a short block), (2) runs ONE parallel_for over that list with a
// static schedule — one fork/join per step instead of per tensor — and only when the step is
// large enough to amortise it (kParallelMin), and (3) updates each block with a branch-free,
// restrict-qualified loop compiled for AVX-512, AVX2 and baseline x86-64 (picked at run time by
// isa_level(); no -march=native). Updates are elementwise, so neither the block size nor the
// thread split can change a result. Reductions (norms) use per-block double partial sums with a
// fixed 8-way association, combined in block order: bit-identical for any thread count.
#include "cpu/optimizer.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/ftz_scope.h"
#include "cpu/isa.h"
#include "cpu/runtime.h"
#include "cpu/parallel.h"

// Each update loop is written once as an always-inline body and instantiated three times with
// per-function target ISAs; the variant is chosen by runtime isa_level() (CPUID, capped by
// FUSEDNET_ISA so tests can cover every path). No -march=native anywhere.
#if defined(__GNUC__) && defined(__x86_64__)
#define FN_BODY static inline __attribute__((always_inline))
#define FN_ISA_VARIANTS(name, params, args)                                                    \
  __attribute__((target(FN_TARGET_AVX512))) void name##_avx512 params {           \
    name##_body args;                                                                          \
  }                                                                                            \
  __attribute__((target(FN_TARGET_AVX2))) void name##_avx2 params { name##_body args; }          \
  void name##_base params { name##_body args; }                                                \
  void name params {                                                                           \
    const int level = isa_level();                                                             \
    if (level >= 2) name##_avx512 args;                                                        \
    else if (level == 1) name##_avx2 args;                                                     \
    else name##_base args;                                                                     \
  }
#else
#define FN_BODY static inline
#define FN_ISA_VARIANTS(name, params, args) \
  void name params { name##_body args; }
#endif

namespace fusednet::cpu {

namespace {

constexpr i64 kBlock = 4096;           // elements per work item (16 KiB per stream)
constexpr i64 kParallelMin = 1 << 16;  // total elements below which one thread is faster

struct Block {
  int t;
  i64 begin, len;
};

std::vector<Block> make_blocks(TensorList tl, i64* total_out) {
  std::vector<Block> blocks;
  i64 total = 0;
  for (int t = 0; t < tl.count; ++t) {
    total += tl.sizes[t];
    for (i64 b = 0; b < tl.sizes[t]; b += kBlock) blocks.push_back({t, b, std::min(kBlock, tl.sizes[t] - b)});
  }
  *total_out = total;
  return blocks;
}

// Runs f(block) for every block: single-threaded below kParallelMin, else one static-scheduled region.
template <class F>
void for_blocks(TensorList tl, F&& f) {
  i64 total = 0;
  std::vector<Block> blocks = make_blocks(tl, &total);
  const i64 nb = static_cast<i64>(blocks.size());
  const int nt = static_cast<int>(std::min<i64>(num_threads(), nb));
  FtzScope guard;  // FTZ/DAZ on every path, so denormals cannot make results thread-dependent
  if (total < kParallelMin || nt <= 1) {
    set_ftz();
    for (const Block& b : blocks) f(b);
    return;
  }
  parallel_for(nb, nt, [&](i64 i) { f(blocks[i]); });
}

// ---------------------------------------------------------------- elementwise update loops
// Each loop is one template over MASKED. MASKED = false is the dense update. MASKED = true runs the
// same expressions, then keeps each result (parameter and every state) where mask != 0 and stores
// +0 where mask == 0, in the same pass: the pruning mask costs one more read stream, not another
// pass over p. A select, not a multiply: a kept entry keeps its exact bits (so an all-ones mask
// gives the dense run bitwise) and a NaN/Inf update of a pruned entry cannot survive as 0*Inf.
template <bool MASKED>
FN_BODY float keep(const float* __restrict mk, i64 i, float x) {
  if constexpr (MASKED) return mk[i] != 0.0f ? x : 0.0f;
  else return x;
}

template <bool MASKED>
FN_BODY void adam_core(float* __restrict p, float* __restrict m, float* __restrict v,
                       const float* __restrict g, const float* __restrict mk, i64 n, float alpha,
                       float c1, float c2, float eps, float lrwd) {
  for (i64 i = 0; i < n; ++i) {
    const float gi = g[i];
    const float mi = m[i] + (gi - m[i]) * c1;
    const float vi = v[i] + (gi * gi - v[i]) * c2;
    const float pi = p[i] - p[i] * lrwd;
    const float pn = pi - (mi * alpha) / (std::sqrt(vi) + eps);
    m[i] = keep<MASKED>(mk, i, mi);
    v[i] = keep<MASKED>(mk, i, vi);
    p[i] = keep<MASKED>(mk, i, pn);
  }
}
FN_BODY void adam_loop_body(float* __restrict p, float* __restrict m, float* __restrict v,
                            const float* __restrict g, const float* __restrict mk, i64 n, float alpha,
                            float c1, float c2, float eps, float lrwd) {
  adam_core<false>(p, m, v, g, mk, n, alpha, c1, c2, eps, lrwd);
}
FN_BODY void adam_mloop_body(float* __restrict p, float* __restrict m, float* __restrict v,
                             const float* __restrict g, const float* __restrict mk, i64 n, float alpha,
                             float c1, float c2, float eps, float lrwd) {
  adam_core<true>(p, m, v, g, mk, n, alpha, c1, c2, eps, lrwd);
}
#define FN_ADAM_PARAMS (float* __restrict p, float* __restrict m, float* __restrict v, \
                        const float* __restrict g, const float* __restrict mk, i64 n, float alpha, \
                        float c1, float c2, float eps, float lrwd)
#define FN_ADAM_ARGS (p, m, v, g, mk, n, alpha, c1, c2, eps, lrwd)
FN_ISA_VARIANTS(adam_loop, FN_ADAM_PARAMS, FN_ADAM_ARGS)
FN_ISA_VARIANTS(adam_mloop, FN_ADAM_PARAMS, FN_ADAM_ARGS)

template <bool MASKED>
FN_BODY void adam_amsgrad_core(float* __restrict p, float* __restrict m, float* __restrict v,
                               float* __restrict vh, const float* __restrict g, const float* __restrict mk,
                               i64 n, float alpha, float c1, float c2, float eps, float lrwd) {
  for (i64 i = 0; i < n; ++i) {
    const float gi = g[i];
    const float mi = m[i] + (gi - m[i]) * c1;
    const float vi = v[i] + (gi * gi - v[i]) * c2;
    const float hi = std::max(vh[i], vi);
    const float pi = p[i] - p[i] * lrwd;
    const float pn = pi - (mi * alpha) / (std::sqrt(hi) + eps);
    m[i] = keep<MASKED>(mk, i, mi);
    v[i] = keep<MASKED>(mk, i, vi);
    vh[i] = keep<MASKED>(mk, i, hi);
    p[i] = keep<MASKED>(mk, i, pn);
  }
}
FN_BODY void adam_amsgrad_loop_body(float* __restrict p, float* __restrict m, float* __restrict v,
                                    float* __restrict vh, const float* __restrict g,
                                    const float* __restrict mk, i64 n, float alpha, float c1, float c2,
                                    float eps, float lrwd) {
  adam_amsgrad_core<false>(p, m, v, vh, g, mk, n, alpha, c1, c2, eps, lrwd);
}
FN_BODY void adam_amsgrad_mloop_body(float* __restrict p, float* __restrict m, float* __restrict v,
                                     float* __restrict vh, const float* __restrict g,
                                     const float* __restrict mk, i64 n, float alpha, float c1, float c2,
                                     float eps, float lrwd) {
  adam_amsgrad_core<true>(p, m, v, vh, g, mk, n, alpha, c1, c2, eps, lrwd);
}
#define FN_AMS_PARAMS (float* __restrict p, float* __restrict m, float* __restrict v, \
                       float* __restrict vh, const float* __restrict g, const float* __restrict mk, \
                       i64 n, float alpha, float c1, float c2, float eps, float lrwd)
#define FN_AMS_ARGS (p, m, v, vh, g, mk, n, alpha, c1, c2, eps, lrwd)
FN_ISA_VARIANTS(adam_amsgrad_loop, FN_AMS_PARAMS, FN_AMS_ARGS)
FN_ISA_VARIANTS(adam_amsgrad_mloop, FN_AMS_PARAMS, FN_AMS_ARGS)

template <bool MASKED>
FN_BODY void sgd_plain_core(float* __restrict p, const float* __restrict g, const float* __restrict mk,
                            i64 n, float lr, float lrwd) {
  for (i64 i = 0; i < n; ++i) p[i] = keep<MASKED>(mk, i, (p[i] - p[i] * lrwd) - g[i] * lr);
}
FN_BODY void sgd_plain_loop_body(float* __restrict p, const float* __restrict g, const float* __restrict mk,
                                 i64 n, float lr, float lrwd) {
  sgd_plain_core<false>(p, g, mk, n, lr, lrwd);
}
FN_BODY void sgd_plain_mloop_body(float* __restrict p, const float* __restrict g, const float* __restrict mk,
                                  i64 n, float lr, float lrwd) {
  sgd_plain_core<true>(p, g, mk, n, lr, lrwd);
}
#define FN_SGDP_PARAMS (float* __restrict p, const float* __restrict g, const float* __restrict mk, \
                        i64 n, float lr, float lrwd)
#define FN_SGDP_ARGS (p, g, mk, n, lr, lrwd)
FN_ISA_VARIANTS(sgd_plain_loop, FN_SGDP_PARAMS, FN_SGDP_ARGS)
FN_ISA_VARIANTS(sgd_plain_mloop, FN_SGDP_PARAMS, FN_SGDP_ARGS)

template <bool MASKED>
FN_BODY void sgd_momentum_core(float* __restrict p, float* __restrict m, const float* __restrict g,
                               const float* __restrict mk, i64 n, float lr, float mu, bool nesterov,
                               float lrwd) {
  if (nesterov) {
    for (i64 i = 0; i < n; ++i) {
      const float mi = m[i] * mu - g[i] * lr;
      const float pn = (p[i] - p[i] * lrwd) + (mi * mu - g[i] * lr);
      m[i] = keep<MASKED>(mk, i, mi);
      p[i] = keep<MASKED>(mk, i, pn);
    }
  } else {
    for (i64 i = 0; i < n; ++i) {
      const float mi = m[i] * mu - g[i] * lr;
      const float pn = (p[i] - p[i] * lrwd) + mi;
      m[i] = keep<MASKED>(mk, i, mi);
      p[i] = keep<MASKED>(mk, i, pn);
    }
  }
}
FN_BODY void sgd_momentum_loop_body(float* __restrict p, float* __restrict m, const float* __restrict g,
                                    const float* __restrict mk, i64 n, float lr, float mu, bool nesterov,
                                    float lrwd) {
  sgd_momentum_core<false>(p, m, g, mk, n, lr, mu, nesterov, lrwd);
}
FN_BODY void sgd_momentum_mloop_body(float* __restrict p, float* __restrict m, const float* __restrict g,
                                     const float* __restrict mk, i64 n, float lr, float mu, bool nesterov,
                                     float lrwd) {
  sgd_momentum_core<true>(p, m, g, mk, n, lr, mu, nesterov, lrwd);
}
#define FN_SGDM_PARAMS (float* __restrict p, float* __restrict m, const float* __restrict g, \
                        const float* __restrict mk, i64 n, float lr, float mu, bool nesterov, float lrwd)
#define FN_SGDM_ARGS (p, m, g, mk, n, lr, mu, nesterov, lrwd)
FN_ISA_VARIANTS(sgd_momentum_loop, FN_SGDM_PARAMS, FN_SGDM_ARGS)
FN_ISA_VARIANTS(sgd_momentum_mloop, FN_SGDM_PARAMS, FN_SGDM_ARGS)

template <bool MASKED>
FN_BODY void rmsprop_core(float* __restrict p, float* __restrict v, float* __restrict mom,
                          float* __restrict avg, const float* __restrict g, const float* __restrict mk,
                          i64 n, float lr, float rho, float mu, float eps, float lrwd) {
  const float c = 1.0f - rho;
  for (i64 i = 0; i < n; ++i) {
    const float gi = g[i];
    const float vi = rho * v[i] + c * (gi * gi);
    v[i] = keep<MASKED>(mk, i, vi);
    float denom;
    if (avg) {
      const float ai = rho * avg[i] + c * gi;
      avg[i] = keep<MASKED>(mk, i, ai);
      denom = vi - ai * ai + eps;
    } else {
      denom = vi + eps;
    }
    const float inc = (lr * gi) / std::sqrt(denom);
    const float pi = p[i] - p[i] * lrwd;
    if (mom) {
      const float mo = mu * mom[i] + inc;
      mom[i] = keep<MASKED>(mk, i, mo);
      p[i] = keep<MASKED>(mk, i, pi - mo);
    } else {
      p[i] = keep<MASKED>(mk, i, pi - inc);
    }
  }
}
FN_BODY void rmsprop_loop_body(float* __restrict p, float* __restrict v, float* __restrict mom,
                               float* __restrict avg, const float* __restrict g, const float* __restrict mk,
                               i64 n, float lr, float rho, float mu, float eps, float lrwd) {
  rmsprop_core<false>(p, v, mom, avg, g, mk, n, lr, rho, mu, eps, lrwd);
}
FN_BODY void rmsprop_mloop_body(float* __restrict p, float* __restrict v, float* __restrict mom,
                                float* __restrict avg, const float* __restrict g, const float* __restrict mk,
                                i64 n, float lr, float rho, float mu, float eps, float lrwd) {
  rmsprop_core<true>(p, v, mom, avg, g, mk, n, lr, rho, mu, eps, lrwd);
}
#define FN_RMS_PARAMS (float* __restrict p, float* __restrict v, float* __restrict mom, \
                       float* __restrict avg, const float* __restrict g, const float* __restrict mk, \
                       i64 n, float lr, float rho, float mu, float eps, float lrwd)
#define FN_RMS_ARGS (p, v, mom, avg, g, mk, n, lr, rho, mu, eps, lrwd)
FN_ISA_VARIANTS(rmsprop_loop, FN_RMS_PARAMS, FN_RMS_ARGS)
FN_ISA_VARIANTS(rmsprop_mloop, FN_RMS_PARAMS, FN_RMS_ARGS)

template <bool MASKED>
FN_BODY void adagrad_core(float* __restrict p, float* __restrict acc, const float* __restrict g,
                          const float* __restrict mk, i64 n, float lr, float eps, float lrwd) {
  for (i64 i = 0; i < n; ++i) {
    const float gi = g[i];
    const float a = acc[i] + gi * gi;
    const float pn = (p[i] - p[i] * lrwd) - (lr * gi) / std::sqrt(a + eps);
    acc[i] = keep<MASKED>(mk, i, a);
    p[i] = keep<MASKED>(mk, i, pn);
  }
}
FN_BODY void adagrad_loop_body(float* __restrict p, float* __restrict acc, const float* __restrict g,
                               const float* __restrict mk, i64 n, float lr, float eps, float lrwd) {
  adagrad_core<false>(p, acc, g, mk, n, lr, eps, lrwd);
}
FN_BODY void adagrad_mloop_body(float* __restrict p, float* __restrict acc, const float* __restrict g,
                                const float* __restrict mk, i64 n, float lr, float eps, float lrwd) {
  adagrad_core<true>(p, acc, g, mk, n, lr, eps, lrwd);
}
#define FN_ADAG_PARAMS (float* __restrict p, float* __restrict acc, const float* __restrict g, \
                        const float* __restrict mk, i64 n, float lr, float eps, float lrwd)
#define FN_ADAG_ARGS (p, acc, g, mk, n, lr, eps, lrwd)
FN_ISA_VARIANTS(adagrad_loop, FN_ADAG_PARAMS, FN_ADAG_ARGS)
FN_ISA_VARIANTS(adagrad_mloop, FN_ADAG_PARAMS, FN_ADAG_ARGS)

// Σ x² in double with a fixed 8-way association (independent of ISA and threads).
double sumsq(const float* x, i64 n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  i64 i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += double(x[i + k]) * double(x[i + k]);
  for (int k = 0; i < n; ++i, ++k) acc[k] += double(x[i]) * double(x[i]);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

FN_BODY void scale_loop_body(float* __restrict x, i64 n, float f) {
  for (i64 i = 0; i < n; ++i) x[i] *= f;
}
FN_ISA_VARIANTS(scale_loop, (float* __restrict x, i64 n, float f), (x, n, f))

FN_BODY void clip_loop_body(float* __restrict x, i64 n, float c) {
  for (i64 i = 0; i < n; ++i) x[i] = std::min(std::max(x[i], -c), c);
}
FN_ISA_VARIANTS(clip_loop, (float* __restrict x, i64 n, float c), (x, n, c))

// Per-block sums of squares, then per-tensor (and total) sums in block order.
std::vector<double> block_sumsq(const float* const* arrays, TensorList tl, std::vector<Block>* out_blocks) {
  i64 total = 0;
  std::vector<Block> blocks = make_blocks(tl, &total);
  std::vector<double> part(blocks.size(), 0.0);
  const i64 nb = static_cast<i64>(blocks.size());
  const int nt = static_cast<int>(std::min<i64>(num_threads(), nb));
  FtzScope guard;
  if (total < kParallelMin || nt <= 1) {
    set_ftz();
    for (i64 i = 0; i < nb; ++i) part[i] = sumsq(arrays[blocks[i].t] + blocks[i].begin, blocks[i].len);
  } else {
    parallel_for(nb, nt, [&](i64 i) { part[i] = sumsq(arrays[blocks[i].t] + blocks[i].begin, blocks[i].len); });
  }
  *out_blocks = std::move(blocks);
  return part;
}

}  // namespace

// masks[t] (when masks != nullptr and masks[t] != nullptr) selects the masked loop for tensor t.
#define FN_MASK_AT(t, o) (masks && masks[t] ? masks[t] + (o) : nullptr)

void adam_step(float* const* params, float* const* m, float* const* v, float* const* vhat,
               const float* const* grads, const float* const* masks, TensorList tl, double lr,
               double beta1, double beta2, double eps, i64 step, double weight_decay) {
  const double t = static_cast<double>(step);
  const float alpha = static_cast<float>(lr * std::sqrt(1.0 - std::pow(beta2, t)) / (1.0 - std::pow(beta1, t)));
  const float c1 = static_cast<float>(1.0 - beta1), c2 = static_cast<float>(1.0 - beta2);
  const float fe = static_cast<float>(eps), lrwd = static_cast<float>(lr * weight_decay);
  for_blocks(tl, [&](const Block& b) {
    const i64 o = b.begin;
    const float* mk = FN_MASK_AT(b.t, o);
    if (vhat) {
      auto f = mk ? adam_amsgrad_mloop : adam_amsgrad_loop;
      f(params[b.t] + o, m[b.t] + o, v[b.t] + o, vhat[b.t] + o, grads[b.t] + o, mk, b.len, alpha, c1, c2, fe, lrwd);
    } else {
      auto f = mk ? adam_mloop : adam_loop;
      f(params[b.t] + o, m[b.t] + o, v[b.t] + o, grads[b.t] + o, mk, b.len, alpha, c1, c2, fe, lrwd);
    }
  });
}

void sgd_step(float* const* params, float* const* velocities, const float* const* grads,
              const float* const* masks, TensorList tl, double lr, double momentum, bool nesterov,
              double weight_decay) {
  const float flr = static_cast<float>(lr), mu = static_cast<float>(momentum);
  const float lrwd = static_cast<float>(lr * weight_decay);
  const bool use_m = momentum != 0.0;
  for_blocks(tl, [&](const Block& b) {
    const i64 o = b.begin;
    const float* mk = FN_MASK_AT(b.t, o);
    if (use_m) {
      auto f = mk ? sgd_momentum_mloop : sgd_momentum_loop;
      f(params[b.t] + o, velocities[b.t] + o, grads[b.t] + o, mk, b.len, flr, mu, nesterov, lrwd);
    } else {
      auto f = mk ? sgd_plain_mloop : sgd_plain_loop;
      f(params[b.t] + o, grads[b.t] + o, mk, b.len, flr, lrwd);
    }
  });
}

void rmsprop_step(float* const* params, float* const* velocities, float* const* moms,
                  float* const* avg_grads, const float* const* grads, const float* const* masks,
                  TensorList tl, double lr, double rho, double momentum, double eps, double weight_decay) {
  const float flr = static_cast<float>(lr), frho = static_cast<float>(rho);
  const float mu = static_cast<float>(momentum), fe = static_cast<float>(eps);
  const float lrwd = static_cast<float>(lr * weight_decay);
  const bool use_m = momentum > 0.0 && moms;
  for_blocks(tl, [&](const Block& b) {
    const i64 o = b.begin;
    const float* mk = FN_MASK_AT(b.t, o);
    auto f = mk ? rmsprop_mloop : rmsprop_loop;
    f(params[b.t] + o, velocities[b.t] + o, use_m ? moms[b.t] + o : nullptr,
      avg_grads ? avg_grads[b.t] + o : nullptr, grads[b.t] + o, mk, b.len, flr, frho, mu, fe, lrwd);
  });
}

void adagrad_step(float* const* params, float* const* accumulators, const float* const* grads,
                  const float* const* masks, TensorList tl, double lr, double eps, double weight_decay) {
  const float flr = static_cast<float>(lr), fe = static_cast<float>(eps);
  const float lrwd = static_cast<float>(lr * weight_decay);
  for_blocks(tl, [&](const Block& b) {
    const i64 o = b.begin;
    const float* mk = FN_MASK_AT(b.t, o);
    auto f = mk ? adagrad_mloop : adagrad_loop;
    f(params[b.t] + o, accumulators[b.t] + o, grads[b.t] + o, mk, b.len, flr, fe, lrwd);
  });
}
#undef FN_MASK_AT

void tensor_norms(double* norms, const float* const* arrays, TensorList tl) {
  std::vector<Block> blocks;
  std::vector<double> part = block_sumsq(arrays, tl, &blocks);
  for (int t = 0; t < tl.count; ++t) norms[t] = 0.0;
  for (size_t i = 0; i < blocks.size(); ++i) norms[blocks[i].t] += part[i];
  for (int t = 0; t < tl.count; ++t) norms[t] = std::sqrt(norms[t]);
}

double global_norm(const float* const* arrays, TensorList tl) {
  std::vector<Block> blocks;
  std::vector<double> part = block_sumsq(arrays, tl, &blocks);
  double s = 0.0;
  for (double x : part) s += x;
  return std::sqrt(s);
}

void scale_inplace(float* const* arrays, TensorList tl, double factor) {
  const float f = static_cast<float>(factor);
  for_blocks(tl, [&](const Block& b) { scale_loop(arrays[b.t] + b.begin, b.len, f); });
}

void clip_by_value_inplace(float* const* arrays, TensorList tl, double clip) {
  const float c = static_cast<float>(clip);
  for_blocks(tl, [&](const Block& b) { clip_loop(arrays[b.t] + b.begin, b.len, c); });
}

void clip_by_norm_inplace(float* const* arrays, TensorList tl, double max_norm) {
  std::vector<double> norms(tl.count);
  tensor_norms(norms.data(), arrays, tl);
  std::vector<float> factor(tl.count, 1.0f);
  bool any = false;
  for (int t = 0; t < tl.count; ++t)
    if (norms[t] > max_norm) {
      factor[t] = static_cast<float>(max_norm / norms[t]);
      any = true;
    }
  if (!any) return;
  for_blocks(tl, [&](const Block& b) {
    if (factor[b.t] != 1.0f) scale_loop(arrays[b.t] + b.begin, b.len, factor[b.t]);
  });
}

}  // namespace fusednet::cpu
