"""Differentiable indexing and gathers (csrc family: elementwise, ``_C.slice_axis`` /
``_C.take_rows`` / ``_C.scatter_add_rows``).

``getitem`` (``tensor[key]``) supports ints, slices of any step, ``...``, ``None`` and integer
arrays on axis 0; ``take`` gathers along any axis with indices of any shape. Backward: slices pad with
zeros, gathers scatter-add (repeated indices accumulate, deterministic order).
"""
import numbers

import numpy as np

from .. import _C
from ..tensor import Function, Tensor, _to_array
from .core import as_tensor, need_grad, norm_axis
from .layout import expand_dims, moveaxis, ravel, reshape, slice_axis, transpose

Array = _C.Array

__all__ = ["getitem", "take", "segment_sum"]


class _TakeRows(Function):
    __slots__ = ("idx", "n")

    def backward(self, g):
        return (_C.scatter_add_rows(g, self.idx, self.n),)


def _take_rows(a, idx):
    out = _C.take_rows(a.data, idx)
    if not need_grad(a):
        return Tensor._wrap(out)
    fn = _TakeRows()
    fn.idx, fn.n = idx, a.shape[0]
    return Tensor._from_op(out, fn, (a,))


def take(x, indices, axis=None):
    """Gather along ``axis`` with integer ``indices`` (any shape); None flattens ``x`` first.

    Args:
        x: tensor-like. indices: int32/int64 tensor-like; out-of-range indices raise ValueError.
        axis: int or None.

    Returns:
        Tensor of shape ``x.shape[:axis] + indices.shape + x.shape[axis+1:]``; the gradient
        scatter-adds (repeated indices accumulate).

    Example:
        >>> ops.take(ops.convert_to_tensor([[1.0, 2.0], [3.0, 4.0]]), [1, 1, 0], axis=0).shape
        (3, 2)
    """
    x = as_tensor(x)
    idx = _index_array(indices, "take")
    if axis is None:
        x, ax = ravel(x), 0
    else:
        ax = norm_axis(axis, x.ndim, "take")
    if ax != 0:
        x = moveaxis(x, ax, 0)
    rest = tuple(x.shape[1:])
    y = _take_rows(x, idx.reshape((-1,)))
    y = reshape(y, tuple(idx.shape) + rest)
    if ax != 0:
        k = len(idx.shape)
        perm = list(range(k, k + ax)) + list(range(k)) + list(range(k + ax, y.ndim))
        y = transpose(y, perm)
    return y


def _index_array(key, op):
    data = key.data if isinstance(key, Tensor) else key
    if isinstance(data, Array):
        if data.dtype not in ("int32", "int64"):
            raise TypeError(f"{op}: indices must be int32 or int64, got {data.dtype} (shape {data.shape})")
        return data
    arr = np.asarray(data)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers, got {arr.dtype} (shape {arr.shape})")
    return _to_array(arr, "int64")


def getitem(x, key):
    """NumPy basic indexing plus integer-array rows: ints, slices (any step), ``...``, ``None``
    (a new axis), or an integer array / list / Tensor selecting along axis 0.

    Args:
        x: tensor-like. key: int, slice, Ellipsis, None, a tuple of them, or an integer index
            array (any shape; boolean masks are not supported: their result shape depends on the data).

    Returns:
        Tensor; the gradient pads with zeros (step-1 slices) or scatter-adds (gathers, strided
        slices).

    Example:
        >>> ops.getitem(ops.zeros((4, 5)), (slice(1, 3), None, 2)).shape
        (2, 1)
    """
    x = as_tensor(x)
    if isinstance(key, (Tensor, Array, np.ndarray, list)):
        idx = _index_array(key, "getitem")
        return _take_rows(x, idx) if idx.ndim == 1 else take(x, idx, axis=0)
    if not isinstance(key, tuple):
        key = (key,)
    real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("getitem: an index can only have a single ellipsis ('...')")
    if any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * max(x.ndim - real, 0) + key[i + 1:]
    if real > x.ndim:
        raise IndexError(f"getitem: too many indices ({real}) for a tensor of shape {x.shape}")
    t, axis = x, 0
    for k in key:
        if k is None:
            t = expand_dims(t, axis)
            axis += 1
            continue
        full = t.shape[axis]
        if isinstance(k, numbers.Integral):
            i = int(k)
            if not -full <= i < full:
                raise IndexError(f"getitem: index {i} is out of bounds for axis {axis} with size {full}")
            i %= full
            t = slice_axis(t, axis, i, i + 1)
            t = reshape(t, t.shape[:axis] + t.shape[axis + 1:])
        elif isinstance(k, slice):
            start, stop, step = k.indices(full)
            if step == 1:
                stop = max(stop, start)
                if start != 0 or stop != full:
                    t = slice_axis(t, axis, start, stop)
            else:  # a strided or reversed slice is a gather of its index ramp
                ramp = np.arange(start, stop, step, dtype=np.int64)
                t = take(t, ramp, axis=axis) if ramp.size else slice_axis(t, axis, 0, 0)
            axis += 1
        else:
            raise TypeError(f"getitem: unsupported index {k!r} (use ints, slices, ..., None or integer arrays)")
    return t


class _SegmentSum(Function):
    __slots__ = ("ids",)

    def backward(self, g):
        return (_C.take_rows(g, self.ids),)


def segment_sum(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Sum the rows of ``data`` that share a segment id (one native scatter-add).

    Args:
        data: float32 tensor-like ``[N, ...]``. segment_ids: int ``[N]`` in ``[0, num_segments)``.
        num_segments: number of output rows (default ``max(segment_ids) + 1``).
        sorted: accepted for Keras compatibility (any order works).

    Returns:
        Tensor ``[num_segments, ...]``; the gradient gathers rows back.

    Example:
        >>> ops.segment_sum(ops.ones((3, 2)), [0, 0, 2]).numpy()[:, 0]
        array([2., 0., 1.], dtype=float32)
    """
    x = as_tensor(data)
    ids = _index_array(segment_ids, "segment_sum")
    if ids.ndim != 1 or x.ndim == 0 or ids.shape[0] != x.shape[0]:
        raise ValueError(f"segment_sum: segment_ids of shape {ids.shape} must be 1-D with one id per row of "
                         f"data {x.shape}")
    if num_segments is None:
        num_segments = int(ids.numpy().max()) + 1 if ids.shape[0] else 0
    try:
        out = _C.scatter_add_rows(x.data, ids, int(num_segments))
    except ValueError as e:
        raise ValueError(f"segment_sum: {e} (data {x.shape}, num_segments={num_segments})") from None
    if not need_grad(x):
        return Tensor._wrap(out)
    fn = _SegmentSum()
    fn.ids = ids
    return Tensor._from_op(out, fn, (x,))
