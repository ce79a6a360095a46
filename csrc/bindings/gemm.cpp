// bindings/gemm.cpp — Python glue for the gemm family: matmul (fused Dense forward) and
// dense_backward (the whole Dense backward in one call). Contract: docs/KERNELS.md § gemm.
//
//   matmul:          C[M,N] = act(beta*out + op(a)·op(b) + bias)
//   dense_backward:  Y = act(X·W + b), X [M,K], W [K,N] ->
//                    dZ = dY ⊙ act'(Y);  dW = Xᵀ·dZ [K,N];  db = Σ_rows dZ [N];  dX = dZ·Wᵀ [M,K]
// All checks happen here, with the GIL held, so the kernels below see only valid pointers and
// sizes; the kernels then run with the GIL released.
#include <algorithm>
#include <cstring>
#include <vector>
#include <memory>

#include "bindings/bind_util.h"
#include "cpu/gemm.h"
#include "cpu/runtime.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#endif

namespace fusednet {
namespace {

Act parse_act(const char* op, const std::string& s) {
  if (s == "none" || s == "linear" || s.empty()) return Act::None;
  if (s == "relu") return Act::Relu;
  if (s == "sigmoid") return Act::Sigmoid;
  if (s == "tanh") return Act::Tanh;
  throw ValueError(std::string(op) + ": unknown activation '" + s +
                   "' (expected none, relu, sigmoid or tanh)");
}

void check_f32_2d(const char* op, const char* name, const Array& a) {
  check_dtype(op, name, a, DType::F32);
  check_ndim(op, name, a, 2);
}

void check_no_overlap(const char* op, const Array& out, const char* name, const Array* in) {
  if (in && same_memory(out, *in))
    throw ValueError(std::string(op) + ": out " + out.shape_str() + " overlaps input " + name +
                     " " + in->shape_str() + "; pass a separate output array");
}

Array matmul(const Array& a, const Array& b, bool trans_a, bool trans_b,
             const std::optional<Array>& bias, const std::string& activation,
             const std::optional<Array>& out, double beta) {
  const char* op = "matmul";
  check_f32_2d(op, "a", a);
  check_f32_2d(op, "b", b);
  const i64 M = trans_a ? a.dim(1) : a.dim(0), Ka = trans_a ? a.dim(0) : a.dim(1);
  const i64 Kb = trans_b ? b.dim(1) : b.dim(0), N = trans_b ? b.dim(0) : b.dim(1);
  if (Ka != Kb)
    throw ValueError(std::string(op) + ": inner dimensions differ: a " + a.shape_str() +
                     (trans_a ? "ᵀ" : "") + " @ b " + b.shape_str() + (trans_b ? "ᵀ" : "") +
                     " (" + std::to_string(Ka) + " != " + std::to_string(Kb) + ")");
  if (bias) {
    check_dtype(op, "bias", *bias, DType::F32);
    if (bias->shape != std::vector<i64>{N})
      throw ValueError(std::string(op) + ": bias must have shape (" + std::to_string(N) +
                       ",) for a " + shape_str({M, N}) + " result, got " + bias->shape_str());
  }
  const Act act = parse_act(op, activation);
  if (beta != 0.0 && !out)
    throw ValueError(std::string(op) + ": beta=" + std::to_string(beta) +
                     " needs out= (the C it scales)");
  check_same_device(op, {&a, &b, bias ? &*bias : nullptr, out ? &*out : nullptr});
  Array c = out_or_empty(op, out, {M, N}, DType::F32, a.device());
  if (out) {
    check_no_overlap(op, c, "a", &a);
    check_no_overlap(op, c, "b", &b);
    check_no_overlap(op, c, "bias", bias ? &*bias : nullptr);
  }
  const float* bp = bias ? bias->f32() : nullptr;
  FN_DISPATCH(
      op, a,
      {
        py::gil_scoped_release nogil;
        cpu::sgemm(c.f32(), a.f32(), b.f32(), bp, M, N, Ka, trans_a, trans_b, a.dim(1), b.dim(1),
                   N, float(beta), act);
      },
      {
        py::gil_scoped_release nogil;
        cuda::sgemm(c.f32(), a.f32(), b.f32(), bp, M, N, Ka, trans_a, trans_b, a.dim(1), b.dim(1),
                    N, float(beta), act);
      });
  return c;
}

// Reused dZ buffer: one per calling thread, grown on demand (no allocation in steady state).
struct Scratch {
  float* p = nullptr;
  size_t n = 0;
  float* get(size_t want) {
    if (want > n) {
      cpu::aligned_free(p);
      p = nullptr;
      n = 0;
      p = static_cast<float*>(cpu::aligned_malloc(want * sizeof(float)));
      n = want;
    }
    return p;
  }
  ~Scratch() { cpu::aligned_free(p); }
};
thread_local Scratch tl_dz;

// dZ = dY ⊙ act'(Y) (act' through the saved output) and db = Σ_rows dZ, in one pass.
// Row-ordered float sums: deterministic, and N-wide rows vectorise.
void dz_and_db(float* dZ, float* db, const float* dY, const float* Y, i64 M, i64 N, Act act) {
  if (db) std::memset(db, 0, sizeof(float) * N);
  for (i64 i = 0; i < M; ++i) {
    const float* dy = dY + i * N;
    const float* y = Y ? Y + i * N : nullptr;
    float* dz = dZ + i * N;
    switch (act) {
      case Act::Relu:
        for (i64 j = 0; j < N; ++j) dz[j] = y[j] > 0.f ? dy[j] : 0.f;
        break;
      case Act::Sigmoid:
        for (i64 j = 0; j < N; ++j) dz[j] = dy[j] * y[j] * (1.f - y[j]);
        break;
      case Act::Tanh:
        for (i64 j = 0; j < N; ++j) dz[j] = dy[j] * (1.f - y[j] * y[j]);
        break;
      default:
        break;  // dZ is dY itself (caller passes dZ == dY)
    }
    if (db)
      for (i64 j = 0; j < N; ++j) db[j] += dz[j];
  }
}

py::tuple dense_backward(const Array& dY, const Array& X, const Array& W,
                         const std::optional<Array>& Y, const std::string& activation, bool need_dX,
                         bool has_bias) {
  const char* op = "dense_backward";
  check_f32_2d(op, "dY", dY);
  check_f32_2d(op, "X", X);
  check_f32_2d(op, "W", W);
  const i64 M = X.dim(0), K = X.dim(1), N = W.dim(1);
  if (W.dim(0) != K)
    throw ValueError(std::string(op) + ": X " + X.shape_str() + " and W " + W.shape_str() +
                     " do not chain (X.shape[1] != W.shape[0])");
  if (dY.shape != std::vector<i64>{M, N})
    throw ValueError(std::string(op) + ": dY must have shape " + shape_str({M, N}) + " for X " +
                     X.shape_str() + " @ W " + W.shape_str() + ", got " + dY.shape_str());
  const Act act = parse_act(op, activation);
  if (act != Act::None) {
    if (!Y)
      throw ValueError(std::string(op) + ": activation '" + activation +
                       "' needs the saved output Y");
    check_dtype(op, "Y", *Y, DType::F32);
    if (Y->shape != dY.shape)
      throw ValueError(std::string(op) + ": Y must have shape " + dY.shape_str() + ", got " +
                       Y->shape_str());
  }
  check_same_device(op, {&dY, &X, &W, Y ? &*Y : nullptr});
  const Device dev = X.device();
  Array dW = Array::empty({K, N}, DType::F32, dev);
  std::optional<Array> dX, db;
  if (need_dX) dX = Array::empty({M, K}, DType::F32, dev);
  if (has_bias) db = Array::empty({N}, DType::F32, dev);
  const float* yp = (act != Act::None) ? Y->f32() : nullptr;
  FN_DISPATCH(
      op, X,
      {
        py::gil_scoped_release nogil;
        const float* dz = dY.f32();
        if (act != Act::None) {
          float* buf = tl_dz.get(size_t(std::max<i64>(M * N, 1)));
          dz_and_db(buf, db ? db->f32() : nullptr, dY.f32(), yp, M, N, act);
          dz = buf;
        } else if (db) {
          dz_and_db(const_cast<float*>(dz), db->f32(), dz, nullptr, M, N, Act::None);
        }
        // dW[K,N] = Xᵀ·dZ : trans_a GEMM, X stored [M,K] with lda = K.
        cpu::sgemm(dW.f32(), X.f32(), dz, nullptr, K, N, M, true, false, K, N, N, 0.f, Act::None);
        // dX[M,K] = dZ·Wᵀ : trans_b GEMM, W stored [K,N] with ldb = N.
        if (dX)
          cpu::sgemm(dX->f32(), dz, W.f32(), nullptr, M, K, N, false, true, N, N, K, 0.f,
                     Act::None);
      },
      {
        // dZ scratch from the caching allocator (no cudaMalloc in steady state).
        std::optional<Array> dz;
        if (act != Act::None) dz = Array::empty({M, N}, DType::F32, dev);
        py::gil_scoped_release nogil;
        cuda::dense_backward(dX ? dX->f32() : nullptr, dW.f32(), db ? db->f32() : nullptr,
                             dz ? dz->f32() : nullptr, dY.f32(), X.f32(), W.f32(), yp, M, K, N, act);
      });
  py::object odx = dX ? py::cast(*dX) : py::none();
  py::object odb = db ? py::cast(*db) : py::none();
  return py::make_tuple(odx, dW, odb);
}

#ifdef FUSEDNET_WITH_CUDA
// Runs of matrices whose offsets step by constant strides: one strided-batched launch each (a
// single run unless both operands broadcast along different batch axes).
void bmm_cuda(Array& c, const Array& a, const Array& b, const std::vector<i64>& aoff,
              const std::vector<i64>& boff, i64 M, i64 N, i64 K, bool ta, bool tb, float beta) {
  const i64 nmat = i64(aoff.size()), cst = M * N;
  const i64 lda = a.dim(a.ndim() - 1), ldb = b.dim(b.ndim() - 1);
  for (i64 t = 0; t < nmat;) {
    i64 e = t + 1, da = 0, dbs = 0;
    if (e < nmat) {
      da = aoff[size_t(e)] - aoff[size_t(t)];
      dbs = boff[size_t(e)] - boff[size_t(t)];
      while (e < nmat && aoff[size_t(e)] - aoff[size_t(e - 1)] == da &&
             boff[size_t(e)] - boff[size_t(e - 1)] == dbs)
        ++e;
    }
    cuda::sgemm_strided_batched(c.f32() + t * cst, a.f32() + aoff[size_t(t)], b.f32() + boff[size_t(t)],
                                e - t, M, N, K, ta, tb, lda, ldb, N, da, dbs, cst, beta);
    t = e;
  }
}
#endif

// Batched matmul with NumPy-broadcast batch axes: a [..., M, K] (trans_a: [..., K, M]),
// b [..., K, N] (trans_b: [..., N, K]) -> [batch..., M, N]. The broadcast is turned into one
// element offset per output matrix (0-stride on broadcast axes), so nothing is copied.
Array bmm(const Array& a, const Array& b, bool trans_a, bool trans_b,
          const std::optional<Array>& out, double beta) {
  const char* op = "bmm";
  check_dtype(op, "a", a, DType::F32);
  check_dtype(op, "b", b, DType::F32);
  if (a.ndim() < 2 || b.ndim() < 2)
    throw ValueError(std::string(op) + ": operands must have rank >= 2, got a " + a.shape_str() +
                     " and b " + b.shape_str());
  const int ra = a.ndim(), rb = b.ndim();
  const i64 a0 = a.dim(ra - 2), a1 = a.dim(ra - 1), b0 = b.dim(rb - 2), b1 = b.dim(rb - 1);
  const i64 M = trans_a ? a1 : a0, Ka = trans_a ? a0 : a1;
  const i64 Kb = trans_b ? b1 : b0, N = trans_b ? b0 : b1;
  if (Ka != Kb)
    throw ValueError(std::string(op) + ": inner dimensions differ: a " + a.shape_str() +
                     (trans_a ? "ᵀ" : "") + " @ b " + b.shape_str() + (trans_b ? "ᵀ" : "") +
                     " (" + std::to_string(Ka) + " != " + std::to_string(Kb) + ")");
  const int nb = std::max(ra, rb) - 2;
  std::vector<i64> batch(size_t(nb), 1), sa(size_t(nb), 0), sbv(size_t(nb), 0);
  i64 ea = a0 * a1, eb = b0 * b1;  // running element strides of the operands' batch axes
  for (int d = nb - 1; d >= 0; --d) {
    const int da = d - (nb - (ra - 2)), db = d - (nb - (rb - 2));
    const i64 xa = da >= 0 ? a.dim(da) : 1, xb = db >= 0 ? b.dim(db) : 1;
    if (xa != xb && xa != 1 && xb != 1)
      throw ValueError(std::string(op) + ": batch axes of a " + a.shape_str() + " and b " +
                       b.shape_str() + " do not broadcast");
    batch[size_t(d)] = std::max(xa, xb);
    if (xa == 0 || xb == 0) batch[size_t(d)] = 0;
    sa[size_t(d)] = xa == 1 ? 0 : ea;
    sbv[size_t(d)] = xb == 1 ? 0 : eb;
    ea *= xa;
    eb *= xb;
  }
  i64 nmat = 1;
  for (i64 v : batch) nmat *= v;
  if (beta != 0.0 && !out)
    throw ValueError(std::string(op) + ": beta=" + std::to_string(beta) + " needs out= (the C it scales)");
  check_same_device(op, {&a, &b, out ? &*out : nullptr});
  std::vector<i64> oshape = batch;
  oshape.push_back(M);
  oshape.push_back(N);
  Array c = out_or_empty(op, out, oshape, DType::F32, a.device());
  if (out) {
    check_no_overlap(op, c, "a", &a);
    check_no_overlap(op, c, "b", &b);
  }
  if (nmat == 0 || M == 0 || N == 0) return c;
  // Offsets of every output matrix's operands (row-major over the batch axes).
  std::vector<i64> aoff(static_cast<size_t>(nmat)), boff(static_cast<size_t>(nmat));
  {
    std::vector<i64> idx(size_t(nb), 0);
    i64 oa = 0, ob = 0;
    for (i64 t = 0; t < nmat; ++t) {
      aoff[size_t(t)] = oa;
      boff[size_t(t)] = ob;
      for (int d = nb - 1; d >= 0; --d) {  // odometer increment
        oa += sa[size_t(d)];
        ob += sbv[size_t(d)];
        if (++idx[size_t(d)] < batch[size_t(d)]) break;
        oa -= sa[size_t(d)] * batch[size_t(d)];
        ob -= sbv[size_t(d)] * batch[size_t(d)];
        idx[size_t(d)] = 0;
      }
    }
  }
  const i64 lda = a1, ldb = b1, cst = M * N;
  FN_DISPATCH(
      op, a,
      {
        py::gil_scoped_release nogil;
        cpu::sgemm_batched(c.f32(), a.f32(), b.f32(), aoff.data(), boff.data(), nmat, M, N, Ka,
                           trans_a, trans_b, lda, ldb, N, cst, float(beta));
      },
      {
        py::gil_scoped_release nogil;
        bmm_cuda(c, a, b, aoff, boff, M, N, Ka, trans_a, trans_b, float(beta));
      });
  return c;
}

}  // namespace

FN_BIND(gemm) {
  m.def("bmm", &bmm, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("out") = py::none(), py::arg("beta") = 0.0,
        "Batched C[..., M, N] = beta*out + op(a[...]) @ op(b[...]) with NumPy-broadcast batch axes "
        "(rank >= 2 operands, float32); each matrix is bitwise the 2-D matmul of its operands");
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("bias") = py::none(), py::arg("activation") = "none",
        py::arg("out") = py::none(), py::arg("beta") = 0.0,
        "C = act(beta*out + op(a) @ op(b) + bias); 2-D float32, see docs/KERNELS.md");
  m.def("dense_backward", &dense_backward, py::arg("dY"), py::arg("X"), py::arg("W"),
        py::arg("Y") = py::none(), py::arg("activation") = "none", py::arg("need_dX") = true,
        py::arg("has_bias") = true,
        "(dX|None, dW, db|None) for Y = act(X @ W + b), derivative through the saved output Y");
  m.def("_gemm_set_direct", [](const std::string& mode) {
        if (mode == "auto") cpu::sgemm_set_direct(0);
        else if (mode == "never") cpu::sgemm_set_direct(1);
        else if (mode == "always") cpu::sgemm_set_direct(2);
        else throw py::value_error("_gemm_set_direct: mode must be 'auto', 'never' or 'always', got '" + mode + "'");
      }, py::arg("mode"),
      "Testing hook: whether the CPU SGEMM packs its non-transposed operands or reads them in place "
      "('auto' decides by shape). The results are bitwise identical in every mode.");
  m.def("_gemm_isa", [] { return std::string(cpu::sgemm_isa()); },
        "Instruction set of the CPU SGEMM micro-kernel in use (FUSEDNET_ISA caps it).");
  m.def("_fma_peak_gflops",
        [](int threads, double seconds) {
          py::gil_scoped_release nogil;
          return cpu::fma_peak_gflops(threads > 0 ? threads : cpu::num_threads(), seconds);
        },
        py::arg("threads") = 0, py::arg("seconds") = 0.2,
        "Measured FP32 vector-FMA peak in GFLOP/s over `threads` threads (0 = num_threads()).");
}

}  // namespace fusednet
