"""Conv2DTranspose and Conv1DTranspose (Keras ``Conv2DTranspose`` / ``Conv1DTranspose``), channels
last; the 1-D layer runs the 2-D kernels on height-1 views (reshapes, no copies).

A transposed convolution is the data gradient of a Conv2D: the layer's input plays the conv's
output, its output the conv's input. Forward is one native call (``_C.conv2d_transpose_forward``:
the conv's dX-only backward with the bias + activation pass after it); backward is one
``_C.conv2d_transpose_backward`` (the forward conv for dX, the conv's weight gradient for dW, a
column sum for db). The geometry follows Keras 3 (the JAX backend's padding rule, which is TF's
wherever TF accepts the arguments):

    keff = (k - 1)·dilation + 1
    'valid':  top pad 0;  L = n·s + max(keff - s, 0)      (output_padding None)
                          L = (n - 1)·s + keff + output_padding
    'same':   pad_len = s + keff - 2                      (output_padding None)
              pad_len = keff + keff % 2 - 2 + output_padding
              left = min(ceil(pad_len / 2), keff - 1);  top pad = keff - 1 - left
              L = n·s (None) or (n - 1)·s + keff % 2 + output_padding
"""
import numpy as np

from .. import _C
from .. import activations as _acts
from .. import initializers as _init
from .. import regularizers as _reg
from .base import Layer
from .conv import _pair, _padding

__all__ = ["Conv2DTranspose", "Convolution2DTranspose", "Conv1DTranspose", "Convolution1DTranspose",
           "conv_transpose_geometry"]


def conv_transpose_geometry(n, k, s, d, padding, output_padding=None):
    """Output length and the underlying conv's leading zero padding along one axis (Keras rule).

    Args:
        n: input length (None stays None).
        k, s, d: kernel size, stride, dilation.
        padding: 'valid' or 'same'.
        output_padding: None or an int < s.

    Returns:
        (length, pad_before); length is None when n is None.
    """
    keff = (k - 1) * d + 1
    if padding == "valid":
        pad = 0
        if n is None:
            return None, pad
        length = n * s + max(keff - s, 0) if output_padding is None else (n - 1) * s + keff + output_padding
        return length, pad
    pad_len = s + keff - 2 if output_padding is None else keff + keff % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, keff - 1)
    pad = keff - 1 - left
    if n is None:
        return None, pad
    length = n * s if output_padding is None else (n - 1) * s + keff % 2 + output_padding
    return length, pad


class Conv2DTranspose(Layer):
    """Transposed 2-D convolution (Keras ``Conv2DTranspose``, "deconvolution"), channels last.

    ``activation(conv2d_transpose(inputs, kernel) + bias)``: each input pixel scatters
    ``kernel[:, :, :, c]``-weighted copies into a ``strides``-spaced output grid. relu / sigmoid /
    tanh / linear run in the native kernel; other activations are one more native pass.

    Args:
        filters: number of output channels.
        kernel_size: int or (kh, kw).
        strides: int or pair (default 1).
        padding: 'valid' (default) or 'same'.
        data_format: only 'channels_last' (None) is supported.
        dilation_rate: int or pair (default 1); > 1 together with strides > 1 is an error.
        activation: name or None.
        use_bias: default True.
        kernel_initializer: default 'glorot_uniform' (Keras fans of [kh, kw, filters, Cin]);
            bias_initializer: default 'zeros'.
        kernel_regularizer, bias_regularizer: optional.
        output_padding: None (default) or int / pair, each < the stride along its axis: the
            amount added to the output length (the tf.keras argument, keyword here since Keras 3's
            layer signature has no such position; the deconv rule is in the module docstring).

    Shape:
        [batch, H, W, Cin] → [batch, Ho, Wo, filters] ('same' without output_padding:
        Ho = H·sh); the kernel is [kh, kw, filters, Cin] (Keras layout), the bias [filters].

    Example:
        >>> layer = Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")
        >>> y = layer(np.zeros((8, 7, 7, 32), np.float32))   # [8, 14, 14, 16]
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, output_padding=None,
                 **kwargs):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__} '{self.name}'"
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"{owner}: filters must be a positive integer, got {filters!r}")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, got {data_format!r}")
        if activity_regularizer is not None or kernel_constraint is not None or bias_constraint is not None:
            raise ValueError(f"{owner}: activity_regularizer and constraints are not supported")
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size", owner)
        self.strides = _pair(strides, "strides", owner)
        self.dilation_rate = _pair(dilation_rate, "dilation_rate", owner)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{owner}: strides > 1 not supported in conjunction with dilation_rate > 1. "
                             f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.padding = _padding(padding, owner)
        if output_padding is None:
            self.output_padding = None
        else:
            op = (output_padding, output_padding) if isinstance(output_padding, (int, np.integer)) \
                else output_padding
            try:
                op = tuple(int(a) for a in op)
            except TypeError:
                raise ValueError(f"{owner}: output_padding must be None, an int or a pair, got "
                                 f"{output_padding!r}") from None
            if len(op) != 2 or any(a < 0 for a in op):
                raise ValueError(f"{owner}: output_padding must be None, an int or a pair of ints >= 0, got "
                                 f"{output_padding!r}")
            for s, a in zip(self.strides, op):
                if a >= s:
                    raise ValueError(f"{owner}: strides {self.strides} must be greater than output padding "
                                     f"{op}")
            self.output_padding = op
        # the geometry the native calls use (Conv1DTranspose keeps 1-D public attributes)
        self._k2, self._s2, self._d2, self._op2 = (self.kernel_size, self.strides, self.dilation_rate,
                                                   self.output_padding)
        self.activation = _acts.serialize(activation)
        self._kind, self._ep = _acts.resolve(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _init.get(kernel_initializer)
        self.bias_initializer = _init.get(bias_initializer)
        self.kernel_regularizer = _reg.get(kernel_regularizer)
        self.bias_regularizer = _reg.get(bias_regularizer)
        self.kernel = None
        self.bias = None

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"Conv2DTranspose '{self.name}': expected a 4-D input (batch, H, W, channels) with "
                             f"a defined channel axis, got input shape {tuple(input_shape)}")
        cin = int(input_shape[-1])
        self.kernel = self.add_weight(self.kernel_size + (self.filters, cin), self.kernel_initializer,
                                      self.kernel_regularizer, name="kernel")
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, self.bias_regularizer, name="bias")
        self.built = True

    def _geometry(self, h, w):
        op = self._op2 or (None, None)
        gh = conv_transpose_geometry(h, self._k2[0], self._s2[0], self._d2[0], self.padding, op[0])
        gw = conv_transpose_geometry(w, self._k2[1], self._s2[1], self._d2[1], self.padding, op[1])
        return (gh[0], gw[0]), (gh[1], gw[1])

    def _w4(self):
        return self.kernel.data

    def compute_output_shape(self, input_shape):
        (oh, ow), _ = self._geometry(input_shape[1], input_shape[2])
        return (input_shape[0], oh, ow, self.filters)

    def _check_input(self, shape):
        if len(shape) != 4:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected ndim=4, "
                             f"found ndim={len(shape)}. Full shape received: {tuple(shape)}")
        if self.kernel is not None and shape[-1] != self.kernel.shape[3]:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected axis -1 "
                             f"of input shape to have value {self.kernel.shape[3]}, but received input with "
                             f"shape {tuple(shape)}")

    # ---------------------------------------------------------------- protocol
    def forward(self, ctx, x, training, strip=False):
        size, pads = self._geometry(x.shape[1], x.shape[2])
        b = self.bias.data if self.bias is not None else None
        ctx.x, ctx.pads = x, pads
        if self._ep is not None:
            y = _C.conv2d_transpose_forward(x, self._w4(), b, size, self._s2, pads, self._d2, self._ep)
            ctx.z = None
        else:
            z = _C.conv2d_transpose_forward(x, self._w4(), b, size, self._s2, pads, self._d2, "none")
            y = _acts.array_forward(z, self._kind)
            ctx.z = z
        ctx.y = y
        return y

    def backward(self, ctx, dy, need_dx):
        ep, Y = self._ep, ctx.y
        if ctx.z is not None:
            dy = _acts.array_backward(dy, ctx.z, ctx.y, self._kind)
            ep, Y = "none", None
        dx, dw, db = _C.conv2d_transpose_backward(dy, ctx.x, self._w4(), Y if ep != "none" else None, ep,
                                                  self._s2, ctx.pads, self._d2, need_dx, self.bias is not None)
        if dw.shape != self.kernel.shape:
            dw = dw.reshape(*self.kernel.shape)
        return dx, self._kernel_grads(dw, db, self.kernel_regularizer)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "output_padding": self.output_padding,
                "data_format": "channels_last", "dilation_rate": self.dilation_rate,
                "activation": self.activation, "use_bias": self.use_bias,
                "kernel_initializer": _init.serialize(self.kernel_initializer),
                "bias_initializer": _init.serialize(self.bias_initializer),
                "kernel_regularizer": _reg.serialize(self.kernel_regularizer) if self.kernel_regularizer else None,
                "bias_regularizer": _reg.serialize(self.bias_regularizer) if self.bias_regularizer else None}


Convolution2DTranspose = Conv2DTranspose


def _int1(v, what, owner):
    if isinstance(v, (tuple, list)) and len(v) == 1:
        v = v[0]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
        raise ValueError(f"{owner}: {what} must be a positive int (or a 1-tuple), got {v!r}")
    return int(v)


class Conv1DTranspose(Conv2DTranspose):
    """Transposed 1-D convolution (Keras ``Conv1DTranspose``), channels last: Conv2DTranspose's
    native kernels on a height-1 view.

    Args:
        filters: number of output channels.
        kernel_size: int (or 1-tuple).
        strides: int (default 1); > 1 together with dilation_rate > 1 is an error.
        padding: 'valid' (default) or 'same'.
        data_format: only 'channels_last' (None) is supported.
        dilation_rate: int (default 1).
        activation: name or None.
        use_bias: default True.
        kernel_initializer: default 'glorot_uniform'; bias_initializer: default 'zeros'.
        kernel_regularizer, bias_regularizer: optional.
        output_padding: None or an int < strides (keyword; see Conv2DTranspose).

    Shape:
        [batch, steps, Cin] → [batch, new_steps, filters] ('same': new_steps = steps·strides);
        the kernel is [k, filters, Cin] (Keras layout).

    Example:
        >>> layer = Conv1DTranspose(8, 3, strides=2, padding="same")
        >>> y = layer(np.zeros((4, 10, 16), np.float32))   # [4, 20, 8]
    """


    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, output_padding=None, **kwargs):
        owner = f"Conv1DTranspose '{kwargs.get('name') or 'conv1d_transpose'}'"
        k, st, d = (_int1(kernel_size, "kernel_size", owner), _int1(strides, "strides", owner),
                    _int1(dilation_rate, "dilation_rate", owner))
        op = None
        if output_padding is not None:
            op = output_padding[0] if isinstance(output_padding, (tuple, list)) and len(output_padding) == 1 \
                else output_padding
            if isinstance(op, bool) or not isinstance(op, (int, np.integer)):
                raise ValueError(f"{owner}: output_padding must be None or an int, got {output_padding!r}")
            op = (0, int(op))
        super().__init__(filters, (1, k), (1, st), padding, data_format, (1, d), activation, use_bias,
                         kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, op, **kwargs)
        self.kernel_size, self.strides, self.dilation_rate = (k,), (st,), (d,)
        self.output_padding = None if op is None else (op[1],)

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"Conv1DTranspose '{self.name}': expected a 3-D input (batch, steps, channels) with "
                             f"a defined channel axis, got input shape {tuple(input_shape)}")
        cin = int(input_shape[-1])
        self.kernel = self.add_weight(self.kernel_size + (self.filters, cin), self.kernel_initializer,
                                      self.kernel_regularizer, name="kernel")
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, self.bias_regularizer, name="bias")
        self.built = True

    def _w4(self):
        k = self.kernel.data
        return k.reshape(1, *k.shape)

    def compute_output_shape(self, input_shape):
        (_, steps), _ = self._geometry(1, input_shape[1])
        return (input_shape[0], steps, self.filters)

    def _check_input(self, shape):
        if len(shape) != 3:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected ndim=3, "
                             f"found ndim={len(shape)}. Full shape received: {tuple(shape)}")
        if self.kernel is not None and shape[-1] != self.kernel.shape[2]:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected axis -1 "
                             f"of input shape to have value {self.kernel.shape[2]}, but received input with "
                             f"shape {tuple(shape)}")

    def forward(self, ctx, x, training, strip=False):
        n, steps, c = x.shape
        y = super().forward(ctx, x.reshape(n, 1, steps, c), training, strip)
        return y.reshape(n, y.shape[2], y.shape[3])

    def backward(self, ctx, dy, need_dx):
        n, steps, f = dy.shape
        dx, grads = super().backward(ctx, dy.reshape(n, 1, steps, f), need_dx)
        if dx is not None:
            dx = dx.reshape(dx.shape[0], dx.shape[2], dx.shape[3])
        return dx, grads


Convolution1DTranspose = Conv1DTranspose
