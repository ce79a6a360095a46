"""Layer.add_loss (Keras): losses added inside call() join the training loss on the compiled
plan, and call() methods without a ``training`` argument are called without one."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import layers, ops
from tolerances import TOL


class ActivityReg(layers.Layer):
    def __init__(self, rate, **kw):
        super().__init__(**kw)
        self.rate = rate

    def call(self, x):                     # no ``training`` argument (Keras allows it)
        self.add_loss(self.rate * ops.sum(ops.square(x)))
        return x


def _data(n=12):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 5)).astype(np.float32), rng.normal(size=(n, 2)).astype(np.float32)


def _model():
    fn.random.seed(3)
    inp = fn.Input((5,))
    h = ActivityReg(0.01, name="reg")(layers.Dense(4, activation="tanh", name="d1")(inp))
    return fn.Model(inp, layers.Dense(2, name="d2")(h))


def test_fit_adds_the_call_losses_to_the_loss_and_gradient():
    x, y = _data()
    m = _model()
    m.compile(fn.optimizers.SGD(0.1), "mse")
    ref = _model()
    ref.set_weights(m.get_weights())
    logs = m.train_on_batch(x, y, return_dict=True)
    # the same step by hand on the tape
    with fn.GradientTape() as tape:
        pred = ref(x, training=True)
        mse = ops.mean(ops.square(pred - y))
        total = mse + sum(ref.losses)
    grads = tape.gradient(total, ref.trainable_weights)
    rtol, atol = TOL["torch"]
    np.testing.assert_allclose(logs["loss"], float(total), rtol=rtol, atol=atol)
    for w, w0, g in zip(m.get_weights(), ref.get_weights(), grads):
        np.testing.assert_allclose(w, w0 - 0.1 * g.numpy(), rtol=rtol, atol=atol)
    assert len(ref.losses) == 1 and float(ref.losses[0]) > 0


def test_call_losses_are_the_latest_calls_only():
    layer = ActivityReg(1.0)
    layer(np.ones((2, 3), np.float32))
    layer(np.ones((1, 3), np.float32))
    assert len(layer.losses) == 1 and float(layer.losses[0]) == 3.0
    with pytest.raises(ValueError, match="add_loss.*scalar"):
        layer.add_loss(ops.ones((2,)))


class VAEish(fn.Model):
    """A subclassed model adding a penalty from its own call (the Keras VAE pattern)."""

    def __init__(self):
        super().__init__()
        self.enc = layers.Dense(3)
        self.dec = layers.Dense(5)

    def call(self, x):
        z = self.enc(x)
        self.add_loss(0.5 * ops.mean(ops.square(z)))
        return self.dec(z)


def test_subclassed_model_add_loss_trains():
    x, _ = _data(40)
    fn.random.seed(1)
    m = VAEish()
    m.compile(fn.optimizers.Adam(0.01), "mse")
    h = m.fit(x, x, epochs=5, batch_size=8, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    m(x)
    assert len(m.losses) == 1


def test_add_loss_of_a_step_without_gradients_counts():
    """A weightless layer on a model input needs no backward, but its add_loss() value is part of
    the loss (Keras's guide: ActivityRegularizationLayer right after Input), with or without a
    compiled loss."""
    import fusednet as keras
    from fusednet import ops

    class ActivityRegularization(keras.layers.Layer):
        def call(self, inputs):
            self.add_loss(1e-2 * ops.mean(inputs))
            return inputs

    rng = np.random.default_rng(0)
    x, y = rng.random((4, 3)).astype(np.float32), rng.random((4, 3)).astype(np.float32)
    i = keras.Input(shape=(3,))
    m = keras.Model(i, ActivityRegularization()(i))
    m.compile(optimizer="adam", loss="mse")
    rtol, atol = TOL["evaluate"]
    got = m.fit(x, y, batch_size=4, verbose=0).history["loss"][0]
    np.testing.assert_allclose(got, ((x - y) ** 2).mean() + 1e-2 * x.mean(), rtol=rtol, atol=atol)
    m.compile(optimizer="adam")
    got = m.fit(x, y, batch_size=4, verbose=0).history["loss"][0]
    np.testing.assert_allclose(got, 1e-2 * x.mean(), rtol=rtol, atol=atol)
