"""NumPy stand-ins for native kernels that have not landed on this branch yet (TEST ONLY).

``install()`` adds to ``fusednet._C`` only the names that are missing, so once the real kernels
are merged this module does nothing. It follows docs/KERNELS.md; it exists so the Python layer can
be developed and tested before the kernel branches merge. The library itself never imports it.
"""
import math

import numpy as np

from fusednet import _C

_F = np.float32


def _np(a):
    return None if a is None else np.asarray(a)


def _out(x, dtype=np.float32, out=None):
    x = np.ascontiguousarray(np.asarray(x, dtype=dtype))
    if out is not None:
        np.asarray(out)[...] = x
        return out
    return _C.asarray(x.copy())


def _act(z, kind, alpha=0.0):
    if kind in ("none", "linear"):
        return z
    if kind == "relu":
        return np.maximum(z, 0)
    if kind == "relu6":
        return np.clip(z, 0, 6)
    if kind == "leaky_relu":
        return np.where(z > 0, z, alpha * z)
    if kind == "elu":
        return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))
    if kind == "selu":
        a, s = 1.6732632423543772, 1.0507009873554805
        return s * np.where(z > 0, z, a * np.expm1(np.minimum(z, 0)))
    if kind == "gelu":
        from scipy.special import erf  # noqa
        return 0.5 * z * (1 + erf(z / math.sqrt(2)))
    if kind == "gelu_tanh":
        return 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3)))
    if kind == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if kind == "hard_sigmoid":
        return np.clip(z + 3, 0, 6) / 6
    if kind == "tanh":
        return np.tanh(z)
    if kind == "softplus":
        return np.logaddexp(0, z)
    if kind == "softsign":
        return z / (1 + np.abs(z))
    if kind == "silu":
        return z / (1 + np.exp(-z))
    if kind == "mish":
        return z * np.tanh(np.logaddexp(0, z))
    if kind == "exponential":
        return np.exp(z)
    raise ValueError(f"activation_forward: unknown kind {kind!r}")


def _act_grad(z, kind, alpha=0.0):
    z = z.astype(np.float64)
    h = 1e-6
    if kind in ("none", "linear"):
        return np.ones_like(z)
    if kind == "relu":
        return (z > 0).astype(np.float64)
    return (_act(z + h, kind, alpha) - _act(z - h, kind, alpha)) / (2 * h)


def matmul(a, b, trans_a=False, trans_b=False, bias=None, activation="none", out=None, beta=0.0):
    A, B = _np(a).astype(np.float64), _np(b).astype(np.float64)
    if trans_a:
        A = A.T
    if trans_b:
        B = B.T
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
        raise ValueError(f"matmul: inner dimensions differ: a {A.shape} @ b {B.shape}")
    C = A @ B
    if beta:
        C = C + beta * _np(out)
    if bias is not None:
        C = C + _np(bias)
    return _out(_act(C, activation), out=out)


def dense_backward(dY, X, W, Y, activation, need_dX=True, has_bias=True):
    dY, X, W, Y = (_np(t).astype(np.float64) for t in (dY, X, W, Y))
    if activation == "relu":
        dZ = dY * (Y > 0)
    elif activation == "sigmoid":
        dZ = dY * Y * (1 - Y)
    elif activation == "tanh":
        dZ = dY * (1 - Y * Y)
    else:
        dZ = dY
    return (_out(dZ @ W.T) if need_dX else None, _out(X.T @ dZ), _out(dZ.sum(0)) if has_bias else None)


def activation_forward(x, kind, alpha=0.0, out=None):
    return _out(_act(_np(x).astype(np.float64), kind, alpha), out=out)


def activation_backward(dY, x, y, kind, alpha=0.0, out=None):
    return _out(_np(dY) * _act_grad(_np(x), kind, alpha), out=out)


def _softmax(x):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def softmax_forward(x, out=None):
    return _out(_softmax(_np(x)), out=out)


def log_softmax_forward(x, out=None):
    x = _np(x).astype(np.float64)
    m = x.max(-1, keepdims=True)
    return _out(x - m - np.log(np.exp(x - m).sum(-1, keepdims=True)), out=out)


def softmax_backward(dY, y, out=None):
    dY, y = _np(dY).astype(np.float64), _np(y).astype(np.float64)
    return _out(y * (dY - (dY * y).sum(-1, keepdims=True)), out=out)


def log_softmax_backward(dY, y, out=None):
    dY, y = _np(dY).astype(np.float64), _np(y).astype(np.float64)
    return _out(dY - np.exp(y) * dY.sum(-1, keepdims=True), out=out)


_BIN = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
        "maximum": np.maximum, "minimum": np.minimum, "pow": np.power, "equal": np.equal,
        "not_equal": np.not_equal, "greater": np.greater, "greater_equal": np.greater_equal,
        "less": np.less, "less_equal": np.less_equal}
_UN = {"neg": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
       "rsqrt": lambda x: 1 / np.sqrt(x), "square": np.square, "abs": np.abs, "sign": np.sign,
       "reciprocal": lambda x: 1 / x, "sin": np.sin, "cos": np.cos, "floor": np.floor, "round": np.round}


def binary(op, a, b, out=None):
    r = _BIN[op](_np(a).astype(np.float64), _np(b).astype(np.float64))
    return _out(r, out=out)


def unary(op, x, out=None):
    return _out(_UN[op](_np(x).astype(np.float64)), out=out)


def clip(x, lo, hi, out=None):
    return _out(np.clip(_np(x), lo, hi), out=out)


def scale(x, alpha, out=None):
    return _out(_np(x).astype(np.float64) * alpha, out=out)


def axpy_(y, alpha, x):
    Y = np.asarray(y)
    Y[...] = (Y.astype(np.float64) + alpha * _np(x)).astype(np.float32)
    return y


def reduce(op, x, axes, keepdims):
    X = _np(x).astype(np.float64)
    ax = tuple(axes) if len(axes) else None
    f = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod}[op]
    return _out(f(X, axis=ax, keepdims=keepdims))


def sum_to_shape(x, shape):
    X = _np(x).astype(np.float64)
    shape = tuple(shape)
    while X.ndim > len(shape):
        X = X.sum(0)
    for i, s in enumerate(shape):
        if s == 1 and X.shape[i] != 1:
            X = X.sum(i, keepdims=True)
    return _out(X.reshape(shape))


def transpose(x, perm):
    return _out(np.transpose(_np(x), perm), dtype=_np(x).dtype)


def concat(arrays, axis):
    return _out(np.concatenate([_np(a) for a in arrays], axis), dtype=_np(arrays[0]).dtype)


def slice_axis(x, axis, start, stop):
    X = _np(x)
    return _out(np.take(X, np.arange(start, stop), axis=axis), dtype=X.dtype)


def take_rows(x, idx):
    X, I = _np(x), _np(idx)
    if I.size and (I.min() < 0 or I.max() >= X.shape[0]):
        raise ValueError("take_rows: index out of range")
    return _out(X[I], dtype=X.dtype)


def scatter_add_rows(dY, idx, n_rows):
    D = _np(dY).astype(np.float64)
    out = np.zeros((n_rows,) + D.shape[1:])
    np.add.at(out, _np(idx), D)
    return _out(out)


def cast(x, dtype):
    return _out(_np(x), dtype=np.dtype(dtype))


def argmax(x, axis=-1):
    return _out(np.argmax(_np(x), axis=axis), dtype=np.int64)


def one_hot(idx, num_classes):
    return _out(np.eye(num_classes)[_np(idx)])


# ------------------------------------------------------------------ losses
def _scaled(g, grad_scale):
    return g * grad_scale


def _dense_labels(labels, C, ls):
    L = _np(labels)
    if L.dtype.kind in "iu":
        L = L.reshape(-1)
        if L.size and (L.min() < 0 or L.max() >= C):
            raise ValueError("softmax_cross_entropy: label out of range")
        Y = np.eye(C)[L]
    else:
        Y = L.astype(np.float64)
    if ls:
        Y = Y * (1 - ls) + ls / C
    return Y


def softmax_cross_entropy(logits, labels, label_smoothing=0.0, grad_scale=1.0, want_grad=True):
    Z = _np(logits).astype(np.float64)
    Y = _dense_labels(labels, Z.shape[1], label_smoothing)
    m = Z.max(1, keepdims=True)
    lse = m + np.log(np.exp(Z - m).sum(1, keepdims=True))
    loss = -(Y * (Z - lse)).sum(1)
    g = (np.exp(Z - lse) * Y.sum(1, keepdims=True) - Y) * grad_scale if want_grad else None
    return _out(loss), (_out(g) if want_grad else None)


def categorical_crossentropy_probs(probs, labels, label_smoothing=0.0, grad_scale=1.0, want_grad=True):
    P = _np(probs).astype(np.float64)
    Y = _dense_labels(labels, P.shape[1], label_smoothing)
    s = P.sum(1, keepdims=True)
    q = P / s
    qc = np.clip(q, 1e-7, 1 - 1e-7)
    loss = -(Y * np.log(qc)).sum(1)
    if not want_grad:
        return _out(loss), None
    dq = -Y / qc * ((q >= 1e-7) & (q <= 1 - 1e-7))
    dP = (dq - (dq * q).sum(1, keepdims=True)) / s
    return _out(loss), _out(dP * grad_scale)


def sigmoid_binary_cross_entropy(logits, targets, label_smoothing=0.0, grad_scale=1.0, want_grad=True):
    Z = _np(logits).astype(np.float64)
    T = _np(targets).astype(np.float64)
    if label_smoothing:
        T = T * (1 - label_smoothing) + 0.5 * label_smoothing
    el = np.maximum(Z, 0) - Z * T + np.log1p(np.exp(-np.abs(Z)))
    C = Z.shape[-1]
    loss = el.mean(-1)
    g = (1 / (1 + np.exp(-Z)) - T) / C * grad_scale
    return _out(loss), (_out(g) if want_grad else None)


def binary_cross_entropy_probs(probs, targets, label_smoothing=0.0, grad_scale=1.0, want_grad=True):
    P = _np(probs).astype(np.float64)
    T = _np(targets).astype(np.float64)
    if label_smoothing:
        T = T * (1 - label_smoothing) + 0.5 * label_smoothing
    pc = np.clip(P, 1e-7, 1 - 1e-7)
    C = P.shape[-1]
    loss = (-(T * np.log(pc) + (1 - T) * np.log(1 - pc))).mean(-1)
    g = (-(T / pc) + (1 - T) / (1 - pc)) * ((P >= 1e-7) & (P <= 1 - 1e-7)) / C * grad_scale
    return _out(loss), (_out(g) if want_grad else None)


def mean_squared_error(pred, target, grad_scale=1.0, want_grad=True):
    P, T = _np(pred).astype(np.float64), _np(target).astype(np.float64)
    C = P.shape[-1]
    return _out(((P - T) ** 2).mean(-1)), (_out(2 * (P - T) / C * grad_scale) if want_grad else None)


def mean_absolute_error(pred, target, grad_scale=1.0, want_grad=True):
    P, T = _np(pred).astype(np.float64), _np(target).astype(np.float64)
    C = P.shape[-1]
    return _out(np.abs(P - T).mean(-1)), (_out(np.sign(P - T) / C * grad_scale) if want_grad else None)


def huber(pred, target, delta=1.0, grad_scale=1.0, want_grad=True):
    P, T = _np(pred).astype(np.float64), _np(target).astype(np.float64)
    C = P.shape[-1]
    e = P - T
    a = np.abs(e)
    el = np.where(a <= delta, 0.5 * e * e, delta * a - 0.5 * delta * delta)
    g = np.where(a <= delta, e, delta * np.sign(e)) / C * grad_scale
    return _out(el.mean(-1)), (_out(g) if want_grad else None)


# ------------------------------------------------------------------ optimizers (Keras 3 formulas)
def _set(a, v):
    np.asarray(a)[...] = v


def sgd_step(params, grads, velocities, lr, momentum, nesterov, weight_decay=0.0):
    for i, (p, g) in enumerate(zip(params, grads)):
        P, G = np.asarray(p).astype(np.float64), _np(g).astype(np.float64)
        if weight_decay:
            P = P - P * weight_decay * lr
        if velocities is not None and momentum:
            V = np.asarray(velocities[i]).astype(np.float64)
            V = momentum * V - lr * G
            _set(velocities[i], V)
            P = P + (momentum * V - lr * G if nesterov else V)
        else:
            P = P - lr * G
        _set(p, P)


def adam_step(params, grads, m, v, lr, beta1, beta2, eps, step, weight_decay=0.0, vhat=None):
    for i, (p, g) in enumerate(zip(params, grads)):
        P, G = np.asarray(p).astype(np.float64), _np(g).astype(np.float64)
        if weight_decay:
            P = P - P * weight_decay * lr
        M = np.asarray(m[i]).astype(np.float64)
        V = np.asarray(v[i]).astype(np.float64)
        M = M + (G - M) * (1 - beta1)
        V = V + (G * G - V) * (1 - beta2)
        alpha = lr * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
        _set(m[i], M)
        _set(v[i], V)
        if vhat is not None:
            VH = np.maximum(np.asarray(vhat[i]), V)
            _set(vhat[i], VH)
            V = VH
        _set(p, P - alpha * M / (np.sqrt(V) + eps))


def rmsprop_step(params, grads, velocities, momentums, average_grads, lr, rho, momentum, eps):
    for i, (p, g) in enumerate(zip(params, grads)):
        P, G = np.asarray(p).astype(np.float64), _np(g).astype(np.float64)
        V = rho * np.asarray(velocities[i]) + (1 - rho) * G * G
        _set(velocities[i], V)
        if average_grads is not None:
            A = rho * np.asarray(average_grads[i]) + (1 - rho) * G
            _set(average_grads[i], A)
            den = V - A * A + eps
        else:
            den = V + eps
        inc = lr * G / np.sqrt(den)
        if momentums is not None and momentum > 0:
            Mo = momentum * np.asarray(momentums[i]) + inc
            _set(momentums[i], Mo)
            P = P - Mo
        else:
            P = P - inc
        _set(p, P)


def adagrad_step(params, grads, accumulators, lr, eps):
    for i, (p, g) in enumerate(zip(params, grads)):
        G = _np(g).astype(np.float64)
        A = np.asarray(accumulators[i]) + G * G
        _set(accumulators[i], A)
        _set(p, np.asarray(p) - lr * G / np.sqrt(A + eps))


def global_norm(arrays):
    return float(math.sqrt(sum(float((_np(a).astype(np.float64) ** 2).sum()) for a in arrays)))


def scale_(arrays, factor):
    for a in arrays:
        _set(a, np.asarray(a) * factor)


def clip_by_value_(arrays, v):
    for a in arrays:
        _set(a, np.clip(np.asarray(a), -v, v))


def clip_by_norm_(arrays, max_norm):
    for a in arrays:
        A = np.asarray(a).astype(np.float64)
        n = math.sqrt((A * A).sum())
        if n > max_norm:
            _set(a, A * (max_norm / n))


# ------------------------------------------------------------------ random (NOT Philox: shape-only stand-in)
def _rng(seed, offset):
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(seed) >> 32, int(offset)])


def random_uniform(shape, seed, offset, low=0.0, high=1.0):
    return _out(_rng(seed, offset).uniform(low, high, tuple(shape)))


def random_normal(shape, seed, offset, mean=0.0, std=1.0):
    return _out(_rng(seed, offset).normal(mean, std, tuple(shape)))


def random_truncated_normal(shape, seed, offset, mean=0.0, std=1.0):
    r = _rng(seed, offset)
    x = r.normal(0, 1, tuple(shape))
    bad = np.abs(x) > 2
    while bad.any():
        x[bad] = r.normal(0, 1, bad.sum())
        bad = np.abs(x) > 2
    return _out(mean + std * x)


def dropout_forward(x, rate, seed, offset):
    X = _np(x)
    keep = _rng(seed, offset).uniform(size=X.shape) >= rate
    mask = keep / (1 - rate)
    return _out(X * mask), _out(mask)


def permutation(n, seed, offset):
    return _out(_rng(seed, offset).permutation(n), dtype=np.int64)


NAMES = [k for k, v in list(globals().items()) if callable(v) and not k.startswith("_")
         and k not in ("install",) and getattr(v, "__module__", None) == __name__]


def install():
    """Add missing kernels to fusednet._C; returns the names added."""
    added = []
    for name in NAMES:
        if not hasattr(_C, name):
            setattr(_C, name, globals()[name])
            added.append(name)
    return added
