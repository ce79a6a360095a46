"""Kernel-level GEMM calls on Arrays or NumPy arrays (no autograd): ``ops.matmul`` with kernel
keywords or non-Tensor operands, and ``ops.dense_backward``.

Inputs may be :class:`fusednet.Array` or NumPy arrays; NumPy inputs must already be C-contiguous
with a supported dtype (they are wrapped without copying). Anything else is rejected with a
TypeError/ValueError naming the op rather than silently converted: use ``fusednet.asarray``
to convert explicitly.
"""
import numpy as np

from .. import _C

_OK_DTYPES = (np.float32, np.int32, np.int64)


def _arr(x, op, name, dtype="float32"):
    if isinstance(x, _C.Array):
        arr = x
    elif isinstance(x, np.ndarray):
        if x.dtype.type not in _OK_DTYPES:
            raise TypeError(f"{op}: {name} has dtype {x.dtype}, shape {x.shape}; expected {dtype} "
                            f"(convert explicitly, e.g. fusednet.asarray(x) or x.astype(np.float32))")
        if not x.flags.c_contiguous:
            raise ValueError(f"{op}: {name} with shape {x.shape} is not C-contiguous; "
                             f"use np.ascontiguousarray or fusednet.asarray to copy it")
        arr = _C.asarray(x)
    else:
        raise TypeError(f"{op}: {name} must be a fusednet.Array or numpy.ndarray, got {type(x).__name__}")
    if dtype is not None and arr.dtype != dtype:
        raise TypeError(f"{op}: {name} has dtype {arr.dtype}, shape {arr.shape}; expected {dtype}")
    return arr


_ACTS = ("none", "linear", "relu", "sigmoid", "tanh")


def _act_name(op, activation):
    if activation is None:
        return "none"
    if not isinstance(activation, str):
        raise TypeError(f"{op}: activation must be a string or None, got {type(activation).__name__}")
    return activation


__all__ = ["matmul", "dense_backward"]


def matmul(a, b, *, trans_a=False, trans_b=False, bias=None, activation=None, out=None, beta=0.0):
    """Fused dense forward: ``act(beta*out + op(a) @ op(b) + bias)`` on the native SGEMM.

    Args:
        a: 2-D float32, ``[M, K]`` (or ``[K, M]`` with ``trans_a``).
        b: 2-D float32, ``[K, N]`` (or ``[N, K]`` with ``trans_b``).
        trans_a, trans_b: use the transpose of the stored operand (no copy is made; the
            transpose is absorbed by the kernel's packing).
        bias: optional float32 ``[N]`` added to every row.
        activation: None/'none', 'relu', 'sigmoid' or 'tanh', applied after bias.
        out: optional float32 ``[M, N]`` written in place and returned; must not overlap
            ``a``, ``b`` or ``bias``.
        beta: scale of the existing ``out`` added to the product (needs ``out``).

    Returns:
        fusednet.Array ``[M, N]`` (``out`` itself when given).

    Results do not depend on the number of threads (K is never split across threads).

    Example:
        >>> c = ops.kernels.matmul(np.ones((2, 3), np.float32), np.ones((3, 4), np.float32), activation="relu")
    """
    op = "matmul"
    a = _arr(a, op, "a")
    b = _arr(b, op, "b")
    bias = None if bias is None else _arr(bias, op, "bias")
    out = None if out is None else _arr(out, op, "out")
    return _C.matmul(a, b, trans_a=bool(trans_a), trans_b=bool(trans_b), bias=bias,
                     activation=_act_name(op, activation), out=out, beta=float(beta))


def dense_backward(dY, X, W, Y=None, activation=None, *, need_dX=True, has_bias=True):
    """Backward of ``Y = act(X @ W + b)`` in one native call.

    Args:
        dY: float32 ``[M, N]`` gradient of the loss w.r.t. the layer output.
        X: float32 ``[M, K]`` layer input; W: float32 ``[K, N]`` kernel (Keras layout).
        Y: the saved forward output ``[M, N]``; required unless activation is None/'none'
            (the derivative is taken through it: relu Y>0, sigmoid Y(1-Y), tanh 1-Y²).
        activation: None/'none', 'relu', 'sigmoid' or 'tanh'.
        need_dX: compute ``dX = dZ @ Wᵀ`` (False for a first layer saves a GEMM).
        has_bias: compute ``db = Σ_rows dZ``.

    Returns:
        ``(dX or None, dW, db or None)`` as fusednet.Arrays.

    Example:
        >>> dX, dW, db = ops.dense_backward(dY, X, W, Y, "relu")
    """
    op = "dense_backward"
    dY = _arr(dY, op, "dY")
    X = _arr(X, op, "X")
    W = _arr(W, op, "W")
    Y = None if Y is None else _arr(Y, op, "Y")
    return _C.dense_backward(dY, X, W, Y, _act_name(op, activation), need_dX=bool(need_dX),
                             has_bias=bool(has_bias))
