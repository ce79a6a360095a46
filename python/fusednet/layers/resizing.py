"""The ``Resizing`` preprocessing layer (Keras ``keras.layers.Resizing``): one native call,
``_C.resize_images`` (nearest / bilinear / bicubic with half-pixel centres, as ``tf.image.resize`` and
``torch.nn.functional.interpolate(align_corners=False)``; area, lanczos3 / lanczos5, gaussian and
mitchellcubic as TF / JAX;
antialias as torch / TF; see csrc/cpu/resize.h)."""
import numpy as np

from .. import _C
from .base import Layer, unique_name

__all__ = ["Resizing"]

_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic")


class Resizing(Layer):
    """Resizes images to ``(height, width)`` (Keras ``Resizing``), channels last.

    Preprocessing: the output is a fixed function of the input, computed by the native
    ``_C.resize_images`` kernel (no gradient: put the layer at the start of a model, before any
    layer with weights). Values are not rescaled (inputs in [0, 255] stay in [0, 255]).

    Args:
        height: output height (int > 0).
        width: output width (int > 0).
        interpolation: ``"bilinear"`` (default), ``"nearest"``, ``"bicubic"`` (PyTorch's
            A = -0.75 kernel, as Keras on the torch backend), ``"area"`` (TF's exact-overlap box
            average), ``"lanczos3"`` / ``"lanczos5"`` (TF / JAX / Keras-NumPy kernels),
            ``"gaussian"`` / ``"mitchellcubic"`` (TF's ``tf.image.resize`` kernels).
        antialias: stretch the filter by the downscale factor when shrinking (bilinear and
            bicubic as torch ``antialias=True``, bicubic then with Keys A = -0.5; lanczos as TF);
            ignored for "nearest" and "area". Default False (Keras).
        crop_to_aspect_ratio: if True, resize the largest centred crop of each image that has the
            target aspect ratio (no distortion), as Keras.
        pad_to_aspect_ratio: only False is supported.
        data_format: only 'channels_last' (None) is supported.

    Shape:
        ``[batch, H, W, C]`` → ``[batch, height, width, C]`` (an unbatched ``[H, W, C]`` image
        gives ``[height, width, C]``).

    Example:
        >>> Resizing(32, 48)(np.ones((2, 64, 64, 3), np.float32)).shape   # (2, 32, 48, 3)
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, data_format=None, antialias=False, **kwargs):
        if kwargs.get("name") is None:
            kwargs["name"] = unique_name("resizing")
        super().__init__(**kwargs)
        owner = f"Resizing '{self.name}'"
        for what, v in (("height", height), ("width", width)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{owner}: {what} must be a positive int, got {v!r}")
        if not isinstance(interpolation, str) or interpolation.lower() not in _INTERPOLATIONS:
            raise ValueError(f"{owner}: interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
        if pad_to_aspect_ratio:
            raise ValueError(f"{owner}: pad_to_aspect_ratio=True is not supported (use crop_to_aspect_ratio)")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, got {data_format!r}")
        self.height, self.width = int(height), int(width)
        self.interpolation = interpolation.lower()
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.antialias = bool(antialias)

    def _check_input(self, shape):
        if len(shape) not in (3, 4):
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: Resizing expects "
                             f"images (batch, height, width, channels) or (height, width, channels), found "
                             f"ndim={len(shape)}. Full shape received: {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        s = tuple(input_shape)
        return s[:-3] + (self.height, self.width, s[-1])

    def forward(self, ctx, x, training, strip=False):
        self._check_input(x.shape)
        unbatched = len(x.shape) == 3
        if unbatched:
            x = x.reshape([1, *x.shape])
        y = _C.resize_images(x, self.height, self.width, self.interpolation, self.crop_to_aspect_ratio,
                             self.antialias)
        return y.reshape(list(y.shape[1:])) if unbatched else y

    def backward(self, ctx, dy, need_dx):
        if not need_dx or dy is None:
            return None, []
        raise ValueError(f"Resizing '{self.name}': no gradient through resizing (it is preprocessing); put "
                         f"the layer before any layer with weights")

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "antialias": self.antialias,
                "data_format": "channels_last"}
