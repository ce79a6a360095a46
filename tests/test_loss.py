"""Loss kernels vs float64 NumPy references, PyTorch CPU, and float64 finite differences."""
import numpy as np
import pytest

import fusednet as fn
from conftest import requires_torch
from tolerances import TOL

C_ = fn._C
EPS = 1e-7

SHAPES = [(1, 1), (1, 7), (8, 10), (13, 1), (31, 17), (64, 101), (97, 3)]


def f32(x):
    return np.ascontiguousarray(x, dtype=np.float32)


def npa(a):
    return None if a is None else np.asarray(a)


def close(actual, desired, key="loss"):
    rtol, atol = TOL[key]
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol)


def grad_close(analytic, numeric):
    """Finite differences: compare relative to the largest gradient magnitude."""
    rtol, atol = TOL["gradcheck"]
    scale = max(np.max(np.abs(numeric)), 1e-12)
    np.testing.assert_allclose(analytic / scale, numeric / scale, rtol=0, atol=rtol + atol)


def fd_grad(f, x):
    """Central differences of a scalar float64 function f at x (float64)."""
    h = TOL["fd_eps"]
    x = x.astype(np.float64).copy()
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


# ------------------------------------------------------------------ float64 references
def ref_log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def ref_softmax_xent(x, t, ls):
    C = x.shape[-1]
    t = t * (1 - ls) + ls / C
    return -(t * ref_log_softmax(x)).sum(-1)


def ref_cce_probs(p, t, ls):
    C = p.shape[-1]
    t = t * (1 - ls) + ls / C
    q = p / p.sum(-1, keepdims=True)
    q = np.clip(q, EPS, 1 - EPS)
    return -(t * np.log(q)).sum(-1)


def ref_sigmoid_bce(x, t, ls):
    t = t * (1 - ls) + 0.5 * ls
    return (np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))).mean(-1)


def ref_bce_probs(p, t, ls):
    t = t * (1 - ls) + 0.5 * ls
    c = np.clip(p, EPS, 1 - EPS)
    return (-(t * np.log(c) + (1 - t) * np.log(1 - c))).mean(-1)


def ref_mse(p, t):
    return ((p - t) ** 2).mean(-1)


def ref_mae(p, t):
    return np.abs(p - t).mean(-1)


def ref_huber(p, t, delta):
    e = p - t
    a = np.abs(e)
    return np.where(a <= delta, 0.5 * e * e, delta * a - 0.5 * delta * delta).mean(-1)


def one_hot(y, C):
    return np.eye(C)[y]


# ------------------------------------------------------------------ softmax cross-entropy
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ls", [0.0, 0.1])
@pytest.mark.parametrize("label_dtype", [np.int32, np.int64, "dense"])
def test_softmax_xent_matches_reference(rng, shape, ls, label_dtype):
    N, C = shape
    x = f32(rng.standard_normal(shape) * 3)
    y = rng.integers(0, C, N)
    if label_dtype == "dense":
        lab = f32(one_hot(y, C))
    else:
        lab = y.astype(label_dtype)
    scale = 1.0 / N
    loss, g = C_.softmax_cross_entropy(fn.asarray(x), fn.asarray(lab), ls, scale, True)
    loss, g = npa(loss), npa(g)
    assert loss.shape == (N,) and g.shape == (N, C)
    xd, td = x.astype(np.float64), one_hot(y, C)
    close(loss, ref_softmax_xent(xd, td, ls))
    sm = np.exp(ref_log_softmax(xd))
    tt = td * (1 - ls) + ls / C
    close(g, scale * (sm - tt))
    # gradient of the mean loss by finite differences
    if N * C <= 400:
        num = fd_grad(lambda z: ref_softmax_xent(z, td, ls).mean(), xd)
        grad_close(g.astype(np.float64), num)


def test_softmax_xent_soft_targets_and_fd(rng):
    # dense targets that do not sum to 1: gradient is softmax*sum(t) - t
    x = rng.standard_normal((5, 7))
    t = rng.random((5, 7))
    loss, g = C_.softmax_cross_entropy(fn.asarray(f32(x)), fn.asarray(f32(t)), 0.2, 0.5, True)
    xd, td = f32(x).astype(np.float64), f32(t).astype(np.float64)
    close(npa(loss), ref_softmax_xent(xd, td, 0.2))
    num = fd_grad(lambda z: 0.5 * ref_softmax_xent(z, td, 0.2).sum(), xd)
    grad_close(npa(g).astype(np.float64), num)


def test_softmax_xent_extreme_logits_finite():
    x = f32([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]])
    y = np.array([1, 2, 0], dtype=np.int64)
    loss, g = C_.softmax_cross_entropy(fn.asarray(x), fn.asarray(y))
    loss, g = npa(loss), npa(g)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(g))
    close(loss, ref_softmax_xent(x.astype(np.float64), one_hot(y, 3), 0.0))
    np.testing.assert_allclose(g[0], [1.0, -1.0, 0.0], atol=TOL["loss"][1])


def test_softmax_xent_nd_and_no_grad(rng):
    x = f32(rng.standard_normal((3, 4, 5)))
    y = rng.integers(0, 5, (3, 4)).astype(np.int32)
    loss, g = C_.softmax_cross_entropy(fn.asarray(x), fn.asarray(y), want_grad=False)
    assert g is None and loss.shape == (3, 4)
    close(npa(loss), ref_softmax_xent(x.astype(np.float64), one_hot(y, 5), 0.0))


def test_softmax_xent_large_parallel(rng):
    # big enough to take the OpenMP path; results must not depend on the thread count
    x = f32(rng.standard_normal((4096, 33)))
    y = rng.integers(0, 33, 4096)
    nt = fn.get_num_threads()
    try:
        fn.set_num_threads(1)
        l1, g1 = (npa(a).copy() for a in C_.softmax_cross_entropy(fn.asarray(x), fn.asarray(y)))
        fn.set_num_threads(2)
        l2, g2 = (npa(a).copy() for a in C_.softmax_cross_entropy(fn.asarray(x), fn.asarray(y)))
    finally:
        fn.set_num_threads(nt)
    np.testing.assert_array_equal(l1, l2)
    np.testing.assert_array_equal(g1, g2)
    close(l1, ref_softmax_xent(x.astype(np.float64), one_hot(y, 33), 0.0))


def test_softmax_xent_errors(rng):
    x = fn.asarray(f32(rng.standard_normal((8, 10))))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: labels shape \(7,\) does not match logits \(8, 10\)"):
        C_.softmax_cross_entropy(x, fn.asarray(np.zeros(7, np.int64)))
    bad = np.zeros(8, np.int32)
    bad[3] = 10
    with pytest.raises(ValueError, match=r"label 10 at index 3 .*10 classes"):
        C_.softmax_cross_entropy(x, fn.asarray(bad))
    bad[3] = -1
    with pytest.raises(ValueError, match=r"label -1 at index 3"):
        C_.softmax_cross_entropy(x, fn.asarray(bad))
    with pytest.raises(ValueError, match="label_smoothing"):
        C_.softmax_cross_entropy(x, fn.asarray(np.zeros(8, np.int64)), 1.5)
    with pytest.raises(ValueError, match=r"logits must be \[N, C\]"):
        C_.softmax_cross_entropy(fn.asarray(f32(np.zeros(8))), fn.asarray(np.zeros(8, np.int64)))
    with pytest.raises(TypeError, match="logits must be float32"):
        C_.softmax_cross_entropy(fn.asarray(np.zeros((8, 10), np.int32)), fn.asarray(np.zeros(8, np.int64)))
    with pytest.raises(ValueError, match=r"labels shape \(8, 9\) does not match"):
        C_.softmax_cross_entropy(x, fn.asarray(f32(np.zeros((8, 9)))))


@requires_torch
@pytest.mark.parametrize("ls", [0.0, 0.15])
def test_softmax_xent_vs_torch(rng, ls):
    import torch
    x = f32(rng.standard_normal((37, 11)) * 2)
    y = rng.integers(0, 11, 37)
    xt = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(xt, torch.tensor(y), label_smoothing=ls, reduction="mean")
    ref.backward()
    loss, g = C_.softmax_cross_entropy(fn.asarray(x), fn.asarray(y), ls, 1.0 / 37, True)
    close(npa(loss).mean(), ref.item(), "torch")
    close(npa(g), xt.grad.numpy(), "torch")


# ------------------------------------------------------------------ categorical CE on probs
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (9, 4), (29, 13)])
@pytest.mark.parametrize("ls", [0.0, 0.1])
def test_cce_probs(rng, shape, ls):
    N, C = shape
    p = rng.random(shape) + 0.05
    y = rng.integers(0, C, N)
    t = one_hot(y, C)
    loss, g = C_.categorical_crossentropy_probs(fn.asarray(f32(p)), fn.asarray(f32(t)), ls, 1.0 / N, True)
    pd = f32(p).astype(np.float64)
    close(npa(loss), ref_cce_probs(pd, t, ls))
    if C > 1:  # C == 1: q == 1 is clipped, gradient 0
        num = fd_grad(lambda z: ref_cce_probs(z, t, ls).mean(), pd)
        grad_close(npa(g).astype(np.float64), num)
    else:
        np.testing.assert_array_equal(npa(g), 0)


def test_cce_probs_clipping_and_errors(rng):
    p = f32([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    t = f32([[0, 1, 0], [0, 0, 1]])
    loss, g = C_.categorical_crossentropy_probs(fn.asarray(p), fn.asarray(t))
    close(npa(loss), ref_cce_probs(p.astype(np.float64), t.astype(np.float64), 0.0))
    assert np.all(np.isfinite(npa(g)))
    with pytest.raises(TypeError, match="categorical_crossentropy_probs: labels must be float32"):
        C_.categorical_crossentropy_probs(fn.asarray(p), fn.asarray(np.array([1, 2], np.int64)))
    with pytest.raises(ValueError, match=r"labels shape \(2, 2\) does not match probs \(2, 3\)"):
        C_.categorical_crossentropy_probs(fn.asarray(p), fn.asarray(f32(np.zeros((2, 2)))))


# ------------------------------------------------------------------ elementwise losses
def _pointwise_cases(rng, kind, shape):
    if kind in ("bce_probs",):
        pred = rng.uniform(0.02, 0.98, shape)
    else:
        pred = rng.standard_normal(shape) * 2
    if kind in ("sigmoid_bce", "bce_probs"):
        target = rng.integers(0, 2, shape).astype(np.float64)
        target[..., :1] = rng.random(target[..., :1].shape)  # soft targets too
    else:
        target = rng.standard_normal(shape)
    return f32(pred), f32(target)


POINTWISE = {
    "sigmoid_bce": (lambda p, t, gs, wg, prm: C_.sigmoid_binary_cross_entropy(p, t, prm, gs, wg),
                    lambda p, t, prm: ref_sigmoid_bce(p, t, prm), [0.0, 0.1]),
    "bce_probs": (lambda p, t, gs, wg, prm: C_.binary_cross_entropy_probs(p, t, prm, gs, wg),
                  lambda p, t, prm: ref_bce_probs(p, t, prm), [0.0, 0.2]),
    "mse": (lambda p, t, gs, wg, prm: C_.mean_squared_error(p, t, gs, wg),
            lambda p, t, prm: ref_mse(p, t), [None]),
    "mae": (lambda p, t, gs, wg, prm: C_.mean_absolute_error(p, t, gs, wg),
            lambda p, t, prm: ref_mae(p, t), [None]),
    "huber": (lambda p, t, gs, wg, prm: C_.huber(p, t, prm, gs, wg),
              lambda p, t, prm: ref_huber(p, t, prm), [1.0, 0.5]),
}


@pytest.mark.parametrize("kind", list(POINTWISE))
@pytest.mark.parametrize("shape", [(1, 1), (7, 1), (5, 3), (17, 13), (2, 3, 5), (11,)])
def test_pointwise_losses(rng, kind, shape):
    call, ref, params = POINTWISE[kind]
    for prm in params:
        p, t = _pointwise_cases(rng, kind, shape)
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else shape[0]
        gs = 1.0 / rows
        loss, g = call(fn.asarray(p), fn.asarray(t), gs, True, prm)
        loss, g = npa(loss), npa(g)
        p2 = p.astype(np.float64).reshape(shape if len(shape) > 1 else (shape[0], 1))
        t2 = t.astype(np.float64).reshape(p2.shape)
        expect_shape = shape[:-1] if len(shape) > 1 else shape
        assert loss.shape == expect_shape and g.shape == shape
        close(loss, ref(p2, t2, prm).reshape(expect_shape))
        num = fd_grad(lambda z: gs * ref(z, t2, prm).sum(), p2).reshape(shape)
        grad_close(g.astype(np.float64), num)
        loss2, g2 = call(fn.asarray(p), fn.asarray(t), gs, False, prm)
        assert g2 is None
        np.testing.assert_array_equal(npa(loss2), loss)


def test_sigmoid_bce_extreme_logits():
    x = f32([[1e4, -1e4, 0.0, 50.0, -50.0]])
    t = f32([[0.0, 1.0, 1.0, 1.0, 0.0]])
    loss, g = C_.sigmoid_binary_cross_entropy(fn.asarray(x), fn.asarray(t))
    assert np.all(np.isfinite(npa(loss))) and np.all(np.isfinite(npa(g)))
    close(npa(loss), ref_sigmoid_bce(x.astype(np.float64), t.astype(np.float64), 0.0))
    np.testing.assert_allclose(npa(g)[0], np.array([1, -1, -0.5, 0, 0]) / 5, atol=1e-6)


def test_mae_subgradient_zero_at_equality():
    p = f32([[1.0, 2.0, 3.0]])
    t = f32([[1.0, 1.0, 4.0]])
    _, g = C_.mean_absolute_error(fn.asarray(p), fn.asarray(t))
    np.testing.assert_allclose(npa(g), [[0.0, 1 / 3, -1 / 3]], rtol=1e-6)


def test_bce_probs_clipped_gradient_is_zero():
    p = f32([[0.0, 1.0, 0.5]])
    t = f32([[1.0, 0.0, 1.0]])
    loss, g = C_.binary_cross_entropy_probs(fn.asarray(p), fn.asarray(t))
    close(npa(loss), ref_bce_probs(p.astype(np.float64), t.astype(np.float64), 0.0))
    assert npa(g)[0, 0] == 0 and npa(g)[0, 1] == 0 and npa(g)[0, 2] < 0


def test_pointwise_errors(rng):
    p = fn.asarray(f32(rng.standard_normal((4, 3))))
    with pytest.raises(ValueError, match=r"mean_squared_error: target shape \(4, 2\) does not match pred \(4, 3\)"):
        C_.mean_squared_error(p, fn.asarray(f32(np.zeros((4, 2)))))
    with pytest.raises(TypeError, match="huber: target must be float32"):
        C_.huber(p, fn.asarray(np.zeros((4, 3), np.int64)))
    with pytest.raises(ValueError, match="huber: delta must be > 0"):
        C_.huber(p, p, 0.0)
    with pytest.raises(ValueError, match="sigmoid_binary_cross_entropy: label_smoothing"):
        C_.sigmoid_binary_cross_entropy(p, p, -0.1)


@requires_torch
def test_pointwise_vs_torch(rng):
    import torch
    F = torch.nn.functional
    x = f32(rng.standard_normal((23, 7)) * 3)
    t01 = f32(rng.integers(0, 2, (23, 7)))
    t = f32(rng.standard_normal((23, 7)))
    gs = 1.0 / 23
    cases = [
        (C_.sigmoid_binary_cross_entropy(fn.asarray(x), fn.asarray(t01), 0.0, gs, True),
         lambda z: F.binary_cross_entropy_with_logits(z, torch.tensor(t01))),
        (C_.mean_squared_error(fn.asarray(x), fn.asarray(t), gs, True),
         lambda z: F.mse_loss(z, torch.tensor(t))),
        (C_.mean_absolute_error(fn.asarray(x), fn.asarray(t), gs, True),
         lambda z: F.l1_loss(z, torch.tensor(t))),
        (C_.huber(fn.asarray(x), fn.asarray(t), 0.7, gs, True),
         lambda z: F.huber_loss(z, torch.tensor(t), delta=0.7)),
    ]
    for (loss, g), tf in cases:
        z = torch.tensor(x, requires_grad=True)
        ref = tf(z)
        ref.backward()
        close(npa(loss).mean(), ref.item(), "torch")
        close(npa(g), z.grad.numpy(), "torch")
