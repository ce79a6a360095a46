// upsample.cpp (bindings) — upsample2d_forward / upsample2d_backward (UpSampling2D), NHWC
// float32; formulas in csrc/cpu/upsample.h. CPU and CUDA.
#include <algorithm>
#include <cctype>

#include "bindings/bind_util.h"
#include "bindings/cnn_args.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#endif
#include "cpu/upsample.h"

namespace fusednet {
namespace {

cpu::Interp up_interp_arg(const char* op, std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "nearest") return cpu::Interp::Nearest;
  if (s == "bilinear") return cpu::Interp::Bilinear;
  throw ValueError(std::string(op) + ": interpolation must be 'nearest' or 'bilinear', got '" + s + "'");
}

std::pair<i64, i64> size_arg(const char* op, const py::handle& size) {
  auto [sh, sw] = pair_arg(op, "size", size);
  if (sh < 1 || sw < 1 || sh > (i64(1) << 20) || sw > (i64(1) << 20))
    throw ValueError(std::string(op) + ": size must be in [1, 2^20], got (" + std::to_string(sh) + ", " +
                     std::to_string(sw) + ")");
  return {sh, sw};
}

void check_x4(const char* op, const char* arg, const Array& x) {
  check_f32(op, arg, x);
  if (x.ndim() != 4)
    throw ValueError(std::string(op) + ": " + arg + " must be 4-D (N, H, W, C), got shape " + x.shape_str());
}

}  // namespace

FN_BIND(upsample) {
  m.def(
      "upsample2d_forward",
      [](const Array& x, py::object size, const std::string& interpolation) {
        const char* op = "upsample2d_forward";
        check_x4(op, "x", x);
        auto [sh, sw] = size_arg(op, size);
        const cpu::Interp it = up_interp_arg(op, interpolation);
        const i64 N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
        Array y = Array::empty({N, H * sh, W * sw, C}, DType::F32, x.device());
        FN_DISPATCH(op, x, {
          py::gil_scoped_release nogil;
          cpu::upsample2d_forward(y.f32(), x.f32(), N, H, W, C, sh, sw, it);
        }, {
          py::gil_scoped_release nogil;
          cuda::upsample2d_forward(y.f32(), x.f32(), N, H, W, C, sh, sw, it);
        });
        return y;
      },
      py::arg("x"), py::arg("size") = py::make_tuple(2, 2), py::arg("interpolation") = "nearest",
      "y (N, H*sh, W*sw, C): nearest repeats each pixel; bilinear uses half-pixel centres (Keras / "
      "TF / PyTorch align_corners=False).");

  m.def(
      "upsample2d_backward",
      [](const Array& dY, std::vector<i64> x_shape, py::object size, const std::string& interpolation) {
        const char* op = "upsample2d_backward";
        check_x4(op, "dY", dY);
        auto [sh, sw] = size_arg(op, size);
        const cpu::Interp it = up_interp_arg(op, interpolation);
        if (x_shape.size() != 4)
          throw ValueError(std::string(op) + ": x_shape must have 4 entries (N, H, W, C), got " + shape_str(x_shape));
        for (i64 v : x_shape)
          if (v < 0) throw ValueError(std::string(op) + ": x_shape has a negative entry: " + shape_str(x_shape));
        const i64 N = x_shape[0], H = x_shape[1], W = x_shape[2], C = x_shape[3];
        check_shape(op, "dY", dY, {N, H * sh, W * sw, C});
        Array dx = Array::empty(x_shape, DType::F32, dY.device());
        FN_DISPATCH(op, dY, {
          py::gil_scoped_release nogil;
          cpu::upsample2d_backward(dx.f32(), dY.f32(), N, H, W, C, sh, sw, it);
        }, {
          py::gil_scoped_release nogil;
          cuda::upsample2d_backward(dx.f32(), dY.f32(), N, H, W, C, sh, sw, it);
        });
        return dx;
      },
      py::arg("dY"), py::arg("x_shape"), py::arg("size") = py::make_tuple(2, 2),
      py::arg("interpolation") = "nearest", "dX (x_shape) of upsample2d_forward given dY.");
}

}  // namespace fusednet
