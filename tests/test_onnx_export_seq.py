"""ONNX export (issue 13), sequence and shape layers: Embedding, SimpleRNN/LSTM/GRU,
Bidirectional, MultiHeadAttention, position embeddings, 1-D / separable / transposed convs,
reshaping, resampling, Dot, TimeDistributed, and the char LSTM and GPT-mini example models, each
run in onnxruntime against ``model.predict`` (helpers: tests/onnx_check.py).
"""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import fusednet  # noqa: E402
from fusednet import layers as L  # noqa: E402
from fusednet.io.onnx import export_onnx  # noqa: E402
from onnx_check import BATCHES, check, seq, nonzero_biases, example  # noqa: E402
from tolerances import TOL  # noqa: E402

# ------------------------------------------------------------------------------------ sequences
RNN_CASES = {
    "simple_rnn_last": lambda: seq((5, 3), L.SimpleRNN(4)),
    "simple_rnn_seq_relu_back": lambda: seq((5, 3), L.SimpleRNN(4, activation="relu", return_sequences=True,
                                                                go_backwards=True)),
    "lstm_seq": lambda: seq((7, 3), L.LSTM(5, return_sequences=True)),
    "lstm_last_back": lambda: seq((6, 2), L.LSTM(3, go_backwards=True)),
    "lstm_no_bias": lambda: seq((4, 3), L.LSTM(2, use_bias=False, return_sequences=True)),
    "gru_reset_after": lambda: seq((6, 3), L.GRU(4, return_sequences=True)),
    "gru_reset_before_back": lambda: seq((5, 3), L.GRU(3, reset_after=False, go_backwards=True)),
    "bidir_concat_seq": lambda: seq((6, 3), L.Bidirectional(L.LSTM(4, return_sequences=True))),
    "bidir_sum_last": lambda: seq((5, 2), L.Bidirectional(L.GRU(3), merge_mode="sum")),
    "bidir_ave_mul": lambda: seq((5, 2), L.Bidirectional(L.SimpleRNN(3, return_sequences=True), merge_mode="ave"),
                                 L.Bidirectional(L.LSTM(2, return_sequences=True), merge_mode="mul")),
}


@pytest.mark.parametrize("case", sorted(RNN_CASES))
def test_recurrent(case, tmp_path):
    model = RNN_CASES[case]()
    nonzero_biases(model, np.random.default_rng(5))
    check(model, tmp_path)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_embedding(dtype, tmp_path):
    model = fusednet.Sequential([L.Input(shape=(6,), dtype=dtype), L.Embedding(5, 3), L.Flatten(), L.Dense(2)])
    check(model, tmp_path)


def test_char_lstmexample(tmp_path):
    model = example("char_lstm.py")["build_model"](vocab=11, embed_dim=8, units=16)
    check(model, tmp_path, batches=(1, 3))


# ------------------------------------------------------------------------------------ attention
def _mha_model(causal, has_key, has_mask, kd=3):
    q, v = L.Input(shape=(5, 6), name="q"), L.Input(shape=(4 if not causal else 5, 7), name="v")
    ins = [q, v]
    kw = {}
    if has_key:
        k = L.Input(shape=(4 if not causal else 5, 2), name="k")
        ins.append(k)
        kw["key"] = k
    if has_mask:
        m = L.Input(shape=(5, 4), name="mask")
        ins.append(m)
        kw["attention_mask"] = m
    y = L.MultiHeadAttention(2, kd, value_dim=4, **({"output_shape": 3} if has_key else {}))(
        q, v, use_causal_mask=causal, **kw)
    return fusednet.Model(ins, y)


@pytest.mark.parametrize("causal,has_key", [(False, False), (True, False), (False, True), (True, True)])
def test_mha(causal, has_key, tmp_path):
    model = _mha_model(causal, has_key, False)
    nonzero_biases(model, np.random.default_rng(6))
    check(model, tmp_path)


def test_mha_self_attention_variable_length(tmp_path):
    x = L.Input(shape=(None, 8))
    model = fusednet.Model(x, L.MultiHeadAttention(2, 4)(x, x, use_causal_mask=True))
    check(model, tmp_path)            # open axes run at length 5 (the exported table covers any length)


def test_position_embeddings(tmp_path):
    x = L.Input(shape=(4, 3))
    check(fusednet.Model(x, L.Add()([x, L.PositionEmbedding(6)(x)])), tmp_path)
    ids = L.Input(shape=(5,), dtype="int64")
    check(fusednet.Model(ids, L.TokenAndPositionEmbedding(9, 7, 4)(ids)), tmp_path)


def test_gpt_miniexample(tmp_path):
    model = example("gpt_mini.py")["build_model"](vocab=13, context=8, n_layers=2, n_heads=2, d_model=16)
    check(model, tmp_path, batches=(1, 3))


def test_mha_attention_mask(tmp_path):
    model = _mha_model(False, False, True)
    rng = np.random.default_rng(8)
    path = export_onnx(model, tmp_path / "m.onnx")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for b in BATCHES:
        q = rng.standard_normal((b, 5, 6)).astype(np.float32)
        v = rng.standard_normal((b, 4, 7)).astype(np.float32)
        m = (rng.random((b, 5, 4)) < 0.6).astype(np.float32)
        m[:, :, 0] = 1.0                                  # every query keeps one key
        got = sess.run(None, {"q": q, "v": v, "mask": m})[0]
        np.testing.assert_allclose(got, model.predict([q, v, m], verbose=0), *TOL["onnx"])


# ------------------------------------------------------------------------------------ 1-D, separable, transposed
MORE_CONV_CASES = {
    "conv1d_valid": lambda: seq((9, 3), L.Conv1D(4, 3, activation="relu")),
    "conv1d_same_stride": lambda: seq((11, 2), L.Conv1D(3, 4, strides=2, padding="same")),
    "conv1d_causal_dilated": lambda: seq((10, 2), L.Conv1D(3, 3, padding="causal", dilation_rate=2)),
    "pool1d": lambda: seq((11, 3), L.MaxPooling1D(2), L.AveragePooling1D(3, strides=2, padding="same")),
    "global1d": lambda: seq((7, 3), L.Conv1D(2, 2), L.GlobalAveragePooling1D()),
    "global1d_max_keep": lambda: seq((7, 3), L.GlobalMaxPooling1D(keepdims=True)),
    "separable": lambda: seq((9, 8, 3), L.SeparableConv2D(4, 3, depth_multiplier=2, padding="same",
                                                         activation="relu")),
    "separable_stride_valid": lambda: seq((9, 8, 3), L.SeparableConv2D(2, 3, strides=2, use_bias=False)),
    "convT_valid": lambda: seq((4, 5, 3), L.Conv2DTranspose(2, 3, strides=2)),
    "convT_same": lambda: seq((4, 5, 3), L.Conv2DTranspose(2, 3, strides=2, padding="same")),
    "convT_same_even": lambda: seq((3, 4, 2), L.Conv2DTranspose(3, 4, strides=2, padding="same")),
    "convT_outpad": lambda: seq((4, 3, 2), L.Conv2DTranspose(2, 3, strides=2, output_padding=1)),
    "convT_same_outpad": lambda: seq((4, 3, 2), L.Conv2DTranspose(2, 3, strides=3, padding="same",
                                                                  output_padding=(1, 2))),
    "convT_k_lt_s": lambda: seq((3, 3, 2), L.Conv2DTranspose(2, 2, strides=3)),
    "convT1d_same": lambda: seq((5, 3), L.Conv1DTranspose(2, 3, strides=2, padding="same")),
    "convT1d_valid": lambda: seq((5, 3), L.Conv1DTranspose(2, 4, strides=3, activation="tanh")),
}


@pytest.mark.parametrize("case", sorted(MORE_CONV_CASES))
def test_more_conv(case, tmp_path):
    check(MORE_CONV_CASES[case](), tmp_path)


# ------------------------------------------------------------------------------------ reshaping, resampling, Dot
SHAPE_CASES = {
    "permute": lambda: seq((3, 4, 5), L.Permute((3, 1, 2)), L.Dense(2)),
    "repeat_vector": lambda: seq((5,), L.RepeatVector(3), L.LSTM(2, return_sequences=True)),
    "pad_crop_1d": lambda: seq((6, 2), L.ZeroPadding1D((2, 1)), L.Conv1D(2, 3), L.Cropping1D((1, 2))),
    "upsample2d_nearest": lambda: seq((3, 4, 2), L.Conv2D(2, 1), L.UpSampling2D((2, 3))),
    "upsample2d_bilinear": lambda: seq((3, 5, 2), L.UpSampling2D(2, interpolation="bilinear")),
    "random_crop_centre": lambda: seq((9, 8, 2), L.RandomCrop(4, 5), L.Conv2D(2, 2)),
    "random_crop_even": lambda: seq((6, 7, 1), L.RandomCrop(3, 3)),
    "upsample1d": lambda: seq((4, 3), L.UpSampling1D(3), L.Conv1D(2, 2)),
    "time_distributed_dense": lambda: seq((4, 5), L.TimeDistributed(L.Dense(3, activation="relu"))),
    "time_distributed_conv": lambda: seq((3, 6, 5, 2), L.TimeDistributed(L.Conv2D(3, 3, padding="same")),
                                         L.TimeDistributed(L.GlobalAveragePooling2D())),
}


@pytest.mark.parametrize("case", sorted(SHAPE_CASES))
def test_shape_layers(case, tmp_path):
    check(SHAPE_CASES[case](), tmp_path)


@pytest.mark.parametrize("axes,normalize,shapes", [(1, False, ((6,), (6,))), (1, True, ((6,), (6,))),
                                                   ((2, 2), False, ((3, 4), (5, 4))),
                                                   ((1, 1), False, ((3, 4), (3, 2))),
                                                   ((2, 1), True, ((3, 4), (4, 2))),
                                                   ((1, 2), False, ((3, 4), (2, 3)))])
def test_dot(axes, normalize, shapes, tmp_path):
    a, b = L.Input(shape=shapes[0]), L.Input(shape=shapes[1])
    check(fusednet.Model([a, b], L.Dot(axes, normalize=normalize)([a, b])), tmp_path)


@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
@pytest.mark.parametrize("hw,crop", [((5, 7), False), ((13, 4), False), ((4, 6), True), ((7, 3), True)])
def test_resizing(interp, hw, crop, tmp_path):
    check(seq((9, 8, 2), L.Resizing(*hw, interpolation=interp, crop_to_aspect_ratio=crop)), tmp_path)
