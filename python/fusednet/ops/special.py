"""Special functions (csrc family: special): ``erf`` and ``erfinv``, differentiable.

Native elementwise kernels computed in double and rounded once (``_C.special``); gradients
``2/√π·exp(-x²)`` and ``√π/2·exp(erfinv(x)²)`` are native too (``_C.special_backward``).
``erfinv`` follows NumPy/SciPy/torch at the edges: ±1 -> ±inf, ``|x| > 1`` -> NaN.
"""
from .. import _C
from ..tensor import Function, Tensor
from .core import float_tensor, need_grad

__all__ = ["erf", "erfinv"]


class _Special(Function):
    __slots__ = ("name", "saved")

    def backward(self, g):
        return (_C.special_backward(self.name, g, self.saved),)


def _special(name, x):
    t = float_tensor(x, name)
    y = _C.special(name, t.data)
    if not need_grad(t):
        return Tensor._wrap(y)
    fn = _Special()
    fn.name, fn.saved = name, (t.data if name == "erf" else y)
    return Tensor._from_op(y, fn, (t,))


def erf(x):
    """Elementwise Gauss error function ``erf(x)``.

    Args:
        x: tensor-like (integer tensors are cast to float32).

    Returns:
        float32 Tensor of x's shape; differentiable.

    Example:
        >>> ops.erf(ops.zeros((2,))).numpy()
        array([0., 0.], dtype=float32)
    """
    return _special("erf", x)


def erfinv(x):
    """Elementwise inverse error function (``erf(erfinv(x)) == x`` on ``[-1, 1]``).

    Args:
        x: tensor-like with values in ``[-1, 1]`` (±1 give ±inf, outside give NaN).

    Returns:
        float32 Tensor of x's shape; differentiable.

    Example:
        >>> ops.erfinv(ops.zeros((2,))).numpy()
        array([0., 0.], dtype=float32)
    """
    return _special("erfinv", x)
