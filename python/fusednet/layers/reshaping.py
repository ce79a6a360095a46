"""Spatial reshaping layers (channels last): ZeroPadding2D and Cropping2D, with the
differentiable ops ``zero_padding2d`` / ``cropping2d``. Forward and backward are one native call
each (``_C.pad2d`` / ``_C.pad2d_backward``, ``_C.crop2d`` / ``_C.crop2d_backward``)."""
import numpy as np

from .. import _C
from .. import functional as F
from ..tensor import Function, Tensor, _state
from .base import Layer, unique_name

__all__ = ["ZeroPadding2D", "Cropping2D", "zero_padding2d", "cropping2d"]


def _amounts(v, what, owner):
    """int | (sym_h, sym_w) | ((top, bottom), (left, right)) -> (top, bottom, left, right)."""
    def is_int(a):
        return isinstance(a, (int, np.integer)) and not isinstance(a, bool)
    err = ValueError(f"{owner}: {what} must be an int, a tuple of 2 ints or a tuple of 2 tuples of 2 ints "
                     f"((top, bottom), (left, right)); got {v!r}")
    if is_int(v):
        out = (int(v),) * 4
    elif isinstance(v, (tuple, list)) and len(v) == 2:
        if all(is_int(a) for a in v):
            out = (int(v[0]), int(v[0]), int(v[1]), int(v[1]))
        elif all(isinstance(a, (tuple, list)) and len(a) == 2 and all(is_int(b) for b in a) for a in v):
            out = (int(v[0][0]), int(v[0][1]), int(v[1][0]), int(v[1][1]))
        else:
            raise err
    else:
        raise err
    if any(a < 0 for a in out):
        raise ValueError(f"{owner}: {what} amounts must be >= 0, got {v!r}")
    return out


def _check4(layer, shape):
    if len(shape) != 4:
        raise ValueError(f"Input 0 of layer '{layer.name}' is incompatible with the layer: expected ndim=4 "
                         f"(batch, height, width, channels), found ndim={len(shape)}. Full shape received: "
                         f"{tuple(shape)}")


class _PadFn(Function):
    __slots__ = ("amt",)

    def backward(self, g):
        return (_C.pad2d_backward(g, *self.amt),)


class _CropFn(Function):
    __slots__ = ("amt",)

    def backward(self, g):
        return (_C.crop2d_backward(g, *self.amt),)


def _record(y, fn, x):
    if _state.enabled and x.requires_grad:
        return Tensor._from_op(y, fn, (x,))
    return Tensor._wrap(y)


def zero_padding2d(x, top, bottom, left, right):
    """Differentiable zero padding of an NHWC batch: [N, H, W, C] → [N, H+top+bottom, W+left+right, C]."""
    x = F.as_tensor(x)
    fn = _PadFn()
    fn.amt = (top, bottom, left, right)
    return _record(_C.pad2d(x.data, top, bottom, left, right), fn, x)


def cropping2d(x, top, bottom, left, right):
    """Differentiable crop of an NHWC batch: [N, H, W, C] → [N, H-top-bottom, W-left-right, C]."""
    x = F.as_tensor(x)
    fn = _CropFn()
    fn.amt = (top, bottom, left, right)
    return _record(_C.crop2d(x.data, top, bottom, left, right), fn, x)


class ZeroPadding2D(Layer):
    """Zero-padding of images (Keras ``ZeroPadding2D``), channels last.

    Args:
        padding: int (same on all four sides), tuple of 2 ints ``(sym_height, sym_width)``, or
            ``((top, bottom), (left, right))``. Default (1, 1).
        data_format: only 'channels_last' (None) is supported.

    Shape:
        [batch, H, W, C] → [batch, H + top + bottom, W + left + right, C].

    Example:
        >>> ZeroPadding2D(((1, 0), (2, 2)))(np.ones((4, 28, 28, 1), np.float32)).shape   # (4, 29, 32, 1)
    """


    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        if kwargs.get("name") is None:
            kwargs["name"] = unique_name("zero_padding2d")   # Keras naming
        super().__init__(**kwargs)
        owner = f"ZeroPadding2D '{self.name}'"
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, got {data_format!r}")
        self.amounts = _amounts(padding, "padding", owner)
        t, b, l, r = self.amounts
        self.padding = ((t, b), (l, r))

    def _check_input(self, shape):
        _check4(self, shape)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        t, b, l, r = self.amounts
        return (n, None if h is None else h + t + b, None if w is None else w + l + r, c)

    def forward(self, ctx, x, training, strip=False):
        return _C.pad2d(x, *self.amounts)

    def backward(self, ctx, dy, need_dx):
        return (_C.pad2d_backward(dy, *self.amounts) if need_dx and dy is not None else None), []

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": "channels_last"}


class Cropping2D(Layer):
    """Crops images along height and width (Keras ``Cropping2D``), channels last.

    Args:
        cropping: int, tuple of 2 ints ``(sym_height, sym_width)`` or
            ``((top, bottom), (left, right))``. Default ((0, 0), (0, 0)).
        data_format: only 'channels_last' (None) is supported.

    Shape:
        [batch, H, W, C] → [batch, H - top - bottom, W - left - right, C].

    Example:
        >>> Cropping2D(((2, 2), (4, 4)))(np.ones((4, 28, 28, 1), np.float32)).shape   # (4, 24, 20, 1)
    """


    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        if kwargs.get("name") is None:
            kwargs["name"] = unique_name("cropping2d")
        super().__init__(**kwargs)
        owner = f"Cropping2D '{self.name}'"
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, got {data_format!r}")
        self.amounts = _amounts(cropping, "cropping", owner)
        t, b, l, r = self.amounts
        self.cropping = ((t, b), (l, r))

    def _check_input(self, shape):
        _check4(self, shape)
        t, b, l, r = self.amounts
        h, w = shape[1], shape[2]
        if (h is not None and t + b >= h) or (w is not None and l + r >= w):
            raise ValueError(f"Cropping2D '{self.name}': cropping {self.cropping} leaves nothing of the input "
                             f"{tuple(shape)}")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        t, b, l, r = self.amounts
        return (n, None if h is None else h - t - b, None if w is None else w - l - r, c)

    def forward(self, ctx, x, training, strip=False):
        return _C.crop2d(x, *self.amounts)

    def backward(self, ctx, dy, need_dx):
        return (_C.crop2d_backward(dy, *self.amounts) if need_dx and dy is not None else None), []

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": "channels_last"}
