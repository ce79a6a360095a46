"""Direct access to fusednet's native kernels on Arrays or NumPy arrays (no autograd).

Inputs may be :class:`fusednet.Array` or NumPy arrays; NumPy inputs must already be C-contiguous
with a supported dtype (they are wrapped without copying). Anything else is rejected with a
TypeError/ValueError naming the op rather than silently converted: use ``fusednet.asarray``
to convert explicitly.
"""
import numpy as np

from . import _C

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
