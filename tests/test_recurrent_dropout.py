"""recurrent_dropout (issue 12) for SimpleRNN / LSTM / GRU: per-gate masks on h_{t-1} fixed over
the steps (Keras 3), applied natively inside the recurrent products. Checked against real Keras 3
with the same masks injected, against a float64 NumPy reference (forward) and its central finite
differences (backward, masks fixed); mask statistics, determinism with a seed, inference unchanged,
error paths."""
import os

import numpy as np
import pytest

import fusednet
from fusednet import _C
from fusednet.layers import GRU, LSTM, SimpleRNN
from fusednet.layers.base import Context
from tolerances import TOL

KINDS = [("simple_rnn", 1, True), ("lstm", 4, True), ("gru", 3, True), ("gru", 3, False)]


def _sig(v):
    return 1.0 / (1.0 + np.exp(-v))


def _ref(kind, x, W, R, b, D, reset_after=True, mask=None):
    """float64 Keras-3 maths with recurrent dropout masks D [G, B, U] (None: no dropout)."""
    B, T, _ = x.shape
    U = R.shape[0]
    h, c = np.zeros((B, U)), np.zeros((B, U))
    d = (lambda k: D[k]) if D is not None else (lambda k: 1.0)
    Rk = lambda k: R[:, k * U:(k + 1) * U]                     # noqa: E731
    ys = []
    for t in range(T):
        xt = x[:, t]
        if kind == "simple_rnn":
            hn, cn = np.tanh(xt @ W + b + (h * d(0)) @ R), c
        elif kind == "lstm":
            z = xt @ W + b + np.concatenate([(h * d(k)) @ Rk(k) for k in range(4)], 1)
            i, f, g, o = _sig(z[:, :U]), _sig(z[:, U:2 * U]), np.tanh(z[:, 2 * U:3 * U]), _sig(z[:, 3 * U:])
            cn = f * c + i * g
            hn = o * np.tanh(cn)
        else:
            if reset_after:
                xp = xt @ W + b[0]
                rz, rr, rh = [(h * d(k)) @ Rk(k) + b[1][k * U:(k + 1) * U] for k in range(3)]
                z, r = _sig(xp[:, :U] + rz), _sig(xp[:, U:2 * U] + rr)
                hh = np.tanh(xp[:, 2 * U:] + r * rh)
            else:
                xp = xt @ W + b
                z = _sig(xp[:, :U] + (h * d(0)) @ Rk(0))
                r = _sig(xp[:, U:2 * U] + (h * d(1)) @ Rk(1))
                hh = np.tanh(xp[:, 2 * U:] + (r * (h * d(2))) @ Rk(2))
            hn, cn = z * h + (1 - z) * hh, c
        if mask is not None:
            keep = mask[:, t:t + 1] != 0
            hn, cn = np.where(keep, hn, h), np.where(keep, cn, c)
        h, c = hn, cn
        ys.append(h)
    return np.stack(ys, 1)


def _masks(rng, G, B, U, rate):
    keep = rng.random((G, B, U)) >= rate
    return (keep / (1.0 - rate)).astype(np.float32)


def _case(rng, kind, G, reset_after, B=3, T=5, F=4, U=3):
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    W = (0.5 * rng.standard_normal((F, G * U))).astype(np.float32)
    R = (0.5 * rng.standard_normal((U, G * U))).astype(np.float32)
    bshape = (2, G * U) if kind == "gru" and reset_after else (G * U,)
    b = (0.1 * rng.standard_normal(bshape)).astype(np.float32)
    return x, W, R, b


def _arr(a):
    return _C.asarray(np.ascontiguousarray(a, np.float32))


@pytest.mark.parametrize("kind,G,reset_after", KINDS)
@pytest.mark.parametrize("with_mask,back", [(False, False), (True, False), (True, True)])
def test_kernel_forward_matches_float64_reference(kind, G, reset_after, with_mask, back):
    rng = np.random.default_rng(3)
    x, W, R, b = _case(rng, kind, G, reset_after, B=7, T=6, F=5, U=11)
    D = _masks(rng, G, 7, 11, 0.4)
    m = (rng.random((7, 6)) > 0.3).astype(np.float32) if with_mask else None
    y, _, _, _ = _C.rnn_forward(kind, _arr(x), _arr(W), _arr(R), _arr(b), None, None,
                                None if m is None else _arr(m), "tanh", "sigmoid", back, reset_after, True, False,
                                _arr(D))
    if back:                                         # go_backwards: the reversed sequence, processing order
        x, m = x[:, ::-1], m[:, ::-1]
    ref = _ref(kind, x.astype(np.float64), W.astype(np.float64), R.astype(np.float64), b.astype(np.float64),
               D.astype(np.float64), reset_after, m)
    np.testing.assert_allclose(y.numpy(), ref, *TOL["rnn"])
    plain = _ref(kind, x.astype(np.float64), W.astype(np.float64), R.astype(np.float64), b.astype(np.float64),
                 None, reset_after, m)
    assert np.abs(plain - ref).max() > 1e-2          # the masks change the result


@pytest.mark.parametrize("kind,G,reset_after", KINDS)
def test_kernel_backward_matches_finite_differences(kind, G, reset_after):
    rng = np.random.default_rng(4)
    B, T, F, U = 2, 4, 3, 3
    x, W, R, b = _case(rng, kind, G, reset_after, B, T, F, U)
    D = _masks(rng, G, B, U, 0.5)
    dy = rng.standard_normal((B, T, U)).astype(np.float32)
    y, h, c, ws = _C.rnn_forward(kind, _arr(x), _arr(W), _arr(R), _arr(b), None, None, None, "tanh", "sigmoid",
                                 False, reset_after, True, False, _arr(D))
    dx, dW, dR, db, _, _ = _C.rnn_backward(kind, _arr(dy), None, None, _arr(x), _arr(W), _arr(R), ws, True, None,
                                           None, "tanh", "sigmoid", False, reset_after, True, False, False,
                                           _arr(D))
    args = [a.astype(np.float64) for a in (x, W, R, b)]
    D64, dy64 = D.astype(np.float64), dy.astype(np.float64)

    def loss(vals):
        return float((_ref(kind, *vals, D64, reset_after) * dy64).sum())
    eps = 1e-6
    for idx, got in zip(range(4), (dx, dW, dR, db)):
        fd = np.zeros_like(args[idx])
        it = np.nditer(fd, flags=["multi_index"])
        for _ in it:
            k = it.multi_index
            vp = [a.copy() for a in args]
            vm = [a.copy() for a in args]
            vp[idx][k] += eps
            vm[idx][k] -= eps
            fd[k] = (loss(vp) - loss(vm)) / (2 * eps)
        np.testing.assert_allclose(got.numpy(), fd, *TOL["rec_dropout_fd"])


@pytest.mark.parametrize("cls,G", [(SimpleRNN, 1), (LSTM, 4), (GRU, 3)])
def test_mask_statistics_and_scale(cls, G):
    rate = 0.3
    layer = cls(64, recurrent_dropout=rate, seed=11)
    x = np.zeros((50, 2, 3), np.float32)
    layer(x)
    ctx = Context()
    layer._forward(ctx, _arr(x), True)
    d = ctx.rdrop.numpy()
    assert d.shape == (G, 50, 64)
    kept = d != 0
    np.testing.assert_allclose(d[kept], 1.0 / (1.0 - rate), rtol=1e-6)
    p, n = 1.0 - rate, d.size
    assert abs(kept.mean() - p) <= TOL["rec_dropout_sigmas"] * np.sqrt(p * (1 - p) / n)
    if G > 1:                                       # one independent mask per gate (Keras 3)
        assert (kept[0] != kept[1]).mean() > 0.2
    ctx2 = Context()
    layer._forward(ctx2, _arr(x), False)            # inference: no masks
    assert ctx2.rdrop is None


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_seeded_deterministic_and_inference_unchanged(cls):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    a, b, c, plain = (cls(5, recurrent_dropout=0.5, seed=7), cls(5, recurrent_dropout=0.5, seed=7),
                      cls(5, recurrent_dropout=0.5, seed=8), cls(5))
    for l in (a, b, c, plain):
        l(x)
    for l in (b, c, plain):
        l.set_weights(a.get_weights())
    ya, yb, yc = (l(x, training=True).numpy() for l in (a, b, c))
    np.testing.assert_array_equal(ya, yb)
    assert np.abs(ya - yc).max() > 1e-4
    np.testing.assert_array_equal(a(x, training=False).numpy(), plain(x, training=False).numpy())


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("real Keras is loaded with a non-torch backend")
    return keras


@pytest.mark.parametrize("name,G,reset_after", [("SimpleRNN", 1, True), ("LSTM", 4, True), ("GRU", 3, True),
                                                 ("GRU", 3, False)])
def test_training_forward_vs_keras_with_same_masks(name, G, reset_after):
    keras = _keras()
    import torch
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 7, 4)).astype(np.float32)
    kw = {"reset_after": reset_after} if name == "GRU" else {}
    kl = getattr(keras.layers, name)(5, recurrent_dropout=0.4, return_sequences=True, **kw)
    fl = getattr(fusednet.layers, name)(5, recurrent_dropout=0.4, return_sequences=True, seed=3, **kw)
    kl(x)
    fl(x)
    fl.set_weights([np.asarray(w) for w in kl.get_weights()])
    ctx = Context()
    y = fl._forward(ctx, _arr(x), True).numpy()
    d = ctx.rdrop.numpy()
    tm = [torch.from_numpy(d[k]) for k in range(G)]
    kl.cell.get_recurrent_dropout_mask = lambda step_input: tm if G > 1 else tm[0]
    ref = np.asarray(kl(x, training=True).detach().cpu())
    np.testing.assert_allclose(y, ref, *TOL["mask_keras"])


def test_bad_mask_shape_names_op_and_shapes():
    rng = np.random.default_rng(0)
    x, W, R, b = _case(rng, "lstm", 4, True)
    with pytest.raises(ValueError, match=r"rnn_forward.*recurrent dropout mask.*\(4, 3, 3\).*\(4, 3, 2\)"):
        _C.rnn_forward("lstm", _arr(x), _arr(W), _arr(R), _arr(b), None, None, None, "tanh", "sigmoid", False,
                       True, True, False, _arr(np.ones((4, 3, 2))))


@pytest.mark.cuda
@pytest.mark.parametrize("kind,G,reset_after", KINDS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_cuda_twin_matches_cpu(kind, G, reset_after, go_backwards):
    """csrc/cuda/rnn.cu with recurrent dropout masks (and a sequence mask, initial states)
    against the CPU kernel: forward, backward, every gradient."""
    rng = np.random.default_rng(8)
    B, T, F, U = 5, 7, 3, 11
    x, W, R, b = _case(rng, kind, G, reset_after, B, T, F, U)
    D = _masks(rng, G, B, U, 0.3)
    h0 = rng.standard_normal((B, U)).astype(np.float32)
    c0 = rng.standard_normal((B, U)).astype(np.float32) if kind == "lstm" else None
    m = (rng.random((B, T)) > 0.3).astype(np.float32)
    gy = rng.standard_normal((B, T, U)).astype(np.float32)
    gh = rng.standard_normal((B, U)).astype(np.float32)
    outs = []
    for dev in ("cpu", "cuda"):
        on = lambda v: None if v is None else _arr(v).to(dev)       # noqa: E731
        y, h, c, ws = _C.rnn_forward(kind, on(x), on(W), on(R), on(b), on(h0), on(c0), on(m), "tanh", "sigmoid",
                                     go_backwards, reset_after, True, False, on(D))
        grads = _C.rnn_backward(kind, on(gy), on(gh), None, on(x), on(W), on(R), ws, True, on(c0), on(m), "tanh",
                                "sigmoid", go_backwards, reset_after, True, True, False, on(D))
        outs.append([np.asarray(v.to("cpu")) for v in (y, h, *grads) if v is not None])
    for a1, a2 in zip(*outs):
        np.testing.assert_allclose(a2, a1, *TOL["cuda_vs_cpu"])
