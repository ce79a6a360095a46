// bindings/activation.cpp — fusednet._C activation_forward/backward, (log_)softmax fwd/bwd.
//
// Validates dtype (float32), shapes (dY, x, y identical; softmax needs ndim >= 1), device and
// `out` (exact shape; may alias an input exactly — every kernel reads index i before writing it —
// but may not partially overlap one), then releases the GIL around the CPU kernel.
#include "bindings/bind_util.h"
#include "cpu/activation.h"

namespace fusednet {
namespace {

[[maybe_unused]] [[noreturn]] void cuda_todo(const char* op) {
  throw TypeError(std::string(op) + ": not implemented on CUDA yet (move the arrays to 'cpu')");
}

// out may be exactly `in` (same start, same size) but not a partial overlap of it.
void check_alias(const char* op, const Array& out, const Array& in, const char* in_name) {
  if (out.numel() == 0 || in.numel() == 0) return;
  if (same_memory(out, in) && !(out.raw() == in.raw() && out.numel() == in.numel()))
    throw ValueError(std::string(op) + ": out partially overlaps " + in_name + " " + in.shape_str() +
                     "; pass a separate array or the input itself");
}

void check_same_shape(const char* op, const char* an, const Array& a, const char* bn, const Array& b) {
  if (a.shape != b.shape)
    throw ValueError(std::string(op) + ": " + an + " " + a.shape_str() + " and " + bn + " " +
                     b.shape_str() + " must have the same shape");
}

float default_alpha(cpu::ActKind k, const std::optional<double>& alpha) {
  if (alpha) return static_cast<float>(*alpha);
  if (k == cpu::ActKind::LeakyRelu) return 0.2f;  // Keras 3 leaky_relu negative_slope
  if (k == cpu::ActKind::Elu) return 1.0f;        // Keras elu alpha
  return 0.0f;
}

Array act_forward(const Array& x, const std::string& kind, std::optional<double> alpha,
                  std::optional<Array> out) {
  const char* op = "activation_forward";
  check_dtype(op, "x", x, DType::F32);
  cpu::ActKind k = cpu::act_kind_from_name(op, kind);
  float a = default_alpha(k, alpha);
  check_same_device(op, {&x, out ? &*out : nullptr});
  Array y = out_or_empty(op, out, x.shape, DType::F32, x.device());
  check_alias(op, y, x, "x");
  FN_DISPATCH(op, x,
              {
                py::gil_scoped_release nogil;
                cpu::activation_forward(y.f32(), x.f32(), x.numel(), k, a);
              },
              cuda_todo(op));
  return y;
}

Array act_backward(const Array& dy, const Array& x, const std::optional<Array>& y,
                   const std::string& kind, std::optional<double> alpha, std::optional<Array> out) {
  const char* op = "activation_backward";
  check_dtype(op, "dY", dy, DType::F32);
  check_dtype(op, "x", x, DType::F32);
  check_same_shape(op, "dY", dy, "x", x);
  if (y) {
    check_dtype(op, "y", *y, DType::F32);
    check_same_shape(op, "y", *y, "x", x);
  }
  cpu::ActKind k = cpu::act_kind_from_name(op, kind);
  float a = default_alpha(k, alpha);
  check_same_device(op, {&dy, &x, y ? &*y : nullptr, out ? &*out : nullptr});
  Array dx = out_or_empty(op, out, x.shape, DType::F32, x.device());
  check_alias(op, dx, dy, "dY");
  check_alias(op, dx, x, "x");
  if (y) check_alias(op, dx, *y, "y");
  const float* yp = y ? y->f32() : nullptr;
  FN_DISPATCH(op, x,
              {
                py::gil_scoped_release nogil;
                cpu::activation_backward(dx.f32(), dy.f32(), x.f32(), yp, x.numel(), k, a);
              },
              cuda_todo(op));
  return dx;
}

Array softmax_fwd(const char* op, const Array& x, std::optional<Array> out, bool log) {
  check_dtype(op, "x", x, DType::F32);
  if (x.ndim() < 1)
    throw ValueError(std::string(op) + ": x must have at least 1 dimension (softmax is over the last "
                     "axis), got shape " + x.shape_str());
  check_same_device(op, {&x, out ? &*out : nullptr});
  Array y = out_or_empty(op, out, x.shape, DType::F32, x.device());
  check_alias(op, y, x, "x");
  const i64 cols = x.shape.back();
  const i64 rows = cols ? x.numel() / cols : 0;
  FN_DISPATCH(op, x,
              {
                py::gil_scoped_release nogil;
                if (log) cpu::log_softmax_forward(y.f32(), x.f32(), rows, cols);
                else cpu::softmax_forward(y.f32(), x.f32(), rows, cols);
              },
              cuda_todo(op));
  return y;
}

Array softmax_bwd(const char* op, const Array& dy, const Array& y, std::optional<Array> out, bool log) {
  check_dtype(op, "dY", dy, DType::F32);
  check_dtype(op, "y", y, DType::F32);
  check_same_shape(op, "dY", dy, "y", y);
  if (y.ndim() < 1)
    throw ValueError(std::string(op) + ": y must have at least 1 dimension, got shape " + y.shape_str());
  check_same_device(op, {&dy, &y, out ? &*out : nullptr});
  Array dx = out_or_empty(op, out, y.shape, DType::F32, y.device());
  check_alias(op, dx, dy, "dY");
  check_alias(op, dx, y, "y");
  const i64 cols = y.shape.back();
  const i64 rows = cols ? y.numel() / cols : 0;
  FN_DISPATCH(op, y,
              {
                py::gil_scoped_release nogil;
                if (log) cpu::log_softmax_backward(dx.f32(), dy.f32(), y.f32(), rows, cols);
                else cpu::softmax_backward(dx.f32(), dy.f32(), y.f32(), rows, cols);
              },
              cuda_todo(op));
  return dx;
}

}  // namespace
}  // namespace fusednet

using namespace fusednet;

FN_BIND(activation) {
  m.def("activation_forward", &act_forward, py::arg("x"), py::arg("kind"),
        py::arg("alpha") = py::none(), py::arg("out") = py::none(),
        "y = act(x) elementwise. alpha: leaky_relu slope (default 0.2) / elu alpha (default 1.0).");
  m.def("activation_backward", &act_backward, py::arg("dY"), py::arg("x"), py::arg("y"),
        py::arg("kind"), py::arg("alpha") = py::none(), py::arg("out") = py::none(),
        "dX = dY * act'(x); y (the forward output, may be None) is used where cheaper/stabler.");
  m.def("softmax_forward",
        [](const Array& x, std::optional<Array> out) { return softmax_fwd("softmax_forward", x, out, false); },
        py::arg("x"), py::arg("out") = py::none(), "Softmax over the last axis (max-subtracted).");
  m.def("log_softmax_forward",
        [](const Array& x, std::optional<Array> out) { return softmax_fwd("log_softmax_forward", x, out, true); },
        py::arg("x"), py::arg("out") = py::none(), "Log-softmax over the last axis.");
  m.def("softmax_backward",
        [](const Array& dy, const Array& y, std::optional<Array> out) {
          return softmax_bwd("softmax_backward", dy, y, out, false);
        },
        py::arg("dY"), py::arg("y"), py::arg("out") = py::none(), "dX = y * (dY - sum(dY * y, -1)).");
  m.def("log_softmax_backward",
        [](const Array& dy, const Array& y, std::optional<Array> out) {
          return softmax_bwd("log_softmax_backward", dy, y, out, true);
        },
        py::arg("dY"), py::arg("y"), py::arg("out") = py::none(),
        "dX = dY - exp(y) * sum(dY, -1), y the log-softmax output.");
}
