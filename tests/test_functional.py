"""Functional graphs on the compiled plan: multiple inputs/outputs (lists, dicts), shared layers,
nested and frozen sub-models, subclassed models, against PyTorch re-implementations with the
same initial weights; tape and plan bit for bit per layer type; Keras-style errors and hooks."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import layers
from fusednet.tensor import Tensor
from fusednet.trainers import fusion
from conftest import requires_torch
from tolerances import TOL


def _two_io():
    fn.clear_session()
    a, b = fn.Input((8,), name="a"), fn.Input((5,), name="b")
    h = layers.Dense(16, activation="relu", name="h")(a)
    c = layers.concatenate([h, b])
    cls = layers.Dense(3, activation="softmax", name="cls")(c)
    reg = layers.Dense(1, name="reg")(c)
    return fn.Model([a, b], [cls, reg])


def _two_io_data(n, seed=0):
    r = np.random.default_rng(seed)
    xa, xb = r.standard_normal((n, 8)).astype(np.float32), r.standard_normal((n, 5)).astype(np.float32)
    yc = r.integers(0, 3, n)
    yr = r.standard_normal((n, 1)).astype(np.float32)
    return xa, xb, yc, yr


def _linear(torch, dense):
    k, b = dense.get_weights()
    lin = torch.nn.Linear(k.shape[0], k.shape[1])
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(k.T.copy()))
        lin.bias.copy_(torch.from_numpy(b))
    return lin


@requires_torch
def test_two_inputs_two_outputs_match_torch():
    import torch
    m = _two_io()
    m.compile(fn.optimizers.SGD(0.1), loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
              loss_weights={"cls": 1.0, "reg": 0.5})
    th, tc, tr = (_linear(torch, m.get_layer(n)) for n in ("h", "cls", "reg"))
    opt = torch.optim.SGD([*th.parameters(), *tc.parameters(), *tr.parameters()], lr=0.1)
    xa, xb, yc, yr = _two_io_data(320)
    for s in range(20):
        sl = slice(16 * s, 16 * (s + 1))
        ours = m.train_on_batch({"a": xa[sl], "b": xb[sl]}, [yc[sl], yr[sl]])
        opt.zero_grad()
        c = torch.cat([torch.relu(th(torch.from_numpy(xa[sl]))), torch.from_numpy(xb[sl])], 1)
        loss = torch.nn.functional.cross_entropy(tc(c), torch.from_numpy(yc[sl])) + \
            0.5 * torch.nn.functional.mse_loss(tr(c), torch.from_numpy(yr[sl]))
        loss.backward()
        opt.step()
        assert ours == pytest.approx(loss.item(), rel=1e-5), s
    np.testing.assert_allclose(m.get_layer("h").get_weights()[0], th.weight.detach().numpy().T, *TOL["torch"])


@requires_torch
def test_shared_layer_twice_matches_torch():
    import torch
    fn.clear_session()
    x = fn.Input((6,))
    d = layers.Dense(6, activation="tanh", name="shared")
    out = layers.Dense(2, activation="softmax", name="out")(d(d(x)))
    m = fn.Model(x, out)
    # SGD: Keras' Adam puts epsilon outside the bias correction, PyTorch's inside, which alone
    # moves losses by ~1e-5 within a few steps; the graph is what is under test here
    m.compile(fn.optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
    assert len(m.trainable_weights) == 4
    td, to = _linear(torch, d), _linear(torch, m.get_layer("out"))
    opt = torch.optim.SGD([*td.parameters(), *to.parameters()], lr=0.1, momentum=0.9)
    r = np.random.default_rng(1)
    X, Y = r.standard_normal((320, 6)).astype(np.float32), r.integers(0, 2, 320)
    for s in range(20):
        sl = slice(16 * s, 16 * (s + 1))
        ours = m.train_on_batch(X[sl], Y[sl])
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(to(torch.tanh(td(torch.tanh(td(torch.from_numpy(X[sl])))))),
                                                 torch.from_numpy(Y[sl]))
        loss.backward()
        opt.step()
        assert ours == pytest.approx(loss.item(), rel=1e-5), s


def test_multi_io_fit_evaluate_predict_structures():
    m = _two_io()
    m.compile("adam", loss=["sparse_categorical_crossentropy", "mse"], metrics={"cls": ["accuracy"]})
    xa, xb, yc, yr = _two_io_data(96)
    h = m.fit([xa, xb], {"cls": yc, "reg": yr}, epochs=3, batch_size=32, verbose=0,
              validation_data=([xa, xb], [yc, yr]))
    assert set(h.history) == {"loss", "cls_loss", "reg_loss", "cls_accuracy",
                              "val_loss", "val_cls_loss", "val_reg_loss", "val_cls_accuracy"}
    for k in ("loss", "cls_loss", "reg_loss"):
        assert h.history[k][-1] < h.history[k][0]
    np.testing.assert_allclose(h.history["loss"], np.add(h.history["cls_loss"], h.history["reg_loss"]),
                               rtol=1e-5)
    res = m.evaluate({"a": xa, "b": xb}, [yc, yr], verbose=0, return_dict=True)
    assert res["loss"] == pytest.approx(res["cls_loss"] + res["reg_loss"], rel=1e-5)
    assert m.metrics_names == ["loss", "cls_loss", "reg_loss", "cls_accuracy"]
    p = m.predict([xa, xb], verbose=0)
    assert isinstance(p, list) and p[0].shape == (96, 3) and p[1].shape == (96, 1)
    np.testing.assert_allclose(p[0].sum(1), 1.0, rtol=1e-5)
    # the same outputs through the Tensor path (__call__)
    t = m([xa, xb])
    np.testing.assert_allclose(np.asarray(t[0].data), p[0], *TOL["pointwise"])
    assert [i.shape for i in m.inputs] == [(None, 8), (None, 5)] and m.output_names == ["cls", "reg"]


def test_dict_outputs_and_untrained_output():
    fn.clear_session()
    x = fn.Input((4,), name="x")
    h = layers.Dense(8, activation="relu")(x)
    m = fn.Model({"x": x}, {"main": layers.Dense(1)(h), "aux": layers.Dense(2)(h)})
    m.compile("sgd", loss={"main": "mse"})             # 'aux' has no loss: not trained
    r = np.random.default_rng(0)
    X, Y = r.standard_normal((40, 4)).astype(np.float32), r.standard_normal((40, 1)).astype(np.float32)
    aux_w = m.layers[-1].get_weights()[0].copy()
    h = m.fit({"x": X}, {"main": Y}, epochs=2, verbose=0)
    assert set(h.history) == {"loss", "main_loss"}
    np.testing.assert_array_equal(m.layers[-1].get_weights()[0], aux_w)
    p = m.predict({"x": X}, verbose=0)
    assert set(p) == {"main", "aux"} and p["aux"].shape == (40, 2)


def test_nested_and_frozen_submodel():
    fn.clear_session()
    i = fn.Input((5,))
    inner = fn.Model(i, layers.Dense(4, activation="relu")(layers.Dense(6, activation="tanh")(i)), name="inner")
    x = fn.Input((5,))
    m = fn.Model(x, layers.Dense(2, activation="softmax")(inner(x)))
    m.compile("adam", "sparse_categorical_crossentropy")
    assert not m._get_plan().tape_layers
    r = np.random.default_rng(2)
    X, Y = r.standard_normal((64, 5)).astype(np.float32), r.integers(0, 2, 64)
    w0 = [w.copy() for w in inner.get_weights()]
    m.fit(X, Y, epochs=2, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(w0, inner.get_weights()))
    inner.trainable = False
    m.compile("adam", "sparse_categorical_crossentropy")
    w1 = [w.copy() for w in inner.get_weights()]
    head = m.layers[-1].get_weights()[0].copy()
    m.fit(X, Y, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(w1, inner.get_weights()))
    assert not np.array_equal(head, m.layers[-1].get_weights()[0])


def test_subclassed_model_tracks_layers_and_trains():
    class MLP(fn.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(16, activation="relu")
            self.out = layers.Dense(3, activation="softmax")

        def call(self, x, training=None):
            return self.out(self.hidden(x))

    m = MLP()
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    r = np.random.default_rng(4)
    X, Y = r.standard_normal((128, 7)).astype(np.float32), r.integers(0, 3, 128)
    h = m.fit(X, Y, epochs=8, batch_size=32, verbose=0)
    assert len(m.layers) == 2 and len(m.trainable_weights) == 4
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert m.predict(X, verbose=0).shape == (128, 3)


def test_residual_cnn_on_plan():
    fn.clear_session()
    x = fn.Input((28, 28, 1))
    h = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    for _ in range(3):
        y = layers.Conv2D(8, 3, padding="same", use_bias=False)(h)
        y = layers.BatchNormalization()(y)
        y = layers.Activation("relu")(y)
        h = layers.Activation("relu")(layers.add([h, y]))
    out = layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling2D()(h))
    m = fn.Model(x, out)
    m.compile("adam", "sparse_categorical_crossentropy")
    assert not m._get_plan().tape_layers
    r = np.random.default_rng(5)
    X, Y = r.random((64, 28, 28, 1), dtype=np.float32), r.integers(0, 10, 64)
    h = m.fit(X, Y, epochs=4, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


# ------------------------------------------------------------------ tape == plan, bit for bit
def _block(kind):
    """(input shape, f(KerasTensor) -> KerasTensor) exercising one layer type."""
    L = layers
    table = {
        "dense": ((7,), lambda t: L.Dense(5, activation="relu")(t)),
        "dense_softmax": ((7,), lambda t: L.Dense(4, activation="softmax")(t)),
        "conv_pool": ((9, 9, 3), lambda t: L.MaxPooling2D()(L.Conv2D(4, 3, activation="relu")(t))),
        "conv_s2_same": ((9, 9, 3), lambda t: L.Conv2D(4, 3, strides=2, padding="same", activation="tanh")(t)),
        "depthwise": ((8, 8, 3), lambda t: L.DepthwiseConv2D(3, depth_multiplier=2)(t)),
        "batchnorm": ((5, 5, 3), lambda t: L.BatchNormalization()(t)),
        "layernorm": ((6,), lambda t: L.LayerNormalization()(t)),
        "avgpool": ((8, 8, 2), lambda t: L.AveragePooling2D()(t)),
        "global_pools": ((5, 5, 3), lambda t: L.add([L.GlobalAveragePooling2D()(t), L.GlobalMaxPooling2D()(t)])),
        "flatten_reshape": ((4, 3, 2), lambda t: L.Reshape((6, 4))(L.Flatten()(t))),
        "dropout": ((11,), lambda t: L.Dropout(0.3)(L.Dense(6)(t))),
        "activation": ((7,), lambda t: L.Activation("gelu")(t)),
        "pad_crop": ((6, 6, 2), lambda t: L.Cropping2D(((1, 0), (2, 1)))(L.ZeroPadding2D(1)(t))),
        "merges": ((6,), lambda t: L.concatenate([L.add([t, L.Dense(6)(t)]), L.multiply([t, t]),
                                                 L.subtract([t, L.Dense(6)(t)]), L.maximum([t, L.Dense(6)(t)])])),
        "random_flip": ((6, 6, 1), lambda t: L.RandomFlip()(t)),
    }
    return table[kind]


@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.parametrize("kind", ["dense", "dense_softmax", "conv_pool", "conv_s2_same", "depthwise", "batchnorm",
                                  "layernorm", "avgpool", "global_pools", "flatten_reshape", "dropout",
                                  "activation", "pad_crop", "merges", "random_flip"])
def test_tape_and_plan_bitwise_after_3_steps(kind, fuse):
    fn.clear_session()
    shape, f = _block(kind)
    x = fn.Input(shape)
    y = f(x)
    if len(y.shape) > 2:
        y = layers.Flatten()(y)
    m = fn.Model(x, layers.Dense(3, name="head")(y))
    r = np.random.default_rng(6)
    X = r.standard_normal((5,) + shape).astype(np.float32)
    DY = [r.standard_normal((5, 3)).astype(np.float32) for _ in range(3)]
    w0 = m.get_weights()

    def run(use_tape):
        m.set_weights(w0)
        opt = fn.optimizers.SGD(0.05)
        ws = m.trainable_weights
        params = [w.data for w in ws]
        opt._check_match(params)
        with (fusion.disabled() if not fuse else _null()):
            plan = fn.trainers.plan.GraphPlan(m._graph_spec(), ws)
        assert not plan.tape_layers
        for s in range(3):
            fn.random.set_random_seed(100 + s)
            if use_tape:
                for w in ws:
                    w.grad = None
                out = m(Tensor._wrap(fn.asarray(X)), training=True)
                out.backward(fn.tensor(DY[s]))
                grads = [w.grad.data for w in ws]
            else:
                outs, ctxs = plan.forward([fn.asarray(X)], True)
                _, grads = plan.backward(ctxs, [fn.asarray(DY[s])])
            opt._apply_arrays(params, grads)
        return m.get_weights()

    a, b = run(False), run(True)
    for wa, wb in zip(a, b):
        assert np.array_equal(wa, wb)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


# ------------------------------------------------------------------ errors and hooks
def test_multi_io_errors():
    m = _two_io()
    m.compile("adam", loss=["sparse_categorical_crossentropy", "mse"])
    xa, xb, yc, yr = _two_io_data(10)
    with pytest.raises(ValueError, match="2 inputs"):
        m.fit(xa, [yc, yr], verbose=0)
    with pytest.raises(ValueError, match="missing key"):
        m.fit({"a": xa}, [yc, yr], verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        m.fit([xa, xb[:5]], [yc, yr], verbose=0)
    with pytest.raises(ValueError, match="incompatible"):
        m.predict([xa, xa], verbose=0)
    with pytest.raises(ValueError, match="not outputs"):
        m.compile("adam", loss={"nope": "mse"})
    with pytest.raises(ValueError, match="3 entries"):
        m.compile("adam", loss=["mse"] * 3)
    with pytest.raises(ValueError, match="disconnected"):
        fn.Model(fn.Input((3,)), layers.Dense(2)(fn.Input((3,))))


def test_callback_hooks_in_validation_and_predict():
    calls = []

    class Rec(fn.callbacks.Callback):
        def on_test_begin(self, logs=None):
            calls.append("test_begin")

        def on_test_end(self, logs=None):
            calls.append("test_end")

        def on_predict_begin(self, logs=None):
            calls.append("predict_begin")

        def on_predict_batch_end(self, batch, logs=None):
            calls.append("predict_batch")

        def on_predict_end(self, logs=None):
            calls.append("predict_end")

    fn.clear_session()
    x = fn.Input((3,))
    m = fn.Model(x, layers.Dense(1)(x))
    m.compile("sgd", "mse")
    X, Y = np.ones((8, 3), np.float32), np.ones((8, 1), np.float32)
    m.fit(X, Y, epochs=2, verbose=0, validation_data=(X, Y), callbacks=[Rec()])
    assert calls == ["test_begin", "test_end"] * 2
    calls.clear()
    m.predict(X, batch_size=4, callbacks=[Rec()], verbose=0)
    assert calls == ["predict_begin", "predict_batch", "predict_batch", "predict_end"]


def test_feature_extractor_from_layer_output():
    fn.clear_session()
    x = fn.Input((8, 8, 1))
    c = layers.Conv2D(4, 3, activation="relu", name="c1")(x)
    p = layers.MaxPooling2D(name="p1")(c)
    m = fn.Model(x, layers.Dense(2)(layers.Flatten()(p)))
    assert m.get_layer("c1").input is x and m.get_layer("c1").output is c
    feat = fn.Model(inputs=m.inputs, outputs=[m.get_layer("c1").output, m.get_layer("p1").output])
    X = np.random.default_rng(7).random((3, 8, 8, 1), dtype=np.float32)
    a, b = feat.predict(X, verbose=0)
    assert a.shape == (3, 6, 6, 4) and b.shape == (3, 3, 3, 4)
    np.testing.assert_allclose(a, m.intermediate(X, "c1"), *TOL["pointwise"])
    assert m.output.shape == (None, 2) and m.input is x
    with pytest.raises(AttributeError, match="never been called"):
        layers.Dense(3).output


def test_gradient_tape_custom_loop_matches_fit():
    def build():
        fn.clear_session()
        fn.random.set_random_seed(11)
        x = fn.Input((6,))
        m = fn.Model(x, layers.Dense(3)(layers.Dense(8, activation="relu")(x)))
        return m
    r = np.random.default_rng(8)
    X, Y = r.standard_normal((64, 6)).astype(np.float32), r.standard_normal((64, 3)).astype(np.float32)
    a = build()
    a.compile(fn.optimizers.SGD(0.05), loss="mse")
    a.fit(X, Y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    b = build()
    opt = fn.optimizers.SGD(0.05)
    loss_fn = fn.losses.MeanSquaredError()
    for s in range(4):
        xb, yb = X[16 * s:16 * (s + 1)], Y[16 * s:16 * (s + 1)]
        with fn.GradientTape() as tape:
            loss = loss_fn(yb, b(xb, training=True))
        grads = tape.gradient(loss, b.trainable_weights)
        assert all(g is not None for g in grads)
        opt.apply_gradients(zip(grads, b.trainable_weights))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, *TOL["loss"])
    # watched inputs, dict sources, and the one-call rule
    x = fn.tensor(np.ones((2, 6), np.float32))
    with fn.GradientTape() as tape:
        tape.watch(x)
        y = (b(x) * b(x)).sum()
    g = tape.gradient(y, {"x": x})
    assert g["x"].shape == (2, 6)
    with pytest.raises(RuntimeError, match="only be called once"):
        tape.gradient(y, x)
