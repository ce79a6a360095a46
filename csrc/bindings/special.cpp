// special.cpp (bindings) — erf / erfinv forward and backward (elementwise float32); contract in
// csrc/cpu/special.h.
#include "bindings/bind_util.h"
#include "cpu/special.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#endif

namespace fusednet {

FN_BIND(special) {
  m.def(
      "special",
      [](const std::string& name, const Array& x) {
        const std::string op = name;
        check_dtype(op.c_str(), "x", x, DType::F32);
        if (name != "erf" && name != "erfinv")
          throw ValueError("special: unknown function '" + name + "' (expected erf or erfinv)");
        const bool inv = name == "erfinv";
        Array y = Array::empty(x.shape, DType::F32, x.device());
        const i64 n = x.numel();
        FN_DISPATCH(op.c_str(), x, {
          py::gil_scoped_release nogil;
          if (inv) cpu::erfinv_forward(y.f32(), x.f32(), n);
          else cpu::erf_forward(y.f32(), x.f32(), n);
        }, {
          py::gil_scoped_release nogil;
          if (inv) cuda::erfinv_forward(y.f32(), x.f32(), n);
          else cuda::erf_forward(y.f32(), x.f32(), n);
        });
        return y;
      },
      py::arg("name"), py::arg("x"), "y = erf(x) or erfinv(x), elementwise (double inside).");
  m.def(
      "special_backward",
      [](const std::string& name, const Array& dy, const Array& saved) {
        const std::string op = name + "_backward";
        if (name != "erf" && name != "erfinv")
          throw ValueError("special_backward: unknown function '" + name + "' (expected erf or erfinv)");
        check_dtype(op.c_str(), "dy", dy, DType::F32);
        check_dtype(op.c_str(), "saved", saved, DType::F32);
        if (dy.shape != saved.shape)
          throw ValueError(op + ": dy " + dy.shape_str() + " and the saved tensor " + saved.shape_str() +
                           " must have the same shape");
        check_same_device(op.c_str(), {&dy, &saved});
        const bool inv = name == "erfinv";
        Array dx = Array::empty(dy.shape, DType::F32, dy.device());
        const i64 n = dy.numel();
        FN_DISPATCH(op.c_str(), dy, {
          py::gil_scoped_release nogil;
          if (inv) cpu::erfinv_backward(dx.f32(), dy.f32(), saved.f32(), n);
          else cpu::erf_backward(dx.f32(), dy.f32(), saved.f32(), n);
        }, {
          py::gil_scoped_release nogil;
          if (inv) cuda::erfinv_backward(dx.f32(), dy.f32(), saved.f32(), n);
          else cuda::erf_backward(dx.f32(), dy.f32(), saved.f32(), n);
        });
        return dx;
      },
      py::arg("name"), py::arg("dy"), py::arg("saved"),
      "dx for erf (saved = x: dy·2/√π·exp(-x²)) or erfinv (saved = y: dy·√π/2·exp(y²)).");
}

}  // namespace fusednet
