"""Differentiable operations on :class:`fusednet.Tensor` (the pre-``fusednet.ops`` spelling).

Kept as a thin re-export so ``fusednet.functional.X`` and the layers that import it keep working;
the implementations live in :mod:`fusednet.ops` (one module per native family). New code should
use ``fusednet.ops``. Names that differ from Keras' are kept here with their old meaning:
``sub``/``mul``/``div``/``neg``/``pow`` (``ops.subtract``/``multiply``/``divide``/``negative``/
``power``), ``transpose(a, perm)``, ``gelu(x, approximate=False)`` (the erf form, as before;
``ops.gelu`` defaults to Keras 3's ``approximate=True``) and ``activation_fn``.
"""
from .ops import nn as _nn
from .ops.conv import depthwise_conv2d  # noqa: F401
from .ops.core import as_tensor, to_device  # noqa: F401
from .ops.elementwise import abs, add, exp, log, sqrt, square  # noqa: F401,A004
from .ops.elementwise import divide as div  # noqa: F401
from .ops.elementwise import multiply as mul  # noqa: F401
from .ops.elementwise import negative as neg  # noqa: F401
from .ops.elementwise import power as pow  # noqa: F401,A004
from .ops.elementwise import subtract as sub  # noqa: F401
from .ops.gemm import linear, matmul  # noqa: F401
from .ops.indexing import getitem  # noqa: F401
from .ops.layout import flatten, reshape, transpose  # noqa: F401
from .ops.nn import (activation, activation_fn, dropout, elu, leaky_relu, log_softmax, relu,  # noqa: F401
                     sigmoid, softmax, tanh)
from .ops.reduce import mean, sum  # noqa: F401,A004

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "matmul", "sum", "mean", "reshape", "flatten",
    "transpose", "getitem", "exp", "log", "sqrt", "square", "abs", "to_device", "linear",
    "activation", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softmax",
    "log_softmax", "dropout", "depthwise_conv2d", "as_tensor", "activation_fn",
]


def gelu(x, approximate=False):
    """Gaussian error linear unit; exact erf form by default (``approximate=True``: tanh form).

    Args:
        x: tensor-like. approximate: use the tanh approximation.

    Returns:
        float32 Tensor of x's shape.

    Example:
        >>> fusednet.functional.gelu(fusednet.ops.zeros((2,)))
    """
    return _nn.gelu(x, approximate)
