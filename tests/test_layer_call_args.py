"""Keras 3 call conventions for user layers (layers/base.py ``Layer.__call__``): positional
arguments after ``inputs`` bind to ``call``'s parameters (several tensors become several inputs of
one node, ``build`` gets one shape per argument when it takes them), and the output shape of a
user layer without ``compute_output_shape`` is found by running ``call`` (Keras'
``compute_output_spec``); compared with real Keras 3 (torch backend) where installed."""
import os

import numpy as np
import pytest

import fusednet
from fusednet import layers as L, ops
from tolerances import TOL


class Lin(L.Layer):
    def __init__(self, units, **kw):
        super().__init__(**kw)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight((input_shape[-1], self.units), name="w")

    def call(self, x):
        return ops.matmul(x, self.w)


class Gate(L.Layer):
    """call(self, a, b, scale=1.0): two tensors and a constant."""

    def build(self, a_shape, b_shape):
        self.w = self.add_weight((a_shape[-1],), "ones", name="w")
        self.shapes = (tuple(a_shape), tuple(b_shape))

    def call(self, a, b, scale=1.0):
        return a * ops.sigmoid(b) * self.w * scale


class SeqPool(L.Layer):
    def call(self, x):
        return ops.mean(x, axis=1)


def test_user_layer_output_shapes_are_inferred():
    i = L.Input((5,))
    assert Lin(3)(i).shape == (None, 3)
    s = L.Input((None, 4))
    assert SeqPool()(s).shape == (None, 4)         # an unknown time axis reduced away
    assert Lin(2)(s).shape == (None, None, 2)      # and kept where it stays


def test_two_positional_tensors_make_one_two_input_node_that_trains():
    a, b = L.Input((5,)), L.Input((5,))
    g = Gate()
    out = L.Dense(2)(g(a, b))
    assert g.shapes == ((None, 5), (None, 5))
    m = fusednet.Model([a, b], out)
    m.compile(optimizer=fusednet.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((8, 5)).astype(np.float32), rng.standard_normal((8, 5)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    w0 = g.w.numpy().copy()
    m.fit([xa, xb], y, batch_size=8, epochs=1, verbose=0)
    assert np.abs(g.w.numpy() - w0).max() > 0            # its weight got a gradient
    # the same maths eagerly, with the constant bound positionally and by name
    want = xa / (1 + np.exp(-xb)) * g.w.numpy() * 2.0
    rtol, atol = TOL["pointwise"]
    np.testing.assert_allclose(g(xa, xb, 2.0).numpy(), want, rtol=rtol, atol=atol)
    np.testing.assert_allclose(g(xa, xb, scale=2.0).numpy(), want, rtol=rtol, atol=atol)


def test_positional_training_flag_and_errors():
    x = np.ones((4, 6), np.float32)
    fusednet.random.set_random_seed(0)
    d = L.Dropout(0.5)
    assert (d(x, True).numpy() == 0).any()               # layer(x, True): training=True
    np.testing.assert_array_equal(d(x, False).numpy(), x)
    with pytest.raises(TypeError, match="positional"):
        Lin(2)(x, True, 3)
    with pytest.raises(TypeError, match="multiple values for 'scale'"):
        Gate()(x, x, 2.0, scale=3.0)


def test_against_keras_two_input_layer():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("real Keras is loaded with a non-torch backend")

    class KGate(keras.layers.Layer):
        def build(self, a_shape, b_shape):
            self.w = self.add_weight(shape=(a_shape[-1],), initializer="ones", name="w")

        def call(self, a, b, scale=1.0):
            return a * keras.ops.sigmoid(b) * self.w * scale

    def build(ns, gate):
        a, b = ns.layers.Input((5,)), ns.layers.Input((5,))
        h = gate()(a, b, scale=0.5)
        return ns.Model([a, b], ns.layers.Dense(3)(h))
    km, fm = build(keras, KGate), build(fusednet, Gate)
    assert fm.output_shape == tuple(km.output_shape)
    fm.set_weights([np.asarray(w) for w in km.get_weights()])
    rng = np.random.default_rng(1)
    xa, xb = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((4, 5)).astype(np.float32)
    rtol, atol = TOL["mask_keras"]
    np.testing.assert_allclose(fm.predict([xa, xb], verbose=0), km.predict([xa, xb], verbose=0),
                               rtol=rtol, atol=atol)


@fusednet.saving.register_keras_serializable(package="test_call_args")
class SavedGate(Gate):
    pass


def test_positional_inputs_and_constants_survive_save_and_load(tmp_path):
    a, b = L.Input((5,)), L.Input((5,))
    m = fusednet.Model([a, b], L.Dense(2)(SavedGate()(a, b, scale=0.25)))
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((3, 5)).astype(np.float32) for _ in range(2)]
    p = tmp_path / "gate.keras"
    m.save(p)
    m2 = fusednet.models.load_model(p)
    np.testing.assert_array_equal(m2.predict(xs, verbose=0), m.predict(xs, verbose=0))
    m3 = fusednet.Model([a, b], L.Dense(2)(SavedGate()(a, b)))       # default scale: different
    m3.set_weights(m.get_weights())
    assert np.abs(m3.predict(xs, verbose=0) - m.predict(xs, verbose=0)).max() > 1e-3
