"""Recurrent state (issue 12): return_state / initial_state inside functional models (compiled
plan, gradients into the initial states), Bidirectional return_state, stateful=True layers.

References: real Keras 3 (KERAS_BACKEND=torch) with copied weights, the float64 NumPy cells of
test_rnn.py and float64 finite differences.
"""
import os

import numpy as np
import pytest

import fusednet
from fusednet.layers import GRU, LSTM, Bidirectional, Dense, SimpleRNN
from fusednet.trainers.plan import GraphPlan
from test_rnn import _fd, ref_forward
from tolerances import TOL

CLS = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("real Keras is loaded with a non-torch backend")
    return keras


def _copy_weights(kmodel, fmodel, names):
    for n in names:
        fmodel.get_layer(n).set_weights([np.asarray(w) for w in kmodel.get_layer(n).get_weights()])


def _seq2seq(lib, L, U, F_enc, F_dec, V):
    """The Keras guide's character seq2seq: encoder LSTM states -> decoder LSTM -> softmax."""
    enc_in = lib.Input((None, F_enc), name="enc_in")
    _, h, c = L.LSTM(U, return_state=True, name="enc")(enc_in)
    dec_in = lib.Input((None, F_dec), name="dec_in")
    dec_lstm = L.LSTM(U, return_sequences=True, return_state=True, name="dec")
    y, _, _ = dec_lstm(dec_in, initial_state=[h, c])
    dense = L.Dense(V, activation="softmax", name="out")
    model = lib.Model([enc_in, dec_in], dense(y))
    # inference models from the trained (shared) layers, as in the guide
    encoder = lib.Model(enc_in, [h, c])
    sh, sc = lib.Input((U,), name="sh"), lib.Input((U,), name="sc")
    y2, h2, c2 = dec_lstm(dec_in, initial_state=[sh, sc])
    decoder = lib.Model([dec_in, sh, sc], [dense(y2), h2, c2])
    return model, encoder, decoder


def test_seq2seq_fit_and_inference_models_match_keras():
    keras = _keras()
    rng = np.random.default_rng(0)
    N, Te, Td, Fe, Fd, U, V = 12, 7, 5, 3, 4, 6, 4
    xe = rng.standard_normal((N, Te, Fe)).astype(np.float32)
    xd = rng.standard_normal((N, Td, Fd)).astype(np.float32)
    yt = np.eye(V, dtype=np.float32)[rng.integers(0, V, (N, Td))]
    km, kenc, kdec = _seq2seq(keras, keras.layers, U, Fe, Fd, V)
    fm, fenc, fdec = _seq2seq(fusednet, fusednet.layers, U, Fe, Fd, V)
    _copy_weights(km, fm, ["enc", "dec", "out"])
    np.testing.assert_allclose(fm.predict([xe, xd], verbose=0), km.predict([xe, xd], verbose=0), *TOL["rnn_keras"])
    km.compile(keras.optimizers.SGD(0.5), "categorical_crossentropy")
    fm.compile(fusednet.optimizers.SGD(0.5), "categorical_crossentropy")
    kh = km.fit([xe, xd], yt, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
    fh = fm.fit([xe, xd], yt, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
    assert fm._get_plan().tape_layers == []          # the whole graph ran compiled
    lines = []
    fm.summary(print_fn=lines.append)                # Keras shows a return_state call's outputs as a list
    assert any("enc (LSTM)" in ln and "[(None, 6), (None, 6), (None, 6)]" in ln for ln in lines), lines
    np.testing.assert_allclose(fh, kh, *TOL["rnn_keras_fit"])
    for n in ("enc", "dec", "out"):                  # the encoder trained through the states only
        for a, b in zip(fm.get_layer(n).get_weights(), km.get_layer(n).get_weights()):
            np.testing.assert_allclose(a, np.asarray(b), *TOL["rnn_keras_fit"])
    fh_, fc_ = fenc.predict(xe, verbose=0)
    kh_, kc_ = kenc.predict(xe, verbose=0)
    np.testing.assert_allclose(fh_, kh_, *TOL["rnn_keras"])
    np.testing.assert_allclose(fc_, kc_, *TOL["rnn_keras"])
    step = xd[:, :1]                                 # one decoding step from the encoder states
    fo = fdec.predict([step, fh_, fc_], verbose=0)
    ko = kdec.predict([step, kh_, kc_], verbose=0)
    for a, b in zip(fo, ko):
        np.testing.assert_allclose(a, b, *TOL["rnn_keras"])


@pytest.mark.parametrize("kind", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("seq", [False, True])
def test_return_state_model_outputs_tape_and_plan(kind, seq):
    rng = np.random.default_rng(1)
    x_in = fusednet.Input((5, 3))
    outs = CLS[kind](4, return_sequences=seq, return_state=True)(x_in)
    model = fusednet.Model(x_in, outs)
    x = rng.standard_normal((3, 5, 3)).astype(np.float32)
    got = model.predict(x, verbose=0)
    ws = [w.astype(np.float64) for w in model.get_weights()]
    ry, rh, rc = ref_forward(kind, x, *ws)
    want = [ry if seq else rh, rh] + ([rc] if kind == "lstm" else [])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, *TOL["rnn"])
    eager = model(x)                                  # the tape path: same values
    for g, e in zip(got, eager):
        np.testing.assert_array_equal(g, e.numpy())


def _state_model(kind, T, F, U):
    """Model([x, h0(, c0)]) -> (seq, h): every output and every input in the gradient."""
    x_in = fusednet.Input((T, F))
    s_in = [fusednet.Input((U,)) for _ in range(2 if kind == "lstm" else 1)]
    layer = CLS[kind](U, return_sequences=True, return_state=True)
    outs = layer(x_in, initial_state=s_in)
    return fusednet.Model([x_in, *s_in], outs[:2]), layer


@pytest.mark.parametrize("kind", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("B,T,F,U", [(1, 1, 1, 1), (2, 3, 2, 3), (3, 5, 2, 7)])
def test_initial_state_gradients_plan_vs_finite_differences_and_tape(kind, B, T, F, U):
    rng = np.random.default_rng(B * 100 + T)
    model, layer = _state_model(kind, T, F, U)
    ws = model.get_weights()
    model.set_weights([(rng.standard_normal(w.shape) * 0.5).astype(np.float32) for w in ws])
    ws = model.get_weights()
    xs = [rng.standard_normal((B, T, F)).astype(np.float32)] + \
        [rng.standard_normal((B, U)).astype(np.float32) for _ in model.inputs[1:]]
    gy, gh = rng.standard_normal((B, T, U)), rng.standard_normal((B, U))
    plan = GraphPlan(model._graph_spec(), model.trainable_weights, inputs_need_grad=True)
    outs, ctxs = plan.forward([fusednet._C.asarray(a) for a in xs], True)
    dins, dws = plan.backward(ctxs, [fusednet._C.asarray(gy.astype(np.float32)),
                                     fusednet._C.asarray(gh.astype(np.float32))])
    p64 = [a.astype(np.float64) for a in xs] + [w.astype(np.float64) for w in ws]
    n_in = len(xs)

    def loss():
        x, *st = p64[:n_in]
        y, h, _ = ref_forward(kind, x, *p64[n_in:], *st)
        return (gy * y).sum() + (gh * h).sum()
    num = _fd(loss, p64, TOL["fd_eps"])
    rt, at = TOL["gradcheck"]
    for name, g, n in zip(["dx", "dh0", "dc0"][:n_in] + ["dW", "dR", "db"], list(dins) + list(dws), num):
        g = np.asarray(g, np.float64)
        scale = max(1.0, np.abs(n).max())
        np.testing.assert_allclose(g / scale, n / scale, rtol=rt, atol=at * 10, err_msg=name)
    # tape == plan: the eager call's gradients (one tape node per output) are the plan's
    ts = [fusednet.Tensor(a, requires_grad=True) for a in xs]
    y, h = model(ts)[:2]
    F_ = fusednet.functional
    total = F_.add(F_.sum(F_.mul(y, fusednet.Tensor(gy.astype(np.float32)))),
                   F_.sum(F_.mul(h, fusednet.Tensor(gh.astype(np.float32)))))
    for w in model.trainable_weights:
        w.grad = None
    total.backward()
    for t, d in zip(ts, dins):
        np.testing.assert_allclose(t.grad.numpy(), np.asarray(d), rtol=1e-5, atol=1e-6)
    for w, d in zip(model.trainable_weights, dws):
        np.testing.assert_allclose(w.grad.numpy(), np.asarray(d), rtol=1e-5, atol=1e-6)


def test_encoder_weights_get_gradients_through_the_state():
    rng = np.random.default_rng(5)
    B, T, F, U = 2, 3, 2, 3
    enc_in, dec_in = fusednet.Input((T, F)), fusednet.Input((T, F))
    enc = GRU(U, return_state=True)
    _, h = enc(enc_in)
    y = SimpleRNN(U, return_sequences=True)(dec_in, initial_state=[h])
    model = fusednet.Model([enc_in, dec_in], y)
    model.set_weights([(rng.standard_normal(w.shape) * 0.5).astype(np.float32) for w in model.get_weights()])
    xe, xd = (rng.standard_normal((B, T, F)).astype(np.float32) for _ in range(2))
    gy = rng.standard_normal((B, T, U))
    plan = GraphPlan(model._graph_spec(), model.trainable_weights)
    outs, ctxs = plan.forward([fusednet._C.asarray(xe), fusednet._C.asarray(xd)], True)
    _, dws = plan.backward(ctxs, [fusednet._C.asarray(gy.astype(np.float32))])
    ew = [w.astype(np.float64) for w in enc.get_weights()]
    dl = model.layers[-1]
    dw = [w.astype(np.float64) for w in dl.get_weights()]

    def loss():
        _, h0, _ = ref_forward("gru", xe, *ew)
        yy, _, _ = ref_forward("simple_rnn", xd, *dw, h0)
        return (gy * yy).sum()
    num = _fd(loss, ew, TOL["fd_eps"])
    got = dict(zip([id(w) for w in model.trainable_weights], dws))
    rt, at = TOL["gradcheck"]
    for w, n in zip(enc.trainable_weights, num):
        g = np.asarray(got[id(w)], np.float64)
        assert np.abs(g).max() > 0
        np.testing.assert_allclose(g / max(1.0, np.abs(n).max()), n / max(1.0, np.abs(n).max()),
                                   rtol=rt, atol=at * 10)


@pytest.mark.parametrize("cls", [LSTM, GRU])
@pytest.mark.parametrize("seq", [False, True])
def test_bidirectional_return_state_matches_keras(cls, seq):
    keras = _keras()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 6, 4)).astype(np.float32)
    kb = keras.layers.Bidirectional(getattr(keras.layers, cls.__name__)(5, return_sequences=seq,
                                                                         return_state=True))
    kouts = kb(x)
    fb = Bidirectional(cls(5, return_sequences=seq, return_state=True))
    fouts = fb(x)
    fb.set_weights([np.asarray(w) for w in kb.get_weights()])
    x_in = fusednet.Input((6, 4))
    model = fusednet.Model(x_in, fb(x_in))
    pouts = model.predict(x, verbose=0)
    fouts = fb(x)
    assert len(kouts) == len(fouts) == len(pouts) == 1 + 2 * (2 if cls is LSTM else 1)
    for k, f, p in zip(kouts, fouts, pouts):
        np.testing.assert_allclose(f.numpy(), k.detach().numpy(), *TOL["rnn_keras"])
        np.testing.assert_array_equal(p, f.numpy())
    # initial_state: forward half's states then the backward half's (Keras)
    st = [rng.standard_normal((3, 5)).astype(np.float32) for _ in fouts[1:]]
    k2 = kb(x, initial_state=st)
    f2 = fb(x, initial_state=st)
    for k, f in zip(k2, f2):
        np.testing.assert_allclose(f.numpy(), k.detach().numpy(), *TOL["rnn_keras"])


def test_bidirectional_return_state_trains_compiled():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 6, 3)).astype(np.float32)
    y = (x[:, 0, :1] - x[:, -1, :1]).astype(np.float32)
    fusednet.random.set_random_seed(4)
    x_in = fusednet.Input((6, 3))
    _, fh, fc, bh, bc = Bidirectional(LSTM(8, return_state=True))(x_in)
    out = Dense(1)(fusednet.layers.Concatenate()([fh, bh]))
    model = fusednet.Model(x_in, out)
    model.compile(fusednet.optimizers.Adam(0.02), "mse")
    hist = model.fit(x, y, epochs=8, batch_size=16, verbose=0).history["loss"]
    assert model._get_plan().tape_layers == [] and hist[-1] < 0.5 * hist[0], hist


def test_return_state_model_saves_and_loads(tmp_path):
    rng = np.random.default_rng(4)
    model, _, _ = _seq2seq(fusednet, fusednet.layers, 4, 3, 2, 3)
    xe, xd = rng.standard_normal((2, 5, 3)).astype(np.float32), rng.standard_normal((2, 4, 2)).astype(np.float32)
    want = model.predict([xe, xd], verbose=0)
    path = str(tmp_path / "s2s.fnet")
    model.save(path)
    back = fusednet.models.load_model(path)
    np.testing.assert_array_equal(back.predict([xe, xd], verbose=0), want)


# ---------------------------------------------------------------------------------- stateful
@pytest.mark.parametrize("kind", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("B,T1,T2", [(1, 1, 1), (3, 2, 5), (2, 7, 4)])
def test_stateful_halves_equal_one_full_sequence(kind, B, T1, T2):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((B, T1 + T2, 3)).astype(np.float32)
    full = CLS[kind](5, return_sequences=True)
    yf = full(x).numpy()
    st = CLS[kind](5, return_sequences=True, stateful=True)
    st(x[:, :1])
    st.set_weights(full.get_weights())
    st.reset_states()
    y1 = st(x[:, :T1]).numpy()
    y2 = st(x[:, T1:]).numpy()
    np.testing.assert_array_equal(np.concatenate([y1, y2], 1), yf)
    # in a model (compiled predict, batch size fixed by Input): the same, then reset = fresh
    x_in = fusednet.Input((None, 3), batch_size=B)
    model = fusednet.Model(x_in, st(x_in))
    model.reset_states()
    p1 = model.predict(x[:, :T1], verbose=0)
    p2 = model.predict(x[:, T1:], verbose=0)
    np.testing.assert_array_equal(np.concatenate([p1, p2], 1), yf)
    model.reset_states()
    np.testing.assert_array_equal(model.predict(x[:, :T1], verbose=0), y1)
    assert all(np.asarray(s).shape == (B, 5) for s in st.states)
    st.reset_states()
    assert all(not np.asarray(s).any() for s in st.states)


def test_stateful_step_by_step_generation_equals_full_sequence():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 9, 4)).astype(np.float32)
    model = fusednet.Sequential([fusednet.Input((1, 4), batch_size=2), LSTM(6, stateful=True), Dense(3)])
    full = fusednet.Sequential([fusednet.Input((9, 4)), LSTM(6, return_sequences=True), Dense(3)])
    full.set_weights(model.get_weights())
    want = full.predict(x, verbose=0)
    got = np.stack([model.predict(x[:, t:t + 1], verbose=0) for t in range(9)], 1)
    np.testing.assert_array_equal(got, want)


def test_stateful_batch_size_mismatch_names_layer_and_shapes():
    layer = GRU(3, stateful=True, name="sgru")
    x_in = fusednet.Input((4, 2), batch_size=5)
    model = fusednet.Model(x_in, layer(x_in))
    with pytest.raises(ValueError, match=r"sgru.*expected batch size 5.*\(3, 4, 2\)"):
        model.predict(np.zeros((3, 4, 2), np.float32), verbose=0)
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"sgru.*expected batch size 5.*\(2, 4, 2\)"):
        model.fit(np.zeros((12, 4, 2), np.float32), np.zeros((12, 3), np.float32), batch_size=5,
                  shuffle=False, verbose=0)
    eager = LSTM(2, stateful=True, name="slstm")
    eager(np.zeros((2, 3, 1), np.float32))            # the first call fixes the batch size
    with pytest.raises(ValueError, match=r"slstm.*expected batch size 2.*\(4, 3, 1\)"):
        eager(np.zeros((4, 3, 1), np.float32))
    with pytest.raises(AttributeError, match="stateful"):
        LSTM(2).reset_states()
    with pytest.raises(ValueError, match=r"reset_states.*\(2, 2\)"):
        eager.reset_states([np.zeros((3, 2), np.float32), np.zeros((2, 2), np.float32)])


def test_stateful_states_are_not_weights_and_config_round_trips(tmp_path):
    layer = LSTM(4, stateful=True, batch_input_shape=(2, 3, 5))
    model = fusednet.Sequential([layer, Dense(1)])
    assert len(layer.weights) == 3 and len(model.get_weights()) == 5 and layer.non_trainable_weights == []
    x = np.random.default_rng(0).standard_normal((2, 3, 5)).astype(np.float32)
    model.predict(x, verbose=0)
    cfg = layer.get_config()
    assert cfg["stateful"] and tuple(cfg["batch_input_shape"]) == (2, 3, 5)
    path = str(tmp_path / "st.fnet")
    model.save(path)
    back = fusednet.models.load_model(path)
    assert back.layers[0].stateful and back.layers[0]._expected_batch_size == 2
    model.reset_states()
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("kind", ["simple_rnn", "lstm", "gru"])
def test_stateful_fit_matches_keras_semantics(kind):
    # Keras 3.15's own stateful fit fails on the torch backend (in-place state assignment breaks
    # autograd), so its semantics are replayed with real Keras layers: each batch starts from the
    # final states of the previous batch (computed with the weights of that step), as constants
    keras = _keras()
    rng = np.random.default_rng(9)
    B, T, F, U = 4, 5, 3, 6
    x = rng.standard_normal((3 * B, T, F)).astype(np.float32)
    y = rng.standard_normal((3 * B, 1)).astype(np.float32)
    kl = keras.layers
    kname = CLS[kind].__name__
    ns = 2 if kind == "lstm" else 1
    x_in, s_in = keras.Input((T, F)), [keras.Input((U,)) for _ in range(ns)]
    _, *st = getattr(kl, kname)(U, return_state=True, name="g")(x_in, initial_state=s_in)
    ktrain = keras.Model([x_in, *s_in], kl.Dense(1, name="d")(st[0]))
    kstate = keras.Model([x_in, *s_in], st)
    ktrain.compile(keras.optimizers.SGD(0.1), "mse")
    fm = fusednet.Sequential([fusednet.Input((T, F), batch_size=B), CLS[kind](U, stateful=True, name="g"),
                              Dense(1, name="d")])
    _copy_weights(ktrain, fm, ["g", "d"])
    fm.compile(fusednet.optimizers.SGD(0.1), "mse")
    s = [np.zeros((B, U), np.float32)] * ns
    for _ in range(2):                               # states carried over batches and epochs
        kl_ = []
        for i in range(0, len(x), B):
            nxt = kstate.predict([x[i:i + B], *s], verbose=0)
            nxt = nxt if isinstance(nxt, list) else [nxt]
            kl_.append(float(ktrain.train_on_batch([x[i:i + B], *s], y[i:i + B])))
            s = [np.asarray(v) for v in nxt]
        fh = fm.fit(x, y, batch_size=B, epochs=1, shuffle=False, verbose=0).history["loss"]
        np.testing.assert_allclose(fh[0], np.mean(kl_), *TOL["rnn_keras_fit"])
    for s_f, s_k in zip(fm.get_layer("g").states, s):
        np.testing.assert_allclose(np.asarray(s_f), s_k, *TOL["rnn_keras_fit"])
    for a, b in zip(fm.get_weights(), ktrain.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), *TOL["rnn_keras_fit"])


def test_bidirectional_stateful_matches_keras():
    keras = _keras()
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    kb = keras.layers.Bidirectional(keras.layers.LSTM(3, stateful=True))
    kb.build((2, 4, 3))
    fb = Bidirectional(LSTM(3, stateful=True))
    fb(x)
    fb.set_weights([np.asarray(w) for w in kb.get_weights()])
    fb.reset_states()
    for _ in range(2):                               # the second call starts from carried states
        np.testing.assert_allclose(fb(x).numpy(), kb(x).detach().numpy(), *TOL["rnn_keras"])
    fb.reset_states()
    kb.reset_states()
    np.testing.assert_allclose(fb(x).numpy(), kb(x).detach().numpy(), *TOL["rnn_keras"])


def _histories(cfg):
    """{layer name: [(args histories, initial_state histories) per node]} and the outputs."""
    def h(t):
        return tuple(t["config"]["keras_history"])
    out = {}
    for entry in cfg["layers"]:
        nodes = []
        for n in entry["inbound_nodes"]:
            a = n["args"][0]
            args = [h(t) for t in a] if isinstance(a, list) else [h(a)]
            nodes.append((args, [h(t) for t in (n.get("kwargs") or {}).get("initial_state") or []]))
        out[entry["name"]] = nodes
    return out, cfg["output_layers"]


def test_return_state_config_uses_keras_tensor_indices():
    keras = _keras()
    for k, f in zip(_seq2seq(keras, keras.layers, 4, 3, 2, 3), _seq2seq(fusednet, fusednet.layers, 4, 3, 2, 3)):
        assert _histories(f.get_config()) == _histories(k.get_config())   # e.g. ['enc', 0, 1] = h
        clone = fusednet.Model.from_config(f.get_config())
        clone.set_weights(f.get_weights())
        assert [l.name for l in clone.layers] == [l.name for l in f.layers]


def test_onnx_export_refuses_stateful_layers(tmp_path):
    pytest.importorskip("onnx")
    from fusednet.io.onnx import export_onnx
    x_in = fusednet.Input((5, 3), batch_size=2)
    model = fusednet.Model(x_in, GRU(3, stateful=True, name="sg")(x_in))
    with pytest.raises(ValueError, match="'sg' is stateful"):
        export_onnx(model, str(tmp_path / "s.onnx"))


@pytest.mark.cuda
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_stateful_states_stay_on_the_cuda_device(kind):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 8, 2)).astype(np.float32)
    x_in = fusednet.Input((None, 2), batch_size=3)
    layer = CLS[kind](4, return_sequences=True, stateful=True)
    model = fusednet.Model(x_in, layer(x_in))
    want = np.concatenate([model.predict(x[:, :5], verbose=0), model.predict(x[:, 5:], verbose=0)], 1)
    model.reset_states()
    model.compile("sgd", "mse", device="cuda")
    got = np.concatenate([model.predict(x[:, :5], verbose=0), model.predict(x[:, 5:], verbose=0)], 1)
    assert all(s.device.startswith("cuda") for s in layer.states)
    np.testing.assert_allclose(got, want, *TOL["cuda_vs_cpu"])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("B,T,F,U", [(1, 1, 1, 1), (2, 5, 3, 2)])
def test_bidirectional_initial_state_gradients_plan_vs_finite_differences(kind, B, T, F, U):
    rng = np.random.default_rng(T)
    ns = 2 if kind == "lstm" else 1
    x_in = fusednet.Input((T, F))
    s_in = [fusednet.Input((U,)) for _ in range(2 * ns)]
    bi = Bidirectional(CLS[kind](U, return_sequences=True))
    model = fusednet.Model([x_in, *s_in], bi(x_in, initial_state=s_in))
    model.set_weights([(rng.standard_normal(w.shape) * 0.5).astype(np.float32) for w in model.get_weights()])
    ws = model.get_weights()
    xs = [rng.standard_normal((B, T, F)).astype(np.float32)] + \
        [rng.standard_normal((B, U)).astype(np.float32) for _ in s_in]
    gy = rng.standard_normal((B, T, 2 * U))
    plan = GraphPlan(model._graph_spec(), model.trainable_weights, inputs_need_grad=True)
    _, ctxs = plan.forward([fusednet._C.asarray(a) for a in xs], True)
    dins, dws = plan.backward(ctxs, [fusednet._C.asarray(gy.astype(np.float32))])
    p64 = [a.astype(np.float64) for a in xs] + [w.astype(np.float64) for w in ws]
    nw = len(ws) // 2

    def loss():
        x, st, w = p64[0], p64[1:1 + 2 * ns], p64[1 + 2 * ns:]
        yf, _, _ = ref_forward(kind, x, *w[:nw], *st[:ns])
        yb, _, _ = ref_forward(kind, x, *w[nw:], *st[ns:], go_backwards=True)
        return (gy * np.concatenate([yf, yb[:, ::-1]], -1)).sum()
    num = _fd(loss, p64, TOL["fd_eps"])
    rt, at = TOL["gradcheck"]
    for i, (g, n) in enumerate(zip(list(dins) + list(dws), num)):
        g = np.asarray(g, np.float64)
        scale = max(1.0, np.abs(n).max())
        np.testing.assert_allclose(g / scale, n / scale, rtol=rt, atol=at * 10, err_msg=str(i))
