"""Tensor constructors: ``zeros``, ``ones``, ``full`` and their ``*_like``, ``arange``, ``eye``.

Constant fills are the native ``_C.full`` / ``_C.zeros``; ``eye`` is a native ``one_hot`` of a
range. ``arange`` / ``linspace`` build their short index ramp on the host (a constant, like a
NumPy literal given to ``convert_to_tensor``) and copy it once.
"""
import numbers

import numpy as np

from .. import _C
from ..tensor import Tensor
from .core import as_tensor, standardize_dtype

__all__ = ["zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "arange", "linspace", "eye",
           "identity"]


def _shape(shape, op):
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"{op}: negative dimension in shape {shape}")
    return shape


def full(shape, fill_value, dtype=None, device="cpu"):
    """A tensor of ``shape`` filled with ``fill_value``.

    Args:
        shape: int or tuple. fill_value: number. dtype: default float32 (int dtypes allowed).
        device: 'cpu' or 'cuda[:N]'.

    Returns:
        Tensor.

    Example:
        >>> ops.full((2, 2), 7.0).numpy()[0]
        array([7., 7.], dtype=float32)
    """
    dt = standardize_dtype(dtype) or "float32"
    return Tensor._wrap(_C.full(list(_shape(shape, "full")), float(fill_value), dtype=dt, device=device))


def zeros(shape, dtype=None, device="cpu"):
    """A tensor of zeros.

    Args:
        shape: int or tuple. dtype: default float32. device: 'cpu' or 'cuda[:N]'.

    Returns:
        Tensor.

    Example:
        >>> ops.zeros((2, 3)).shape
        (2, 3)
    """
    dt = standardize_dtype(dtype) or "float32"
    return Tensor._wrap(_C.zeros(list(_shape(shape, "zeros")), dtype=dt, device=device))


def ones(shape, dtype=None, device="cpu"):
    """A tensor of ones.

    Args:
        shape: int or tuple. dtype: default float32. device: 'cpu' or 'cuda[:N]'.

    Returns:
        Tensor.

    Example:
        >>> ops.ones(3).numpy()
        array([1., 1., 1.], dtype=float32)
    """
    return full(shape, 1.0, dtype, device)


def full_like(x, fill_value, dtype=None):
    """A tensor with ``x``'s shape (and dtype, device unless given) filled with ``fill_value``.

    Args:
        x: tensor-like. fill_value: number. dtype: optional override.

    Returns:
        Tensor.

    Example:
        >>> ops.full_like(ops.zeros((2,)), 3.0).numpy()
        array([3., 3.], dtype=float32)
    """
    x = as_tensor(x)
    return full(x.shape, fill_value, dtype or x.dtype, x.device)


def zeros_like(x, dtype=None):
    """Zeros with ``x``'s shape, dtype and device.

    Args:
        x: tensor-like. dtype: optional override.

    Returns:
        Tensor.

    Example:
        >>> ops.zeros_like(ops.ones((2, 3))).shape
        (2, 3)
    """
    return full_like(x, 0.0, dtype)


def ones_like(x, dtype=None):
    """Ones with ``x``'s shape, dtype and device.

    Args:
        x: tensor-like. dtype: optional override.

    Returns:
        Tensor.

    Example:
        >>> ops.ones_like(ops.zeros((2,))).numpy()
        array([1., 1.], dtype=float32)
    """
    return full_like(x, 1.0, dtype)


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values in ``[start, stop)`` (NumPy rules: ``arange(n)`` is ``0..n-1``).

    Args:
        start, stop, step: numbers (``stop`` None means ``arange(0, start)``).
        dtype: default int64 when all arguments are ints, else float32.

    Returns:
        1-D Tensor.

    Example:
        >>> ops.arange(4).numpy()
        array([0, 1, 2, 3])
    """
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ValueError("arange: step must not be 0")
    ints = all(isinstance(v, numbers.Integral) for v in (start, stop, step))
    dt = standardize_dtype(dtype) or ("int64" if ints else "float32")
    ramp = np.arange(start, stop, step, dtype=np.float64 if dt == "float32" else np.int64)
    return Tensor._wrap(_C.asarray(np.ascontiguousarray(ramp), dtype=dt))


def linspace(start, stop, num=50, endpoint=True, dtype=None):
    """``num`` evenly spaced float32 values from ``start`` to ``stop``.

    Args:
        start, stop: numbers. num: count >= 0. endpoint: include ``stop``. dtype: default float32.

    Returns:
        1-D Tensor.

    Example:
        >>> ops.linspace(0.0, 1.0, 5).numpy()
        array([0.  , 0.25, 0.5 , 0.75, 1.  ], dtype=float32)
    """
    if int(num) < 0:
        raise ValueError(f"linspace: num must be >= 0, got {num}")
    dt = standardize_dtype(dtype) or "float32"
    ramp = np.linspace(float(start), float(stop), int(num), endpoint=bool(endpoint))
    return Tensor._wrap(_C.asarray(np.ascontiguousarray(ramp), dtype=dt))


def eye(N, M=None, k=0, dtype=None):
    """A 2-D tensor with ones on the ``k``-th diagonal and zeros elsewhere.

    Args:
        N: rows. M: columns (default N). k: diagonal offset. dtype: default float32.

    Returns:
        Tensor of shape ``(N, M)``.

    Example:
        >>> ops.eye(3).numpy()[1]
        array([0., 1., 0.], dtype=float32)
    """
    N = int(N)
    M = N if M is None else int(M)
    if N < 0 or M < 0:
        raise ValueError(f"eye: N and M must be >= 0, got N={N}, M={M}")
    k = int(k)
    dt = standardize_dtype(dtype) or "float32"
    # one_hot of (row + k): a class index outside [0, M) gives an all-zero row, exactly eye's rule
    cols = arange(k, k + N).data
    if M == 0:
        out = _C.zeros([N, 0])
    else:
        valid = (cols.numpy() >= 0) & (cols.numpy() < M)
        safe = _C.asarray(np.where(valid, cols.numpy(), 0).astype(np.int64))
        out = _C.binary("mul", _C.one_hot(safe, M), _C.asarray(valid.astype(np.float32).reshape(N, 1)))
    return Tensor._wrap(out if dt == "float32" else _C.cast(out, dt))


def identity(n, dtype=None):
    """The ``n`` x ``n`` identity matrix.

    Args:
        n: size. dtype: default float32.

    Returns:
        Tensor.

    Example:
        >>> ops.identity(2).numpy()
        array([[1., 0.],
               [0., 1.]], dtype=float32)
    """
    return eye(n, dtype=dtype)
