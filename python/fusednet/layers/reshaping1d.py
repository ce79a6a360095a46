"""1-D reshaping layers (Keras ``ZeroPadding1D``, ``Cropping1D``), [batch, steps, channels]:
``_C.pad2d`` / ``_C.crop2d`` (and their backwards) on height-1 views, one native call each way."""
import numpy as np

from .. import _C
from .base import Layer

__all__ = ["ZeroPadding1D", "Cropping1D"]


def _amounts1(v, what, owner):
    def is_int(a):
        return isinstance(a, (int, np.integer)) and not isinstance(a, bool)
    if is_int(v):
        out = (int(v), int(v))
    elif isinstance(v, (tuple, list)) and len(v) == 2 and all(is_int(a) for a in v):
        out = (int(v[0]), int(v[1]))
    else:
        raise ValueError(f"{owner}: {what} must be an int or a tuple of 2 ints (left, right), got {v!r}")
    if min(out) < 0:
        raise ValueError(f"{owner}: {what} amounts must be >= 0, got {v!r}")
    return out


class _Steps1D(Layer):
    def _check_input(self, shape):
        if len(shape) != 3:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected ndim=3 "
                             f"(batch, steps, channels), found ndim={len(shape)}. Full shape received: {tuple(shape)}")


class ZeroPadding1D(_Steps1D):
    """Pads the steps axis with zeros (Keras ``ZeroPadding1D``).

    Args:
        padding: int (both sides) or (left, right); default 1.

    Shape:
        [batch, steps, C] → [batch, left + steps + right, C].

    Example:
        >>> ZeroPadding1D((1, 2))(np.ones((2, 3, 4), np.float32)).shape   # (2, 6, 4)
    """

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"ZeroPadding1D '{self.name}': only data_format='channels_last' is supported")
        self.padding = _amounts1(padding, "padding", f"ZeroPadding1D '{self.name}'")

    def compute_output_shape(self, input_shape):
        n, steps, c = input_shape
        return (n, None if steps is None else steps + sum(self.padding), c)

    def forward(self, ctx, x, training, strip=False):
        n, steps, c = x.shape
        y = _C.pad2d(x.reshape(n, 1, steps, c), 0, 0, *self.padding)
        return y.reshape(n, y.shape[2], c)

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        n, steps, c = dy.shape
        dx = _C.pad2d_backward(dy.reshape(n, 1, steps, c), 0, 0, *self.padding)
        return dx.reshape(n, dx.shape[2], c), []

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


class Cropping1D(_Steps1D):
    """Crops the steps axis (Keras ``Cropping1D``).

    Args:
        cropping: int (both sides) or (left, right); default (1, 1).

    Shape:
        [batch, steps, C] → [batch, steps - left - right, C].

    Example:
        >>> Cropping1D((1, 2))(np.ones((2, 6, 4), np.float32)).shape   # (2, 3, 4)
    """

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _amounts1(cropping, "cropping", f"Cropping1D '{self.name}'")

    def compute_output_shape(self, input_shape):
        n, steps, c = input_shape
        return (n, None if steps is None else steps - sum(self.cropping), c)

    def _check_input(self, shape):
        super()._check_input(shape)
        if shape[1] is not None and shape[1] - sum(self.cropping) <= 0:
            raise ValueError(f"Cropping1D '{self.name}': cropping {self.cropping} leaves nothing of an input with "
                             f"{shape[1]} steps (shape {tuple(shape)})")

    def forward(self, ctx, x, training, strip=False):
        n, steps, c = x.shape
        y = _C.crop2d(x.reshape(n, 1, steps, c), 0, 0, *self.cropping)
        return y.reshape(n, y.shape[2], c)

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        n, steps, c = dy.shape
        dx = _C.crop2d_backward(dy.reshape(n, 1, steps, c), 0, 0, *self.cropping)
        return dx.reshape(n, dx.shape[2], c), []

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}
