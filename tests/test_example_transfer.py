"""examples/transfer_learning.py (seed 003) end to end on tiny settings: class folders written
from MNIST digits, a ResNet50 pretrained and saved, transferred with its base frozen, the 5x5
prediction grid written."""
import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "mnist"


@pytest.mark.skipif(not (SHARED / "t10k-images-idx3-ubyte.gz").exists(), reason="shared MNIST test set not found")
def test_transfer_learning_example_runs(tmp_path):
    pytest.importorskip("PIL")
    spec = importlib.util.spec_from_file_location("transfer_learning", ROOT / "examples" / "transfer_learning.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    acc_transfer, acc_random = mod.main(["--data", str(SHARED), "--out", str(tmp_path), "--per-class", "16",
                                         "--transfer-per-class", "8", "--pretrain-epochs", "1", "--epochs", "1"])
    assert 0.0 <= acc_random <= 1.0 and 0.0 <= acc_transfer <= 1.0
    grid = tmp_path / "predictions_5x5.png"
    from PIL import Image
    assert Image.open(grid).size == (5 * 4 * 32, 5 * (4 * 32 + 14))
    assert (tmp_path / "resnet50_digits0-7_notop.weights.safetensors").stat().st_size > 90e6
