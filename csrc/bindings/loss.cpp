// bindings/loss.cpp — pybind11 glue for the loss family (docs/KERNELS.md "loss").
//
// Every loss returns (loss, grad | None). Inputs are viewed as rows x C with C the last dimension;
// loss has the input shape without its last axis, except that a 1-D input [N] is treated as
// [N, 1] (loss [N]) — for mean reduction this equals Keras, which would reduce [N] to a scalar.
// Shape/dtype/value errors name the op and the shapes; the GIL is released around kernels.
#include "bindings/bind_util.h"
#include "cpu/loss.h"

namespace fusednet {
namespace {

[[maybe_unused]] [[noreturn]] void cuda_not_yet(const char* op) {
  throw TypeError(std::string(op) + ": not implemented on CUDA yet; move the arrays to the CPU");
}

void check_f32(const char* op, const char* arg, const Array& a) { check_dtype(op, arg, a, DType::F32); }

void check_smoothing(const char* op, double ls) {
  if (!(ls >= 0.0 && ls <= 1.0))
    throw ValueError(std::string(op) + ": label_smoothing must be in [0, 1], got " + std::to_string(ls));
}

std::vector<i64> without_last(const std::vector<i64>& s) { return {s.begin(), s.end() - 1}; }

py::tuple result(const Array& loss, const std::optional<Array>& grad) {
  if (grad) return py::make_tuple(loss, *grad);
  return py::make_tuple(loss, py::none());
}

// rows x C view of an elementwise-loss input and the per-sample loss shape.
struct RowsC {
  i64 rows, C;
  std::vector<i64> loss_shape;
};

RowsC rows_c(const char* op, const Array& pred) {
  if (pred.ndim() < 1)
    throw ValueError(std::string(op) + ": predictions must have at least 1 dimension, got shape " +
                     pred.shape_str());
  RowsC r;
  if (pred.ndim() == 1) {
    r.rows = pred.shape[0];
    r.C = 1;
    r.loss_shape = {pred.shape[0]};
  } else {
    r.C = pred.shape.back();
    r.loss_shape = without_last(pred.shape);
    r.rows = 1;
    for (i64 d : r.loss_shape) r.rows *= d;
    if (r.C == 0 && r.rows > 0)
      throw ValueError(std::string(op) + ": last axis of predictions " + pred.shape_str() +
                       " is empty; the mean over it is undefined");
  }
  return r;
}

void check_pair(const char* op, const char* pname, const char* tname, const Array& pred,
                const Array& target) {
  check_f32(op, pname, pred);
  check_f32(op, tname, target);
  check_same_device(op, {&pred, &target});
  if (target.shape != pred.shape)
    throw ValueError(std::string(op) + ": " + tname + " shape " + target.shape_str() +
                     " does not match " + pname + " " + pred.shape_str());
}

py::tuple pointwise(const char* op, cpu::PointLoss kind, const Array& pred, const Array& target,
                    double param, double grad_scale, bool want_grad, const char* pname,
                    const char* tname) {
  check_pair(op, pname, tname, pred, target);
  RowsC rc = rows_c(op, pred);
  Array loss = Array::empty(rc.loss_shape, DType::F32, pred.device());
  std::optional<Array> grad;
  if (want_grad) grad = Array::empty(pred.shape, DType::F32, pred.device());
  FN_DISPATCH(op, pred,
              {
                py::gil_scoped_release nogil;
                cpu::pointwise_loss(kind, loss.f32(), grad ? grad->f32() : nullptr, pred.f32(),
                                    target.f32(), rc.rows, rc.C, float(param), float(grad_scale));
              },
              cuda_not_yet(op));
  return result(loss, grad);
}

template <class L>
void check_labels(const char* op, const L* y, i64 n, i64 C) {
  for (i64 i = 0; i < n; ++i)
    if (y[i] < 0 || static_cast<i64>(y[i]) >= C)
      throw ValueError(std::string(op) + ": label " + std::to_string(static_cast<long long>(y[i])) +
                       " at index " + std::to_string(i) + " is out of range for " +
                       std::to_string(C) + " classes (valid: 0.." + std::to_string(C - 1) + ")");
}

py::tuple softmax_cross_entropy(const Array& logits, const Array& labels, double ls,
                                double grad_scale, bool want_grad) {
  const char* op = "softmax_cross_entropy";
  check_f32(op, "logits", logits);
  check_same_device(op, {&logits, &labels});
  check_smoothing(op, ls);
  if (logits.ndim() < 2)
    throw ValueError(std::string(op) + ": logits must be [N, C] (or [..., C]), got shape " +
                     logits.shape_str());
  const i64 C = logits.shape.back();
  std::vector<i64> lshape = without_last(logits.shape);
  i64 rows = 1;
  for (i64 d : lshape) rows *= d;
  const bool sparse = labels.dtype != DType::F32;
  if (sparse ? labels.shape != lshape : labels.shape != logits.shape)
    throw ValueError(std::string(op) + ": labels shape " + labels.shape_str() +
                     " does not match logits " + logits.shape_str() +
                     (sparse ? " (integer labels must have shape " + shape_str(lshape) + ")"
                             : std::string(" (float labels must have the logits' shape)")));
  if (C == 0 && rows > 0)
    throw ValueError(std::string(op) + ": logits " + logits.shape_str() + " have no classes");
  Array loss = Array::empty(lshape, DType::F32, logits.device());
  std::optional<Array> grad;
  if (want_grad) grad = Array::empty(logits.shape, DType::F32, logits.device());
  float* g = grad ? grad->f32() : nullptr;
  FN_DISPATCH(op, logits,
              {
                if (labels.dtype == DType::I32) check_labels(op, labels.data<int32_t>(), rows, C);
                if (labels.dtype == DType::I64) check_labels(op, labels.data<int64_t>(), rows, C);
                py::gil_scoped_release nogil;
                if (labels.dtype == DType::I32)
                  cpu::softmax_xent_sparse_i32(loss.f32(), g, logits.f32(), labels.data<int32_t>(),
                                               rows, C, float(ls), float(grad_scale));
                else if (labels.dtype == DType::I64)
                  cpu::softmax_xent_sparse_i64(loss.f32(), g, logits.f32(), labels.data<int64_t>(),
                                               rows, C, float(ls), float(grad_scale));
                else
                  cpu::softmax_xent_dense(loss.f32(), g, logits.f32(), labels.f32(), rows, C,
                                          float(ls), float(grad_scale));
              },
              cuda_not_yet(op));
  return result(loss, grad);
}

py::tuple categorical_crossentropy_probs(const Array& probs, const Array& labels, double ls,
                                         double grad_scale, bool want_grad) {
  const char* op = "categorical_crossentropy_probs";
  check_f32(op, "probs", probs);
  check_smoothing(op, ls);
  if (probs.ndim() < 2)
    throw ValueError(std::string(op) + ": probs must be [N, C] (or [..., C]), got shape " +
                     probs.shape_str());
  if (labels.dtype != DType::F32)
    throw TypeError(std::string(op) + ": labels must be float32 one-hot/probabilities with the probs' "
                    "shape, got " + labels.describe() + " (use sparse labels with softmax_cross_entropy "
                    "or one_hot them)");
  check_pair(op, "probs", "labels", probs, labels);
  const i64 C = probs.shape.back();
  std::vector<i64> lshape = without_last(probs.shape);
  i64 rows = 1;
  for (i64 d : lshape) rows *= d;
  if (C == 0 && rows > 0)
    throw ValueError(std::string(op) + ": probs " + probs.shape_str() + " have no classes");
  Array loss = Array::empty(lshape, DType::F32, probs.device());
  std::optional<Array> grad;
  if (want_grad) grad = Array::empty(probs.shape, DType::F32, probs.device());
  FN_DISPATCH(op, probs,
              {
                py::gil_scoped_release nogil;
                cpu::categorical_xent_probs(loss.f32(), grad ? grad->f32() : nullptr, probs.f32(),
                                            labels.f32(), rows, C, float(ls), float(grad_scale));
              },
              cuda_not_yet(op));
  return result(loss, grad);
}

}  // namespace

FN_BIND(loss) {
  m.def("softmax_cross_entropy", &softmax_cross_entropy, py::arg("logits"), py::arg("labels"),
        py::arg("label_smoothing") = 0.0, py::arg("grad_scale") = 1.0, py::arg("want_grad") = true,
        "Fused softmax + cross-entropy over the last axis. labels: int32/int64 class ids with the "
        "logits' shape minus the last axis, or float32 targets with the logits' shape. Returns "
        "(loss [...], dlogits | None) with dlogits = grad_scale * (softmax * sum(t) - t).");
  m.def("categorical_crossentropy_probs", &categorical_crossentropy_probs, py::arg("probs"),
        py::arg("labels"), py::arg("label_smoothing") = 0.0, py::arg("grad_scale") = 1.0,
        py::arg("want_grad") = true,
        "Keras categorical_crossentropy on probabilities: p /= sum(p); clip [1e-7, 1-1e-7]; "
        "-sum(t log p). Gradient w.r.t. the unnormalised input.");
  m.def("sigmoid_binary_cross_entropy",
        [](const Array& x, const Array& t, double ls, double gs, bool wg) {
          check_smoothing("sigmoid_binary_cross_entropy", ls);
          return pointwise("sigmoid_binary_cross_entropy", cpu::PointLoss::SigmoidBCE, x, t, ls, gs,
                           wg, "logits", "targets");
        },
        py::arg("logits"), py::arg("targets"), py::arg("label_smoothing") = 0.0,
        py::arg("grad_scale") = 1.0, py::arg("want_grad") = true,
        "Stable max(x,0) - x*t + log1p(exp(-|x|)), mean over the last axis; t smoothed towards 0.5.");
  m.def("binary_cross_entropy_probs",
        [](const Array& p, const Array& t, double ls, double gs, bool wg) {
          check_smoothing("binary_cross_entropy_probs", ls);
          return pointwise("binary_cross_entropy_probs", cpu::PointLoss::BCEProbs, p, t, ls, gs, wg,
                           "probs", "targets");
        },
        py::arg("probs"), py::arg("targets"), py::arg("label_smoothing") = 0.0,
        py::arg("grad_scale") = 1.0, py::arg("want_grad") = true,
        "Keras binary_crossentropy on probabilities (clipped to [1e-7, 1-1e-7]), mean over the last axis.");
  m.def("mean_squared_error",
        [](const Array& p, const Array& t, double gs, bool wg) {
          return pointwise("mean_squared_error", cpu::PointLoss::MSE, p, t, 0.0, gs, wg, "pred", "target");
        },
        py::arg("pred"), py::arg("target"), py::arg("grad_scale") = 1.0, py::arg("want_grad") = true);
  m.def("mean_absolute_error",
        [](const Array& p, const Array& t, double gs, bool wg) {
          return pointwise("mean_absolute_error", cpu::PointLoss::MAE, p, t, 0.0, gs, wg, "pred", "target");
        },
        py::arg("pred"), py::arg("target"), py::arg("grad_scale") = 1.0, py::arg("want_grad") = true,
        "Mean |pred - target| over the last axis; gradient sign(pred - target) with 0 at equality.");
  m.def("huber",
        [](const Array& p, const Array& t, double delta, double gs, bool wg) {
          if (!(delta > 0.0))
            throw ValueError("huber: delta must be > 0, got " + std::to_string(delta));
          return pointwise("huber", cpu::PointLoss::Huber, p, t, delta, gs, wg, "pred", "target");
        },
        py::arg("pred"), py::arg("target"), py::arg("delta") = 1.0, py::arg("grad_scale") = 1.0,
        py::arg("want_grad") = true);
}

}  // namespace fusednet
