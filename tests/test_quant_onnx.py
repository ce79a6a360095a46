"""ONNX QDQ export of quantized models (fusednet.quantization.onnx_qdq), checked in onnxruntime
against the quantized model's predict; skips without onnx / onnxruntime / fusednet.io.onnx."""
import platform

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("fusednet.io.onnx")

import fusednet as fn  # noqa: E402
from fusednet import layers as L, quantization as Q  # noqa: E402
from fusednet.io.onnx import export_onnx  # noqa: E402
from tolerances import TOL  # noqa: E402


def _x86_without_vnni():
    """onnxruntime's default-level u8 x s8 kernels on x86 without VNNI (AVX2 vpmaddubsw) add
    product pairs in saturating int16: full-range int8 weights can overflow there."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return True
    return not any(f in flags.split() for f in ("avx512_vnni", "avx_vnni"))


def _models():
    fn.random.set_random_seed(0)
    mlp = fn.Sequential([L.Input((40,)), L.Dense(32, activation="relu"), L.Dense(24, activation="tanh"),
                         L.Dense(6)])
    cnn = fn.Sequential([L.Input((12, 12, 3)), L.Conv2D(8, 3, padding="same"), L.BatchNormalization(), L.ReLU(),
                         L.MaxPooling2D(), L.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
                         L.Conv2D(16, 3, dilation_rate=1), L.Flatten(), L.Dense(20, activation="relu"), L.Dense(5)])
    rng = np.random.default_rng(1)
    cnn.layers[1].set_weights([rng.uniform(0.5, 2, 8), rng.standard_normal(8), rng.standard_normal(8) * 0.3,
                               rng.uniform(0.2, 3, 8)])
    return {"mlp": (mlp, (40,)), "cnn": (cnn, (12, 12, 3))}


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("mode", ["static", "dynamic"])
@pytest.mark.parametrize("reduce_range", [False, True])
def test_qdq_export_matches_predict_in_onnxruntime(arch, mode, reduce_range, tmp_path):
    model, shape = _models()[arch]
    rng = np.random.default_rng(2)
    calib = rng.standard_normal((64,) + shape).astype(np.float32)
    q = Q.quantize(model, calib if mode == "static" else None, mode=mode, reduce_range=reduce_range)
    if reduce_range:
        assert all(np.abs(l.get_weights()[0]).max() <= 63 for l in q.layers
                   if isinstance(l, (Q.QuantizedDense, Q.QuantizedConv2D)))
    path = export_onnx(q, tmp_path / "q.onnx", opset=17)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    n_q = sum(isinstance(l, (Q.QuantizedDense, Q.QuantizedConv2D)) for l in q.layers)
    assert ops.count("DequantizeLinear") == n_q * (2 if mode == "static" else 1)
    assert ops.count("QuantizeLinear") == (n_q if mode == "static" else 0)
    int8 = [i for i in m.graph.initializer if i.data_type == onnx.TensorProto.INT8 and len(i.dims) >= 2]
    assert len(int8) == n_q          # the kernels are stored as int8
    # ORT_ENABLE_BASIC evaluates the QDQ graph as written; the default (extended) level fuses
    # DequantizeLinear(int8 weights) + MatMul into MatMulNBits, which requantizes the activations
    # its own way (measured ~1 step in dynamic mode): both must stay within a few steps.
    basic = ort.SessionOptions()
    basic.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    sessions = {"basic": ort.InferenceSession(path, basic, providers=["CPUExecutionProvider"])}
    # static full-range weights at the default level: exact only where onnxruntime's int8 GEMM
    # cannot saturate (docs/QUANTIZATION.md "ONNX export"); reduce_range makes it exact anywhere
    if reduce_range or mode == "dynamic" or not _x86_without_vnni():
        sessions["default"] = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for b in (1, 7):
        x = rng.standard_normal((b,) + shape).astype(np.float32)
        want = q.predict(x, verbose=0)
        step = (want.max() - want.min()) / 255.0
        for kind, sess in sessions.items():
            got, = sess.run(None, {sess.get_inputs()[0].name: x})
            assert got.shape == want.shape
            e = np.abs(got - want)
            if kind == "basic" and mode == "dynamic":
                assert e.max() <= 0.01 * TOL["onnx_qdq_steps"] * step, (kind, e.max(), step)
            else:
                # static requantizes every layer's input with a fixed scale: a value that lies on a
                # rounding tie in one summation order and not the other (our int32 GEMM vs
                # onnxruntime's float DequantizeLinear -> MatMul) moves one input step, so a few
                # outputs may move a few output steps; most stay exact
                assert e.max() <= TOL["onnx_qdq_steps"] * step, (kind, e.max(), step)
                if kind == "basic":
                    assert np.median(e) <= 0.01 * TOL["onnx_qdq_steps"] * step, (kind, np.median(e), step)
        # and the int8 model is still a good approximation of the float one
        assert np.abs(want - model.predict(x, verbose=0)).max() < 0.1 * max(np.abs(want).max(), 1e-3)
