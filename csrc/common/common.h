// common.h — definitions shared by every layer of fusednet: host and device.
//
// Index type is int64_t everywhere (shapes can exceed 2^31 elements). FN_HD marks scalar helpers
// that CUDA kernels and CPU kernels both call, so the maths is written once.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define FN_HD __host__ __device__ __forceinline__
#else
#define FN_HD inline
#endif

namespace fusednet {

using i64 = int64_t;

// Epilogue / pointwise activation codes shared by GEMM, conv and the activation kernels.
enum class Act : int { None = 0, Relu = 1, Sigmoid = 2, Tanh = 3 };

// Raised by kernels and bindings for invalid arguments; bindings translate it to ValueError.
struct ValueError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
// Translated to TypeError (wrong dtype, wrong device kind, wrong Python type).
struct TypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
// Translated to MemoryError: an allocation the system refused, with the op, shape and bytes.
struct MemoryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace fusednet

// FN_CHECK(cond, msg-expression): throws fusednet::ValueError with file:line when cond fails.
#define FN_CHECK(cond, msg)                                                           \
  do {                                                                                \
    if (!(cond)) throw ::fusednet::ValueError(std::string(msg));                      \
  } while (0)
