"""The mask channel (issue 12): Embedding(mask_zero) / Masking masks carried through the graph
(eager tape and compiled plan) to recurrent layers, Bidirectional, MultiHeadAttention, masked
GlobalAveragePooling1D and the losses, compared with real Keras 3 (torch backend) with copied
weights; merges AND their masks; error paths."""
import os

import numpy as np
import pytest

import fusednet
from fusednet import layers as L
from tolerances import TOL


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("real Keras is loaded with a non-torch backend")
    return keras


def _close(a, b, key="mask_keras"):
    rtol, atol = TOL[key]
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol)


def _ids(rng, n, t, vocab, lengths):
    """Token ids in [1, vocab) with zero padding at the end of each row (``lengths``)."""
    ids = rng.integers(1, vocab, size=(n, t)).astype(np.int64)
    for i, ln in enumerate(lengths):
        ids[i, ln:] = 0
    return ids


def _padded(rng, n, t, f, lengths, value=0.0):
    x = rng.standard_normal((n, t, f)).astype(np.float32)
    for i, ln in enumerate(lengths):
        x[i, ln:] = value
    return x


def _copy(fmodel, kmodel):
    fmodel.set_weights([np.asarray(w) for w in kmodel.get_weights()])


def _both(keras, build, x):
    """Build the same model in Keras and fusednet (``build(ns)`` with ns = keras or fusednet),
    copy Keras' weights, return (kmodel, fmodel)."""
    km = build(keras)
    fm = build(fusednet)
    km(x)
    fm.build((None,) + x.shape[1:]) if isinstance(fm, fusednet.Sequential) else None
    fm.predict(x, verbose=0)
    _copy(fm, km)
    return km, fm


@pytest.mark.parametrize("rnn", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("seq", [False, True])
def test_embedding_mask_dropout_rnn_vs_keras(rnn, seq):
    keras = _keras()
    rng = np.random.default_rng(0)
    ids = _ids(rng, 5, 7, 13, [7, 3, 1, 5, 6])

    def build(ns):
        return ns.Sequential([ns.layers.Input((7,), dtype="int64"), ns.layers.Embedding(13, 6, mask_zero=True),
                              ns.layers.Dropout(0.5), getattr(ns.layers, rnn)(5, return_sequences=seq)])
    km, fm = _both(keras, build, ids)
    ref = np.asarray(km(ids, training=False).detach().cpu())
    _close(fm.predict(ids, verbose=0), ref)                 # compiled plan
    _close(fm(ids).numpy(), ref)                            # eager (tape)


def test_masking_gru_functional_vs_keras():
    keras = _keras()
    rng = np.random.default_rng(1)
    x = _padded(rng, 4, 9, 3, [9, 2, 5, 1], value=-1.0)

    def build(ns):
        i = ns.layers.Input((9, 3))
        h = ns.layers.Masking(-1.0)(i)
        h = ns.layers.Dense(4, activation="tanh")(h)
        h = ns.layers.GRU(6, return_sequences=True)(h)
        h = ns.layers.LayerNormalization()(h)
        o = ns.layers.GRU(3)(h)
        return ns.Model(i, o)
    km, fm = _both(keras, build, x)
    ref = np.asarray(km(x).detach().cpu())
    _close(fm.predict(x, verbose=0), ref)
    _close(fm(x).numpy(), ref)


@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
def test_bidirectional_with_masks_vs_keras(merge_mode):
    keras = _keras()
    rng = np.random.default_rng(2)
    ids = _ids(rng, 3, 8, 11, [8, 4, 2])

    def build(ns):
        i = ns.layers.Input((8,), dtype="int64")
        e = ns.layers.Embedding(11, 5, mask_zero=True)(i)
        h = ns.layers.Bidirectional(ns.layers.LSTM(4, return_sequences=True), merge_mode=merge_mode)(e)
        o = ns.layers.Bidirectional(ns.layers.GRU(3))(h)
        return ns.Model(i, o)
    km, fm = _both(keras, build, ids)
    ref = np.asarray(km(ids).detach().cpu())
    _close(fm.predict(ids, verbose=0), ref)
    _close(fm(ids).numpy(), ref)


def test_masking_outputs_and_mask_values():
    x = np.array([[[1., 2.], [0., 0.], [0., 3.]]], np.float32)
    m = L.Masking()
    y = m(x)
    np.testing.assert_array_equal(y.numpy(), x)
    np.testing.assert_array_equal(y._keras_mask.numpy(), [[1., 0., 1.]])
    y2 = L.Masking(mask_value=2.0)(np.array([[[2., 2.], [2., 1.]]], np.float32))
    np.testing.assert_array_equal(y2.numpy(), [[[0., 0.], [2., 1.]]])
    np.testing.assert_array_equal(y2._keras_mask.numpy(), [[0., 1.]])


def test_merges_and_masks():
    a = L.Masking()(np.array([[[1.], [0.], [1.]]], np.float32))
    b = L.Masking()(np.array([[[1.], [1.], [0.]]], np.float32))
    np.testing.assert_array_equal(L.Add()([a, b])._keras_mask.numpy(), [[1., 0., 0.]])
    np.testing.assert_array_equal(L.Concatenate()([a, b])._keras_mask.numpy(), [[1., 0., 0.]])
    np.testing.assert_array_equal(L.Concatenate(axis=1)([a, b])._keras_mask.numpy(), [[1., 0., 1., 1., 1., 0.]])
    c = fusednet.Tensor(np.ones((1, 3, 1), np.float32))        # unmasked: counts as all ones
    np.testing.assert_array_equal(L.Multiply()([a, c])._keras_mask.numpy(), [[1., 0., 1.]])
    assert L.Flatten()(a)._keras_mask is None                  # no masking support: dropped (Keras)


def test_rnn_mask_shape_mismatch_names_layer_and_shapes():
    lstm = L.LSTM(3, name="seq_lstm")
    x = np.zeros((2, 5, 4), np.float32)
    with pytest.raises(ValueError, match=r"seq_lstm.*\(2, 5\).*\(2, 4\)"):
        lstm(x, mask=np.ones((2, 4), np.float32))
