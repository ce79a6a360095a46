"""Differentiable shape and layout ops (csrc family: elementwise layout copies, ``_C.transpose`` /
``_C.concat`` / ``_C.slice_axis`` / ``_C.take_rows``).

Reshapes are views (no copy); transposes, concatenations and slices are one native copy each,
and each backward is the inverse copy (slices pad with zeros, concatenations slice). Indexing
and gathers are in :mod:`.indexing`. NumPy appears only for shape arithmetic.
"""
import numbers

import numpy as np

from .. import _C
from ..tensor import Function, Tensor
from .core import as_tensor, broadcast_array, broadcast_shapes, need_grad, norm_axis, unbroadcast

Array = _C.Array

__all__ = [
    "reshape", "flatten", "ravel", "expand_dims", "squeeze", "transpose", "swapaxes", "moveaxis",
    "concatenate", "stack", "split", "tile", "repeat", "broadcast_to", "slice", "pad",
]


def _dims(shape):
    if isinstance(shape, numbers.Integral):
        return (int(shape),)
    return tuple(int(s) for s in shape)


class _Reshape(Function):
    __slots__ = ("shape",)

    def backward(self, g):
        return (g.reshape(self.shape),)


def reshape(x, newshape):
    """View with a new shape; one dimension may be -1.

    Args:
        x: tensor-like. newshape: int or tuple of ints.

    Returns:
        Tensor sharing x's data.

    Example:
        >>> ops.reshape(ops.zeros((2, 3)), (3, -1)).shape
        (3, 2)
    """
    x = as_tensor(x)
    newshape = _dims(newshape)
    try:
        out = x.data.reshape(newshape)
    except (ValueError, RuntimeError) as e:
        raise ValueError(f"reshape: cannot reshape tensor of shape {x.shape} into {newshape}: {e}") from None
    if not need_grad(x):
        return Tensor._wrap(out)
    fn = _Reshape()
    fn.shape = x.shape
    return Tensor._from_op(out, fn, (x,))


def flatten(x, start_axis=1):
    """Collapse axes ``start_axis..`` into one (Keras ``Flatten`` keeps the batch axis).

    Args:
        x: tensor-like. start_axis: first axis to collapse.

    Returns:
        Tensor of shape ``x.shape[:start_axis] + (prod(rest),)``.

    Example:
        >>> ops.flatten(ops.zeros((2, 3, 4))).shape
        (2, 12)
    """
    x = as_tensor(x)
    n = 1
    for s in x.shape[start_axis:]:
        n *= s
    return reshape(x, tuple(x.shape[:start_axis]) + (n,))


def ravel(x):
    """All elements as a 1-D tensor (row-major).

    Args:
        x: tensor-like.

    Returns:
        1-D Tensor.

    Example:
        >>> ops.ravel(ops.zeros((2, 3))).shape
        (6,)
    """
    return reshape(x, (-1,))


def expand_dims(x, axis):
    """Insert a length-1 axis at ``axis`` (a view).

    Args:
        x: tensor-like. axis: int in ``[-ndim-1, ndim]``, or a tuple of them.

    Returns:
        Tensor of rank ``ndim + len(axis)``.

    Example:
        >>> ops.expand_dims(ops.zeros((2, 3)), -1).shape
        (2, 3, 1)
    """
    x = as_tensor(x)
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    nd = x.ndim + len(axes)
    pos = sorted(norm_axis(a, nd, "expand_dims") for a in axes)
    shp = list(x.shape)
    for p in pos:
        shp.insert(p, 1)
    return reshape(x, tuple(shp))


def squeeze(x, axis=None):
    """Remove length-1 axes (all of them, or those in ``axis``).

    Args:
        x: tensor-like. axis: None, int or tuple of ints; each must have length 1.

    Returns:
        Tensor (a view).

    Example:
        >>> ops.squeeze(ops.zeros((2, 1, 3))).shape
        (2, 3)
    """
    x = as_tensor(x)
    if axis is None:
        axes = [i for i, s in enumerate(x.shape) if s == 1]
    else:
        axes = [norm_axis(a, x.ndim, "squeeze") for a in ((axis,) if isinstance(axis, numbers.Integral) else axis)]
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of shape {x.shape} has length {x.shape[a]}, not 1")
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in axes))


class _Transpose(Function):
    __slots__ = ("inv",)

    def backward(self, g):
        return (_C.transpose(g, self.inv),)


def transpose(x, axes=None):
    """Permute axes (default: reverse them); one native copy.

    Args:
        x: tensor-like. axes: permutation of ``range(ndim)`` or None.

    Returns:
        Tensor of the permuted shape.

    Example:
        >>> ops.transpose(ops.zeros((2, 3, 4)), (2, 0, 1)).shape
        (4, 2, 3)
    """
    x = as_tensor(x)
    nd = x.ndim
    perm = list(range(nd))[::-1] if axes is None else [int(p) % nd if nd else int(p) for p in axes]
    if sorted(perm) != list(range(nd)):
        raise ValueError(f"transpose: axes {tuple(axes)} is not a permutation of the {nd} axes of shape {x.shape}")
    if perm == list(range(nd)):
        return x
    out = _C.transpose(x.data, perm)
    if not need_grad(x):
        return Tensor._wrap(out)
    fn = _Transpose()
    fn.inv = [int(i) for i in np.argsort(perm)]
    return Tensor._from_op(out, fn, (x,))


def swapaxes(x, axis1, axis2):
    """Exchange two axes.

    Args:
        x: tensor-like. axis1, axis2: ints.

    Returns:
        Tensor.

    Example:
        >>> ops.swapaxes(ops.zeros((2, 3, 4)), 0, 2).shape
        (4, 3, 2)
    """
    x = as_tensor(x)
    p = list(range(x.ndim))
    a, b = norm_axis(axis1, x.ndim, "swapaxes"), norm_axis(axis2, x.ndim, "swapaxes")
    p[a], p[b] = p[b], p[a]
    return transpose(x, p)


def moveaxis(x, source, destination):
    """Move one axis to a new position, keeping the order of the others.

    Args:
        x: tensor-like. source, destination: ints.

    Returns:
        Tensor.

    Example:
        >>> ops.moveaxis(ops.zeros((2, 3, 4)), 0, -1).shape
        (3, 4, 2)
    """
    x = as_tensor(x)
    s, d = norm_axis(source, x.ndim, "moveaxis"), norm_axis(destination, x.ndim, "moveaxis")
    p = [i for i in range(x.ndim) if i != s]
    p.insert(d, s)
    return transpose(x, p)


class _Concat(Function):
    __slots__ = ("axis", "bounds")

    def backward(self, g):
        return tuple(_C.slice_axis(g, self.axis, lo, hi) if t.requires_grad else None
                     for t, (lo, hi) in zip(self.inputs, self.bounds))


def concatenate(xs, axis=0):
    """Join tensors along an existing axis (one native copy; gradients are slices).

    Args:
        xs: sequence of tensor-likes with equal shapes except along ``axis`` and one dtype.
        axis: int.

    Returns:
        Tensor.

    Example:
        >>> ops.concatenate([ops.zeros((2, 3)), ops.ones((2, 1))], axis=1).shape
        (2, 4)
    """
    ts = [as_tensor(x) for x in xs]
    if not ts:
        raise ValueError("concatenate: need at least one tensor")
    nd = ts[0].ndim
    if nd == 0:
        raise ValueError("concatenate: zero-dimensional tensors cannot be concatenated")
    ax = norm_axis(axis, nd, "concatenate")
    for t in ts:
        if t.ndim != nd or any(t.shape[i] != ts[0].shape[i] for i in range(nd) if i != ax):
            raise ValueError(f"concatenate: shapes {[t.shape for t in ts]} differ outside axis {axis}")
    out = _C.concat([t.data for t in ts], ax)
    if not need_grad(*ts):
        return Tensor._wrap(out)
    fn = _Concat()
    fn.axis = ax
    b, lo = [], 0
    for t in ts:
        b.append((lo, lo + t.shape[ax]))
        lo += t.shape[ax]
    fn.bounds = b
    return Tensor._from_op(out, fn, tuple(ts))


def stack(xs, axis=0):
    """Join tensors of one shape along a new axis.

    Args:
        xs: sequence of tensor-likes of equal shape. axis: position of the new axis.

    Returns:
        Tensor of rank ``ndim + 1``.

    Example:
        >>> ops.stack([ops.zeros((2, 3)), ops.ones((2, 3))], axis=1).shape
        (2, 2, 3)
    """
    ts = [as_tensor(x) for x in xs]
    if not ts:
        raise ValueError("stack: need at least one tensor")
    if any(t.shape != ts[0].shape for t in ts):
        raise ValueError(f"stack: all shapes must be equal, got {[t.shape for t in ts]}")
    ax = norm_axis(axis, ts[0].ndim + 1, "stack")
    return concatenate([expand_dims(t, ax) for t in ts], ax)


class _SliceAxis(Function):
    __slots__ = ("axis", "lo", "hi", "full")

    def backward(self, g):
        parts, shp = [], list(g.shape)
        if self.lo > 0:
            shp[self.axis] = self.lo
            parts.append(_C.zeros(shp, device=g.device))
        parts.append(g)
        if self.hi < self.full:
            shp = list(g.shape)
            shp[self.axis] = self.full - self.hi
            parts.append(_C.zeros(shp, device=g.device))
        return (_C.concat(parts, self.axis) if len(parts) > 1 else g,)


def slice_axis(x, axis, lo, hi):
    """Differentiable copy of ``x[..., lo:hi, ...]`` along ``axis`` (internal)."""
    out = _C.slice_axis(x.data, axis, lo, hi)
    if not need_grad(x):
        return Tensor._wrap(out)
    fn = _SliceAxis()
    fn.axis, fn.lo, fn.hi, fn.full = axis, lo, hi, x.shape[axis]
    return Tensor._from_op(out, fn, (x,))


def split(x, indices_or_sections, axis=0):
    """Split into a list of sub-tensors along ``axis`` (each piece is differentiable).

    Args:
        x: tensor-like.
        indices_or_sections: an int N (the axis must divide into N equal parts) or a sorted
            sequence of split points, as in NumPy.
        axis: int.

    Returns:
        list of Tensors.

    Example:
        >>> [t.shape for t in ops.split(ops.zeros((6, 2)), 3)]
        [(2, 2), (2, 2), (2, 2)]
    """
    x = as_tensor(x)
    ax = norm_axis(axis, x.ndim, "split")
    n = x.shape[ax]
    if isinstance(indices_or_sections, numbers.Integral):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: axis {axis} of shape {x.shape} does not divide into {k} equal parts")
        points = [n // k * i for i in range(1, k)]
    else:
        points = [int(p) for p in indices_or_sections]
    edges = [0] + [min(max(p, 0), n) for p in points] + [n]
    return [slice_axis(x, ax, lo, max(lo, hi)) for lo, hi in zip(edges[:-1], edges[1:])]


class _BroadcastTo(Function):
    __slots__ = ("shape",)

    def backward(self, g):
        return (unbroadcast(g, self.shape),)


def broadcast_to(x, shape):
    """Copy of ``x`` broadcast to ``shape`` (NumPy rules); the gradient sums back.

    Args:
        x: tensor-like (float32). shape: target shape.

    Returns:
        Tensor of ``shape``.

    Example:
        >>> ops.broadcast_to(ops.ones((3,)), (2, 3)).shape
        (2, 3)
    """
    x = as_tensor(x)
    shape = _dims(shape)
    if broadcast_shapes("broadcast_to", x.shape, shape) != shape:
        raise ValueError(f"broadcast_to: shape {x.shape} cannot be broadcast to {shape}")
    out = broadcast_array(x.data, shape)
    if not need_grad(x):
        return Tensor._wrap(out)
    fn = _BroadcastTo()
    fn.shape = x.shape
    return Tensor._from_op(out, fn, (x,))


def tile(x, repeats):
    """Repeat the whole tensor ``repeats[i]`` times along each axis (NumPy ``tile``).

    Args:
        x: tensor-like. repeats: int or sequence of ints (prepended axes when longer than ndim).

    Returns:
        Tensor; differentiable (concatenations).

    Example:
        >>> ops.tile(ops.ones((2, 3)), (2, 1)).shape
        (4, 3)
    """
    x = as_tensor(x)
    reps = _dims(repeats)
    if len(reps) > x.ndim:
        x = reshape(x, (1,) * (len(reps) - x.ndim) + tuple(x.shape))
    reps = (1,) * (x.ndim - len(reps)) + reps
    for ax, r in enumerate(reps):
        if r < 0:
            raise ValueError(f"tile: repeats must be >= 0, got {repeats}")
        if r != 1:
            x = concatenate([x] * r, ax) if r > 0 else slice_axis(x, ax, 0, 0)
    return x


def repeat(x, repeats, axis=None):
    """Repeat each element ``repeats`` times along ``axis`` (None: of the flattened tensor).

    Args:
        x: tensor-like. repeats: int >= 0 (per-element counts are not supported). axis: int or None.

    Returns:
        Tensor; differentiable (a broadcast then a reshape).

    Example:
        >>> ops.repeat(ops.convert_to_tensor([1.0, 2.0]), 2).numpy()
        array([1., 1., 2., 2.], dtype=float32)
    """
    x = as_tensor(x)
    if not isinstance(repeats, numbers.Integral) or repeats < 0:
        raise ValueError(f"repeat: repeats must be an int >= 0, got {repeats!r} (shape {x.shape})")
    if axis is None:
        x, ax = ravel(x), 0
    else:
        ax = norm_axis(axis, x.ndim, "repeat")
    shp = list(x.shape)
    e = expand_dims(x, ax + 1)
    b = list(e.shape)
    b[ax + 1] = int(repeats)
    shp[ax] *= int(repeats)
    return reshape(broadcast_to(e, tuple(b)), tuple(shp))


def slice(x, start_indices, shape):  # noqa: A001 - keras.ops.slice
    """The block of ``x`` starting at ``start_indices`` with extent ``shape`` (``keras.ops.slice``).

    Args:
        x: tensor-like. start_indices: one int per axis. shape: one extent per axis (-1: to the end).

    Returns:
        Tensor of ``shape``; differentiable (the gradient pads with zeros).

    Example:
        >>> ops.slice(ops.zeros((4, 5)), (1, 2), (2, -1)).shape
        (2, 3)
    """
    x = as_tensor(x)
    starts, sizes = _dims(start_indices), _dims(shape)
    if len(starts) != x.ndim or len(sizes) != x.ndim:
        raise ValueError(f"slice: start_indices {starts} and shape {sizes} need one entry per axis of {x.shape}")
    for ax, (lo, n) in enumerate(zip(starts, sizes)):
        hi = x.shape[ax] if n == -1 else lo + n
        if not 0 <= lo <= hi <= x.shape[ax]:
            raise ValueError(f"slice: block start {starts} shape {sizes} is outside the input of shape {x.shape}")
        if lo != 0 or hi != x.shape[ax]:
            x = slice_axis(x, ax, lo, hi)
    return x


def pad(x, pad_width, mode="constant", constant_values=0):
    """Pad with a constant (``keras.ops.pad`` in 'constant' mode): one native concat per axis.

    Args:
        x: float32 tensor-like. pad_width: ``((before, after), ...)`` per axis, one pair for all
            axes, or one int. mode: 'constant' only. constant_values: the fill value.

    Returns:
        Tensor; differentiable in ``x`` (the gradient is the interior slice).

    Example:
        >>> ops.pad(ops.ones((2, 3)), ((1, 1), (0, 2))).shape
        (4, 5)
    """
    x = as_tensor(x)
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got {mode!r} (shape {x.shape})")
    pw = np.asarray(pad_width, dtype=np.int64)
    if pw.ndim == 0:
        pw = np.full((x.ndim, 2), int(pw))
    elif pw.shape == (2,):
        pw = np.tile(pw, (x.ndim, 1))
    if pw.shape != (x.ndim, 2) or (pw < 0).any():
        raise ValueError(f"pad: pad_width {np.asarray(pad_width).tolist()} must be non-negative (before, after) "
                         f"pairs, one per axis of {x.shape}")
    for ax, (lo, hi) in enumerate(pw.tolist()):
        if lo == 0 and hi == 0:
            continue
        parts = []
        for n in (lo, hi):
            shp = list(x.shape)
            shp[ax] = n
            parts.append(Tensor._wrap(_C.full(shp, float(constant_values), device=x.device)) if n else None)
        x = concatenate([p for p in (parts[0], x, parts[1]) if p is not None], ax)
    return x
