// bindings/qgemm.cpp — Python glue for int8 inference (csrc/cpu/qgemm.h, csrc/cuda/qgemm.cu).
//
//   QWeight(w_q)          packs int8 weights [K, N] (Keras kernel layout, conv kernels viewed as
//                         [kh·kw·Cin, Cout]) once; holds the column sums; uploads lazily to CUDA.
//   qdense / qconv2d      float32 Array in -> float32 Array out; activations quantized inside
//                         (dynamic: per sample; static: the calibrated scale / zero point).
//   quantize_rows, qgemm_s32, qgemm_s32_ref, qgemm_f32   the pieces, for tests and users.
// The 8-bit operands cross the boundary as NumPy uint8 / int8 arrays rather than as _C.Array:
// the Array type stays float32/int32/int64 (its dtype set is shared by every kernel family),
// and int8 data never needs autograd or device placement from Python — weights are packed
// here, activations are produced and consumed inside one call.
#include <pybind11/numpy.h>

#include <cstring>
#include <memory>
#include <optional>

#include "bindings/bind_util.h"
#include "bindings/cnn_args.h"
#include "cpu/activation.h"
#include "cpu/qgemm.h"
#include "cpu/runtime.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#include "cuda/qgemm.h"
#endif

namespace fusednet {
namespace {

using u8arr = py::array_t<uint8_t, py::array::c_style>;
using s8arr = py::array_t<int8_t, py::array::c_style>;

// K bound: |acc − zp·colsum| <= K·255·127 must fit in int32.
constexpr i64 kMaxK = 65536;

struct QWeight {
  cpu::QPacked P;
#ifdef FUSEDNET_WITH_CUDA
  // Device copies (int8 [K, N] row-major in an int32 Array of ceil(K·N/4) words, colsum [N]).
  std::optional<Array> dB, dcolsum;
  const int8_t* device_w(Device dev) {
    if (!dB || dB->device() != dev) {
      const i64 words = std::max<i64>((P.K * P.N + 3) / 4, 1);
      Array h = Array::zeros({words}, DType::I32, Device{}, "QWeight");
      std::memcpy(h.raw(), P.w.data(), P.w.size());
      Array c = Array::empty({std::max<i64>(P.N, 1)}, DType::I32, Device{}, "QWeight");
      std::memcpy(c.raw(), P.colsum.data(), P.colsum.size() * sizeof(int32_t));
      dB = h.to(dev);
      dcolsum = c.to(dev);
    }
    return dB->data<int8_t>();
  }
#endif
};

int isa_arg(const char* op, const std::string& s) {
  if (s == "auto") return -1;
  if (s == "portable") return 0;
  if (s == "avx2") return 1;
  if (s == "avx512-vnni" || s == "vnni" || s == "avx512") return 2;
  throw ValueError(std::string(op) + ": isa must be auto, portable, avx2 or avx512-vnni, got '" + s + "'");
}

std::shared_ptr<QWeight> make_qweight(const py::array& w_in) {
  const char* op = "QWeight";
  if (w_in.dtype().kind() != 'i' || w_in.itemsize() != 1)
    throw TypeError(std::string(op) + ": w_q must be an int8 NumPy array, got dtype " +
                    std::string(py::str(w_in.dtype())));
  if (w_in.ndim() != 2)
    throw ValueError(std::string(op) + ": w_q must be 2-D [K, N], got " + std::to_string(w_in.ndim()) + "-D");
  s8arr w = s8arr::ensure(w_in);
  const i64 K = w.shape(0), N = w.shape(1);
  if (K < 1 || N < 1 || K > kMaxK)
    throw ValueError(std::string(op) + ": w_q shape " + shape_str({K, N}) + " must have 1 <= K <= " +
                     std::to_string(kMaxK) + " and N >= 1");
  const int8_t* p = w.data();
  for (i64 i = 0; i < K * N; ++i)
    if (p[i] == -128)
      throw ValueError(std::string(op) + ": w_q must lie in [-127, 127] (symmetric int8); found -128");
  auto q = std::make_shared<QWeight>();
  py::gil_scoped_release nogil;
  cpu::qpack_weights(q->P, p, K, N);
  return q;
}

void check_vec(const char* op, const char* name, const Array& a, i64 n, const Array& like) {
  check_dtype(op, name, a, DType::F32);
  if (a.shape != std::vector<i64>{n})
    throw ValueError(std::string(op) + ": " + name + " must have shape (" + std::to_string(n) + ",), got " +
                     a.shape_str());
  if (a.device() != like.device())
    throw ValueError(std::string(op) + ": " + name + " is on " + a.device().str() + " but x is on " +
                     like.device().str());
}

struct Quant {
  bool dynamic;
  float scale;
  int32_t zp;
};

Quant quant_arg(const char* op, const std::optional<double>& in_scale, int in_zero_point) {
  if (!in_scale) return {true, 1.f, 0};
  if (!(*in_scale > 0.0) || !std::isfinite(*in_scale))
    throw ValueError(std::string(op) + ": in_scale must be a positive finite float, got " + std::to_string(*in_scale));
  if (in_zero_point < 0 || in_zero_point > 255)
    throw ValueError(std::string(op) + ": in_zero_point must be in [0, 255] (uint8), got " +
                     std::to_string(in_zero_point));
  return {false, float(*in_scale), int32_t(in_zero_point)};
}

#ifdef FUSEDNET_WITH_CUDA
// CUDA branches (outside FN_DISPATCH: braced initialisers hold commas the macro would split).
void qdense_cuda(Array& y, const Array& x, QWeight& w, const Array& w_scale, const float* bp, const Quant& q,
                 Act act) {
  const char* op = "qdense";
  const i64 M = x.dim(0), K = x.dim(1), N = w.P.N, Kp = w.P.Kp;
  const int8_t* dw = w.device_w(x.device());
  Array qa = Array::empty({std::max<i64>((M * Kp + 3) / 4, 1)}, DType::I32, x.device(), op);
  Array sa = Array::empty({std::max<i64>(M, 1)}, DType::F32, x.device(), op);
  Array zp = Array::empty({std::max<i64>(M, 1)}, DType::I32, x.device(), op);
  py::gil_scoped_release nogil;
  cuda::quantize_rows(qa.data<uint8_t>(), sa.f32(), zp.data<int32_t>(), x.f32(), M, K, Kp, q.dynamic, q.scale,
                      q.zp);
  cuda::qgemm_f32(y.f32(), qa.data<uint8_t>(), Kp, sa.f32(), zp.data<int32_t>(), q.dynamic, dw,
                  w.dcolsum->data<int32_t>(), w_scale.f32(), bp, M, N, K, act);
}

void qconv2d_cuda(Array& y, const Array& x, QWeight& w, const Array& w_scale, const float* bp,
                  const cpu::ConvGeom& g, const Quant& q, Act act) {
  const char* op = "qconv2d";
  const int8_t* dwp = w.device_w(x.device());
  const i64 HWC = g.H * g.W * g.C, Kp = w.P.Kp, M = g.M();
  Array xq = Array::empty({std::max<i64>((g.N * HWC + 3) / 4, 1)}, DType::I32, x.device(), op);
  Array col = Array::empty({std::max<i64>((M * Kp + 3) / 4, 1)}, DType::I32, x.device(), op);
  Array sa = Array::empty({M + g.N}, DType::F32, x.device(), op);  // per image, then per row
  Array zp = Array::empty({M + g.N}, DType::I32, x.device(), op);
  py::gil_scoped_release nogil;
  cuda::qconv2d_forward(y.f32(), xq.data<uint8_t>(), col.data<uint8_t>(), sa.f32(), zp.data<int32_t>(), x.f32(),
                        dwp, w.dcolsum->data<int32_t>(), w_scale.f32(), bp, g, q.dynamic, q.scale, q.zp, act);
}
#endif

Array qdense(const Array& x, QWeight& w, const Array& w_scale, const std::optional<Array>& bias,
             std::optional<double> in_scale, int in_zero_point, const py::handle& activation,
             const std::string& isa) {
  const char* op = "qdense";
  check_dtype(op, "x", x, DType::F32);
  check_ndim(op, "x", x, 2);
  const i64 M = x.dim(0), K = x.dim(1), N = w.P.N;
  if (K != w.P.K)
    throw ValueError(std::string(op) + ": x " + x.shape_str() + " does not match the weights " +
                     shape_str({w.P.K, N}) + " (x.shape[1] != K)");
  check_vec(op, "w_scale", w_scale, N, x);
  if (bias) check_vec(op, "bias", *bias, N, x);
  const Quant q = quant_arg(op, in_scale, in_zero_point);
  // "softmax" (the classifier head): the row softmax runs on the epilogue's output inside this
  // call (the same kernel as softmax_forward, so the same bits), one native call per layer
  const bool softmax = py::isinstance<py::str>(activation) && activation.cast<std::string>() == "softmax";
  const Act act = softmax ? Act::None : conv_act_arg(op, activation);
  const int lvl = isa_arg(op, isa);
  Array y = Array::empty({M, N}, DType::F32, x.device(), op);
  const float* bp = bias ? bias->f32() : nullptr;
  FN_DISPATCH(
      op, x,
      {
        py::gil_scoped_release nogil;
        cpu::qdense_forward(y.f32(), x.f32(), w.P, w_scale.f32(), bp, M, q.dynamic, q.scale, q.zp, act, lvl);
      },
      (qdense_cuda(y, x, w, w_scale, bp, q, act)));
  if (!softmax) return y;
  Array p = Array::empty({M, N}, DType::F32, x.device(), op);  // softmax does not run in place
  FN_DISPATCH(
      op, x,
      {
        py::gil_scoped_release nogil;
        cpu::softmax_forward(p.f32(), y.f32(), M, N);
      },
      {
        py::gil_scoped_release nogil;
        cuda::softmax_forward(p.f32(), y.f32(), M, N);
      });
  return p;
}

// The checks and geometry qconv2d and qconv2d_maxpool share: x float32 NHWC, the kernel
// [kh, kw, C, O] viewed as the packed [K, N], w_scale / bias of length O.
cpu::ConvGeom qconv_geom(const char* op, const Array& x, const QWeight& w, const py::handle& kernel_size,
                         const py::handle& strides, const std::string& padding, const py::handle& dilation,
                         const Array& w_scale, const std::optional<Array>& bias) {
  check_dtype(op, "x", x, DType::F32);
  if (x.ndim() != 4)
    throw ValueError(std::string(op) + ": x must be 4-D (N, H, W, C), got shape " + x.shape_str());
  auto [kh, kw] = pair_arg(op, "kernel_size", kernel_size);
  auto [sh, sw] = pair_arg(op, "strides", strides);
  auto [dh, dw] = pair_arg(op, "dilation", dilation);
  const bool same = padding_arg(op, padding);
  if (kh < 1 || kw < 1 || kh * kw * x.dim(3) != w.P.K)
    throw ValueError(std::string(op) + ": kernel " + shape_str({kh, kw, x.dim(3), w.P.N}) +
                     " does not match the packed weights [K, N] = " + shape_str({w.P.K, w.P.N}) +
                     " for x " + x.shape_str() + " (kh*kw*C != K)");
  cpu::ConvGeom g;
  try {
    g = cpu::make_conv_geom(op, x.dim(0), x.dim(1), x.dim(2), x.dim(3), kh, kw, w.P.N, sh, sw, dh, dw, same);
  } catch (const ValueError& e) {
    throw ValueError(std::string(e.what()) + " (x " + x.shape_str() + ")");
  }
  check_vec(op, "w_scale", w_scale, w.P.N, x);
  if (bias) check_vec(op, "bias", *bias, w.P.N, x);
  return g;
}

Array qconv2d(const Array& x, QWeight& w, const py::handle& kernel_size, const Array& w_scale,
              const std::optional<Array>& bias, const py::handle& strides, const std::string& padding,
              const py::handle& dilation, std::optional<double> in_scale, int in_zero_point,
              const py::handle& activation, const std::string& isa) {
  const char* op = "qconv2d";
  const cpu::ConvGeom g = qconv_geom(op, x, w, kernel_size, strides, padding, dilation, w_scale, bias);
  const Quant q = quant_arg(op, in_scale, in_zero_point);
  const Act act = conv_act_arg(op, activation);
  const int lvl = isa_arg(op, isa);
  Array y = Array::empty({g.N, g.Ho, g.Wo, g.O}, DType::F32, x.device(), op);
  const float* bp = bias ? bias->f32() : nullptr;
  FN_DISPATCH(
      op, x,
      {
        py::gil_scoped_release nogil;
        cpu::qconv2d_forward(y.f32(), x.f32(), w.P, w_scale.f32(), bp, g, q.dynamic, q.scale, q.zp, act, lvl);
      },
      (qconv2d_cuda(y, x, w, w_scale, bp, g, q, act)));
  return y;
}

// Quantized conv (activation none/relu) + MaxPooling2D in one call (inference): the CPU kernel
// pools each L2-sized group of images as the epilogue writes it; on CUDA the two kernels run
// back to back (no fused CUDA kernel yet). Same values as qconv2d + max_pool2d_forward.
Array qconv2d_maxpool(const Array& x, QWeight& w, const py::handle& kernel_size, const Array& w_scale,
                      const std::optional<Array>& bias, const py::handle& strides, const std::string& padding,
                      const py::handle& dilation, std::optional<double> in_scale, int in_zero_point,
                      const py::handle& activation, const py::handle& pool_size, const py::handle& pool_strides,
                      const std::string& pool_padding, const std::string& isa) {
  const char* op = "qconv2d_maxpool";
  if (!x.is_cpu())
    throw TypeError(std::string(op) + ": x must be on the CPU (CUDA runs qconv2d then max_pool2d_forward), got " +
                    x.describe());
  const cpu::ConvGeom g = qconv_geom(op, x, w, kernel_size, strides, padding, dilation, w_scale, bias);
  auto [ph, pw] = pair_arg(op, "pool_size", pool_size);
  auto [psh, psw] = pool_strides.is_none() ? std::pair<i64, i64>{ph, pw}
                                           : pair_arg(op, "pool_strides", pool_strides);
  const bool psame = padding_arg(op, pool_padding);
  const std::vector<i64> ys{g.N, g.Ho, g.Wo, g.O};
  if (g.Ho * g.Wo > i64(INT32_MAX))
    throw ValueError(std::string(op) + ": conv output " + shape_str(ys) + " too large for int32 pool indices");
  cpu::PoolGeom pg;
  try {
    pg = cpu::make_pool_geom(op, g.N, g.Ho, g.Wo, g.O, ph, pw, psh, psw, psame);
  } catch (const ValueError& e) {
    throw ValueError(std::string(e.what()) + " (conv output " + shape_str(ys) + ", x " + x.shape_str() + ")");
  }
  const Quant q = quant_arg(op, in_scale, in_zero_point);
  const Act act = conv_act_arg(op, activation);
  if (act != Act::None && act != Act::Relu)
    throw ValueError(std::string(op) + ": activation must be 'none' or 'relu', got '" +
                     std::string(py::str(activation)) + "'");
  const int lvl = isa_arg(op, isa);
  Array y = Array::empty({pg.N, pg.Ho, pg.Wo, pg.C}, DType::F32, x.device(), op);
  const float* bp = bias ? bias->f32() : nullptr;
  {
    py::gil_scoped_release nogil;
    cpu::qconv2d_maxpool_forward(y.f32(), x.f32(), w.P, w_scale.f32(), bp, g, pg, q.dynamic, q.scale, q.zp, act,
                                 lvl);
  }
  return y;
}

u8arr as_u8_2d(const char* op, const char* name, const py::array& a) {
  if (a.dtype().kind() != 'u' || a.itemsize() != 1)
    throw TypeError(std::string(op) + ": " + name + " must be a uint8 NumPy array, got dtype " +
                    std::string(py::str(a.dtype())));
  if (a.ndim() != 2)
    throw ValueError(std::string(op) + ": " + name + " must be 2-D, got " + std::to_string(a.ndim()) + "-D");
  return u8arr::ensure(a);
}

py::array_t<int32_t> qgemm_s32_py(const py::array& a_in, QWeight& w, const std::string& isa) {
  const char* op = "qgemm_s32";
  u8arr a = as_u8_2d(op, "a", a_in);
  const i64 M = a.shape(0), K = a.shape(1);
  if (K != w.P.K)
    throw ValueError(std::string(op) + ": a " + shape_str({M, K}) + " does not match the weights " +
                     shape_str({w.P.K, w.P.N}));
  const int lvl = isa_arg(op, isa);
  // The kernels read Kp (multiple of 4) columns: copy into a zero-padded buffer.
  const i64 Kp = w.P.Kp;
  std::vector<uint8_t> ap(size_t(std::max<i64>(M * Kp, 1)), 0);
  for (i64 i = 0; i < M; ++i) std::memcpy(ap.data() + i * Kp, a.data() + i * K, size_t(K));
  py::array_t<int32_t> out({M, w.P.N});
  int32_t* o = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    cpu::qgemm_s32(o, ap.data(), Kp, w.P, M, lvl);
  }
  return out;
}

py::array_t<int32_t> qgemm_s32_ref_py(const py::array& a_in, const py::array& b_in) {
  const char* op = "qgemm_s32_ref";
  u8arr a = as_u8_2d(op, "a", a_in);
  if (b_in.dtype().kind() != 'i' || b_in.itemsize() != 1 || b_in.ndim() != 2)
    throw TypeError(std::string(op) + ": b must be a 2-D int8 NumPy array");
  s8arr b = s8arr::ensure(b_in);
  const i64 M = a.shape(0), K = a.shape(1), N = b.shape(1);
  if (b.shape(0) != K)
    throw ValueError(std::string(op) + ": a " + shape_str({M, K}) + " @ b " + shape_str({b.shape(0), N}) +
                     ": inner dimensions differ");
  py::array_t<int32_t> out({M, N});
  cpu::qgemm_s32_ref(out.mutable_data(), a.data(), K, b.data(), M, N, K);
  return out;
}

py::tuple quantize_rows_py(const Array& x, std::optional<double> scale, int zero_point,
                           const std::string& isa) {
  const char* op = "quantize_rows";
  const int lvl = isa_arg(op, isa);
  check_dtype(op, "x", x, DType::F32);
  check_ndim(op, "x", x, 2);
  if (!x.is_cpu()) throw TypeError(std::string(op) + ": x must be on the CPU, got " + x.describe());
  const Quant q = quant_arg(op, scale, zero_point);
  const i64 M = x.dim(0), K = x.dim(1);
  u8arr out({M, K});
  const size_t ns = q.dynamic ? size_t(M) : 1;
  py::array_t<float> sa{py::ssize_t(ns)};
  py::array_t<int32_t> zp{py::ssize_t(ns)};
  if (ns == 0) return py::make_tuple(out, sa, zp);  // dynamic with M = 0
  sa.mutable_data()[0] = q.scale;
  zp.mutable_data()[0] = q.zp;
  {
    float* s = sa.mutable_data();
    int32_t* z = zp.mutable_data();
    uint8_t* o = out.mutable_data();
    py::gil_scoped_release nogil;
    cpu::quantize_rows(o, s, z, x.f32(), M, K, K, q.dynamic, lvl);
  }
  return py::make_tuple(out, sa, zp);
}

Array qgemm_f32_py(const py::array& a_in, const py::array_t<float, py::array::c_style | py::array::forcecast>& sa,
                   const py::array_t<int32_t, py::array::c_style | py::array::forcecast>& zp, QWeight& w,
                   const Array& w_scale, const std::optional<Array>& bias, const py::handle& activation,
                   const std::string& isa) {
  const char* op = "qgemm_f32";
  u8arr a = as_u8_2d(op, "a", a_in);
  const i64 M = a.shape(0), K = a.shape(1), N = w.P.N;
  if (K != w.P.K)
    throw ValueError(std::string(op) + ": a " + shape_str({M, K}) + " does not match the weights " +
                     shape_str({w.P.K, N}));
  if (sa.ndim() != 1 || zp.ndim() != 1 || sa.shape(0) != zp.shape(0) || (sa.shape(0) != 1 && sa.shape(0) != M))
    throw ValueError(std::string(op) + ": scale and zero_point must both have shape (1,) or (" +
                     std::to_string(M) + ",)");
  for (py::ssize_t i = 0; i < zp.shape(0); ++i)
    if (zp.data()[i] < 0 || zp.data()[i] > 255)
      throw ValueError(std::string(op) + ": zero_point values must be in [0, 255]");
  if (!w_scale.is_cpu()) throw TypeError(std::string(op) + ": CPU only");
  check_vec(op, "w_scale", w_scale, N, w_scale);
  if (bias) check_vec(op, "bias", *bias, N, w_scale);
  const Act act = conv_act_arg(op, activation);
  const int lvl = isa_arg(op, isa);
  const bool per_row = sa.shape(0) != 1;  // (M == 1: the same either way)
  const i64 Kp = w.P.Kp;
  std::vector<uint8_t> ap(size_t(std::max<i64>(M * Kp, 1)), 0);
  for (i64 i = 0; i < M; ++i) std::memcpy(ap.data() + i * Kp, a.data() + i * K, size_t(K));
  Array y = Array::empty({M, N}, DType::F32, Device{}, op);
  {
    py::gil_scoped_release nogil;
    cpu::qgemm_f32(y.f32(), ap.data(), Kp, sa.data(), zp.data(), per_row, w.P, w_scale.f32(),
                   bias ? bias->f32() : nullptr, M, act, lvl);
  }
  return y;
}

}  // namespace

FN_BIND(qgemm) {
  py::class_<QWeight, std::shared_ptr<QWeight>>(m, "QWeight",
                                                "int8 weights [K, N] packed for qdense / qconv2d")
      .def(py::init(&make_qweight), py::arg("w_q"))
      .def_property_readonly("shape", [](const QWeight& w) { return py::make_tuple(w.P.K, w.P.N); })
      .def_property_readonly("packed_nbytes", [](const QWeight& w) { return w.P.data.size(); })
      .def_property_readonly("w_q", [](const QWeight& w) {
        s8arr out({w.P.K, w.P.N});
        std::memcpy(out.mutable_data(), w.P.w.data(), w.P.w.size());
        return out;
      })
      .def_property_readonly("colsum", [](const QWeight& w) {
        py::array_t<int32_t> out{py::ssize_t(w.P.N)};
        std::memcpy(out.mutable_data(), w.P.colsum.data(), w.P.colsum.size() * sizeof(int32_t));
        return out;
      });
  m.def("qdense", &qdense, py::arg("x"), py::arg("w"), py::arg("w_scale"), py::arg("bias") = py::none(),
        py::arg("in_scale") = py::none(), py::arg("in_zero_point") = 0, py::arg("activation") = py::none(),
        py::arg("isa") = "auto",
        "y = act(dequant(quant(x) @ w) + bias); x float32 [M, K]; dynamic when in_scale is None; "
        "activation none|relu|sigmoid|tanh fused in the epilogue, softmax run in the same call");
  m.def("qconv2d", &qconv2d, py::arg("x"), py::arg("w"), py::arg("kernel_size"), py::arg("w_scale"),
        py::arg("bias") = py::none(), py::arg("strides") = 1, py::arg("padding") = "valid",
        py::arg("dilation") = 1, py::arg("in_scale") = py::none(), py::arg("in_zero_point") = 0,
        py::arg("activation") = py::none(), py::arg("isa") = "auto",
        "int8 conv2d, NHWC; w packed from the Keras kernel viewed as [kh*kw*Cin, Cout]");
  m.def("qconv2d_maxpool", &qconv2d_maxpool, py::arg("x"), py::arg("w"), py::arg("kernel_size"),
        py::arg("w_scale"), py::arg("bias") = py::none(), py::arg("strides") = 1, py::arg("padding") = "valid",
        py::arg("dilation") = 1, py::arg("in_scale") = py::none(), py::arg("in_zero_point") = 0,
        py::arg("activation") = py::none(), py::arg("pool_size") = py::make_tuple(2, 2),
        py::arg("pool_strides") = py::none(), py::arg("pool_padding") = "valid", py::arg("isa") = "auto",
        "max_pool2d(qconv2d(x)) in one CPU call (activation none|relu): the float conv output is pooled "
        "per L2-sized group of images, never written whole; the same bits as the two calls");
  m.def("quantize_rows", &quantize_rows_py, py::arg("x"), py::arg("scale") = py::none(),
        py::arg("zero_point") = 0, py::arg("isa") = "auto",
        "x float32 [M, K] -> (q uint8 [M, K], scale, zero_point); per-row min/max when scale is None");
  m.def("qgemm_s32", &qgemm_s32_py, py::arg("a"), py::arg("w"), py::arg("isa") = "auto",
        "int32 [M, N] = a (uint8 [M, K]) @ w (raw sums, no zero-point correction)");
  m.def("qgemm_s32_ref", &qgemm_s32_ref_py, py::arg("a"), py::arg("b"),
        "triple-loop int32 reference: uint8 [M, K] @ int8 [K, N]");
  m.def("qgemm_f32", &qgemm_f32_py, py::arg("a"), py::arg("scale"), py::arg("zero_point"), py::arg("w"),
        py::arg("w_scale"), py::arg("bias") = py::none(), py::arg("activation") = py::none(),
        py::arg("isa") = "auto", "float32 [M, N] = act((a@w - zp*colsum) * scale*w_scale + bias)");
  m.def("qgemm_isa", [](const std::string& isa) {
    static const char* names[] = {"portable", "avx2", "avx512-vnni"};
    const int want = isa_arg("qgemm_isa", isa);
    const int lvl = cpu::qgemm_isa_level();
    return std::string(names[want < 0 || want > lvl ? lvl : want]);
  }, py::arg("isa") = "auto", "the int8 kernel path that `isa` resolves to on this CPU");
}

}  // namespace fusednet
