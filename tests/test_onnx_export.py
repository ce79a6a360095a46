"""ONNX export (issue 13): every converter runs in onnxruntime and matches ``model.predict``.

Core layers, layout handling, the walker, the registry, errors and the example models (demo MLP,
MNIST CNNs, ResNet18, MobileNetV2). Each model is exported with ``dynamic_batch=True`` (the
checker runs inside the exporter) and run at batch 1 and a prime batch; BatchNormalization layers
get random statistics so a wrong fold shows. Sequence/attention/reshaping layers:
tests/test_onnx_export_seq.py. Helpers: tests/onnx_check.py.
"""
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import fusednet  # noqa: E402
from fusednet import layers as L  # noqa: E402
from fusednet.io.onnx import export_onnx, register_converter, to_onnx_model  # noqa: E402
from onnx_check import check, seq, randomize_bn, example  # noqa: E402
from tolerances import TOL  # noqa: E402

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
    randomize_bn(model, np.random.default_rng(3))
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
    randomize_bn(model, np.random.default_rng(0))
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

def test_demo_mlp(tmp_path):
    from fusednet import demo
    check(demo.build_model(64, 10), tmp_path)


@pytest.mark.parametrize("name", ["cnn_mnist.py", "cnn_bn_mnist.py", "cnn3_mnist.py"])
def test_example_cnn(name, tmp_path):
    model = example(name)["build_model"]()
    randomize_bn(model, np.random.default_rng(1))
    check(model, tmp_path, batches=(1, 3))


def test_resnet18(tmp_path):
    from fusednet.applications import ResNet18
    model = ResNet18(weights=None, input_shape=(32, 32, 3), classes=10)
    randomize_bn(model, np.random.default_rng(2))
    check(model, tmp_path, tol="onnx", batches=(1, 2))


def test_mobilenet_v2(tmp_path):
    from fusednet.applications import MobileNetV2
    model = MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10)
    randomize_bn(model, np.random.default_rng(4))
    check(model, tmp_path, tol="onnx", batches=(1, 2))


def test_resizing_bicubic_refused(tmp_path):
    with pytest.raises(ValueError, match="bicubic"):
        export_onnx(seq((9, 8, 2), L.Resizing(4, 4, interpolation="bicubic")), tmp_path / "x.onnx")
    for interp in ("area", "lanczos3"):
        with pytest.raises(ValueError, match=interp):
            export_onnx(seq((9, 8, 2), L.Resizing(4, 4, interpolation=interp)), tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="antialias=True is not exported"):
        export_onnx(seq((9, 8, 2), L.Resizing(4, 4, antialias=True)), tmp_path / "x.onnx")


def test_missing_onnx_package_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)       # "import onnx" now raises ImportError
    with pytest.raises(ImportError, match=r"fusednet\[onnx\]"):
        export_onnx(seq((4,), L.Dense(2)), tmp_path / "x.onnx")


# layers that deliberately have no converter (each raises a clear ValueError at export)
# RNN(cell) with a built-in cell is the native SimpleRNN/LSTM/GRU (converted); with a user cell it
# is arbitrary Python per step, like Lambda. Cells only run inside an RNN.
NO_CONVERTER = {"Lambda", "TextVectorization", "Layer", "InputLayer", "RNN", "SimpleRNNCell", "LSTMCell",
                "GRUCell", "StackedRNNCells"}


def test_every_layer_class_has_a_converter():
    """Every public layer class is covered (a new layer without a converter fails here)."""
    from fusednet.io.onnx import get_converter
    from fusednet.io.onnx._registry import _CONVERTERS
    missing = []
    for name in L.__all__:
        cls = getattr(L, name)
        if not isinstance(cls, type) or not issubclass(cls, L.Layer) or cls.__name__ in NO_CONVERTER:
            continue
        if not any(c in _CONVERTERS for c in cls.__mro__):
            missing.append(name)
    assert not missing, f"no ONNX converter for {missing}"
    assert get_converter(L.Dense(2)) is not None


def test_nested_functional_shared_conv_dict_outputs(tmp_path):
    x = L.Input(shape=(6, 6, 3))
    conv = L.Conv2D(3, 3, padding="same")
    inner = fusednet.Model(x, L.GlobalAveragePooling2D()(conv(conv(x))))     # a conv called twice
    z = L.Input(shape=(6, 6, 3), name="img")
    h = inner(z)
    model = fusednet.Model(z, {"a": L.Dense(2)(h), "b": L.Dense(1, activation="sigmoid")(h)})
    proto = check(model, tmp_path)
    assert [o.name for o in proto.graph.output] == ["a", "b"]


def test_sequential_built_without_input_and_nested_sequential(tmp_path):
    model = fusednet.Sequential([L.Conv2DTranspose(2, 3, strides=2), L.Flatten(), L.Dense(3)])
    model.build((None, 4, 4, 2))
    check(model, tmp_path)
    model = fusednet.Sequential([L.Input(shape=(5,)), fusednet.Sequential([L.Dense(4), L.Dense(3)]), L.Dense(2)])
    check(model, tmp_path)
