"""Differentiable elementwise arithmetic (csrc family: elementwise, ``_C.binary`` / ``_C.unary``).

Binary ops broadcast like NumPy; a Python or NumPy scalar operand becomes a 0-d array on the
other operand's device. Every backward is native kernels: broadcast gradients are summed back
with ``_C.sum_to_shape``; masks use the ``_C.where`` select so an inf or NaN in the branch not
taken never turns a gradient into NaN.
"""
import numbers

from .. import _C
from ..tensor import Function, Tensor
from .core import binary_operands, float_tensor, need_grad, scalar_array, unbroadcast

__all__ = [
    "add", "subtract", "multiply", "divide", "true_divide", "power", "maximum", "minimum",
    "floor_divide", "mod", "negative", "square", "sqrt", "rsqrt", "exp", "expm1", "log", "log1p",
    "log2", "log10", "abs", "absolute", "sign", "reciprocal", "sin", "cos", "floor", "ceil", "round",
]


def _zeros_like(a):
    return _C.zeros(list(a.shape), device=a.device)


def _select(mask, g, take_g):
    """where(mask, g, 0) or where(mask, 0, g): native select, NaN-safe."""
    z = _zeros_like(g)
    return _C.where(mask, g, z) if take_g else _C.where(mask, z, g)


class _Binary(Function):
    __slots__ = ("kind", "a", "b", "out")

    def backward(self, g):
        ta, tb = self.inputs
        k, a, b = self.kind, self.a, self.b
        ga = gb = None
        if k == "add":
            ga, gb = g, g
        elif k == "sub":
            ga = g
            gb = _C.unary("neg", g) if tb.requires_grad else None
        elif k == "mul":
            ga = _C.binary("mul", g, b) if ta.requires_grad else None
            gb = _C.binary("mul", g, a) if tb.requires_grad else None
        elif k == "div":
            ga = _C.binary("div", g, b) if ta.requires_grad else None
            if tb.requires_grad:
                gb = _C.unary("neg", _C.binary("div", _C.binary("mul", g, self.out), b))
        elif k == "pow":
            if ta.requires_grad:  # b * a**(b-1)
                am1 = _C.binary("pow", a, _C.binary("sub", b, scalar_array(1.0, b)))
                ga = _C.binary("mul", g, _C.binary("mul", b, am1))
            if tb.requires_grad:  # a**b * log(a), 0 where a <= 0 (TF's choice)
                pos = _C.binary("greater", a, scalar_array(0.0, a))
                pos = pos if tuple(pos.shape) == tuple(g.shape) else _C.binary("add", _zeros_like(g), pos)
                la = _C.binary("mul", self.out, _C.unary("log", a))
                gb = _select(pos, _C.binary("mul", g, la), True)
        else:  # maximum / minimum: ties go to a (TF's choice)
            mask = _C.binary("greater_equal" if k == "maximum" else "less_equal", a, b)
            if tuple(mask.shape) != tuple(g.shape):
                mask = _C.binary("add", _zeros_like(g), mask)
            ga = _select(mask, g, True) if ta.requires_grad else None
            gb = _select(mask, g, False) if tb.requires_grad else None
        return (unbroadcast(ga, ta.shape) if ga is not None else None,
                unbroadcast(gb, tb.shape) if gb is not None else None)


def _binary(kind, a, b, op):
    a, b = binary_operands(a, b, op)
    out = _C.binary(kind, a.data, b.data)
    if not need_grad(a, b):
        return Tensor._wrap(out)
    fn = _Binary()
    fn.kind, fn.a, fn.b, fn.out = kind, a.data, b.data, out
    return Tensor._from_op(out, fn, (a, b))


class _Scale(Function):
    __slots__ = ("alpha",)

    def backward(self, g):
        return (_C.scale(g, self.alpha),)


def _scaled(a, alpha):
    out = _C.scale(a.data, alpha)
    if not need_grad(a):
        return Tensor._wrap(out)
    fn = _Scale()
    fn.alpha = alpha
    return Tensor._from_op(out, fn, (a,))


def add(x1, x2):
    """Elementwise ``x1 + x2`` with NumPy broadcasting.

    Args:
        x1, x2: tensor-likes or scalars.

    Returns:
        float32 Tensor of the broadcast shape.

    Example:
        >>> ops.add(ops.ones((2, 3)), 1.0).numpy()[0]
        array([2., 2., 2.], dtype=float32)
    """
    return _binary("add", x1, x2, "add")


def subtract(x1, x2):
    """Elementwise ``x1 - x2`` with NumPy broadcasting.

    Args:
        x1, x2: tensor-likes or scalars.

    Returns:
        float32 Tensor of the broadcast shape.

    Example:
        >>> ops.subtract(1.0, ops.ones((2,))).numpy()
        array([0., 0.], dtype=float32)
    """
    return _binary("sub", x1, x2, "subtract")


def multiply(x1, x2):
    """Elementwise ``x1 * x2`` with NumPy broadcasting (a scalar factor is one scale kernel).

    Args:
        x1, x2: tensor-likes or scalars.

    Returns:
        float32 Tensor of the broadcast shape.

    Example:
        >>> ops.multiply(ops.ones((2,)), 3).numpy()
        array([3., 3.], dtype=float32)
    """
    if isinstance(x1, numbers.Number) and not isinstance(x2, numbers.Number):
        x1, x2 = x2, x1
    if isinstance(x2, numbers.Number) and not isinstance(x2, complex):
        return _scaled(float_tensor(x1, "multiply"), float(x2))
    return _binary("mul", x1, x2, "multiply")


def divide(x1, x2):
    """Elementwise ``x1 / x2`` with NumPy broadcasting (true division, float32).

    Args:
        x1, x2: tensor-likes or scalars.

    Returns:
        float32 Tensor of the broadcast shape.

    Example:
        >>> ops.divide(ops.ones((2,)), 4).numpy()
        array([0.25, 0.25], dtype=float32)
    """
    if isinstance(x2, numbers.Number) and not isinstance(x1, numbers.Number) and float(x2) != 0.0:
        return _scaled(float_tensor(x1, "divide"), 1.0 / float(x2))
    return _binary("div", x1, x2, "divide")


true_divide = divide


def power(x1, x2):
    """Elementwise ``x1 ** x2``; the exponent may be a scalar or a tensor.

    Gradient w.r.t. the base: ``x2 * x1**(x2-1)``; w.r.t. the exponent ``x1**x2 * log(x1)``
    where ``x1 > 0`` and 0 elsewhere.

    Args:
        x1: base, tensor-like. x2: exponent, tensor-like or scalar.

    Returns:
        float32 Tensor of the broadcast shape.

    Example:
        >>> ops.power(ops.convert_to_tensor([2.0, 3.0]), 2).numpy()
        array([4., 9.], dtype=float32)
    """
    if isinstance(x2, numbers.Number) and float(x2) == 2.0 and not isinstance(x1, numbers.Number):
        return square(x1)
    return _binary("pow", x1, x2, "power")


def maximum(x1, x2):
    """Elementwise maximum with broadcasting; the gradient goes to ``x1`` on ties.

    Args:
        x1, x2: tensor-likes or scalars.

    Returns:
        float32 Tensor of the broadcast shape (NaN propagates).

    Example:
        >>> ops.maximum(ops.convert_to_tensor([-1.0, 2.0]), 0.0).numpy()
        array([0., 2.], dtype=float32)
    """
    return _binary("maximum", x1, x2, "maximum")


def minimum(x1, x2):
    """Elementwise minimum with broadcasting; the gradient goes to ``x1`` on ties.

    Args:
        x1, x2: tensor-likes or scalars.

    Returns:
        float32 Tensor of the broadcast shape (NaN propagates).

    Example:
        >>> ops.minimum(ops.convert_to_tensor([-1.0, 2.0]), 0.0).numpy()
        array([-1.,  0.], dtype=float32)
    """
    return _binary("minimum", x1, x2, "minimum")


def floor_divide(x1, x2):
    """Elementwise ``floor(x1 / x2)`` (no gradient, as in Keras).

    Args:
        x1, x2: tensor-likes or scalars.

    Returns:
        float32 Tensor of the broadcast shape.

    Example:
        >>> ops.floor_divide(ops.convert_to_tensor([7.0, -7.0]), 2).numpy()
        array([ 3., -4.], dtype=float32)
    """
    a, b = binary_operands(x1, x2, "floor_divide")
    return Tensor._wrap(_C.unary("floor", _C.binary("div", a.data, b.data)))


def mod(x1, x2):
    """Elementwise ``x1 - floor(x1 / x2) * x2`` (the sign follows ``x2``, like NumPy).

    Args:
        x1, x2: tensor-likes or scalars.

    Returns:
        float32 Tensor of the broadcast shape; differentiable in both arguments.

    Example:
        >>> ops.mod(ops.convert_to_tensor([7.0, -7.0]), 3).numpy()
        array([1., 2.], dtype=float32)
    """
    return subtract(x1, multiply(floor_divide(x1, x2), x2))


# ---------------------------------------------------------------------------- unary
class _Unary(Function):
    __slots__ = ("kind", "x", "y")

    def backward(self, g):
        k, x, y = self.kind, self.x, self.y
        B = _C.binary
        if k == "exp":
            d = B("mul", g, y)
        elif k == "expm1":
            d = B("mul", g, B("add", y, scalar_array(1.0, y)))
        elif k == "log":
            d = B("div", g, x)
        elif k == "log1p":
            d = B("div", g, B("add", x, scalar_array(1.0, x)))
        elif k == "sqrt":
            d = _C.scale(B("div", g, y), 0.5)
        elif k == "rsqrt":
            d = _C.scale(B("mul", g, B("mul", y, _C.unary("square", y))), -0.5)
        elif k == "square":
            d = B("mul", g, _C.scale(x, 2.0))
        elif k == "abs":
            d = B("mul", g, _C.unary("sign", x))
        elif k == "reciprocal":
            d = _C.unary("neg", B("mul", g, _C.unary("square", y)))
        elif k == "sin":
            d = B("mul", g, _C.unary("cos", x))
        elif k == "cos":
            d = _C.unary("neg", B("mul", g, _C.unary("sin", x)))
        elif k == "neg":
            d = _C.unary("neg", g)
        else:  # sign, floor, ceil, round: piecewise constant, zero gradient (TF)
            d = _zeros_like(g)
        return (d,)


def _unary(kind, x, op):
    x = float_tensor(x, op)
    if kind == "expm1":
        out = _C.binary("sub", _C.unary("exp", x.data), scalar_array(1.0, x.data))
    elif kind == "log1p":
        out = _C.unary("log", _C.binary("add", x.data, scalar_array(1.0, x.data)))
    elif kind == "ceil":
        out = _C.unary("neg", _C.unary("floor", _C.unary("neg", x.data)))
    else:
        out = _C.unary(kind, x.data)
    if not need_grad(x):
        return Tensor._wrap(out)
    fn = _Unary()
    fn.kind, fn.x, fn.y = kind, x.data, out
    return Tensor._from_op(out, fn, (x,))


def _def_unary(name, kind, doc, example):
    def f(x):
        return _unary(kind, x, name)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"{doc}\n\n    Args:\n        x: tensor-like (integer tensors are cast to float32).\n\n"
                 f"    Returns:\n        float32 Tensor of x's shape.\n\n    Example:\n        >>> {example}\n")
    return f


negative = _def_unary("negative", "neg", "Elementwise ``-x``.", "ops.negative(ops.ones((2,)))")
square = _def_unary("square", "square", "Elementwise ``x**2``.", "ops.square(ops.ones((2,)))")
sqrt = _def_unary("sqrt", "sqrt", "Elementwise square root (gradient ``0.5 / sqrt(x)``).",
                  "ops.sqrt(ops.full((2,), 4.0))")
rsqrt = _def_unary("rsqrt", "rsqrt", "Elementwise ``1 / sqrt(x)``.", "ops.rsqrt(ops.full((2,), 4.0))")
exp = _def_unary("exp", "exp", "Elementwise ``e**x``.", "ops.exp(ops.zeros((2,)))")
expm1 = _def_unary("expm1", "expm1", "Elementwise ``e**x - 1`` (computed as exp(x) - 1 in float32).",
                   "ops.expm1(ops.zeros((2,)))")
log = _def_unary("log", "log", "Elementwise natural logarithm.", "ops.log(ops.ones((2,)))")
log1p = _def_unary("log1p", "log1p", "Elementwise ``log(1 + x)`` (computed as log(1 + x) in float32).",
                   "ops.log1p(ops.zeros((2,)))")
abs = _def_unary("abs", "abs", "Elementwise ``|x|`` (gradient ``sign(x)``, 0 at 0).",  # noqa: A001
                 "ops.abs(ops.full((2,), -3.0))")
absolute = abs
sign = _def_unary("sign", "sign", "Elementwise sign, -1 / 0 / 1 (zero gradient).", "ops.sign(ops.full((2,), -3.0))")
reciprocal = _def_unary("reciprocal", "reciprocal", "Elementwise ``1 / x``.", "ops.reciprocal(ops.full((2,), 4.0))")
sin = _def_unary("sin", "sin", "Elementwise sine.", "ops.sin(ops.zeros((2,)))")
cos = _def_unary("cos", "cos", "Elementwise cosine.", "ops.cos(ops.zeros((2,)))")
floor = _def_unary("floor", "floor", "Elementwise floor (zero gradient).", "ops.floor(ops.full((2,), 1.5))")
ceil = _def_unary("ceil", "ceil", "Elementwise ceiling (zero gradient).", "ops.ceil(ops.full((2,), 1.5))")
round = _def_unary("round", "round", "Elementwise round half to even, like NumPy (zero gradient).",  # noqa: A001
                   "ops.round(ops.full((2,), 2.5))")


def log2(x):
    """Elementwise base-2 logarithm, ``log(x) / log(2)``.

    Args:
        x: tensor-like.

    Returns:
        float32 Tensor of x's shape.

    Example:
        >>> ops.log2(ops.full((2,), 8.0)).numpy()
        array([3., 3.], dtype=float32)
    """
    return multiply(log(x), 1.4426950408889634)


def log10(x):
    """Elementwise base-10 logarithm, ``log(x) / log(10)``.

    Args:
        x: tensor-like.

    Returns:
        float32 Tensor of x's shape.

    Example:
        >>> ops.log10(ops.full((2,), 100.0)).numpy()
        array([2., 2.], dtype=float32)
    """
    return multiply(log(x), 0.4342944819032518)
