"""Recurrent kernels (_C.rnn_forward / rnn_backward) and the SimpleRNN / LSTM / GRU layers:
against a float64 NumPy reference, against torch.nn.RNN / LSTM / GRU with copied weights,
float64 finite differences, thread-count determinism, layer options and a tiny fit.

Gate orders: Keras LSTM is i, f, c, o and torch's is i, f, g, o (the same; torch's g is Keras'
c), so LSTM weights copy over as W.T / R.T with torch's bias_hh zero. Keras GRU is z, r, h and
torch's is r, z, n: the blocks are swapped (z, r, h -> r, z, n) before copying; torch's GRU is
Keras' reset_after=True (n = tanh(W_n x + b_in + r * (U_n h + b_hn))), with Keras' bias [2, 3U] =
(input bias, recurrent bias) = (bias_ih, bias_hh) after the swap.
"""
import numpy as np
import pytest

import fusednet
from fusednet import _C
from fusednet.layers import GRU, LSTM, SimpleRNN
from conftest import requires_torch
from tolerances import TOL

G = {"simple_rnn": 1, "lstm": 4, "gru": 3}
# (kind, reset_after) cases
CASES = [("simple_rnn", True), ("lstm", True), ("gru", True), ("gru", False)]
SIZES = [(1, 1, 1, 1), (2, 3, 5, 7), (3, 13, 11, 17)]


def _act(name, x):
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "relu":
        return np.maximum(x, 0.0)
    return x


def ref_forward(kind, x, W, R, b=None, h0=None, c0=None, mask=None, act="tanh", ract="sigmoid",
                go_backwards=False, reset_after=True):
    """Float64 NumPy reference of the Keras 3 cells (outputs in processing order). Masked steps
    carry the state and repeat the previous output, which is zeros before a row's first real
    step even when an initial state is given (Keras ``backend.rnn``)."""
    x, W, R = (np.asarray(a, np.float64) for a in (x, W, R))
    B, T, _ = x.shape
    U = R.shape[0]
    gu = G[kind] * U
    if b is None:
        b = np.zeros((2, gu) if kind == "gru" and reset_after else (gu,))
    b = np.asarray(b, np.float64)
    h = np.zeros((B, U)) if h0 is None else np.asarray(h0, np.float64)
    c = np.zeros((B, U)) if c0 is None else np.asarray(c0, np.float64)
    ys = []
    started = np.zeros((B, 1)) if mask is not None else np.ones((B, 1))
    for t in (reversed(range(T)) if go_backwards else range(T)):
        xt = x[:, t]
        cn = c
        if kind == "simple_rnn":
            hn = _act(act, xt @ W + b + h @ R)
        elif kind == "lstm":
            z = xt @ W + b + h @ R
            i, f, g, o = np.split(z, 4, axis=1)
            i, f, o, g = _act(ract, i), _act(ract, f), _act(ract, o), _act(act, g)
            cn = f * c + i * g
            hn = o * _act(act, cn)
        elif reset_after:
            xz, xr, xh = np.split(xt @ W + b[0], 3, axis=1)
            rz, rr, rh = np.split(h @ R + b[1], 3, axis=1)
            z, r = _act(ract, xz + rz), _act(ract, xr + rr)
            hh = _act(act, xh + r * rh)
            hn = z * h + (1 - z) * hh
        else:
            xz, xr, xh = np.split(xt @ W + b, 3, axis=1)
            z = _act(ract, xz + h @ R[:, :U])
            r = _act(ract, xr + h @ R[:, U:2 * U])
            hh = _act(act, xh + (r * h) @ R[:, 2 * U:])
            hn = z * h + (1 - z) * hh
        if mask is not None:
            m = np.asarray(mask, np.float64)[:, t][:, None]
            hn = m * hn + (1 - m) * h
            cn = m * cn + (1 - m) * c
            started = np.maximum(started, m)
        h, c = hn, cn
        ys.append(h * started)
    return np.stack(ys, 1), h, c


def _params(rng, kind, B, T, F, U, reset_after=True, scale=0.5):
    gu = G[kind] * U
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    W = (rng.standard_normal((F, gu)) * scale).astype(np.float32)
    R = (rng.standard_normal((U, gu)) * scale).astype(np.float32)
    b = (rng.standard_normal((2, gu) if kind == "gru" and reset_after else (gu,)) * scale).astype(np.float32)
    return x, W, R, b


def _a(v):
    return None if v is None else _C.asarray(np.ascontiguousarray(v, np.float32))


def _fwd(kind, x, W, R, b, h0=None, c0=None, mask=None, act="tanh", ract="sigmoid", go_backwards=False,
         reset_after=True):
    return _C.rnn_forward(kind, _a(x), _a(W), _a(R), _a(b), _a(h0), _a(c0), _a(mask), act, ract, go_backwards,
                          reset_after, True)


# ---------------------------------------------------------------------------------- forward
@pytest.mark.parametrize("kind,reset_after", CASES)
@pytest.mark.parametrize("B,T,F,U", SIZES)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_forward_matches_float64_reference(rng, kind, reset_after, B, T, F, U, go_backwards):
    x, W, R, b = _params(rng, kind, B, T, F, U, reset_after)
    h0 = rng.standard_normal((B, U)).astype(np.float32)
    c0 = rng.standard_normal((B, U)).astype(np.float32) if kind == "lstm" else None
    y, h, c, _ = _fwd(kind, x, W, R, b, h0, c0, go_backwards=go_backwards, reset_after=reset_after)
    ry, rh, rc = ref_forward(kind, x, W, R, b, h0, c0, go_backwards=go_backwards, reset_after=reset_after)
    rt, at = TOL["rnn"]
    np.testing.assert_allclose(np.asarray(y), ry, rtol=rt, atol=at)
    np.testing.assert_allclose(np.asarray(h), rh, rtol=rt, atol=at)
    np.testing.assert_array_equal(np.asarray(h), np.asarray(y)[:, -1])
    if kind == "lstm":
        np.testing.assert_allclose(np.asarray(c), rc, rtol=rt, atol=at)
    else:
        assert c is None


@pytest.mark.parametrize("kind,reset_after", CASES)
@pytest.mark.parametrize("act,ract", [("relu", "sigmoid"), ("linear", "tanh"), ("sigmoid", "relu")])
def test_forward_other_activations(rng, kind, reset_after, act, ract):
    x, W, R, b = _params(rng, kind, 2, 5, 3, 4, reset_after, scale=0.3)
    y, h, _, _ = _fwd(kind, x, W, R, b, act=act, ract=ract, reset_after=reset_after)
    ry, _, _ = ref_forward(kind, x, W, R, b, act=act, ract=ract, reset_after=reset_after)
    np.testing.assert_allclose(np.asarray(y), ry, *TOL["rnn"])


@pytest.mark.parametrize("kind,reset_after", CASES)
def test_mask_carries_state(rng, kind, reset_after):
    B, T, F, U = 3, 6, 4, 5
    x, W, R, b = _params(rng, kind, B, T, F, U, reset_after)
    mask = np.ones((B, T), np.float32)
    mask[0, 4:] = 0      # right padding
    mask[1, :2] = 0      # left padding
    mask[2, 2] = 0       # a hole
    for back in (False, True):
        y, h, c, _ = _fwd(kind, x, W, R, b, mask=mask, go_backwards=back, reset_after=reset_after)
        ry, rh, rc = ref_forward(kind, x, W, R, b, mask=mask, go_backwards=back, reset_after=reset_after)
        np.testing.assert_allclose(np.asarray(y), ry, *TOL["rnn"])
        np.testing.assert_allclose(np.asarray(h), rh, *TOL["rnn"])
    # right padding: the final state is the state after the last real step
    y, h, _, _ = _fwd(kind, x, W, R, b, mask=mask, reset_after=reset_after)
    y4, h4, _, _ = _fwd(kind, x[:1, :4], W, R, b, reset_after=reset_after)
    np.testing.assert_allclose(np.asarray(h)[0], np.asarray(h4)[0], *TOL["rnn"])


# ---------------------------------------------------------------------------------- torch
def _to_torch_gru(a):
    """Keras GRU blocks (z, r, h) along the last axis -> torch's (r, z, n)."""
    z, r, n = np.split(a, 3, axis=-1)
    return np.concatenate([r, z, n], axis=-1)


def _torch_module(kind, F, U, W, R, b, act="tanh"):
    import torch
    if kind == "lstm":
        m = torch.nn.LSTM(F, U, batch_first=True)
        w_ih, w_hh, b_ih, b_hh = W.T, R.T, b, np.zeros_like(b)       # i f c o == i f g o
    elif kind == "gru":
        m = torch.nn.GRU(F, U, batch_first=True)
        w_ih, w_hh = _to_torch_gru(W).T, _to_torch_gru(R).T
        b_ih, b_hh = _to_torch_gru(b[0]), _to_torch_gru(b[1])
    else:
        m = torch.nn.RNN(F, U, batch_first=True, nonlinearity=act)
        w_ih, w_hh, b_ih, b_hh = W.T, R.T, b, np.zeros_like(b)
    with torch.no_grad():
        for p, v in ((m.weight_ih_l0, w_ih), (m.weight_hh_l0, w_hh), (m.bias_ih_l0, b_ih), (m.bias_hh_l0, b_hh)):
            p.copy_(torch.tensor(np.ascontiguousarray(v)))
    return m


@requires_torch
@pytest.mark.parametrize("kind,act", [("lstm", "tanh"), ("gru", "tanh"), ("simple_rnn", "tanh"),
                                      ("simple_rnn", "relu")])
@pytest.mark.parametrize("B,T,F,U", [(1, 1, 3, 2), (4, 11, 7, 13)])
def test_matches_torch_forward_and_backward(rng, kind, act, B, T, F, U):
    import torch
    x, W, R, b = _params(rng, kind, B, T, F, U)
    m = _torch_module(kind, F, U, W, R, b, act)
    xt = torch.tensor(x, requires_grad=True)
    yt = m(xt)[0]
    gy = rng.standard_normal(yt.shape).astype(np.float32)
    (yt * torch.tensor(gy)).sum().backward()
    y, _, _, ws = _fwd(kind, x, W, R, b, act=act)
    np.testing.assert_allclose(np.asarray(y), yt.detach().numpy(), *TOL["torch"])
    dx, dW, dR, db, _, _ = _C.rnn_backward(kind, _a(gy), None, None, _a(x), _a(W), _a(R), ws, True,
                                           activation=act)
    tW, tR = m.weight_ih_l0.grad.numpy().T, m.weight_hh_l0.grad.numpy().T
    if kind == "gru":
        back = lambda a: np.concatenate([np.split(a, 3, -1)[i] for i in (1, 0, 2)], -1)  # r z n -> z r h
        tW, tR = back(tW), back(tR)
        tb = np.stack([back(m.bias_ih_l0.grad.numpy()), back(m.bias_hh_l0.grad.numpy())])
    else:
        tb = m.bias_ih_l0.grad.numpy()
    for mine, theirs in ((dx, xt.grad.numpy()), (dW, tW), (dR, tR), (db, tb)):
        np.testing.assert_allclose(np.asarray(mine), theirs, *TOL["torch"])


# ---------------------------------------------------------------------------------- gradients
def _fd(f, arrays, eps):
    """Central differences of the scalar f() w.r.t. every element of each float64 array."""
    out = []
    for a in arrays:
        g = np.zeros_like(a)
        it = np.nditer(a, flags=["multi_index"])
        for _ in it:
            i = it.multi_index
            old = a[i]
            a[i] = old + eps
            fp = f()
            a[i] = old - eps
            fm = f()
            a[i] = old
            g[i] = (fp - fm) / (2 * eps)
        out.append(g)
    return out


@pytest.mark.parametrize("kind,reset_after", CASES)
@pytest.mark.parametrize("B,T,F,U", [(1, 1, 1, 1), (2, 3, 2, 3), (1, 5, 3, 2)])
@pytest.mark.parametrize("variant", ["plain", "backwards_mask"])
def test_backward_matches_finite_differences(rng, kind, reset_after, B, T, F, U, variant):
    x, W, R, b = _params(rng, kind, B, T, F, U, reset_after)
    h0 = rng.standard_normal((B, U)).astype(np.float32)
    c0 = rng.standard_normal((B, U)).astype(np.float32) if kind == "lstm" else None
    back = variant == "backwards_mask"
    mask = None
    if back:
        mask = np.ones((B, T), np.float32)
        mask[0, T // 2] = 0
    gy = rng.standard_normal((B, T, U))
    gh = rng.standard_normal((B, U))
    gc = rng.standard_normal((B, U)) if kind == "lstm" else None
    p64 = [np.asarray(v, np.float64) for v in (x, W, R, b, h0)] + ([np.asarray(c0, np.float64)] if c0 is not None
                                                                    else [])

    def loss():
        y, h, c = ref_forward(kind, *p64[:5], p64[5] if c0 is not None else None, mask=mask, go_backwards=back,
                              reset_after=reset_after)
        v = (gy * y).sum() + (gh * h).sum()
        return v + ((gc * c).sum() if gc is not None else 0.0)

    num = _fd(loss, p64, TOL["fd_eps"])
    _, _, _, ws = _fwd(kind, x, W, R, b, h0, c0, mask=mask, go_backwards=back, reset_after=reset_after)
    dx, dW, dR, db, dh0, dc0 = _C.rnn_backward(kind, _a(gy), _a(gh), _a(gc), _a(x), _a(W), _a(R), ws, True, _a(c0),
                                               _a(mask), "tanh", "sigmoid", back, reset_after, True, True)
    got = [dx, dW, dR, db, dh0] + ([dc0] if c0 is not None else [])
    rt, at = TOL["gradcheck"]
    for name, g, n in zip(["dx", "dW", "dR", "db", "dh0", "dc0"], got, num):
        g = np.asarray(g, np.float64)
        scale = max(1.0, np.abs(n).max())
        np.testing.assert_allclose(g / scale, n / scale, rtol=rt, atol=at * 10, err_msg=name)


@pytest.mark.parametrize("kind,reset_after", CASES)
def test_bitwise_independent_of_thread_count(rng, kind, reset_after):
    B, T, F, U = 37, 5, 29, 449      # B*U > 16384: every fused pass and column sum runs threaded
    x, W, R, b = _params(rng, kind, B, T, F, U, reset_after, scale=0.1)
    gy = rng.standard_normal((B, T, U)).astype(np.float32)
    mask = (rng.random((B, T)) > 0.2).astype(np.float32)
    before = fusednet.get_num_threads()
    outs = []
    try:
        for n in (1, 2):
            fusednet.set_num_threads(n)
            y, h, c, ws = _fwd(kind, x, W, R, b, mask=mask, reset_after=reset_after)
            grads = _C.rnn_backward(kind, _a(gy), None, None, _a(x), _a(W), _a(R), ws, True, None, _a(mask),
                                    "tanh", "sigmoid", False, reset_after, True, False)
            outs.append([np.asarray(v) for v in (y, h, *grads[:4])])
    finally:
        fusednet.set_num_threads(before)
    for a1, a2 in zip(*outs):
        np.testing.assert_array_equal(a1, a2)


def test_kernel_argument_errors(rng):
    x, W, R, b = _params(rng, "lstm", 2, 3, 4, 5)
    with pytest.raises(ValueError, match=r"rnn_forward: kernel must have shape \(4, 20\)"):
        _fwd("lstm", x, W[:3], R, b)
    with pytest.raises(ValueError, match="rnn_forward: recurrent_kernel"):
        _fwd("lstm", x, W, R[:, :7], b)
    with pytest.raises(ValueError, match=r"rnn_forward: x must be \[batch, timesteps, features\]"):
        _C.rnn_forward("lstm", _a(x[0]), _a(W), _a(R))
    with pytest.raises(ValueError, match="rnn_forward: bias must have shape"):
        _fwd("lstm", x, W, R, b[:5])
    with pytest.raises(ValueError, match="rnn_forward: mask must have shape"):
        _fwd("lstm", x, W, R, b, mask=np.ones((2, 4)))
    with pytest.raises(ValueError, match="unknown recurrent kind"):
        _fwd("elman", x, W, R, b)
    with pytest.raises(ValueError, match="not supported natively"):
        _fwd("lstm", x, W, R, b, act="gelu")
    with pytest.raises(TypeError):
        _C.rnn_forward("lstm", _C.asarray(x.astype(np.int32)), _a(W), _a(R))
    _, _, _, ws = _fwd("lstm", x, W, R, b)
    with pytest.raises(ValueError, match="rnn_backward: dy must have shape"):
        _C.rnn_backward("lstm", _a(np.ones((2, 3, 4))), None, None, _a(x), _a(W), _a(R), ws)
    with pytest.raises(ValueError, match="rnn_backward: workspace"):
        _C.rnn_backward("lstm", None, None, None, _a(x), _a(W), _a(R), ws[:2])


# ---------------------------------------------------------------------------------- layers
def _weights(layer):
    return [np.asarray(w.numpy()) for w in layer.weights]


@pytest.mark.parametrize("cls,kind,gates", [(SimpleRNN, "simple_rnn", 1), (LSTM, "lstm", 4), (GRU, "gru", 3)])
def test_layer_weights_keras_layout_and_values(rng, cls, kind, gates):
    x = rng.standard_normal((3, 7, 5)).astype(np.float32)
    layer = cls(11, return_sequences=True)
    y = layer(x)
    names = [w.name.split("/")[-1] for w in layer.weights]
    assert names == ["kernel", "recurrent_kernel", "bias"]
    k, r, b = _weights(layer)
    assert k.shape == (5, gates * 11) and r.shape == (11, gates * 11)
    assert b.shape == ((2, 33) if kind == "gru" else (gates * 11,))
    if kind == "lstm":   # unit_forget_bias: forget gate starts at 1
        np.testing.assert_array_equal(b, np.r_[np.zeros(11), np.ones(11), np.zeros(22)])
    np.testing.assert_allclose(r.T @ r if r.shape[0] >= r.shape[1] else r @ r.T, np.eye(min(r.shape)), atol=1e-5)
    ry, _, _ = ref_forward(kind, x, k, r, b)
    np.testing.assert_allclose(y.numpy(), ry, *TOL["rnn"])
    assert tuple(y.shape) == (3, 7, 11) and layer.compute_output_shape((None, 7, 5)) == (None, 7, 11)


def test_gru_reset_after_false_bias_shape(rng):
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    layer = GRU(6, reset_after=False)
    y = layer(x)
    k, r, b = _weights(layer)
    assert b.shape == (18,) and y.shape == (2, 6)
    _, rh, _ = ref_forward("gru", x, k, r, b, reset_after=False)
    np.testing.assert_allclose(y.numpy(), rh, *TOL["rnn"])


@pytest.mark.parametrize("cls,kind", [(SimpleRNN, "simple_rnn"), (LSTM, "lstm"), (GRU, "gru")])
def test_return_state_sequences_go_backwards(rng, cls, kind):
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    for seq in (False, True):
        for back in (False, True):
            layer = cls(4, return_sequences=seq, return_state=True, go_backwards=back)
            out = layer(x)
            k, r, b = _weights(layer)
            ry, rh, rc = ref_forward(kind, x, k, r, b, go_backwards=back)
            assert len(out) == (3 if kind == "lstm" else 2)
            np.testing.assert_allclose(out[0].numpy(), ry if seq else rh, *TOL["rnn"])
            np.testing.assert_allclose(out[1].numpy(), rh, *TOL["rnn"])
            if kind == "lstm":
                np.testing.assert_allclose(out[2].numpy(), rc, *TOL["rnn"])


def test_initial_state_and_state_gradients(rng):
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    h0 = rng.standard_normal((2, 5)).astype(np.float32)
    c0 = rng.standard_normal((2, 5)).astype(np.float32)
    layer = LSTM(5, return_state=True)
    xt, ht, ct = (fusednet.Tensor(v, requires_grad=True) for v in (x, h0, c0))
    out, h, c = layer(xt, initial_state=[ht, ct])
    k, r, b = _weights(layer)
    _, rh, rc = ref_forward("lstm", x, k, r, b, h0, c0)
    np.testing.assert_allclose(h.numpy(), rh, *TOL["rnn"])
    np.testing.assert_allclose(c.numpy(), rc, *TOL["rnn"])
    # loss = sum(out) + 2 sum(c): the gradients of both outputs reach h0, c0 and the weights
    loss = fusednet.functional.sum(out) + fusednet.functional.sum(c) * 2.0
    loss.backward()
    _, _, _, ws = _fwd("lstm", x, k, r, b, h0, c0)
    ones = np.ones((2, 5), np.float32)
    dx, dW, dR, db, dh0, dc0 = _C.rnn_backward("lstm", None, _a(ones), _a(2 * ones), _a(x), _a(k), _a(r), ws, True,
                                               _a(c0), None, "tanh", "sigmoid", False, True, True, True)
    for got, want in ((xt.grad, dx), (ht.grad, dh0), (ct.grad, dc0), (layer.kernel.grad, dW),
                      (layer.recurrent_kernel.grad, dR), (layer.bias.grad, db)):
        np.testing.assert_allclose(np.asarray(got.numpy() if hasattr(got, "numpy") else got), np.asarray(want),
                                   rtol=1e-5, atol=1e-6)


def test_layer_argument_errors():
    with pytest.raises(ValueError, match=r"recurrent_dropout must be a float in \[0, 1\)"):
        LSTM(4, recurrent_dropout=1.0)
    with pytest.raises(ValueError, match="not supported by the native"):
        SimpleRNN(4, activation="gelu")
    with pytest.raises(ValueError, match="units must be a positive integer"):
        LSTM(0)
    with pytest.raises(ValueError, match=r"expected input \[batch, timesteps, features\]"):
        LSTM(4)(np.zeros((3, 4), np.float32))


def test_dropout_one_mask_for_all_steps(rng):
    x = rng.standard_normal((4, 6, 8)).astype(np.float32)
    layer = LSTM(5, dropout=0.5, seed=3, return_sequences=True)
    ref = LSTM(5, return_sequences=True)
    y_inf = layer(x)
    ref(x)
    ref.set_weights(layer.get_weights())
    np.testing.assert_array_equal(y_inf.numpy(), ref(x).numpy())          # identity at inference
    xt = fusednet.Tensor(x, requires_grad=True)
    y = layer(xt, training=True)
    fusednet.functional.sum(y).backward()
    g = xt.grad.numpy()
    dropped = np.all(g == 0, axis=1)                                      # [B, F]: same for every step
    assert dropped.any() and not dropped.all()
    assert np.all((g == 0) == dropped[:, None, :])


@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
def test_tiny_fit_reduces_loss(cls):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 7, 3)).astype(np.float32)
    y = x[:, -3:, :1].sum(axis=1) * 0.5                     # depends on the last steps
    fusednet.random.set_random_seed(1)
    model = fusednet.Sequential([fusednet.Input(shape=(7, 3)), cls(12), fusednet.layers.Dense(1)])
    model.compile(optimizer=fusednet.optimizers.Adam(0.01), loss="mse")
    hist = model.fit(x, y, epochs=6, batch_size=32, verbose=0).history["loss"]
    assert model._get_plan().tape_layers == []                     # runs on the compiled plan
    assert hist[-1] < 0.5 * hist[0], hist


# ---------------------------------------------------------------------------------- Bidirectional
def test_y_time_order_flag(rng):
    x, W, R, b = _params(rng, "gru", 2, 6, 3, 5)
    gy = rng.standard_normal((2, 6, 5)).astype(np.float32)
    y, _, _, ws = _fwd("gru", x, W, R, b, go_backwards=True)
    yt, _, _, wst = _C.rnn_forward("gru", _a(x), _a(W), _a(R), _a(b), go_backwards=True, y_time_order=True)
    np.testing.assert_array_equal(np.asarray(yt), np.asarray(y)[:, ::-1])
    g1 = _C.rnn_backward("gru", _a(gy[:, ::-1]), None, None, _a(x), _a(W), _a(R), ws, go_backwards=True)
    g2 = _C.rnn_backward("gru", _a(gy), None, None, _a(x), _a(W), _a(R), wst, go_backwards=True, y_time_order=True)
    for a1, a2 in zip(g1[:4], g2[:4]):
        np.testing.assert_array_equal(np.asarray(a1), np.asarray(a2))


def _bi_ref(kind, x, ws, seq, mode):
    yf, hf, _ = ref_forward(kind, x, *ws[:3])
    yb, hb, _ = ref_forward(kind, x, *ws[3:], go_backwards=True)
    yf, yb = (yf, yb[:, ::-1]) if seq else (hf, hb)
    return {"concat": np.concatenate([yf, yb], -1), "sum": yf + yb, "mul": yf * yb, "ave": (yf + yb) / 2}[mode]


@pytest.mark.parametrize("cls,kind", [(LSTM, "lstm"), (GRU, "gru")])
@pytest.mark.parametrize("mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("seq", [True, False])
def test_bidirectional_values_and_gradients(rng, cls, kind, mode, seq):
    from fusednet.layers import Bidirectional
    x = rng.standard_normal((2, 3, 2)).astype(np.float32)
    bi = Bidirectional(cls(3, return_sequences=seq), merge_mode=mode)
    xt = fusednet.Tensor(x, requires_grad=True)
    y = bi(xt)
    ws = [w.numpy().astype(np.float64) for w in bi.weights]
    assert [w.name.split("/")[0] for w in bi.weights] == [bi.forward_layer.name] * 3 + [bi.backward_layer.name] * 3
    np.testing.assert_allclose(y.numpy(), _bi_ref(kind, x, ws, seq, mode), *TOL["rnn"])
    assert tuple(y.shape[1:]) == bi.compute_output_shape((None, 3, 2))[1:]
    gy = rng.standard_normal(y.shape)
    fusednet.functional.sum(y * fusednet.Tensor(gy.astype(np.float32))).backward()
    x64 = x.astype(np.float64)
    num = _fd(lambda: (gy * _bi_ref(kind, x64, ws, seq, mode)).sum(), [x64] + ws, TOL["fd_eps"])
    got = [xt.grad.numpy()] + [w.grad.numpy() for w in bi.weights]
    rt, at = TOL["gradcheck"]
    for g, n in zip(got, num):
        scale = max(1.0, np.abs(n).max())
        np.testing.assert_allclose(g / scale, n / scale, rtol=rt, atol=at * 10)


def test_bidirectional_fit_config_and_errors():
    from fusednet.layers import Bidirectional
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 6, 3)).astype(np.float32)
    y = (x[:, 0, :1] - x[:, -1, :1]).astype(np.float32)     # needs both ends of the sequence
    fusednet.random.set_random_seed(3)
    model = fusednet.Sequential([fusednet.Input(shape=(6, 3)), Bidirectional(GRU(8)), fusednet.layers.Dense(1)])
    model.compile(optimizer=fusednet.optimizers.Adam(0.02), loss="mse")
    hist = model.fit(x, y, epochs=6, batch_size=16, verbose=0).history["loss"]
    assert model._get_plan().tape_layers == [] and hist[-1] < 0.5 * hist[0], hist
    bi = model.layers[-2]
    clone = Bidirectional.from_config(bi.get_config())
    assert clone.merge_mode == "concat" and clone.backward_layer.go_backwards and clone.units == 8
    with pytest.raises(ValueError, match="merge_mode"):
        Bidirectional(LSTM(2), merge_mode=None)
    with pytest.raises(ValueError, match="must be a SimpleRNN, LSTM or GRU"):
        Bidirectional(fusednet.layers.Dense(2))
    # (return_state and stateful: tests/test_rnn_state.py)


def test_model_with_recurrent_layers_saves_and_loads(tmp_path):
    from fusednet.io.fnet import load_model, save_model
    from fusednet.layers import Bidirectional, Dense, Embedding
    model = fusednet.Sequential([fusednet.Input(shape=(5,)), Embedding(10, 4, mask_zero=True),
                                 Bidirectional(LSTM(3, return_sequences=True)), GRU(2, reset_after=False, return_sequences=True),
                                 SimpleRNN(2, activation="relu", go_backwards=True), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).integers(0, 10, (8, 5)).astype(np.float32)
    x[:, 3:] = 0
    p = model.predict(x, verbose=0)
    save_model(model, tmp_path / "m.fnet")
    again = load_model(tmp_path / "m.fnet")
    np.testing.assert_array_equal(again.predict(x, verbose=0), p)
    cfg = again.layers[2].get_config()
    assert cfg["reset_after"] is False and cfg["units"] == 2
    assert again.layers[3].go_backwards and again.layers[3].activation == "relu"


@pytest.mark.cuda
@pytest.mark.parametrize("kind,reset_after", CASES)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_cuda_twin_matches_cpu(rng, kind, reset_after, go_backwards):
    """The CUDA kernels (csrc/cuda/rnn.cu) against the CPU ones: forward, backward, mask, states."""
    B, T, F, U = 5, 7, 3, 11
    x, W, R, b = _params(rng, kind, B, T, F, U, reset_after)
    h0 = rng.standard_normal((B, U)).astype(np.float32)
    c0 = rng.standard_normal((B, U)).astype(np.float32) if kind == "lstm" else None
    mask = (rng.random((B, T)) > 0.3).astype(np.float32)
    gy = rng.standard_normal((B, T, U)).astype(np.float32)
    gh = rng.standard_normal((B, U)).astype(np.float32)
    outs = []
    for dev in ("cpu", "cuda"):
        on = lambda v: None if v is None else _a(v).to(dev)
        y, h, c, ws = _C.rnn_forward(kind, on(x), on(W), on(R), on(b), on(h0), on(c0), on(mask), "tanh", "sigmoid",
                                     go_backwards, reset_after, True)
        grads = _C.rnn_backward(kind, on(gy), on(gh), None, on(x), on(W), on(R), ws, True, on(c0), on(mask), "tanh",
                                "sigmoid", go_backwards, reset_after, True, True)
        outs.append([np.asarray(v.to("cpu")) for v in (y, h, *grads) if v is not None])
    for a1, a2 in zip(*outs):
        np.testing.assert_allclose(a2, a1, *TOL["cuda_vs_cpu"])
