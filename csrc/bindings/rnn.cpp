// rnn.cpp (bindings) — rnn_forward / rnn_backward: a whole SimpleRNN / LSTM / GRU sequence in one
// native call each way. Formulas, layouts and the workspace contract in csrc/cpu/rnn.h.
//
//   rnn_forward(kind, x [B,T,F], kernel [F,G·U], recurrent_kernel [U,G·U], bias, h0, c0, mask, ...)
//       -> (y [B,T,U] or None, h_T [B,U], c_T [B,U] or None, workspace tuple)
//   rnn_backward(kind, dy, dh_T, dc_T, x, kernel, recurrent_kernel, workspace, ...)
//       -> (dX or None, dW, dR, db or None, dh0 or None, dc0 or None)
// All argument checks happen here with the GIL held (ValueError / TypeError naming the op and the
// shapes); the kernels then run with the GIL released.
#include <string>

#include "bindings/bind_util.h"
#include "bindings/cnn_args.h"
#include "cpu/rnn.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/rnn.h"
#endif

namespace fusednet {
namespace {

using cpu::RnnDims;
using cpu::RnnKind;
using OptArr = std::optional<Array>;

RnnKind parse_kind(const char* op, const std::string& k) {
  if (k == "simple_rnn" || k == "simple" || k == "rnn") return RnnKind::Simple;
  if (k == "lstm") return RnnKind::LSTM;
  if (k == "gru") return RnnKind::GRU;
  throw ValueError(std::string(op) + ": unknown recurrent kind '" + k + "' (expected simple_rnn, lstm or gru)");
}

Act parse_act(const char* op, const char* what, const std::string& s) {
  if (s == "linear" || s == "none" || s.empty()) return Act::None;
  if (s == "relu") return Act::Relu;
  if (s == "sigmoid") return Act::Sigmoid;
  if (s == "tanh") return Act::Tanh;
  throw ValueError(std::string(op) + ": " + what + " '" + s +
                   "' is not supported natively (expected tanh, sigmoid, relu or linear)");
}

void want(const char* op, const char* name, const Array& a, const std::vector<i64>& shape) {
  check_f32(op, name, a);
  if (a.shape != shape)
    throw ValueError(std::string(op) + ": " + name + " must have shape " + shape_str(shape) + ", got " +
                     a.shape_str());
}
void want(const char* op, const char* name, const OptArr& a, const std::vector<i64>& shape) {
  if (a) want(op, name, *a, shape);
}
const float* ptr(const OptArr& a) { return a ? a->f32() : nullptr; }
const Array* aptr(const OptArr& a) { return a ? &*a : nullptr; }

// Validates x / kernel / recurrent_kernel and returns the sizes.
RnnDims dims(const char* op, const std::string& kind, const Array& x, const Array& W, const Array& R,
             const std::string& activation, const std::string& recurrent_activation, bool go_backwards,
             bool reset_after, bool y_time_order) {
  RnnDims d;
  d.y_time_order = y_time_order;
  d.kind = parse_kind(op, kind);
  d.reset_after = reset_after;
  d.go_backwards = go_backwards;
  d.act = parse_act(op, "activation", activation);
  d.rec_act = parse_act(op, "recurrent_activation", recurrent_activation);
  check_f32(op, "x", x);
  check_f32(op, "kernel", W);
  check_f32(op, "recurrent_kernel", R);
  if (x.ndim() != 3)
    throw ValueError(std::string(op) + ": x must be [batch, timesteps, features], got shape " + x.shape_str());
  d.B = x.dim(0);
  d.T = x.dim(1);
  d.F = x.dim(2);
  if (d.B < 1 || d.T < 1 || d.F < 1)
    throw ValueError(std::string(op) + ": x " + x.shape_str() + " must have batch, timesteps and features >= 1");
  if (R.ndim() != 2 || R.dim(0) < 1)
    throw ValueError(std::string(op) + ": recurrent_kernel must be [units, G*units], got " + R.shape_str());
  d.U = R.dim(0);
  const i64 GU = d.G() * d.U;
  if (R.dim(1) != GU)
    throw ValueError(std::string(op) + ": recurrent_kernel " + R.shape_str() + " must be [units, " +
                     std::to_string(d.G()) + "*units] = " + shape_str({d.U, GU}) + " for " + kind);
  if (W.shape != std::vector<i64>{d.F, GU})
    throw ValueError(std::string(op) + ": kernel must have shape " + shape_str({d.F, GU}) + " for x " +
                     x.shape_str() + " and recurrent_kernel " + R.shape_str() + ", got " + W.shape_str());
  return d;
}

std::vector<i64> bias_shape(const RnnDims& d) {
  const i64 GU = d.G() * d.U;
  if (d.kind == RnnKind::GRU && d.reset_after) return {2, GU};
  return {GU};
}

// Runs `stmt` (written with cpu:: kernels) on the array's device; the CUDA branch re-binds `cpu`
// to the cuda:: launchers of the same names and signatures (cuda/rnn.h).
#define FN_RNN_RUN(op, arr, stmt)                                               \
  FN_DISPATCH(op, arr, { py::gil_scoped_release nogil; stmt; },                 \
              { namespace cpu = ::fusednet::cuda; py::gil_scoped_release nogil; stmt; })

py::tuple forward(const std::string& kind, const Array& x, const Array& W, const Array& R, const OptArr& bias,
                  const OptArr& h0, const OptArr& c0, const OptArr& mask, const std::string& activation,
                  const std::string& recurrent_activation, bool go_backwards, bool reset_after,
                  bool return_sequences, bool y_time_order, const OptArr& rec_dropout) {
  const char* op = "rnn_forward";
  RnnDims d = dims(op, kind, x, W, R, activation, recurrent_activation, go_backwards, reset_after, y_time_order);
  want(op, "recurrent dropout mask", rec_dropout, {d.G(), d.B, d.U});
  d.rdrop = ptr(rec_dropout);
  const i64 B = d.B, T = d.T, U = d.U, GU = d.G() * d.U;
  want(op, "bias", bias, bias_shape(d));
  want(op, "initial h", h0, {B, U});
  if (c0 && d.kind != RnnKind::LSTM) throw ValueError(std::string(op) + ": c0 is only for lstm, got kind " + kind);
  want(op, "initial c", c0, {B, U});
  want(op, "mask", mask, {B, T});
  check_same_device(op, {&x, &W, &R, aptr(bias), aptr(h0), aptr(c0), aptr(mask), aptr(rec_dropout)});
  const Device dev = x.device();
  OptArr y;
  if (return_sequences) y = Array::empty({B, T, U}, DType::F32, dev, op);
  Array hT = Array::empty({B, U}, DType::F32, dev, op);
  OptArr cT;
  if (d.kind == RnnKind::LSTM) cT = Array::empty({B, U}, DType::F32, dev, op);
  Array Gw = Array::empty({B, T, GU}, DType::F32, dev, op);
  Array Hw = Array::empty({B, T, U}, DType::F32, dev, op);
  OptArr Ew;
  if (d.has_e()) Ew = Array::empty({B, T, U}, DType::F32, dev, op);
  float* yp = y ? y->f32() : nullptr;
  float* cp = cT ? cT->f32() : nullptr;
  float* ep = Ew ? Ew->f32() : nullptr;
  FN_RNN_RUN(op, x,
             cpu::rnn_forward(yp, hT.f32(), cp, Gw.f32(), Hw.f32(), ep, x.f32(), W.f32(), R.f32(), ptr(bias),
                              ptr(h0), ptr(c0), ptr(mask), d));
  py::object ew = Ew ? py::cast(*Ew) : py::none();
  return py::make_tuple(y ? py::cast(*y) : py::none(), hT, cT ? py::cast(*cT) : py::none(),
                        py::make_tuple(Gw, Hw, ew));
}

py::tuple backward(const std::string& kind, const OptArr& dy, const OptArr& dhT, const OptArr& dcT, const Array& x,
                   const Array& W, const Array& R, const py::tuple& ws, bool has_bias, const OptArr& c0,
                   const OptArr& mask, const std::string& activation, const std::string& recurrent_activation,
                   bool go_backwards, bool reset_after, bool need_dx, bool need_dh0, bool y_time_order,
                   const OptArr& rec_dropout) {
  const char* op = "rnn_backward";
  RnnDims d = dims(op, kind, x, W, R, activation, recurrent_activation, go_backwards, reset_after, y_time_order);
  want(op, "recurrent dropout mask", rec_dropout, {d.G(), d.B, d.U});
  d.rdrop = ptr(rec_dropout);
  const i64 B = d.B, T = d.T, F = d.F, U = d.U, GU = d.G() * d.U;
  if (ws.size() != 3)
    throw ValueError(std::string(op) + ": workspace must be the 3-tuple returned by rnn_forward, got " +
                     std::to_string(ws.size()) + " entries");
  const Array Gw = ws[0].cast<Array>();
  const Array Hw = ws[1].cast<Array>();
  OptArr Ew;
  if (!ws[2].is_none()) Ew = ws[2].cast<Array>();
  want(op, "workspace gates", Gw, {B, T, GU});
  want(op, "workspace states", Hw, {B, T, U});
  if (d.has_e() && !Ew) throw ValueError(std::string(op) + ": workspace of " + kind + " needs its third array");
  want(op, "workspace extra", Ew, {B, T, U});
  want(op, "dy", dy, {B, T, U});
  want(op, "dh_T", dhT, {B, U});
  if (dcT && d.kind != RnnKind::LSTM) throw ValueError(std::string(op) + ": dc_T is only for lstm, got kind " + kind);
  want(op, "dc_T", dcT, {B, U});
  want(op, "initial c", c0, {B, U});
  want(op, "mask", mask, {B, T});
  check_same_device(op, {&x, &W, &R, &Gw, &Hw, aptr(Ew), aptr(dy), aptr(dhT), aptr(dcT), aptr(c0), aptr(mask),
                         aptr(rec_dropout)});
  const Device dev = x.device();
  OptArr dX, db, dh0, dc0;
  if (need_dx) dX = Array::empty({B, T, F}, DType::F32, dev, op);
  Array dW = Array::empty({F, GU}, DType::F32, dev, op);
  Array dR = Array::empty({U, GU}, DType::F32, dev, op);
  if (has_bias) db = Array::empty(bias_shape(d), DType::F32, dev, op);
  if (need_dh0) {
    dh0 = Array::empty({B, U}, DType::F32, dev, op);
    if (d.kind == RnnKind::LSTM) dc0 = Array::empty({B, U}, DType::F32, dev, op);
  }
  float* dxp = dX ? dX->f32() : nullptr;
  float* dbp = db ? db->f32() : nullptr;
  float* dh0p = dh0 ? dh0->f32() : nullptr;
  float* dc0p = dc0 ? dc0->f32() : nullptr;
  const float* ep = Ew ? Ew->f32() : nullptr;
  FN_RNN_RUN(op, x,
             cpu::rnn_backward(dxp, dW.f32(), dR.f32(), dbp, dh0p, dc0p, ptr(dy), ptr(dhT), ptr(dcT), x.f32(),
                               W.f32(), R.f32(), Gw.f32(), Hw.f32(), ep, ptr(c0), ptr(mask), d));
  auto opt = [](const OptArr& a) { return a ? py::cast(*a) : py::none(); };
  return py::make_tuple(opt(dX), dW, dR, opt(db), opt(dh0), opt(dc0));
}

}  // namespace

FN_BIND(rnn) {
  m.def("rnn_forward", &forward, py::arg("kind"), py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"),
        py::arg("bias") = py::none(), py::arg("h0") = py::none(), py::arg("c0") = py::none(),
        py::arg("mask") = py::none(), py::arg("activation") = "tanh", py::arg("recurrent_activation") = "sigmoid",
        py::arg("go_backwards") = false, py::arg("reset_after") = true, py::arg("return_sequences") = true,
        py::arg("y_time_order") = false, py::arg("rec_dropout") = py::none(),
        "Whole-sequence SimpleRNN / LSTM / GRU forward (kind 'simple_rnn' | 'lstm' | 'gru'; Keras gate order "
        "and layouts, see csrc/cpu/rnn.h). x [B,T,F] float32; mask [B,T] float32 (0 = skip step, state "
        "carried); rec_dropout [G,B,U] float32 per-gate recurrent dropout masks (0 or 1/(1-rate), Keras "
        "gate order) or None. -> (y [B,T,U] in processing order (input time order with y_time_order) or None, h_T, c_T (lstm) or None, workspace) where "
        "workspace is what rnn_backward needs.");
  m.def("rnn_backward", &backward, py::arg("kind"), py::arg("dy"), py::arg("dh_T"), py::arg("dc_T"), py::arg("x"),
        py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("workspace"), py::arg("has_bias") = true,
        py::arg("c0") = py::none(), py::arg("mask") = py::none(), py::arg("activation") = "tanh",
        py::arg("recurrent_activation") = "sigmoid", py::arg("go_backwards") = false,
        py::arg("reset_after") = true, py::arg("need_dx") = true, py::arg("need_dh0") = false,
        py::arg("y_time_order") = false, py::arg("rec_dropout") = py::none(),
        "Backward through time of rnn_forward in one call: dy [B,T,U] (processing order) and/or dh_T / dc_T "
        "(None = zero), rec_dropout: the forward's masks -> (dX or None, dW, dR, db or None, dh0 or None, dc0 or None). Bitwise independent of "
        "the thread count.");
}

}  // namespace fusednet
