// scan.cpp (bindings) — cumsum / cumprod along one axis and the cumprod backward; contract in
// csrc/cpu/scan.h. The axis splits the contiguous array into [outer, n, inner]: no copies.
#include "bindings/bind_util.h"
#include "cpu/scan.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#endif

namespace fusednet {
namespace {

struct Lines {
  i64 outer = 1, n = 1, inner = 1;
};

Lines split_axis(const char* op, const Array& x, i64 axis) {
  check_dtype(op, "x", x, DType::F32);
  const i64 r = x.ndim();
  if (r == 0) throw ValueError(std::string(op) + ": x must have rank >= 1, got shape " + x.shape_str());
  if (axis < -r || axis >= r)
    throw ValueError(std::string(op) + ": axis " + std::to_string(axis) + " is out of range for x " + x.shape_str());
  if (axis < 0) axis += r;
  Lines l;
  for (i64 d = 0; d < r; ++d) {
    if (d < axis) l.outer *= x.dim(int(d));
    else if (d == axis) l.n = x.dim(int(d));
    else l.inner *= x.dim(int(d));
  }
  return l;
}

}  // namespace

FN_BIND(scan) {
  m.def(
      "cumsum",
      [](const Array& x, i64 axis, bool reverse) {
        const char* op = "cumsum";
        const Lines l = split_axis(op, x, axis);
        Array y = Array::empty(x.shape, DType::F32, x.device());
        FN_DISPATCH(op, x, {
          py::gil_scoped_release nogil;
          cpu::cumsum(y.f32(), x.f32(), l.outer, l.n, l.inner, reverse);
        }, {
          py::gil_scoped_release nogil;
          cuda::cumsum(y.f32(), x.f32(), l.outer, l.n, l.inner, reverse);
        });
        return y;
      },
      py::arg("x"), py::arg("axis"), py::arg("reverse") = false,
      "Inclusive cumulative sum along axis (reverse: from the end), double accumulation.");
  m.def(
      "cumprod",
      [](const Array& x, i64 axis) {
        const char* op = "cumprod";
        const Lines l = split_axis(op, x, axis);
        Array y = Array::empty(x.shape, DType::F32, x.device());
        FN_DISPATCH(op, x, {
          py::gil_scoped_release nogil;
          cpu::cumprod(y.f32(), x.f32(), l.outer, l.n, l.inner);
        }, {
          py::gil_scoped_release nogil;
          cuda::cumprod(y.f32(), x.f32(), l.outer, l.n, l.inner);
        });
        return y;
      },
      py::arg("x"), py::arg("axis"), "Inclusive cumulative product along axis, double accumulation.");
  m.def(
      "cumprod_backward",
      [](const Array& dy, const Array& x, const Array& y, i64 axis) {
        const char* op = "cumprod_backward";
        const Lines l = split_axis(op, x, axis);
        check_dtype(op, "dy", dy, DType::F32);
        check_dtype(op, "y", y, DType::F32);
        if (dy.shape != x.shape || y.shape != x.shape)
          throw ValueError(std::string(op) + ": dy " + dy.shape_str() + ", x " + x.shape_str() + " and y " +
                           y.shape_str() + " must have the same shape");
        check_same_device(op, {&dy, &x, &y});
        Array dx = Array::empty(x.shape, DType::F32, x.device());
        FN_DISPATCH(op, x, {
          py::gil_scoped_release nogil;
          cpu::cumprod_backward(dx.f32(), dy.f32(), x.f32(), y.f32(), l.outer, l.n, l.inner);
        }, {
          py::gil_scoped_release nogil;
          cuda::cumprod_backward(dx.f32(), dy.f32(), x.f32(), y.f32(), l.outer, l.n, l.inner);
        });
        return dx;
      },
      py::arg("dy"), py::arg("x"), py::arg("y"), py::arg("axis"),
      "dx of y = cumprod(x, axis), exact where x has zeros (see csrc/cpu/scan.h).");
}

}  // namespace fusednet
