"""Layers: names, builds, weights, initializers, regularizers, config, errors."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import initializers, layers, regularizers


@pytest.fixture(autouse=True)
def _fresh_names():
    fn.clear_session()
    fn.random.seed(123)


def test_unique_names():
    a, b, c = layers.Dense(2), layers.Dense(2), layers.Dropout(0.1)
    assert (a.name, b.name, c.name) == ("dense", "dense_1", "dropout")
    assert layers.Dense(2, name="head").name == "head"


def test_dense_build_defaults_and_call():
    d = layers.Dense(4, activation="relu")
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    y = d(x)
    assert d.built and d.kernel.shape == (5, 4) and d.bias.shape == (4,)
    assert d.kernel.name == "dense/kernel"
    k = d.kernel.numpy()
    lim = np.sqrt(6 / 9)
    assert np.abs(k).max() <= lim and np.all(d.bias.numpy() == 0)
    np.testing.assert_allclose(y.numpy(), np.maximum(x @ k, 0), rtol=1e-5, atol=1e-6)
    assert d.count_params() == 24
    with pytest.raises(ValueError, match="layer 'dense'.*expected axis -1 of input shape to have value 5.*\\(2, 7\\)"):
        d(np.zeros((2, 7), np.float32))


def test_dense_arg_errors():
    with pytest.raises(ValueError, match="units must be a positive integer"):
        layers.Dense(0)
    with pytest.raises(ValueError, match="Unknown activation 'relux'; valid names:.*relu"):
        layers.Dense(3, activation="relux")
    with pytest.raises(ValueError, match="Unknown initializer 'glorot'"):
        layers.Dense(3, kernel_initializer="glorot")
    with pytest.raises(ValueError, match="Unknown regularizer"):
        layers.Dense(3, kernel_regularizer="l3")
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(1.5)


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                                  "lecun_normal", "lecun_uniform", "orthogonal", "zeros", "ones"])
def test_initializer_stats(name):
    init = initializers.get(name)
    w = np.asarray(init((400, 300)), np.float64)
    fan_in, fan_out = 400, 300
    if name == "glorot_uniform":
        assert np.abs(w).max() <= np.sqrt(6 / 700) and abs(w.std() - np.sqrt(2 / 700)) < 0.05 * np.sqrt(2 / 700)
    elif name in ("glorot_normal", "he_normal", "lecun_normal"):
        target = {"glorot_normal": 2 / 700, "he_normal": 2 / fan_in, "lecun_normal": 1 / fan_in}[name]
        assert abs(w.std() - np.sqrt(target)) < 0.05 * np.sqrt(target)
    elif name == "he_uniform":
        assert np.abs(w).max() <= np.sqrt(6 / fan_in)
    elif name == "orthogonal":
        np.testing.assert_allclose(w.T @ w, np.eye(300), atol=1e-4)
    elif name == "zeros":
        assert not w.any()
    elif name == "ones":
        assert np.all(w == 1)


def test_initializer_seeded_reproducible():
    a = np.asarray(initializers.GlorotUniform(seed=5)((10, 10)))
    b = np.asarray(initializers.GlorotUniform(seed=5)((10, 10)))
    np.testing.assert_array_equal(a, b)
    fn.random.seed(9)
    c = np.asarray(initializers.HeNormal()((10, 10)))
    fn.random.seed(9)
    d = np.asarray(initializers.HeNormal()((10, 10)))
    np.testing.assert_array_equal(c, d)
    assert not np.array_equal(c, np.asarray(initializers.HeNormal()((10, 10))))
    np.testing.assert_array_equal(np.asarray(initializers.Constant(2.5)((2,))), [2.5, 2.5])


def test_regularizer_penalty_and_grad():
    d = layers.Dense(3, kernel_regularizer="l2", bias_regularizer=regularizers.L1(0.1))
    d.build((None, 4))
    assert isinstance(d.kernel_regularizer, regularizers.L2) and d.kernel_regularizer.l2 == 0.01
    d.bias.data.copy_(fn.asarray(np.array([1.0, -2.0, 0.5], np.float32)))
    pen = [p.item() for p in d.losses]
    k = d.kernel.numpy().astype(np.float64)
    np.testing.assert_allclose(pen[0], 0.01 * (k ** 2).sum(), rtol=1e-5)
    np.testing.assert_allclose(pen[1], 0.1 * 3.5, rtol=1e-5)
    total = d.losses[0] + d.losses[1]
    total.backward()
    np.testing.assert_allclose(d.kernel.grad.numpy(), 0.02 * k, rtol=1e-5)
    np.testing.assert_allclose(d.bias.grad.numpy(), 0.1 * np.sign([1, -2, 0.5]), rtol=1e-6)


def test_activation_flatten_reshape_dropout_layers():
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    assert layers.Flatten()(x).shape == (2, 12)
    assert layers.Flatten().compute_output_shape((None, 3, 4)) == (None, 12)
    r = layers.Reshape((4, -1))
    assert r(x).shape == (2, 4, 3) and r.compute_output_shape((None, 3, 4)) == (None, 4, 3)
    with pytest.raises(ValueError, match="Reshape"):
        layers.Reshape((5,))(x)
    np.testing.assert_allclose(layers.Activation("tanh")(x).numpy(), np.tanh(x), rtol=1e-5)
    dr = layers.Dropout(0.5, seed=3)
    np.testing.assert_array_equal(dr(x, training=False).numpy(), x)
    y = dr(x, training=True).numpy()
    assert set(np.unique(np.round(y / np.where(x == 0, 1, x), 4))) <= {0.0, 2.0}


def test_get_set_weights_layer():
    d = layers.Dense(2)
    d.build((None, 3))
    w = [np.ones((3, 2), np.float32), np.full((2,), 0.5, np.float32)]
    d.set_weights(w)
    np.testing.assert_array_equal(d.get_weights()[0], w[0])
    with pytest.raises(ValueError, match="shape mismatch.*\\(3, 2\\).*\\(2, 3\\)"):
        d.set_weights([np.ones((2, 3)), np.zeros(2)])
    with pytest.raises(ValueError, match="expects 2 weight arrays"):
        d.set_weights([np.ones((3, 2))])


def test_config_round_trip():
    d = layers.Dense(5, activation="gelu", kernel_initializer="he_normal", kernel_regularizer="l2", name="h")
    cfg = d.get_config()
    d2 = layers.Dense.from_config({**cfg, "name": "h2"})
    assert d2.units == 5 and d2.activation == "gelu" and isinstance(d2.kernel_initializer, initializers.HeNormal)
    assert isinstance(d2.kernel_regularizer, regularizers.L2)
    s = layers.serialize(layers.Dropout(0.3))
    assert layers.deserialize(s).rate == 0.3


def test_trainable_flag():
    d = layers.Dense(2)
    d.build((None, 2))
    d.trainable = False
    assert d.trainable_weights == [] and len(d.non_trainable_weights) == 2
