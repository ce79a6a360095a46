"""Embedding: gather forward, deterministic scatter-add backward, index dtypes, mask_zero into a
recurrent layer, Keras defaults, and training on the compiled plan."""
import numpy as np
import pytest

import fusednet
from fusednet import _C
from fusednet.layers import LSTM, Embedding, GRU
from fusednet.layers.embedding import attached_mask
from test_rnn import ref_forward
from tolerances import TOL


@pytest.mark.parametrize("V,D,shape", [(1, 1, (1,)), (7, 5, (3, 11)), (101, 13, (2, 3, 5)), (31, 300, (17, 29))])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float32])
def test_forward_and_backward_match_numpy(rng, V, D, shape, dtype):
    ids = rng.integers(0, V, shape)
    layer = Embedding(V, D)
    x = fusednet.Tensor(_C.asarray(np.ascontiguousarray(ids.astype(dtype))))
    y = layer(x)
    w = layer.embeddings.numpy()
    np.testing.assert_array_equal(y.numpy(), w[ids])                      # a gather is exact
    assert tuple(y.shape) == shape + (D,) and layer.compute_output_shape((None,) + shape[1:]) == \
        (None,) + shape[1:] + (D,)
    g = rng.standard_normal(shape + (D,))
    fusednet.functional.sum(y * fusednet.Tensor(g.astype(np.float32))).backward()
    want = np.zeros((V, D))
    np.add.at(want, ids, g)                                               # duplicates add up
    np.testing.assert_allclose(layer.embeddings.grad.numpy(), want, *TOL["reduce"])


def test_integer_numpy_ids_stay_exact():
    layer = Embedding(16_777_219, 1)                    # 2^24 + 1 is not exact in float32
    ids = np.array([[16_777_217, 16_777_218]])
    y = layer(ids)
    np.testing.assert_array_equal(y.numpy(), layer.embeddings.numpy()[ids])


def test_scatter_add_is_deterministic_across_thread_counts(rng):
    V, D = 50, 1000                                     # > 256 columns: the column blocks run threaded
    ids = rng.integers(0, V, (64, 40))
    g = rng.standard_normal((64, 40, D)).astype(np.float32)
    before = fusednet.get_num_threads()
    outs = []
    try:
        for n in (1, 2):
            fusednet.set_num_threads(n)
            outs.append(np.asarray(_C.scatter_add_rows(_C.asarray(g), _C.asarray(ids), V)))
    finally:
        fusednet.set_num_threads(before)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_defaults_config_and_errors():
    layer = Embedding(10, 4)
    y = layer(np.array([[1, 2, 9]]))
    w = layer.embeddings.numpy()
    assert w.shape == (10, 4) and np.abs(w).max() <= 0.05 and w.std() > 0   # Keras 'uniform'
    assert layer.weights[0].name.endswith("embeddings") and not layer.mask_zero
    cfg = layer.get_config()
    assert cfg["input_dim"] == 10 and cfg["output_dim"] == 4 and cfg["mask_zero"] is False
    clone = Embedding.from_config(cfg)
    assert clone.output_dim == 4
    with pytest.raises(ValueError, match="take_rows: index 10"):
        layer(np.array([[10]]))
    with pytest.raises(ValueError, match="take_rows: index -1"):
        layer(np.array([[-1]]))
    with pytest.raises(ValueError, match="input_dim must be a positive integer"):
        Embedding(0, 3)
    assert y.shape == (1, 3, 4)


def test_mask_zero_mask_reaches_the_rnn(rng):
    V, D, U = 12, 5, 6
    ids = rng.integers(1, V, (3, 7))
    ids[0, 4:] = 0
    ids[2, :3] = 0
    emb = Embedding(V, D, mask_zero=True)
    for rnn, kind in ((LSTM(U, return_sequences=True), "lstm"), (GRU(U, return_sequences=True), "gru")):
        e = emb(ids)
        np.testing.assert_array_equal(attached_mask(e).numpy(), (ids != 0).astype(np.float32))
        y = rnn(e)
        k, r, b = (w.numpy() for w in rnn.weights)
        ry, _, _ = ref_forward(kind, e.numpy(), k, r, b, mask=(ids != 0))
        np.testing.assert_allclose(y.numpy(), ry, *TOL["rnn"])
        unmasked, _, _ = ref_forward(kind, e.numpy(), k, r, b)
        assert np.abs(ry - unmasked).max() > 1e-3        # the mask changed the result
    assert attached_mask(emb(ids)) is not None and attached_mask(Embedding(V, D)(ids)) is None


def test_masked_model_fit_matches_eager_masking(rng):
    """Sequential([Embedding(mask_zero), LSTM]) on the compiled plan: padded steps are skipped, so
    right-padding a sequence does not change the prediction."""
    V, T = 20, 8
    fusednet.random.set_random_seed(4)
    model = fusednet.Sequential([fusednet.Input(shape=(T,)), Embedding(V, 6, mask_zero=True), LSTM(5),
                                 fusednet.layers.Dense(1)])
    x = rng.integers(1, V, (4, T)).astype(np.float32)
    x[:, 5:] = 0
    p1 = model.predict(x, verbose=0)
    emb, lstm, dense = model.layers[-3:]
    k, r, b = (w.numpy() for w in lstm.weights)
    e5 = emb.embeddings.numpy()[x[:, :5].astype(np.int64)]
    _, h5, _ = ref_forward("lstm", e5, k, r, b)                # only the 5 real steps
    np.testing.assert_allclose(p1, h5 @ dense.kernel.numpy() + dense.bias.numpy(), *TOL["rnn"])
    _, h8, _ = ref_forward("lstm", emb.embeddings.numpy()[x.astype(np.int64)], k, r, b)
    assert np.abs(h8 - h5).max() > 1e-3                         # without the mask it would differ
    y = rng.standard_normal((4, 1)).astype(np.float32)
    model.compile(optimizer="adam", loss="mse")
    h = model.fit(x, y, epochs=3, batch_size=2, verbose=0).history["loss"]
    assert np.all(np.isfinite(h))


def test_fit_with_float_index_data_reduces_loss():
    rng = np.random.default_rng(0)
    V, T = 30, 6
    x = rng.integers(0, V, (512, T)).astype(np.float32)
    y = (x[:, -1] % 2).astype(np.float32)[:, None]          # parity of the last token
    fusednet.random.set_random_seed(2)
    model = fusednet.Sequential([fusednet.Input(shape=(T,)), Embedding(V, 8), GRU(16), fusednet.layers.Dense(1)])
    model.compile(optimizer=fusednet.optimizers.Adam(0.02), loss="mse")
    hist = model.fit(x, y, epochs=8, batch_size=32, verbose=0).history["loss"]
    assert model._get_plan().tape_layers == []
    assert hist[-1] < 0.5 * hist[0], hist


def test_mask_reaches_both_halves_of_bidirectional(rng):
    from fusednet.layers import Bidirectional
    ids = rng.integers(1, 9, (2, 5))
    ids[0, 3:] = 0
    e = Embedding(9, 3, mask_zero=True)(ids)
    bi = Bidirectional(LSTM(4, return_sequences=True))
    y = bi(e).numpy()
    w = [v.numpy() for v in bi.weights]
    m = ids != 0
    yf, _, _ = ref_forward("lstm", e.numpy(), *w[:3], mask=m)
    yb, _, _ = ref_forward("lstm", e.numpy(), *w[3:], mask=m, go_backwards=True)
    # Keras's Bidirectional zeroes the padded steps of its sequence output (zero_output_for_mask),
    # where a plain LSTM carries its last output forward: checked against Keras 3.15.
    want = np.concatenate([yf, yb[:, ::-1]], -1) * m[:, :, None]
    np.testing.assert_allclose(y, want, *TOL["rnn"])
    assert np.all(y[0, 3:] == 0)
