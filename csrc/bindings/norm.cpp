// norm.cpp (bindings) — BatchNormalization (channels last) and LayerNormalization (last axis);
// formulas in csrc/cpu/norm.h. x may have any rank >= 1; it is viewed as [M, C] (C = last axis).
#include <pybind11/numpy.h>

#include <cmath>

#include "bindings/bind_util.h"
#include "bindings/cnn_args.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#endif
#include "cpu/norm.h"

namespace fusednet {
namespace {

i64 last_dim(const char* op, const Array& x) {
  check_f32(op, "x", x);
  if (x.ndim() < 1) throw ValueError(std::string(op) + ": x must have at least 1 dimension, got a scalar");
  return x.dim(-1);
}

void check_vec(const char* op, const char* name, const std::optional<Array>& a, i64 C, const Array& x) {
  if (!a) return;
  check_f32(op, name, *a);
  if (a->shape != std::vector<i64>{C})
    throw ValueError(std::string(op) + ": " + name + " must have shape (" + std::to_string(C) +
                     ",) for x " + x.shape_str() + ", got " + a->shape_str());
}
const float* ptr(const std::optional<Array>& a) { return a ? a->f32() : nullptr; }

// Runs `stmt` (written with cpu:: kernels) on the array's device: the CUDA branch re-binds the
// name `cpu` to the cuda:: launchers, which have the same names and signatures (cuda/kernels.h).
#define FN_CPU_ONLY(op, arr, stmt)                                             \
  FN_DISPATCH(op, arr, { py::gil_scoped_release nogil; stmt; },                \
              { namespace cpu = ::fusednet::cuda; py::gil_scoped_release nogil; stmt; })

// Synchronized BatchNorm's pieces run on host arrays only (their float64 sums are NumPy arrays,
// allreduced over MPI between the calls); CUDA models use the fused kernels unsynchronized.
void host_only(const char* op, const Array& x) {
  if (x.is_cuda())
    throw TypeError(std::string(op) + ": synchronized BatchNormalization is not implemented for CUDA arrays "
                    "(got " + x.describe() + ")");
}

using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;

const double* f64_vec(const char* op, const char* name, const F64& a, i64 n) {
  if (a.ndim() != 1 || a.shape(0) != n)
    throw ValueError(std::string(op) + ": " + name + " must be a float64 vector of " + std::to_string(n) +
                     " values, got " + std::to_string(a.size()) + " in " + std::to_string(a.ndim()) + " dims");
  return a.data();
}

i64 rows_arg(const char* op, i64 Mg, i64 M) {
  if (Mg < M) throw ValueError(std::string(op) + ": global rows " + std::to_string(Mg) + " < local rows " +
                               std::to_string(M));
  return Mg;
}

// The per-channel state a training forward updates: gamma / beta / moving stats of length C,
// the moving stats writable and distinct, epsilon > 0.
void check_train_state(const char* op, const Array& x, const std::optional<Array>& gamma,
                       const std::optional<Array>& beta, const Array& moving_mean, const Array& moving_var, i64 C,
                       float epsilon) {
  check_vec(op, "gamma", gamma, C, x);
  check_vec(op, "beta", beta, C, x);
  check_vec(op, "moving_mean", moving_mean, C, x);
  check_vec(op, "moving_var", moving_var, C, x);
  check_writable(op, "moving_mean", moving_mean);
  check_writable(op, "moving_var", moving_var);
  if (same_memory(moving_mean, moving_var))
    throw ValueError(std::string(op) + ": moving_mean and moving_var must not share memory");
  if (!(epsilon > 0.f)) throw ValueError(std::string(op) + ": epsilon must be > 0, got " + std::to_string(epsilon));
}

}  // namespace

FN_BIND(norm) {
  m.def(
      "batch_norm_sums",
      [](const Array& x, std::optional<Array> center) {
        const char* op = "batch_norm_sums";
        const i64 C = last_dim(op, x), M = C ? x.numel() / C : 0;
        host_only(op, x);
        check_vec(op, "center", center, C, x);
        if (center) host_only(op, *center);
        F64 out(C);
        double* po = out.mutable_data();
        {
          py::gil_scoped_release nogil;
          cpu::batch_norm_sums(po, x.f32(), ptr(center), M, C);
        }
        return out;
      },
      py::arg("x"), py::arg("center") = py::none(),
      "float64 per-channel sums over all axes but the last: Σ x (center None) or Σ (x - center)²; "
      "the forward_train kernel's own partial sums (synchronized BatchNorm allreduces them).");
  m.def(
      "batch_norm_mean",
      [](const F64& s1, i64 Mg) {
        const char* op = "batch_norm_mean";
        if (Mg < 0) throw ValueError(std::string(op) + ": rows must be >= 0, got " + std::to_string(Mg));
        const i64 C = s1.ndim() == 1 ? s1.shape(0) : -1;
        const double* p = f64_vec(op, "s1", s1, C < 0 ? 0 : C);
        Array mean = Array::empty({C}, DType::F32);
        cpu::batch_norm_mean(mean.f32(), p, Mg, C);
        return mean;
      },
      py::arg("s1"), py::arg("rows"), "float32(s1 / rows) per channel (0 for rows = 0).");
  m.def(
      "batch_norm_forward_finish",
      [](const Array& x, std::optional<Array> gamma, std::optional<Array> beta, Array moving_mean,
         Array moving_var, const Array& mean, const F64& s2, i64 Mg, float momentum, float epsilon) {
        const char* op = "batch_norm_forward_finish";
        const i64 C = last_dim(op, x), M = C ? x.numel() / C : 0;
        host_only(op, x);
        check_train_state(op, x, gamma, beta, moving_mean, moving_var, C, epsilon);
        check_vec(op, "mean", mean, C, x);
        check_same_device(op, {&x, gamma ? &*gamma : nullptr, beta ? &*beta : nullptr, &moving_mean, &moving_var, &mean});
        const double* p2 = f64_vec(op, "s2", s2, C);
        rows_arg(op, Mg, M);
        Array y = Array::empty(x.shape, DType::F32, x.device());
        Array inv = Array::empty({C}, DType::F32, x.device());
        {
          py::gil_scoped_release nogil;
          cpu::batch_norm_forward_finish(y.f32(), inv.f32(), moving_mean.f32(), moving_var.f32(), x.f32(), ptr(gamma),
                                         ptr(beta), mean.f32(), p2, M, C, Mg, momentum, epsilon);
        }
        return py::make_tuple(y, inv);
      },
      py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("moving_mean"), py::arg("moving_var"),
      py::arg("mean"), py::arg("s2"), py::arg("rows"), py::arg("momentum") = 0.99f, py::arg("epsilon") = 1e-3f,
      "-> (y, inv_std) from the (global) mean and centred sum of squares s2 over `rows` rows; updates the "
      "moving statistics in place as batch_norm_forward_train does.");
  m.def(
      "batch_norm_backward_sums",
      [](const Array& dY, const Array& x, const Array& mean, const Array& inv_std) {
        const char* op = "batch_norm_backward_sums";
        const i64 C = last_dim(op, x), M = C ? x.numel() / C : 0;
        host_only(op, x);
        check_f32(op, "dY", dY);
        check_shape(op, "dY", dY, x.shape);
        check_vec(op, "mean", mean, C, x);
        check_vec(op, "inv_std", inv_std, C, x);
        check_same_device(op, {&dY, &x, &mean, &inv_std});
        F64 out(2 * C);
        double* po = out.mutable_data();
        {
          py::gil_scoped_release nogil;
          cpu::batch_norm_backward_sums(po, dY.f32(), x.f32(), mean.f32(), inv_std.f32(), M, C);
        }
        return out;
      },
      py::arg("dY"), py::arg("x"), py::arg("mean"), py::arg("inv_std"),
      "float64 [2C]: Σ dy (dbeta) then Σ dy·x̂ (dgamma), per channel.");
  m.def(
      "batch_norm_backward_finish",
      [](const Array& dY, const Array& x, std::optional<Array> gamma, const Array& mean, const Array& inv_std,
         const F64& s, const F64& sg, double rescale, i64 Mg, bool training) {
        const char* op = "batch_norm_backward_finish";
        const i64 C = last_dim(op, x), M = C ? x.numel() / C : 0;
        host_only(op, x);
        check_f32(op, "dY", dY);
        check_shape(op, "dY", dY, x.shape);
        check_vec(op, "gamma", gamma, C, x);
        check_vec(op, "mean", mean, C, x);
        check_vec(op, "inv_std", inv_std, C, x);
        check_same_device(op, {&dY, &x, gamma ? &*gamma : nullptr, &mean, &inv_std});
        const double* ps = f64_vec(op, "s", s, 2 * C);
        const double* pg = f64_vec(op, "sg", sg, 2 * C);
        rows_arg(op, Mg, M);
        if (!std::isfinite(rescale)) throw ValueError(std::string(op) + ": rescale must be finite");
        Array dX = Array::empty(x.shape, DType::F32, x.device());
        Array dg = Array::empty({C}, DType::F32, x.device());
        Array db = Array::empty({C}, DType::F32, x.device());
        {
          py::gil_scoped_release nogil;
          cpu::batch_norm_backward_finish(dX.f32(), dg.f32(), db.f32(), dY.f32(), x.f32(), ptr(gamma), mean.f32(),
                                          inv_std.f32(), ps, pg, rescale, M, C, Mg, training);
        }
        return py::make_tuple(dX, dg, db);
      },
      py::arg("dY"), py::arg("x"), py::arg("gamma"), py::arg("mean"), py::arg("inv_std"), py::arg("s"),
      py::arg("sg"), py::arg("rescale"), py::arg("rows"), py::arg("training") = true,
      "-> (dX, dgamma, dbeta): dgamma/dbeta from the local sums s, dX's coefficients from the global sums "
      "sg * rescale over `rows` rows (s = sg, rescale 1, rows = M: batch_norm_backward).");

  m.def(
      "batch_norm_forward_train",
      [](const Array& x, std::optional<Array> gamma, std::optional<Array> beta, Array moving_mean,
         Array moving_var, float momentum, float epsilon) {
        const char* op = "batch_norm_forward_train";
        const i64 C = last_dim(op, x), M = C ? x.numel() / C : 0;
        check_train_state(op, x, gamma, beta, moving_mean, moving_var, C, epsilon);
        check_same_device(op, {&x, gamma ? &*gamma : nullptr, beta ? &*beta : nullptr, &moving_mean, &moving_var});
        Array y = Array::empty(x.shape, DType::F32, x.device());
        Array mean = Array::empty({C}, DType::F32, x.device());
        Array inv = Array::empty({C}, DType::F32, x.device());
        FN_CPU_ONLY(op, x, cpu::batch_norm_forward_train(y.f32(), mean.f32(), inv.f32(), moving_mean.f32(),
                                                         moving_var.f32(), x.f32(), ptr(gamma), ptr(beta), M, C,
                                                         momentum, epsilon));
        return py::make_tuple(y, mean, inv);
      },
      py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("moving_mean"), py::arg("moving_var"),
      py::arg("momentum") = 0.99f, py::arg("epsilon") = 1e-3f,
      "Training BatchNorm over all axes but the last -> (y, batch_mean, inv_std); updates moving_mean / "
      "moving_var in place: moving = moving*momentum + batch*(1-momentum) (biased batch variance, Keras 3). "
      "gamma / beta may be None.");

  m.def(
      "batch_norm_forward_infer",
      [](const Array& x, std::optional<Array> gamma, std::optional<Array> beta, const Array& moving_mean,
         const Array& moving_var, float epsilon) {
        const char* op = "batch_norm_forward_infer";
        const i64 C = last_dim(op, x), M = C ? x.numel() / C : 0;
        check_vec(op, "gamma", gamma, C, x);
        check_vec(op, "beta", beta, C, x);
        check_vec(op, "moving_mean", moving_mean, C, x);
        check_vec(op, "moving_var", moving_var, C, x);
        check_same_device(op, {&x, gamma ? &*gamma : nullptr, beta ? &*beta : nullptr, &moving_mean, &moving_var});
        Array y = Array::empty(x.shape, DType::F32, x.device());
        FN_CPU_ONLY(op, x, cpu::batch_norm_forward_infer(y.f32(), x.f32(), ptr(gamma), ptr(beta), moving_mean.f32(),
                                                         moving_var.f32(), M, C, epsilon));
        return y;
      },
      py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("moving_mean"), py::arg("moving_var"),
      py::arg("epsilon") = 1e-3f, "Inference BatchNorm with the moving statistics.");

  m.def(
      "batch_norm_backward",
      [](const Array& dY, const Array& x, std::optional<Array> gamma, const Array& mean, const Array& inv_std,
         bool training) {
        const char* op = "batch_norm_backward";
        const i64 C = last_dim(op, x), M = C ? x.numel() / C : 0;
        check_f32(op, "dY", dY);
        check_shape(op, "dY", dY, x.shape);
        check_vec(op, "gamma", gamma, C, x);
        check_vec(op, "mean", mean, C, x);
        check_vec(op, "inv_std", inv_std, C, x);
        check_same_device(op, {&dY, &x, gamma ? &*gamma : nullptr, &mean, &inv_std});
        Array dX = Array::empty(x.shape, DType::F32, x.device());
        Array dg = Array::empty({C}, DType::F32, x.device());
        Array db = Array::empty({C}, DType::F32, x.device());
        FN_CPU_ONLY(op, x, cpu::batch_norm_backward(dX.f32(), dg.f32(), db.f32(), dY.f32(), x.f32(), ptr(gamma),
                                                    mean.f32(), inv_std.f32(), M, C, training));
        return py::make_tuple(dX, dg, db);
      },
      py::arg("dY"), py::arg("x"), py::arg("gamma"), py::arg("mean"), py::arg("inv_std"), py::arg("training") = true,
      "-> (dX, dgamma, dbeta). training=True: through the batch statistics saved by the forward; "
      "training=False: mean / inv_std are the moving ones (inv_std = 1/sqrt(moving_var + eps)).");

  m.def(
      "fold_batchnorm",
      [](const Array& w, std::optional<Array> b, std::optional<Array> gamma, std::optional<Array> beta,
         const Array& mean, const Array& var, float epsilon) {
        const char* op = "fold_batchnorm";
        check_f32(op, "w", w);
        if (w.ndim() < 1) throw ValueError(std::string(op) + ": w must have at least 1 dimension");
        const i64 O = w.dim(-1), R = O ? w.numel() / O : 0;
        check_vec(op, "b", b, O, w);
        check_vec(op, "gamma", gamma, O, w);
        check_vec(op, "beta", beta, O, w);
        check_vec(op, "mean", mean, O, w);
        check_vec(op, "var", var, O, w);
        check_same_device(op, {&w, b ? &*b : nullptr, gamma ? &*gamma : nullptr, beta ? &*beta : nullptr, &mean, &var});
        Array w2 = Array::empty(w.shape, DType::F32, w.device());
        Array b2 = Array::empty({O}, DType::F32, w.device());
        FN_CPU_ONLY(op, w, cpu::fold_batchnorm(w2.f32(), b2.f32(), w.f32(), ptr(b), ptr(gamma), ptr(beta), mean.f32(),
                                               var.f32(), R, O, epsilon));
        return py::make_tuple(w2, b2);
      },
      py::arg("w"), py::arg("b"), py::arg("gamma"), py::arg("beta"), py::arg("mean"), py::arg("var"),
      py::arg("epsilon") = 1e-3f,
      "Fold an inference BatchNorm that follows a conv / dense into its weights: s = gamma/sqrt(var+eps), "
      "w' = w*s (over the last axis), b' = (b - mean)*s + beta. b, gamma, beta may be None.");

  m.def(
      "layer_norm_forward",
      [](const Array& x, std::optional<Array> gamma, std::optional<Array> beta, float epsilon) {
        const char* op = "layer_norm_forward";
        const i64 D = last_dim(op, x), M = D ? x.numel() / D : 0;
        check_vec(op, "gamma", gamma, D, x);
        check_vec(op, "beta", beta, D, x);
        if (!(epsilon > 0.f)) throw ValueError(std::string(op) + ": epsilon must be > 0, got " + std::to_string(epsilon));
        check_same_device(op, {&x, gamma ? &*gamma : nullptr, beta ? &*beta : nullptr});
        Array y = Array::empty(x.shape, DType::F32, x.device());
        std::vector<i64> rs(x.shape.begin(), x.shape.end() - 1);
        Array mean = Array::empty(rs, DType::F32, x.device());
        Array inv = Array::empty(rs, DType::F32, x.device());
        FN_CPU_ONLY(op, x, cpu::layer_norm_forward(y.f32(), mean.f32(), inv.f32(), x.f32(), ptr(gamma), ptr(beta), M, D, epsilon));
        return py::make_tuple(y, mean, inv);
      },
      py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("epsilon") = 1e-3f,
      "LayerNorm over the last axis -> (y, mean, inv_std) (mean / inv_std have x's shape without the last axis).");

  m.def(
      "layer_norm_backward",
      [](const Array& dY, const Array& x, std::optional<Array> gamma, const Array& mean, const Array& inv_std) {
        const char* op = "layer_norm_backward";
        const i64 D = last_dim(op, x), M = D ? x.numel() / D : 0;
        check_f32(op, "dY", dY);
        check_shape(op, "dY", dY, x.shape);
        check_vec(op, "gamma", gamma, D, x);
        std::vector<i64> rs(x.shape.begin(), x.shape.end() - 1);
        check_f32(op, "mean", mean);
        check_f32(op, "inv_std", inv_std);
        check_shape(op, "mean", mean, rs);
        check_shape(op, "inv_std", inv_std, rs);
        check_same_device(op, {&dY, &x, gamma ? &*gamma : nullptr, &mean, &inv_std});
        Array dX = Array::empty(x.shape, DType::F32, x.device());
        Array dg = Array::empty({D}, DType::F32, x.device());
        Array db = Array::empty({D}, DType::F32, x.device());
        FN_CPU_ONLY(op, x, cpu::layer_norm_backward(dX.f32(), dg.f32(), db.f32(), dY.f32(), x.f32(), ptr(gamma),
                                                    mean.f32(), inv_std.f32(), M, D));
        return py::make_tuple(dX, dg, db);
      },
      py::arg("dY"), py::arg("x"), py::arg("gamma"), py::arg("mean"), py::arg("inv_std"),
      "-> (dX, dgamma, dbeta).");
}

}  // namespace fusednet
