"""SeparableConv2D (Keras ``SeparableConv2D``), channels last: a depthwise convolution
(``_C.depthwise_conv2d_forward``, no bias) followed by a 1x1 pointwise convolution
(``_C.conv2d_forward`` with the bias + activation epilogue). Backward: the pointwise conv's
native backward (dZ, d pointwise, d bias), then the depthwise one (dX, d depthwise).
"""
import numpy as np

from .. import _C
from .. import activations as _acts
from .. import initializers as _init
from .. import regularizers as _reg
from .base import Layer
from .conv import _out_len, _pair, _padding

__all__ = ["SeparableConv2D", "SeparableConvolution2D"]


class SeparableConv2D(Layer):
    """Depthwise-separable 2-D convolution (Keras ``SeparableConv2D``), channels last.

    ``activation(pointwise(depthwise(inputs)) + bias)``.

    Args:
        filters: number of output channels.
        kernel_size: int or (kh, kw) of the depthwise step.
        strides: int or pair (default 1). Strides > 1 with dilation_rate > 1 is an error (Keras).
        padding: 'valid' (default) or 'same'.
        data_format: only 'channels_last' (None) is supported.
        dilation_rate: int or pair (default 1).
        depth_multiplier: depthwise output channels per input channel (default 1).
        activation: name or None.
        use_bias: default True.
        depthwise_initializer, pointwise_initializer: default 'glorot_uniform' (Keras fans of
            the 4-D kernel shapes); bias_initializer: default 'zeros'.
        depthwise_regularizer, pointwise_regularizer, bias_regularizer: optional.

    Shape:
        [batch, H, W, Cin] → [batch, Ho, Wo, filters]; weights ``depthwise_kernel``
        [kh, kw, Cin, depth_multiplier], ``pointwise_kernel`` [1, 1, Cin·depth_multiplier,
        filters], ``bias`` [filters] (Keras names and order).

    Example:
        >>> layer = SeparableConv2D(32, 3, padding="same", activation="relu")
        >>> y = layer(np.zeros((8, 28, 28, 16), np.float32))   # [8, 28, 28, 32]
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"SeparableConv2D '{self.name}'"
        for what, v in (("filters", filters), ("depth_multiplier", depth_multiplier)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{owner}: {what} must be a positive integer, got {v!r}")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, got {data_format!r}")
        if activity_regularizer is not None or any(c is not None for c in (depthwise_constraint,
                                                                           pointwise_constraint, bias_constraint)):
            raise ValueError(f"{owner}: activity_regularizer and constraints are not supported")
        self.filters = int(filters)
        self.depth_multiplier = int(depth_multiplier)
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
        self.depthwise_initializer = _init.get(depthwise_initializer)
        self.pointwise_initializer = _init.get(pointwise_initializer)
        self.bias_initializer = _init.get(bias_initializer)
        self.depthwise_regularizer = _reg.get(depthwise_regularizer)
        self.pointwise_regularizer = _reg.get(pointwise_regularizer)
        self.bias_regularizer = _reg.get(bias_regularizer)
        self.depthwise_kernel = self.pointwise_kernel = self.bias = None

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"SeparableConv2D '{self.name}': expected a 4-D input (batch, H, W, channels) with a "
                             f"defined channel axis, got input shape {tuple(input_shape)}")
        cin = int(input_shape[-1])
        self.depthwise_kernel = self.add_weight(self.kernel_size + (cin, self.depth_multiplier),
                                                self.depthwise_initializer, self.depthwise_regularizer,
                                                name="depthwise_kernel")
        self.pointwise_kernel = self.add_weight((1, 1, cin * self.depth_multiplier, self.filters),
                                                self.pointwise_initializer, self.pointwise_regularizer,
                                                name="pointwise_kernel")
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, self.bias_regularizer, name="bias")
        self.built = True

    def compute_output_shape(self, input_shape):
        n, h, w = input_shape[0], input_shape[1], input_shape[2]
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.strides, self.dilation_rate
        return (n, _out_len(h, kh, sh, dh, self.padding), _out_len(w, kw, sw, dw, self.padding), self.filters)

    def _check_input(self, shape):
        if len(shape) != 4:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected ndim=4, "
                             f"found ndim={len(shape)}. Full shape received: {tuple(shape)}")
        if self.depthwise_kernel is not None and shape[-1] != self.depthwise_kernel.shape[2]:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected axis -1 "
                             f"of input shape to have value {self.depthwise_kernel.shape[2]}, but received "
                             f"input with shape {tuple(shape)}")
        oh, ow = self.compute_output_shape(shape)[1:3]
        if oh == 0 or ow == 0:
            raise ValueError(f"SeparableConv2D '{self.name}': kernel {self.kernel_size} (dilation "
                             f"{self.dilation_rate}) is larger than the input {tuple(shape)} with padding='valid'")

    def forward(self, ctx, x, training, strip=False):
        d = _C.depthwise_conv2d_forward(x, self.depthwise_kernel.data, None, self.strides, self.padding,
                                        self.dilation_rate, "none")
        b = self.bias.data if self.bias is not None else None
        ctx.x, ctx.d = x, d
        if self._ep is not None:
            y = _C.conv2d_forward(d, self.pointwise_kernel.data, b, (1, 1), "valid", (1, 1), self._ep)
            ctx.z = None
        else:
            z = _C.conv2d_forward(d, self.pointwise_kernel.data, b, (1, 1), "valid", (1, 1), "none")
            y = _acts.array_forward(z, self._kind)
            ctx.z = z
        ctx.y = y
        return y

    def backward(self, ctx, dy, need_dx):
        ep, Y = self._ep, ctx.y
        if ctx.z is not None:
            dy = _acts.array_backward(dy, ctx.z, ctx.y, self._kind)
            ep, Y = "none", None
        dd, dpw, db = _C.conv2d_backward(dy, ctx.d, self.pointwise_kernel.data, Y if ep != "none" else None, ep,
                                         (1, 1), "valid", (1, 1), True, self.bias is not None)
        dx, ddw, _ = _C.depthwise_conv2d_backward(dd, ctx.x, self.depthwise_kernel.data, None, "none",
                                                  self.strides, self.padding, self.dilation_rate, need_dx, False)
        if not self.trainable:
            return dx, []
        for reg, g, w in ((self.depthwise_regularizer, ddw, self.depthwise_kernel),
                          (self.pointwise_regularizer, dpw, self.pointwise_kernel),
                          (self.bias_regularizer, db, self.bias)):
            if reg is not None and g is not None:
                reg.add_grad_(g, w.data)
        return dx, [ddw, dpw] + ([db] if db is not None else [])

    def get_config(self):
        ser = lambda r: _reg.serialize(r) if r else None  # noqa: E731
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": "channels_last",
                "dilation_rate": self.dilation_rate, "depth_multiplier": self.depth_multiplier,
                "activation": self.activation, "use_bias": self.use_bias,
                "depthwise_initializer": _init.serialize(self.depthwise_initializer),
                "pointwise_initializer": _init.serialize(self.pointwise_initializer),
                "bias_initializer": _init.serialize(self.bias_initializer),
                "depthwise_regularizer": ser(self.depthwise_regularizer),
                "pointwise_regularizer": ser(self.pointwise_regularizer),
                "bias_regularizer": ser(self.bias_regularizer)}


SeparableConvolution2D = SeparableConv2D
