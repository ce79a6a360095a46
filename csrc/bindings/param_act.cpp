// param_act.cpp (bindings) — prelu_forward / prelu_backward (PReLU) and relu_ext_forward /
// relu_ext_backward (Keras ReLU with negative_slope, max_value, threshold); formulas in
// csrc/cpu/param_act.h. CPU and CUDA.
#include <cmath>

#include "bindings/bind_util.h"
#include "bindings/cnn_args.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#endif
#include "cpu/param_act.h"

namespace fusednet {
namespace {

// alpha must have x's per-sample shape with 1 on shared axes (alpha.ndim == x.ndim - 1); adjacent
// axes of the same kind are merged so the index map stays within kPreluMaxDims.
cpu::PreluMap prelu_map(const char* op, const Array& x, const Array& alpha) {
  check_f32(op, "x", x);
  check_f32(op, "alpha", alpha);
  if (x.ndim() < 2 || alpha.ndim() != x.ndim() - 1)
    throw ValueError(std::string(op) + ": alpha must have the shape of x without its batch axis (1 on shared "
                     "axes): x " + x.shape_str() + ", alpha " + alpha.shape_str());
  std::vector<i64> dims;
  std::vector<bool> shared;
  for (int k = 1; k < x.ndim(); ++k) {
    const i64 d = x.dim(k), a = alpha.dim(k - 1);
    if (a != d && a != 1)
      throw ValueError(std::string(op) + ": alpha " + alpha.shape_str() + " does not broadcast to x " +
                       x.shape_str() + " (axis " + std::to_string(k) + ")");
    const bool sh = a == 1 && d != 1;
    if (d == 1) continue;  // size-1 axes index nothing
    if (!dims.empty() && shared.back() == sh) {
      dims.back() *= d;
    } else {
      dims.push_back(d);
      shared.push_back(sh);
    }
  }
  if (dims.empty()) {
    dims.push_back(1);
    shared.push_back(false);
  }
  if (int(dims.size()) > cpu::kPreluMaxDims)
    throw ValueError(std::string(op) + ": too many alternating shared / unshared axes: x " + x.shape_str() +
                     ", alpha " + alpha.shape_str());
  cpu::PreluMap m;
  m.nd = int(dims.size());
  i64 stride = 1;
  for (int k = m.nd - 1; k >= 0; --k) {
    m.dims[k] = dims[size_t(k)];
    m.astride[k] = shared[size_t(k)] ? 0 : stride;
    if (!shared[size_t(k)]) stride *= dims[size_t(k)];
  }
  return m;
}

struct ReluArgs {
  float t, mx, s;
  bool has_max;
};

ReluArgs relu_args(const char* op, double threshold, std::optional<double> max_value, double negative_slope) {
  if (!std::isfinite(threshold) || !std::isfinite(negative_slope) || (max_value && std::isnan(*max_value)))
    throw ValueError(std::string(op) + ": threshold / negative_slope must be finite and max_value not NaN");
  return ReluArgs{float(threshold), max_value ? float(*max_value) : 0.f, float(negative_slope), bool(max_value)};
}

}  // namespace

FN_BIND(param_act) {
  m.def(
      "prelu_forward",
      [](const Array& x, const Array& alpha) {
        const char* op = "prelu_forward";
        const cpu::PreluMap mp = prelu_map(op, x, alpha);
        check_same_device(op, {&x, &alpha});
        Array y = Array::empty(x.shape, DType::F32, x.device());
        const i64 N = x.dim(0);
        FN_DISPATCH(op, x, {
          py::gil_scoped_release nogil;
          cpu::prelu_forward(y.f32(), x.f32(), alpha.f32(), N, mp);
        }, {
          py::gil_scoped_release nogil;
          cuda::prelu_forward(y.f32(), x.f32(), alpha.f32(), N, mp);
        });
        return y;
      },
      py::arg("x"), py::arg("alpha"),
      "PReLU: y = x > 0 ? x : alpha * x; alpha has x's shape without the batch axis, 1 on shared axes.");

  m.def(
      "prelu_backward",
      [](const Array& dY, const Array& x, const Array& alpha, bool need_dX) -> py::tuple {
        const char* op = "prelu_backward";
        const cpu::PreluMap mp = prelu_map(op, x, alpha);
        check_f32(op, "dY", dY);
        check_shape(op, "dY", dY, x.shape);
        check_same_device(op, {&dY, &x, &alpha});
        std::optional<Array> dX;
        if (need_dX) dX = Array::empty(x.shape, DType::F32, x.device());
        Array da = Array::empty(alpha.shape, DType::F32, x.device());
        const i64 N = x.dim(0);
        FN_DISPATCH(op, x, {
          py::gil_scoped_release nogil;
          cpu::prelu_backward(dX ? dX->f32() : nullptr, da.f32(), dY.f32(), x.f32(), alpha.f32(), N, mp);
        }, {
          py::gil_scoped_release nogil;
          cuda::prelu_backward(dX ? dX->f32() : nullptr, da.f32(), dY.f32(), x.f32(), alpha.f32(), N, mp);
        });
        return py::make_tuple(dX ? py::cast(*dX) : py::none(), py::cast(da));
      },
      py::arg("dY"), py::arg("x"), py::arg("alpha"), py::arg("need_dX") = true,
      "Backward of prelu_forward -> (dX | None, dAlpha): dX = dY*(x > 0 ? 1 : alpha), dAlpha = sum of "
      "dY*x over x <= 0 (batch and shared axes).");

  m.def(
      "relu_ext_forward",
      [](const Array& x, double threshold, std::optional<double> max_value, double negative_slope) {
        const char* op = "relu_ext_forward";
        check_f32(op, "x", x);
        const ReluArgs a = relu_args(op, threshold, max_value, negative_slope);
        Array y = Array::empty(x.shape, DType::F32, x.device());
        FN_DISPATCH(op, x, {
          py::gil_scoped_release nogil;
          cpu::relu_ext_forward(y.f32(), x.f32(), x.numel(), a.t, a.has_max, a.mx, a.s);
        }, {
          py::gil_scoped_release nogil;
          cuda::relu_ext_forward(y.f32(), x.f32(), x.numel(), a.t, a.has_max, a.mx, a.s);
        });
        return y;
      },
      py::arg("x"), py::arg("threshold") = 0.0, py::arg("max_value") = py::none(), py::arg("negative_slope") = 0.0,
      "Keras relu: clip(x > threshold ? x : 0, 0, max_value) - negative_slope * max(threshold - x, 0) "
      "(no clip without max_value).");

  m.def(
      "relu_ext_backward",
      [](const Array& dY, const Array& x, double threshold, std::optional<double> max_value, double negative_slope) {
        const char* op = "relu_ext_backward";
        check_f32(op, "dY", dY);
        check_f32(op, "x", x);
        check_shape(op, "dY", dY, x.shape);
        check_same_device(op, {&dY, &x});
        const ReluArgs a = relu_args(op, threshold, max_value, negative_slope);
        Array dx = Array::empty(x.shape, DType::F32, x.device());
        FN_DISPATCH(op, x, {
          py::gil_scoped_release nogil;
          cpu::relu_ext_backward(dx.f32(), dY.f32(), x.f32(), x.numel(), a.t, a.has_max, a.mx, a.s);
        }, {
          py::gil_scoped_release nogil;
          cuda::relu_ext_backward(dx.f32(), dY.f32(), x.f32(), x.numel(), a.t, a.has_max, a.mx, a.s);
        });
        return dx;
      },
      py::arg("dY"), py::arg("x"), py::arg("threshold") = 0.0, py::arg("max_value") = py::none(),
      py::arg("negative_slope") = 0.0, "dX of relu_ext_forward.");
}

}  // namespace fusednet
