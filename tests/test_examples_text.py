"""The text-generation examples (examples/char_lstm.py, examples/gpt_mini.py) on a slice of
tinyshakespeare, and the PyTorch twins of bench/bench_seq.py (weight conversion, same steps)."""
import sys
from pathlib import Path

import numpy as np
import pytest

import fusednet
from tolerances import TOL

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
import char_lstm  # noqa: E402
import gpt_mini  # noqa: E402

DATA = Path(char_lstm.DEFAULT_DATA)
needs_text = pytest.mark.skipif(not DATA.is_file(), reason=f"{DATA} not present")


@needs_text
def test_char_lstm_learns_and_samples(capsys):
    r = char_lstm.main(["--limit", "30000", "--seq-len", "23", "--units", "32", "--embed-dim", "16",
                        "--batch-size", "16", "--epochs", "3", "--steps", "12", "--val-steps", "3",
                        "--lr", "1e-2", "--sample-len", "37", "--verbose", "0"])
    assert r["loss"][-1] < r["loss"][0] - 0.2
    assert r["val_loss"][-1] < r["val_loss"][0]
    assert len(r["sample"]) == 37 and set(r["sample"]) <= set(r["chars"])
    out = capsys.readouterr().out
    assert "loss curve" in out and "sample" in out


def test_char_lstm_stepwise_state_matches_full_sequence():
    """Greedy generation on the carried (h, c) state picks what the whole model picks when
    re-run on the growing text."""
    fusednet.random.set_random_seed(3)
    chars = list("abcdefg")
    model = char_lstm.build_model(len(chars), None, embed_dim=5, units=7)
    text = char_lstm.generate(model, chars, "abc", 11, temperature=0.0)
    ids = np.array([[chars.index(c) for c in "abc" + text]], np.int64)
    logits = model.predict(ids, verbose=0)[0]
    assert "".join(chars[i] for i in logits[2:-1].argmax(-1)) == text


def test_char_lstm_windows():
    (x, y), (xv, yv) = char_lstm.split_windows(np.arange(1000) % 7, 13)
    assert x.shape == (69, 13) and xv.shape == (7, 13)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    np.testing.assert_array_equal(y[:-1, -1], x[1:, 0])
    with pytest.raises(ValueError, match="char_lstm: 5 characters"):
        char_lstm.split_windows(np.arange(50), 10)


@needs_text
def test_gpt_mini_learns_and_samples(capsys):
    r = gpt_mini.main(["--limit", "30000", "--context", "16", "--d-model", "32", "--layers", "2", "--heads", "4",
                       "--batch-size", "16", "--epochs", "3", "--steps", "10", "--val-batches", "2", "--lr", "3e-3",
                       "--sample-len", "23", "--verbose", "0"])
    assert r["loss"][-1] < r["loss"][0] - 0.2
    assert r["val_loss"][-1] < r["val_loss"][0]
    assert len(r["sample"]) == 23 and set(r["sample"]) <= set(r["chars"])
    assert "loss curve" in capsys.readouterr().out


def test_gpt_mini_causal_padding_is_invisible():
    """generate() right-pads the context: positions before the padding must not see it."""
    fusednet.random.set_random_seed(5)
    model = gpt_mini.build_model(11, context=13, n_layers=2, n_heads=2, d_model=8)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 11, (2, 13))
    b = a.copy()
    b[:, 7:] = rng.integers(0, 11, (2, 6))
    ya, yb = model.predict(a, verbose=0), model.predict(b, verbose=0)
    np.testing.assert_allclose(ya[:, :7], yb[:, :7], *TOL["torch"])
    assert np.abs(ya[:, 7:] - yb[:, 7:]).max() > 1e-3


def test_gpt_mini_rejects_bad_width():
    with pytest.raises(ValueError, match="gpt_mini: d_model 30 is not a multiple of n_heads 4"):
        gpt_mini.build_model(10, 16, 1, 4, 30)


# ---------------------------------------------------------------- PyTorch twins (bench_seq.py)
torch = pytest.importorskip("torch")
sys.path.insert(0, str(ROOT / "bench"))
import bench_seq  # noqa: E402


def _twin_run(fm, tm, topt, x, y, B):
    bench_seq.train_twins(fm, tm, topt, x, y, B, chunk=2, clock=lambda: 0.0)


def test_char_lstm_twin_tracks_fusednet():
    V, T, B = 13, 9, 5
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, V, (4 * B, T)), rng.integers(0, V, (4 * B, T))
    fusednet.random.set_random_seed(0)
    fm = char_lstm.build_model(V, T, 6, 11)
    fm.compile(optimizer=fusednet.optimizers.Adam(1e-2),
               loss=fusednet.losses.SparseCategoricalCrossentropy(from_logits=True))
    tm = bench_seq.TorchCharLSTM(V, 6, 11)
    tm.copy_from(fm)
    assert bench_seq.torch_loss(tm, x, y, B) == pytest.approx(fm.evaluate(x, y, batch_size=B, verbose=0),
                                                              rel=TOL["torch"][0])
    topt = torch.optim.Adam([p for p in tm.parameters() if p.requires_grad], lr=1e-2)
    _twin_run(fm, tm, topt, x, y, B)
    k, r, b = fm.get_layer("lstm").get_weights()
    np.testing.assert_allclose(tm.lstm.weight_ih_l0.detach().numpy(), k.T, *TOL["torch"])
    np.testing.assert_allclose(tm.lstm.weight_hh_l0.detach().numpy(), r.T, *TOL["torch"])
    np.testing.assert_allclose(tm.lstm.bias_ih_l0.detach().numpy(), b, *TOL["torch"])
    np.testing.assert_allclose(tm.emb.weight.detach().numpy(), fm.get_layer("embedding").get_weights()[0],
                               *TOL["torch"])
    assert bench_seq.torch_loss(tm, x, y, B) == pytest.approx(fm.evaluate(x, y, batch_size=B, verbose=0),
                                                              rel=TOL["torch"][0])


def test_gpt_mini_twin_tracks_fusednet():
    V, T, B = 17, 7, 3
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, V, (4 * B, T)), rng.integers(0, V, (4 * B, T))
    fusednet.random.set_random_seed(0)
    fm = gpt_mini.build_model(V, T, n_layers=2, n_heads=2, d_model=10)
    fm.compile(optimizer=fusednet.optimizers.AdamW(3e-3, weight_decay=0.1),
               loss=fusednet.losses.SparseCategoricalCrossentropy(from_logits=True))
    tm = bench_seq.TorchGPT(V, T, 2, 2, 10)
    tm.copy_from(fm)
    with torch.no_grad():
        np.testing.assert_allclose(tm(torch.from_numpy(x)).numpy(), fm.predict(x, verbose=0), *TOL["torch"])
    topt = torch.optim.AdamW(tm.parameters(), lr=3e-3, weight_decay=0.1)
    _twin_run(fm, tm, topt, x, y, B)
    w = fm.get_layer("b1_attn").get_weights()
    np.testing.assert_allclose(tm.blocks[1].q.weight.detach().numpy(), w[0].reshape(10, -1).T, *TOL["torch"])
    np.testing.assert_allclose(tm.blocks[1].o.weight.detach().numpy(), w[6].reshape(-1, 10).T, *TOL["torch"])
    np.testing.assert_allclose(tm.pos.detach().numpy(), fm.get_layer("emb").get_weights()[1], *TOL["torch"])
    with torch.no_grad():
        np.testing.assert_allclose(tm(torch.from_numpy(x)).numpy(), fm.predict(x, verbose=0), *TOL["torch"])
