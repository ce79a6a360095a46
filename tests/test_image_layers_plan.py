"""The new image / activation / core layers on the compiled plan: tape and plan bitwise equal after
3 SGD steps (fusion on and off), a Sequential using all of them fits, and whole-model save / load
round-trips configs, weights and predictions exactly."""
import contextlib

import numpy as np
import pytest

import fusednet as fn
from fusednet import layers as L
from fusednet.tensor import Tensor
from fusednet.trainers import fusion
from tolerances import TOL


def _block(kind):
    """(input shape, f(KerasTensor) -> KerasTensor) exercising one new layer type."""
    table = {
        "conv_transpose": ((4, 5, 3), lambda t: L.Conv2DTranspose(4, 3, strides=2, padding="same",
                                                                   activation="relu")(t)),
        "conv_transpose_gelu": ((3, 3, 2), lambda t: L.Conv2DTranspose(2, 2, strides=2, activation="gelu")(t)),
        "conv1d_transpose": ((5, 3), lambda t: L.Conv1DTranspose(4, 3, strides=2, padding="same",
                                                                 activation="sigmoid")(t)),
        "conv1d": ((9, 3), lambda t: L.MaxPooling1D()(L.Conv1D(4, 3, padding="causal", activation="tanh")(t))),
        "pool1d": ((8, 2), lambda t: L.add([L.GlobalAveragePooling1D()(L.AveragePooling1D(2, 1)(t)),
                                            L.GlobalMaxPooling1D()(t)])),
        "separable": ((6, 6, 3), lambda t: L.SeparableConv2D(4, 3, depth_multiplier=2, activation="relu")(t)),
        "upsampling": ((3, 3, 2), lambda t: L.UpSampling2D((2, 1), interpolation="bilinear")(L.UpSampling2D()(t))),
        "upsampling1d": ((4, 2), lambda t: L.UpSampling1D(3)(t)),
        "relu_family": ((7,), lambda t: L.ELU()(L.LeakyReLU()(L.ReLU(1.5, 0.1, 0.2)(L.Dense(6)(t))))),
        "prelu": ((4, 4, 3), lambda t: L.PReLU(shared_axes=[1, 2], alpha_initializer="ones")(L.Conv2D(3, 2)(t))),
        "softmax_axis": ((3, 4), lambda t: L.Softmax(axis=1)(t)),
        "core_extra": ((5,), lambda t: L.Permute((2, 1))(L.RepeatVector(3)(L.Identity()(L.Rescaling(0.5, 1.0)(
            L.Dense(4)(t)))))),
        "spatial_dropout": ((4, 4, 3), lambda t: L.SpatialDropout2D(0.3)(L.Conv2D(4, 2)(t))),
        "normalization": ((4,), lambda t: L.Dense(3)(L.Normalization(mean=[1.0, 0.0, 2.0, -1.0],
                                                                     variance=[4.0, 1.0, 0.5, 2.0])(t))),
        "pad_crop1d": ((6, 2), lambda t: L.Cropping1D((2, 1))(L.ZeroPadding1D((1, 3))(L.Conv1D(3, 2)(t)))),
        "noise": ((6,), lambda t: L.GaussianDropout(0.3)(L.GaussianNoise(0.2)(L.Dense(5)(t)))),
        "color": ((5, 5, 3), lambda t: L.Conv2D(2, 2)(L.RandomBrightness(0.1, value_range=(-3, 3))(
            L.RandomContrast(0.2, value_range=(-3, 3))(t)))),
    }
    return table[kind]


KINDS = ["conv_transpose", "conv_transpose_gelu", "conv1d_transpose", "conv1d", "pool1d", "separable", "upsampling", "upsampling1d",
         "relu_family", "prelu", "softmax_axis", "core_extra", "spatial_dropout", "normalization", "pad_crop1d", "noise", "color"]


@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_tape_and_plan_bitwise_after_3_steps(kind, fuse):
    fn.clear_session()
    shape, f = _block(kind)
    x = fn.Input(shape)
    y = f(x)
    if len(y.shape) > 2:
        y = L.Flatten()(y)
    m = fn.Model(x, L.Dense(3, name="head")(y))
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
        with (fusion.disabled() if not fuse else contextlib.nullcontext()):
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
    assert not all(np.array_equal(u, v) for u, v in zip(a, w0))
    for wa, wb in zip(a, b):
        assert np.array_equal(wa, wb)


def _model():
    fn.clear_session()
    fn.random.seed(0)
    return fn.Sequential([
        L.Input((8, 8, 3)),
        L.Rescaling(1 / 255.0),
        L.RandomContrast(0.1, value_range=(0, 1), seed=1),
        L.RandomBrightness(0.05, value_range=(0, 1), seed=2),
        L.SeparableConv2D(8, 3, padding="same", activation="relu"),
        L.PReLU(shared_axes=[1, 2]),
        L.Conv2D(8, 3, strides=2, padding="same"),
        L.LeakyReLU(),
        L.Conv2DTranspose(6, 3, strides=2, padding="same"),
        L.ReLU(max_value=6.0),
        L.UpSampling2D(interpolation="bilinear"),
        L.SpatialDropout2D(0.1, seed=3),
        L.Reshape((256, 6)),
        L.Conv1D(4, 5, strides=4, padding="causal", activation="elu"),
        L.MaxPooling1D(2),
        L.Conv1DTranspose(4, 2, strides=2),
        L.GlobalAveragePooling1D(),
        L.Dense(3),
        L.Softmax(),
    ])


def test_sequential_with_every_new_layer_trains_and_round_trips(rng, tmp_path):
    model = _model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = (rng.random((48, 8, 8, 3)) * 255).astype(np.float32)
    y = (x[..., 0].mean((1, 2)) > 127.5).astype(np.int64) + (x[..., 1].mean((1, 2)) > 127.5).astype(np.int64)
    hist = model.fit(x, y, epochs=6, batch_size=8, verbose=0)
    loss = hist.history["loss"]
    assert not model._get_plan().tape_layers
    assert np.all(np.isfinite(loss)) and loss[-1] < loss[0], loss
    p = model.predict(x[:8], verbose=0)
    from fusednet import io
    path = str(tmp_path / "img.fnet")
    io.save_model(model, path)
    loaded = io.load_model(path)
    assert [type(la).__name__ for la in loaded.layers] == [type(la).__name__ for la in model.layers]
    for a, b in zip(model.layers, loaded.layers):
        assert a.get_config() == b.get_config(), type(a).__name__
    rtol, atol = TOL["exact"]
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    np.testing.assert_allclose(loaded.predict(x[:8], verbose=0), p, rtol=rtol, atol=atol)
