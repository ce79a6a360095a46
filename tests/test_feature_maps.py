"""Intermediate layer outputs (fusednet.inspect.feature_maps / Model.intermediate) and smoke runs
of the plotting examples (examples/feature_maps.py, examples/cnn_confusion.py; skipped without
matplotlib or the MNIST files)."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import fusednet as fn
from fusednet import _C
from fusednet import inspect as fi
from fusednet import layers as L
from tolerances import TOL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data", "mnist")
HAVE_MPL = importlib.util.find_spec("matplotlib") is not None
HAVE_DATA = os.path.isdir(DATA) and any(f.startswith("t10k-images") for f in os.listdir(DATA))
# the example subprocesses import the same fusednet this process tested (installed or source tree)
PKG_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fn.__file__)))


def _cnn():
    fn.random.seed(1)
    L.clear_session()
    return fn.Sequential([L.Input((10, 10, 1)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(),
                          L.Dropout(0.5), L.Flatten(), L.Dense(3, activation="softmax")])


def test_feature_maps_match_direct_kernels(rng):
    m = _cnn()
    x = rng.standard_normal((37, 10, 10, 1)).astype(np.float32)
    conv = m.get_layer("conv2d")
    ref = np.asarray(_C.conv2d_forward(_C.asarray(x), conv.kernel.data, conv.bias.data, (1, 1), "valid", (1, 1),
                                       "relu"))
    got = fi.feature_maps(m, x, "conv2d", batch_size=8)
    assert got.shape == (37, 8, 8, 4)
    np.testing.assert_allclose(got, ref, *TOL["conv"])
    both = m.intermediate(x, ["max_pooling2d", "dropout", "dense"])
    assert set(both) == {"max_pooling2d", "dropout", "dense"}
    np.testing.assert_array_equal(both["dropout"], both["max_pooling2d"])   # inference: identity
    np.testing.assert_allclose(both["dense"], m.predict(x, verbose=0), *TOL["conv"])
    allmaps = fi.feature_maps(m, x[:2])
    assert list(allmaps) == [l.name for l in m.layers]


def test_feature_maps_functional_and_tape_models(rng):
    L.clear_session()
    inp = fn.Input((6, 6, 2))
    h = L.Conv2D(3, 3, name="c1")(inp)
    out = L.Dense(2)(L.Flatten()(h))
    m = fn.Model(inp, out)
    x = rng.standard_normal((5, 6, 6, 2)).astype(np.float32)
    got = m.intermediate(x, "c1")
    ref = np.asarray(_C.conv2d_forward(_C.asarray(x), m.get_layer("c1").kernel.data, m.get_layer("c1").bias.data))
    np.testing.assert_allclose(got, ref, *TOL["conv"])


def test_feature_maps_errors(rng):
    m = _cnn()
    with pytest.raises(ValueError, match="has no layer named 'nope'; layers: conv2d, max_pooling2d"):
        fi.feature_maps(m, np.zeros((1, 10, 10, 1), np.float32), "nope")
    with pytest.raises(ValueError, match="incompatible"):
        fi.feature_maps(m, np.zeros((1, 9, 10, 1), np.float32), "conv2d")


def _run_example(name, tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=PKG_PARENT)
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), "--data", DATA,
                           "--out", str(tmp_path), *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.skipif(not HAVE_MPL, reason="matplotlib (the 'plot' extra) not installed")
@pytest.mark.skipif(not HAVE_DATA, reason="MNIST files not found in ../shared/data/mnist")
def test_feature_maps_example_writes_png(tmp_path):
    r = _run_example("feature_maps.py", tmp_path, "--epochs", "1", "--limit", "64")
    assert r.returncode == 0, r.stderr
    pngs = list(tmp_path.glob("*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not HAVE_MPL, reason="matplotlib (the 'plot' extra) not installed")
@pytest.mark.skipif(not HAVE_DATA, reason="MNIST files not found in ../shared/data/mnist")
def test_cnn_confusion_example_writes_pngs(tmp_path):
    r = _run_example("cnn_confusion.py", tmp_path, "--epochs", "2", "--limit", "96")
    assert r.returncode == 0, r.stderr
    assert "test accuracy" in r.stdout
    for f in ("confusion_matrix.png", "training_curves.png"):
        assert (tmp_path / f).read_bytes()[:4] == b"\x89PNG"


def test_examples_exit_cleanly_without_matplotlib(tmp_path):
    # a stub that makes `import matplotlib` fail, whatever is installed
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "matplotlib.py").write_text("raise ImportError('no matplotlib (test stub)')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(stub), PKG_PARENT]))
    for name in ("feature_maps.py", "cnn_confusion.py"):
        r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), "--out", str(tmp_path / "o")],
                           capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        assert "matplotlib is not installed" in r.stdout
