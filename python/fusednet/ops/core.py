"""Conversion, dtypes and the shared glue of the differentiable ops (``keras.ops`` core).

Dtype policy (docs/DECISIONS.md, "ops"): a Tensor is float32, int32 or int64. Every floating
input (NumPy float64/float16, Python floats) becomes float32; integer data becomes int64
(int32 is kept); bools become float32 0/1. Float maths kernels are float32 only, so integer
tensors passed to arithmetic are cast to float32 first; comparisons and logical ops return
float32 0/1 masks (there is no bool dtype). Integer tensors serve as indices: ``argmax`` /
``argmin`` return int64, ``one_hot`` / ``take`` / ``getitem`` accept int32 or int64.
"""
import numbers

import numpy as np

from .. import _C
from ..tensor import Function, Tensor, _state

Array = _C.Array

__all__ = [
    "convert_to_tensor", "convert_to_numpy", "is_tensor", "cast", "shape", "dtype", "ndim", "size",
    "stop_gradient", "standardize_dtype", "to_device", "as_tensor", "cond", "fori_loop", "while_loop",
]

_FLOATS = ("float32", "float64", "float16", "bfloat16", "float")
_INTS = {"int32": "int32", "int64": "int64", "int": "int64", "int8": "int32", "int16": "int32",
         "uint8": "int32", "uint16": "int32", "uint32": "int64", "uint64": "int64"}


def standardize_dtype(dtype):
    """The Tensor dtype fusednet stores for a requested ``dtype`` (see the module's policy).

    Args:
        dtype: None, a string ('float32', 'float64', 'int32', 'bool', ...), a NumPy dtype or type.

    Returns:
        None, 'float32', 'int32' or 'int64'. Floating and bool requests map to 'float32'.

    Example:
        >>> ops.standardize_dtype("float64")
        'float32'
    """
    if dtype is None:
        return None
    if isinstance(dtype, str):
        name = dtype
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            raise TypeError(f"standardize_dtype: {dtype!r} is not a dtype") from None
    if name in _FLOATS or name == "bool":
        return "float32"
    if name in _INTS:
        return _INTS[name]
    raise TypeError(f"standardize_dtype: unsupported dtype {dtype!r} (fusednet tensors are float32, "
                    f"int32 or int64)")


def as_tensor(x):
    """``x`` as a Tensor (Tensors pass through; Arrays are wrapped without copying).

    Args:
        x: Tensor, Array, NumPy array, nested sequence or scalar.

    Returns:
        Tensor.

    Example:
        >>> ops.as_tensor([1.0, 2.0]).shape
        (2,)
    """
    if isinstance(x, Tensor):
        return x
    if isinstance(x, Array):
        return Tensor._wrap(x)
    return Tensor(x)


def convert_to_tensor(x, dtype=None, sparse=None):
    """Keras ``ops.convert_to_tensor``: a Tensor holding ``x``.

    Args:
        x: Tensor, Array, NumPy array, nested sequence or scalar (float64 NumPy becomes float32).
        dtype: optional target dtype (``standardize_dtype`` rules); casts when it differs.
        sparse: accepted for Keras compatibility; sparse tensors are not supported.

    Returns:
        Tensor (``x`` itself when it already is one of that dtype).

    Example:
        >>> t = ops.convert_to_tensor(np.ones((2, 3)))      # float64 in, float32 out
        >>> t.dtype
        'float32'
    """
    if sparse:
        raise ValueError("convert_to_tensor: sparse tensors are not supported")
    t = as_tensor(x)
    dt = standardize_dtype(dtype)
    if dt is not None and t.dtype != dt:
        return cast(t, dt)
    return t


def convert_to_numpy(x):
    """A NumPy array with the values of ``x`` (Tensor, Array, or anything NumPy accepts).

    Args:
        x: Tensor, Array, NumPy array, sequence or scalar.

    Returns:
        numpy.ndarray (sharing memory with a CPU Tensor/Array).

    Example:
        >>> ops.convert_to_numpy(ops.ones((2,)))
        array([1., 1.], dtype=float32)
    """
    if isinstance(x, Tensor):
        return x.numpy()
    if isinstance(x, Array):
        return (x if x.device == "cpu" else x.to("cpu")).numpy()
    return np.asarray(x)


def is_tensor(x):
    """True for a :class:`fusednet.Tensor`.

    Args:
        x: any object.

    Returns:
        bool.

    Example:
        >>> ops.is_tensor(ops.ones((1,))), ops.is_tensor(np.ones(1))
        (True, False)
    """
    return isinstance(x, Tensor)


def shape(x):
    """The static shape of ``x`` as a tuple of ints.

    Args:
        x: Tensor, Array, NumPy array or nested sequence.

    Returns:
        tuple of int.

    Example:
        >>> ops.shape(ops.zeros((2, 3)))
        (2, 3)
    """
    if isinstance(x, (Tensor, Array)):
        return tuple(x.shape)
    return tuple(np.shape(x))


def dtype(x):
    """The dtype name of ``x`` after conversion ('float32', 'int32' or 'int64').

    Args:
        x: Tensor, Array or anything :func:`convert_to_tensor` accepts.

    Returns:
        str.

    Example:
        >>> ops.dtype(np.arange(3))
        'int64'
    """
    if isinstance(x, (Tensor, Array)):
        return x.dtype
    return as_tensor(x).dtype


def ndim(x):
    """Number of dimensions of ``x``.

    Args:
        x: Tensor, Array, NumPy array or nested sequence.

    Returns:
        int.

    Example:
        >>> ops.ndim(ops.zeros((2, 3)))
        2
    """
    return len(shape(x))


def size(x):
    """Number of elements of ``x``.

    Args:
        x: Tensor, Array, NumPy array or nested sequence.

    Returns:
        int.

    Example:
        >>> ops.size(ops.zeros((2, 3)))
        6
    """
    n = 1
    for s in shape(x):
        n *= s
    return n


class _Cast(Function):
    __slots__ = ()

    def backward(self, g):
        return (g,)


def cast(x, dtype):
    """Cast to ``dtype`` (native kernel). float32 -> float32 keeps the gradient; casts to an
    integer dtype cut it (Keras: integer tensors have no gradient).

    Args:
        x: tensor-like.
        dtype: target dtype (``standardize_dtype`` rules: 'float64' means float32).

    Returns:
        Tensor of the target dtype. float -> int truncates toward zero (NaN -> 0).

    Example:
        >>> ops.cast(ops.convert_to_tensor([1.7, -1.7]), "int32").numpy()
        array([ 1, -1], dtype=int32)
    """
    x = as_tensor(x)
    dt = standardize_dtype(dtype)
    if dt is None:
        raise TypeError("cast: dtype must be given")
    if x.dtype == dt:
        if dt == "float32" and need_grad(x):
            return Tensor._from_op(x.data, _Cast(), (x,))
        return Tensor._wrap(x.data)
    return Tensor._wrap(_C.cast(x.data, dt))


def stop_gradient(x):
    """``x`` with no gradient flowing back through it (shares the data).

    Args:
        x: tensor-like.

    Returns:
        Tensor cut from the tape.

    Example:
        >>> y = ops.stop_gradient(x)      # y.requires_grad is False
    """
    return Tensor._wrap(as_tensor(x).data)


class _ToDevice(Function):
    __slots__ = ("device",)

    def backward(self, g):
        return (g.to(self.device),)


def to_device(a, device):
    """Copy to another device ('cpu', 'cuda', 'cuda:N'); gradients are copied back.

    Args:
        a: tensor-like.
        device: target device string.

    Returns:
        Tensor on ``device`` (``a`` itself when already there).

    Example:
        >>> t = ops.to_device(ops.ones((2,)), "cpu")
    """
    a = as_tensor(a)
    out = a.data.to(str(device))
    if out is a.data or not need_grad(a):
        return Tensor._wrap(out) if out is not a.data else a
    fn = _ToDevice()
    fn.device = a.device
    return Tensor._from_op(out, fn, (a,))


# ---------------------------------------------------------------------------- control flow (eager)
def _truth(pred):
    if isinstance(pred, Tensor):
        return bool(pred)
    return bool(np.asarray(pred))


def cond(pred, true_fn, false_fn):
    """``true_fn()`` if ``pred`` else ``false_fn()`` (eager: only the taken branch runs and is
    recorded on the tape).

    Args:
        pred: a bool, number or one-element tensor. true_fn, false_fn: callables of no arguments.

    Returns:
        The taken branch's result.

    Example:
        >>> ops.cond(ops.sum(x) > 0, lambda: x, lambda: -x)
    """
    return true_fn() if _truth(pred) else false_fn()


def fori_loop(lower, upper, body_fun, init_val):
    """``val = body_fun(i, val)`` for ``i`` in ``range(lower, upper)`` (eager; differentiable
    through the ops in ``body_fun``).

    Args:
        lower, upper: ints. body_fun: ``(i, val) -> val``. init_val: any structure.

    Returns:
        The final ``val``.

    Example:
        >>> ops.fori_loop(0, 3, lambda i, v: v * 2.0, ops.ones((2,)))   # 8, 8
    """
    val = init_val
    for i in range(int(lower), int(upper)):
        val = body_fun(i, val)
    return val


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """Keras ``ops.while_loop``: ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)``.

    Args:
        cond: ``(*loop_vars) -> bool-like``. body: ``(*loop_vars) -> loop_vars`` (same structure).
        loop_vars: a tuple/list of values, or one value. maximum_iterations: optional bound.

    Returns:
        The final loop variables, in the structure of ``loop_vars``.

    Example:
        >>> ops.while_loop(lambda i: i < 10, lambda i: i + 3, 0)   # 12
    """
    single = not isinstance(loop_vars, (tuple, list))
    vals = (loop_vars,) if single else tuple(loop_vars)
    n = 0
    while (maximum_iterations is None or n < int(maximum_iterations)) and _truth(cond(*vals)):
        out = body(*vals)
        vals = (out,) if single else tuple(out)
        n += 1
    if single:
        return vals[0]
    return list(vals) if isinstance(loop_vars, list) else vals


# ---------------------------------------------------------------------------- shared glue
def need_grad(*ts):
    """True when recording is on and some input requires grad (internal)."""
    if not _state.enabled:
        return False
    for t in ts:
        if t.requires_grad:
            return True
    return False


def scalar_array(v, like):
    """0-d float32 Array with value ``v`` on ``like``'s device (internal)."""
    return _C.full([], float(v), device=like.device)


def float_tensor(x, op):
    """``x`` as a float32 Tensor; integer tensors are cast (the float kernels' dtype)."""
    x = as_tensor(x)
    if x.dtype != "float32":
        return Tensor._wrap(_C.cast(x.data, "float32"))
    return x


def operand(x, like, op):
    """Float32 Tensor for an operand; Python/NumPy scalars become 0-d arrays on like's device."""
    if isinstance(x, Tensor):
        return x if x.dtype == "float32" else float_tensor(x, op)
    if isinstance(x, (numbers.Number, np.number)) and not isinstance(x, (complex, np.complexfloating)):
        return Tensor._wrap(scalar_array(x, like.data))
    return float_tensor(x, op)


def binary_operands(a, b, op):
    """Both operands of a binary op as float32 Tensors on one device (scalars follow the other)."""
    if isinstance(a, Tensor) or not isinstance(b, Tensor):
        if isinstance(a, (numbers.Number, np.number)) and not isinstance(b, (numbers.Number, np.number)):
            b = float_tensor(b, op)
            return operand(a, b, op), b
        a = float_tensor(a, op)
        return a, operand(b, a, op)
    b = float_tensor(b, op)
    return operand(a, b, op), b


def unbroadcast(g, shp):
    """Sum a broadcast gradient back down to ``shp`` (internal)."""
    if tuple(g.shape) == tuple(shp):
        return g
    return _C.sum_to_shape(g, list(shp))


def broadcast_array(a, shp):
    """Native copy of Array ``a`` broadcast to ``shp`` (internal)."""
    if tuple(a.shape) == tuple(shp):
        return a
    out = _C.zeros(list(shp), device=a.device)
    return _C.binary("add", out, a, out=out)


def broadcast_shapes(op, *shapes):
    """NumPy broadcast of shapes, or a ValueError naming ``op`` and the shapes."""
    try:
        return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        raise ValueError(f"{op}: shapes {', '.join(str(tuple(s)) for s in shapes)} are not "
                         f"broadcastable") from None


def norm_axes(axis, nd, op):
    """Sorted, de-duplicated non-negative axes (None = all) or a ValueError naming ``op``."""
    if axis is None:
        return list(range(nd))
    if isinstance(axis, numbers.Integral):
        axis = (axis,)
    out = []
    for ax in axis:
        ax = int(ax)
        if not -nd <= ax < max(nd, 1):
            raise ValueError(f"{op}: axis {ax} is out of range for a tensor of rank {nd}")
        out.append(ax % nd if nd else 0)
    return sorted(set(out))


def norm_axis(axis, nd, op):
    """One axis in ``[0, nd)`` or a ValueError naming ``op``."""
    axis = int(axis)
    if not -nd <= axis < nd:
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor of rank {nd}")
    return axis % nd


def keep_shape(shp, axes):
    """``shp`` with the reduced ``axes`` set to 1 (internal)."""
    return tuple(1 if i in axes else s for i, s in enumerate(shp))
