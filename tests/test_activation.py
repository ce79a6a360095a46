"""Activations and softmax: kernels vs float64 NumPy formulas, analytic derivatives vs finite
differences, PyTorch cross-checks, stability at +-1e4, every ISA path, error messages."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import fusednet as fn
from fusednet import _C
from conftest import HAVE_TORCH, requires_torch
from tolerances import TOL

SELU_A = 1.6732632423543772848170429916717
SELU_S = 1.0507009873554804934193349852946
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sig(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


# kind -> (forward(x, alpha), derivative(x, alpha)) in float64
def _gelu_tanh_parts(x):
    c = math.sqrt(2 / math.pi)
    u = c * (x + 0.044715 * x ** 3)
    du = c * (1 + 3 * 0.044715 * x ** 2)
    return u, du


REF = {
    "linear": (lambda x, a: x, lambda x, a: np.ones_like(x)),
    "relu": (lambda x, a: np.maximum(x, 0), lambda x, a: (x > 0).astype(np.float64)),
    "relu6": (lambda x, a: np.clip(x, 0, 6), lambda x, a: ((x > 0) & (x < 6)).astype(np.float64)),
    "leaky_relu": (lambda x, a: np.where(x > 0, x, a * x), lambda x, a: np.where(x > 0, 1.0, a)),
    "elu": (lambda x, a: np.where(x > 0, x, a * np.expm1(np.minimum(x, 0))),
            lambda x, a: np.where(x > 0, 1.0, a * np.exp(np.minimum(x, 0)))),
    "selu": (lambda x, a: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(np.minimum(x, 0))),
             lambda x, a: SELU_S * np.where(x > 0, 1.0, SELU_A * np.exp(np.minimum(x, 0)))),
    "gelu": (lambda x, a: 0.5 * x * (1 + _erf(x / math.sqrt(2))),
             lambda x, a: 0.5 * (1 + _erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)),
    "gelu_tanh": (lambda x, a: 0.5 * x * (1 + np.tanh(_gelu_tanh_parts(x)[0])),
                  lambda x, a: 0.5 * (1 + np.tanh(_gelu_tanh_parts(x)[0]))
                  + 0.5 * x * (1 - np.tanh(_gelu_tanh_parts(x)[0]) ** 2) * _gelu_tanh_parts(x)[1]),
    "sigmoid": (lambda x, a: _sig(x), lambda x, a: _sig(x) * (1 - _sig(x))),
    "hard_sigmoid": (lambda x, a: np.clip(x + 3, 0, 6) / 6, lambda x, a: np.where((x > -3) & (x < 3), 1 / 6, 0.0)),
    "tanh": (lambda x, a: np.tanh(x), lambda x, a: 1 - np.tanh(x) ** 2),
    "softplus": (lambda x, a: _softplus(x), lambda x, a: _sig(x)),
    "softsign": (lambda x, a: x / (1 + np.abs(x)), lambda x, a: 1 / (1 + np.abs(x)) ** 2),
    "silu": (lambda x, a: x * _sig(x), lambda x, a: _sig(x) * (1 + x * (1 - _sig(x)))),
    "mish": (lambda x, a: x * np.tanh(_softplus(x)),
             lambda x, a: np.tanh(_softplus(x)) + x * (1 - np.tanh(_softplus(x)) ** 2) * _sig(x)),
    "exponential": (lambda x, a: np.exp(x), lambda x, a: np.exp(x)),
}
KINDS = list(REF)
APPROX = {"gelu", "gelu_tanh", "mish", "softplus"}
ALPHA = {"leaky_relu": 0.2, "elu": 1.0}
SHAPES = [(0,), (1,), (7,), (97,), (3, 5), (2, 3, 17), (40009,)]  # 40009: prime, threaded path
# points where the derivative is discontinuous; finite differences avoid them
KINKS = {"relu": [0], "relu6": [0, 6], "leaky_relu": [0], "elu": [0], "selu": [0], "hard_sigmoid": [-3, 3]}


def _tol(kind):
    return TOL["pointwise_approx"] if kind in APPROX else TOL["pointwise"]


def _inputs(rng, shape, kind):
    x = rng.standard_normal(shape) * 4
    if kind == "exponential":
        x = np.clip(x, -20, 20)
    return x.astype(np.float32)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_float64(kind, shape, rng):
    x = _inputs(rng, shape, kind)
    a = ALPHA.get(kind, 0.0)
    y = np.asarray(_C.activation_forward(fn.asarray(x), kind, a))
    assert y.shape == x.shape and y.dtype == np.float32
    ref = REF[kind][0](x.astype(np.float64), a)
    np.testing.assert_allclose(y, ref, *_tol(kind))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(0,), (1,), (13,), (4, 33), (40009,)])
def test_backward_matches_analytic(kind, shape, rng):
    x = _inputs(rng, shape, kind)
    dy = rng.standard_normal(shape).astype(np.float32)
    a = ALPHA.get(kind, 0.0)
    xa = fn.asarray(x)
    y = _C.activation_forward(xa, kind, a)
    ref = dy.astype(np.float64) * REF[kind][1](x.astype(np.float64), a)
    for yy in (y, None):  # with the saved output and without it
        dx = np.asarray(_C.activation_backward(fn.asarray(dy), xa, yy, kind, a))
        # y-based derivatives (sigmoid y(1-y), tanh 1-y^2) carry y's float32 rounding
        r, at = _tol(kind)
        np.testing.assert_allclose(dx, ref, r * 4, at * 4)


@pytest.mark.parametrize("kind", KINDS)
def test_analytic_derivative_vs_finite_differences(kind, rng):
    """Validates the float64 formulas the kernels are checked against."""
    x = rng.uniform(-7, 7, 501)
    for k in KINKS.get(kind, []):
        x = np.where(np.abs(x - k) < 1e-3, x + 1e-2, x)
    a = ALPHA.get(kind, 0.3)
    f, df = REF[kind]
    eps = TOL["fd_eps"]
    fd = (f(x + eps, a) - f(x - eps, a)) / (2 * eps)
    an = df(x, a)
    r, at = TOL["gradcheck"]
    np.testing.assert_allclose(fd, an, r, at * np.max(np.abs(an)) + at)


def test_alpha_defaults_and_overrides():
    x = np.array([-2.0, -0.5, 0.0, 1.5], np.float32)
    xa = fn.asarray(x)
    np.testing.assert_allclose(np.asarray(_C.activation_forward(xa, "leaky_relu")), np.where(x > 0, x, 0.2 * x))
    np.testing.assert_allclose(np.asarray(_C.activation_forward(xa, "leaky_relu", 0.01)), np.where(x > 0, x, 0.01 * x))
    np.testing.assert_allclose(np.asarray(_C.activation_forward(xa, "elu")), np.where(x > 0, x, np.expm1(x)), 1e-6)
    np.testing.assert_allclose(np.asarray(_C.activation_forward(xa, "elu", 0.5)), np.where(x > 0, x, 0.5 * np.expm1(x)), 1e-6)
    np.testing.assert_array_equal(np.asarray(_C.activation_forward(xa, "swish")),
                                  np.asarray(_C.activation_forward(xa, "silu")))


def test_large_magnitude_and_special_values():
    x = np.array([-1e4, -1e3, -100, -88.5, 88.5, 100, 1e3, 1e4, 0.0, -0.0], np.float32)
    xa = fn.asarray(x)
    s = np.asarray(_C.activation_forward(xa, "sigmoid"))
    assert np.all(np.isfinite(s)) and np.all((s >= 0) & (s <= 1))
    np.testing.assert_array_equal(s[[0, 1, 2]], 0.0)
    np.testing.assert_array_equal(s[[5, 6, 7]], 1.0)
    for kind in KINDS:
        y = np.asarray(_C.activation_forward(xa, kind, ALPHA.get(kind, 0.0)))
        if kind != "exponential":
            assert np.all(np.isfinite(y)), kind
        dx = np.asarray(_C.activation_backward(fn.asarray(np.ones_like(x)), xa, None, kind, ALPHA.get(kind, 0.0)))
        if kind != "exponential":
            assert np.all(np.isfinite(dx)), kind
    np.testing.assert_allclose(np.asarray(_C.activation_forward(xa, "softplus"))[[7, 0]], [1e4, 0.0])
    e = np.asarray(_C.activation_forward(xa, "exponential"))
    assert e[0] == 0.0 and np.isinf(e[7])
    nan = fn.asarray(np.array([np.nan], np.float32))
    for kind in KINDS:
        if kind in ("hard_sigmoid", "relu6", "linear"):
            continue
        assert np.isnan(np.asarray(_C.activation_forward(nan, kind, 0.1))[0]), kind


def test_in_place_and_out(rng):
    x = rng.standard_normal(1000).astype(np.float32)
    ref = REF["tanh"][0](x.astype(np.float64), 0)
    buf = x.copy()
    a = fn.asarray(buf)
    r = _C.activation_forward(a, "tanh", out=a)
    assert r.data_ptr == a.data_ptr
    np.testing.assert_allclose(buf, ref, *TOL["pointwise"])
    with pytest.raises(ValueError, match="activation_forward: out must have shape"):
        _C.activation_forward(fn.asarray(x), "relu", out=fn.asarray(np.zeros(999, np.float32)))
    with pytest.raises(ValueError, match="partially overlaps"):
        big = fn.asarray(np.zeros(2000, np.float32))
        _C.activation_forward(fn.asarray(np.asarray(big)[:1000]), "relu", out=fn.asarray(np.asarray(big)[500:1500]))


def test_thread_count_independent(rng):
    x = fn.asarray(rng.standard_normal((300, 1001)).astype(np.float32))
    n0 = fn.get_num_threads()
    try:
        outs = []
        for t in (1, 2, 3):
            fn.set_num_threads(t)
            outs.append([np.asarray(_C.activation_forward(x, "gelu")), np.asarray(_C.softmax_forward(x)),
                         np.asarray(_C.log_softmax_backward(x, x))])
        for o in outs[1:]:
            for a, b in zip(outs[0], o):
                np.testing.assert_array_equal(a, b)
    finally:
        fn.set_num_threads(n0)


def test_errors():
    x = fn.asarray(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"activation_forward: unknown activation 'relux'.*valid: linear, relu"):
        _C.activation_forward(x, "relux")
    with pytest.raises(TypeError, match="activation_forward: x must be float32"):
        _C.activation_forward(fn.asarray(np.zeros(3, np.int32)), "relu")
    with pytest.raises(ValueError, match=r"activation_backward: dY \(3, 4\) and x \(4, 3\)"):
        _C.activation_backward(x, fn.asarray(np.zeros((4, 3), np.float32)), None, "relu")
    with pytest.raises(ValueError, match=r"activation_backward: y \(3,\) and x \(3, 4\)"):
        _C.activation_backward(x, x, fn.asarray(np.zeros(3, np.float32)), "relu")
    with pytest.raises(ValueError, match="softmax_forward: x must have at least 1 dimension"):
        _C.softmax_forward(fn.asarray(np.float32(1.0)))
    with pytest.raises(ValueError, match=r"softmax_backward: dY \(3, 4\) and y \(3, 5\)"):
        _C.softmax_backward(x, fn.asarray(np.zeros((3, 5), np.float32)))


# ---------------------------------------------------------------- softmax
def _softmax64(x):
    z = x - x.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _log_softmax64(x):
    z = x - x.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


SM_SHAPES = [(1,), (5,), (3, 1), (4, 7), (2, 3, 97), (1, 10000), (257, 129), (0, 5), (5, 0)]


@pytest.mark.parametrize("shape", SM_SHAPES)
def test_softmax_forward(shape, rng):
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    xa = fn.asarray(x)
    y = np.asarray(_C.softmax_forward(xa))
    ly = np.asarray(_C.log_softmax_forward(xa))
    assert y.shape == x.shape == ly.shape
    if x.size:
        np.testing.assert_allclose(y, _softmax64(x.astype(np.float64)), *TOL["pointwise"])
        np.testing.assert_allclose(ly, _log_softmax64(x.astype(np.float64)), *TOL["pointwise"])


@pytest.mark.parametrize("shape", SM_SHAPES)
def test_softmax_backward(shape, rng):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    xd, dyd = x.astype(np.float64), dy.astype(np.float64)
    y = _C.softmax_forward(fn.asarray(x))
    ly = _C.log_softmax_forward(fn.asarray(x))
    dx = np.asarray(_C.softmax_backward(fn.asarray(dy), y))
    dlx = np.asarray(_C.log_softmax_backward(fn.asarray(dy), ly))
    if not x.size:
        assert dx.shape == shape and dlx.shape == shape
        return
    s = _softmax64(xd)
    ref = s * (dyd - (dyd * s).sum(-1, keepdims=True))
    lref = dyd - s * dyd.sum(-1, keepdims=True)
    r, a = TOL["pointwise"]
    np.testing.assert_allclose(dx, ref, r, a * 4)
    np.testing.assert_allclose(dlx, lref, r, a * 4 * max(1, np.abs(dyd.sum(-1)).max()))


@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward_formula_vs_finite_differences(log, rng):
    x = rng.standard_normal((3, 6))
    dy = rng.standard_normal((3, 6))
    f = _log_softmax64 if log else _softmax64
    eps = TOL["fd_eps"]
    fd = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        fd[idx] = ((f(xp) - f(xm)) * dy).sum() / (2 * eps)
    s = _softmax64(x)
    an = dy - s * dy.sum(-1, keepdims=True) if log else s * (dy - (dy * s).sum(-1, keepdims=True))
    r, a = TOL["gradcheck"]
    np.testing.assert_allclose(fd, an, r, a)


def test_softmax_large_magnitude():
    x = np.array([[1e4, -1e4, 0.0, 1e4], [-1e4, -1e4, -1e4, -1e4], [3e4, 1.0, 2.0, -3e4]], np.float32)
    y = np.asarray(_C.softmax_forward(fn.asarray(x)))
    ly = np.asarray(_C.log_softmax_forward(fn.asarray(x)))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(ly))
    np.testing.assert_allclose(y, _softmax64(x.astype(np.float64)), *TOL["pointwise"])
    np.testing.assert_allclose(ly, _log_softmax64(x.astype(np.float64)), *TOL["pointwise"])
    np.testing.assert_allclose(y.sum(-1), 1.0, *TOL["pointwise"])


def test_softmax_in_place(rng):
    x = rng.standard_normal((6, 9)).astype(np.float32)
    for fwd, ref in ((_C.softmax_forward, _softmax64), (_C.log_softmax_forward, _log_softmax64)):
        buf = x.copy()
        a = fn.asarray(buf)
        fwd(a, out=a)
        np.testing.assert_allclose(buf, ref(x.astype(np.float64)), *TOL["pointwise"])


@requires_torch
@pytest.mark.parametrize("kind", KINDS)
def test_against_torch(kind, rng):
    import torch
    import torch.nn.functional as F
    tf = {
        "linear": lambda t: t, "relu": F.relu, "relu6": F.relu6,
        "leaky_relu": lambda t: F.leaky_relu(t, 0.2), "elu": F.elu, "selu": F.selu,
        "gelu": F.gelu, "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"), "sigmoid": torch.sigmoid,
        "hard_sigmoid": lambda t: F.relu6(t + 3) / 6, "tanh": torch.tanh, "softplus": F.softplus,
        "softsign": F.softsign, "silu": F.silu, "mish": F.mish, "exponential": torch.exp,
    }[kind]
    x = _inputs(rng, (37, 41), kind)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    t = torch.from_numpy(x.copy()).requires_grad_(True)
    out = tf(t)
    out.backward(torch.from_numpy(dy))
    a = ALPHA.get(kind, 0.0)
    y = _C.activation_forward(fn.asarray(x), kind, a)
    dx = _C.activation_backward(fn.asarray(dy), fn.asarray(x), y, kind, a)
    np.testing.assert_allclose(np.asarray(y), out.detach().numpy(), *TOL["torch"])
    np.testing.assert_allclose(np.asarray(dx), t.grad.numpy(), *TOL["torch"])


@requires_torch
def test_softmax_against_torch(rng):
    import torch
    x = (rng.standard_normal((33, 65)) * 4).astype(np.float32)
    np.testing.assert_allclose(np.asarray(_C.softmax_forward(fn.asarray(x))),
                               torch.softmax(torch.from_numpy(x), -1).numpy(), *TOL["torch"])
    np.testing.assert_allclose(np.asarray(_C.log_softmax_forward(fn.asarray(x))),
                               torch.log_softmax(torch.from_numpy(x), -1).numpy(), *TOL["torch"])


_ISA_SCRIPT = r"""
import math, numpy as np, fusednet as fn
from fusednet import _C
x = np.concatenate([np.linspace(-12, 12, 4099), [-1e4, 1e4, 0.0]]).astype(np.float32)
xa = fn.asarray(x)
out = {k: np.asarray(_C.activation_forward(xa, k, 0.3)).copy() for k in %r}
out.update({'d' + k: np.asarray(_C.activation_backward(xa, xa, None, k, 0.3)).copy() for k in %r})
out['softmax'] = np.asarray(_C.softmax_forward(fn.asarray(x.reshape(4102 // 2, 2)))).copy()
np.savez(%r, isa=_C.cpu_isa(), **out)
"""


def test_every_isa_path_agrees(tmp_path):
    """FUSEDNET_ISA caps the run-time choice: the portable, AVX2 and AVX-512 builds of the loops
    must agree with each other to the pointwise tolerance."""
    kinds = [k for k in KINDS if k != "exponential"]
    results = {}
    for isa in ("portable", "avx2", "avx512"):
        path = tmp_path / f"{isa}.npz"
        env = dict(os.environ, FUSEDNET_ISA=isa)
        subprocess.run([sys.executable, "-c", _ISA_SCRIPT % (kinds, kinds, str(path))], env=env, check=True)
        results[isa] = np.load(path)
    base = results["portable"]
    for isa in ("avx2", "avx512"):
        for k in base.files:
            if k == "isa":
                continue
            np.testing.assert_allclose(results[isa][k], base[k], *TOL["pointwise_approx"], err_msg=f"{isa} {k}")
