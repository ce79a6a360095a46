// bindings/elementwise.cpp — fusednet._C binary/unary/clip/scale/where/axpy_/reduce/sum_to_shape/
// transpose/concat/slice_axis/take_rows/scatter_add_rows/cast/argmax/one_hot.
//
// Each binding validates dtype, shape (NumPy broadcasting for binary, rank <= 8), device and `out`
// and raises ValueError/TypeError starting with the op name and showing the shapes; then it
// releases the GIL and calls the raw-pointer kernel in cpu/elementwise.h. Broadcasting is turned
// into per-input element strides (0 on broadcast dims) here so the kernel never reasons about
// shapes of different ranks.
#include <algorithm>

#include "bindings/bind_util.h"
#include "cpu/elementwise.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#endif

namespace fusednet {
namespace {

using cpu::kMaxDims;

template <class E>
const E& lookup(const std::string& op, const std::string& name,
                const std::vector<std::pair<const char*, E>>& table) {
  std::string valid;
  for (const auto& [n, e] : table) {
    if (name == n) return e;
    valid += valid.empty() ? "" : ", ";
    valid += n;
  }
  throw ValueError(op + ": unknown op '" + name + "' (valid: " + valid + ")");
}

const std::vector<std::pair<const char*, cpu::BinOp>> kBinOps = {
    {"add", cpu::BinOp::Add}, {"sub", cpu::BinOp::Sub}, {"mul", cpu::BinOp::Mul},
    {"div", cpu::BinOp::Div}, {"maximum", cpu::BinOp::Maximum}, {"minimum", cpu::BinOp::Minimum},
    {"pow", cpu::BinOp::Pow}, {"equal", cpu::BinOp::Equal}, {"not_equal", cpu::BinOp::NotEqual},
    {"greater", cpu::BinOp::Greater}, {"greater_equal", cpu::BinOp::GreaterEqual},
    {"less", cpu::BinOp::Less}, {"less_equal", cpu::BinOp::LessEqual}};
const std::vector<std::pair<const char*, cpu::UnOp>> kUnOps = {
    {"neg", cpu::UnOp::Neg}, {"exp", cpu::UnOp::Exp}, {"log", cpu::UnOp::Log},
    {"sqrt", cpu::UnOp::Sqrt}, {"rsqrt", cpu::UnOp::Rsqrt}, {"square", cpu::UnOp::Square},
    {"abs", cpu::UnOp::Abs}, {"sign", cpu::UnOp::Sign}, {"reciprocal", cpu::UnOp::Reciprocal},
    {"sin", cpu::UnOp::Sin}, {"cos", cpu::UnOp::Cos}, {"floor", cpu::UnOp::Floor},
    {"round", cpu::UnOp::Round}};
const std::vector<std::pair<const char*, cpu::RedOp>> kRedOps = {
    {"sum", cpu::RedOp::Sum}, {"mean", cpu::RedOp::Mean}, {"max", cpu::RedOp::Max},
    {"min", cpu::RedOp::Min}, {"prod", cpu::RedOp::Prod}};

void check_rank(const std::string& op, const char* arg, const Array& a) {
  if (a.ndim() > kMaxDims)
    throw ValueError(op + ": " + arg + " has " + std::to_string(a.ndim()) + " dimensions " +
                     a.shape_str() + "; at most " + std::to_string(kMaxDims) + " are supported");
}

void check_f32(const std::string& op, const char* arg, const Array& a) { check_dtype(op.c_str(), arg, a, DType::F32); }

// out may be exactly `in` (same start, same shape) but not a partial overlap of it.
void check_alias(const std::string& op, const Array& out, const Array& in, const char* in_name) {
  if (out.numel() == 0 || in.numel() == 0) return;
  if (same_memory(out, in) && !(out.raw() == in.raw() && out.shape == in.shape))
    throw ValueError(op + ": out overlaps " + in_name + " " + in.shape_str() +
                     " without being the same array of the result shape " + out.shape_str());
}

int norm_axis(const std::string& op, i64 axis, int ndim) {
  if (axis < -ndim || axis >= ndim)
    throw ValueError(op + ": axis " + std::to_string(axis) + " is out of range for an array of " +
                     std::to_string(ndim) + " dimensions");
  return static_cast<int>(axis < 0 ? axis + ndim : axis);
}

std::vector<i64> contiguous_strides(const std::vector<i64>& shape) {
  std::vector<i64> s(shape.size());
  i64 acc = 1;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

// ------------------------------------------------------------------ binary
Array binary_op(const std::string& name, const Array& a, const Array& b, std::optional<Array> out) {
  const std::string op = "binary(" + name + ")";
  cpu::BinOp bop = lookup(op, name, kBinOps);
  check_f32(op, "a", a);
  check_f32(op, "b", b);
  check_rank(op, "a", a);
  check_rank(op, "b", b);
  check_same_device(op.c_str(), {&a, &b, out ? &*out : nullptr});
  const int nd = std::max(a.ndim(), b.ndim());
  std::vector<i64> shape(nd), as(nd), bs(nd);
  const auto sa = contiguous_strides(a.shape), sb = contiguous_strides(b.shape);
  for (int d = 0; d < nd; ++d) {
    const int da = d - (nd - a.ndim()), db = d - (nd - b.ndim());
    const i64 na = da >= 0 ? a.shape[da] : 1, nb = db >= 0 ? b.shape[db] : 1;
    if (na != nb && na != 1 && nb != 1)
      throw ValueError(op + ": shapes " + a.shape_str() + " and " + b.shape_str() + " are not broadcastable");
    shape[d] = na == 1 ? nb : na;
    as[d] = (na == 1) ? 0 : sa[da];
    bs[d] = (nb == 1) ? 0 : sb[db];
  }
  Array c = out_or_empty(op.c_str(), out, shape, DType::F32, a.device());
  check_alias(op, c, a, "a");
  check_alias(op, c, b, "b");
  FN_DISPATCH(op.c_str(), a,
              {
                py::gil_scoped_release nogil;
                cpu::binary(c.f32(), a.f32(), b.f32(), bop, nd, shape.data(), as.data(), bs.data());
              },
              {
                py::gil_scoped_release nogil;
                cuda::binary(c.f32(), a.f32(), b.f32(), bop, nd, shape.data(), as.data(), bs.data());
              });
  return c;
}

// ------------------------------------------------------------------ pointwise
Array unary_op(const std::string& name, const Array& x, std::optional<Array> out) {
  const std::string op = "unary(" + name + ")";
  cpu::UnOp uop = lookup(op, name, kUnOps);
  check_f32(op, "x", x);
  check_same_device(op.c_str(), {&x, out ? &*out : nullptr});
  Array y = out_or_empty(op.c_str(), out, x.shape, DType::F32, x.device());
  check_alias(op, y, x, "x");
  FN_DISPATCH(op.c_str(), x, { py::gil_scoped_release nogil; cpu::unary(y.f32(), x.f32(), x.numel(), uop); },
              { py::gil_scoped_release nogil; cuda::unary(y.f32(), x.f32(), x.numel(), uop); });
  return y;
}

Array clip_op(const Array& x, double lo, double hi, std::optional<Array> out) {
  const std::string op = "clip";
  check_f32(op, "x", x);
  if (lo > hi)
    throw ValueError("clip: lo (" + std::to_string(lo) + ") must be <= hi (" + std::to_string(hi) + ")");
  check_same_device(op.c_str(), {&x, out ? &*out : nullptr});
  Array y = out_or_empty(op.c_str(), out, x.shape, DType::F32, x.device());
  check_alias(op, y, x, "x");
  FN_DISPATCH("clip", x,
              { py::gil_scoped_release nogil; cpu::clip(y.f32(), x.f32(), x.numel(), float(lo), float(hi)); },
              { py::gil_scoped_release nogil; cuda::clip(y.f32(), x.f32(), x.numel(), float(lo), float(hi)); });
  return y;
}

Array scale_op(const Array& x, double alpha, std::optional<Array> out) {
  const std::string op = "scale";
  check_f32(op, "x", x);
  check_same_device(op.c_str(), {&x, out ? &*out : nullptr});
  Array y = out_or_empty(op.c_str(), out, x.shape, DType::F32, x.device());
  check_alias(op, y, x, "x");
  FN_DISPATCH("scale", x, { py::gil_scoped_release nogil; cpu::scale(y.f32(), x.f32(), x.numel(), float(alpha)); },
              { py::gil_scoped_release nogil; cuda::scale(y.f32(), x.f32(), x.numel(), float(alpha)); });
  return y;
}

Array where_op(const Array& cond, const Array& a, const Array& b, std::optional<Array> out) {
  const std::string op = "where";
  check_f32(op, "condition", cond);
  check_f32(op, "x1", a);
  check_f32(op, "x2", b);
  if (cond.shape != a.shape || cond.shape != b.shape)
    throw ValueError("where: condition " + cond.shape_str() + ", x1 " + a.shape_str() + " and x2 " +
                     b.shape_str() + " must have the same shape (broadcast them first)");
  check_same_device(op.c_str(), {&cond, &a, &b, out ? &*out : nullptr});
  Array y = out_or_empty(op.c_str(), out, a.shape, DType::F32, a.device());
  check_alias(op, y, cond, "condition");
  check_alias(op, y, a, "x1");
  check_alias(op, y, b, "x2");
  FN_DISPATCH("where", a,
              { py::gil_scoped_release nogil; cpu::where(y.f32(), cond.f32(), a.f32(), b.f32(), a.numel()); },
              { py::gil_scoped_release nogil; cuda::where(y.f32(), cond.f32(), a.f32(), b.f32(), a.numel()); });
  return y;
}

Array axpy_op(Array y, double alpha, const Array& x) {
  const std::string op = "axpy_";
  check_f32(op, "y", y);
  check_f32(op, "x", x);
  if (y.shape != x.shape)
    throw ValueError("axpy_: y " + y.shape_str() + " and x " + x.shape_str() + " must have the same shape");
  check_same_device(op.c_str(), {&y, &x});
  check_writable("axpy_", "y", y);
  check_alias(op, y, x, "x");
  FN_DISPATCH("axpy_", y, { py::gil_scoped_release nogil; cpu::axpy(y.f32(), x.f32(), x.numel(), float(alpha)); },
              { py::gil_scoped_release nogil; cuda::axpy(y.f32(), x.f32(), x.numel(), float(alpha)); });
  return y;
}

// ------------------------------------------------------------------ reductions
std::vector<bool> axes_mask(const std::string& op, const py::object& axes_o, int ndim) {
  std::vector<i64> axes;
  if (axes_o.is_none()) {
  } else if (py::isinstance<py::int_>(axes_o)) {
    axes.push_back(axes_o.cast<i64>());
  } else {
    for (auto v : axes_o) axes.push_back(v.cast<i64>());
  }
  std::vector<bool> mask(ndim, axes.empty());
  for (i64 ax : axes) {
    int d = norm_axis(op, ax, ndim);
    if (mask[d]) throw ValueError(op + ": axis " + std::to_string(ax) + " is repeated in axes");
    mask[d] = true;
  }
  return mask;
}

void run_reduce(const std::string& op, cpu::RedOp rop, const Array& x, const std::vector<bool>& mask, Array& y) {
  bool red[kMaxDims];
  for (int d = 0; d < x.ndim(); ++d) red[d] = mask[d];
  FN_DISPATCH(op.c_str(), x,
              {
                py::gil_scoped_release nogil;
                cpu::reduce(y.f32(), x.f32(), rop, x.ndim(), x.shape.data(), red);
              },
              {
                py::gil_scoped_release nogil;
                cuda::reduce(y.f32(), x.f32(), rop, x.ndim(), x.shape.data(), red);
              });
}

Array reduce_op(const std::string& name, const Array& x, const py::object& axes_o, bool keepdims) {
  const std::string op = "reduce(" + name + ")";
  cpu::RedOp rop = lookup(op, name, kRedOps);
  check_f32(op, "x", x);
  check_rank(op, "x", x);
  std::vector<bool> mask = axes_mask(op, axes_o, x.ndim());
  std::vector<i64> oshape;
  i64 out_n = 1, red_n = 1;
  for (int d = 0; d < x.ndim(); ++d) {
    if (mask[d]) {
      red_n *= x.shape[d];
      if (keepdims) oshape.push_back(1);
    } else {
      oshape.push_back(x.shape[d]);
      out_n *= x.shape[d];
    }
  }
  if (red_n == 0 && out_n > 0 && (rop == cpu::RedOp::Max || rop == cpu::RedOp::Min))
    throw ValueError(op + ": zero-size reduction over an empty axis of shape " + x.shape_str() +
                     " has no identity");
  Array y = Array::empty(oshape, DType::F32, x.device());
  run_reduce(op, rop, x, mask, y);
  return y;
}

Array sum_to_shape(const Array& x, const std::vector<i64>& shape) {
  const std::string op = "sum_to_shape";
  check_f32(op, "x", x);
  check_rank(op, "x", x);
  const int nd = x.ndim(), ns = static_cast<int>(shape.size());
  auto bad = [&]() {
    return ValueError("sum_to_shape: cannot sum " + x.shape_str() + " down to " + shape_str(shape) +
                      " (" + shape_str(shape) + " does not broadcast to " + x.shape_str() + ")");
  };
  if (ns > nd) throw bad();
  std::vector<bool> mask(nd, false);
  for (int d = 0; d < nd; ++d) {
    const int ds = d - (nd - ns);
    if (ds < 0) {
      mask[d] = true;
    } else if (shape[ds] == x.shape[d]) {
      mask[d] = false;
    } else if (shape[ds] == 1) {
      mask[d] = true;
    } else {
      throw bad();
    }
  }
  Array y = Array::empty(shape, DType::F32, x.device());
  run_reduce(op, cpu::RedOp::Sum, x, mask, y);
  return y;
}

// ------------------------------------------------------------------ layout
Array transpose_op(const Array& x, const std::vector<i64>& perm) {
  const std::string op = "transpose";
  check_rank(op, "x", x);
  const int nd = x.ndim();
  if (static_cast<int>(perm.size()) != nd)
    throw ValueError("transpose: perm " + shape_str(perm) + " must have one entry per dimension of x " + x.shape_str());
  std::vector<int> p(nd);
  std::vector<bool> seen(nd, false);
  for (int d = 0; d < nd; ++d) {
    int q = norm_axis(op, perm[d], nd);
    if (seen[q]) throw ValueError("transpose: perm " + shape_str(perm) + " is not a permutation");
    seen[q] = true;
    p[d] = q;
  }
  std::vector<i64> oshape(nd);
  for (int d = 0; d < nd; ++d) oshape[d] = x.shape[p[d]];
  Array y = Array::empty(oshape, x.dtype, x.device());
  FN_DISPATCH("transpose", x,
              {
                py::gil_scoped_release nogil;
                cpu::transpose(y.raw(), x.raw(), itemsize(x.dtype), nd, x.shape.data(), p.data());
              },
              {
                py::gil_scoped_release nogil;
                cuda::transpose(y.raw(), x.raw(), itemsize(x.dtype), nd, x.shape.data(), p.data());
              });
  return y;
}

Array concat_op(const std::vector<Array>& xs, i64 axis_in) {
  const std::string op = "concat";
  if (xs.empty()) throw ValueError("concat: need at least one array");
  const Array& x0 = xs[0];
  if (x0.ndim() == 0) throw ValueError("concat: zero-dimensional arrays cannot be concatenated");
  const int nd = x0.ndim();
  const int axis = norm_axis(op, axis_in, nd);
  std::vector<i64> oshape = x0.shape;
  oshape[axis] = 0;
  for (size_t q = 0; q < xs.size(); ++q) {
    const Array& a = xs[q];
    if (a.dtype != x0.dtype)
      throw TypeError("concat: array " + std::to_string(q) + " is " + a.describe() + " but array 0 is " + x0.describe());
    if (a.device() != x0.device())
      throw ValueError("concat: array " + std::to_string(q) + " is on " + a.device().str() + " but array 0 is on " +
                       x0.device().str());
    bool ok = a.ndim() == nd;
    for (int d = 0; ok && d < nd; ++d) ok = d == axis || a.shape[d] == x0.shape[d];
    if (!ok)
      throw ValueError("concat: array " + std::to_string(q) + " has shape " + a.shape_str() +
                       ", which does not match array 0 " + x0.shape_str() + " outside axis " + std::to_string(axis));
    oshape[axis] += a.shape[axis];
  }
  Array y = Array::empty(oshape, x0.dtype, x0.device());
  i64 outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= oshape[d];
  for (int d = axis + 1; d < nd; ++d) inner *= oshape[d];
  std::vector<const void*> ptrs;
  std::vector<size_t> widths;
  for (const Array& a : xs) {
    ptrs.push_back(a.raw());
    widths.push_back(static_cast<size_t>(a.shape[axis] * inner) * itemsize(a.dtype));
  }
  FN_DISPATCH("concat", x0,
              {
                py::gil_scoped_release nogil;
                cpu::concat(y.raw(), ptrs.data(), widths.data(), static_cast<int>(xs.size()), outer);
              },
              {
                py::gil_scoped_release nogil;
                cuda::concat(y.raw(), ptrs.data(), widths.data(), static_cast<int>(xs.size()), outer);
              });
  return y;
}

Array slice_axis(const Array& x, i64 axis_in, i64 start, i64 stop) {
  const std::string op = "slice_axis";
  if (x.ndim() == 0) throw ValueError("slice_axis: x must have at least 1 dimension, got shape ()");
  const int axis = norm_axis(op, axis_in, x.ndim());
  const i64 n = x.shape[axis];
  auto clampi = [n](i64 v) { return v < 0 ? std::max<i64>(0, v + n) : std::min(v, n); };  // Python slice rules
  const i64 s = clampi(start), e = std::max(s, clampi(stop));
  std::vector<i64> oshape = x.shape;
  oshape[axis] = e - s;
  Array y = Array::empty(oshape, x.dtype, x.device());
  i64 outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.shape[d];
  for (int d = axis + 1; d < x.ndim(); ++d) inner *= x.shape[d];
  const size_t isz = itemsize(x.dtype);
  const void* src = static_cast<const char*>(x.raw()) + static_cast<size_t>(s * inner) * isz;
  const size_t src_w = static_cast<size_t>(n * inner) * isz, dst_w = static_cast<size_t>((e - s) * inner) * isz;
  FN_DISPATCH("slice_axis", x,
              {
                py::gil_scoped_release nogil;
                // concat of one strided source == row copies of dst_w bytes every src_w bytes
                char* yc = static_cast<char*>(y.raw());
                const char* xc = static_cast<const char*>(src);
                if (dst_w)
                  for (i64 o = 0; o < outer; ++o) std::memcpy(yc + o * dst_w, xc + o * src_w, dst_w);
              },
              {
                py::gil_scoped_release nogil;
                if (dst_w) cuda::copy_rows(y.raw(), i64(dst_w), src, i64(src_w), i64(dst_w), outer);
              });
  return y;
}

void check_index_dtype(const std::string& op, const Array& idx) {
  if (idx.dtype != DType::I64 && idx.dtype != DType::I32)
    throw TypeError(op + ": indices must be int64 or int32, got " + idx.describe());
}

template <class IdxT>
i64 index_at(const Array& idx, i64 pos) {
  if (idx.is_cuda()) {  // error path only: bring the index array to the host to name the value
    const Array h = idx.to(Device{});
    return static_cast<i64>(h.data<IdxT>()[pos]);
  }
  return static_cast<i64>(idx.data<IdxT>()[pos]);
}

[[noreturn]] void bad_index(const std::string& op, const Array& idx, i64 pos, i64 limit, const char* what) {
  const i64 v = idx.dtype == DType::I64 ? index_at<int64_t>(idx, pos) : index_at<int32_t>(idx, pos);
  throw ValueError(op + ": index " + std::to_string(v) + " at position " + std::to_string(pos) +
                   " is out of range for " + what + " " + std::to_string(limit) + " (valid: 0.." +
                   std::to_string(limit - 1) + ")");
}

Array take_rows(const Array& x, const Array& idx) {
  const std::string op = "take_rows";
  check_index_dtype(op, idx);
  if (x.ndim() == 0) throw ValueError("take_rows: x must have at least 1 dimension, got shape ()");
  check_same_device(op.c_str(), {&x, &idx});
  std::vector<i64> oshape = idx.shape;
  oshape.insert(oshape.end(), x.shape.begin() + 1, x.shape.end());
  Array y = Array::empty(oshape, x.dtype, x.device());
  const i64 nrows = x.shape[0];
  const size_t row_bytes = static_cast<size_t>(nrows ? x.numel() / nrows : 0) * itemsize(x.dtype);
  i64 bad = -1;
  FN_DISPATCH("take_rows", x,
              {
                py::gil_scoped_release nogil;
                bad = idx.dtype == DType::I64
                          ? cpu::take_rows(y.raw(), x.raw(), idx.data<int64_t>(), idx.numel(), nrows, row_bytes)
                          : cpu::take_rows(y.raw(), x.raw(), idx.data<int32_t>(), idx.numel(), nrows, row_bytes);
              },
              {
                py::gil_scoped_release nogil;
                bad = idx.dtype == DType::I64
                          ? cuda::take_rows(y.raw(), x.raw(), idx.data<int64_t>(), idx.numel(), nrows, row_bytes)
                          : cuda::take_rows(y.raw(), x.raw(), idx.data<int32_t>(), idx.numel(), nrows, row_bytes);
              });
  if (bad >= 0) bad_index(op, idx, bad, nrows, ("axis 0 of x " + x.shape_str() + " with size").c_str());
  return y;
}

Array scatter_add_rows(const Array& dy, const Array& idx, i64 n_rows) {
  const std::string op = "scatter_add_rows";
  check_f32(op, "dY", dy);
  check_index_dtype(op, idx);
  check_same_device(op.c_str(), {&dy, &idx});
  if (n_rows < 0) throw ValueError("scatter_add_rows: n_rows must be >= 0, got " + std::to_string(n_rows));
  const int ni = idx.ndim();
  bool ok = dy.ndim() >= ni;
  for (int d = 0; ok && d < ni; ++d) ok = dy.shape[d] == idx.shape[d];
  if (!ok)
    throw ValueError("scatter_add_rows: dY " + dy.shape_str() + " must start with the index shape " + idx.shape_str());
  std::vector<i64> oshape{n_rows};
  oshape.insert(oshape.end(), dy.shape.begin() + ni, dy.shape.end());
  i64 row = 1;
  for (int d = ni; d < dy.ndim(); ++d) row *= dy.shape[d];
  Array dx = Array::empty(oshape, DType::F32, dy.device());
  i64 bad = -1;
  FN_DISPATCH("scatter_add_rows", dy,
              {
                py::gil_scoped_release nogil;
                bad = idx.dtype == DType::I64
                          ? cpu::scatter_add_rows(dx.f32(), dy.f32(), idx.data<int64_t>(), idx.numel(), n_rows, row)
                          : cpu::scatter_add_rows(dx.f32(), dy.f32(), idx.data<int32_t>(), idx.numel(), n_rows, row);
              },
              {
                py::gil_scoped_release nogil;
                bad = idx.dtype == DType::I64
                          ? cuda::scatter_add_rows(dx.f32(), dy.f32(), idx.data<int64_t>(), idx.numel(), n_rows, row)
                          : cuda::scatter_add_rows(dx.f32(), dy.f32(), idx.data<int32_t>(), idx.numel(), n_rows, row);
              });
  if (bad >= 0) bad_index(op, idx, bad, n_rows, "n_rows");
  return dx;
}

Array one_hot(const Array& idx, i64 num_classes) {
  const std::string op = "one_hot";
  check_index_dtype(op, idx);
  if (num_classes < 0) throw ValueError("one_hot: num_classes must be >= 0, got " + std::to_string(num_classes));
  std::vector<i64> oshape = idx.shape;
  oshape.push_back(num_classes);
  Array y = Array::empty(oshape, DType::F32, idx.device());
  i64 bad = -1;
  FN_DISPATCH("one_hot", idx,
              {
                py::gil_scoped_release nogil;
                bad = idx.dtype == DType::I64 ? cpu::one_hot(y.f32(), idx.data<int64_t>(), idx.numel(), num_classes)
                                              : cpu::one_hot(y.f32(), idx.data<int32_t>(), idx.numel(), num_classes);
              },
              {
                py::gil_scoped_release nogil;
                bad = idx.dtype == DType::I64 ? cuda::one_hot(y.f32(), idx.data<int64_t>(), idx.numel(), num_classes)
                                              : cuda::one_hot(y.f32(), idx.data<int32_t>(), idx.numel(), num_classes);
              });
  if (bad >= 0) bad_index(op, idx, bad, num_classes, "num_classes");
  return y;
}

Array cast_op(const Array& x, const py::object& dtype_o) {
  std::string name;
  if (py::isinstance<py::str>(dtype_o)) name = dtype_o.cast<std::string>();
  else name = py::str(py::module_::import("numpy").attr("dtype")(dtype_o).attr("name"));
  DType dt = dtype_from_name(name, "cast");
  Array y = Array::empty(x.shape, dt, x.device());
  FN_DISPATCH("cast", x,
              {
                py::gil_scoped_release nogil;
                cpu::cast(y.raw(), static_cast<int>(dt), x.raw(), static_cast<int>(x.dtype), x.numel());
              },
              {
                py::gil_scoped_release nogil;
                cuda::cast(y.raw(), static_cast<int>(dt), x.raw(), static_cast<int>(x.dtype), x.numel());
              });
  return y;
}

Array argmax_op(const Array& x, i64 axis_in) {
  const std::string op = "argmax";
  check_f32(op, "x", x);
  if (x.ndim() == 0) throw ValueError("argmax: x must have at least 1 dimension, got shape ()");
  const int axis = norm_axis(op, axis_in, x.ndim());
  std::vector<i64> oshape;
  i64 outer = 1, inner = 1;
  for (int d = 0; d < x.ndim(); ++d) {
    if (d < axis) outer *= x.shape[d];
    if (d > axis) inner *= x.shape[d];
    if (d != axis) oshape.push_back(x.shape[d]);
  }
  const i64 n = x.shape[axis];
  if (n == 0 && outer * inner > 0)
    throw ValueError("argmax: attempt to get argmax of an empty axis " + std::to_string(axis) + " of shape " + x.shape_str());
  Array y = Array::empty(oshape, DType::I64, x.device());
  FN_DISPATCH("argmax", x,
              {
                py::gil_scoped_release nogil;
                cpu::argmax(y.data<int64_t>(), x.f32(), outer, n, inner);
              },
              {
                py::gil_scoped_release nogil;
                cuda::argmax(y.data<int64_t>(), x.f32(), outer, n, inner);
              });
  return y;
}

}  // namespace
}  // namespace fusednet

using namespace fusednet;

FN_BIND(elementwise) {
  m.def("binary", &binary_op, py::arg("op"), py::arg("a"), py::arg("b"), py::arg("out") = py::none(),
        "c = a op b with NumPy broadcasting (rank <= 8). Comparisons give float32 0/1.");
  m.def("unary", &unary_op, py::arg("op"), py::arg("x"), py::arg("out") = py::none());
  m.def("clip", &clip_op, py::arg("x"), py::arg("lo"), py::arg("hi"), py::arg("out") = py::none());
  m.def("scale", &scale_op, py::arg("x"), py::arg("alpha"), py::arg("out") = py::none(), "alpha * x");
  m.def("where", &where_op, py::arg("condition"), py::arg("x1"), py::arg("x2"), py::arg("out") = py::none(),
        "y = condition != 0 ? x1 : x2 elementwise (a select: NaN-safe); all float32 of one shape.");
  m.def("axpy_", &axpy_op, py::arg("y"), py::arg("alpha"), py::arg("x"), "y += alpha * x in place; returns y");
  m.def("reduce", &reduce_op, py::arg("op"), py::arg("x"), py::arg("axes") = py::none(),
        py::arg("keepdims") = false,
        "sum/mean/max/min/prod over axes (list or int; empty/None = all). Double accumulation.");
  m.def("sum_to_shape", &sum_to_shape, py::arg("x"), py::arg("shape"),
        "Sum x down to `shape` (which must broadcast to x.shape): the gradient of broadcasting.");
  m.def("transpose", &transpose_op, py::arg("x"), py::arg("perm"));
  m.def("concat", &concat_op, py::arg("arrays"), py::arg("axis") = 0);
  m.def("slice_axis", &slice_axis, py::arg("x"), py::arg("axis"), py::arg("start"), py::arg("stop"),
        "Copy of x[..., start:stop, ...] along axis (Python slice clamping, step 1).");
  m.def("take_rows", &take_rows, py::arg("x"), py::arg("idx"),
        "y = x[idx] along axis 0; idx int64/int32 of any shape; out-of-range -> ValueError.");
  m.def("scatter_add_rows", &scatter_add_rows, py::arg("dY"), py::arg("idx"), py::arg("n_rows"),
        "dX[n_rows, ...] = 0; dX[idx[i]] += dY[i] (deterministic order).");
  m.def("cast", &cast_op, py::arg("x"), py::arg("dtype"));
  m.def("argmax", &argmax_op, py::arg("x"), py::arg("axis") = -1, "int64 index of the first maximum");
  m.def("one_hot", &one_hot, py::arg("idx"), py::arg("num_classes"));
}
