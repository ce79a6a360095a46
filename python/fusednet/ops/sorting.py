"""Sorting ops (csrc family: sort): ``sort``, ``argsort``, ``top_k``.

The native kernel sorts along the last axis (``_C.sort_rows``); another axis is moved last and
back with ``moveaxis`` (a transpose, differentiable). Order: ascending with NaN last (NumPy);
``top_k`` descending with NaN first (NaN counts as the largest, as torch.topk). Ties keep the
lower index first, so results are unique and the same on CPU and CUDA. Indices are int64.
Gradients (``sort``, ``top_k`` values) scatter the output gradient back to the positions the
values came from (``_C.sort_backward``); ``argsort`` and the ``top_k`` indices have none.
"""
import numbers

from .. import _C
from ..tensor import Function, Tensor
from .core import as_tensor, cast, float_tensor, need_grad, norm_axis
from .layout import moveaxis

__all__ = ["sort", "argsort", "top_k"]


class _SortValues(Function):
    __slots__ = ("idx", "n")

    def backward(self, g):
        return (_C.sort_backward(g, self.idx, self.n),)


def _sorted_last(x, k, descending):
    """(values Tensor, indices Array) of the k first of each last-axis row (internal)."""
    if x.ndim == 0:
        x = x.reshape((1,))
    v, idx = _C.sort_rows(x.data, k, descending)
    if not need_grad(x):
        return Tensor._wrap(v), idx
    fn = _SortValues()
    fn.idx, fn.n = idx, x.shape[-1]
    return Tensor._from_op(v, fn, (x,)), idx


def _keep_dtype(v, dtype):
    """Values back in the input's integer dtype (Keras keeps it; sorted in float32, so exact to 2^24)."""
    return v if dtype == "float32" else cast(v, dtype)


def _along(x, axis, op):
    x = float_tensor(x, op)
    if x.ndim == 0:
        return x, None
    ax = norm_axis(axis, x.ndim, op)
    return (x, None) if ax == x.ndim - 1 else (moveaxis(x, ax, -1), ax)


def sort(x, axis=-1):
    """Sorted copy of ``x`` along ``axis`` (ascending, NaN last), differentiable.

    Args:
        x: tensor-like. axis: the axis to sort (default: last).

    Returns:
        Tensor of x's shape and dtype (integers are sorted as float32: exact up to 2^24).

    Example:
        >>> ops.sort(ops.convert_to_tensor([3.0, 1.0, 2.0])).numpy()
        array([1., 2., 3.], dtype=float32)
    """
    dt = as_tensor(x).dtype
    t, ax = _along(x, axis, "sort")
    v, _ = _sorted_last(t, -1, False)
    if t.ndim == 0:
        return _keep_dtype(v.reshape(()), dt)
    return _keep_dtype(v if ax is None else moveaxis(v, -1, ax), dt)


def argsort(x, axis=-1):
    """Indices that sort ``x`` along ``axis`` (ascending, NaN last, ties by lower index).

    Args:
        x: tensor-like. axis: the axis to sort (default: last).

    Returns:
        int64 Tensor of x's shape (no gradient).

    Example:
        >>> ops.argsort(ops.convert_to_tensor([3.0, 1.0, 2.0])).numpy()
        array([1, 2, 0])
    """
    t, ax = _along(x, axis, "argsort")
    if t.ndim == 0:
        return Tensor._wrap(_C.zeros([], "int64", str(t.data.device)))
    _, idx = _C.sort_rows(t.data, -1, False)
    out = Tensor._wrap(idx)
    return out if ax is None else moveaxis(out, -1, ax)


def top_k(x, k, sorted=True):  # noqa: A002 - Keras name
    """The ``k`` largest entries of the last axis and their indices (Keras ``ops.top_k``).

    Args:
        x: tensor-like of rank >= 1. k: how many (``0 <= k <= x.shape[-1]``).
        sorted: accepted for Keras compatibility; the values are always returned in descending
            order (a valid result for ``sorted=False`` too). NaN counts as the largest; equal
            values keep the lower index first.

    Returns:
        ``(values, indices)``: Tensor ``[..., k]`` in x's dtype (differentiable when float) and
        an int64 Tensor.

    Example:
        >>> v, i = ops.top_k(ops.convert_to_tensor([1.0, 5.0, 3.0]), 2)
        >>> v.numpy(), i.numpy()
        (array([5., 3.], dtype=float32), array([1, 2]))
    """
    t = float_tensor(x, "top_k")
    if t.ndim == 0:
        raise ValueError(f"top_k: x must have rank >= 1, got shape {t.shape}")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 0 <= int(k) <= t.shape[-1]:
        raise ValueError(f"top_k: k must be an int in [0, {t.shape[-1]}] for x of shape {t.shape}, got {k!r}")
    v, idx = _sorted_last(t, int(k), True)
    return _keep_dtype(v, as_tensor(x).dtype), Tensor._wrap(idx)
