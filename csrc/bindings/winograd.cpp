// winograd.cpp (bindings) — Winograd F(4x4,3x3) inference convolution (csrc/cpu/winograd.h):
//   winograd_weights(kernel) -> u            kernel (3, 3, Cin, Cout) -> u (36, Cin, Cout)
//   conv2d_winograd_forward(x, u, bias=None, padding='same', activation='none', out=None) -> y
// equal to conv2d_forward(x, kernel, bias, 1, padding, 1, activation) within TOL["winograd"].
// The transformed kernel is an argument (not recomputed per call) because inference plans call the
// same conv many times with the same weights; fusion.py keeps it beside the folded Conv+BN weights.
#include "bindings/bind_util.h"
#include "bindings/cnn_args.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/winograd.h"
#endif

#include "cpu/winograd.h"

namespace fusednet {
namespace {

struct WinoCall {
  cpu::ConvGeom g;
  Act act;
};

WinoCall wino_args(const char* op, const Array& x, const Array& u, const std::optional<Array>& bias,
                   const std::string& padding, const py::handle& activation) {
  check_dtype(op, "x", x, DType::F32);
  check_dtype(op, "u", u, DType::F32);
  if (x.ndim() != 4)
    throw ValueError(std::string(op) + ": x must be 4-D (N, H, W, C), got shape " + x.shape_str());
  if (u.ndim() != 3 || u.dim(0) != cpu::kWinoT || u.dim(1) != x.dim(3))
    throw ValueError(std::string(op) + ": u must be winograd_weights(kernel) of shape (36, " +
                     std::to_string(x.dim(3)) + ", Cout) for x " + x.shape_str() + ", got " + u.shape_str());
  const bool same = padding_arg(op, padding);
  WinoCall c;
  c.act = conv_act_arg(op, activation);
  if (c.act != Act::None && c.act != Act::Relu)
    throw ValueError(std::string(op) + ": activation must be 'none' or 'relu', got '" +
                     std::string(py::str(activation)) + "'");
  try {
    c.g = cpu::make_conv_geom(op, x.dim(0), x.dim(1), x.dim(2), x.dim(3), 3, 3, u.dim(2), 1, 1, 1, 1, same);
  } catch (const ValueError& e) {
    throw ValueError(std::string(e.what()) + " (x " + x.shape_str() + ", u " + u.shape_str() + ")");
  }
  if (bias) {
    check_dtype(op, "bias", *bias, DType::F32);
    if (bias->shape != std::vector<i64>{c.g.O})
      throw ValueError(std::string(op) + ": bias must have shape (" + std::to_string(c.g.O) + ",) for u " +
                       u.shape_str() + ", got " + bias->shape_str());
  }
  check_same_device(op, {&x, &u, bias ? &*bias : nullptr});
  return c;
}

}  // namespace

FN_BIND(winograd) {
  m.def(
      "winograd_weights",
      [](const Array& w) {
        const char* op = "winograd_weights";
        check_dtype(op, "kernel", w, DType::F32);
        if (w.ndim() != 4 || w.dim(0) != 3 || w.dim(1) != 3)
          throw ValueError(std::string(op) + ": kernel must be (3, 3, Cin, Cout), got shape " + w.shape_str());
        Array u = Array::empty({cpu::kWinoT, w.dim(2), w.dim(3)}, DType::F32, w.device());
        FN_DISPATCH(op, w, {
          py::gil_scoped_release nogil;
          cpu::winograd_weights(u.f32(), w.f32(), w.dim(2), w.dim(3));
        }, {
          py::gil_scoped_release nogil;
          cuda::winograd_weights(u.f32(), w.f32(), w.dim(2), w.dim(3));
        });
        return u;
      },
      py::arg("kernel"),
      "Winograd F(4x4,3x3) kernel transform: (3, 3, Cin, Cout) -> (36, Cin, Cout), G w G^T per filter.");

  m.def(
      "conv2d_winograd_forward",
      [](const Array& x, const Array& u, std::optional<Array> bias, const std::string& padding,
         py::object activation, std::optional<Array> out) {
        const char* op = "conv2d_winograd_forward";
        WinoCall c = wino_args(op, x, u, bias, padding, activation);
        Array y = out_or_empty(op, out, {c.g.N, c.g.Ho, c.g.Wo, c.g.O}, DType::F32, x.device());
        if (out) check_no_overlap(op, y, {&x, &u, bias ? &*bias : nullptr});
        const float* b = bias ? bias->f32() : nullptr;
        FN_DISPATCH(op, x, {
          py::gil_scoped_release nogil;
          cpu::winograd_forward(y.f32(), x.f32(), u.f32(), b, c.g, c.act);
        }, {
          py::gil_scoped_release nogil;
          cuda::winograd_forward(y.f32(), x.f32(), u.f32(), b, c.g, c.act);
        });
        return y;
      },
      py::arg("x"), py::arg("u"), py::arg("bias") = py::none(), py::arg("padding") = "same",
      py::arg("activation") = "none", py::arg("out") = py::none(),
      "3x3 stride-1 Conv2D NHWC by Winograd F(4x4,3x3): y = act(conv(x, w) + bias) with "
      "u = winograd_weights(w); padding 'valid'|'same'; activation none|relu.");

  m.def(
      "weights_fingerprint",
      [](const std::vector<std::optional<Array>>& arrays) {
        const char* op = "weights_fingerprint";
        uint64_t r = 0x9e3779b97f4a7c15ull;
        for (const auto& a : arrays) {
          uint64_t h = 0x51ed270b27a1f3c5ull;     // None
          if (a) {
            if (a->is_cuda()) throw ValueError(std::string(op) + ": CPU arrays only, got a CUDA array " + a->shape_str());
            const i64 nbytes = i64(a->nbytes());
            py::gil_scoped_release nogil;
            h = cpu::fingerprint(a->raw(), nbytes);
            for (i64 d : a->shape) h = (h ^ uint64_t(d)) * 0x100000001b3ull;
            h = (h ^ uint64_t(a->dtype)) * 0x100000001b3ull;
          }
          r = (r ^ h) * 0x100000001b3ull ^ (r >> 31);
        }
        return r;
      },
      py::arg("arrays"),
      "64-bit fingerprint of the bytes, shapes and dtypes of CPU arrays (None allowed): inference steps "
      "that cache transformed weights compare it instead of recomputing them every predict call.");

  m.def(
      "_winograd_forward_ref",
      [](const Array& x, const Array& u, std::optional<Array> bias, const std::string& padding,
         py::object activation) {
        const char* op = "_winograd_forward_ref";
        WinoCall c = wino_args(op, x, u, bias, padding, activation);
        if (x.is_cuda()) throw ValueError(std::string(op) + ": CPU arrays only (a testing hook)");
        Array y = Array::empty({c.g.N, c.g.Ho, c.g.Wo, c.g.O}, DType::F32, x.device());
        py::gil_scoped_release nogil;
        cpu::winograd_forward_ref(y.f32(), x.f32(), u.f32(), bias ? bias->f32() : nullptr, c.g, c.act);
        return y;
      },
      py::arg("x"), py::arg("u"), py::arg("bias") = py::none(), py::arg("padding") = "same",
      py::arg("activation") = "none",
      "Testing hook: the Winograd algorithm tile by tile with every sum in double (no GEMM, no vectors).");
}

}  // namespace fusednet
