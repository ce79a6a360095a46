"""Differentiable reductions (csrc family: elementwise, ``_C.reduce`` / ``_C.argmax``).

``axis`` is an int, a tuple of ints or None (all axes), ``keepdims`` keeps reduced axes as 1,
as in Keras. Sums, means and products accumulate in double inside the kernel. The gradient of
``max`` / ``min`` is shared equally among tied elements (TF's rule).
"""
from .. import _C
from ..tensor import Function, Tensor
from .core import broadcast_array, float_tensor, keep_shape, need_grad, norm_axes, scalar_array
from .core import stop_gradient
from .elementwise import abs as _abs
from .elementwise import add, divide, exp, log, multiply, sqrt, square, subtract

__all__ = ["sum", "mean", "max", "min", "prod", "var", "std", "argmax", "argmin", "any", "all",
           "logsumexp", "count_nonzero", "amax", "amin", "norm", "average"]


class _Reduce(Function):
    __slots__ = ("shape", "kshape", "scale")

    def backward(self, g):
        g = g.reshape(self.kshape)
        if self.scale != 1.0:
            g = _C.scale(g, self.scale)
        return (broadcast_array(g, self.shape),)


class _Extreme(Function):
    """max/min: g * [x == y] / count(x == y) along the reduced axes."""

    __slots__ = ("share", "kshape")

    def backward(self, g):
        return (_C.binary("mul", self.share, g.reshape(self.kshape)),)


class _Prod(Function):
    """d prod / d x_i = prod of the others, exact with zeros: computed from the product of the
    nonzero elements and the count of zeros (no division by a zero element)."""

    __slots__ = ("x", "kshape", "axes")

    def backward(self, g):
        x, axes = self.x, self.axes
        B = _C.binary
        zero = scalar_array(0.0, x)
        one = scalar_array(1.0, x)
        is0 = B("equal", x, zero)
        full = list(x.shape)
        nz = _C.where(is0, broadcast_array(one, full), x)
        p_nz = _C.reduce("prod", nz, axes, True)
        n0 = _C.reduce("sum", is0, axes, True)
        # at a zero element: p_nz if it is the only zero, else 0; elsewhere: p_nz / x if no zeros
        at0 = B("mul", p_nz, B("equal", n0, one))
        away = _C.where(broadcast_array(B("equal", n0, zero), full), B("div", broadcast_array(p_nz, full), nz),
                        broadcast_array(zero, full))
        d = _C.where(is0, broadcast_array(at0, full), away)
        return (B("mul", d, g.reshape(self.kshape)),)


def _reduce(op, x, axis, keepdims):
    x = float_tensor(x, op)
    axes = norm_axes(axis, x.ndim, op) if x.ndim else []
    if not axes:  # a 0-d tensor, or axis=(): nothing is reduced
        return x
    try:
        out = _C.reduce(op, x.data, axes, bool(keepdims))
    except ValueError as e:
        raise ValueError(f"{op}: {e} (input shape {x.shape}, axis={axis})") from None
    if not need_grad(x):
        return Tensor._wrap(out)
    kshape = keep_shape(x.shape, axes)
    if op in ("sum", "mean"):
        fn = _Reduce()
        fn.shape, fn.kshape = x.shape, kshape
        n = 1
        for ax in axes:
            n *= x.shape[ax]
        fn.scale = 1.0 / n if op == "mean" and n > 0 else 1.0
    elif op in ("max", "min"):
        fn = _Extreme()
        y = out.reshape(kshape)
        hit = _C.binary("equal", x.data, y)
        fn.share = _C.binary("div", hit, _C.reduce("sum", hit, axes, True))
        fn.kshape = kshape
    else:
        fn = _Prod()
        fn.x, fn.kshape, fn.axes = x.data, kshape, axes
    return Tensor._from_op(out, fn, (x,))


def _def_reduce(name, op, doc, example):
    def f(x, axis=None, keepdims=False):
        return _reduce(op, x, axis, keepdims)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"{doc}\n\n    Args:\n        x: tensor-like (integer tensors are cast to float32).\n"
                 f"        axis: int, tuple of ints or None (all axes).\n"
                 f"        keepdims: keep the reduced axes with length 1.\n\n"
                 f"    Returns:\n        float32 Tensor.\n\n    Example:\n        >>> {example}\n")
    return f


sum = _def_reduce("sum", "sum", "Sum over ``axis``.", "ops.sum(ops.ones((2, 3)), axis=1)")  # noqa: A001
mean = _def_reduce("mean", "mean", "Mean over ``axis``.", "ops.mean(ops.ones((2, 3)), axis=-1)")
max = _def_reduce("max", "max", "Maximum over ``axis`` (NaN propagates; ties share the gradient).",  # noqa: A001
                  "ops.max(ops.ones((2, 3)), axis=0)")
min = _def_reduce("min", "min", "Minimum over ``axis`` (NaN propagates; ties share the gradient).",  # noqa: A001
                  "ops.min(ops.ones((2, 3)), axis=0)")
prod = _def_reduce("prod", "prod", "Product over ``axis`` (gradient exact in the presence of zeros).",
                   "ops.prod(ops.full((2, 3), 2.0), axis=1)")
amax, amin = max, min


def var(x, axis=None, keepdims=False):
    """Population variance ``mean(square(x - mean(x)))`` over ``axis`` (Keras: ddof 0).

    Args:
        x: tensor-like. axis: int, tuple or None. keepdims: keep reduced axes.

    Returns:
        float32 Tensor; differentiable.

    Example:
        >>> ops.var(ops.convert_to_tensor([1.0, 2.0, 3.0, 4.0]))        # 1.25
    """
    m = mean(x, axis, keepdims=True)
    return mean(square(subtract(x, m)), axis, keepdims)


def std(x, axis=None, keepdims=False):
    """Population standard deviation, ``sqrt(var(x))``.

    Args:
        x: tensor-like. axis: int, tuple or None. keepdims: keep reduced axes.

    Returns:
        float32 Tensor; differentiable (infinite gradient where the variance is 0, as sqrt).

    Example:
        >>> ops.std(ops.convert_to_tensor([1.0, 3.0]))                  # 1.0
    """
    return sqrt(var(x, axis, keepdims))


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` over ``axis``, computed stably (max subtracted first).

    Args:
        x: tensor-like. axis: int, tuple or None. keepdims: keep reduced axes.

    Returns:
        float32 Tensor; differentiable (the gradient is the softmax over ``axis``).

    Example:
        >>> ops.logsumexp(ops.zeros((2, 4)), axis=-1)                    # log(4) per row
    """
    x = float_tensor(x, "logsumexp")
    m = stop_gradient(max(x, axis, keepdims=True))
    m = Tensor._wrap(_C.where(_C.binary("equal", _C.binary("sub", m.data, m.data), scalar_array(0.0, m.data)),
                              m.data, _C.zeros(list(m.shape), device=m.device)))  # inf max -> 0 offset
    s = add(log(sum(exp(subtract(x, m)), axis, keepdims=True)), m)
    if keepdims:
        return s
    axes = norm_axes(axis, x.ndim, "logsumexp")
    return s.reshape(tuple(d for i, d in enumerate(s.shape) if i not in axes))


def _arg(x, axis, keepdims, op, negate):
    x = float_tensor(x, op)
    d = _C.unary("neg", x.data) if negate else x.data
    if axis is None:
        d = d.reshape((-1,))
        ax = 0
    else:
        ax = norm_axes(axis, x.ndim, op)
        if len(ax) != 1:
            raise ValueError(f"{op}: axis must be one int or None, got {axis!r} (shape {x.shape})")
        ax = ax[0]
    try:
        out = _C.argmax(d, ax)
    except ValueError as e:
        msg = str(e)
        msg = (msg[len("argmax: "):] if msg.startswith("argmax: ") else msg).replace("argmax", op)
        raise ValueError(f"{op}: {msg} (input shape {x.shape})") from None
    if keepdims:
        out = out.reshape(tuple(1 for _ in x.shape) if axis is None else keep_shape(x.shape, [ax]))
    return Tensor._wrap(out)


def argmax(x, axis=None, keepdims=False):
    """Index of the first maximum along ``axis`` (None: of the flattened tensor), int64.

    Args:
        x: tensor-like. axis: int or None. keepdims: keep the axis with length 1.

    Returns:
        int64 Tensor (no gradient). NaN counts as the maximum.

    Example:
        >>> ops.argmax(ops.convert_to_tensor([[1.0, 3.0, 2.0]]), axis=-1).numpy()
        array([1])
    """
    return _arg(x, axis, keepdims, "argmax", False)


def argmin(x, axis=None, keepdims=False):
    """Index of the first minimum along ``axis`` (None: of the flattened tensor), int64.

    Args:
        x: tensor-like. axis: int or None. keepdims: keep the axis with length 1.

    Returns:
        int64 Tensor (no gradient).

    Example:
        >>> ops.argmin(ops.convert_to_tensor([[1.0, 3.0, 0.5]]), axis=-1).numpy()
        array([2])
    """
    return _arg(x, axis, keepdims, "argmin", True)


def _truth_reduce(op, red, x, axis, keepdims):
    x = float_tensor(x, op)
    t = Tensor._wrap(_C.binary("not_equal", x.data, scalar_array(0.0, x.data)))
    return Tensor._wrap(_reduce(red, t, axis, keepdims).data)


def any(x, axis=None, keepdims=False):  # noqa: A001
    """Whether any element along ``axis`` is nonzero, as a float32 0/1 mask.

    Args:
        x: tensor-like. axis: int, tuple or None. keepdims: keep reduced axes.

    Returns:
        float32 Tensor of 0.0 / 1.0.

    Example:
        >>> ops.any(ops.convert_to_tensor([0.0, 2.0]))                  # 1.0
    """
    return _truth_reduce("any", "max", x, axis, keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001
    """Whether every element along ``axis`` is nonzero, as a float32 0/1 mask.

    Args:
        x: tensor-like. axis: int, tuple or None. keepdims: keep reduced axes.

    Returns:
        float32 Tensor of 0.0 / 1.0.

    Example:
        >>> ops.all(ops.convert_to_tensor([0.0, 2.0]))                  # 0.0
    """
    return _truth_reduce("all", "min", x, axis, keepdims)


def count_nonzero(x, axis=None):
    """Number of nonzero elements along ``axis`` (as int64, like Keras).

    Args:
        x: tensor-like. axis: int, tuple or None.

    Returns:
        int64 Tensor.

    Example:
        >>> ops.count_nonzero(ops.convert_to_tensor([0.0, 2.0, 3.0]))   # 2
    """
    c = _truth_reduce("count_nonzero", "sum", x, axis, False)
    return Tensor._wrap(_C.cast(c.data, "int64"))



def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - Keras/NumPy name
    """Vector norm along ``axis`` (None: of the flattened tensor), or the Frobenius norm over two
    axes (``keras.ops.norm`` for the vector and 'fro' cases).

    Args:
        x: tensor-like. ord: None or 2 (Euclidean), 1, ``inf``, ``-inf``, 0 (count of nonzeros),
            or 'fro' / None with a 2-tuple ``axis``. axis: None, an int or a 2-tuple.
        keepdims: keep the reduced axes with length 1.

    Returns:
        float32 Tensor; differentiable (except ord=0).

    Example:
        >>> ops.norm(ops.convert_to_tensor([3.0, 4.0]))                 # 5.0
    """
    import math
    x = float_tensor(x, "norm")
    if axis is None and x.ndim > 1 and ord not in (None, 2, "fro"):
        x, axis = x.reshape((-1,)), 0
    two = isinstance(axis, (tuple, list)) and len(axis) == 2
    if two and ord not in (None, "fro"):
        raise ValueError(f"norm: only the Frobenius norm is supported over two axes, got ord={ord!r} "
                         f"(shape {x.shape})")
    if ord in (None, 2, "fro"):
        return sqrt(sum(square(x), axis, keepdims))
    if ord == 1:
        return sum(_abs(x), axis, keepdims)
    if ord == math.inf:
        return max(_abs(x), axis, keepdims)
    if ord == -math.inf:
        return min(_abs(x), axis, keepdims)
    if ord == 0:
        return _truth_reduce("norm", "sum", x, axis, keepdims)
    raise ValueError(f"norm: unsupported ord {ord!r} (supported: None, 1, 2, inf, -inf, 0, 'fro')")


def average(x, axis=None, weights=None):
    """Weighted mean along ``axis``: ``sum(x * w) / sum(w)`` (NumPy ``average``).

    Args:
        x: tensor-like. axis: int or None. weights: None (plain mean), a tensor-like of x's
            shape, or a 1-D one of length ``x.shape[axis]``.

    Returns:
        float32 Tensor; differentiable in ``x`` and ``weights``.

    Example:
        >>> ops.average(ops.convert_to_tensor([1.0, 3.0]), weights=[3.0, 1.0])     # 1.5
    """
    x = float_tensor(x, "average")
    if weights is None:
        return mean(x, axis)
    w = float_tensor(weights, "average")
    if w.shape != x.shape:
        if axis is None or w.ndim != 1:
            raise ValueError(f"average: weights of shape {w.shape} need an axis and must be 1-D or of the "
                             f"input's shape {x.shape}")
        ax = norm_axes(axis, x.ndim, "average")[0]
        if w.shape[0] != x.shape[ax]:
            raise ValueError(f"average: weights of length {w.shape[0]} do not match axis {axis} of shape {x.shape}")
        w = w.reshape(tuple(x.shape[ax] if i == ax else 1 for i in range(x.ndim)))
        return divide(sum(multiply(x, w), axis), sum(w))
    return divide(sum(multiply(x, w), axis), sum(w, axis))
