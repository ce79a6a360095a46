"""Comparisons, logical ops, ``where`` and ``clip`` (csrc family: elementwise).

There is no bool dtype: comparisons, logical ops and ``isnan`` / ``isfinite`` / ``isinf`` return
float32 0/1 masks, and every op that takes a condition reads "nonzero" as true (a NaN condition
counts as true, like ``bool(nan)``). ``where`` is the native ``_C.where`` select, so
``where(x > 0, log(x), 0)`` has a finite value even where ``log(x)`` is -inf or NaN, and where's
own gradient is a select too. As in TF/JAX, the op inside the branch not taken still runs its
backward with a zero gradient (``log``'s 0/x is NaN at x = 0); the finite idiom is the double
where, ``where(x > 0, log(where(x > 0, x, 1.0)), 0.0)``.
"""
import numbers

import numpy as np

from .. import _C
from ..tensor import Function, Tensor
from .core import (binary_operands, broadcast_array, broadcast_shapes, float_tensor, need_grad,
                   operand, scalar_array, unbroadcast)
from .elementwise import maximum, minimum

__all__ = [
    "equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and",
    "logical_or", "logical_not", "logical_xor", "isnan", "isfinite", "isinf", "where", "clip",
]


def _compare(kind, x1, x2, op):
    a, b = binary_operands(x1, x2, op)
    return Tensor._wrap(_C.binary(kind, a.data, b.data))


def _def_compare(name, kind, sym):
    def f(x1, x2):
        return _compare(kind, x1, x2, name)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"Elementwise ``x1 {sym} x2`` with broadcasting, as a float32 0/1 mask (no gradient).\n\n"
                 f"    Args:\n        x1, x2: tensor-likes or scalars.\n\n"
                 f"    Returns:\n        float32 Tensor of 0.0 / 1.0 of the broadcast shape.\n\n"
                 f"    Example:\n        >>> ops.{name}(ops.convert_to_tensor([1.0, 2.0]), 1.0).numpy()\n")
    return f


equal = _def_compare("equal", "equal", "==")
not_equal = _def_compare("not_equal", "not_equal", "!=")
greater = _def_compare("greater", "greater", ">")
greater_equal = _def_compare("greater_equal", "greater_equal", ">=")
less = _def_compare("less", "less", "<")
less_equal = _def_compare("less_equal", "less_equal", "<=")


def _truth(x, op):
    """0/1 Array: x != 0 (x as float32)."""
    x = float_tensor(x, op)
    return _C.binary("not_equal", x.data, scalar_array(0.0, x.data))


def logical_and(x1, x2):
    """Elementwise logical AND of ``x1 != 0`` and ``x2 != 0`` (float32 0/1 mask).

    Args:
        x1, x2: tensor-likes (any dtype; nonzero is true).

    Returns:
        float32 Tensor of 0.0 / 1.0 of the broadcast shape.

    Example:
        >>> ops.logical_and(ops.convert_to_tensor([1.0, 0.0]), 1.0).numpy()
        array([1., 0.], dtype=float32)
    """
    a, b = binary_operands(x1, x2, "logical_and")
    return Tensor._wrap(_C.binary("mul", _truth(a, "logical_and"), _truth(b, "logical_and")))


def logical_or(x1, x2):
    """Elementwise logical OR of ``x1 != 0`` and ``x2 != 0`` (float32 0/1 mask).

    Args:
        x1, x2: tensor-likes (any dtype; nonzero is true).

    Returns:
        float32 Tensor of 0.0 / 1.0 of the broadcast shape.

    Example:
        >>> ops.logical_or(ops.convert_to_tensor([1.0, 0.0]), 0.0).numpy()
        array([1., 0.], dtype=float32)
    """
    a, b = binary_operands(x1, x2, "logical_or")
    return Tensor._wrap(_C.binary("maximum", _truth(a, "logical_or"), _truth(b, "logical_or")))


def logical_xor(x1, x2):
    """Elementwise logical XOR of ``x1 != 0`` and ``x2 != 0`` (float32 0/1 mask).

    Args:
        x1, x2: tensor-likes (any dtype; nonzero is true).

    Returns:
        float32 Tensor of 0.0 / 1.0 of the broadcast shape.

    Example:
        >>> ops.logical_xor(ops.convert_to_tensor([1.0, 0.0]), 1.0).numpy()
        array([0., 1.], dtype=float32)
    """
    a, b = binary_operands(x1, x2, "logical_xor")
    return Tensor._wrap(_C.binary("not_equal", _truth(a, "logical_xor"), _truth(b, "logical_xor")))


def logical_not(x):
    """Elementwise logical NOT (``x == 0``) as a float32 0/1 mask.

    Args:
        x: tensor-like.

    Returns:
        float32 Tensor of 0.0 / 1.0 of x's shape.

    Example:
        >>> ops.logical_not(ops.convert_to_tensor([1.0, 0.0])).numpy()
        array([0., 1.], dtype=float32)
    """
    x = float_tensor(x, "logical_not")
    return Tensor._wrap(_C.binary("equal", x.data, scalar_array(0.0, x.data)))


def isnan(x):
    """Elementwise NaN test (``x != x``) as a float32 0/1 mask.

    Args:
        x: tensor-like.

    Returns:
        float32 Tensor of 0.0 / 1.0 of x's shape.

    Example:
        >>> ops.isnan(ops.convert_to_tensor([1.0, np.nan])).numpy()
        array([0., 1.], dtype=float32)
    """
    x = float_tensor(x, "isnan")
    return Tensor._wrap(_C.binary("not_equal", x.data, x.data))


def isfinite(x):
    """Elementwise finiteness test (``x - x == 0``: false for inf and NaN) as a 0/1 mask.

    Args:
        x: tensor-like.

    Returns:
        float32 Tensor of 0.0 / 1.0 of x's shape.

    Example:
        >>> ops.isfinite(ops.convert_to_tensor([1.0, np.inf, np.nan])).numpy()
        array([1., 0., 0.], dtype=float32)
    """
    x = float_tensor(x, "isfinite")
    return Tensor._wrap(_C.binary("equal", _C.binary("sub", x.data, x.data), scalar_array(0.0, x.data)))


def isinf(x):
    """Elementwise test for +inf or -inf as a float32 0/1 mask.

    Args:
        x: tensor-like.

    Returns:
        float32 Tensor of 0.0 / 1.0 of x's shape.

    Example:
        >>> ops.isinf(ops.convert_to_tensor([1.0, -np.inf])).numpy()
        array([0., 1.], dtype=float32)
    """
    x = float_tensor(x, "isinf")
    return Tensor._wrap(_C.binary("equal", _C.unary("abs", x.data), scalar_array(np.inf, x.data)))


# ---------------------------------------------------------------------------- where / clip
class _Where(Function):
    __slots__ = ("cond",)

    def backward(self, g):
        a, b = self.inputs
        z = _C.zeros(list(g.shape), device=g.device)
        ga = unbroadcast(_C.where(self.cond, g, z), a.shape) if a.requires_grad else None
        gb = unbroadcast(_C.where(self.cond, z, g), b.shape) if b.requires_grad else None
        return ga, gb


def where(condition, x1=None, x2=None):
    """Elementwise select: ``x1`` where ``condition`` is nonzero, else ``x2`` (broadcasting).

    A native select, not ``c*x1 + (1-c)*x2``: inf or NaN in the branch not taken never leaks
    into the value, and the gradient is selected the same way (0, not NaN, where not taken).
    Gradients flow to ``x1`` and ``x2``, none to the condition. To keep the gradient of an op
    inside a branch finite, guard its input too (see the module docstring).

    Args:
        condition: tensor-like (any dtype; nonzero, or NaN, is true).
        x1, x2: tensor-likes or scalars. Both are required (the one-argument ``where``
            returning indices has no fixed output shape and is not supported).

    Returns:
        float32 Tensor of the broadcast shape of the three.

    Example:
        >>> x = ops.convert_to_tensor([-1.0, 0.0, 4.0])
        >>> ops.where(x > 0, ops.sqrt(x), 0.0).numpy()
        array([0., 0., 2.], dtype=float32)
    """
    if x1 is None or x2 is None:
        raise ValueError("where: both x1 and x2 must be given (the index form is not supported)")
    c = float_tensor(condition, "where")
    if isinstance(x1, numbers.Number) and not isinstance(x2, numbers.Number):
        b = float_tensor(x2, "where")
        a = operand(x1, b, "where")
    else:
        a = operand(x1, c, "where")
        b = operand(x2, a, "where")
    shp = broadcast_shapes("where", c.shape, a.shape, b.shape)
    cd, ad, bd = (broadcast_array(t.data, shp) for t in (c, a, b))
    out = _C.where(cd, ad, bd)
    if not need_grad(a, b):
        return Tensor._wrap(out)
    fn = _Where()
    fn.cond = cd
    return Tensor._from_op(out, fn, (a, b))


class _ClipMask(Function):
    __slots__ = ("mask",)

    def backward(self, g):
        return (_C.where(self.mask, g, _C.zeros(list(g.shape), device=g.device)),)


def clip(x, x_min, x_max):
    """Clamp ``x`` to ``[x_min, x_max]`` (native ``_C.clip`` for scalar bounds).

    The gradient passes where ``x_min <= x <= x_max`` and is 0 outside (TF/Keras). Tensor bounds
    are supported as ``minimum(maximum(x, x_min), x_max)``; NaN in ``x`` passes through.

    Args:
        x: tensor-like.
        x_min, x_max: scalars (x_min <= x_max) or tensor-likes broadcastable with x.

    Returns:
        float32 Tensor (x's shape for scalar bounds).

    Example:
        >>> ops.clip(ops.convert_to_tensor([-2.0, 0.5, 3.0]), 0.0, 1.0).numpy()
        array([0. , 0.5, 1. ], dtype=float32)
    """
    x = float_tensor(x, "clip")
    if not (isinstance(x_min, numbers.Number) and isinstance(x_max, numbers.Number)):
        return minimum(maximum(x, x_min), x_max)
    lo, hi = float(x_min), float(x_max)
    if lo > hi:
        raise ValueError(f"clip: x_min ({lo}) must be <= x_max ({hi}) (x of shape {x.shape})")
    out = _C.clip(x.data, lo, hi)
    if not need_grad(x):
        return Tensor._wrap(out)
    fn = _ClipMask()
    fn.mask = _C.binary("mul", _C.binary("greater_equal", x.data, scalar_array(lo, x.data)),
                        _C.binary("less_equal", x.data, scalar_array(hi, x.data)))
    return Tensor._from_op(out, fn, (x,))

