"""Shared helpers of the ONNX export tests: export, run in onnxruntime, compare with predict."""
import runpy
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

import fusednet
from fusednet import layers as L
from fusednet.io.onnx import export_onnx
from tolerances import TOL

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))      # examples import each other (cnn_bn_mnist -> cnn_mnist)
BATCHES = (1, 7)


def randomize_bn(model, rng):
    """Non-trivial BN statistics (fresh ones are mean 0 / var 1: a missed fold would pass)."""
    for layer in all_layers(model):
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


def all_layers(model):
    for layer in model.layers:
        if isinstance(layer, fusednet.Model):
            yield from all_layers(layer)
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



def nonzero_biases(model, rng):
    """Random biases (fresh ones are zeros: a misplaced bias would pass)."""
    for layer in all_layers(model):
        for w in layer.weights:
            if "bias" in w.name:
                w.assign(rng.normal(0, 0.5, w.shape).astype(np.float32))


def example(name):
    """The globals of examples/<name> (its build_model)."""
    return runpy.run_path(str(ROOT / "examples" / name), run_name="example")
