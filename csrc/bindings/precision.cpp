// precision.cpp — _C.set_matmul_precision / _C.get_matmul_precision (torch-style names).
//
// "highest" (default): every matmul is exact FP32. "high" (and "medium", its alias): CUDA GEMMs
// may use TF32 tensor cores (10-bit mantissa inputs, FP32 accumulation) on sm_80+. CPU kernels
// always compute in FP32, so on a CPU-only build the setting is validated and remembered only.
#include "bindings/bind_util.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#endif

namespace fusednet {
namespace {
#ifndef FUSEDNET_WITH_CUDA
std::string g_cpu_precision = "highest";
#endif

void set_precision(const std::string& p) {
#ifdef FUSEDNET_WITH_CUDA
  cuda::set_matmul_precision(p);
#else
  if (p == "highest") g_cpu_precision = "highest";
  else if (p == "high" || p == "medium") g_cpu_precision = "high";
  else
    throw ValueError("set_matmul_precision: precision must be 'highest', 'high' or 'medium', got '" +
                     p + "'");
#endif
}

std::string get_precision() {
#ifdef FUSEDNET_WITH_CUDA
  return cuda::get_matmul_precision();
#else
  return g_cpu_precision;
#endif
}
}  // namespace

FN_BIND(precision) {
  m.def("set_matmul_precision", &set_precision, py::arg("precision"),
        "'highest' (FP32, default) or 'high'/'medium' (CUDA GEMMs may use TF32 tensor cores).");
  m.def("get_matmul_precision", &get_precision);
}

}  // namespace fusednet
