"""Upsampling layers (Keras ``UpSampling2D``, ``UpSampling1D``), channels last. Forward and
backward are one native call each (``_C.upsample2d_forward/backward``: nearest repeats pixels,
bilinear uses half-pixel centres as Keras' ``ops.image.resize`` / TF / PyTorch
``align_corners=False``); UpSampling1D runs them on a height-1 view of its input.
"""
import numpy as np

from .. import _C
from .base import Layer
from .conv import _pair

__all__ = ["UpSampling2D", "UpSampling1D"]


class UpSampling2D(Layer):
    """Repeats rows and columns (Keras ``UpSampling2D``).

    Args:
        size: int or (rows, cols) factors (default (2, 2)).
        data_format: only 'channels_last' (None) is supported.
        interpolation: 'nearest' (default) or 'bilinear'.

    Shape:
        [batch, H, W, C] → [batch, H·size[0], W·size[1], C].

    Example:
        >>> UpSampling2D(2)(np.zeros((8, 7, 7, 16), np.float32)).shape   # (8, 14, 14, 16)
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        owner = f"UpSampling2D '{self.name}'"
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, got {data_format!r}")
        self.size = _pair(size, "size", owner)
        if not isinstance(interpolation, str) or interpolation.lower() not in ("nearest", "bilinear"):
            raise ValueError(f"{owner}: interpolation must be 'nearest' or 'bilinear' (others are not supported), "
                             f"got {interpolation!r}")
        self.interpolation = interpolation.lower()

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else h * self.size[0], None if w is None else w * self.size[1], c)

    def _check_input(self, shape):
        if len(shape) != 4:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected ndim=4, "
                             f"found ndim={len(shape)}. Full shape received: {tuple(shape)}")

    def forward(self, ctx, x, training, strip=False):
        ctx.xshape = list(x.shape)
        return _C.upsample2d_forward(x, self.size, self.interpolation)

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        return _C.upsample2d_backward(dy, ctx.xshape, self.size, self.interpolation), []

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": "channels_last",
                "interpolation": self.interpolation}


class UpSampling1D(Layer):
    """Repeats each step ``size`` times (Keras ``UpSampling1D``).

    Args:
        size: int factor (default 2).

    Shape:
        [batch, steps, C] → [batch, steps·size, C].

    Example:
        >>> UpSampling1D(3)(np.zeros((4, 5, 2), np.float32)).shape   # (4, 15, 2)
    """

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
            raise ValueError(f"UpSampling1D '{self.name}': size must be a positive int, got {size!r}")
        self.size = int(size)

    def compute_output_shape(self, input_shape):
        n, steps, c = input_shape
        return (n, None if steps is None else steps * self.size, c)

    def _check_input(self, shape):
        if len(shape) != 3:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected ndim=3, "
                             f"found ndim={len(shape)}. Full shape received: {tuple(shape)}")

    def forward(self, ctx, x, training, strip=False):
        n, steps, c = x.shape
        ctx.xshape = [n, 1, steps, c]
        y = _C.upsample2d_forward(x.reshape(n, 1, steps, c), (1, self.size), "nearest")
        return y.reshape(n, steps * self.size, c)

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        n, _, steps, c = ctx.xshape
        dx = _C.upsample2d_backward(dy.reshape(n, 1, steps * self.size, c), ctx.xshape, (1, self.size), "nearest")
        return dx.reshape(n, steps, c), []

    def get_config(self):
        return {**super().get_config(), "size": self.size}
