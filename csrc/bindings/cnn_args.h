// cnn_args.h — argument parsing shared by the conv / pool / norm bindings: (h, w) pairs given as
// an int or a 2-sequence, Keras padding strings, epilogue activation names.
#pragma once
#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindings/bind_util.h"

namespace fusednet {

// int -> (v, v); sequence of two ints -> (a, b); anything else -> ValueError naming op and arg.
inline std::pair<i64, i64> pair_arg(const char* op, const char* name, const py::handle& o) {
  if (py::isinstance<py::int_>(o)) {
    i64 v = o.cast<i64>();
    return {v, v};
  }
  if (py::isinstance<py::sequence>(o) && !py::isinstance<py::str>(o)) {
    auto s = o.cast<py::sequence>();
    if (s.size() == 2) {
      try {
        return {s[0].cast<i64>(), s[1].cast<i64>()};
      } catch (const py::cast_error&) {
      }
    }
  }
  throw ValueError(std::string(op) + ": " + name + " must be an int or a pair of ints, got " +
                   std::string(py::repr(o)));
}

// 'valid' -> false, 'same' -> true (case-insensitive, as Keras).
inline bool padding_arg(const char* op, const std::string& padding) {
  std::string p = padding;
  std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) { return std::tolower(c); });
  if (p == "valid") return false;
  if (p == "same") return true;
  throw ValueError(std::string(op) + ": padding must be 'valid' or 'same', got '" + padding + "'");
}

// Epilogue activations fused into conv: none (also 'linear' / None), relu, sigmoid, tanh.
inline Act conv_act_arg(const char* op, const py::handle& o) {
  if (o.is_none()) return Act::None;
  std::string s = py::str(o);
  if (s == "none" || s == "linear") return Act::None;
  if (s == "relu") return Act::Relu;
  if (s == "sigmoid") return Act::Sigmoid;
  if (s == "tanh") return Act::Tanh;
  throw ValueError(std::string(op) + ": activation must be one of none, relu, sigmoid, tanh, got '" + s + "'");
}

inline void check_f32(const char* op, const char* arg, const Array& a) { check_dtype(op, arg, a, DType::F32); }

// A backward through an epilogue activation takes its derivative from the saved forward output:
// Y is then required, float32, shaped like dY.
inline void check_saved_output(const char* op, const std::optional<Array>& y, Act act, const py::handle& activation,
                               const std::vector<i64>& yshape) {
  if (act == Act::None) return;
  if (!y) throw ValueError(std::string(op) + ": Y (the saved forward output) is required for activation '" +
                           std::string(py::str(activation)) + "'");
  check_f32(op, "Y", *y);
  check_shape(op, "Y", *y, yshape);
}

inline void check_no_overlap(const char* op, const Array& out, std::initializer_list<const Array*> ins) {
  for (const Array* a : ins)
    if (a && same_memory(out, *a))
      throw ValueError(std::string(op) + ": out must not overlap the inputs (out " + out.shape_str() +
                       ", input " + a->shape_str() + ")");
}

}  // namespace fusednet
