"""Pooling layers (channels last): MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D,
GlobalMaxPooling2D, and their differentiable ops. Each forward / backward is one native call."""
from .. import _C
from .. import functional as F
from ..tensor import Function, Tensor, _state
from .base import Layer
from .conv import _out_len, _pair, _padding

__all__ = ["MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
           "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D",
           "max_pool2d", "avg_pool2d", "global_avg_pool2d", "global_max_pool2d"]


def _record(y, fn, x):
    if _state.enabled and x.requires_grad:
        return Tensor._from_op(y, fn, (x,))
    return Tensor._wrap(y)


class _MaxPoolFn(Function):
    __slots__ = ("idx", "xshape", "cfg")

    def backward(self, g):
        return (_C.max_pool2d_backward(g, self.idx, self.xshape, *self.cfg),)


class _AvgPoolFn(Function):
    __slots__ = ("xshape", "cfg")

    def backward(self, g):
        return (_C.avg_pool2d_backward(g, self.xshape, *self.cfg),)


class _GlobalAvgFn(Function):
    __slots__ = ("xshape", "keep")

    def backward(self, g):
        if self.keep:
            g = g.reshape(g.shape[0], g.shape[-1])
        return (_C.global_avg_pool_backward(g, self.xshape),)


class _GlobalMaxFn(Function):
    __slots__ = ("idx", "xshape", "keep")

    def backward(self, g):
        if self.keep:
            g = g.reshape(g.shape[0], g.shape[-1])
        return (_C.global_max_pool_backward(g, self.idx, self.xshape),)


def max_pool2d(x, pool_size=(2, 2), strides=None, padding="valid"):
    """Max pooling, NHWC; ties go to the first element of the window. Returns [N, Ho, Wo, C]."""
    x = F.as_tensor(x)
    cfg = (pool_size, strides, padding)
    y, idx = _C.max_pool2d_forward(x.data, *cfg)
    fn = _MaxPoolFn()
    fn.idx, fn.xshape, fn.cfg = idx, list(x.shape), cfg
    return _record(y, fn, x)


def avg_pool2d(x, pool_size=(2, 2), strides=None, padding="valid"):
    """Average pooling, NHWC; 'same' averages over the non-padded elements only (Keras)."""
    x = F.as_tensor(x)
    cfg = (pool_size, strides, padding)
    y = _C.avg_pool2d_forward(x.data, *cfg)
    fn = _AvgPoolFn()
    fn.xshape, fn.cfg = list(x.shape), cfg
    return _record(y, fn, x)


def global_avg_pool2d(x, keepdims=False):
    """Mean over H and W: [N, H, W, C] → [N, C] (or [N, 1, 1, C] with keepdims)."""
    x = F.as_tensor(x)
    y = _C.global_avg_pool_forward(x.data)
    if keepdims:
        y = y.reshape(y.shape[0], 1, 1, y.shape[1])
    fn = _GlobalAvgFn()
    fn.xshape, fn.keep = list(x.shape), keepdims
    return _record(y, fn, x)


def global_max_pool2d(x, keepdims=False):
    """Max over H and W: [N, H, W, C] → [N, C] (or [N, 1, 1, C] with keepdims)."""
    x = F.as_tensor(x)
    y, idx = _C.global_max_pool_forward(x.data)
    if keepdims:
        y = y.reshape(y.shape[0], 1, 1, y.shape[1])
    fn = _GlobalMaxFn()
    fn.idx, fn.xshape, fn.keep = idx, list(x.shape), keepdims
    return _record(y, fn, x)


class _Pool2D(Layer):
    _max = True

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__} '{self.name}'"
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, got {data_format!r}")
        self.pool_size = _pair(pool_size, "pool_size", owner)
        self.strides = self.pool_size if strides is None else _pair(strides, "strides", owner)
        self.padding = _padding(padding, owner)

    def _check_input(self, shape):
        if len(shape) != 4:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected ndim=4, "
                             f"found ndim={len(shape)}. Full shape received: {tuple(shape)}")
        oh, ow = self.compute_output_shape(shape)[1:3]
        if oh == 0 or ow == 0:
            raise ValueError(f"{type(self).__name__} '{self.name}': pool_size {self.pool_size} is larger than "
                             f"the input {tuple(shape)} with padding='valid'")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, _out_len(h, self.pool_size[0], self.strides[0], 1, self.padding),
                _out_len(w, self.pool_size[1], self.strides[1], 1, self.padding), c)

    def _cfg(self):
        return (self.pool_size, self.strides, self.padding)

    def forward(self, ctx, x, training, strip=False):
        """``ctx.relu_mask`` (set by the Conv(relu)->MaxPool fusion): the backward also applies
        the producer's relu' (pooled output > 0), so the conv skips its own mask pass."""
        ctx.xshape = list(x.shape)
        if self._max:
            y, ctx.idx = _C.max_pool2d_forward(x, *self._cfg())
            ctx.ypool = y if getattr(ctx, "relu_mask", False) else None
            return y
        return _C.avg_pool2d_forward(x, *self._cfg())

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        if self._max:
            return _C.max_pool2d_backward(dy, ctx.idx, ctx.xshape, *self._cfg(), ctx.ypool), []
        return _C.avg_pool2d_backward(dy, ctx.xshape, *self._cfg()), []

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": "channels_last"}


class MaxPooling2D(_Pool2D):
    """Max pooling over (pool_size) windows (Keras ``MaxPooling2D``), channels last.

    Args:
        pool_size: int or pair (default (2, 2)).
        strides: int, pair or None (default: pool_size).
        padding: 'valid' (default) or 'same'.

    Shape:
        [batch, H, W, C] → [batch, Ho, Wo, C].

    Example:
        >>> MaxPooling2D()(np.zeros((8, 26, 26, 32), np.float32)).shape   # (8, 13, 13, 32)
    """

    _max = True


class AveragePooling2D(_Pool2D):
    """Average pooling (Keras ``AveragePooling2D``); with 'same' padding the border windows
    average over their non-padded elements only, as Keras does.

    Args:
        pool_size: int or pair (default (2, 2)).
        strides: int, pair or None (default: pool_size).
        padding: 'valid' (default) or 'same'.
    """

    _max = False


class _GlobalPool2D(Layer):
    _max = False

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{type(self).__name__} '{self.name}': only data_format='channels_last' is supported")
        self.keepdims = bool(keepdims)

    def _check_input(self, shape):
        if len(shape) != 4:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected ndim=4, "
                             f"found ndim={len(shape)}. Full shape received: {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        n, c = input_shape[0], input_shape[-1]
        return (n, 1, 1, c) if self.keepdims else (n, c)

    def forward(self, ctx, x, training, strip=False):
        ctx.xshape = list(x.shape)
        if self._max:
            y, ctx.idx = _C.global_max_pool_forward(x)
        else:
            y = _C.global_avg_pool_forward(x)
        return y.reshape(y.shape[0], 1, 1, y.shape[1]) if self.keepdims else y

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        if self.keepdims:
            dy = dy.reshape(dy.shape[0], dy.shape[-1])
        if self._max:
            return _C.global_max_pool_backward(dy, ctx.idx, ctx.xshape), []
        return _C.global_avg_pool_backward(dy, ctx.xshape), []

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last", "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPool2D):
    """Mean over the spatial axes (Keras ``GlobalAveragePooling2D``): [batch, H, W, C] → [batch, C]
    (or [batch, 1, 1, C] with ``keepdims=True``)."""

    _max = False


class GlobalMaxPooling2D(_GlobalPool2D):
    """Max over the spatial axes (Keras ``GlobalMaxPooling2D``): [batch, H, W, C] → [batch, C]
    (or [batch, 1, 1, C] with ``keepdims=True``)."""

    _max = True


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
