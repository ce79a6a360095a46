// bindings/optimizer.cpp — pybind11 glue for the multi-tensor optimizer family (docs/KERNELS.md
// "optimizer"). Each step takes Python lists of Arrays (params first, then grads, then state),
// validates every list (equal length, float32, same device, shapes equal to the params', params and
// state writable), collects raw pointers, releases the GIL and runs one native call for all tensors.
// `masks` (every step, optional): None, or a list with one entry per param, each None (dense) or a
// float32 0/1 Array shaped like the param (pruning: see csrc/cpu/optimizer.h); a mask must not
// overlap its param or that param's state.
#include <cmath>

#include "bindings/bind_util.h"
#include "cpu/optimizer.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#endif

namespace fusednet {
namespace {

using ArrayList = std::vector<Array>;
using OptList = std::optional<ArrayList>;
using MaskList = std::optional<std::vector<std::optional<Array>>>;

[[maybe_unused]] [[noreturn]] void cuda_not_yet(const char* op) {
  throw TypeError(std::string(op) + ": not implemented on CUDA yet; keep the parameters on the CPU");
}

struct Ptrs {
  std::vector<float*> p;
  std::vector<i64> sizes;
  bool on_cuda = false;  // every array is on one CUDA device (checked when collected)
  cpu::TensorList tl() const { return {static_cast<int>(sizes.size()), sizes.data()}; }
};

// Validates `arrs` against the params list and returns their data pointers.
std::vector<float*> collect(const char* op, const char* name, const ArrayList& arrs,
                            const ArrayList& params, bool writable) {
  if (arrs.size() != params.size())
    throw ValueError(std::string(op) + ": " + name + " has " + std::to_string(arrs.size()) +
                     " arrays but params has " + std::to_string(params.size()));
  std::vector<float*> out(arrs.size());
  for (size_t i = 0; i < arrs.size(); ++i) {
    const Array& a = arrs[i];
    const std::string arg = std::string(name) + "[" + std::to_string(i) + "]";
    check_dtype(op, arg.c_str(), a, DType::F32);
    if (a.shape != params[i].shape)
      throw ValueError(std::string(op) + ": " + arg + " has shape " + a.shape_str() +
                       " but params[" + std::to_string(i) + "] has shape " + params[i].shape_str());
    if (a.device() != params[i].device())
      throw ValueError(std::string(op) + ": " + arg + " is on " + a.device().str() + " but params[" +
                       std::to_string(i) + "] is on " + params[i].device().str());
    if (writable) check_writable(op, arg.c_str(), a);
    out[i] = a.f32();
  }
  return out;
}

Ptrs collect_params(const char* op, const ArrayList& params) {
  Ptrs r;
  r.p = collect(op, "params", params, params, true);
  for (const Array& a : params) r.sizes.push_back(a.numel());
  for (const Array& a : params) {
    if (a.device() != params[0].device())
      throw ValueError(std::string(op) + ": params are on different devices (" +
                       params[0].device().str() + " and " + a.device().str() + ")");
#ifndef FUSEDNET_WITH_CUDA
    if (a.is_cuda()) throw_no_cuda(op);
#endif
  }
  r.on_cuda = !params.empty() && params[0].is_cuda();
  return r;
}

// Runs the cpu:: or cuda:: twin (same signature) by where the collected arrays live.
#ifdef FUSEDNET_WITH_CUDA
#define FN_OPT_CALL(on_cuda, fn, ...) \
  ((on_cuda) ? cuda::fn(__VA_ARGS__) : cpu::fn(__VA_ARGS__))
#else
#define FN_OPT_CALL(on_cuda, fn, ...) cpu::fn(__VA_ARGS__)
#endif

std::vector<const float*> const_ptrs(const std::vector<float*>& v) { return {v.begin(), v.end()}; }

bool overlaps(const Array& a, const Array& b) {
  const char* pa = static_cast<const char*>(a.raw());
  const char* pb = static_cast<const char*>(b.raw());
  if (!pa || !pb || a.nbytes() == 0 || b.nbytes() == 0) return false;
  return pa < pb + b.nbytes() && pb < pa + a.nbytes();
}

// Validates the optional masks list; returns one pointer per param (nullptr = dense), or an empty
// vector when no tensor is masked (the kernels then take the dense path, masks == nullptr).
// `written` holds the param list and the state lists the step writes (a mask may alias none).
std::vector<const float*> collect_masks(const char* op, const MaskList& masks, const ArrayList& params,
                                        std::initializer_list<const ArrayList*> written) {
  std::vector<const float*> out;
  if (!masks) return out;
  if (masks->size() != params.size())
    throw ValueError(std::string(op) + ": masks has " + std::to_string(masks->size()) +
                     " entries but params has " + std::to_string(params.size()));
  out.assign(params.size(), nullptr);
  bool any = false;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::optional<Array>& m = (*masks)[i];
    if (!m) continue;
    const std::string arg = "masks[" + std::to_string(i) + "]";
    check_dtype(op, arg.c_str(), *m, DType::F32);
    if (m->shape != params[i].shape)
      throw ValueError(std::string(op) + ": " + arg + " has shape " + m->shape_str() + " but params[" +
                       std::to_string(i) + "] has shape " + params[i].shape_str());
    if (m->device() != params[i].device())
      throw ValueError(std::string(op) + ": " + arg + " is on " + m->device().str() + " but params[" +
                       std::to_string(i) + "] is on " + params[i].device().str());
    for (const ArrayList* w : written)
      if (w && i < w->size() && overlaps(*m, (*w)[i]))
        throw ValueError(std::string(op) + ": " + arg + " overlaps params[" + std::to_string(i) +
                         "] or its optimizer state (a mask must be its own array)");
    out[i] = m->f32();
    any = true;
  }
  if (!any) out.clear();
  return out;
}
const float* const* mask_ptr(const std::vector<const float*>& mk) { return mk.empty() ? nullptr : mk.data(); }

void check_range(const char* op, const char* name, double x, double lo, double hi, bool hi_open) {
  if (!(x >= lo && (hi_open ? x < hi : x <= hi)) || !std::isfinite(x))
    throw ValueError(std::string(op) + ": " + name + " must be in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + (hi_open ? ")" : "]") + ", got " + std::to_string(x));
}
void check_finite(const char* op, const char* name, double x) {
  if (!std::isfinite(x))
    throw ValueError(std::string(op) + ": " + name + " must be finite, got " + std::to_string(x));
}
void check_nonneg(const char* op, const char* name, double x) {
  if (!(x >= 0.0) || !std::isfinite(x))
    throw ValueError(std::string(op) + ": " + name + " must be >= 0, got " + std::to_string(x));
}

void sgd_step(const ArrayList& params, const ArrayList& grads, const OptList& vel, double lr,
              double momentum, bool nesterov, double wd, const MaskList& masks) {
  const char* op = "sgd_step";
  check_finite(op, "lr", lr);
  check_range(op, "momentum", momentum, 0.0, 1.0, false);
  check_nonneg(op, "weight_decay", wd);
  Ptrs P = collect_params(op, params);
  auto g = const_ptrs(collect(op, "grads", grads, params, false));
  std::vector<float*> v;
  if (momentum != 0.0) {
    if (!vel) throw ValueError("sgd_step: momentum=" + std::to_string(momentum) + " needs velocities (got None)");
    v = collect(op, "velocities", *vel, params, true);
  }
  const auto mk = collect_masks(op, masks, params, {&params, momentum != 0.0 && vel ? &*vel : nullptr});
  py::gil_scoped_release nogil;
  FN_OPT_CALL(P.on_cuda, sgd_step, P.p.data(), v.empty() ? nullptr : v.data(), g.data(), mask_ptr(mk), P.tl(), lr,
              momentum, nesterov, wd);
}

void adam_step(const ArrayList& params, const ArrayList& grads, const ArrayList& m,
               const ArrayList& v, double lr, double b1, double b2, double eps, i64 step, double wd,
               const OptList& vhat, const MaskList& masks) {
  const char* op = "adam_step";
  check_finite(op, "lr", lr);
  check_range(op, "beta1", b1, 0.0, 1.0, true);
  check_range(op, "beta2", b2, 0.0, 1.0, true);
  check_nonneg(op, "eps", eps);
  check_nonneg(op, "weight_decay", wd);
  if (step < 1) throw ValueError("adam_step: step is the 1-based iteration, got " + std::to_string(step));
  Ptrs P = collect_params(op, params);
  auto g = const_ptrs(collect(op, "grads", grads, params, false));
  auto pm = collect(op, "m", m, params, true);
  auto pv = collect(op, "v", v, params, true);
  std::vector<float*> ph;
  if (vhat) ph = collect(op, "vhat", *vhat, params, true);
  const auto mk = collect_masks(op, masks, params, {&params, &m, &v, vhat ? &*vhat : nullptr});
  py::gil_scoped_release nogil;
  FN_OPT_CALL(P.on_cuda, adam_step, P.p.data(), pm.data(), pv.data(), vhat ? ph.data() : nullptr, g.data(),
              mask_ptr(mk), P.tl(), lr, b1, b2, eps, step, wd);
}

void rmsprop_step(const ArrayList& params, const ArrayList& grads, const ArrayList& vel,
                  const OptList& moms, const OptList& avg, double lr, double rho, double momentum,
                  double eps, double wd, const MaskList& masks) {
  const char* op = "rmsprop_step";
  check_finite(op, "lr", lr);
  check_range(op, "rho", rho, 0.0, 1.0, false);
  check_range(op, "momentum", momentum, 0.0, 1.0, false);
  check_nonneg(op, "eps", eps);
  check_nonneg(op, "weight_decay", wd);
  Ptrs P = collect_params(op, params);
  auto g = const_ptrs(collect(op, "grads", grads, params, false));
  auto pv = collect(op, "velocities", vel, params, true);
  std::vector<float*> pm, pa;
  if (momentum > 0.0) {
    if (!moms) throw ValueError("rmsprop_step: momentum=" + std::to_string(momentum) + " needs momentums (got None)");
    pm = collect(op, "momentums", *moms, params, true);
  }
  if (avg) pa = collect(op, "average_grads", *avg, params, true);
  const auto mk = collect_masks(op, masks, params,
                                {&params, &vel, momentum > 0.0 ? &*moms : nullptr, avg ? &*avg : nullptr});
  py::gil_scoped_release nogil;
  FN_OPT_CALL(P.on_cuda, rmsprop_step, P.p.data(), pv.data(), momentum > 0.0 ? pm.data() : nullptr,
              avg ? pa.data() : nullptr, g.data(), mask_ptr(mk), P.tl(), lr, rho, momentum, eps, wd);
}

void adagrad_step(const ArrayList& params, const ArrayList& grads, const ArrayList& acc, double lr,
                  double eps, double wd, const MaskList& masks) {
  const char* op = "adagrad_step";
  check_finite(op, "lr", lr);
  check_nonneg(op, "eps", eps);
  check_nonneg(op, "weight_decay", wd);
  Ptrs P = collect_params(op, params);
  auto g = const_ptrs(collect(op, "grads", grads, params, false));
  auto pa = collect(op, "accumulators", acc, params, true);
  const auto mk = collect_masks(op, masks, params, {&params, &acc});
  py::gil_scoped_release nogil;
  FN_OPT_CALL(P.on_cuda, adagrad_step, P.p.data(), pa.data(), g.data(), mask_ptr(mk), P.tl(), lr, eps, wd);
}

// Arrays for the clipping helpers: validated like params (writable only when modified).
Ptrs collect_plain(const char* op, const ArrayList& arrs, bool writable) {
  Ptrs r;
  for (size_t i = 0; i < arrs.size(); ++i) {
    const Array& a = arrs[i];
    const std::string arg = "arrays[" + std::to_string(i) + "]";
    check_dtype(op, arg.c_str(), a, DType::F32);
    if (a.device() != arrs[0].device())
      throw ValueError(std::string(op) + ": arrays are on different devices (" +
                       arrs[0].device().str() + " and " + a.device().str() + ")");
#ifndef FUSEDNET_WITH_CUDA
    if (a.is_cuda()) throw_no_cuda(op);
#endif
    r.on_cuda = a.is_cuda();
    if (writable) check_writable(op, arg.c_str(), a);
    r.p.push_back(a.f32());
    r.sizes.push_back(a.numel());
  }
  return r;
}

}  // namespace

FN_BIND(optimizer) {
  m.def("sgd_step", &sgd_step, py::arg("params"), py::arg("grads"), py::arg("velocities"),
        py::arg("lr"), py::arg("momentum") = 0.0, py::arg("nesterov") = false,
        py::arg("weight_decay") = 0.0, py::arg("masks") = py::none(),
        "Keras 3 SGD, in place over all tensors. velocities may be None when momentum == 0. masks: None "
        "or one None/0-1 Array per param (pruned entries and their state kept at 0, in the same pass).");
  m.def("adam_step", &adam_step, py::arg("params"), py::arg("grads"), py::arg("m"), py::arg("v"),
        py::arg("lr"), py::arg("beta1") = 0.9, py::arg("beta2") = 0.999, py::arg("eps") = 1e-7,
        py::arg("step") = 1, py::arg("weight_decay") = 0.0, py::arg("vhat") = py::none(),
        py::arg("masks") = py::none(),
        "Keras 3 Adam/AdamW (decoupled weight decay first), amsgrad when vhat is given. step is 1-based. "
        "masks: as sgd_step.");
  m.def("rmsprop_step", &rmsprop_step, py::arg("params"), py::arg("grads"), py::arg("velocities"),
        py::arg("momentums"), py::arg("average_grads"), py::arg("lr"), py::arg("rho") = 0.9,
        py::arg("momentum") = 0.0, py::arg("eps") = 1e-7, py::arg("weight_decay") = 0.0,
        py::arg("masks") = py::none(),
        "Keras 3 RMSprop; centered when average_grads is given; momentums used iff momentum > 0. "
        "masks: as sgd_step.");
  m.def("adagrad_step", &adagrad_step, py::arg("params"), py::arg("grads"),
        py::arg("accumulators"), py::arg("lr"), py::arg("eps") = 1e-7, py::arg("weight_decay") = 0.0,
        py::arg("masks") = py::none(),
        "Keras 3 Adagrad (initialise accumulators to initial_accumulator_value, Keras default 0.1). "
        "masks: as sgd_step (a pruned entry's accumulator is 0, not the initial value).");
  m.def("global_norm",
        [](const ArrayList& arrs) {
          Ptrs P = collect_plain("global_norm", arrs, false);
          auto c = const_ptrs(P.p);
          py::gil_scoped_release nogil;
          return FN_OPT_CALL(P.on_cuda, global_norm, c.data(), P.tl());
        },
        py::arg("arrays"), "sqrt(sum of squares of every element), double accumulation, thread-count independent.");
  m.def("scale_",
        [](const ArrayList& arrs, double factor) {
          check_finite("scale_", "factor", factor);
          Ptrs P = collect_plain("scale_", arrs, true);
          py::gil_scoped_release nogil;
          FN_OPT_CALL(P.on_cuda, scale_inplace, P.p.data(), P.tl(), factor);
        },
        py::arg("arrays"), py::arg("factor"));
  m.def("clip_by_value_",
        [](const ArrayList& arrs, double v) {
          check_nonneg("clip_by_value_", "v", v);
          Ptrs P = collect_plain("clip_by_value_", arrs, true);
          py::gil_scoped_release nogil;
          FN_OPT_CALL(P.on_cuda, clip_by_value_inplace, P.p.data(), P.tl(), v);
        },
        py::arg("arrays"), py::arg("v"), "Clip every element to [-v, v] (Keras clipvalue).");
  m.def("clip_by_norm_",
        [](const ArrayList& arrs, double max_norm) {
          if (!(max_norm > 0.0) || !std::isfinite(max_norm))
            throw ValueError("clip_by_norm_: max_norm must be > 0, got " + std::to_string(max_norm));
          Ptrs P = collect_plain("clip_by_norm_", arrs, true);
          py::gil_scoped_release nogil;
          FN_OPT_CALL(P.on_cuda, clip_by_norm_inplace, P.p.data(), P.tl(), max_norm);
        },
        py::arg("arrays"), py::arg("max_norm"),
        "Per array (Keras clipnorm): x *= max_norm / ||x|| where ||x|| > max_norm.");
}

}  // namespace fusednet
