// sort.cpp (bindings) — sort_rows (sort / argsort / top_k along the last axis) and
// sort_backward; contract in csrc/cpu/sort.h. Other axes are moved last by the Python caller.
#include "bindings/bind_util.h"
#include "cpu/sort.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#endif

namespace fusednet {

FN_BIND(sort) {
  m.def(
      "sort_rows",
      [](const Array& x, i64 k, bool descending) {
        const char* op = "sort";
        check_dtype(op, "x", x, DType::F32);
        if (x.ndim() < 1)
          throw ValueError(std::string(op) + ": x must have rank >= 1, got shape " + x.shape_str());
        const i64 n = x.dim(x.ndim() - 1);
        if (k < -1)
          throw ValueError(std::string(op) + ": k must be -1 (the whole row) or in [0, " + std::to_string(n) +
                           "], got " + std::to_string(k));
        if (k == -1) k = n;
        if (k > n)
          throw ValueError(std::string(op) + ": k=" + std::to_string(k) + " exceeds the last axis (" +
                           std::to_string(n) + ") of x " + x.shape_str());
        const i64 rows = n > 0 ? x.numel() / n : 0;
        std::vector<i64> shape = x.shape;
        shape.back() = k;
        Array v = Array::empty(shape, DType::F32, x.device());
        Array ix = Array::empty(shape, DType::I64, x.device());
        FN_DISPATCH(op, x, {
          py::gil_scoped_release nogil;
          cpu::sort_rows(v.f32(), ix.data<int64_t>(), x.f32(), rows, n, k, descending);
        }, {
          py::gil_scoped_release nogil;
          cuda::sort_rows(v.f32(), ix.data<int64_t>(), x.f32(), rows, n, k, descending);
        });
        return py::make_tuple(v, ix);
      },
      py::arg("x"), py::arg("k") = -1, py::arg("descending") = false,
      "(values, int64 indices) of the k first elements of each last-axis row in sorted order "
      "(ascending NaN last, or descending NaN first; ties by lower index); k=-1 sorts the row.");

  m.def(
      "sort_backward",
      [](const Array& dy, const Array& indices, i64 n) {
        const char* op = "sort_backward";
        check_dtype(op, "dy", dy, DType::F32);
        check_dtype(op, "indices", indices, DType::I64);
        if (dy.ndim() < 1 || dy.shape != indices.shape)
          throw ValueError(std::string(op) + ": dy " + dy.shape_str() + " and indices " +
                           indices.shape_str() + " must have the same shape of rank >= 1");
        if (n < 0) throw ValueError(std::string(op) + ": n must be >= 0, got " + std::to_string(n));
        check_same_device(op, {&dy, &indices});
        const i64 k = dy.dim(dy.ndim() - 1);
        const i64 rows = k > 0 ? dy.numel() / k : 0;
        std::vector<i64> shape = dy.shape;
        shape.back() = n;
        i64 rows_x = 1;
        for (size_t d = 0; d + 1 < shape.size(); ++d) rows_x *= shape[d];
        Array dx = Array::empty(shape, DType::F32, dy.device());
        i64 bad = -1;
        FN_DISPATCH(op, dy, {
          py::gil_scoped_release nogil;
          bad = cpu::sort_backward(dx.f32(), dy.f32(), indices.data<int64_t>(), k > 0 ? rows : rows_x, n, k);
        }, {
          py::gil_scoped_release nogil;
          bad = cuda::sort_backward(dx.f32(), dy.f32(), indices.data<int64_t>(), k > 0 ? rows : rows_x, n, k);
        });
        if (bad >= 0)
          throw ValueError(std::string(op) + ": index at flat position " + std::to_string(bad) +
                           " of indices " + indices.shape_str() + " is outside [0, " + std::to_string(n) + ")");
        return dx;
      },
      py::arg("dy"), py::arg("indices"), py::arg("n"),
      "dx [..., n] = 0 with dx[..., indices[..., j]] += dy[..., j] (backward of sort / top_k values).");
}

}  // namespace fusednet
