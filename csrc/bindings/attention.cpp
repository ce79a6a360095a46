// attention.cpp (bindings) — fused scaled-dot-product attention, forward and backward
// (formulas, layouts and the O(T)-memory blocking in csrc/cpu/attention.h).
#include <cmath>

#include "bindings/bind_util.h"
#include "bindings/cnn_args.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/attention.h"
#endif
#include "cpu/attention.h"

namespace fusednet {
namespace {

struct Parsed {
  attn::Dims d;
  attn::Mask mask;
  attn::Dropout drop;
  float scale = 1.f;
};

std::string shapes(const Array& q, const Array& k, const Array& v) {
  return "q " + q.shape_str() + ", k " + k.shape_str() + ", v " + v.shape_str();
}

void parse_rest(const char* op, Parsed& p, const std::optional<Array>& mask, std::optional<float> scale, double rate,
                uint64_t seed, uint64_t offset);

// Checks q/k/v (and the mask) and derives the sizes. Layout "bhtd": [B, H, T, D]; "bthd": [B, T, H, D].
Parsed parse(const char* op, const Array& q, const Array& k, const Array& v, const std::optional<Array>& mask,
             std::optional<float> scale, double rate, uint64_t seed, uint64_t offset, const std::string& layout) {
  Parsed p;
  if (layout != "bhtd" && layout != "bthd")
    throw ValueError(std::string(op) + ": layout must be 'bhtd' or 'bthd', got '" + layout + "'");
  p.d.bthd = layout == "bthd";
  check_f32(op, "q", q);
  check_f32(op, "k", k);
  check_f32(op, "v", v);
  if (q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4)
    throw ValueError(std::string(op) + ": q, k, v must be rank 4 (" + layout + "), got " + shapes(q, k, v));
  const int ta = p.d.bthd ? 1 : 2, ha = p.d.bthd ? 2 : 1;
  p.d.B = q.dim(0);
  p.d.H = q.dim(ha);
  p.d.Tq = q.dim(ta);
  p.d.Tk = k.dim(ta);
  p.d.D = q.dim(3);
  p.d.Dv = v.dim(3);
  if (k.dim(0) != p.d.B || v.dim(0) != p.d.B || k.dim(ha) != p.d.H || v.dim(ha) != p.d.H)
    throw ValueError(std::string(op) + ": q, k, v must agree on batch and heads (" + layout + "), got " +
                     shapes(q, k, v));
  if (k.dim(3) != p.d.D)
    throw ValueError(std::string(op) + ": q and k must have the same last dimension, got " + shapes(q, k, v));
  if (v.dim(ta) != p.d.Tk)
    throw ValueError(std::string(op) + ": k and v must have the same number of keys, got " + shapes(q, k, v));
  if (p.d.D == 0 || p.d.Dv == 0)
    throw ValueError(std::string(op) + ": head sizes must be >= 1, got " + shapes(q, k, v));
  if (p.d.Tk == 0 && p.d.Tq > 0 && p.d.B * p.d.H > 0)
    throw ValueError(std::string(op) + ": softmax over zero keys (k has no time steps), got " + shapes(q, k, v));
  check_same_device(op, {&q, &k, &v, mask ? &*mask : nullptr});
  parse_rest(op, p, mask, scale, rate, seed, offset);
  return p;
}

// The mask, dropout and scale arguments (shared by the separate and the packed entry points).
void parse_rest(const char* op, Parsed& p, const std::optional<Array>& mask, std::optional<float> scale, double rate,
                uint64_t seed, uint64_t offset) {
  if (mask) {
    const Array& m = *mask;
    check_f32(op, "mask", m);
    if (m.ndim() != 2 && m.ndim() != 3)
      throw ValueError(std::string(op) + ": mask must be [Tq, Tk] or [B, Tq, Tk], got " + m.shape_str());
    const i64 mb = m.ndim() == 3 ? m.dim(0) : 1, mq = m.dim(-2), mk = m.dim(-1);
    auto ok = [](i64 got, i64 want) { return got == want || got == 1; };
    if (!ok(mb, p.d.B) || !ok(mq, p.d.Tq) || !ok(mk, p.d.Tk))
      throw ValueError(std::string(op) + ": mask " + m.shape_str() + " does not broadcast to [B, Tq, Tk] = (" +
                       std::to_string(p.d.B) + ", " + std::to_string(p.d.Tq) + ", " + std::to_string(p.d.Tk) +
                       ")");
    p.mask.p = m.f32();
    p.mask.sj = mk == 1 ? 0 : 1;
    p.mask.si = mq == 1 ? 0 : mk;
    p.mask.sb = mb == 1 ? 0 : mq * mk;
  }
  if (!(rate >= 0.0 && rate < 1.0))
    throw ValueError(std::string(op) + ": dropout rate must be in [0, 1), got " + std::to_string(rate));
  p.drop = attn::Dropout{rate, seed, offset};
  p.scale = scale ? *scale : (p.d.D > 0 ? static_cast<float>(1.0 / std::sqrt(double(p.d.D))) : 1.f);
  if (!std::isfinite(p.scale)) throw ValueError(std::string(op) + ": scale must be finite");
}

// Packed self-attention: qkv [B, T, 3, H, D] (q, k, v the thirds of axis 2; attention.h Dims::ld).
Parsed parse_packed(const char* op, const Array& qkv, const std::optional<Array>& mask, std::optional<float> scale,
                    double rate, uint64_t seed, uint64_t offset) {
  Parsed p;
  check_f32(op, "qkv", qkv);
  if (qkv.ndim() != 5 || qkv.dim(2) != 3 || qkv.dim(4) == 0)
    throw ValueError(std::string(op) + ": qkv must be [B, T, 3, H, D] with D >= 1, got " + qkv.shape_str());
  p.d.bthd = true;
  p.d.B = qkv.dim(0);
  p.d.Tq = p.d.Tk = qkv.dim(1);
  p.d.H = qkv.dim(3);
  p.d.D = p.d.Dv = qkv.dim(4);
  p.d.ld = 3 * p.d.H * p.d.D;
  check_same_device(op, {&qkv, mask ? &*mask : nullptr});
  parse_rest(op, p, mask, scale, rate, seed, offset);
  return p;
}

}  // namespace

FN_BIND(attention) {
  m.def(
      "attention_forward",
      [](const Array& q, const Array& k, const Array& v, bool causal, std::optional<float> scale,
         std::optional<Array> mask, double dropout_rate, uint64_t seed, uint64_t offset, const std::string& layout) {
        const char* op = "attention_forward";
        const Parsed p = parse(op, q, k, v, mask, scale, dropout_rate, seed, offset, layout);
        std::vector<i64> oshape = q.shape;
        oshape[3] = p.d.Dv;
        Array o = Array::empty(oshape, DType::F32, q.device(), op);
        Array lse = Array::empty({p.d.B, p.d.H, p.d.Tq}, DType::F32, q.device(), op);
        FN_DISPATCH(op, q,
                    {
                      py::gil_scoped_release nogil;
                      cpu::attention_forward(o.f32(), lse.f32(), q.f32(), k.f32(), v.f32(), p.d, causal, p.scale,
                                             p.mask, p.drop);
                    },
                    {
                      py::gil_scoped_release nogil;
                      cuda::attention_forward(o.f32(), lse.f32(), q.f32(), k.f32(), v.f32(), p.d, causal, p.scale,
                                              p.mask, p.drop);
                    });
        return py::make_tuple(o, lse);
      },
      py::arg("q"), py::arg("k"), py::arg("v"), py::arg("causal") = false, py::arg("scale") = py::none(),
      py::arg("mask") = py::none(), py::arg("dropout_rate") = 0.0, py::arg("seed") = 0, py::arg("offset") = 0,
      py::arg("layout") = "bhtd",
      "Fused softmax(scale*q@k^T [causal, mask]) @ v with online softmax (no Tq x Tk buffer) -> (o, lse). "
      "q [B,H,Tq,D], k [B,H,Tk,D], v [B,H,Tk,Dv] (layout='bthd': [B,T,H,D]); o like q with Dv; lse [B,H,Tq]. "
      "scale defaults to 1/sqrt(D); causal is top-left aligned (key j <= query i); mask float [B|1, Tq|1, Tk|1], "
      "values <= 0.5 masked (score -1e9, Keras); dropout on the probabilities with Philox (seed, offset).");

  m.def(
      "attention_backward",
      [](const Array& dO, const Array& q, const Array& k, const Array& v, const Array& o, const Array& lse,
         bool causal, std::optional<float> scale, std::optional<Array> mask, double dropout_rate, uint64_t seed,
         uint64_t offset, const std::string& layout) {
        const char* op = "attention_backward";
        const Parsed p = parse(op, q, k, v, mask, scale, dropout_rate, seed, offset, layout);
        std::vector<i64> oshape = q.shape;
        oshape[3] = p.d.Dv;
        check_f32(op, "dO", dO);
        check_f32(op, "o", o);
        check_f32(op, "lse", lse);
        check_shape(op, "dO", dO, oshape);
        check_shape(op, "o", o, oshape);
        check_shape(op, "lse", lse, {p.d.B, p.d.H, p.d.Tq});
        check_same_device(op, {&q, &dO, &o, &lse});
        Array dq = Array::empty(q.shape, DType::F32, q.device(), op);
        Array dk = Array::empty(k.shape, DType::F32, q.device(), op);
        Array dv = Array::empty(v.shape, DType::F32, q.device(), op);
        FN_DISPATCH(op, q,
                    {
                      py::gil_scoped_release nogil;
                      cpu::attention_backward(dq.f32(), dk.f32(), dv.f32(), dO.f32(), q.f32(), k.f32(), v.f32(),
                                              o.f32(), lse.f32(), p.d, causal, p.scale, p.mask, p.drop);
                    },
                    {
                      py::gil_scoped_release nogil;
                      cuda::attention_backward(dq.f32(), dk.f32(), dv.f32(), dO.f32(), q.f32(), k.f32(), v.f32(),
                                               o.f32(), lse.f32(), p.d, causal, p.scale, p.mask, p.drop);
                    });
        return py::make_tuple(dq, dk, dv);
      },
      py::arg("dO"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("o"), py::arg("lse"),
      py::arg("causal") = false, py::arg("scale") = py::none(), py::arg("mask") = py::none(),
      py::arg("dropout_rate") = 0.0, py::arg("seed") = 0, py::arg("offset") = 0, py::arg("layout") = "bhtd",
      "-> (dq, dk, dv) of attention_forward, recomputing the probabilities block by block from lse "
      "(no Tq x Tk buffer); pass the forward's causal/scale/mask/dropout arguments.");

  // Packed self-attention (one QKV projection GEMM's output read in place; Dims::ld in attention.h).
  m.def(
      "attention_forward_packed",
      [](const Array& qkv, bool causal, std::optional<float> scale, std::optional<Array> mask, double dropout_rate,
         uint64_t seed, uint64_t offset) {
        const char* op = "attention_forward_packed";
        const Parsed p = parse_packed(op, qkv, mask, scale, dropout_rate, seed, offset);
        const float* base = qkv.f32();
        const i64 HD = p.d.H * p.d.D;
        Array o = Array::empty({p.d.B, p.d.Tq, p.d.H, p.d.D}, DType::F32, qkv.device(), op);
        Array lse = Array::empty({p.d.B, p.d.H, p.d.Tq}, DType::F32, qkv.device(), op);
        FN_DISPATCH(op, qkv,
                    {
                      py::gil_scoped_release nogil;
                      cpu::attention_forward(o.f32(), lse.f32(), base, base + HD, base + 2 * HD, p.d, causal,
                                             p.scale, p.mask, p.drop);
                    },
                    {
                      py::gil_scoped_release nogil;
                      cuda::attention_forward(o.f32(), lse.f32(), base, base + HD, base + 2 * HD, p.d, causal,
                                              p.scale, p.mask, p.drop);
                    });
        return py::make_tuple(o, lse);
      },
      py::arg("qkv"), py::arg("causal") = false, py::arg("scale") = py::none(), py::arg("mask") = py::none(),
      py::arg("dropout_rate") = 0.0, py::arg("seed") = 0, py::arg("offset") = 0,
      "attention_forward on packed self-attention input qkv [B, T, 3, H, D] (q, k, v = qkv[:, :, 0/1/2], "
      "read in place: the output of one fused QKV projection) -> (o [B, T, H, D], lse [B, H, T]).");

  m.def(
      "attention_backward_packed",
      [](const Array& dO, const Array& qkv, const Array& o, const Array& lse, bool causal, std::optional<float> scale,
         std::optional<Array> mask, double dropout_rate, uint64_t seed, uint64_t offset) {
        const char* op = "attention_backward_packed";
        const Parsed p = parse_packed(op, qkv, mask, scale, dropout_rate, seed, offset);
        const std::vector<i64> oshape{p.d.B, p.d.Tq, p.d.H, p.d.D};
        check_f32(op, "dO", dO);
        check_f32(op, "o", o);
        check_f32(op, "lse", lse);
        check_shape(op, "dO", dO, oshape);
        check_shape(op, "o", o, oshape);
        check_shape(op, "lse", lse, {p.d.B, p.d.H, p.d.Tq});
        check_same_device(op, {&qkv, &dO, &o, &lse});
        const float* base = qkv.f32();
        const i64 HD = p.d.H * p.d.D;
        Array g = Array::empty(qkv.shape, DType::F32, qkv.device(), op);
        float* gb = g.f32();
        FN_DISPATCH(op, qkv,
                    {
                      py::gil_scoped_release nogil;
                      cpu::attention_backward(gb, gb + HD, gb + 2 * HD, dO.f32(), base, base + HD, base + 2 * HD,
                                              o.f32(), lse.f32(), p.d, causal, p.scale, p.mask, p.drop);
                    },
                    {
                      py::gil_scoped_release nogil;
                      cuda::attention_backward(gb, gb + HD, gb + 2 * HD, dO.f32(), base, base + HD, base + 2 * HD,
                                               o.f32(), lse.f32(), p.d, causal, p.scale, p.mask, p.drop);
                    });
        return g;
      },
      py::arg("dO"), py::arg("qkv"), py::arg("o"), py::arg("lse"), py::arg("causal") = false,
      py::arg("scale") = py::none(), py::arg("mask") = py::none(), py::arg("dropout_rate") = 0.0,
      py::arg("seed") = 0, py::arg("offset") = 0,
      "-> dqkv [B, T, 3, H, D] of attention_forward_packed (dq, dk, dv in the thirds of axis 2).");
}

}  // namespace fusednet
