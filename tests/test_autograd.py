"""Every autograd Function vs float64 central finite differences of its formula (NumPy)."""
import numpy as np
import pytest

import fusednet as fn
import fusednet.functional as F
from fusednet import Tensor
from tolerances import TOL

EPS = TOL["fd_eps"]
RT, AT = TOL["gradcheck"]


def fd_grad(f, xs, i, w):
    """d/dx_i of sum(w * f(*xs)) in float64 by central differences."""
    x = xs[i].astype(np.float64).copy()
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        old = x[idx]
        args = [a.astype(np.float64) for a in xs]
        x[idx] = old + EPS
        args[i] = x
        fp = np.sum(w * f(*args))
        x[idx] = old - EPS
        args[i] = x
        fm = np.sum(w * f(*args))
        x[idx] = old
        g[idx] = (fp - fm) / (2 * EPS)
    return g


def check(op, ref, shapes, rng, positive=False, away_from_zero=False):
    xs = []
    for s in shapes:
        a = rng.standard_normal(s)
        if positive:
            a = np.abs(a) + 0.5
        if away_from_zero:
            a = np.where(np.abs(a) < 0.1, a + 0.3 * np.sign(a + 1e-9), a)
        xs.append(a.astype(np.float32))
    ts = [Tensor(x, requires_grad=True) for x in xs]
    out = op(*ts)
    w = rng.standard_normal(out.shape).astype(np.float32)
    np.testing.assert_allclose(out.numpy(), ref(*[x.astype(np.float64) for x in xs]), rtol=1e-4, atol=1e-5)
    out.backward(w)
    for i, t in enumerate(ts):
        g = fd_grad(ref, xs, i, w.astype(np.float64))
        scale = max(np.abs(g).max(), 1e-3)
        np.testing.assert_allclose(t.grad.numpy(), g, rtol=RT, atol=RT * scale + AT)


def test_add_broadcast(rng):
    check(lambda a, b: a + b, lambda a, b: a + b, [(3, 4), (4,)], rng)


def test_sub_broadcast(rng):
    check(lambda a, b: a - b, lambda a, b: a - b, [(3, 1), (1, 4)], rng)


def test_mul(rng):
    check(lambda a, b: a * b, lambda a, b: a * b, [(2, 3), (2, 3)], rng)


def test_div(rng):
    check(lambda a, b: a / b, lambda a, b: a / b, [(2, 3), (3,)], rng, positive=True)


def test_scalar_ops(rng):
    check(lambda a: (2.0 - a) * 3.0 + 1.0 / (a * a + 1.0), lambda a: (2.0 - a) * 3.0 + 1.0 / (a * a + 1.0), [(5,)], rng)


def test_neg_pow(rng):
    check(lambda a: -(a ** 3), lambda a: -(a ** 3), [(4,)], rng)
    check(lambda a: a ** 2, lambda a: a ** 2, [(4,)], rng)


def test_matmul(rng):
    check(lambda a, b: a @ b, lambda a, b: a @ b, [(3, 5), (5, 2)], rng)


@pytest.mark.parametrize("axis,keep", [(None, False), (0, False), (1, True), ((0, 1), False)])
def test_sum_mean(rng, axis, keep):
    check(lambda a: F.sum(a, axis, keep), lambda a: np.sum(a, axis=axis, keepdims=keep), [(3, 4)], rng)
    check(lambda a: F.mean(a, axis, keep), lambda a: np.mean(a, axis=axis, keepdims=keep), [(3, 4)], rng)


def test_reshape_transpose(rng):
    check(lambda a: F.transpose(a.reshape(4, 6), (1, 0)), lambda a: a.reshape(4, 6).T, [(2, 3, 4)], rng)
    check(lambda a: F.transpose(a, (2, 0, 1)), lambda a: np.transpose(a, (2, 0, 1)), [(2, 3, 4)], rng)


def test_getitem(rng):
    check(lambda a: a[1:3, 2], lambda a: a[1:3, 2], [(4, 5)], rng)
    check(lambda a: a[:, 1:], lambda a: a[:, 1:], [(3, 4)], rng)
    idx = np.array([2, 0, 2])
    check(lambda a: a[idx], lambda a: a[idx], [(3, 2)], rng)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "square", "abs"])
def test_unary(rng, name):
    op = getattr(F, name)
    ref = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "square": np.square, "abs": np.abs}[name]
    check(op, ref, [(3, 4)], rng, positive=name in ("log", "sqrt"), away_from_zero=name == "abs")


def _np_act(kind):
    from scipy.special import erf
    return {
        "relu": lambda z: np.maximum(z, 0),
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
        "tanh": np.tanh,
        "linear": lambda z: z,
        "leaky_relu": lambda z: np.where(z > 0, z, 0.2 * z),
        "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
        "gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
        "softplus": lambda z: np.logaddexp(0, z),
        "silu": lambda z: z / (1 + np.exp(-z)),
    }[kind]


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", "linear", "gelu", "elu"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_fused(rng, act, bias):
    f = _np_act(act)
    if bias:
        check(lambda x, w, b: F.linear(x, w, b, act), lambda x, w, b: f(x @ w + b), [(4, 5), (5, 3), (3,)], rng,
              away_from_zero=act == "relu")
    else:
        check(lambda x, w: F.linear(x, w, None, act), lambda x, w: f(x @ w), [(4, 5), (5, 3)], rng)


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softplus", "silu"])
def test_activations(rng, act):
    check(lambda x: F.activation(x, act), _np_act(act), [(3, 5)], rng, away_from_zero=act in ("relu", "leaky_relu", "elu"))


def test_softmax_log_softmax(rng):
    def sm(z):
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    check(F.softmax, sm, [(3, 5)], rng)
    check(F.log_softmax, lambda z: np.log(sm(z)), [(3, 5)], rng)


def test_dropout_mask_grad_and_determinism(rng):
    x = Tensor(rng.standard_normal((64, 32)).astype(np.float32), requires_grad=True)
    y = F.dropout(x, 0.25, seed=(7, 3))
    y2 = F.dropout(x, 0.25, seed=(7, 3))
    np.testing.assert_array_equal(y.numpy(), y2.numpy())
    mask = y.numpy() / np.where(x.numpy() == 0, 1, x.numpy())
    kept = np.isclose(mask, 1 / 0.75, rtol=1e-5)
    assert np.all(kept | np.isclose(mask, 0))
    assert 0.6 < kept.mean() < 0.9
    y.backward(np.ones((64, 32), np.float32))
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.75, rtol=1e-6)
    assert F.dropout(x, 0.5, training=False) is x
    with pytest.raises(ValueError, match="rate"):
        F.dropout(x, 1.0)


def test_composed_graph_mlp(rng):
    def ref(x, w1, b1, w2):
        h = np.maximum(x @ w1 + b1, 0)
        z = h @ w2
        e = np.exp(z - z.max(-1, keepdims=True))
        return (e / e.sum(-1, keepdims=True) * np.arange(3)).sum(-1).mean()
    check(lambda x, w1, b1, w2: F.mean(F.sum(F.softmax(F.linear(F.linear(x, w1, b1, "relu"), w2)) * np.arange(3, dtype=np.float32), 1)),
          ref, [(4, 6), (6, 5), (5,), (5, 3)], rng, away_from_zero=True)


def test_grad_accumulates_and_reuse(rng):
    a = Tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    y = (a * a + a).sum()        # a used twice
    y.backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * a.numpy() + 1, rtol=1e-6)
    (a * 2.0).sum().backward()   # accumulates like PyTorch
    np.testing.assert_allclose(a.grad.numpy(), 2 * a.numpy() + 3, rtol=1e-6)


def test_no_grad_and_errors(rng):
    a = Tensor(np.ones(3, np.float32), requires_grad=True)
    with fn.no_grad():
        b = a * 2.0
    assert not b.requires_grad
    with pytest.raises(ValueError, match="does not require grad"):
        b.sum().backward()
    with pytest.raises(ValueError, match="one-element"):
        (a * 2.0).backward()
    with pytest.raises(ValueError, match="matmul"):
        F.matmul(Tensor(np.ones((2, 3), np.float32)), Tensor(np.ones((4, 2), np.float32)))
    with pytest.raises(TypeError, match="float32"):
        Tensor(np.arange(3), requires_grad=True)
