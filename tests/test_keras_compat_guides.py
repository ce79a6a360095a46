"""Keras-guide compatibility fixes (tools/run_keras_guides.py found them): each API a keras-io
guide uses, checked against real Keras 3 (KERAS_BACKEND=torch) where it is installed and against
a NumPy float64 formula otherwise."""
import contextlib
import io
import os

import numpy as np
import pytest

from tolerances import TOL

import fusednet as fn
from fusednet import layers


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _lines(model, **kw):
    out = []
    model.summary(print_fn=out.append, **kw)
    return out


# ----------------------------------------------------------------------------- regression metrics
@pytest.mark.parametrize("n,d", [(1, 1), (7, 3), (13, 5)])
def test_mape_msle_match_float64_formula_and_keras(n, d):
    rng = np.random.default_rng(n * 10 + d)
    yt = rng.normal(size=(n, d)).astype(np.float32)
    yt[0, 0] = 0.0                              # the epsilon guard: |y_true| -> 0
    yp = rng.normal(size=(n, d)).astype(np.float32)
    t, p = yt.astype(np.float64), yp.astype(np.float64)
    mape = np.mean(100 * np.abs(t - p) / np.maximum(np.abs(t), 1e-7))
    msle = np.mean((np.log(np.maximum(p, 1e-7) + 1) - np.log(np.maximum(t, 1e-7) + 1)) ** 2)
    r, a = TOL["metric"]
    m1, m2 = fn.metrics.MeanAbsolutePercentageError(), fn.metrics.MeanSquaredLogarithmicError()
    m1.update_state(yt, yp)
    m2.update_state(yt, yp)
    np.testing.assert_allclose(m1.result(), mape, rtol=r, atol=a)
    np.testing.assert_allclose(m2.result(), msle, rtol=r, atol=a)
    keras = _keras()
    k1, k2 = keras.metrics.MeanAbsolutePercentageError(), keras.metrics.MeanSquaredLogarithmicError()
    k1.update_state(yt, yp)
    k2.update_state(yt, yp)
    rk, ak = TOL["keras_metric_f32"]
    np.testing.assert_allclose(m1.result(), float(k1.result()), rtol=rk, atol=ak)
    np.testing.assert_allclose(m2.result(), float(k2.result()), rtol=rk, atol=ak)


def test_mape_by_name_and_in_compile():
    assert type(fn.metrics.get("mape")).__name__ == "MeanAbsolutePercentageError"
    assert type(fn.metrics.get("msle")).__name__ == "MeanSquaredLogarithmicError"
    m = fn.Sequential([fn.Input((3,)), layers.Dense(1)])
    m.compile(optimizer="adam", loss="mse", metrics=[fn.metrics.MeanAbsolutePercentageError()])
    x = np.random.default_rng(0).random((8, 3), dtype=np.float32)
    h = m.fit(x, x[:, :1] + 1, epochs=1, verbose=0)
    assert "mean_absolute_percentage_error" in h.history


# ----------------------------------------------------------------------------- regularizers
def test_lowercase_regularizer_aliases_are_the_classes():
    assert fn.regularizers.l2 is fn.regularizers.L2 and fn.regularizers.l1 is fn.regularizers.L1
    assert fn.regularizers.l1_l2 is fn.regularizers.L1L2
    assert fn.regularizers.l2(1e-3).l2 == pytest.approx(1e-3)


# ----------------------------------------------------------------------------- pad_sequences
CASES = [
    dict(), dict(padding="post"), dict(truncating="post", maxlen=2), dict(maxlen=5, value=-1),
    dict(maxlen=1, padding="post", truncating="pre"), dict(dtype="float32", maxlen=3),
]


@pytest.mark.parametrize("kw", CASES)
def test_pad_sequences_matches_keras(kw):
    seqs = [[711, 632, 71], [73, 8, 3215, 55, 927], [83, 91, 1, 645, 1253, 927], [], [7]]
    ours = fn.utils.pad_sequences(seqs, **kw)
    keras = _keras()
    ref = keras.utils.pad_sequences(seqs, **kw)
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    np.testing.assert_array_equal(ours, ref)


def test_pad_sequences_feature_axes_and_errors():
    seqs = [np.ones((2, 3)), np.full((4, 3), 2.0)]
    out = fn.utils.pad_sequences(seqs, dtype="float32", padding="post")
    assert out.shape == (2, 4, 3)
    np.testing.assert_array_equal(out[0, 2:], 0.0)
    np.testing.assert_array_equal(out[1], 2.0)
    with pytest.raises(ValueError, match="pad_sequences.*padding"):
        fn.utils.pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match=r"pad_sequences.*sequences\[1\].*feature shape"):
        fn.utils.pad_sequences([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match=r"pad_sequences.*sequences\[0\]"):
        fn.utils.pad_sequences([5, [1]])


# ----------------------------------------------------------------------------- summary
def test_summary_of_unbuilt_models_lists_layers_like_keras():
    m = fn.Sequential([layers.Embedding(10, 4), layers.Dense(3)])
    out = _lines(m)
    rows = [ln for ln in out if "(Embedding)" in ln or "(Dense)" in ln]
    assert len(rows) == 2 and all("?" in r and "0 (unbuilt)" in r for r in rows)
    assert " Total params: 0 (0 B)" in out
    m.build((None, 7))
    assert any("(Embedding)" in ln and "40" in ln for ln in _lines(m))   # 10*4 once built

    class Sub(fn.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(3)

        def call(self, x):
            return self.d(x)
    assert any("(Dense)" in ln and "0 (unbuilt)" in ln for ln in _lines(Sub()))


def test_summary_show_trainable_column_matches_keras_flags():
    inp = fn.Input((4,))
    frozen = layers.Dense(2)
    frozen.trainable = False
    m = fn.Model(inp, layers.Dense(3)(frozen(inp)))
    out = _lines(m, show_trainable=True)
    assert "Trainable" in out[2]
    flags = [ln.rstrip("│").split()[-1] for ln in out[4:7]]
    assert flags == ["-", "N", "Y"]                 # InputLayer, frozen Dense, Dense
    keras = _keras()
    kin = keras.Input((4,))
    kf = keras.layers.Dense(2)
    kf.trainable = False
    km = keras.Model(kin, keras.layers.Dense(3)(kf(kin)))
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        km.summary(show_trainable=True)
    kflags = [ln.split("│")[-2].strip() for ln in buf.getvalue().splitlines()
              if ln.startswith("│") and "(" in ln]
    assert kflags == flags
    assert "Trainable" not in _lines(m)[2]
    with pytest.raises(ValueError, match="summary.*expand_nested"):
        m.summary(expand_nested=True)


# ----------------------------------------------------------------------------- callable activation
@pytest.mark.parametrize("B,F,U", [(1, 1, 1), (5, 7, 3), (13, 4, 11)])
def test_dense_with_python_activation_forward_and_backward(B, F, U):
    rng = np.random.default_rng(B + F + U)
    x = rng.normal(size=(B, F)).astype(np.float32)
    g = rng.normal(size=(B, U))
    layer = layers.Dense(U, activation=lambda t: t * t + fn.ops.tanh(t))
    y = layer(fn.Tensor(x, requires_grad=True))
    W = layer.kernel.numpy().astype(np.float64)
    b = layer.bias.numpy().astype(np.float64)

    def f(xx):                                   # float64 reference of the whole layer
        z = xx @ W + b
        return z * z + np.tanh(z)
    r, a = TOL["pointwise"]
    np.testing.assert_allclose(y.numpy(), f(x.astype(np.float64)), rtol=r, atol=a)
    xt = fn.Tensor(x, requires_grad=True)
    out = layer(xt)
    fn.ops.sum(out * fn.Tensor(g.astype(np.float32))).backward()
    eps = TOL["fd_eps"]
    fd = np.zeros_like(x, dtype=np.float64)
    x64 = x.astype(np.float64)
    for idx in np.ndindex(*x.shape):            # float64 central differences of sum(g * f(x))
        xp, xm = x64.copy(), x64.copy()
        xp[idx] += eps
        xm[idx] -= eps
        fd[idx] = (np.sum(g * f(xp)) - np.sum(g * f(xm))) / (2 * eps)
    rg, ag = TOL["gradcheck"]
    np.testing.assert_allclose(xt.grad.numpy(), fd, rtol=rg, atol=ag * 10)


def test_registered_python_activation_trains_saves_and_loads(tmp_path):
    @fn.saving.register_keras_serializable(package="guides_test", name="square_act")
    def square_act(x):
        return x ** 2
    inp = fn.Input((4,))
    m = fn.Model(inp, layers.Dense(1, activation=square_act)(inp))
    m.compile(optimizer="rmsprop", loss="mean_squared_error")
    rng = np.random.default_rng(1)
    x, y = rng.random((8, 4), dtype=np.float32), rng.random((8, 1), dtype=np.float32)
    w0 = m.get_weights()[0].copy()
    m.fit(x, y, verbose=0)
    assert not np.allclose(m.get_weights()[0], w0)          # the custom backward moved the kernel
    assert m.layers[1].get_config()["activation"] == "guides_test>square_act"
    m.save(tmp_path / "m.keras")
    r = fn.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(m.predict(x, verbose=0), r.predict(x, verbose=0))
    assert (r.predict(x, verbose=0) >= 0).all()
    with pytest.raises(ValueError, match="activation.*shape"):
        layers.Dense(2, activation=lambda t: fn.ops.sum(t))(fn.Tensor(x))


# ----------------------------------------------------------------------------- layer.losses
def test_layer_losses_include_nested_layers_and_reset_per_call():
    class Act(layers.Layer):
        def call(self, x):
            self.add_loss(0.5 * fn.ops.mean(x))
            return x

    class Outer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.act = Act()
            self.dense = layers.Dense(3, kernel_regularizer=fn.regularizers.l2(1e-3))

        def call(self, x):
            return self.dense(self.act(x))
    o = Outer()
    assert len(o.losses) == 0
    x = np.full((2, 2), 2.0, np.float32)
    o(x)
    assert len(o.losses) == 2
    o(x)
    assert len(o.losses) == 2                    # the latest call's add_loss only
    got = sorted(float(t.numpy()) for t in o.losses)
    W = o.dense.kernel.numpy().astype(np.float64)
    r, a = TOL["reduce"]
    np.testing.assert_allclose(got, sorted([1.0, 1e-3 * np.sum(W * W)]), rtol=r, atol=a)
    inp = fn.Input((2,))
    m = fn.Model(inp, Outer()(inp))
    m(x)
    assert len(m.losses) == 2                    # each loss once, not once per nesting level


# ----------------------------------------------------------------------------- clone_model, plot_model
def test_clone_model_new_weights_same_architecture():
    m = fn.Sequential([fn.Input((4,)), layers.Dense(3, activation="relu"), layers.Dense(2)])
    c = fn.models.clone_model(m)
    assert c is not m and c.built and [w.shape for w in c.get_weights()] == [w.shape for w in m.get_weights()]
    assert not np.array_equal(c.get_weights()[0], m.get_weights()[0])
    c.set_weights(m.get_weights())
    x = np.random.default_rng(0).random((5, 4), dtype=np.float32)
    np.testing.assert_array_equal(c.predict(x, verbose=0), m.predict(x, verbose=0))
    inp = fn.Input((4,))
    f = fn.Model(inp, layers.Dense(2)(inp))
    assert fn.models.clone_model(f).count_params() == f.count_params()
    s = fn.models.clone_model(m, clone_function=lambda l: type(l).from_config(l.get_config()))
    assert len(s.layers) == 2
    with pytest.raises(ValueError, match="clone_model.*clone_function"):
        fn.models.clone_model(f, clone_function=lambda l: l)


def test_plot_model_writes_dot_graph_and_reports_missing_graphviz(tmp_path, monkeypatch):
    a, b = fn.Input((4,), name="a"), fn.Input((3,), name="b")
    shared = layers.Dense(3, activation="relu", name="shared")
    x = layers.concatenate([shared(a), b])
    m = fn.Model([a, b], layers.Dense(2, name="head")(x))
    fn.utils.plot_model(m, tmp_path / "m.dot", show_shapes=True, show_layer_names=True,
                        show_layer_activations=True)
    src = (tmp_path / "m.dot").read_text()
    assert src.startswith("digraph") and src.count("->") == 4
    assert "shared (Dense)" in src and "Output shape: (None, 6)" in src and "Activation: relu" in src
    with pytest.raises(ValueError, match="plot_model.*built"):
        fn.utils.plot_model(fn.Sequential([layers.Dense(2)]), tmp_path / "u.dot")
    import shutil
    import sys
    monkeypatch.setitem(sys.modules, "pydot", None)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delitem(sys.modules, "IPython.core.magics.namespace", raising=False)
    with pytest.raises(ImportError, match="pydot"):
        fn.utils.plot_model(m, tmp_path / "m.png")


# ----------------------------------------------------------------------------- compile() without a loss
@pytest.mark.parametrize("B,F", [(1, 1), (4, 3), (7, 5)])
def test_fit_without_compiled_loss_minimises_add_loss_like_keras(B, F):
    rng = np.random.default_rng(B * F)
    x = rng.normal(size=(B, F)).astype(np.float32)
    W0 = rng.normal(size=(F, 3)).astype(np.float32)

    class ActReg(layers.Layer):
        def call(self, h):
            self.add_loss(0.1 * fn.ops.sum(h * h))
            return h
    inp = fn.Input((F,))
    m = fn.Model(inp, ActReg()(layers.Dense(3)(inp)))
    m.set_weights([W0, np.zeros(3, np.float32)])
    m.compile(optimizer=fn.optimizers.SGD(0.05))
    h = m.fit(x, x, batch_size=B, epochs=1, shuffle=False, verbose=0)
    # float64 reference: loss = 0.1 * sum((x W + b)^2); one SGD step on the whole batch
    z = x.astype(np.float64) @ W0
    dW, db = 0.2 * x.T.astype(np.float64) @ z, 0.2 * z.sum(0)
    r, a = TOL["optimizer"]
    np.testing.assert_allclose(m.get_weights()[0], W0 - 0.05 * dW, rtol=r * 10, atol=a * 10)
    np.testing.assert_allclose(m.get_weights()[1], -0.05 * db, rtol=r * 10, atol=a * 10)
    np.testing.assert_allclose(h.history["loss"][0], 0.1 * np.sum(z * z), rtol=TOL["loss"][0] * 10)
    keras = _keras()

    class KActReg(keras.layers.Layer):
        def call(self, h):
            self.add_loss(0.1 * keras.ops.sum(h * h))
            return h
    kin = keras.Input((F,))
    km = keras.Model(kin, KActReg()(keras.layers.Dense(3)(kin)))
    km.set_weights([W0, np.zeros(3, np.float32)])
    km.compile(optimizer=keras.optimizers.SGD(0.05))
    km.fit(x, x, batch_size=B, epochs=1, shuffle=False, verbose=0)
    rk, ak = TOL["keras_metric_f32"]
    np.testing.assert_allclose(m.get_weights()[0], km.get_weights()[0], rtol=rk * 10, atol=ak * 10)


def test_fit_without_any_loss_still_raises():
    m = fn.Sequential([fn.Input((3,)), layers.Dense(2)])
    m.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="fit.*without a loss"):
        m.fit(np.zeros((2, 3), np.float32), np.zeros((2, 2), np.float32), verbose=0)

    class NoLoss(layers.Layer):                    # user layer that adds nothing: fails at step 1
        def call(self, h):
            return h
    inp = fn.Input((3,))
    m = fn.Model(inp, NoLoss()(layers.Dense(2)(inp)))
    m.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="fit.*add_loss"):
        m.fit(np.zeros((2, 3), np.float32), np.zeros((2, 2), np.float32), verbose=0)


def test_fit_without_loss_needs_no_targets():
    class ActReg(layers.Layer):
        def call(self, h):
            self.add_loss(fn.ops.mean(h * h))
            return h
    inp = fn.Input((3,))
    m = fn.Model(inp, ActReg()(layers.Dense(2)(inp)))
    m.compile(optimizer="sgd")
    x = np.random.default_rng(3).random((6, 3), dtype=np.float32)
    h = m.fit(x, epochs=2, verbose=0)             # no y: the add_loss terms are the whole loss
    assert h.history["loss"][1] < h.history["loss"][0]
    m2 = fn.Sequential([fn.Input((3,)), layers.Dense(2)])
    m2.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="fit: y is required"):
        m2.fit(x, verbose=0)
