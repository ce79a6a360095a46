"""Differentiable convolutions on Tensors (csrc family: depthwise).

``depthwise_conv2d`` is one native kernel forward (bias + activation epilogue) and one fused
native backward. The dense Conv2D layer runs its own protocol forward/backward (layers/conv.py).
"""
from .. import _C
from .. import activations as _acts
from ..tensor import Function, Tensor
from .core import float_tensor, need_grad
from .nn import activation as _activation

__all__ = ["depthwise_conv2d"]


# ---------------------------------------------------------------------------- depthwise conv
class _DepthwiseConv2D(Function):
    """Y = act(depthwise(X, W) + b) in one kernel; backward = one depthwise_conv2d_backward call."""

    __slots__ = ("x", "w", "y", "act", "cfg")

    def backward(self, g):
        has_b = len(self.inputs) == 3
        s, p, d = self.cfg
        dx, dw, db = _C.depthwise_conv2d_backward(g, self.x, self.w, self.y if self.act != "none" else None,
                                                  self.act, s, p, d, self.inputs[0].requires_grad, has_b)
        return (dx, dw, db) if has_b else (dx, dw)


def depthwise_conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                     activation=None):
    """Differentiable depthwise 2-D convolution, NHWC (Keras ``DepthwiseConv2D`` maths).

    Each input channel c is convolved with its own ``depth_multiplier`` filters; output channel
    ``c * depth_multiplier + m`` uses ``kernel[:, :, c, m]``.

    Args:
        x: [N, H, W, C] input.
        kernel: [kh, kw, C, depth_multiplier] (Keras layout).
        bias: optional [C * depth_multiplier].
        strides, dilation_rate: int or pair.
        padding: 'valid' or 'same' (TF/Keras rule, as conv2d).
        activation: name or None; relu / sigmoid / tanh / linear are fused into the kernel.

    Shape:
        Output [N, Ho, Wo, C * depth_multiplier].

    Example:
        >>> y = depthwise_conv2d(np.ones((1, 5, 5, 3), np.float32), np.ones((3, 3, 3, 2), np.float32))
        >>> y.shape   # (1, 3, 3, 6)
    """
    x, w = float_tensor(x, "depthwise_conv2d"), float_tensor(kernel, "depthwise_conv2d")
    b = float_tensor(bias, "depthwise_conv2d") if bias is not None else None
    kind, fused = _acts.resolve(activation)
    ep = fused if fused is not None else "none"
    cfg = (strides, padding, dilation_rate)
    y = _C.depthwise_conv2d_forward(x.data, w.data, b.data if b is not None else None, *cfg, ep)
    inputs = (x, w, b) if b is not None else (x, w)
    if need_grad(*inputs):
        fn = _DepthwiseConv2D()
        fn.x, fn.w, fn.y, fn.act, fn.cfg = x.data, w.data, y, ep, cfg
        out = Tensor._from_op(y, fn, inputs)
    else:
        out = Tensor._wrap(y)
    if fused is None and kind != "linear":
        out = _activation(out, kind)
    return out
