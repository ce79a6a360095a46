// bindings/random.cpp — pybind11 glue for the random family (docs/KERNELS.md "random").
//
// Seeds and offsets are Python ints taken modulo 2^64 (negative seeds wrap, as NumPy's SeedSequence
// would not — documented: fusednet seeds are 64-bit words). Outputs are fresh CPU Arrays; the
// kernels run with the GIL released. `_philox4x32_10` exposes the raw generator for known-answer tests.
#include <cmath>

#include "bindings/bind_util.h"
#include "common/philox.h"
#include "cpu/random.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#endif

namespace fusednet {
namespace {

[[maybe_unused]] [[noreturn]] void cuda_not_yet(const char* op) {
  throw TypeError(std::string(op) + ": not implemented on CUDA yet; generate on the CPU and move with .to()");
}

uint64_t u64_arg(const py::int_& v) {
  unsigned long long x = PyLong_AsUnsignedLongLongMask(v.ptr());
  if (PyErr_Occurred()) throw py::error_already_set();
  return static_cast<uint64_t>(x);
}

std::vector<i64> shape_arg(const char* op, const std::vector<i64>& shape) {
  for (i64 d : shape)
    if (d < 0) throw ValueError(std::string(op) + ": shape " + shape_str(shape) + " has a negative dimension");
  return shape;
}

Device device_arg(const char* op, const std::string& device) {
  Device d = Device::parse(device);
#ifndef FUSEDNET_WITH_CUDA
  if (d.kind == Device::CUDA) throw_no_cuda(op);
#endif
  return d;
}

void check_finite(const char* op, const char* name, double x) {
  if (!std::isfinite(x))
    throw ValueError(std::string(op) + ": " + name + " must be finite, got " + std::to_string(x));
}

// kernel(on_cuda, ptr, n) runs the cpu:: or cuda:: twin (identical bits either way).
template <class K>
Array generate(const char* op, const std::vector<i64>& shape, const std::string& device, K&& kernel) {
  Device dev = device_arg(op, device);
  Array out = Array::empty(shape_arg(op, shape), DType::F32, dev);
  {
    py::gil_scoped_release nogil;
    kernel(out.is_cuda(), out.f32(), out.numel());
  }
  return out;
}

#ifdef FUSEDNET_WITH_CUDA
#define FN_RNG_CALL(on_cuda, fn, ...) ((on_cuda) ? cuda::fn(__VA_ARGS__) : cpu::fn(__VA_ARGS__))
#else
#define FN_RNG_CALL(on_cuda, fn, ...) cpu::fn(__VA_ARGS__)
#endif

}  // namespace

FN_BIND(random) {
  m.def("random_uniform",
        [](std::vector<i64> shape, py::int_ seed, py::int_ offset, double low, double high,
           const std::string& device) {
          const char* op = "random_uniform";
          check_finite(op, "low", low);
          check_finite(op, "high", high);
          if (high < low)
            throw ValueError("random_uniform: high (" + std::to_string(high) + ") < low (" + std::to_string(low) + ")");
          uint64_t s = u64_arg(seed), o = u64_arg(offset);
          return generate(op, shape, device, [&](bool on_cuda, float* p, i64 n) {
            FN_RNG_CALL(on_cuda, random_uniform, p, n, s, o, float(low), float(high));
          });
        },
        py::arg("shape"), py::arg("seed"), py::arg("offset") = 0, py::arg("low") = 0.0,
        py::arg("high") = 1.0, py::arg("device") = "cpu",
        "Uniform [low, high) from the Philox stream (seed, offset); element i uses lane i%4 of block i/4.");
  m.def("random_normal",
        [](std::vector<i64> shape, py::int_ seed, py::int_ offset, double mean, double std,
           const std::string& device) {
          const char* op = "random_normal";
          check_finite(op, "mean", mean);
          check_finite(op, "std", std);
          if (std < 0) throw ValueError("random_normal: std must be >= 0, got " + std::to_string(std));
          uint64_t s = u64_arg(seed), o = u64_arg(offset);
          return generate(op, shape, device, [&](bool on_cuda, float* p, i64 n) {
            FN_RNG_CALL(on_cuda, random_normal, p, n, s, o, float(mean), float(std));
          });
        },
        py::arg("shape"), py::arg("seed"), py::arg("offset") = 0, py::arg("mean") = 0.0,
        py::arg("std") = 1.0, py::arg("device") = "cpu",
        "Normal(mean, std) by Box–Muller on lane pairs (0,1) and (2,3) of each Philox block.");
  m.def("random_truncated_normal",
        [](std::vector<i64> shape, py::int_ seed, py::int_ offset, double mean, double std,
           const std::string& device) {
          const char* op = "random_truncated_normal";
          check_finite(op, "mean", mean);
          check_finite(op, "std", std);
          if (std < 0) throw ValueError("random_truncated_normal: std must be >= 0, got " + std::to_string(std));
          uint64_t s = u64_arg(seed), o = u64_arg(offset);
          return generate(op, shape, device, [&](bool on_cuda, float* p, i64 n) {
            FN_RNG_CALL(on_cuda, random_truncated_normal, p, n, s, o, float(mean), float(std));
          });
        },
        py::arg("shape"), py::arg("seed"), py::arg("offset") = 0, py::arg("mean") = 0.0,
        py::arg("std") = 1.0, py::arg("device") = "cpu",
        "Keras truncated normal: values beyond 2 std re-drawn (attempt k from offset + k*2^32).");
  m.def("dropout_forward",
        [](const Array& x, double rate, py::int_ seed, py::int_ offset) {
          const char* op = "dropout_forward";
          check_dtype(op, "x", x, DType::F32);
          if (!(rate >= 0.0 && rate < 1.0))
            throw ValueError("dropout_forward: rate must be in [0, 1), got " + std::to_string(rate));
          uint64_t s = u64_arg(seed), o = u64_arg(offset);
          Array y = Array::empty(x.shape, DType::F32, x.device());
          Array mask = Array::empty(x.shape, DType::F32, x.device());
          FN_DISPATCH(op, x,
                      {
                        py::gil_scoped_release nogil;
                        cpu::dropout_forward(y.f32(), mask.f32(), x.f32(), x.numel(), rate, s, o);
                      },
                      {
                        py::gil_scoped_release nogil;
                        cuda::dropout_forward(y.f32(), mask.f32(), x.f32(), x.numel(), rate, s, o);
                      });
          return py::make_tuple(y, mask);
        },
        py::arg("x"), py::arg("rate"), py::arg("seed"), py::arg("offset") = 0,
        "(y, mask): mask = 1/(1-rate) where uniform(i) >= rate else 0; y = x*mask.");
  m.def("permutation",
        [](i64 n, py::int_ seed, py::int_ offset) {
          if (n < 0) throw ValueError("permutation: n must be >= 0, got " + std::to_string(n));
          uint64_t s = u64_arg(seed), o = u64_arg(offset);
          Array out = Array::empty({n}, DType::I64, Device{});
          {
            py::gil_scoped_release nogil;
            cpu::random_permutation(out.data<int64_t>(), n, s, o);
          }
          return out;
        },
        py::arg("n"), py::arg("seed"), py::arg("offset") = 0,
        "int64 permutation of 0..n-1: indices sorted by 64-bit Philox keys (thread-count independent).");
  m.def("_philox4x32_10",
        [](std::vector<uint32_t> ctr, std::vector<uint32_t> key) {
          if (ctr.size() != 4 || key.size() != 2)
            throw ValueError("_philox4x32_10: need 4 counter words and 2 key words");
          Philox4 r = philox4x32_10(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1]);
          return py::make_tuple(r.v[0], r.v[1], r.v[2], r.v[3]);
        },
        py::arg("counter"), py::arg("key"), "Testing hook: one raw Philox4x32-10 block.");
}

}  // namespace fusednet
