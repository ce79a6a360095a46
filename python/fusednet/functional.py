"""Differentiable operations on :class:`fusednet.Tensor`.

Each op runs one or a few native kernels forward and records a :class:`Function` whose backward
is native kernels as well (docs/ARCHITECTURE.md, invariants 4 and 5). NumPy appears here only for shape glue.

Ops: add, sub, mul, div, neg, pow, matmul, sum, mean, reshape, flatten, transpose, getitem
(slices / integer rows), exp, log, sqrt, square, abs, to_device, linear (GEMM + bias + activation
in one kernel, one fused backward), activation (any kernel kind), relu, leaky_relu, elu, gelu,
sigmoid, tanh, softmax, log_softmax, dropout (Philox: same seed, same mask), depthwise_conv2d
(one native kernel forward with the bias + activation epilogue, one fused backward).
"""
import numbers

import numpy as np

from . import _C
from . import activations as _acts
from . import random as _random
from .tensor import Function, Tensor, _state, _to_array

Array = _C.Array

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "matmul", "sum", "mean", "reshape", "flatten",
    "transpose", "getitem", "exp", "log", "sqrt", "square", "abs", "to_device", "linear",
    "activation", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softmax",
    "log_softmax", "dropout", "depthwise_conv2d", "as_tensor",
]


def as_tensor(x):
    """``x`` as a Tensor (Tensors pass through; Arrays are wrapped without copying)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, Array):
        return Tensor._wrap(x)
    return Tensor(x)


def _scalar_array(v, like):
    return _C.full([], float(v), device=like.device)


def _operand(x, like):
    """Tensor for a binary-op operand; Python/NumPy scalars become 0-d arrays."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, numbers.Number):
        return Tensor._wrap(_scalar_array(x, like.data))
    return as_tensor(x)


def _unbroadcast(g, shape):
    if tuple(g.shape) == tuple(shape):
        return g
    return _C.sum_to_shape(g, list(shape))


def _broadcast_to(g, shape):
    out = _C.zeros(list(shape), device=g.device)
    return _C.binary("add", out, g, out=out)


def _need_any(*ts):
    if not _state.enabled:
        return False
    for t in ts:
        if t.requires_grad:
            return True
    return False


# ---------------------------------------------------------------------------- arithmetic
class _Add(Function):
    __slots__ = ("sa", "sb")

    def backward(self, g):
        return _unbroadcast(g, self.sa), _unbroadcast(g, self.sb)


class _Sub(Function):
    __slots__ = ("sa", "sb")

    def backward(self, g):
        gb = None
        if self.inputs[1].requires_grad:
            gb = _unbroadcast(_C.unary("neg", g), self.sb)
        return _unbroadcast(g, self.sa), gb


class _Mul(Function):
    __slots__ = ("a", "b")

    def backward(self, g):
        a, b = self.inputs
        ga = _unbroadcast(_C.binary("mul", g, self.b), a.shape) if a.requires_grad else None
        gb = _unbroadcast(_C.binary("mul", g, self.a), b.shape) if b.requires_grad else None
        return ga, gb


class _Div(Function):
    __slots__ = ("b", "out")

    def backward(self, g):
        a, b = self.inputs
        ga = _unbroadcast(_C.binary("div", g, self.b), a.shape) if a.requires_grad else None
        gb = None
        if b.requires_grad:
            t = _C.binary("div", _C.binary("mul", g, self.out), self.b)
            gb = _unbroadcast(_C.unary("neg", t), b.shape)
        return ga, gb


def add(a, b):
    """Elementwise ``a + b`` with NumPy broadcasting."""
    if isinstance(a, numbers.Number):
        a, b = b, a
    a = as_tensor(a)
    b = _operand(b, a)
    out = _C.binary("add", a.data, b.data)
    if not _need_any(a, b):
        return Tensor._wrap(out)
    fn = _Add()
    fn.sa, fn.sb = a.shape, b.shape
    return Tensor._from_op(out, fn, (a, b))


def sub(a, b):
    """Elementwise ``a - b`` with NumPy broadcasting."""
    if isinstance(a, numbers.Number):
        b = as_tensor(b)
        a = Tensor._wrap(_scalar_array(a, b.data))
    a = as_tensor(a)
    b = _operand(b, a)
    out = _C.binary("sub", a.data, b.data)
    if not _need_any(a, b):
        return Tensor._wrap(out)
    fn = _Sub()
    fn.sa, fn.sb = a.shape, b.shape
    return Tensor._from_op(out, fn, (a, b))


def mul(a, b):
    """Elementwise ``a * b`` with NumPy broadcasting."""
    if isinstance(a, numbers.Number):
        a, b = b, a
    a = as_tensor(a)
    if isinstance(b, numbers.Number):
        out = _C.scale(a.data, float(b))
        if not _need_any(a):
            return Tensor._wrap(out)
        fn = _Scale()
        fn.alpha = float(b)
        return Tensor._from_op(out, fn, (a,))
    b = as_tensor(b)
    out = _C.binary("mul", a.data, b.data)
    if not _need_any(a, b):
        return Tensor._wrap(out)
    fn = _Mul()
    fn.a, fn.b = a.data, b.data
    return Tensor._from_op(out, fn, (a, b))


class _Scale(Function):
    __slots__ = ("alpha",)

    def backward(self, g):
        return (_C.scale(g, self.alpha),)


def div(a, b):
    """Elementwise ``a / b`` with NumPy broadcasting."""
    if isinstance(a, numbers.Number):
        b = as_tensor(b)
        a = Tensor._wrap(_scalar_array(a, b.data))
    a = as_tensor(a)
    if isinstance(b, numbers.Number):
        return mul(a, 1.0 / float(b))
    b = as_tensor(b)
    out = _C.binary("div", a.data, b.data)
    if not _need_any(a, b):
        return Tensor._wrap(out)
    fn = _Div()
    fn.b, fn.out = b.data, out
    return Tensor._from_op(out, fn, (a, b))


def neg(a):
    """Elementwise ``-a``."""
    a = as_tensor(a)
    out = _C.unary("neg", a.data)
    if not _need_any(a):
        return Tensor._wrap(out)
    fn = _Scale()
    fn.alpha = -1.0
    return Tensor._from_op(out, fn, (a,))


class _PowScalar(Function):
    __slots__ = ("x", "p")

    def backward(self, g):
        p = self.p
        if p == 2.0:
            d = _C.scale(self.x, 2.0)
        else:
            d = _C.scale(_C.binary("pow", self.x, _scalar_array(p - 1.0, self.x)), p)
        return (_C.binary("mul", g, d),)


def pow(a, p):
    """Elementwise ``a ** p`` for a scalar exponent ``p``."""
    a = as_tensor(a)
    if not isinstance(p, numbers.Number):
        raise TypeError(f"pow: only scalar exponents are supported, got {type(p).__name__}")
    p = float(p)
    if p == 2.0:
        out = _C.unary("square", a.data)
    else:
        out = _C.binary("pow", a.data, _scalar_array(p, a.data))
    if not _need_any(a):
        return Tensor._wrap(out)
    fn = _PowScalar()
    fn.x, fn.p = a.data, p
    return Tensor._from_op(out, fn, (a,))


class _Unary(Function):
    __slots__ = ("kind", "x", "y")

    def backward(self, g):
        k = self.kind
        if k == "exp":
            d = _C.binary("mul", g, self.y)
        elif k == "log":
            d = _C.binary("div", g, self.x)
        elif k == "sqrt":
            d = _C.scale(_C.binary("div", g, self.y), 0.5)
        elif k == "square":
            d = _C.binary("mul", g, _C.scale(self.x, 2.0))
        elif k == "abs":
            d = _C.binary("mul", g, _C.unary("sign", self.x))
        else:  # pragma: no cover
            raise NotImplementedError(k)
        return (d,)


def _unary(kind, a):
    a = as_tensor(a)
    out = _C.unary(kind, a.data)
    if not _need_any(a):
        return Tensor._wrap(out)
    fn = _Unary()
    fn.kind, fn.x, fn.y = kind, a.data, out
    return Tensor._from_op(out, fn, (a,))


def exp(a):
    """Elementwise e**a."""
    return _unary("exp", a)


def log(a):
    """Elementwise natural logarithm."""
    return _unary("log", a)


def sqrt(a):
    """Elementwise square root."""
    return _unary("sqrt", a)


def square(a):
    """Elementwise a**2."""
    return _unary("square", a)


def abs(a):  # noqa: A001 - mirrors numpy/torch naming
    """Elementwise |a| (gradient sign(a), 0 at 0)."""
    return _unary("abs", a)


# ---------------------------------------------------------------------------- matmul
class _MatMul(Function):
    __slots__ = ("a", "b", "ashape")

    def backward(self, g):
        a, b = self.inputs
        ga = gb = None
        if a.requires_grad:
            ga = _C.matmul(g, self.b, trans_b=True)
            if self.ashape is not None:
                ga = ga.reshape(self.ashape)
        if b.requires_grad:
            gb = _C.matmul(self.a, g, trans_a=True)
        return ga, gb


def matmul(a, b):
    """Matrix product ``a @ b``: a [M, K] (or [..., K], flattened to rows) times b [K, N]."""
    a, b = as_tensor(a), as_tensor(b)
    if b.ndim != 2 or a.ndim < 2:
        raise ValueError(f"matmul: expected a [..., K] @ b [K, N], got a {a.shape} @ b {b.shape}")
    ad = a.data
    ashape = None
    if a.ndim > 2:
        ashape = a.shape
        ad = ad.reshape(-1, ashape[-1])
    out = _C.matmul(ad, b.data)
    if ashape is not None:
        out = out.reshape(tuple(ashape[:-1]) + (b.shape[1],))
    if not _need_any(a, b):
        return Tensor._wrap(out)
    fn = _MatMul()
    fn.a, fn.b, fn.ashape = ad, b.data, ashape
    return Tensor._from_op(out, fn, (a, b))


# ---------------------------------------------------------------------------- reductions
def _norm_axes(axis, ndim, op):
    if axis is None:
        return list(range(ndim))
    if isinstance(axis, numbers.Integral):
        axis = (axis,)
    out = []
    for ax in axis:
        ax = int(ax)
        if not -ndim <= ax < max(ndim, 1):
            raise ValueError(f"{op}: axis {ax} is out of range for a tensor of rank {ndim}")
        out.append(ax % ndim if ndim else 0)
    return sorted(set(out))


def _keep_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


class _Reduce(Function):
    __slots__ = ("shape", "kshape", "scale")

    def backward(self, g):
        g = g.reshape(self.kshape)
        if self.scale != 1.0:
            g = _C.scale(g, self.scale)
        return (_broadcast_to(g, self.shape),)


def _reduce(op, a, axis, keepdims):
    a = as_tensor(a)
    axes = _norm_axes(axis, a.ndim, op)
    out = _C.reduce(op, a.data, axes, bool(keepdims))
    if not _need_any(a):
        return Tensor._wrap(out)
    fn = _Reduce()
    fn.shape = a.shape
    fn.kshape = _keep_shape(a.shape, axes)
    n = 1
    for ax in axes:
        n *= a.shape[ax]
    fn.scale = 1.0 / max(n, 1) if op == "mean" else 1.0
    return Tensor._from_op(out, fn, (a,))


def sum(a, axis=None, keepdims=False):  # noqa: A001
    """Sum over ``axis`` (int, tuple or None for all)."""
    return _reduce("sum", a, axis, keepdims)


def mean(a, axis=None, keepdims=False):
    """Mean over ``axis`` (int, tuple or None for all)."""
    return _reduce("mean", a, axis, keepdims)


# ---------------------------------------------------------------------------- shapes
class _Reshape(Function):
    __slots__ = ("shape",)

    def backward(self, g):
        return (g.reshape(self.shape),)


def reshape(a, shape):
    """View with a new shape (one dimension may be -1)."""
    a = as_tensor(a)
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        out = a.data.reshape(tuple(int(s) for s in shape))
    except (ValueError, RuntimeError) as e:
        raise ValueError(f"reshape: cannot reshape tensor of shape {a.shape} into {tuple(shape)}: {e}") from None
    if not _need_any(a):
        return Tensor._wrap(out)
    fn = _Reshape()
    fn.shape = a.shape
    return Tensor._from_op(out, fn, (a,))


def flatten(a, start_axis=1):
    """Collapse axes ``start_axis..`` into one (Keras Flatten keeps the batch axis)."""
    a = as_tensor(a)
    shp = a.shape
    n = 1
    for s in shp[start_axis:]:
        n *= s
    return reshape(a, tuple(shp[:start_axis]) + (n,))


class _Transpose(Function):
    __slots__ = ("inv",)

    def backward(self, g):
        return (_C.transpose(g, self.inv),)


def transpose(a, perm=None):
    """Permute axes (default: reverse them)."""
    a = as_tensor(a)
    nd = a.ndim
    if perm is None:
        perm = list(range(nd))[::-1]
    perm = [int(p) % nd for p in perm]
    if sorted(perm) != list(range(nd)):
        raise ValueError(f"transpose: perm {perm} is not a permutation of the {nd} axes of {a.shape}")
    out = _C.transpose(a.data, perm)
    if not _need_any(a):
        return Tensor._wrap(out)
    fn = _Transpose()
    fn.inv = [int(i) for i in np.argsort(perm)]
    return Tensor._from_op(out, fn, (a,))


class _Slice(Function):
    __slots__ = ("steps", "shape")

    def backward(self, g):
        # undo each slice_axis by padding with zeros (concat), last applied first
        for axis, start, stop, full, squeeze_shape in reversed(self.steps):
            if squeeze_shape is not None:
                g = g.reshape(squeeze_shape)
            parts = []
            shp = list(g.shape)
            if start > 0:
                shp[axis] = start
                parts.append(_C.zeros(shp, device=g.device))
            parts.append(g)
            if stop < full:
                shp = list(g.shape)
                shp[axis] = full - stop
                parts.append(_C.zeros(shp, device=g.device))
            if len(parts) > 1:
                g = _C.concat(parts, axis)
        return (g,)


class _TakeRows(Function):
    __slots__ = ("idx", "n")

    def backward(self, g):
        return (_C.scatter_add_rows(g, self.idx, self.n),)


def getitem(a, key):
    """Basic indexing: ints and step-1 slices on any axes, or an integer array on axis 0."""
    a = as_tensor(a)
    if isinstance(key, (Tensor, Array, np.ndarray, list)):
        idx = _to_array(key.data if isinstance(key, Tensor) else key, "int64")
        if idx.ndim != 1:
            raise ValueError(f"getitem: integer index arrays must be 1-D, got shape {idx.shape}")
        out = _C.take_rows(a.data, idx)
        if not _need_any(a):
            return Tensor._wrap(out)
        fn = _TakeRows()
        fn.idx, fn.n = idx, a.shape[0]
        return Tensor._from_op(out, fn, (a,))
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        fill = a.ndim - (len(key) - 1)
        key = key[:i] + (slice(None),) * fill + key[i + 1:]
    if len(key) > a.ndim:
        raise IndexError(f"getitem: too many indices ({len(key)}) for a tensor of shape {a.shape}")
    data = a.data
    steps = []
    axis = 0
    for k in key:
        full = data.shape[axis]
        if isinstance(k, numbers.Integral):
            i = int(k)
            if not -full <= i < full:
                raise IndexError(f"getitem: index {i} is out of bounds for axis {axis} with size {full}")
            i %= full
            data = _C.slice_axis(data, axis, i, i + 1)
            keep = tuple(data.shape)
            data = data.reshape(keep[:axis] + keep[axis + 1:])
            steps.append((axis, i, i + 1, full, keep))
            continue
        if isinstance(k, slice):
            start, stop, step = k.indices(full)
            if step != 1:
                raise ValueError(f"getitem: slices with step {step} are not supported (axis {axis})")
            stop = max(stop, start)
            if start != 0 or stop != full:
                data = _C.slice_axis(data, axis, start, stop)
                steps.append((axis, start, stop, full, None))
            axis += 1
            continue
        raise TypeError(f"getitem: unsupported index {k!r}")
    if not steps:
        return a
    if not _need_any(a):
        return Tensor._wrap(data)
    fn = _Slice()
    fn.steps, fn.shape = steps, a.shape
    return Tensor._from_op(data, fn, (a,))


class _ToDevice(Function):
    __slots__ = ("device",)

    def backward(self, g):
        return (g.to(self.device),)


def to_device(a, device):
    """Copy to another device; gradients are copied back."""
    a = as_tensor(a)
    out = a.data.to(str(device))
    if out is a.data or not _need_any(a):
        return Tensor._wrap(out) if out is not a.data else a
    fn = _ToDevice()
    fn.device = a.device
    return Tensor._from_op(out, fn, (a,))


# ---------------------------------------------------------------------------- dense
class _Linear(Function):
    """Y = act(X @ W + b) in one GEMM; backward = one dense_backward call."""

    __slots__ = ("x", "w", "y", "act", "xshape")

    def backward(self, g):
        x_t = self.inputs[0]
        has_b = len(self.inputs) == 3
        if self.xshape is not None:
            g = g.reshape(-1, g.shape[-1])
        dx, dw, db = _C.dense_backward(g, self.x, self.w, self.y, self.act,
                                       need_dX=x_t.requires_grad, has_bias=has_b)
        if dx is not None and self.xshape is not None:
            dx = dx.reshape(self.xshape)
        if has_b:
            return dx, dw, db
        return dx, dw


def linear(x, weight, bias=None, activation=None):
    """Fused dense layer: ``act(x @ weight + bias)``.

    relu / sigmoid / tanh / linear run as one GEMM with a bias+activation epilogue and one fused
    backward kernel (``_C.dense_backward``); other activations run the GEMM then the activation
    kernel.

    Args:
        x: [..., K] input (leading axes are flattened into rows).
        weight: [K, N] kernel (Keras layout).
        bias: optional [N].
        activation: name or None (linear).

    Shape:
        Output [..., N].
    """
    x, w = as_tensor(x), as_tensor(weight)
    b = as_tensor(bias) if bias is not None else None
    kind, fused = _acts.resolve(activation)
    if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[0]:
        raise ValueError(f"linear: input of shape {x.shape} does not match kernel of shape {w.shape} "
                         f"(expected last input axis {w.shape[0] if w.ndim == 2 else '?'})")
    xd = x.data
    xshape = None
    if x.ndim != 2:
        xshape = x.shape
        xd = xd.reshape(-1, xshape[-1])
    ep = fused if fused is not None else "none"
    y = _C.matmul(xd, w.data, bias=b.data if b is not None else None, activation=ep)
    inputs = (x, w, b) if b is not None else (x, w)
    if xshape is not None:
        out_shape = tuple(xshape[:-1]) + (w.shape[1],)
    if _need_any(*inputs):
        fn = _Linear()
        fn.x, fn.w, fn.y, fn.act, fn.xshape = xd, w.data, y, ep, xshape
        out = Tensor._from_op(y if xshape is None else y.reshape(out_shape), fn, inputs)
    else:
        out = Tensor._wrap(y if xshape is None else y.reshape(out_shape))
    if fused is None and kind != "linear":
        out = activation_fn(out, kind)
    return out


# ---------------------------------------------------------------------------- activations
class _Act(Function):
    __slots__ = ("x", "y", "kind", "alpha")

    def backward(self, g):
        return (_C.activation_backward(g, self.x, self.y, self.kind, self.alpha),)


class _Softmax(Function):
    __slots__ = ("y", "log")

    def backward(self, g):
        if self.log:
            return (_C.log_softmax_backward(g, self.y),)
        return (_C.softmax_backward(g, self.y),)


def _softmax_impl(x, axis, log):
    x = as_tensor(x)
    if axis not in (-1, x.ndim - 1):
        raise ValueError(f"{'log_softmax' if log else 'softmax'}: only the last axis is supported, got axis={axis}")
    y = _C.log_softmax_forward(x.data) if log else _C.softmax_forward(x.data)
    if not _need_any(x):
        return Tensor._wrap(y)
    fn = _Softmax()
    fn.y, fn.log = y, log
    return Tensor._from_op(y, fn, (x,))


def activation_fn(x, kind, alpha=None):
    """Apply the activation ``kind`` (any name accepted by :mod:`fusednet.activations`)."""
    kind, _ = _acts.resolve(kind)
    if kind == "linear":
        return as_tensor(x)
    if kind == "softmax":
        return _softmax_impl(x, -1, False)
    if kind == "log_softmax":
        return _softmax_impl(x, -1, True)
    x = as_tensor(x)
    a = _acts.default_alpha(kind) if alpha is None else float(alpha)
    y = _C.activation_forward(x.data, kind, a)
    if not _need_any(x):
        return Tensor._wrap(y)
    fn = _Act()
    fn.x, fn.y, fn.kind, fn.alpha = x.data, y, kind, a
    return Tensor._from_op(y, fn, (x,))


activation = activation_fn


def relu(x):
    """max(x, 0)."""
    return activation_fn(x, "relu")


def leaky_relu(x, negative_slope=0.2):
    """x for x > 0 else negative_slope * x (Keras 3 default slope 0.2)."""
    return activation_fn(x, "leaky_relu", negative_slope)


def elu(x, alpha=1.0):
    """x for x > 0 else alpha * (exp(x) - 1)."""
    return activation_fn(x, "elu", alpha)


def gelu(x, approximate=False):
    """Gaussian error linear unit (exact erf form; ``approximate=True`` uses the tanh form)."""
    return activation_fn(x, "gelu_tanh" if approximate else "gelu")


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return activation_fn(x, "sigmoid")


def tanh(x):
    """Hyperbolic tangent."""
    return activation_fn(x, "tanh")


def softmax(x, axis=-1):
    """Softmax over the last axis (max-subtracted)."""
    return _softmax_impl(x, axis, False)


def log_softmax(x, axis=-1):
    """log(softmax(x)) over the last axis, computed stably."""
    return _softmax_impl(x, axis, True)


# ---------------------------------------------------------------------------- dropout
class _Dropout(Function):
    __slots__ = ("mask",)

    def backward(self, g):
        return (_C.binary("mul", g, self.mask),)


def dropout(x, rate, training=True, seed=None):
    """Inverted dropout with a Philox counter-based mask.

    Args:
        x: input tensor.
        rate: fraction of units to drop, in [0, 1).
        training: when False (or rate == 0) returns ``x`` unchanged.
        seed: int, or ``(seed, offset)`` pair; None draws the next pair from
            :mod:`fusednet.random`. The same pair gives the same mask on CPU and CUDA with any
            thread count.
    """
    x = as_tensor(x)
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    if not training or rate == 0.0:
        return x
    if seed is None:
        s, off = _random.next_key()
    elif isinstance(seed, tuple):
        s, off = seed
    else:
        s, off = int(seed), 0
    y, mask = _C.dropout_forward(x.data, rate, s, off)
    if not _need_any(x):
        return Tensor._wrap(y)
    fn = _Dropout()
    fn.mask = mask
    return Tensor._from_op(y, fn, (x,))


# ---------------------------------------------------------------------------- depthwise conv
class _DepthwiseConv2D(Function):
    """Y = act(depthwise(X, W) + b) in one kernel; backward = one depthwise_conv2d_backward call."""

    __slots__ = ("x", "w", "y", "act", "cfg")

    def backward(self, g):
        has_b = len(self.inputs) == 3
        s, p, d = self.cfg
        dx, dw, db = _C.depthwise_conv2d_backward(g, self.x, self.w, self.y if self.act != "none" else None,
                                                  self.act, s, p, d, self.inputs[0].requires_grad, has_b)
        return (dx, dw, db) if has_b else (dx, dw)


def depthwise_conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                     activation=None):
    """Differentiable depthwise 2-D convolution, NHWC (Keras ``DepthwiseConv2D`` maths).

    Each input channel c is convolved with its own ``depth_multiplier`` filters; output channel
    ``c * depth_multiplier + m`` uses ``kernel[:, :, c, m]``.

    Args:
        x: [N, H, W, C] input.
        kernel: [kh, kw, C, depth_multiplier] (Keras layout).
        bias: optional [C * depth_multiplier].
        strides, dilation_rate: int or pair.
        padding: 'valid' or 'same' (TF/Keras rule, as conv2d).
        activation: name or None; relu / sigmoid / tanh / linear are fused into the kernel.

    Shape:
        Output [N, Ho, Wo, C * depth_multiplier].

    Example:
        >>> y = depthwise_conv2d(np.ones((1, 5, 5, 3), np.float32), np.ones((3, 3, 3, 2), np.float32))
        >>> y.shape   # (1, 3, 3, 6)
    """
    x, w = as_tensor(x), as_tensor(kernel)
    b = as_tensor(bias) if bias is not None else None
    kind, fused = _acts.resolve(activation)
    ep = fused if fused is not None else "none"
    cfg = (strides, padding, dilation_rate)
    y = _C.depthwise_conv2d_forward(x.data, w.data, b.data if b is not None else None, *cfg, ep)
    inputs = (x, w, b) if b is not None else (x, w)
    if _need_any(*inputs):
        fn = _DepthwiseConv2D()
        fn.x, fn.w, fn.y, fn.act, fn.cfg = x.data, w.data, y, ep, cfg
        out = Tensor._from_op(y, fn, inputs)
    else:
        out = Tensor._wrap(y)
    if fused is None and kind != "linear":
        out = activation_fn(out, kind)
    return out


# ---------------------------------------------------------------------------- Tensor methods
def _install():
    T = Tensor
    T.__add__ = lambda a, b: add(a, b)
    T.__radd__ = lambda a, b: add(b, a) if not isinstance(b, numbers.Number) else add(a, b)
    T.__sub__ = lambda a, b: sub(a, b)
    T.__rsub__ = lambda a, b: sub(b, a) if isinstance(b, numbers.Number) else sub(as_tensor(b), a)
    T.__mul__ = lambda a, b: mul(a, b)
    T.__rmul__ = lambda a, b: mul(a, b)
    T.__truediv__ = lambda a, b: div(a, b)
    T.__rtruediv__ = lambda a, b: div(b, a) if isinstance(b, numbers.Number) else div(as_tensor(b), a)
    T.__matmul__ = lambda a, b: matmul(a, b)
    T.__rmatmul__ = lambda a, b: matmul(b, a)
    T.__neg__ = lambda a: neg(a)
    T.__pow__ = lambda a, p: pow(a, p)
    T.__getitem__ = lambda a, k: getitem(a, k)
    T.sum = lambda a, axis=None, keepdims=False: sum(a, axis, keepdims)
    T.mean = lambda a, axis=None, keepdims=False: mean(a, axis, keepdims)
    T.reshape = lambda a, *shape: reshape(a, shape[0] if len(shape) == 1 and not isinstance(shape[0], numbers.Integral) else shape)
    T.transpose = lambda a, *perm: transpose(a, (perm[0] if len(perm) == 1 and not isinstance(perm[0], numbers.Integral) else perm) or None)
    T.T = property(lambda a: transpose(a))
    T.exp = lambda a: exp(a)
    T.log = lambda a: log(a)
    T.sqrt = lambda a: sqrt(a)
    T.abs = lambda a: abs(a)
    T.relu = lambda a: relu(a)
    T.sigmoid = lambda a: sigmoid(a)
    T.tanh = lambda a: tanh(a)
    T.softmax = lambda a, axis=-1: softmax(a, axis)
    T.flatten = lambda a, start_axis=1: flatten(a, start_axis)


_install()
