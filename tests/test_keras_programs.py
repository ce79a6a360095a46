"""Keras user programs, written in the style of the official Keras guides (functional API,
training & evaluation, customizing fit, writing layers/callbacks, sequential model, VAE), run
with ``import fusednet as keras`` and checked to finish (each asserts its own outcome and prints
OK). They guard the Keras surface as a whole: a regression in any part of it fails one here."""
import contextlib
import io
import pathlib
import runpy

import pytest

HERE = pathlib.Path(__file__).resolve().parent / "keras_programs"
SHARED = HERE.parents[2] / "shared" / "data" / "mnist"
PROGRAMS = sorted(p.name for p in HERE.glob("p*.py"))


@pytest.mark.parametrize("name", PROGRAMS)
def test_keras_program_runs_unchanged(name, tmp_path, monkeypatch):
    if name == "p10_vae.py" and not (SHARED / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("shared MNIST test set not found")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(str(HERE / name), run_name="__main__")
    assert out.getvalue().rstrip().endswith("OK"), out.getvalue()[-2000:]
