// depthwise.cpp (bindings) — depthwise_conv2d_forward / depthwise_conv2d_backward.
// Layout: x (N, H, W, C), kernel (kh, kw, C, depth_multiplier) as Keras, bias (C·dm,),
// y (N, Ho, Wo, C·dm) with output channel c·dm + m reading input channel c.
#include "bindings/bind_util.h"
#include "bindings/cnn_args.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#endif
#include "cpu/depthwise.h"

namespace fusednet {
namespace {

// Validates x / kernel and builds the conv geometry with O = C·dm; *dm receives depth_multiplier.
cpu::ConvGeom dw_geom(const char* op, const Array& x, const Array& w, const py::handle& strides,
                      const std::string& padding, const py::handle& dilation, i64* dm) {
  check_f32(op, "x", x);
  check_f32(op, "kernel", w);
  if (x.ndim() != 4)
    throw ValueError(std::string(op) + ": x must be 4-D (N, H, W, C), got shape " + x.shape_str());
  if (w.ndim() != 4)
    throw ValueError(std::string(op) + ": kernel must be 4-D (kh, kw, C, depth_multiplier), got shape " +
                     w.shape_str());
  if (w.dim(2) != x.dim(3))
    throw ValueError(std::string(op) + ": channels mismatch: x " + x.shape_str() + " has " +
                     std::to_string(x.dim(3)) + " channels but kernel " + w.shape_str() + " expects " +
                     std::to_string(w.dim(2)));
  if (w.dim(3) < 1)
    throw ValueError(std::string(op) + ": depth_multiplier (kernel axis 3) must be >= 1, got kernel " +
                     w.shape_str());
  auto [sh, sw] = pair_arg(op, "strides", strides);
  auto [dh, dw] = pair_arg(op, "dilation", dilation);
  bool same = padding_arg(op, padding);
  *dm = w.dim(3);
  try {
    return cpu::make_conv_geom(op, x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(1),
                               x.dim(3) * w.dim(3), sh, sw, dh, dw, same);
  } catch (const ValueError& e) {
    throw ValueError(std::string(e.what()) + " (x " + x.shape_str() + ", kernel " + w.shape_str() + ")");
  }
}

}  // namespace

FN_BIND(depthwise) {
  m.def(
      "depthwise_conv2d_forward",
      [](const Array& x, const Array& w, std::optional<Array> bias, py::object strides,
         const std::string& padding, py::object dilation, py::object activation,
         std::optional<Array> out) {
        const char* op = "depthwise_conv2d_forward";
        i64 dm = 1;
        cpu::ConvGeom g = dw_geom(op, x, w, strides, padding, dilation, &dm);
        Act act = conv_act_arg(op, activation);
        if (bias) {
          check_f32(op, "bias", *bias);
          if (bias->shape != std::vector<i64>{g.O})
            throw ValueError(std::string(op) + ": bias must have shape (" + std::to_string(g.O) +
                             ",) = (C * depth_multiplier,) for kernel " + w.shape_str() + ", got " +
                             bias->shape_str());
        }
        check_same_device(op, {&x, &w, bias ? &*bias : nullptr});
        Array y = out_or_empty(op, out, {g.N, g.Ho, g.Wo, g.O}, DType::F32, x.device());
        if (out) check_no_overlap(op, y, {&x, &w, bias ? &*bias : nullptr});
        const float* b = bias ? bias->f32() : nullptr;
        FN_DISPATCH(op, x, {
          py::gil_scoped_release nogil;
          cpu::depthwise_conv2d_forward(y.f32(), x.f32(), w.f32(), b, g, dm, act);
        }, {
          py::gil_scoped_release nogil;
          cuda::depthwise_conv2d_forward(y.f32(), x.f32(), w.f32(), b, g, dm, act);
        });
        return y;
      },
      py::arg("x"), py::arg("w"), py::arg("bias") = py::none(), py::arg("strides") = py::make_tuple(1, 1),
      py::arg("padding") = "valid", py::arg("dilation") = py::make_tuple(1, 1),
      py::arg("activation") = "none", py::arg("out") = py::none(),
      "DepthwiseConv2D NHWC: y = act(depthwise(x, w) + bias); w is (kh, kw, C, depth_multiplier), "
      "y has C*depth_multiplier channels (channel c*dm+m from input channel c); padding "
      "'valid'|'same' (TF/Keras rule); activation none|relu|sigmoid|tanh fused.");

  m.def(
      "depthwise_conv2d_backward",
      [](const Array& dY, const Array& x, const Array& w, std::optional<Array> y, py::object activation,
         py::object strides, const std::string& padding, py::object dilation, bool need_dX,
         bool has_bias) -> py::tuple {
        const char* op = "depthwise_conv2d_backward";
        i64 dm = 1;
        cpu::ConvGeom g = dw_geom(op, x, w, strides, padding, dilation, &dm);
        Act act = conv_act_arg(op, activation);
        check_f32(op, "dY", dY);
        const std::vector<i64> yshape{g.N, g.Ho, g.Wo, g.O};
        check_shape(op, "dY", dY, yshape);
        check_saved_output(op, y, act, activation, yshape);
        check_same_device(op, {&dY, &x, &w, y ? &*y : nullptr});
        Array dW = Array::empty(w.shape, DType::F32, x.device());
        std::optional<Array> dX, db;
        if (need_dX) dX = Array::empty(x.shape, DType::F32, x.device());
        if (has_bias) db = Array::empty({g.O}, DType::F32, x.device());
        const float* yp = (y && act != Act::None) ? y->f32() : nullptr;
        FN_DISPATCH(op, x, {
          py::gil_scoped_release nogil;
          cpu::depthwise_conv2d_backward(dX ? dX->f32() : nullptr, dW.f32(), db ? db->f32() : nullptr,
                                         dY.f32(), x.f32(), w.f32(), yp, g, dm, act);
        }, {
          py::gil_scoped_release nogil;
          cuda::depthwise_conv2d_backward(dX ? dX->f32() : nullptr, dW.f32(), db ? db->f32() : nullptr,
                                          dY.f32(), x.f32(), w.f32(), yp, g, dm, act);
        });
        return py::make_tuple(dX ? py::cast(*dX) : py::none(), py::cast(dW), db ? py::cast(*db) : py::none());
      },
      py::arg("dY"), py::arg("x"), py::arg("w"), py::arg("y") = py::none(), py::arg("activation") = "none",
      py::arg("strides") = py::make_tuple(1, 1), py::arg("padding") = "valid",
      py::arg("dilation") = py::make_tuple(1, 1), py::arg("need_dX") = true, py::arg("has_bias") = true,
      "Backward of y = act(depthwise_conv2d(x, w) + b) -> (dX | None, dW, db | None); the activation "
      "derivative is taken through the saved output y (relu y>0, sigmoid y(1-y), tanh 1-y^2).");
}

}  // namespace fusednet
