"""1-D convolution and pooling layers (Keras ``Conv1D``, ``MaxPooling1D``, ``AveragePooling1D``,
``GlobalAveragePooling1D``, ``GlobalMaxPooling1D``), channels last: [batch, steps, channels].

Each runs the 2-D native kernels on a height-1 view of its input (``[N, L, C]`` reshaped to
``[N, 1, L, C]``, the kernel ``[k, Cin, Cout]`` to ``[1, k, Cin, Cout]``: reshapes, no copies).
'causal' padding is a left zero pad of ``(k - 1)·dilation`` steps (``_C.pad2d``, one native call,
cropped back by ``_C.pad2d_backward``) followed by a 'valid' convolution, as Keras does.
"""
import numpy as np

from .. import _C
from .. import activations as _acts
from .. import initializers as _init
from .. import regularizers as _reg
from .base import Layer
from .conv import _out_len

__all__ = ["Conv1D", "Convolution1D", "MaxPooling1D", "AveragePooling1D", "MaxPool1D", "AvgPool1D",
           "GlobalAveragePooling1D", "GlobalMaxPooling1D", "GlobalAvgPool1D", "GlobalMaxPool1D"]


def _int1(v, what, owner):
    if isinstance(v, (tuple, list)) and len(v) == 1:
        v = v[0]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
        raise ValueError(f"{owner}: {what} must be a positive int (or a 1-tuple), got {v!r}")
    return int(v)


def _check3(layer, shape):
    if len(shape) != 3:
        raise ValueError(f"Input 0 of layer '{layer.name}' is incompatible with the layer: expected ndim=3, "
                         f"found ndim={len(shape)}. Full shape received: {tuple(shape)}")


def _as4(x):
    s = x.shape
    return x.reshape(s[0], 1, s[1], s[2])


def _as3(y):
    s = y.shape
    return y.reshape(s[0], s[2], s[3])


class Conv1D(Layer):
    """1-D convolution layer (Keras ``Conv1D``), channels last.

    ``activation(conv1d(inputs, kernel) + bias)`` on the 2-D native kernel (height 1); relu /
    sigmoid / tanh / linear run fused in its epilogue.

    Args:
        filters: number of output channels.
        kernel_size: int (or 1-tuple).
        strides: int (default 1). Strides > 1 with dilation_rate > 1 is an error (Keras).
        padding: 'valid' (default), 'same' or 'causal' (left padding by (k-1)·dilation).
        data_format: only 'channels_last' (None) is supported.
        dilation_rate: int (default 1).
        groups: only 1 is supported.
        activation: name or None.
        use_bias: default True.
        kernel_initializer: default 'glorot_uniform'; bias_initializer: default 'zeros'.
        kernel_regularizer, bias_regularizer: optional.

    Shape:
        [batch, steps, Cin] → [batch, new_steps, filters]; the kernel is [k, Cin, filters].

    Example:
        >>> layer = Conv1D(32, 5, padding="causal", activation="relu")
        >>> y = layer(np.zeros((8, 100, 3), np.float32))   # [8, 100, 32]
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"Conv1D '{self.name}'"
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"{owner}: filters must be a positive integer, got {filters!r}")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, got {data_format!r}")
        if groups != 1:
            raise ValueError(f"{owner}: only groups=1 is supported, got {groups!r}")
        if activity_regularizer is not None or kernel_constraint is not None or bias_constraint is not None:
            raise ValueError(f"{owner}: activity_regularizer and constraints are not supported")
        self.filters = int(filters)
        self.kernel_size = (_int1(kernel_size, "kernel_size", owner),)
        self.strides = (_int1(strides, "strides", owner),)
        self.dilation_rate = (_int1(dilation_rate, "dilation_rate", owner),)
        if self.strides[0] > 1 and self.dilation_rate[0] > 1:
            raise ValueError(f"{owner}: strides > 1 not supported in conjunction with dilation_rate > 1. "
                             f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}")
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same", "causal"):
            raise ValueError(f"{owner}: padding must be 'valid', 'same' or 'causal', got {padding!r}")
        self.padding = padding.lower()
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
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"Conv1D '{self.name}': expected a 3-D input (batch, steps, channels) with a "
                             f"defined channel axis, got input shape {tuple(input_shape)}")
        cin = int(input_shape[-1])
        self.kernel = self.add_weight(self.kernel_size + (cin, self.filters), self.kernel_initializer,
                                      self.kernel_regularizer, name="kernel")
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, self.bias_regularizer, name="bias")
        self.built = True

    def _causal_pad(self):
        return (self.kernel_size[0] - 1) * self.dilation_rate[0] if self.padding == "causal" else 0

    def compute_output_shape(self, input_shape):
        n, steps = input_shape[0], input_shape[1]
        k, s, d = self.kernel_size[0], self.strides[0], self.dilation_rate[0]
        if self.padding == "causal":
            out = None if steps is None else _out_len(steps + self._causal_pad(), k, s, d, "valid")
        else:
            out = _out_len(steps, k, s, d, self.padding)
        return (n, out, self.filters)

    def _check_input(self, shape):
        _check3(self, shape)
        if self.kernel is not None and shape[-1] != self.kernel.shape[1]:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected axis -1 "
                             f"of input shape to have value {self.kernel.shape[1]}, but received input with "
                             f"shape {tuple(shape)}")
        if self.compute_output_shape(shape)[1] == 0:
            raise ValueError(f"Conv1D '{self.name}': kernel {self.kernel_size} (dilation {self.dilation_rate}) "
                             f"is larger than the input {tuple(shape)} with padding='valid'")

    def _args(self):
        pad = "same" if self.padding == "same" else "valid"
        return (1, self.strides[0]), pad, (1, self.dilation_rate[0])

    def _w4(self):
        k = self.kernel.data
        return k.reshape(1, *k.shape)

    def forward(self, ctx, x, training, strip=False):
        x4 = _as4(x)
        p = self._causal_pad()
        if p:
            x4 = _C.pad2d(x4, 0, 0, p, 0)
        b = self.bias.data if self.bias is not None else None
        ctx.x4 = x4
        if self._ep is not None:
            y = _C.conv2d_forward(x4, self._w4(), b, *self._args(), self._ep)
            ctx.z = None
        else:
            z = _C.conv2d_forward(x4, self._w4(), b, *self._args(), "none")
            y = _acts.array_forward(z, self._kind)
            ctx.z = z
        ctx.y = y
        return _as3(y)

    def backward(self, ctx, dy, need_dx):
        dy4 = _as4(dy)
        ep, Y = self._ep, ctx.y
        if ctx.z is not None:
            dy4 = _acts.array_backward(dy4, ctx.z, ctx.y, self._kind)
            ep, Y = "none", None
        dx, dw, db = _C.conv2d_backward(dy4, ctx.x4, self._w4(), Y if ep != "none" else None, ep, *self._args(),
                                        need_dx, self.bias is not None)
        if dx is not None:
            p = self._causal_pad()
            if p:
                dx = _C.pad2d_backward(dx, 0, 0, p, 0)
            dx = _as3(dx)
        return dx, self._kernel_grads(dw.reshape(*self.kernel.shape), db, self.kernel_regularizer)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": "channels_last",
                "dilation_rate": self.dilation_rate, "groups": 1, "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": _init.serialize(self.kernel_initializer),
                "bias_initializer": _init.serialize(self.bias_initializer),
                "kernel_regularizer": _reg.serialize(self.kernel_regularizer) if self.kernel_regularizer else None,
                "bias_regularizer": _reg.serialize(self.bias_regularizer) if self.bias_regularizer else None}


Convolution1D = Conv1D


class _Pool1D(Layer):
    _max = True

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__} '{self.name}'"
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, got {data_format!r}")
        self.pool_size = (_int1(pool_size, "pool_size", owner),)
        self.strides = self.pool_size if strides is None else (_int1(strides, "strides", owner),)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding.lower()

    def compute_output_shape(self, input_shape):
        n, steps, c = input_shape
        return (n, _out_len(steps, self.pool_size[0], self.strides[0], 1, self.padding), c)

    def _check_input(self, shape):
        _check3(self, shape)
        if self.compute_output_shape(shape)[1] == 0:
            raise ValueError(f"{type(self).__name__} '{self.name}': pool_size {self.pool_size} is larger than the "
                             f"input {tuple(shape)} with padding='valid'")

    def _cfg(self):
        return (1, self.pool_size[0]), (1, self.strides[0]), self.padding

    def forward(self, ctx, x, training, strip=False):
        x4 = _as4(x)
        ctx.xshape = list(x4.shape)
        if self._max:
            y, ctx.idx = _C.max_pool2d_forward(x4, *self._cfg())
        else:
            y = _C.avg_pool2d_forward(x4, *self._cfg())
        return _as3(y)

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        dy4 = _as4(dy)
        if self._max:
            dx = _C.max_pool2d_backward(dy4, ctx.idx, ctx.xshape, *self._cfg())
        else:
            dx = _C.avg_pool2d_backward(dy4, ctx.xshape, *self._cfg())
        return _as3(dx), []

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": "channels_last"}


class MaxPooling1D(_Pool1D):
    """Max pooling over steps (Keras ``MaxPooling1D``), channels last.

    Args:
        pool_size: int (default 2).
        strides: int or None (default: pool_size).
        padding: 'valid' (default) or 'same'.

    Shape:
        [batch, steps, C] → [batch, new_steps, C].

    Example:
        >>> MaxPooling1D(2)(np.zeros((4, 10, 3), np.float32)).shape   # (4, 5, 3)
    """

    _max = True


class AveragePooling1D(_Pool1D):
    """Average pooling over steps (Keras ``AveragePooling1D``); 'same' averages the border
    windows over their non-padded steps only, as Keras does.

    Args:
        pool_size: int (default 2).
        strides: int or None (default: pool_size).
        padding: 'valid' (default) or 'same'.

    Shape:
        [batch, steps, C] → [batch, new_steps, C].

    Example:
        >>> AveragePooling1D(3, strides=1)(np.zeros((4, 10, 3), np.float32)).shape   # (4, 8, 3)
    """

    _max = False


class _GlobalPool1D(Layer):
    _max = False

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{type(self).__name__} '{self.name}': only data_format='channels_last' is supported")
        self.keepdims = bool(keepdims)

    def _check_input(self, shape):
        _check3(self, shape)

    def compute_output_shape(self, input_shape):
        n, c = input_shape[0], input_shape[-1]
        return (n, 1, c) if self.keepdims else (n, c)

    def forward(self, ctx, x, training, strip=False):
        m = ctx.__dict__.get("input_mask")
        ctx.mw = None
        if m is not None and not self._max:
            return self._masked_mean(ctx, x, m)
        x4 = _as4(x)
        ctx.xshape = list(x4.shape)
        if self._max:
            y, ctx.idx = _C.global_max_pool_forward(x4)
        else:
            y = _C.global_avg_pool_forward(x4)
        return y.reshape(y.shape[0], 1, y.shape[1]) if self.keepdims else y

    def _masked_mean(self, ctx, x, m):
        """Keras' masked mean ``Σ_t x·m / Σ_t m`` as native passes: the weights m / Σm [B, T, 1]
        once, then one broadcast multiply and one reduction over the steps. A row with every step
        masked gives 0 (Keras: 0/0 = NaN)."""
        from .masks import check_mask
        if isinstance(m, (list, tuple)):
            m = m[0]
        check_mask(f"{type(self).__name__} '{self.name}'", m, x.shape)
        cnt = _C.reduce("sum", m, [1], True)
        w = _C.binary("div", m, _C.binary("maximum", cnt, _C.full([1], 1e-30, "float32", m.device)))
        ctx.mw = w.reshape(*m.shape, 1)
        return _C.reduce("sum", _C.binary("mul", x, ctx.mw), [1], self.keepdims)

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        if ctx.__dict__.get("mw") is not None:          # masked mean: dx = dy · m / Σm
            d3 = dy if self.keepdims else dy.reshape(dy.shape[0], 1, dy.shape[-1])
            return _C.binary("mul", d3, ctx.mw), []
        if self.keepdims:
            dy = dy.reshape(dy.shape[0], dy.shape[-1])
        if self._max:
            dx = _C.global_max_pool_backward(dy, ctx.idx, ctx.xshape)
        else:
            dx = _C.global_avg_pool_backward(dy, ctx.xshape)
        return _as3(dx), []

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last", "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPool1D):
    """Mean over the steps axis (Keras ``GlobalAveragePooling1D``); with an input mask (from
    ``Embedding(mask_zero=True)`` / ``Masking``) the mean over the unmasked steps only.

    Args:
        keepdims: keep the steps axis (length 1); default False.

    Shape:
        [batch, steps, C] → [batch, C] (or [batch, 1, C]).

    Example:
        >>> GlobalAveragePooling1D()(np.zeros((4, 10, 3), np.float32)).shape   # (4, 3)
    """

    _max = False


class GlobalMaxPooling1D(_GlobalPool1D):
    """Max over the steps axis (Keras ``GlobalMaxPooling1D``).

    Args:
        keepdims: keep the steps axis (length 1); default False.

    Shape:
        [batch, steps, C] → [batch, C] (or [batch, 1, C]).

    Example:
        >>> GlobalMaxPooling1D()(np.zeros((4, 10, 3), np.float32)).shape   # (4, 3)
    """

    _max = True


MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
