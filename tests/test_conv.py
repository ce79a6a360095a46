"""Conv2D NHWC kernels: forward / backward vs a float64 NumPy reference, float64 finite differences
and PyTorch CPU (NCHW, layout-converted); padding rules, dilation, strides, threads, errors."""
import math

import numpy as np
import pytest

import fusednet
from fusednet import _C
from conftest import requires_torch
from tolerances import TOL

ACTS = {
    "none": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
}


def out_and_pad(n, k, s, d, padding):
    eff = (k - 1) * d + 1
    if padding == "same":
        o = -(-n // s)
        total = max((o - 1) * s + eff - n, 0)
        return o, total // 2, total - total // 2
    return (n - eff) // s + 1, 0, 0


def conv_ref(x, w, b, s, padding, d, act="none"):
    """float64 reference: y = act(conv(x, w) + b), x (N,H,W,C), w (kh,kw,C,O)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    N, H, W, C = x.shape
    kh, kw, _, O = w.shape
    Ho, pt, pb = out_and_pad(H, kh, s[0], d[0], padding)
    Wo, pl, pr = out_and_pad(W, kw, s[1], d[1], padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    z = np.zeros((N, Ho, Wo, O))
    for i in range(kh):
        for j in range(kw):
            xs = xp[:, i * d[0]: i * d[0] + (Ho - 1) * s[0] + 1: s[0],
                    j * d[1]: j * d[1] + (Wo - 1) * s[1] + 1: s[1], :]
            z += np.einsum("nhwc,co->nhwo", xs, w[i, j])
    if b is not None:
        z += np.asarray(b, np.float64)
    return ACTS[act](z)


def conv_grad_ref(x, w, dz, s, padding, d):
    """float64 analytic dX, dW, db for dZ (gradient w.r.t. the pre-activation)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    N, H, W, C = x.shape
    kh, kw, _, O = w.shape
    Ho, pt, pb = out_and_pad(H, kh, s[0], d[0], padding)
    Wo, pl, pr = out_and_pad(W, kw, s[1], d[1], padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(kh):
        for j in range(kw):
            sl = (slice(None), slice(i * d[0], i * d[0] + (Ho - 1) * s[0] + 1, s[0]),
                  slice(j * d[1], j * d[1] + (Wo - 1) * s[1] + 1, s[1]), slice(None))
            dw[i, j] = np.einsum("nhwc,nhwo->co", xp[sl], dz)
            dxp[sl] += np.einsum("nhwo,co->nhwc", dz, w[i, j])
    dx = dxp[:, pt:pt + H, pl:pl + W, :]
    return dx, dw, dz.sum(axis=(0, 1, 2))


def close(a, ref, key):
    rtol, atol = TOL[key]
    ref = np.asarray(ref)
    scale = max(1.0, float(np.abs(ref).max())) if ref.size else 1.0
    np.testing.assert_allclose(np.asarray(a), ref, rtol=rtol, atol=atol * scale)


def fd_close(g, fd, key="gradcheck"):
    rtol, atol = TOL[key]
    err = np.abs(np.asarray(g, np.float64) - fd).max()
    assert err <= rtol * np.abs(fd).max() + atol, (err, np.abs(fd).max())


def fwd(x, w, b=None, s=(1, 1), padding="valid", d=(1, 1), act="none"):
    return np.asarray(_C.conv2d_forward(_C.asarray(x), _C.asarray(w), None if b is None else _C.asarray(b),
                                        strides=s, padding=padding, dilation=d, activation=act))


def bwd(dy, x, w, y, s, padding, d, act, need_dX=True, has_bias=True):
    dX, dW, db = _C.conv2d_backward(_C.asarray(dy), _C.asarray(x), _C.asarray(w),
                                    None if y is None else _C.asarray(y), act, s, padding, d, need_dX, has_bias)
    return (None if dX is None else np.asarray(dX), np.asarray(dW), None if db is None else np.asarray(db))


def rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


CASES = [
    # N, H, W, C, kh, kw, O, strides, padding, dilation, act
    (1, 7, 9, 1, 3, 3, 4, (1, 1), "valid", (1, 1), "none"),
    (2, 8, 7, 3, 3, 3, 5, (2, 2), "same", (1, 1), "relu"),
    (3, 11, 13, 2, 3, 2, 3, (1, 1), "same", (2, 2), "tanh"),
    (2, 10, 9, 3, 5, 5, 7, (2, 1), "valid", (1, 1), "sigmoid"),
    (2, 6, 5, 4, 1, 1, 3, (1, 1), "valid", (1, 1), "none"),     # pointwise: no im2col
    (2, 7, 7, 3, 1, 1, 2, (2, 2), "same", (1, 1), "relu"),      # 1x1 stride 2
    (1, 5, 5, 3, 4, 4, 2, (3, 3), "same", (1, 1), "none"),      # even kernel, asymmetric pad
    (2, 5, 7, 3, 5, 7, 3, (1, 1), "valid", (1, 1), "tanh"),     # kernel == input
    (1, 13, 11, 3, 3, 3, 1, (2, 3), "valid", (2, 1), "relu"),   # primes, mixed stride/dilation
]


@pytest.mark.parametrize("case", CASES)
def test_forward_vs_reference(rng, case):
    N, H, W, C, kh, kw, O, s, pad, d, act = case
    x, w, b = rand(rng, N, H, W, C), rand(rng, kh, kw, C, O), rand(rng, O)
    y = fwd(x, w, b, s, pad, d, act)
    ref = conv_ref(x, w, b, s, pad, d, act)
    assert y.shape == ref.shape
    close(y, ref, "conv")
    assert _C.conv2d_output_shape(x.shape, (kh, kw), s, pad, d) == ref.shape[:3]


@pytest.mark.parametrize("case", CASES)
def test_backward_vs_reference(rng, case):
    N, H, W, C, kh, kw, O, s, pad, d, act = case
    x, w, b = rand(rng, N, H, W, C), rand(rng, kh, kw, C, O), rand(rng, O)
    y = fwd(x, w, b, s, pad, d, act)
    dy = rand(rng, *y.shape)
    dX, dW, db = bwd(dy, x, w, y, s, pad, d, act)
    y64 = y.astype(np.float64)
    dz = dy * {"none": 1.0, "relu": (y64 > 0), "sigmoid": y64 * (1 - y64), "tanh": 1 - y64 ** 2}[act]
    rdx, rdw, rdb = conv_grad_ref(x, w, dz, s, pad, d)
    close(dX, rdx, "conv")
    close(dW, rdw, "conv")
    close(db, rdb, "conv")


@pytest.mark.parametrize("case", [CASES[1], CASES[2], CASES[6], (1, 4, 5, 2, 2, 3, 2, (1, 2), "same", (1, 1), "sigmoid")])
def test_backward_finite_differences(rng, case):
    """Kernel gradients vs central differences of the float64 reference forward."""
    N, H, W, C, kh, kw, O, s, pad, d, act = case
    N = 1
    x, w, b = rand(rng, N, H, W, C), rand(rng, kh, kw, C, O) * 0.5, rand(rng, O)
    y = fwd(x, w, b, s, pad, d, act)
    R = rng.standard_normal(y.shape)
    dX, dW, db = bwd(R.astype(np.float32), x, w, y, s, pad, d, act)
    eps = TOL["fd_eps"]
    x64, w64, b64 = x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)

    def loss(xx, ww, bb):
        return float((conv_ref(xx, ww, bb, s, pad, d, act) * R).sum())

    for arr, g in ((x64, dX), (w64, dW), (b64, db)):
        fd = np.zeros_like(arr)
        flat = arr.reshape(-1)
        for k in range(flat.size):
            old = flat[k]
            flat[k] = old + eps
            lp = loss(x64, w64, b64)
            flat[k] = old - eps
            lm = loss(x64, w64, b64)
            flat[k] = old
            fd.reshape(-1)[k] = (lp - lm) / (2 * eps)
        fd_close(g, fd)


def torch_conv(x, w, b, s, pad, d, act):
    import torch
    import torch.nn.functional as F
    xt = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_(True)
    wt = torch.tensor(w).requires_grad_(True)
    bt = torch.tensor(b).requires_grad_(True)
    H, W = x.shape[1:3]
    _, pt, pb = out_and_pad(H, w.shape[0], s[0], d[0], pad)
    _, pl, pr = out_and_pad(W, w.shape[1], s[1], d[1], pad)
    z = F.conv2d(F.pad(xt, (pl, pr, pt, pb)), wt.permute(3, 2, 0, 1), bt, stride=s, dilation=d)
    y = {"none": lambda t: t, "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[act](z)
    return xt, wt, bt, y.permute(0, 2, 3, 1)


@requires_torch
@pytest.mark.parametrize("case", CASES + [
    (16, 13, 13, 32, 3, 3, 64, (1, 1), "valid", (1, 1), "relu"),   # seed CNN conv2: many chunks, groups
    (2, 70, 66, 8, 3, 3, 16, (1, 1), "same", (1, 1), "relu"),      # big images: several chunks per image
    (5, 28, 28, 1, 3, 3, 32, (1, 1), "valid", (1, 1), "relu"),     # seed CNN conv1
    (3, 9, 9, 16, 1, 1, 24, (1, 1), "same", (1, 1), "tanh"),       # pointwise, grouped dW
])
def test_vs_torch(rng, case):
    N, H, W, C, kh, kw, O, s, pad, d, act = case
    x, w, b = rand(rng, N, H, W, C), rand(rng, kh, kw, C, O) * 0.2, rand(rng, O)
    xt, wt, bt, yt = torch_conv(x, w, b, s, pad, d, act)
    y = fwd(x, w, b, s, pad, d, act)
    close(y, yt.detach().numpy(), "torch")
    dy = rand(rng, *y.shape)
    yt.backward(__import__("torch").tensor(dy))
    dX, dW, db = bwd(dy, x, w, y, s, pad, d, act)
    close(dX, xt.grad.permute(0, 2, 3, 1).numpy(), "torch")
    close(dW, wt.grad.numpy(), "torch")
    close(db, bt.grad.numpy(), "torch")


def test_optional_outputs_and_no_bias(rng):
    x, w = rand(rng, 2, 6, 6, 3), rand(rng, 3, 3, 3, 4)
    y = fwd(x, w)  # no bias
    close(y, conv_ref(x, w, None, (1, 1), "valid", (1, 1)), "conv")
    dy = rand(rng, *y.shape)
    dX, dW, db = bwd(dy, x, w, None, (1, 1), "valid", (1, 1), "none", need_dX=False, has_bias=False)
    assert dX is None and db is None
    close(dW, conv_grad_ref(x, w, dy.astype(np.float64), (1, 1), "valid", (1, 1))[1], "conv")
    # int arguments broadcast to pairs; out= is written in place
    out = np.empty((2, 3, 3, 4), np.float32)
    r = _C.conv2d_forward(_C.asarray(x), _C.asarray(w), None, 2, "SAME", 1, "linear", out=_C.asarray(out))
    close(out, conv_ref(x, w, None, (2, 2), "same", (1, 1)), "conv")
    assert np.shares_memory(np.asarray(r), out)


def test_thread_count_independent(rng):
    x, w, b = rand(rng, 24, 13, 13, 32), rand(rng, 3, 3, 32, 64) * 0.1, rand(rng, 64)
    n0 = fusednet.get_num_threads()
    res = []
    try:
        for nt in (1, 2, 3):
            fusednet.set_num_threads(nt)
            y = fwd(x, w, b, act="relu")
            dy = np.ascontiguousarray(np.ones_like(y) * 0.5 + (y > 1))
            res.append((y,) + bwd(dy.astype(np.float32), x, w, y, (1, 1), "valid", (1, 1), "relu"))
    finally:
        fusednet.set_num_threads(n0)
    for other in res[1:]:
        for a, b_ in zip(res[0], other):
            np.testing.assert_array_equal(a, b_)


# Small K = kh*kw*C (<= 32) runs the direct kernels (no im2col/GEMM) on AVX-512 machines, for the
# forward (none/relu) and for the backward when dX is not wanted (a model's first layer).
DIRECT_CASES = [
    # N, H, W, C, kh, kw, O, strides, padding, dilation, act
    (3, 28, 28, 1, 3, 3, 32, (1, 1), "valid", (1, 1), "relu"),    # seed CNN conv1
    (2, 9, 8, 1, 3, 3, 5, (1, 1), "same", (1, 1), "relu"),       # O < 16: masked channels
    (2, 10, 11, 3, 3, 3, 40, (2, 1), "same", (1, 1), "none"),    # K = 27: several dW passes; O tail
    (1, 12, 9, 2, 4, 4, 20, (3, 2), "same", (1, 1), "relu"),     # K = 32, asymmetric padding
    (2, 11, 13, 2, 3, 2, 17, (1, 1), "same", (2, 2), "tanh"),    # dilation (GEMM forward, direct dW)
    (2, 70, 66, 1, 3, 3, 16, (1, 1), "same", (1, 1), "relu"),    # several bands per image
    (2, 6, 5, 4, 1, 1, 33, (1, 1), "valid", (1, 1), "sigmoid"),  # pointwise
]


@pytest.mark.parametrize("case", DIRECT_CASES)
def test_direct_small_k_vs_reference(rng, case):
    N, H, W, C, kh, kw, O, s, pad, d, act = case
    x, w, b = rand(rng, N, H, W, C), rand(rng, kh, kw, C, O), rand(rng, O)
    y = fwd(x, w, b, s, pad, d, act)
    close(y, conv_ref(x, w, b, s, pad, d, act), "conv")
    dy = rand(rng, *y.shape)
    dX, dW, db = bwd(dy, x, w, y, s, pad, d, act, need_dX=False)
    assert dX is None
    y64 = y.astype(np.float64)
    dz = dy * {"none": 1.0, "relu": (y64 > 0), "sigmoid": y64 * (1 - y64), "tanh": 1 - y64 ** 2}[act]
    _, rdw, rdb = conv_grad_ref(x, w, dz, s, pad, d)
    close(dW, rdw, "conv")
    close(db, rdb, "conv")
    # the dX-computing (GEMM) path agrees on dW / db
    _, dW2, db2 = bwd(dy, x, w, y, s, pad, d, act, need_dX=True)
    close(dW, dW2, "conv")
    close(db, db2, "conv")


# C % 16 == 0 takes the direct full backward (batch dW tiles, col2im fused into the dX tiles).
@pytest.mark.parametrize("case", [
    (3, 13, 13, 32, 3, 3, 64, (1, 1), "valid", (1, 1), "relu"),   # seed CNN conv2
    (2, 9, 10, 16, 3, 3, 40, (2, 1), "same", (1, 1), "tanh"),     # strides, padding, O tail
    (2, 11, 9, 48, 2, 3, 7, (1, 2), "same", (2, 1), "none"),      # dilation, even kernel, K tail
    (1, 6, 7, 16, 5, 5, 20, (1, 1), "same", (1, 1), "sigmoid"),
])
def test_direct_full_backward_vs_reference(rng, case):
    N, H, W, C, kh, kw, O, s, pad, d, act = case
    x, w, b = rand(rng, N, H, W, C), rand(rng, kh, kw, C, O) * 0.2, rand(rng, O)
    y = fwd(x, w, b, s, pad, d, act)
    close(y, conv_ref(x, w, b, s, pad, d, act), "conv")
    dy = rand(rng, *y.shape)
    dX, dW, db = bwd(dy, x, w, y, s, pad, d, act)
    y64 = y.astype(np.float64)
    dz = dy * {"none": 1.0, "relu": (y64 > 0), "sigmoid": y64 * (1 - y64), "tanh": 1 - y64 ** 2}[act]
    rdx, rdw, rdb = conv_grad_ref(x, w, dz, s, pad, d)
    close(dX, rdx, "conv")
    close(dW, rdw, "conv")
    close(db, rdb, "conv")


def test_direct_thread_count_independent(rng):
    x, w, b = rand(rng, 20, 28, 28, 1), rand(rng, 3, 3, 1, 32) * 0.3, rand(rng, 32)
    n0 = fusednet.get_num_threads()
    res = []
    try:
        for nt in (1, 2, 3):
            fusednet.set_num_threads(nt)
            y = fwd(x, w, b, act="relu")
            dy = np.ascontiguousarray(np.ones_like(y) * 0.5 + (y > 1)).astype(np.float32)
            res.append((y,) + bwd(dy, x, w, y, (1, 1), "valid", (1, 1), "relu", need_dX=False)[1:])
    finally:
        fusednet.set_num_threads(n0)
    for other in res[1:]:
        for a, b_ in zip(res[0], other):
            np.testing.assert_array_equal(a, b_)


def test_empty_batch(rng):
    x, w = np.zeros((0, 5, 5, 2), np.float32), rand(rng, 3, 3, 2, 4)
    y = fwd(x, w)
    assert y.shape == (0, 3, 3, 4)
    dX, dW, db = bwd(y, x, w, None, (1, 1), "valid", (1, 1), "none")
    assert dX.shape == x.shape and not dW.any() and not db.any()


@pytest.mark.parametrize("kwargs, match", [
    (dict(x=(2, 5, 5, 3), w=(3, 3, 2, 4)), "channels mismatch"),
    (dict(x=(2, 5, 5, 3), w=(6, 3, 3, 4)), "larger than the input"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 3, 4), d=(3, 1)), "larger than the input"),
    (dict(x=(5, 5, 3), w=(3, 3, 3, 4)), "4-D"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 4)), "4-D"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 3, 4), s=(0, 1)), "strides"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 3, 4), d=(1, 0)), "dilation"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 3, 4), pad="full"), "padding"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 3, 4), act="gelu"), "activation"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 3, 4), b=(5,)), "bias"),
])
def test_errors(kwargs, match):
    x = np.zeros(kwargs["x"], np.float32)
    w = np.zeros(kwargs["w"], np.float32)
    b = np.zeros(kwargs["b"], np.float32) if "b" in kwargs else None
    with pytest.raises(ValueError, match=match) as ei:
        fwd(x, w, b, kwargs.get("s", (1, 1)), kwargs.get("pad", "valid"), kwargs.get("d", (1, 1)),
            kwargs.get("act", "none"))
    assert "conv2d_forward" in str(ei.value)


def test_backward_errors(rng):
    x, w = rand(rng, 2, 5, 5, 3), rand(rng, 3, 3, 3, 4)
    with pytest.raises(ValueError, match="dY must have shape"):
        bwd(np.zeros((2, 4, 4, 4), np.float32), x, w, None, (1, 1), "valid", (1, 1), "none")
    with pytest.raises(ValueError, match="saved forward output"):
        bwd(np.zeros((2, 3, 3, 4), np.float32), x, w, None, (1, 1), "valid", (1, 1), "relu")
    with pytest.raises(TypeError):
        _C.conv2d_forward(_C.asarray(x.astype(np.int32)), _C.asarray(w))
    with pytest.raises(ValueError, match="strides"):
        fwd(x, w, None, (1, 2, 3))
