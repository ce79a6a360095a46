// bind_util.h — what every binding file needs: the self-registration macro, argument checks that
// produce the library's error messages ("op: what is wrong: shapes"), and device dispatch.
//
// A family's bindings live in csrc/bindings/<family>.cpp and register themselves:
//     FN_BIND(gemm) { m.def("matmul", ...); }
// so adding a family never edits module.cpp or CMakeLists.txt.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "bindings/array.h"

namespace py = pybind11;

namespace fusednet {

using BindFn = void (*)(py::module_&);
int register_binding(const char* name, BindFn fn);
void run_bindings(py::module_& m);

#define FN_BIND(name)                                                                  \
  static void fn_bind_##name(py::module_& m);                                          \
  static const int fn_bind_reg_##name = ::fusednet::register_binding(#name, fn_bind_##name); \
  static void fn_bind_##name(py::module_& m)

// ---- argument checks (throw ValueError / TypeError with the op name and shapes) ----
void check_dtype(const char* op, const char* arg, const Array& a, DType want);
void check_ndim(const char* op, const char* arg, const Array& a, int ndim);
void check_shape(const char* op, const char* arg, const Array& a, const std::vector<i64>& want);
void check_same_device(const char* op, std::initializer_list<const Array*> arrays);
// Validates a caller-provided `out` (shape, dtype, device, writable) or allocates a fresh one.
Array out_or_empty(const char* op, const std::optional<Array>& out, const std::vector<i64>& shape,
                   DType dtype, Device device);
// Writable check for in-place kernels.
void check_writable(const char* op, const char* arg, const Array& a);

[[noreturn]] void throw_no_cuda(const char* op);

}  // namespace fusednet

// FN_DISPATCH(op, array, cpu_stmt, cuda_stmt): run cpu_stmt or cuda_stmt by the array's device.
#ifdef FUSEDNET_WITH_CUDA
#define FN_DISPATCH(op, arr, cpu_stmt, cuda_stmt) \
  do {                                            \
    if ((arr).is_cuda()) {                        \
      cuda_stmt;                                  \
    } else {                                      \
      cpu_stmt;                                   \
    }                                             \
  } while (0)
#else
#define FN_DISPATCH(op, arr, cpu_stmt, cuda_stmt)           \
  do {                                                      \
    if ((arr).is_cuda()) ::fusednet::throw_no_cuda(op);     \
    cpu_stmt;                                               \
  } while (0)
#endif
