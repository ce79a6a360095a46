"""Cumulative ops (csrc family: scan): ``cumsum`` and ``cumprod``, differentiable.

One native pass along the axis with double accumulation (``_C.cumsum`` / ``_C.cumprod``); the
gradient of ``cumsum`` is the reverse cumulative sum of the output gradient, that of ``cumprod``
a native kernel that stays exact where ``x`` has zeros (see csrc/cpu/scan.h). ``axis=None``
scans the flattened tensor, as Keras/NumPy.
"""
from .. import _C
from ..tensor import Function, Tensor
from .core import cast, float_tensor, need_grad, norm_axis, standardize_dtype

__all__ = ["cumsum", "cumprod"]


class _Cumsum(Function):
    __slots__ = ("axis",)

    def backward(self, g):
        return (_C.cumsum(g, self.axis, True),)


class _Cumprod(Function):
    __slots__ = ("axis", "x", "y")

    def backward(self, g):
        return (_C.cumprod_backward(g, self.x, self.y, self.axis),)


def _scan(x, axis, dtype, op):
    t = float_tensor(x, op)
    if axis is None or t.ndim == 0:
        t = t.reshape((-1,))
        ax = 0
    else:
        ax = norm_axis(axis, t.ndim, op)
    if op == "cumsum":
        out = _C.cumsum(t.data, ax, False)
        fn = _Cumsum() if need_grad(t) else None
    else:
        out = _C.cumprod(t.data, ax)
        fn = _Cumprod() if need_grad(t) else None
        if fn is not None:
            fn.x, fn.y = t.data, out
    res = Tensor._wrap(out) if fn is None else None
    if fn is not None:
        fn.axis = ax
        res = Tensor._from_op(out, fn, (t,))
    if dtype is not None and standardize_dtype(dtype) != "float32":
        res = cast(res, dtype)
    return res


def cumsum(x, axis=None, dtype=None):
    """Cumulative sum along ``axis`` (None: of the flattened tensor).

    Args:
        x: tensor-like. axis: int or None. dtype: optional result dtype (computed in float32).

    Returns:
        Tensor of x's shape (flattened when axis is None); differentiable.

    Example:
        >>> ops.cumsum(ops.convert_to_tensor([1.0, 2.0, 3.0])).numpy()
        array([1., 3., 6.], dtype=float32)
    """
    return _scan(x, axis, dtype, "cumsum")


def cumprod(x, axis=None, dtype=None):
    """Cumulative product along ``axis`` (None: of the flattened tensor).

    Args:
        x: tensor-like. axis: int or None. dtype: optional result dtype (computed in float32).

    Returns:
        Tensor of x's shape (flattened when axis is None); differentiable, exact at zeros.

    Example:
        >>> ops.cumprod(ops.convert_to_tensor([1.0, 2.0, 3.0])).numpy()
        array([1., 2., 6.], dtype=float32)
    """
    return _scan(x, axis, dtype, "cumprod")
