// conv.cpp (bindings) — conv2d_forward / conv2d_backward / conv2d_output_shape, the Conv2D →
// MaxPooling2D pair conv2d_maxpool_forward / conv2d_maxpool_backward, and Conv2DTranspose's
// conv2d_transpose_forward / conv2d_transpose_backward (the conv's data gradient and its adjoint).
// Layout: x (N, H, W, Cin), kernel (kh, kw, Cin, Cout) as Keras, bias (Cout,), y (N, Ho, Wo, Cout).
#include "bindings/bind_util.h"
#include "bindings/cnn_args.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#endif
#include <limits>

#include "cpu/conv.h"

namespace fusednet {
namespace {

cpu::ConvGeom geom_for(const char* op, const Array& x, const Array& w, const py::handle& strides,
                       const std::string& padding, const py::handle& dilation) {
  check_f32(op, "x", x);
  check_f32(op, "kernel", w);
  if (x.ndim() != 4)
    throw ValueError(std::string(op) + ": x must be 4-D (N, H, W, C), got shape " + x.shape_str());
  if (w.ndim() != 4)
    throw ValueError(std::string(op) + ": kernel must be 4-D (kh, kw, Cin, Cout), got shape " + w.shape_str());
  if (w.dim(2) != x.dim(3))
    throw ValueError(std::string(op) + ": channels mismatch: x " + x.shape_str() + " has " +
                     std::to_string(x.dim(3)) + " channels but kernel " + w.shape_str() + " expects " +
                     std::to_string(w.dim(2)));
  auto [sh, sw] = pair_arg(op, "strides", strides);
  auto [dh, dw] = pair_arg(op, "dilation", dilation);
  bool same = padding_arg(op, padding);
  try {
    return cpu::make_conv_geom(op, x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(1), w.dim(3),
                               sh, sw, dh, dw, same);
  } catch (const ValueError& e) {
    throw ValueError(std::string(e.what()) + " (x " + x.shape_str() + ", kernel " + w.shape_str() + ")");
  }
}

// Conv2DTranspose: the conv whose data gradient the layer computes. x (N, h, w, Cin) is that conv's
// output side, the layer's output (N, H, W, filters) its input side; kernel (kh, kw, filters, Cin).
// The conv's top / left zero padding (pt, pl) comes from the caller (Keras' rule in the layer),
// 0 <= pt <= (kh-1)·dh; taps that fall outside [0, H) x [0, W) read as padding.
cpu::ConvGeom transpose_geom_for(const char* op, const Array& x, const Array& w, i64 H, i64 W,
                                 const py::handle& strides, const py::handle& pads, const py::handle& dilation) {
  check_f32(op, "x", x);
  check_f32(op, "kernel", w);
  if (x.ndim() != 4)
    throw ValueError(std::string(op) + ": x must be 4-D (N, H, W, C), got shape " + x.shape_str());
  if (w.ndim() != 4)
    throw ValueError(std::string(op) + ": kernel must be 4-D (kh, kw, filters, Cin), got shape " + w.shape_str());
  if (w.dim(3) != x.dim(3))
    throw ValueError(std::string(op) + ": channels mismatch: x " + x.shape_str() + " has " +
                     std::to_string(x.dim(3)) + " channels but kernel " + w.shape_str() + " expects " +
                     std::to_string(w.dim(3)));
  auto [sh, sw] = pair_arg(op, "strides", strides);
  auto [dh, dw] = pair_arg(op, "dilation", dilation);
  auto [pt, pl] = pair_arg(op, "padding", pads);
  const i64 kh = w.dim(0), kw = w.dim(1);
  auto str2 = [](i64 a, i64 b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; };
  constexpr i64 kMax = i64(1) << 24;
  if (sh < 1 || sw < 1 || sh > kMax || sw > kMax)
    throw ValueError(std::string(op) + ": strides must be in [1, 2^24], got " + str2(sh, sw));
  if (dh < 1 || dw < 1 || dh > kMax || dw > kMax)
    throw ValueError(std::string(op) + ": dilation must be in [1, 2^24], got " + str2(dh, dw));
  if (kh < 1 || kw < 1 || kh > kMax || kw > kMax)
    throw ValueError(std::string(op) + ": kernel size must be >= 1, got kernel " + w.shape_str());
  if (pt < 0 || pl < 0 || pt > (kh - 1) * dh || pl > (kw - 1) * dw)
    throw ValueError(std::string(op) + ": padding " + str2(pt, pl) + " must be in [0, (k-1)*dilation] for kernel " +
                     w.shape_str() + " and dilation " + str2(dh, dw));
  if (H < 0 || W < 0 || H > (i64(1) << 40) / std::max<i64>(sh, 1) || W > (i64(1) << 40) / std::max<i64>(sw, 1))
    throw ValueError(std::string(op) + ": output_size " + str2(H, W) + " is out of range");
  cpu::ConvGeom g;
  g.N = x.dim(0); g.H = H; g.W = W; g.C = w.dim(2); g.kh = kh; g.kw = kw; g.O = w.dim(3);
  g.sh = sh; g.sw = sw; g.dh = dh; g.dw = dw; g.pt = pt; g.pl = pl; g.Ho = x.dim(1); g.Wo = x.dim(2);
  // every output pixel's window must start inside the padded image (no window wholly past the end)
  if ((g.Ho > 0 && (g.Ho - 1) * sh - pt >= std::max<i64>(H, 1)) || (g.Wo > 0 && (g.Wo - 1) * sw - pl >= std::max<i64>(W, 1)))
    throw ValueError(std::string(op) + ": output_size " + str2(H, W) + " is too small for x " + x.shape_str() +
                     " with strides " + str2(sh, sw) + " and padding " + str2(pt, pl));
  return g;
}

void check_bias(const char* op, const std::optional<Array>& bias, const cpu::ConvGeom& g, const Array& w) {
  if (!bias) return;
  check_f32(op, "bias", *bias);
  if (bias->shape != std::vector<i64>{g.O})
    throw ValueError(std::string(op) + ": bias must have shape (" + std::to_string(g.O) + ",) for kernel " +
                     w.shape_str() + ", got " + bias->shape_str());
}

// Pooling of the conv's output [N, Ho, Wo, O] (the pool arguments as max_pool2d_forward takes them).
cpu::PoolGeom pool_geom_for(const char* op, const cpu::ConvGeom& g, const py::handle& pool_size,
                            const py::handle& pool_strides, const std::string& pool_padding) {
  auto [ph, pw] = pair_arg(op, "pool_size", pool_size);
  auto [sh, sw] = pool_strides.is_none() ? std::pair<i64, i64>{ph, pw} : pair_arg(op, "pool_strides", pool_strides);
  const bool same = padding_arg(op, pool_padding);
  const std::vector<i64> ys{g.N, g.Ho, g.Wo, g.O};
  if (g.Ho * g.Wo > std::numeric_limits<int32_t>::max())
    throw ValueError(std::string(op) + ": conv output " + shape_str(ys) + " too large for int32 argmax indices");
  try {
    return cpu::make_pool_geom(op, g.N, g.Ho, g.Wo, g.O, ph, pw, sh, sw, same);
  } catch (const ValueError& e) {
    throw ValueError(std::string(e.what()) + " (conv output " + shape_str(ys) + ")");
  }
}

Act pair_act_arg(const char* op, const py::handle& activation) {
  const Act act = conv_act_arg(op, activation);
  if (act != Act::None && act != Act::Relu)
    throw ValueError(std::string(op) + ": activation must be 'none' or 'relu' (the pool's backward applies "
                     "relu'), got '" + std::string(py::str(activation)) + "'");
  return act;
}

}  // namespace

FN_BIND(conv) {
  m.def(
      "conv2d_forward",
      [](const Array& x, const Array& w, std::optional<Array> bias, py::object strides,
         const std::string& padding, py::object dilation, py::object activation,
         std::optional<Array> out) {
        const char* op = "conv2d_forward";
        cpu::ConvGeom g = geom_for(op, x, w, strides, padding, dilation);
        Act act = conv_act_arg(op, activation);
        check_bias(op, bias, g, w);
        check_same_device(op, {&x, &w, bias ? &*bias : nullptr});
        Array y = out_or_empty(op, out, {g.N, g.Ho, g.Wo, g.O}, DType::F32, x.device());
        if (out) check_no_overlap(op, y, {&x, &w, bias ? &*bias : nullptr});
        const float* b = bias ? bias->f32() : nullptr;
        FN_DISPATCH(op, x, {
          py::gil_scoped_release nogil;
          cpu::conv2d_forward(y.f32(), x.f32(), w.f32(), b, g, act);
        }, {
          py::gil_scoped_release nogil;
          cuda::conv2d_forward(y.f32(), x.f32(), w.f32(), b, g, act);
        });
        return y;
      },
      py::arg("x"), py::arg("w"), py::arg("bias") = py::none(), py::arg("strides") = py::make_tuple(1, 1),
      py::arg("padding") = "valid", py::arg("dilation") = py::make_tuple(1, 1),
      py::arg("activation") = "none", py::arg("out") = py::none(),
      "Conv2D NHWC: y = act(conv(x, w) + bias); w is (kh, kw, Cin, Cout); padding 'valid'|'same' "
      "(TF/Keras rule); activation none|relu|sigmoid|tanh fused into the GEMM epilogue.");

  m.def(
      "conv2d_backward",
      [](const Array& dY, const Array& x, const Array& w, std::optional<Array> y, py::object activation,
         py::object strides, const std::string& padding, py::object dilation, bool need_dX,
         bool has_bias) -> py::tuple {
        const char* op = "conv2d_backward";
        cpu::ConvGeom g = geom_for(op, x, w, strides, padding, dilation);
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
          cpu::conv2d_backward(dX ? dX->f32() : nullptr, dW.f32(), db ? db->f32() : nullptr, dY.f32(),
                               x.f32(), w.f32(), yp, g, act);
        }, {
          py::gil_scoped_release nogil;
          cuda::conv2d_backward(dX ? dX->f32() : nullptr, dW.f32(), db ? db->f32() : nullptr, dY.f32(),
                                x.f32(), w.f32(), yp, g, act);
        });
        return py::make_tuple(dX ? py::cast(*dX) : py::none(), py::cast(dW), db ? py::cast(*db) : py::none());
      },
      py::arg("dY"), py::arg("x"), py::arg("w"), py::arg("y") = py::none(), py::arg("activation") = "none",
      py::arg("strides") = py::make_tuple(1, 1), py::arg("padding") = "valid",
      py::arg("dilation") = py::make_tuple(1, 1), py::arg("need_dX") = true, py::arg("has_bias") = true,
      "Backward of y = act(conv2d(x, w) + b) -> (dX | None, dW, db | None); the activation derivative "
      "is taken through the saved output y (relu y>0, sigmoid y(1-y), tanh 1-y^2).");

  m.def(
      "conv2d_maxpool_forward",
      [](const Array& x, const Array& w, std::optional<Array> bias, py::object strides,
         const std::string& padding, py::object dilation, py::object activation, py::object pool_size,
         py::object pool_strides, const std::string& pool_padding) {
        const char* op = "conv2d_maxpool_forward";
        cpu::ConvGeom g = geom_for(op, x, w, strides, padding, dilation);
        const Act act = pair_act_arg(op, activation);
        const cpu::PoolGeom pg = pool_geom_for(op, g, pool_size, pool_strides, pool_padding);
        check_bias(op, bias, g, w);
        check_same_device(op, {&x, &w, bias ? &*bias : nullptr});
        Array y = Array::empty({pg.N, pg.Ho, pg.Wo, pg.C}, DType::F32, x.device());
        Array idx = Array::empty({pg.N, pg.Ho, pg.Wo, pg.C}, DType::I32, x.device());
        const float* b = bias ? bias->f32() : nullptr;
        FN_DISPATCH(op, x, {
          py::gil_scoped_release nogil;
          cpu::conv2d_maxpool_forward(y.f32(), idx.data<int32_t>(), x.f32(), w.f32(), b, g, act, pg);
        }, {
          py::gil_scoped_release nogil;
          cuda::conv2d_maxpool_forward(y.f32(), idx.data<int32_t>(), x.f32(), w.f32(), b, g, act, pg);
        });
        return py::make_tuple(y, idx);
      },
      py::arg("x"), py::arg("w"), py::arg("bias") = py::none(), py::arg("strides") = py::make_tuple(1, 1),
      py::arg("padding") = "valid", py::arg("dilation") = py::make_tuple(1, 1),
      py::arg("activation") = "relu", py::arg("pool_size") = py::make_tuple(2, 2),
      py::arg("pool_strides") = py::none(), py::arg("pool_padding") = "valid",
      "Conv2D (activation none|relu) then MaxPooling2D in one call -> (pooled, argmax int32), the same "
      "values as conv2d_forward + max_pool2d_forward; on the CPU the conv output is never materialised.");

  m.def(
      "conv2d_maxpool_backward",
      [](const Array& dP, const Array& idx, const Array& x, const Array& w, std::optional<Array> relu_y,
         py::object strides, const std::string& padding, py::object dilation, py::object pool_size,
         py::object pool_strides, const std::string& pool_padding, bool need_dX, bool has_bias) -> py::tuple {
        const char* op = "conv2d_maxpool_backward";
        cpu::ConvGeom g = geom_for(op, x, w, strides, padding, dilation);
        const cpu::PoolGeom pg = pool_geom_for(op, g, pool_size, pool_strides, pool_padding);
        const std::vector<i64> pshape{pg.N, pg.Ho, pg.Wo, pg.C};
        check_f32(op, "dP", dP);
        check_shape(op, "dP", dP, pshape);
        check_dtype(op, "argmax", idx, DType::I32);
        check_shape(op, "argmax", idx, pshape);
        if (relu_y) {
          check_f32(op, "relu_y", *relu_y);
          check_shape(op, "relu_y", *relu_y, pshape);
        }
        check_same_device(op, {&dP, &idx, &x, &w, relu_y ? &*relu_y : nullptr});
        Array dW = Array::empty(w.shape, DType::F32, x.device());
        std::optional<Array> dX, db;
        if (need_dX) dX = Array::empty(x.shape, DType::F32, x.device());
        if (has_bias) db = Array::empty({g.O}, DType::F32, x.device());
        const float* ry = relu_y ? relu_y->f32() : nullptr;
        try {
          FN_DISPATCH(op, x, {
            py::gil_scoped_release nogil;
            cpu::conv2d_maxpool_backward(dX ? dX->f32() : nullptr, dW.f32(), db ? db->f32() : nullptr, dP.f32(),
                                         idx.data<int32_t>(), ry, x.f32(), w.f32(), g, pg);
          }, {
            py::gil_scoped_release nogil;
            cuda::conv2d_maxpool_backward(dX ? dX->f32() : nullptr, dW.f32(), db ? db->f32() : nullptr, dP.f32(),
                                          idx.data<int32_t>(), ry, x.f32(), w.f32(), g, pg);
          });
        } catch (const ValueError& e) {
          throw ValueError(std::string(e.what()) + " (argmax " + idx.shape_str() + ", conv output (" +
                           std::to_string(g.N) + ", " + std::to_string(g.Ho) + ", " + std::to_string(g.Wo) +
                           ", " + std::to_string(g.O) + "))");
        }
        return py::make_tuple(dX ? py::cast(*dX) : py::none(), py::cast(dW), db ? py::cast(*db) : py::none());
      },
      py::arg("dP"), py::arg("argmax"), py::arg("x"), py::arg("w"), py::arg("relu_y") = py::none(),
      py::arg("strides") = py::make_tuple(1, 1), py::arg("padding") = "valid",
      py::arg("dilation") = py::make_tuple(1, 1), py::arg("pool_size") = py::make_tuple(2, 2),
      py::arg("pool_strides") = py::none(), py::arg("pool_padding") = "valid", py::arg("need_dX") = true,
      py::arg("has_bias") = true,
      "Backward of conv2d_maxpool_forward -> (dX | None, dW, db | None). relu_y: the pooled output when "
      "the conv's activation was relu (its derivative is applied at the argmax), None for 'none'.");

  m.def(
      "conv2d_transpose_forward",
      [](const Array& x, const Array& w, std::optional<Array> bias, py::object output_size, py::object strides,
         py::object padding, py::object dilation, py::object activation) {
        const char* op = "conv2d_transpose_forward";
        auto [H, W] = pair_arg(op, "output_size", output_size);
        cpu::ConvGeom g = transpose_geom_for(op, x, w, H, W, strides, padding, dilation);
        Act act = conv_act_arg(op, activation);
        if (bias) {
          check_f32(op, "bias", *bias);
          if (bias->shape != std::vector<i64>{g.C})
            throw ValueError(std::string(op) + ": bias must have shape (" + std::to_string(g.C) + ",) for kernel " +
                             w.shape_str() + ", got " + bias->shape_str());
        }
        check_same_device(op, {&x, &w, bias ? &*bias : nullptr});
        Array y = Array::empty({g.N, g.H, g.W, g.C}, DType::F32, x.device());
        const float* b = bias ? bias->f32() : nullptr;
        FN_DISPATCH(op, x, {
          py::gil_scoped_release nogil;
          cpu::conv2d_transpose_forward(y.f32(), x.f32(), w.f32(), b, g, act);
        }, {
          py::gil_scoped_release nogil;
          cuda::conv2d_transpose_forward(y.f32(), x.f32(), w.f32(), b, g, act);
        });
        return y;
      },
      py::arg("x"), py::arg("w"), py::arg("bias") = py::none(), py::arg("output_size"),
      py::arg("strides") = py::make_tuple(1, 1), py::arg("padding") = py::make_tuple(0, 0),
      py::arg("dilation") = py::make_tuple(1, 1), py::arg("activation") = "none",
      "Conv2DTranspose NHWC: y (N, H, W, filters) = act(dX of conv2d(., w) at dY = x, + bias), i.e. the "
      "data gradient of the conv taking (N, H, W, filters) to x's (N, h, w, Cin); w is (kh, kw, filters, Cin) "
      "as Keras; padding (top, left) is that conv's zero padding, output_size (H, W) its input size.");

  m.def(
      "conv2d_transpose_backward",
      [](const Array& dY, const Array& x, const Array& w, std::optional<Array> y, py::object activation,
         py::object strides, py::object padding, py::object dilation, bool need_dX,
         bool has_bias) -> py::tuple {
        const char* op = "conv2d_transpose_backward";
        check_f32(op, "dY", dY);
        if (dY.ndim() != 4)
          throw ValueError(std::string(op) + ": dY must be 4-D (N, H, W, C), got shape " + dY.shape_str());
        cpu::ConvGeom g = transpose_geom_for(op, x, w, dY.dim(1), dY.dim(2), strides, padding, dilation);
        const std::vector<i64> yshape{g.N, g.H, g.W, g.C};
        check_shape(op, "dY", dY, yshape);
        Act act = conv_act_arg(op, activation);
        check_saved_output(op, y, act, activation, yshape);
        check_same_device(op, {&dY, &x, &w, y ? &*y : nullptr});
        Array dW = Array::empty(w.shape, DType::F32, x.device());
        std::optional<Array> dX, db;
        if (need_dX) dX = Array::empty(x.shape, DType::F32, x.device());
        if (has_bias) db = Array::empty({g.C}, DType::F32, x.device());
        const float* yp = (y && act != Act::None) ? y->f32() : nullptr;
        FN_DISPATCH(op, x, {
          py::gil_scoped_release nogil;
          cpu::conv2d_transpose_backward(dX ? dX->f32() : nullptr, dW.f32(), db ? db->f32() : nullptr, dY.f32(),
                                         x.f32(), w.f32(), yp, g, act);
        }, {
          py::gil_scoped_release nogil;
          cuda::conv2d_transpose_backward(dX ? dX->f32() : nullptr, dW.f32(), db ? db->f32() : nullptr, dY.f32(),
                                          x.f32(), w.f32(), yp, g, act);
        });
        return py::make_tuple(dX ? py::cast(*dX) : py::none(), py::cast(dW), db ? py::cast(*db) : py::none());
      },
      py::arg("dY"), py::arg("x"), py::arg("w"), py::arg("y") = py::none(), py::arg("activation") = "none",
      py::arg("strides") = py::make_tuple(1, 1), py::arg("padding") = py::make_tuple(0, 0),
      py::arg("dilation") = py::make_tuple(1, 1), py::arg("need_dX") = true, py::arg("has_bias") = true,
      "Backward of conv2d_transpose_forward -> (dX | None, dW, db | None); the activation derivative is "
      "taken through the saved output y.");

  m.def(
      "conv2d_output_shape",
      [](std::vector<i64> x_shape, py::object kernel_size, py::object strides, const std::string& padding,
         py::object dilation) {
        const char* op = "conv2d_output_shape";
        if (x_shape.size() != 4)
          throw ValueError(std::string(op) + ": x_shape must have 4 entries (N, H, W, C), got " + shape_str(x_shape));
        auto [kh, kw] = pair_arg(op, "kernel_size", kernel_size);
        auto [sh, sw] = pair_arg(op, "strides", strides);
        auto [dh, dw] = pair_arg(op, "dilation", dilation);
        cpu::ConvGeom g = cpu::make_conv_geom(op, x_shape[0], x_shape[1], x_shape[2], x_shape[3], kh, kw, 1,
                                              sh, sw, dh, dw, padding_arg(op, padding));
        return py::make_tuple(g.N, g.Ho, g.Wo);
      },
      py::arg("x_shape"), py::arg("kernel_size"), py::arg("strides") = py::make_tuple(1, 1),
      py::arg("padding") = "valid", py::arg("dilation") = py::make_tuple(1, 1),
      "(N, Ho, Wo) of a conv / pooling window over x_shape (N, H, W, C), Keras rules.");
}

}  // namespace fusednet
