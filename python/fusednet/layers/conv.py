"""Convolution layers (channels last): Conv2D, and the differentiable ``conv2d`` op it uses;
DepthwiseConv2D (its op is ``functional.depthwise_conv2d``).

Forward is one native call (``_C.conv2d_forward``: implicit GEMM with the bias + activation
epilogue fused for relu / sigmoid / tanh / linear); backward is one ``_C.conv2d_backward`` call
returning dX, dW and db (activation derivative taken through the saved output). DepthwiseConv2D
does the same with ``_C.depthwise_conv2d_forward`` / ``_C.depthwise_conv2d_backward``.
"""
import numpy as np

from .. import _C
from .. import activations as _acts
from .. import functional as F
from .. import initializers as _init
from .. import regularizers as _reg
from ..tensor import Function, Tensor, _state
from .base import Layer

__all__ = ["Conv2D", "Convolution2D", "DepthwiseConv2D", "conv2d"]


def _pair(v, what, owner):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v), int(v))
    try:
        v = tuple(int(a) for a in v)
    except TypeError:
        raise ValueError(f"{owner}: {what} must be an int or a tuple of 2 ints, got {v!r}") from None
    if len(v) != 2:
        raise ValueError(f"{owner}: {what} must be an int or a tuple of 2 ints, got {v!r}")
    if any(a <= 0 for a in v):
        raise ValueError(f"{owner}: {what} must be positive, got {v}")
    return v


def _padding(p, owner):
    if not isinstance(p, str) or p.lower() not in ("valid", "same"):
        raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {p!r}")
    return p.lower()


def _out_len(n, k, s, d, padding):
    """Keras output length along one axis (None stays None)."""
    if n is None:
        return None
    if padding == "same":
        return -(-n // s)
    eff = (k - 1) * d + 1
    return (n - eff) // s + 1 if n >= eff else 0


class _Conv2DFn(Function):
    __slots__ = ("x", "w", "y", "act", "cfg")

    def backward(self, g):
        has_b = len(self.inputs) == 3
        s, p, d = self.cfg
        dx, dw, db = _C.conv2d_backward(g, self.x, self.w, self.y if self.act != "none" else None, self.act,
                                        s, p, d, self.inputs[0].requires_grad, has_b)
        return (dx, dw, db) if has_b else (dx, dw)


def conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1), activation=None):
    """Differentiable 2-D convolution, NHWC.

    Args:
        x: [N, H, W, Cin] input.
        kernel: [kh, kw, Cin, Cout] (Keras layout).
        bias: optional [Cout].
        strides, dilation_rate: int or pair.
        padding: 'valid' or 'same' (TF/Keras rule: extra padding goes bottom/right).
        activation: name or None; relu / sigmoid / tanh / linear are fused into the kernel.

    Returns:
        Tensor [N, Ho, Wo, Cout].
    """
    x, w = F.as_tensor(x), F.as_tensor(kernel)
    b = F.as_tensor(bias) if bias is not None else None
    s = _pair(strides, "strides", "conv2d")
    d = _pair(dilation_rate, "dilation_rate", "conv2d")
    p = _padding(padding, "conv2d")
    kind, fused = _acts.resolve(activation)
    ep = fused if fused is not None else "none"
    y = _C.conv2d_forward(x.data, w.data, b.data if b is not None else None, s, p, d, ep)
    inputs = (x, w, b) if b is not None else (x, w)
    if _state.enabled and any(t.requires_grad for t in inputs):
        fn = _Conv2DFn()
        fn.x, fn.w, fn.y, fn.act, fn.cfg = x.data, w.data, y, ep, (s, p, d)
        out = Tensor._from_op(y, fn, inputs)
    else:
        out = Tensor._wrap(y)
    if fused is None and kind != "linear":
        out = F.activation_fn(out, kind)
    return out


class _Conv2DBase(Layer):
    """What Conv2D and DepthwiseConv2D share: geometry arguments, input checks and the compiled
    step (one native forward, one native backward; only the ops and the kernel regularizer's
    attribute name differ)."""

    _label = "Conv2D"                  # the layer kind named in error messages
    _fwd_op = "conv2d_forward"
    _bwd_op = "conv2d_backward"
    _kreg_attr = "kernel_regularizer"

    def _init_geometry(self, owner, kernel_size, strides, dilation_rate, padding, activation, use_bias):
        self.kernel_size = _pair(kernel_size, "kernel_size", owner)
        self.strides = _pair(strides, "strides", owner)
        self.dilation_rate = _pair(dilation_rate, "dilation_rate", owner)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{owner}: strides > 1 not supported in conjunction with dilation_rate > 1. "
                             f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.padding = _padding(padding, owner)
        self.activation = _acts.serialize(activation)
        self._kind, self._ep = _acts.resolve(activation)
        self.use_bias = bool(use_bias)

    def _check_input(self, shape):
        if len(shape) != 4:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected ndim=4, "
                             f"found ndim={len(shape)}. Full shape received: {tuple(shape)}")
        if self.kernel is not None and shape[-1] != self.kernel.shape[2]:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected axis -1 "
                             f"of input shape to have value {self.kernel.shape[2]}, but received input with "
                             f"shape {tuple(shape)}")
        oh, ow = self.compute_output_shape(shape)[1:3]
        if oh == 0 or ow == 0:
            raise ValueError(f"{self._label} '{self.name}': kernel {self.kernel_size} (dilation "
                             f"{self.dilation_rate}) is larger than the input {tuple(shape)} with padding='valid'")

    # ---------------------------------------------------------------- protocol
    def forward(self, ctx, x, training, strip=False):
        b = self.bias.data if self.bias is not None else None
        args = (self.strides, self.padding, self.dilation_rate)
        fwd = getattr(_C, self._fwd_op)
        ctx.x = x
        if self._ep is not None:
            y = fwd(x, self.kernel.data, b, *args, self._ep)
            ctx.z = None
        else:
            z = fwd(x, self.kernel.data, b, *args, "none")
            y = _acts.array_forward(z, self._kind)
            ctx.z = z
        ctx.y = y
        return y

    def backward(self, ctx, dy, need_dx):
        """``ctx.relu_done`` (set by the Conv(relu)->MaxPool fusion): dy already holds relu'."""
        if ctx.z is None:
            ep, Y = self._ep, ctx.y
            if getattr(ctx, "relu_done", False):
                ep, Y = "none", None
        else:
            dy = _acts.array_backward(dy, ctx.z, ctx.y, self._kind)
            ep, Y = "none", None
        dx, dw, db = getattr(_C, self._bwd_op)(dy, ctx.x, self.kernel.data, Y if ep != "none" else None, ep,
                                               self.strides, self.padding, self.dilation_rate, need_dx,
                                               self.bias is not None)
        return dx, self._kernel_grads(dw, db, getattr(self, self._kreg_attr))


class Conv2D(_Conv2DBase):
    """2-D convolution layer (Keras ``Conv2D``), channels last.

    ``activation(conv2d(inputs, kernel) + bias)``; relu / sigmoid / tanh / linear run fused in
    the convolution kernel's GEMM epilogue, and the backward is one native call.

    Args:
        filters: number of output channels.
        kernel_size: int or (kh, kw).
        strides: int or pair (default 1). Strides > 1 with dilation_rate > 1 is an error (Keras).
        padding: 'valid' (default) or 'same'.
        data_format: only 'channels_last' (None) is supported.
        dilation_rate: int or pair (default 1).
        groups: only 1 is supported.
        activation: name or None.
        use_bias: default True.
        kernel_initializer: default 'glorot_uniform'; bias_initializer: default 'zeros'.
        kernel_regularizer, bias_regularizer: optional.

    Shape:
        [batch, H, W, Cin] → [batch, Ho, Wo, filters]; the kernel is [kh, kw, Cin, filters].

    Example:
        >>> layer = Conv2D(32, 3, activation="relu")
        >>> y = layer(np.zeros((8, 28, 28, 1), np.float32))   # [8, 26, 26, 32]
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"Conv2D '{self.name}'"
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"{owner}: filters must be a positive integer, got {filters!r}")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, got {data_format!r}")
        if groups != 1:
            raise ValueError(f"{owner}: only groups=1 is supported, got {groups!r}")
        if activity_regularizer is not None or kernel_constraint is not None or bias_constraint is not None:
            raise ValueError(f"{owner}: activity_regularizer and constraints are not supported")
        self.filters = int(filters)
        self._init_geometry(owner, kernel_size, strides, dilation_rate, padding, activation, use_bias)
        self.kernel_initializer = _init.get(kernel_initializer)
        self.bias_initializer = _init.get(bias_initializer)
        self.kernel_regularizer = _reg.get(kernel_regularizer)
        self.bias_regularizer = _reg.get(bias_regularizer)
        self.kernel = None
        self.bias = None

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"Conv2D '{self.name}': expected a 4-D input (batch, H, W, channels) with a "
                             f"defined channel axis, got input shape {tuple(input_shape)}")
        cin = int(input_shape[-1])
        self.kernel = self.add_weight(self.kernel_size + (cin, self.filters), self.kernel_initializer,
                                      self.kernel_regularizer, name="kernel")
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, self.bias_regularizer, name="bias")
        self.built = True

    def compute_output_shape(self, input_shape):
        n, h, w = input_shape[0], input_shape[1], input_shape[2]
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.strides, self.dilation_rate
        return (n, _out_len(h, kh, sh, dh, self.padding), _out_len(w, kw, sw, dw, self.padding), self.filters)

    # Conv2D(activation='relu') -> MaxPooling2D as one step of the compiled plan (trainers/fusion.py):
    # one native call each way, so the conv's [N,Ho,Wo,C] output is never written out (see
    # csrc/cpu/conv.h, conv2d_maxpool_forward). Same values as the two layers' steps (tested bitwise).
    def forward_pooled(self, ctx, x, pool):
        b = self.bias.data if self.bias is not None else None
        y, idx = _C.conv2d_maxpool_forward(x, self.kernel.data, b, self.strides, self.padding, self.dilation_rate,
                                           self._ep, *pool._cfg())
        ctx.x, ctx.pool_idx, ctx.pool_y = x, idx, y
        return y

    def backward_pooled(self, ctx, dp, pool, need_dx):
        relu_y = ctx.pool_y if self._ep == "relu" else None
        dx, dw, db = _C.conv2d_maxpool_backward(dp, ctx.pool_idx, ctx.x, self.kernel.data, relu_y,
                                                self.strides, self.padding, self.dilation_rate, *pool._cfg(),
                                                need_dx, self.bias is not None)
        return dx, self._kernel_grads(dw, db, getattr(self, self._kreg_attr))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": "channels_last",
                "dilation_rate": self.dilation_rate, "groups": 1, "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": _init.serialize(self.kernel_initializer),
                "bias_initializer": _init.serialize(self.bias_initializer),
                "kernel_regularizer": _reg.serialize(self.kernel_regularizer) if self.kernel_regularizer else None,
                "bias_regularizer": _reg.serialize(self.bias_regularizer) if self.bias_regularizer else None}


Convolution2D = Conv2D


class DepthwiseConv2D(_Conv2DBase):
    """2-D depthwise convolution layer (Keras ``DepthwiseConv2D``), channels last.

    Each input channel is convolved with its own ``depth_multiplier`` filters (no mixing across
    channels): output channel ``c * depth_multiplier + m`` is
    ``activation(conv(inputs[..., c], kernel[:, :, c, m]) + bias[c * depth_multiplier + m])``.
    relu / sigmoid / tanh / linear run fused in the native kernel's epilogue, and the backward is
    one native call.

    Args:
        kernel_size: int or (kh, kw).
        strides: int or pair (default 1). Strides > 1 with dilation_rate > 1 is an error (Keras).
        padding: 'valid' (default) or 'same'.
        depth_multiplier: output channels per input channel (default 1).
        data_format: only 'channels_last' (None) is supported.
        dilation_rate: int or pair (default 1).
        activation: name or None.
        use_bias: default True.
        depthwise_initializer: default 'glorot_uniform' (Keras fans of the 4-D kernel shape:
            fan_in = kh·kw·C, fan_out = kh·kw·depth_multiplier); bias_initializer: default 'zeros'.
        depthwise_regularizer, bias_regularizer: optional.

    Shape:
        [batch, H, W, C] → [batch, Ho, Wo, C * depth_multiplier]; the kernel is
        [kh, kw, C, depth_multiplier], the bias [C * depth_multiplier].

    Example:
        >>> layer = DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu")
        >>> y = layer(np.zeros((8, 28, 28, 16), np.float32))   # [8, 28, 28, 32]
    """

    _label = "DepthwiseConv2D"
    _fwd_op = "depthwise_conv2d_forward"
    _bwd_op = "depthwise_conv2d_backward"
    _kreg_attr = "depthwise_regularizer"

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"DepthwiseConv2D '{self.name}'"
        if isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, (int, np.integer)) \
                or depth_multiplier <= 0:
            raise ValueError(f"{owner}: depth_multiplier must be a positive integer, got {depth_multiplier!r}")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, got {data_format!r}")
        if activity_regularizer is not None or depthwise_constraint is not None or bias_constraint is not None:
            raise ValueError(f"{owner}: activity_regularizer and constraints are not supported")
        self.depth_multiplier = int(depth_multiplier)
        self._init_geometry(owner, kernel_size, strides, dilation_rate, padding, activation, use_bias)
        self.depthwise_initializer = _init.get(depthwise_initializer)
        self.bias_initializer = _init.get(bias_initializer)
        self.depthwise_regularizer = _reg.get(depthwise_regularizer)
        self.bias_regularizer = _reg.get(bias_regularizer)
        self.kernel = None
        self.bias = None

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"DepthwiseConv2D '{self.name}': expected a 4-D input (batch, H, W, channels) with "
                             f"a defined channel axis, got input shape {tuple(input_shape)}")
        cin = int(input_shape[-1])
        # Keras 3 names the depthwise weight 'kernel' and initialises it from its 4-D shape
        self.kernel = self.add_weight(self.kernel_size + (cin, self.depth_multiplier), self.depthwise_initializer,
                                      self.depthwise_regularizer, name="kernel")
        if self.use_bias:
            self.bias = self.add_weight((cin * self.depth_multiplier,), self.bias_initializer,
                                        self.bias_regularizer, name="bias")
        self.built = True

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape[0], input_shape[1], input_shape[2], input_shape[3]
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.strides, self.dilation_rate
        return (n, _out_len(h, kh, sh, dh, self.padding), _out_len(w, kw, sw, dw, self.padding),
                None if c is None else c * self.depth_multiplier)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "depth_multiplier": self.depth_multiplier,
                "data_format": "channels_last", "dilation_rate": self.dilation_rate,
                "activation": self.activation, "use_bias": self.use_bias,
                "depthwise_initializer": _init.serialize(self.depthwise_initializer),
                "bias_initializer": _init.serialize(self.bias_initializer),
                "depthwise_regularizer": (_reg.serialize(self.depthwise_regularizer)
                                          if self.depthwise_regularizer else None),
                "bias_regularizer": _reg.serialize(self.bias_regularizer) if self.bias_regularizer else None}
