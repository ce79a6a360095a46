"""``fusednet.ops``: Keras 3's ``keras.ops`` on fusednet Tensors, native kernels underneath.

Every op takes Tensors, Arrays, NumPy arrays or Python scalars (converted like Keras: float64
becomes float32), returns a :class:`fusednet.Tensor` and is differentiable where Keras' op is:
each records a tape node whose backward is native kernels. Use them inside custom losses,
metrics and layer ``call()`` methods::

    import fusednet as keras
    from fusednet import ops

    def my_loss(y_true, y_pred):
        return ops.mean(ops.square(y_true - y_pred), axis=-1)

Modules, one per native family: :mod:`.core` (conversion, dtypes, ``cast``, ``stop_gradient``),
:mod:`.creation`, :mod:`.elementwise`, :mod:`.compare` (comparisons, logical, ``where``,
``clip``), :mod:`.reduce`, :mod:`.layout`, :mod:`.indexing`, :mod:`.gemm`, :mod:`.nn`, :mod:`.conv`,
:mod:`.sorting` (``sort``/``argsort``/``top_k``), :mod:`.cumulative` (``cumsum``/``cumprod``),
:mod:`.special` (``erf``/``erfinv``), :mod:`.einsum`, and :mod:`.kernels` (the raw GEMM calls on Arrays). See :mod:`.core` for the dtype policy.

``ops.matmul`` serves both levels: with a Tensor operand (or lists/scalars) it is the
differentiable Keras op; with two Arrays / NumPy arrays, or with any of the kernel keywords
(``trans_a``, ``trans_b``, ``bias``, ``activation``, ``out``, ``beta``), it is the fused
kernel call of :func:`fusednet.ops.kernels.matmul` returning an Array, as before.
"""
import numpy as np

from .. import _C
from ..tensor import Tensor
from . import compare, conv, core, creation, elementwise, gemm, indexing, kernels, layout, nn, reduce  # noqa: F401
from .compare import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .core import *  # noqa: F401,F403
from .creation import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .indexing import *  # noqa: F401,F403
from .layout import *  # noqa: F401,F403
from .nn import *  # noqa: F401,F403
from .reduce import *  # noqa: F401,F403
from . import cumulative, sorting, special  # noqa: E402
from .cumulative import *  # noqa: F401,F403
from .einsum import einsum  # noqa: F401
from .sorting import *  # noqa: F401,F403
from .special import *  # noqa: F401,F403

dot, linear, outer, dense_backward = gemm.dot, gemm.linear, gemm.outer, kernels.dense_backward

_KERNEL_KW = ("trans_a", "trans_b", "bias", "activation", "out", "beta")


def matmul(x1, x2, **kernel_kw):
    """Matrix product: the differentiable Keras op on Tensors, the fused kernel on Arrays.

    Args:
        x1, x2: operands. If either is a Tensor (or neither is an Array/ndarray) this is
            :func:`fusednet.ops.gemm.matmul` (NumPy shape rules, autograd). If both are Arrays
            or NumPy arrays, or kernel keywords are given, this is
            :func:`fusednet.ops.kernels.matmul` (2-D float32 only, no autograd).
        **kernel_kw: ``trans_a``, ``trans_b``, ``bias``, ``activation``, ``out``, ``beta`` of
            the kernel call (Arrays only).

    Returns:
        Tensor (Tensor path) or fusednet.Array (kernel path).

    Example:
        >>> ops.matmul(ops.ones((2, 3)), ops.ones((3, 4))).shape         # Tensor, differentiable
        (2, 4)
        >>> ops.matmul(np.ones((2, 3), np.float32), np.ones((3, 4), np.float32), activation="relu")
    """
    bad = [k for k in kernel_kw if k not in _KERNEL_KW]
    if bad:
        raise TypeError(f"matmul: unexpected keyword argument(s) {bad}; kernel keywords are {list(_KERNEL_KW)}")
    if isinstance(x1, Tensor) or isinstance(x2, Tensor):
        if kernel_kw:
            raise TypeError(f"matmul: kernel keywords {sorted(kernel_kw)} take Arrays or NumPy arrays, got a "
                            f"Tensor (shapes {shape(x1)} @ {shape(x2)}); on Tensors use ops.linear or "
                            f"ops.transpose")
        return gemm.matmul(x1, x2)
    arrays = (_C.Array, np.ndarray)
    if kernel_kw or (isinstance(x1, arrays) and isinstance(x2, arrays)):
        return kernels.matmul(x1, x2, **kernel_kw)
    return gemm.matmul(x1, x2)


__all__ = sorted(set(compare.__all__ + conv.__all__ + core.__all__ + creation.__all__ + elementwise.__all__
                     + indexing.__all__ + layout.__all__ + nn.__all__ + reduce.__all__ + sorting.__all__
                     + cumulative.__all__ + special.__all__ + ["einsum", "matmul", "dot", "linear", "outer", "dense_backward"]))
