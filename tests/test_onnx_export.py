"""ONNX export (issue 13): every converter runs in onnxruntime and matches ``model.predict``.

Each model is exported with ``dynamic_batch=True`` (the checker runs inside the exporter) and run
at batch 1 and a prime batch; BatchNormalization layers get random statistics so a wrong fold
shows. Example models: the demo MLP, the MNIST CNNs, ResNet18 and MobileNetV2 at small inputs.
"""
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import fusednet  # noqa: E402
from fusednet import layers as L  # noqa: E402
from fusednet.io.onnx import export_onnx, register_converter, to_onnx_model  # noqa: E402
from tolerances import TOL  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))      # examples import each other (cnn_bn_mnist -> cnn_mnist)
BATCHES = (1, 7)


def _randomize_bn(model, rng):
    """Non-trivial BN statistics (fresh ones are mean 0 / var 1: a missed fold would pass)."""
    for layer in _all_layers(model):
        if isinstance(layer, L.BatchNormalization):
            c = layer.moving_mean.shape[0]
            ws = []
            for w in layer.weights:
                name = w.name.split("/")[-1]
                if "variance" in name:
                    ws.append(rng.uniform(0.5, 2.0, c).astype(np.float32))
                elif "gamma" in name:
                    ws.append(rng.uniform(0.5, 1.5, c).astype(np.float32))
                else:
                    ws.append(rng.normal(0, 0.3, c).astype(np.float32))
            layer.set_weights(ws)


def _all_layers(model):
    for layer in model.layers:
        if isinstance(layer, fusednet.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def _inputs(model, batch, rng):
    specs = model.inputs
    out = []
    for t in specs:
        shape = (batch,) + tuple(d if d is not None else 5 for d in t.shape[1:])   # open axes: 5
        if "int" in str(getattr(t, "dtype", "float32")):
            out.append(rng.integers(0, 5, shape).astype(str(t.dtype)))
        else:
            out.append(rng.standard_normal(shape).astype(np.float32))
    return out


def check(model, tmp_path, tol="onnx", opset=17, seed=0, batches=BATCHES):
    """Export, run in onnxruntime at each batch size, compare every output with predict."""
    rng = np.random.default_rng(seed)
    path = export_onnx(model, tmp_path / "m.onnx", opset=opset)
    onnx.checker.check_model(onnx.load(path))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    rtol, atol = TOL[tol]
    for b in batches:
        xs = _inputs(model, b, rng)
        got = sess.run(None, dict(zip(names, xs)))
        want = model.predict(xs[0] if len(xs) == 1 else xs, verbose=0)
        want = list(want.values()) if isinstance(want, dict) else (want if isinstance(want, list) else [want])
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == np.shape(w)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return onnx.load(path)


def seq(input_shape, *layers):
    return fusednet.Sequential([L.Input(shape=input_shape)] + list(layers))


LAYER_CASES = {
    "dense_2d": lambda: seq((13,), L.Dense(5, activation="relu"), L.Dense(3, use_bias=False)),
    "dense_3d": lambda: seq((4, 6), L.Dense(5, activation="tanh")),
    "conv2d_same_stride": lambda: seq((9, 11, 3), L.Conv2D(4, 3, strides=2, padding="same", activation="relu")),
    "conv2d_valid_dilated": lambda: seq((10, 9, 2), L.Conv2D(3, (3, 2), dilation_rate=2)),
    "conv2d_1x1_nobias": lambda: seq((5, 5, 3), L.Conv2D(7, 1, use_bias=False)),
    "depthwise": lambda: seq((8, 7, 3), L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")),
    "depthwise_stride": lambda: seq((9, 9, 4), L.DepthwiseConv2D(3, strides=2, activation="relu6")),
    "maxpool_valid": lambda: seq((9, 8, 3), L.MaxPooling2D(2)),
    "maxpool_same_stride": lambda: seq((9, 7, 2), L.MaxPooling2D(3, strides=2, padding="same")),
    "avgpool_same": lambda: seq((7, 9, 2), L.AveragePooling2D(3, strides=2, padding="same")),
    "avgpool_valid": lambda: seq((8, 8, 3), L.AveragePooling2D(2)),
    "global_avg": lambda: seq((5, 6, 3), L.GlobalAveragePooling2D()),
    "global_max_keepdims": lambda: seq((5, 6, 3), L.GlobalMaxPooling2D(keepdims=True)),
    "bn_folded": lambda: seq((6, 5, 3), L.Conv2D(4, 3, padding="same"), L.BatchNormalization(),
                             L.Activation("relu")),
    "bn_folded_depthwise": lambda: seq((6, 5, 3), L.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False),
                                       L.BatchNormalization(), L.ReLU(6.0)),
    "bn_after_act": lambda: seq((6, 5, 3), L.Conv2D(4, 3, activation="relu"), L.BatchNormalization()),
    "bn_dense": lambda: seq((7,), L.Dense(4), L.BatchNormalization()),
    "bn_input_4d": lambda: seq((4, 3, 5), L.BatchNormalization()),
    "flatten_after_conv": lambda: seq((5, 4, 3), L.Conv2D(2, 2), L.Flatten(), L.Dense(3)),
    "reshape": lambda: seq((12,), L.Reshape((3, -1)), L.Dense(2)),
    "dropout_noise_removed": lambda: seq((6,), L.Dropout(0.5), L.GaussianNoise(1.0), L.GaussianDropout(0.3),
                                         L.Dense(3)),
    "spatial_dropout_augment": lambda: seq((6, 6, 2), L.RandomFlip(), L.SpatialDropout2D(0.5),
                                           L.Conv2D(2, 3)),
    "rescaling": lambda: seq((4, 4, 3), L.Rescaling(1 / 255.0, offset=-0.5), L.Conv2D(2, 2)),
    "zeropad_crop": lambda: seq((6, 7, 2), L.ZeroPadding2D(((1, 2), (0, 3))), L.Conv2D(2, 3),
                                L.Cropping2D(((1, 0), (2, 1)))),
    "zeropad_input": lambda: seq((4, 5, 2), L.ZeroPadding2D(1)),
    "layernorm": lambda: seq((5, 6), L.LayerNormalization(epsilon=1e-3), L.Dense(2)),
    "normalization": lambda: seq((4,), L.Normalization(mean=[1.0, 2, 3, 4], variance=[1.0, 4, 0.25, 2])),
    "relu_layers": lambda: seq((9,), L.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2), L.LeakyReLU(0.3),
                               L.ELU(0.7), L.Softmax()),
    "prelu": lambda: seq((6,), L.PReLU(alpha_initializer="glorot_uniform")),
}

ACTIVATIONS = ["linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "hard_sigmoid", "tanh",
               "softplus", "softsign", "silu", "swish", "mish", "exponential", "softmax", "log_softmax"]


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_layer(case, tmp_path):
    model = LAYER_CASES[case]()
    _randomize_bn(model, np.random.default_rng(3))
    check(model, tmp_path)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activation(act, tmp_path):
    check(seq((11,), L.Dense(6, activation=act)), tmp_path)
    check(seq((5, 4, 2), L.Conv2D(3, 2), L.Activation(act)), tmp_path)     # in a conv region (NCHW)


@pytest.mark.parametrize("opset", [17, 18, 21])
def test_opsets(opset, tmp_path):
    model = seq((6, 6, 3), L.Conv2D(4, 3), L.GlobalAveragePooling2D(), L.LayerNormalization(), L.Dense(2))
    proto = check(model, tmp_path, opset=opset)
    assert proto.opset_import[0].version == opset


def test_conv_region_has_two_transposes(tmp_path):
    """Conv -> BN -> ReLU -> Conv -> Add -> Pool stays channels-first: one Transpose in, one out."""
    x = L.Input(shape=(8, 8, 3))
    a = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(4, 3, padding="same")(x)))
    b = L.Conv2D(4, 3, padding="same")(a)
    y = L.MaxPooling2D()(L.Add()([a, b]))
    model = fusednet.Model(x, y)
    _randomize_bn(model, np.random.default_rng(0))
    proto = check(model, tmp_path)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("Transpose") == 2 and "BatchNormalization" not in ops
    assert ops.count("Conv") == 2


def test_functional_dag_shared_nested_multi_io(tmp_path):
    a, b = L.Input(shape=(6,), name="a"), L.Input(shape=(6,), name="b")
    shared = L.Dense(5, activation="relu")
    inner = fusednet.Sequential([L.Input(shape=(5,)), L.Dense(4), L.Dense(3, activation="sigmoid")])
    ha, hb = shared(a), shared(b)
    merged = [L.Add()([ha, hb]), L.Subtract()([ha, hb]), L.Multiply()([ha, hb]), L.Average()([ha, hb]),
              L.Maximum()([ha, hb]), L.Minimum()([ha, hb])]
    cat = L.Concatenate()(merged)
    out1 = L.Dense(2, name="head1")(cat)
    out2 = inner(ha)
    model = fusednet.Model([a, b], [out1, out2])
    proto = check(model, tmp_path)
    assert [i.name for i in proto.graph.input] == ["a", "b"]
    assert len(proto.graph.output) == 2
    kernels = [i.name for i in proto.graph.initializer if "kernel" in i.name]
    assert len(kernels) == 4            # the shared Dense's kernel once, not per call


def test_concatenate_channels_in_conv_region(tmp_path):
    x = L.Input(shape=(6, 6, 2))
    c = L.Concatenate()([L.Conv2D(3, 1)(x), L.Conv2D(2, 1)(x)])
    model = fusednet.Model(x, L.Conv2D(2, 3)(c))
    check(model, tmp_path)


def test_dynamic_batch_false(tmp_path):
    model = seq((4,), L.Dense(2))
    proto = to_onnx_model(model, dynamic_batch=False)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    proto = to_onnx_model(model)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_model_export_and_io_function(tmp_path):
    model = seq((5,), L.Dense(3, activation="softmax"))
    assert model.export(str(tmp_path / "a.onnx"), format="onnx") == str(tmp_path / "a.onnx")
    assert fusednet.io.export_onnx(model, tmp_path / "b.onnx", opset=18).endswith("b.onnx")
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    s = ort.InferenceSession(str(tmp_path / "a.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(s.run(None, {s.get_inputs()[0].name: x})[0], model.predict(x, verbose=0),
                               *TOL["onnx"])
    with pytest.raises(ValueError, match="tf_saved_model"):
        model.export(str(tmp_path / "c"), format="tf_saved_model")
    assert not list(tmp_path.glob(".*tmp"))   # atomic write leaves no temp files


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="not built"):
        export_onnx(fusednet.Sequential([L.Dense(3)]), tmp_path / "x.onnx")
    model = seq((4,), L.Dense(2))
    for bad in (12, 22, "17", True):
        with pytest.raises(ValueError, match="opset"):
            export_onnx(model, tmp_path / "x.onnx", opset=bad)
    with pytest.raises(ValueError, match="Lambda"):
        export_onnx(seq((4,), L.Lambda(lambda t: t * 2)), tmp_path / "x.onnx")

    class Twice(L.Layer):
        def call(self, x):
            return x * 2

        def compute_output_shape(self, s):
            return s
    with pytest.raises(ValueError, match=r"no ONNX converter for layer '.*' \(Twice\)"):
        export_onnx(seq((4,), Twice()), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_register_converter_custom_layer(tmp_path):
    class Scale(L.Layer):
        def __init__(self, factor, **kw):
            super().__init__(**kw)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def compute_output_shape(self, s):
            return s

    @register_converter(Scale)
    def _scale(ctx, layer, inputs):
        assert ctx.opset == 17
        c = ctx.initializer(np.float32(layer.factor), ctx.unique("factor"))
        return ctx.node("Mul", [inputs[0], c])

    check(seq((5,), L.Dense(4), Scale(3.0)), tmp_path)
    with pytest.raises(TypeError):
        register_converter("Scale")


# ------------------------------------------------------------------------------------ example models
def _example(name):
    return runpy.run_path(str(ROOT / "examples" / name), run_name="example")


def test_demo_mlp(tmp_path):
    from fusednet import demo
    check(demo.build_model(64, 10), tmp_path)


@pytest.mark.parametrize("name", ["cnn_mnist.py", "cnn_bn_mnist.py", "cnn3_mnist.py"])
def test_example_cnn(name, tmp_path):
    model = _example(name)["build_model"]()
    _randomize_bn(model, np.random.default_rng(1))
    check(model, tmp_path, batches=(1, 3))


def test_resnet18(tmp_path):
    from fusednet.applications import ResNet18
    model = ResNet18(weights=None, input_shape=(32, 32, 3), classes=10)
    _randomize_bn(model, np.random.default_rng(2))
    check(model, tmp_path, tol="onnx", batches=(1, 2))


def test_mobilenet_v2(tmp_path):
    from fusednet.applications import MobileNetV2
    model = MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10)
    _randomize_bn(model, np.random.default_rng(4))
    check(model, tmp_path, tol="onnx", batches=(1, 2))


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


def _nonzero_biases(model, rng):
    for layer in _all_layers(model):
        for w in layer.weights:
            if "bias" in w.name:
                w.assign(rng.normal(0, 0.5, w.shape).astype(np.float32))


@pytest.mark.parametrize("case", sorted(RNN_CASES))
def test_recurrent(case, tmp_path):
    model = RNN_CASES[case]()
    _nonzero_biases(model, np.random.default_rng(5))
    check(model, tmp_path)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_embedding(dtype, tmp_path):
    model = fusednet.Sequential([L.Input(shape=(6,), dtype=dtype), L.Embedding(5, 3), L.Flatten(), L.Dense(2)])
    check(model, tmp_path)


def test_char_lstm_example(tmp_path):
    model = _example("char_lstm.py")["build_model"](vocab=11, embed_dim=8, units=16)
    check(model, tmp_path, batches=(1, 3))


# ------------------------------------------------------------------------------------ attention
def _mha_model(causal, has_key, has_mask, kd=3):
    q, v = L.Input(shape=(5, 6), name="q"), L.Input(shape=(4 if not causal else 5, 7), name="v")
    ins, args = [q, v], [q, v]
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
    _nonzero_biases(model, np.random.default_rng(6))
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


def test_gpt_mini_example(tmp_path):
    model = _example("gpt_mini.py")["build_model"](vocab=13, context=8, n_layers=2, n_heads=2, d_model=16)
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


def test_resizing_bicubic_refused(tmp_path):
    with pytest.raises(ValueError, match="bicubic"):
        export_onnx(seq((9, 8, 2), L.Resizing(4, 4, interpolation="bicubic")), tmp_path / "x.onnx")


def test_missing_onnx_package_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)       # "import onnx" now raises ImportError
    with pytest.raises(ImportError, match=r"fusednet\[onnx\]"):
        export_onnx(seq((4,), L.Dense(2)), tmp_path / "x.onnx")
