"""TimeDistributed: the wrapped layer's native kernels over batch·T rows, against per-timestep
application in float64 NumPy, gradients by finite differences, training and saving."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import layers
from tolerances import TOL


@pytest.mark.parametrize("b,t,f,u", [(1, 1, 1, 1), (2, 7, 5, 3), (3, 13, 17, 11)])
def test_dense_per_timestep_matches_numpy(b, t, f, u):
    rng = np.random.default_rng(b * 100 + t)
    td = layers.TimeDistributed(layers.Dense(u, activation="tanh"))
    x = rng.normal(size=(b, t, f)).astype(np.float32)
    y = td(x).numpy()
    k, bias = (w.astype(np.float64) for w in td.layer.get_weights())
    ref = np.stack([np.tanh(x[:, i].astype(np.float64) @ k + bias) for i in range(t)], axis=1)
    rtol, atol = TOL["torch"]
    np.testing.assert_allclose(y, ref, rtol=rtol, atol=atol)


def test_conv_per_timestep_matches_the_layer_alone():
    rng = np.random.default_rng(1)
    conv = layers.Conv2D(4, 3, padding="same")
    td = layers.TimeDistributed(conv)
    x = rng.normal(size=(2, 3, 7, 5, 2)).astype(np.float32)
    y = td(x).numpy()
    for i in range(3):
        np.testing.assert_array_equal(y[:, i], conv(x[:, i]).numpy())
    inp = fn.Input((3, 7, 5, 2))
    assert fn.Model(inp, layers.TimeDistributed(layers.Conv2D(4, 3))(inp)).output_shape == (None, 3, 5, 3, 4)


def test_gradients_by_finite_differences():
    """d sum(w * TD(Dense)(x)) / d(x, kernel, bias) vs float64 central differences of the formula."""
    rng = np.random.default_rng(2)
    b, t, f, u = 2, 3, 4, 3
    td = layers.TimeDistributed(layers.Dense(u, activation="sigmoid"))
    x = rng.normal(size=(b, t, f)).astype(np.float32)
    w = rng.normal(size=(b, t, u)).astype(np.float32)
    xt = fn.Tensor(x, requires_grad=True)
    loss = (td(xt) * fn.Tensor(w)).sum()
    loss.backward()
    k, bias = (v.astype(np.float64) for v in td.layer.get_weights())

    def f64(x_, k_, b_):
        return float(np.sum(w / (1 + np.exp(-(x_ @ k_ + b_)))))
    eps = TOL["fd_eps"]
    rtol, atol = TOL["gradcheck"]
    for name, arr, grad in (("x", x.astype(np.float64), xt.grad.numpy()), ("kernel", k, td.layer.kernel.grad.numpy()),
                            ("bias", bias, td.layer.bias.grad.numpy())):
        num = np.zeros_like(arr)
        it = np.nditer(arr, flags=["multi_index"])
        for _ in it:
            idx = it.multi_index
            hi, lo = arr.copy(), arr.copy()
            hi[idx] += eps
            lo[idx] -= eps
            args = {"x": (x.astype(np.float64), k, bias), "kernel": (x.astype(np.float64), k, bias),
                    "bias": (x.astype(np.float64), k, bias)}[name]
            a_hi, a_lo = list(args), list(args)
            pos = ["x", "kernel", "bias"].index(name)
            a_hi[pos], a_lo[pos] = hi, lo
            num[idx] = (f64(*a_hi) - f64(*a_lo)) / (2 * eps)
        scale = max(np.abs(num).max(), 1e-12)
        assert np.abs(grad - num).max() / scale < rtol + atol / scale, name


def test_trains_in_a_sequence_model_and_round_trips(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(32, 6, 4)).astype(np.float32)
    y = rng.integers(0, 3, (32, 6))
    fn.random.seed(0)
    m = fn.Sequential([fn.Input((6, 4)), layers.LSTM(8, return_sequences=True),
                       layers.TimeDistributed(layers.Dense(3, activation="softmax"))])
    m.compile(fn.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    before = m.evaluate(x, y, verbose=0)
    m.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert m.evaluate(x, y, verbose=0) < before
    m.save(tmp_path / "td.keras")
    m2 = fn.models.load_model(tmp_path / "td.keras")
    np.testing.assert_array_equal(m.predict(x, verbose=0), m2.predict(x, verbose=0))


def test_bad_inputs():
    inp = fn.Input((4,))
    with pytest.raises(ValueError, match="TimeDistributed.*at least 3-D.*\\(None, 4\\)"):
        layers.TimeDistributed(layers.Dense(2))(inp)
    with pytest.raises(ValueError, match="Layer instance"):
        layers.TimeDistributed("dense")
