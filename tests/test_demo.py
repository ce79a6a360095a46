"""Smoke tests: the demo and the examples run end to end with tiny epoch counts and learn."""
import runpy
from pathlib import Path

import numpy as np
import pytest

import fusednet

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "mnist"
HAVE_MNIST = (SHARED / "t10k-images-idx3-ubyte.gz").is_file()
HAVE_API = hasattr(fusednet, "Sequential")
pytestmark = pytest.mark.skipif(not HAVE_API, reason="fusednet.Sequential not available")

try:
    import sklearn  # noqa: F401
    HAVE_SK = True
except Exception:  # pragma: no cover
    HAVE_SK = False


def example(name):
    return runpy.run_path(str(ROOT / "examples" / name), run_name="example")


def test_demo_digits_or_synthetic(capsys):
    from fusednet import demo
    acc = demo.main(["--epochs", "3", "--verbose", "0"])
    out = capsys.readouterr().out
    assert "test accuracy:" in out and "training time:" in out
    assert ("digits" in out) if HAVE_SK else ("synthetic" in out)
    assert acc > 0.8


def test_demo_synthetic_fallback(monkeypatch, capsys):
    import sys
    from fusednet import demo
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn -> ImportError
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    acc = demo.main(["--epochs", "2", "--verbose", "0"])
    assert "synthetic" in capsys.readouterr().out and acc > 0.8


@pytest.mark.skipif(not HAVE_MNIST, reason="shared MNIST test set not found")
def test_demo_mnist_split(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FUSEDNET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FUSEDNET_MNIST_URL", "http://127.0.0.1:9/")
    from fusednet import demo
    acc = demo.main(["--dataset", "mnist", "--data", str(SHARED), "--epochs", "1", "--limit", "2000",
                     "--verbose", "0"])
    out = capsys.readouterr().out
    assert "first 8,000 train / last 2,000 test" in out and "2000 samples" in out
    assert acc > 0.8


@pytest.mark.skipif(not HAVE_MNIST, reason="shared MNIST test set not found")
def test_example_mlp_mnist(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FUSEDNET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FUSEDNET_MNIST_URL", "http://127.0.0.1:9/")
    acc = example("mlp_mnist.py")["main"](["--data", str(SHARED), "--epochs", "1", "--limit", "3000",
                                           "--verbose", "0"])
    assert "test accuracy:" in capsys.readouterr().out
    assert acc > 0.8


@pytest.mark.parametrize("task", ["cancer", "mnist0"])
def test_example_binary_classifier(task, capsys):
    if task == "cancer" and not HAVE_SK:
        pytest.skip("scikit-learn not installed")
    if task == "mnist0" and not HAVE_MNIST:
        pytest.skip("shared MNIST test set not found")
    res = example("binary_classifier.py")["main"](["--task", task, "--data", str(SHARED), "--epochs", "2",
                                                   "--limit", "2000"])
    assert res["accuracy"] > 0.85 and res["auc"] > 0.9
    assert "test accuracy:" in capsys.readouterr().out


def test_demo_missing_mnist_is_a_clean_error(tmp_path, capsys):
    from fusednet import demo
    with pytest.raises(SystemExit) as e:
        demo.main(["--dataset", "mnist", "--data", str(tmp_path / "missing")])
    assert e.value.code == 2
    assert "cannot load the mnist dataset" in capsys.readouterr().err


@pytest.mark.skipif(not HAVE_MNIST, reason="shared MNIST test set not found")
@pytest.mark.parametrize("name,epochs,limit,floor", [("cnn_mnist.py", 1, 1024, 0.6), ("cnn3_mnist.py", 2, 2048, 0.5),
                                                     ("cnn_bn_mnist.py", 12, 1024, 0.5)])
def test_example_cnns(name, epochs, limit, floor, capsys):
    """The seed CNN programs run end to end on a slice of the split (1 epoch) and learn something
    (full runs: 98.5% / 97.6%; see README). Chance is 10%; BatchNormalization's moving statistics
    (momentum 0.99) need a few hundred steps before inference is meaningful (Keras alike), hence the longer run."""
    import sys
    sys.path.insert(0, str(ROOT / "examples"))  # cnn3/cnn_bn import DEFAULT_DATA from cnn_mnist
    try:
        acc = example(name)["main"](["--data", str(SHARED), "--epochs", str(epochs), "--limit", str(limit)])
    finally:
        sys.path.remove(str(ROOT / "examples"))
    assert "test accuracy" in capsys.readouterr().out
    assert acc > floor
