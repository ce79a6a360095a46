// pool.cpp (bindings) — max / average / global pooling, NHWC (see csrc/cpu/pool.h).
#include <limits>

#include "bindings/bind_util.h"
#include "bindings/cnn_args.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#endif
#include "cpu/pool.h"

namespace fusednet {
namespace {

void check_x4(const char* op, const Array& x) {
  check_f32(op, "x", x);
  if (x.ndim() != 4)
    throw ValueError(std::string(op) + ": x must be 4-D (N, H, W, C), got shape " + x.shape_str());
  if (x.dim(1) * x.dim(2) > std::numeric_limits<int32_t>::max())
    throw ValueError(std::string(op) + ": H*W too large for int32 indices: " + x.shape_str());
}

cpu::PoolGeom geom_of(const char* op, const std::vector<i64>& xs, const py::handle& pool,
                      const py::handle& strides, const std::string& padding) {
  auto [ph, pw] = pair_arg(op, "pool_size", pool);
  auto [sh, sw] = strides.is_none() ? std::pair<i64, i64>{ph, pw} : pair_arg(op, "strides", strides);
  bool same = padding_arg(op, padding);
  try {
    return cpu::make_pool_geom(op, xs[0], xs[1], xs[2], xs[3], ph, pw, sh, sw, same);
  } catch (const ValueError& e) {
    throw ValueError(std::string(e.what()) + " (x " + shape_str(xs) + ")");
  }
}

std::vector<i64> xshape_arg(const char* op, const std::vector<i64>& s, int nd) {
  if (int(s.size()) != nd)
    throw ValueError(std::string(op) + ": x_shape must have " + std::to_string(nd) + " entries, got " + shape_str(s));
  for (i64 v : s)
    if (v < 0) throw ValueError(std::string(op) + ": x_shape has a negative entry: " + shape_str(s));
  return s;
}

// Runs `stmt` (written with cpu:: kernels) on the array's device: the CUDA branch re-binds the
// name `cpu` to the cuda:: launchers, which have the same names and signatures (cuda/kernels.h).
#define FN_CPU_ONLY(op, arr, stmt)                                             \
  FN_DISPATCH(op, arr, { py::gil_scoped_release nogil; stmt; },                \
              { namespace cpu = ::fusednet::cuda; py::gil_scoped_release nogil; stmt; })

}  // namespace

FN_BIND(pool) {
  m.def(
      "max_pool2d_forward",
      [](const Array& x, py::object pool_size, py::object strides, const std::string& padding) {
        const char* op = "max_pool2d_forward";
        check_x4(op, x);
        cpu::PoolGeom g = geom_of(op, x.shape, pool_size, strides, padding);
        Array y = Array::empty({g.N, g.Ho, g.Wo, g.C}, DType::F32, x.device());
        Array idx = Array::empty({g.N, g.Ho, g.Wo, g.C}, DType::I32, x.device());
        FN_CPU_ONLY(op, x, cpu::max_pool2d_forward(y.f32(), idx.data<int32_t>(), x.f32(), g));
        return py::make_tuple(y, idx);
      },
      py::arg("x"), py::arg("pool_size") = py::make_tuple(2, 2), py::arg("strides") = py::none(),
      py::arg("padding") = "valid",
      "-> (y, argmax int32): argmax is h*W + w of each window's maximum (first on ties). "
      "strides=None means strides = pool_size (Keras).");

  m.def(
      "max_pool2d_backward",
      [](const Array& dY, const Array& idx, std::vector<i64> x_shape, py::object pool_size, py::object strides,
         const std::string& padding, std::optional<Array> relu_y) {
        const char* op = "max_pool2d_backward";
        x_shape = xshape_arg(op, x_shape, 4);
        cpu::PoolGeom g = geom_of(op, x_shape, pool_size, strides, padding);
        check_f32(op, "dY", dY);
        check_dtype(op, "argmax", idx, DType::I32);
        check_shape(op, "dY", dY, {g.N, g.Ho, g.Wo, g.C});
        check_shape(op, "argmax", idx, {g.N, g.Ho, g.Wo, g.C});
        if (relu_y) {
          check_f32(op, "relu_y", *relu_y);
          check_shape(op, "relu_y", *relu_y, {g.N, g.Ho, g.Wo, g.C});
        }
        check_same_device(op, {&dY, &idx, relu_y ? &*relu_y : nullptr});
        Array dX = Array::empty(x_shape, DType::F32, dY.device());
        bool ok = true;
        const float* ry = relu_y ? relu_y->f32() : nullptr;
        FN_CPU_ONLY(op, dY, ok = cpu::max_pool2d_backward(dX.f32(), dY.f32(), idx.data<int32_t>(), g, ry));
        if (!ok) throw ValueError(std::string(op) + ": argmax holds an index outside [0, H*W) for x_shape " + shape_str(x_shape));
        return dX;
      },
      py::arg("dY"), py::arg("argmax"), py::arg("x_shape"), py::arg("pool_size") = py::make_tuple(2, 2),
      py::arg("strides") = py::none(), py::arg("padding") = "valid", py::arg("relu_y") = py::none(),
      "Scatter-adds dY at the forward's argmax; the pooling arguments only validate shapes. relu_y (the "
      "forward's pooled output, when the pooled input was a ReLU's output) drops contributions where "
      "relu_y <= 0: the ReLU's backward fused into the pool's.");

  m.def(
      "avg_pool2d_forward",
      [](const Array& x, py::object pool_size, py::object strides, const std::string& padding) {
        const char* op = "avg_pool2d_forward";
        check_x4(op, x);
        cpu::PoolGeom g = geom_of(op, x.shape, pool_size, strides, padding);
        Array y = Array::empty({g.N, g.Ho, g.Wo, g.C}, DType::F32, x.device());
        FN_CPU_ONLY(op, x, cpu::avg_pool2d_forward(y.f32(), x.f32(), g));
        return y;
      },
      py::arg("x"), py::arg("pool_size") = py::make_tuple(2, 2), py::arg("strides") = py::none(),
      py::arg("padding") = "valid", "'same' divides by the number of non-padded elements (Keras).");

  m.def(
      "avg_pool2d_backward",
      [](const Array& dY, std::vector<i64> x_shape, py::object pool_size, py::object strides,
         const std::string& padding) {
        const char* op = "avg_pool2d_backward";
        x_shape = xshape_arg(op, x_shape, 4);
        cpu::PoolGeom g = geom_of(op, x_shape, pool_size, strides, padding);
        check_f32(op, "dY", dY);
        check_shape(op, "dY", dY, {g.N, g.Ho, g.Wo, g.C});
        Array dX = Array::empty(x_shape, DType::F32, dY.device());
        FN_CPU_ONLY(op, dY, cpu::avg_pool2d_backward(dX.f32(), dY.f32(), g));
        return dX;
      },
      py::arg("dY"), py::arg("x_shape"), py::arg("pool_size") = py::make_tuple(2, 2),
      py::arg("strides") = py::none(), py::arg("padding") = "valid");

  m.def(
      "global_avg_pool_forward",
      [](const Array& x) {
        const char* op = "global_avg_pool_forward";
        check_x4(op, x);
        Array y = Array::empty({x.dim(0), x.dim(3)}, DType::F32, x.device());
        FN_CPU_ONLY(op, x, cpu::global_avg_pool_forward(y.f32(), x.f32(), x.dim(0), x.dim(1) * x.dim(2), x.dim(3)));
        return y;
      },
      py::arg("x"), "(N, H, W, C) -> (N, C) mean over H, W.");

  m.def(
      "global_avg_pool_backward",
      [](const Array& dY, std::vector<i64> x_shape) {
        const char* op = "global_avg_pool_backward";
        x_shape = xshape_arg(op, x_shape, 4);
        check_f32(op, "dY", dY);
        check_shape(op, "dY", dY, {x_shape[0], x_shape[3]});
        Array dX = Array::empty(x_shape, DType::F32, dY.device());
        FN_CPU_ONLY(op, dY, cpu::global_avg_pool_backward(dX.f32(), dY.f32(), x_shape[0], x_shape[1] * x_shape[2], x_shape[3]));
        return dX;
      },
      py::arg("dY"), py::arg("x_shape"));

  m.def(
      "global_max_pool_forward",
      [](const Array& x) {
        const char* op = "global_max_pool_forward";
        check_x4(op, x);
        if (x.dim(1) * x.dim(2) == 0 && x.dim(0) * x.dim(3) > 0)
          throw ValueError(std::string(op) + ": empty spatial extent: x " + x.shape_str());
        Array y = Array::empty({x.dim(0), x.dim(3)}, DType::F32, x.device());
        Array idx = Array::empty({x.dim(0), x.dim(3)}, DType::I32, x.device());
        FN_CPU_ONLY(op, x, cpu::global_max_pool_forward(y.f32(), idx.data<int32_t>(), x.f32(), x.dim(0), x.dim(1) * x.dim(2), x.dim(3)));
        return py::make_tuple(y, idx);
      },
      py::arg("x"), "(N, H, W, C) -> (y (N, C), argmax int32 (N, C) = h*W + w, first on ties).");

  m.def(
      "global_max_pool_backward",
      [](const Array& dY, const Array& idx, std::vector<i64> x_shape) {
        const char* op = "global_max_pool_backward";
        x_shape = xshape_arg(op, x_shape, 4);
        check_f32(op, "dY", dY);
        check_dtype(op, "argmax", idx, DType::I32);
        check_shape(op, "dY", dY, {x_shape[0], x_shape[3]});
        check_shape(op, "argmax", idx, {x_shape[0], x_shape[3]});
        check_same_device(op, {&dY, &idx});
        Array dX = Array::empty(x_shape, DType::F32, dY.device());
        bool ok = true;
        FN_CPU_ONLY(op, dY, ok = cpu::global_max_pool_backward(dX.f32(), dY.f32(), idx.data<int32_t>(), x_shape[0], x_shape[1] * x_shape[2], x_shape[3]));
        if (!ok) throw ValueError(std::string(op) + ": argmax holds an index outside [0, H*W) for x_shape " + shape_str(x_shape));
        return dX;
      },
      py::arg("dY"), py::arg("argmax"), py::arg("x_shape"));
}

}  // namespace fusednet
