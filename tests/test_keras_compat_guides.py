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
