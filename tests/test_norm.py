"""BatchNormalization / LayerNormalization kernels vs float64 NumPy, finite differences and PyTorch;
Keras moving-statistics rule, fold_batchnorm, determinism, errors."""
import numpy as np
import pytest

import fusednet
from fusednet import _C
from conftest import requires_torch
from tolerances import TOL
from test_conv import close, conv_ref, fd_close

A = _C.asarray


def bn_ref(x, gamma, beta, eps):
    x = x.astype(np.float64)
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    y = (x - mean) / np.sqrt(var + eps)
    return y * (1 if gamma is None else gamma) + (0 if beta is None else beta), mean, var


def ln_ref(x, gamma, beta, eps):
    x = x.astype(np.float64)
    mean, var = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    return y * (1 if gamma is None else gamma) + (0 if beta is None else beta)


def numgrad(f, arr):
    eps, g = TOL["fd_eps"], np.zeros_like(arr)
    flat = arr.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        lp = f()
        flat[k] = old - eps
        lm = f()
        flat[k] = old
        g.reshape(-1)[k] = (lp - lm) / (2 * eps)
    return g


@pytest.mark.parametrize("shape", [(64, 5), (4, 7, 9, 3), (2, 5, 5, 1), (1, 1, 1, 8), (3000, 17)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_train(rng, shape, affine):
    C = shape[-1]
    x = (rng.standard_normal(shape) * 3 + 5).astype(np.float32)
    gamma = rng.standard_normal(C).astype(np.float32) if affine else None
    beta = rng.standard_normal(C).astype(np.float32) if affine else None
    mm0, mv0 = rng.standard_normal(C).astype(np.float32), rng.random(C).astype(np.float32) + 0.5
    mm, mv = mm0.copy(), mv0.copy()
    y, mean, inv = _C.batch_norm_forward_train(A(x), None if gamma is None else A(gamma),
                                               None if beta is None else A(beta), A(mm), A(mv), 0.99, 1e-3)
    ry, rmean, rvar = bn_ref(x, gamma, beta, 1e-3)
    close(y, ry, "norm")
    close(mean, rmean, "norm")
    close(inv, 1 / np.sqrt(rvar + 1e-3), "norm")
    # Keras 3: moving = moving*momentum + batch*(1-momentum), biased batch variance for both
    close(mm, mm0 * 0.99 + rmean * 0.01, "norm")
    close(mv, mv0 * 0.99 + rvar * 0.01, "norm")
    # backward vs the analytic float64 formula
    dy = rng.standard_normal(shape).astype(np.float32)
    dX, dg, db = _C.batch_norm_backward(A(dy), A(x), None if gamma is None else A(gamma), mean, inv, True)
    axes = tuple(range(x.ndim - 1))
    M = x.size // C
    xh = (x - rmean) / np.sqrt(rvar + 1e-3)
    rdb, rdg = dy.sum(axis=axes, dtype=np.float64), (dy * xh).sum(axis=axes)
    g = 1.0 if gamma is None else gamma.astype(np.float64)
    rdx = g / np.sqrt(rvar + 1e-3) * (dy - rdb / M - xh * rdg / M)
    close(dX, rdx, "norm")
    close(dg, rdg, "norm")
    close(db, rdb, "norm")


def test_batch_norm_fd(rng):
    x = rng.standard_normal((3, 2, 2, 3))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    R = rng.standard_normal(x.shape)
    y, mean, inv = _C.batch_norm_forward_train(A(x.astype(np.float32)), A(gamma.astype(np.float32)),
                                               A(beta.astype(np.float32)), A(np.zeros(3, np.float32)),
                                               A(np.ones(3, np.float32)), 0.9, 1e-3)
    dX, dg, db = _C.batch_norm_backward(A(R.astype(np.float32)), A(x.astype(np.float32)),
                                        A(gamma.astype(np.float32)), mean, inv)
    f = lambda: float((bn_ref(x, gamma, beta, 1e-3)[0] * R).sum())
    fd_close(dX, numgrad(f, x))
    fd_close(dg, numgrad(f, gamma))
    fd_close(db, numgrad(f, beta))


def test_batch_norm_inference(rng):
    x = rng.standard_normal((5, 4, 4, 6)).astype(np.float32)
    gamma, beta = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    mm, mv = rng.standard_normal(6).astype(np.float32), rng.random(6).astype(np.float32) + 0.1
    y = _C.batch_norm_forward_infer(A(x), A(gamma), A(beta), A(mm), A(mv), 1e-3)
    inv = 1 / np.sqrt(mv.astype(np.float64) + 1e-3)
    close(y, (x - mm) * inv * gamma + beta, "norm")
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dX, dg, db = _C.batch_norm_backward(A(dy), A(x), A(gamma), A(mm), A(inv.astype(np.float32)), False)
    close(dX, dy * gamma * inv, "norm")
    close(dg, (dy * (x - mm) * inv).sum(axis=(0, 1, 2)), "norm")
    close(db, dy.sum(axis=(0, 1, 2), dtype=np.float64), "norm")


@requires_torch
def test_batch_norm_vs_torch(rng):
    import torch
    import torch.nn.functional as F
    x = rng.standard_normal((8, 6, 5, 4)).astype(np.float32)
    gamma, beta = rng.standard_normal(4).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    xt = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_(True)
    gt, bt = torch.tensor(gamma).requires_grad_(True), torch.tensor(beta).requires_grad_(True)
    yt = F.batch_norm(xt, None, None, gt, bt, training=True, eps=1e-3).permute(0, 2, 3, 1)
    dy = rng.standard_normal(yt.shape).astype(np.float32)
    yt.backward(torch.tensor(dy))
    y, mean, inv = _C.batch_norm_forward_train(A(x), A(gamma), A(beta), A(np.zeros(4, np.float32)),
                                               A(np.ones(4, np.float32)))
    dX, dg, db = _C.batch_norm_backward(A(dy), A(x), A(gamma), mean, inv)
    close(y, yt.detach().numpy(), "torch")
    close(dX, xt.grad.permute(0, 2, 3, 1).numpy(), "torch")
    close(dg, gt.grad.numpy(), "torch")
    close(db, bt.grad.numpy(), "torch")


def test_batch_norm_thread_independent(rng):
    x = rng.standard_normal((40000, 16)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    n0, res = fusednet.get_num_threads(), []
    try:
        for nt in (1, 2, 3):
            fusednet.set_num_threads(nt)
            y, m, inv = _C.batch_norm_forward_train(A(x), None, None, A(np.zeros(16, np.float32)),
                                                    A(np.ones(16, np.float32)))
            res.append([np.asarray(a) for a in (y, m, inv) + tuple(_C.batch_norm_backward(A(dy), A(x), None, m, inv))])
    finally:
        fusednet.set_num_threads(n0)
    for other in res[1:]:
        for a, b in zip(res[0], other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("with_bias", [True, False])
def test_fold_batchnorm(rng, with_bias):
    x = rng.standard_normal((2, 7, 7, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32) if with_bias else None
    gamma, beta = rng.standard_normal(5).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    mean, var = rng.standard_normal(5).astype(np.float32), rng.random(5).astype(np.float32) + 0.2
    w2, b2 = _C.fold_batchnorm(A(w), None if b is None else A(b), A(gamma), A(beta), A(mean), A(var), 1e-3)
    z = conv_ref(x, w, b, (1, 1), "same", (1, 1))
    ref = (z - mean) / np.sqrt(var.astype(np.float64) + 1e-3) * gamma + beta
    close(conv_ref(x, np.asarray(w2), np.asarray(b2), (1, 1), "same", (1, 1)), ref, "norm")


@pytest.mark.parametrize("shape", [(6, 10), (2, 3, 33), (4, 1), (1, 257)])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm(rng, shape, affine):
    D = shape[-1]
    x = (rng.standard_normal(shape) * 2 + 3).astype(np.float32)
    gamma = rng.standard_normal(D).astype(np.float32) if affine else None
    beta = rng.standard_normal(D).astype(np.float32) if affine else None
    y, mean, inv = _C.layer_norm_forward(A(x), None if gamma is None else A(gamma),
                                         None if beta is None else A(beta), 1e-3)
    assert mean.shape == shape[:-1]
    close(y, ln_ref(x, gamma, beta, 1e-3), "norm")
    x64 = x.astype(np.float64)
    R = rng.standard_normal(shape)
    dX, dg, db = _C.layer_norm_backward(A(R.astype(np.float32)), A(x), None if gamma is None else A(gamma), mean, inv)
    if x.size <= 300:
        g64 = None if gamma is None else gamma.astype(np.float64)
        f = lambda: float((ln_ref(x64, g64, beta, 1e-3) * R).sum())
        fd_close(dX, numgrad(f, x64))
        if affine:
            fd_close(dg, numgrad(f, g64))
    axes = tuple(range(x.ndim - 1))
    close(db, R.sum(axis=axes), "norm")


@requires_torch
def test_layer_norm_vs_torch(rng):
    import torch
    import torch.nn.functional as F
    x = rng.standard_normal((7, 5, 48)).astype(np.float32)
    gamma, beta = rng.standard_normal(48).astype(np.float32), rng.standard_normal(48).astype(np.float32)
    xt = torch.tensor(x).requires_grad_(True)
    gt, bt = torch.tensor(gamma).requires_grad_(True), torch.tensor(beta).requires_grad_(True)
    yt = F.layer_norm(xt, (48,), gt, bt, eps=1e-3)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    yt.backward(torch.tensor(dy))
    y, mean, inv = _C.layer_norm_forward(A(x), A(gamma), A(beta))
    dX, dg, db = _C.layer_norm_backward(A(dy), A(x), A(gamma), mean, inv)
    close(y, yt.detach().numpy(), "torch")
    close(dX, xt.grad.numpy(), "torch")
    close(dg, gt.grad.numpy(), "torch")
    close(db, bt.grad.numpy(), "torch")


def test_errors():
    x = A(np.zeros((4, 3), np.float32))
    v3, v4 = A(np.zeros(3, np.float32)), A(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="batch_norm_forward_train: gamma must have shape"):
        _C.batch_norm_forward_train(x, v4, None, A(np.zeros(3, np.float32)), A(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match="moving_var"):
        _C.batch_norm_forward_train(x, None, None, A(np.zeros(3, np.float32)), v4)
    ro = np.zeros(3, np.float32)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        _C.batch_norm_forward_train(x, None, None, A(ro), A(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match="layer_norm_forward: beta"):
        _C.layer_norm_forward(x, None, v4)
    with pytest.raises(ValueError, match="dY must have shape"):
        _C.layer_norm_backward(A(np.zeros((4, 4), np.float32)), x, None, A(np.zeros(4, np.float32)), A(np.zeros(4, np.float32)))
    with pytest.raises(ValueError, match="fold_batchnorm: gamma"):
        _C.fold_batchnorm(A(np.zeros((3, 3, 2, 3), np.float32)), None, v4, None, v3, v3)
    with pytest.raises(TypeError):
        _C.layer_norm_forward(A(np.zeros((4, 3), np.int32)), None, None)
