"""ONNX export of Keras masks (io/onnx/_walker.py mask channel, io/onnx/recurrent.py): masks from
Embedding(mask_zero=True) and Masking reach SimpleRNN / LSTM / GRU, Bidirectional and
GlobalAveragePooling1D through mask-preserving layers; the exported graph must equal ``predict``
in onnxruntime for right-padded rows, rows with holes, empty rows, and opsets 17 and 21."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import fusednet  # noqa: E402
from fusednet import layers as L  # noqa: E402
from fusednet.io.onnx import export_onnx  # noqa: E402
from tolerances import TOL  # noqa: E402

T, V = 9, 20


def _ids(rng, b):
    ids = rng.integers(1, V, (b, T)).astype(np.int64)
    for i in range(b):
        n = int(rng.integers(0, T + 1))
        ids[i, n:] = 0                          # right padding (n = 0: an empty row)
        if i % 3 == 1 and n > 2:
            ids[i, 1] = 0                       # and a hole inside the row
    return ids


CASES = {
    "lstm_last": lambda x: L.LSTM(4)(x),
    "lstm_seq_back": lambda x: L.LSTM(4, return_sequences=True, go_backwards=True)(x),
    "gru_seq": lambda x: L.GRU(4, return_sequences=True)(x),
    "gru_reset_before_last": lambda x: L.GRU(3, reset_after=False)(x),
    "simple_rnn_seq_relu": lambda x: L.SimpleRNN(3, activation="relu", return_sequences=True)(x),
    "bidir_concat_seq": lambda x: L.Bidirectional(L.LSTM(3, return_sequences=True))(x),
    "bidir_sum_last": lambda x: L.Bidirectional(L.GRU(3), merge_mode="sum")(x),
    "stacked_through_dropout_dense": lambda x: L.Dense(2)(L.LSTM(3)(L.Dropout(0.2)(
        L.Dense(5, activation="tanh")(L.GRU(4, return_sequences=True)(x))))),
    "gap1d": lambda x: L.GlobalAveragePooling1D()(L.Dense(5)(x)),
    "rnn_cell_api": lambda x: L.RNN(L.LSTMCell(3), return_sequences=True)(x),
}


@pytest.mark.parametrize("opset", [17, 21])
@pytest.mark.parametrize("case", sorted(CASES))
def test_embedding_mask_reaches_consumers(case, opset, tmp_path):
    fusednet.random.set_random_seed(1)
    i = L.Input((T,), dtype="int64")
    m = fusednet.Model(i, CASES[case](L.Embedding(V, 6, mask_zero=True)(i)))
    rng = np.random.default_rng(2)
    for w in m.weights:                         # biases away from zero: padded steps would show
        if w.name.endswith("bias"):
            w.assign(rng.uniform(-0.5, 0.5, w.shape).astype(np.float32))
    path = export_onnx(m, tmp_path / "m.onnx", opset=opset)
    onnx.checker.check_model(onnx.load(path))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    rtol, atol = TOL["onnx"]
    for b in (1, 7):
        ids = _ids(rng, b)
        got, = sess.run(None, {sess.get_inputs()[0].name: ids})
        np.testing.assert_allclose(got, m.predict(ids, verbose=0), rtol=rtol, atol=atol)


def test_masking_layer_and_unmasked_differ(tmp_path):
    fusednet.random.set_random_seed(2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    x[0, 4:] = 0.0
    x[2, 2] = 0.0
    x[3] = 0.0
    i = L.Input((6, 3))
    m = fusednet.Model(i, L.GRU(3, return_sequences=True)(L.Masking(0.0)(i)))
    path = export_onnx(m, tmp_path / "m.onnx")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got, = sess.run(None, {sess.get_inputs()[0].name: x})
    want = m.predict(x, verbose=0)
    rtol, atol = TOL["onnx"]
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    plain = fusednet.Model(i, m.layers[-1](i))       # same GRU without the mask: other numbers
    assert np.abs(plain.predict(x, verbose=0) - want).max() > 1e-3


def test_masks_into_unsupported_consumers_refuse(tmp_path):
    i = L.Input((T,), dtype="int64")
    e = L.Embedding(V, 8, mask_zero=True)(i)
    m = fusednet.Model(i, L.MultiHeadAttention(2, 4)(e, e))
    with pytest.raises(ValueError, match="MultiHeadAttention .* receives a mask"):
        export_onnx(m, tmp_path / "m.onnx")
    j = L.Input((T,), dtype="int64")
    e2 = L.Embedding(V, 4, mask_zero=True)(j)
    m2 = fusednet.Model(j, L.Concatenate(axis=1)([e2, e2]))
    with pytest.raises(ValueError, match="Concatenate .* time axis"):
        export_onnx(m2, tmp_path / "m2.onnx")


@pytest.mark.parametrize("masked", [False, True])
def test_encoder_decoder_states_export(masked, tmp_path):
    """return_state outputs and initial_state inputs (seq2seq): LSTM encoder states start a GRU
    and an LSTM decoder; with and without masks."""
    fusednet.random.set_random_seed(4)
    src, dst = L.Input((T,), dtype="int64"), L.Input((5,), dtype="int64")
    e = L.Embedding(V, 6, mask_zero=masked)(src)
    out, h, c = L.LSTM(4, return_state=True)(e)
    d = L.Embedding(V, 6, mask_zero=masked)(dst)
    y = L.LSTM(4, return_sequences=True)(d, initial_state=[h, c])
    _, hg = L.GRU(4, return_state=True, go_backwards=True)(d, initial_state=[h])
    m = fusednet.Model([src, dst], [L.Dense(3)(y), L.Add()([out, hg])])
    path = export_onnx(m, tmp_path / "m.onnx")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(5)
    a = _ids(rng, 6)
    b = rng.integers(1, V, (6, 5)).astype(np.int64)
    b[1, 3:] = 0
    b[4, 0] = 0
    got = sess.run(None, {sess.get_inputs()[0].name: a, sess.get_inputs()[1].name: b})
    want = m.predict([a, b], verbose=0)
    rtol, atol = TOL["onnx"]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def test_explicit_mask_input_exports(tmp_path):
    """``layer(x, mask=m)`` with ``m`` a model input (any nonzero value counts as a real step)."""
    fusednet.random.set_random_seed(6)
    x, m = L.Input((T, 3)), L.Input((T,))
    h = L.GRU(4, return_sequences=True)(x, mask=m)
    model = fusednet.Model([x, m], L.GlobalAveragePooling1D()(L.Dense(2)(h), mask=m))
    path = export_onnx(model, tmp_path / "m.onnx")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(8)
    xv = rng.standard_normal((4, T, 3)).astype(np.float32)
    mv = (rng.random((4, T)) > 0.3).astype(np.float32) * 2.0      # 0 / 2: nonzero is real
    mv[:, 0] = 1.0
    got, = sess.run(None, {sess.get_inputs()[0].name: xv, sess.get_inputs()[1].name: mv})
    rtol, atol = TOL["onnx"]
    np.testing.assert_allclose(got, model.predict([xv, mv], verbose=0), rtol=rtol, atol=atol)


def test_explicit_masks_with_states_export(tmp_path):
    fusednet.random.set_random_seed(9)
    a, b, ma, mb = L.Input((5, 3)), L.Input((4, 3)), L.Input((5,)), L.Input((4,))
    _, h, c = L.LSTM(4, return_state=True)(a, mask=ma)
    y = L.LSTM(4, return_sequences=True)(b, initial_state=[h, c], mask=mb)
    model = fusednet.Model([a, b, ma, mb], L.Dense(2)(y))
    path = export_onnx(model, tmp_path / "m.onnx")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(10)
    xs = [rng.standard_normal((3, 5, 3)).astype(np.float32), rng.standard_normal((3, 4, 3)).astype(np.float32),
          (rng.random((3, 5)) > 0.3).astype(np.float32), (rng.random((3, 4)) > 0.3).astype(np.float32)]
    got, = sess.run(None, {i.name: v for i, v in zip(sess.get_inputs(), xs)})
    rtol, atol = TOL["onnx"]
    np.testing.assert_allclose(got, model.predict(xs, verbose=0), rtol=rtol, atol=atol)
