"""predict's common-case fast path (trainers/predict_fast.py) and the BLAS finite check: the same
bits, shapes and errors as the general path (forced here with a no-op callback), on float32 and
int8 models, Sequential and functional (two outputs), batch sizes that split the input unevenly
and sizes 1 and primes; which calls take the fast path; all_finite's exact answers."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import layers as L, quantization as Q
from fusednet.callbacks import Callback
from fusednet.trainers import predict_fast
from fusednet.trainers.data_adapters import all_finite


def _mlp():
    fn.random.set_random_seed(0)
    return fn.Sequential([fn.Input(shape=(13,)), L.Dense(17, activation="relu"), L.Dense(5, activation="softmax")])


def _cnn():
    fn.random.set_random_seed(1)
    return fn.Sequential([fn.Input(shape=(9, 9, 2)), L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(),
                          L.Conv2D(16, 3, padding="same"), L.BatchNormalization(), L.Activation("relu"),
                          L.Flatten(), L.Dense(7, activation="softmax")])


def _two_heads():
    fn.random.set_random_seed(2)
    inp = fn.Input(shape=(11,))
    h = L.Dense(19, activation="tanh")(inp)
    return fn.Model(inp, [L.Dense(3, activation="softmax")(h), L.Dense(2)(h)])


def _general(model, x, **kw):
    return model.predict(x, callbacks=[Callback()], **kw)   # a callback list: the general path


def _same(a, b):
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for u, v in zip(a, b):
            _same(u, v)
        return
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


def _models():
    mlp, cnn = _mlp(), _cnn()
    rng = np.random.default_rng(5)
    xm = rng.standard_normal((64, 13)).astype(np.float32)
    xc = rng.standard_normal((32, 9, 9, 2)).astype(np.float32)
    return [("mlp", mlp, (13,)), ("mlp int8 dynamic", Q.quantize(mlp, min_depth=1), (13,)),
            ("mlp int8 static", Q.quantize(mlp, xm, mode="static", min_depth=1), (13,)),
            ("cnn", cnn, (9, 9, 2)), ("cnn int8 static", Q.quantize(cnn, xc, mode="static", min_depth=1), (9, 9, 2)),
            ("two heads", _two_heads(), (11,))]


@pytest.mark.parametrize("n,bs", [(1, 64), (7, 7), (64, 64), (67, 64), (31, 5), (2, 1)])
def test_fast_path_matches_the_general_path_bit_for_bit(n, bs):
    rng = np.random.default_rng(n * 100 + bs)
    for name, m, shape in _models():
        x = rng.uniform(-1, 2, (n,) + shape).astype(np.float32)
        fast = predict_fast.fast_predict(m, x, bs, None, None)
        assert fast is not None, name
        _same(fast, _general(m, x, batch_size=bs, verbose=0))
        _same(m.predict(x, batch_size=bs, verbose=0), fast)
        if not isinstance(fast, list):
            assert not np.shares_memory(fast, x)


def test_fast_path_converts_like_the_general_path():
    m = _mlp()
    rng = np.random.default_rng(9)
    x64 = rng.standard_normal((10, 13))                  # float64: cast to float32
    xt = np.asfortranarray(rng.standard_normal((10, 13)).astype(np.float32))   # not C-contiguous
    xi = rng.integers(-3, 4, (10, 13))                   # integers into a float Input
    for x in (x64, xt, xi, x64[::2]):
        _same(m.predict(x, verbose=0), _general(m, x, verbose=0))


def test_which_calls_take_the_fast_path(monkeypatch):
    m = _mlp()
    x = np.ones((4, 13), np.float32)
    calls = []
    real = predict_fast.fast_predict

    def spy(*a):
        out = real(*a)
        calls.append(out is not None)
        return out
    monkeypatch.setattr("fusednet.trainers.trainer.fast_predict", spy)
    m.predict(x, verbose=0)
    m.predict(x, verbose=1, callbacks=[])
    m.predict(x, callbacks=[Callback()])
    m.predict(x, steps=1)
    m.predict([x])                                       # a list of arrays: the general path
    m.predict(fn.asarray(x))                             # a native Array: the general path
    assert calls == [True, True, False, False, False, False]
    unbuilt = fn.Sequential([L.Dense(3)])                # built by the general path on first use
    calls.clear()
    unbuilt.predict(x, verbose=0)
    unbuilt.predict(x, verbose=0)
    assert calls == [False, True]


def test_fast_path_raises_the_general_errors():
    m = _mlp()
    bad = np.ones((3, 13), np.float32)
    bad[1, 4] = np.nan
    for x, err, msg in ((bad, ValueError, "predict: x contains NaN"),
                        (np.ones((3, 12), np.float32), ValueError, "expected shape"),
                        (np.ones((0, 13), np.float32), ValueError, "input array is empty"),
                        (np.array(["a", "b"]), TypeError, "numeric data")):
        for f in (lambda: m.predict(x, verbose=0), lambda: _general(m, x, verbose=0)):
            with pytest.raises(err, match=msg):
                f()
    with pytest.raises(ValueError, match="batch_size"):
        m.predict(np.ones((3, 13), np.float32), batch_size=0)


def test_all_finite_is_exact():
    rng = np.random.default_rng(3)
    for n in (1, 2, 13, 784, 50177):
        a = rng.standard_normal(n).astype(np.float32)
        assert all_finite(a)
        for bad in (np.nan, np.inf, -np.inf):
            b = a.copy()
            b[rng.integers(n)] = bad
            assert not all_finite(b) and not all_finite(b.reshape(1, -1))
    big = np.full((5, 7), 3e38, np.float32)               # finite, but the squares overflow
    assert all_finite(big) and all_finite(-big)
    assert all_finite(np.zeros((0, 4), np.float32))
    nc = rng.standard_normal((6, 8)).astype(np.float32).T  # non-contiguous
    assert all_finite(nc)
    nc[2, 3] = np.inf
    assert not all_finite(nc)
