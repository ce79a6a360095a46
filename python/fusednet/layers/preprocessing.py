"""Image augmentation layers (Keras 3 names and defaults), channels last:
RandomFlip, RandomRotation, RandomTranslation, RandomZoom, RandomCrop.

They are active only when training (``fit``, or ``layer(x, training=True)``) and are the identity
at inference (``predict`` / ``evaluate``) — except RandomCrop, which centre-crops at inference so
the output shape does not change. Each training call is one native kernel over the batch:
``_C.flip_images``, ``_C.affine_transform`` (rotation / translation / zoom as Keras' 8-parameter
transforms) or ``_C.random_crop``. Randomness is per image and comes from the Philox stream: a
training call takes one ``(seed, offset)`` pair (from the layer's own stream when ``seed`` is
given, else from :mod:`fusednet.random`), and image n's parameters are lanes of Philox block n,
i.e. row n of ``_C.random_uniform([N, 4], seed, offset)`` — so the same seed gives the same
augmentation on any thread count.

These layers hold no weights and belong at the start of a model (Keras' advice too): no
gradient flows through a random transform, and asking for one (a trainable layer before an
augmentation layer, in training mode) raises a ValueError rather than silently cutting the graph.

Differences from Keras (documented, deliberate):
  * Only 4-D batches (N, H, W, C); Keras also accepts a single 3-D image.
  * RandomCrop draws one crop offset per image (Keras 3 draws one per batch); at inference it is
    a plain centre crop (Keras crops the largest centred region of the target aspect ratio and
    resizes it). A crop larger than the input is an error (Keras resizes up).
  * fill_mode 'wrap' interpolates across the seam (per-neighbour index wrap, like JAX/scipy);
    TF clamps there. 'mirror' is not offered.
"""
import math

import numpy as np

from .. import _C
from .. import random as _random
from ..tensor import Tensor, _state
from .base import Layer

__all__ = ["RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomCrop"]

_FILL_MODES = ("constant", "reflect", "wrap", "nearest")
_INTERPOLATIONS = ("bilinear", "nearest")


def _num(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _pair(v):
    """A factor as stored in configs: a list (what JSON gives back) becomes a tuple."""
    return tuple(v) if isinstance(v, list) else v


def _factor_range(factor, what, owner, bound=1.0, symmetric_min=None):
    """Keras factor parsing: a number f means (-f, f), a pair means (lower, upper).

    ``bound``: |lower|, |upper| must be <= bound (None: no upper bound); ``symmetric_min``: the
    lower limit instead (RandomZoom: >= -1)."""
    if _num(factor):
        f = float(factor)
        if f < 0:
            raise ValueError(f"{owner}: {what} cannot be negative when given as a single number (it means "
                             f"the range (-{what}, {what})), got {factor!r}")
        lo, hi = -f, f
    elif isinstance(factor, (tuple, list)) and len(factor) == 2 and all(_num(a) for a in factor):
        lo, hi = float(factor[0]), float(factor[1])
    else:
        raise ValueError(f"{owner}: {what} must be a float or a tuple of 2 floats (lower, upper), got {factor!r}")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{owner}: {what} must be finite, got {factor!r}")
    if lo > hi:
        raise ValueError(f"{owner}: {what} lower bound {lo} is greater than the upper bound {hi}")
    if symmetric_min is not None:
        if lo < symmetric_min:
            raise ValueError(f"{owner}: {what} must be >= {symmetric_min}, got {factor!r}")
    elif bound is not None and (abs(lo) > bound or abs(hi) > bound):
        raise ValueError(f"{owner}: {what} must be within [-{bound}, {bound}], got {factor!r}")
    return lo, hi


def _choice(v, allowed, what, owner):
    if not isinstance(v, str) or v.lower() not in allowed:
        raise ValueError(f"{owner}: {what} must be one of {', '.join(repr(a) for a in allowed)}, got {v!r}")
    return v.lower()


class _Augmentation(Layer):
    """Shared machinery: seeding, 4-D checks, identity at inference, CPU fallback, no gradients."""


    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{self._owner()}: only data_format='channels_last' is supported, got {data_format!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"{self._owner()}: seed must be an int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._stream = _random.SeedStream(self.seed) if seed is not None else None
        self._applied = False

    def _owner(self):
        return f"{type(self).__name__} '{self.name}'"

    def _key(self):
        return self._stream.next() if self._stream is not None else _random.next_key()

    def _check_input(self, shape):
        if len(shape) != 4:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: {type(self).__name__} "
                             f"expects a 4-D batch of images (batch, height, width, channels), found ndim="
                             f"{len(shape)}. Full shape received: {tuple(shape)}")

    # subclasses: _augment(x Array on CPU) -> Array; _infer(x) -> Array (default identity)
    def _infer(self, x):
        return x

    def _run(self, x, training):
        if len(x.shape) != 4:
            self._check_input(x.shape)
        if not training:
            return self._infer(x)
        if x.device != "cpu":   # CPU kernels only for now: round-trip (augmentation is input-side)
            return self._augment(x.to("cpu")).to(x.device)
        return self._augment(x)

    def _no_grad_error(self):
        return ValueError(f"{self._owner()}: cannot backpropagate through a random augmentation; put "
                          f"augmentation layers at the start of the model (they have no weights)")

    def call(self, inputs, training=None):
        if training and _state.enabled and inputs.requires_grad:
            raise self._no_grad_error()
        return Tensor._wrap(self._run(inputs.data, bool(training)))

    def forward(self, ctx, x, training, strip=False):
        ctx.applied = bool(training)
        return self._run(x, bool(training))

    def backward(self, ctx, dy, need_dx):
        # need_dx is true only when something upstream has weights: a gradient through a random
        # transform is then required and cannot be given.
        if not need_dx or dy is None:
            return None, []
        if ctx.applied:
            raise self._no_grad_error()
        return dy, []

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "data_format": "channels_last"}


class RandomFlip(_Augmentation):
    """Randomly flips each image horizontally and/or vertically during training (Keras
    ``RandomFlip``); identity at inference.

    Each image is flipped left-right with probability 1/2 (modes with 'horizontal') and,
    independently, upside-down with probability 1/2 (modes with 'vertical').

    Args:
        mode: 'horizontal', 'vertical' or 'horizontal_and_vertical' (default).
        seed: optional int; the k-th training call then uses the Philox pair (seed, k).

    Shape:
        [batch, H, W, C] → same shape.

    Example:
        >>> model = fusednet.Sequential([Input((28, 28, 1)), RandomFlip("horizontal", seed=1),
        ...                              Conv2D(8, 3), Flatten(), Dense(10)])
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.mode = _choice(mode, ("horizontal", "vertical", "horizontal_and_vertical"), "mode", self._owner())

    def _augment(self, x):
        s, off = self._key()
        return _C.flip_images(x, "horizontal" in self.mode, "vertical" in self.mode, s, off)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class _AffineAugmentation(_Augmentation):
    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.fill_mode = _choice(fill_mode, _FILL_MODES, "fill_mode", self._owner())
        self.interpolation = _choice(interpolation, _INTERPOLATIONS, "interpolation", self._owner())
        if not _num(fill_value) or not math.isfinite(float(fill_value)):
            raise ValueError(f"{self._owner()}: fill_value must be a finite number, got {fill_value!r}")
        self.fill_value = float(fill_value)

    def _uniforms(self, n):
        """[n, 4] float64 uniforms in [0, 1): row i = the four lanes of Philox block i."""
        s, off = self._key()
        return np.asarray(_C.random_uniform([n, 4], s, off)).astype(np.float64)

    def _augment(self, x):
        n, h, w, _ = x.shape
        params = self._params(self._uniforms(n), h, w)
        return _C.affine_transform(x, _C.asarray(np.ascontiguousarray(params, np.float32)), self.interpolation,
                                   self.fill_mode, self.fill_value)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


def _lerp(lo, hi, u):
    return lo + (hi - lo) * u


class RandomRotation(_AffineAugmentation):
    """Rotates each image by a random angle during training (Keras ``RandomRotation``); identity
    at inference.

    The angle is uniform in ``[lower, upper] · 2π`` (positive = counter-clockwise); the rotation is
    about the image centre, with Keras' transform matrix
    ``[cos, -sin, x_off, sin, cos, y_off, 0, 0]``.

    Args:
        factor: float f (range (-f, f)) or tuple (lower, upper), as fractions of a full turn,
            each within [-1, 1]. E.g. 0.1 rotates by up to ±36°.
        fill_mode: 'reflect' (default), 'constant', 'wrap' or 'nearest' — how points outside the
            image are filled.
        interpolation: 'bilinear' (default) or 'nearest'.
        seed: optional int.
        fill_value: value for fill_mode='constant' (default 0.0).

    Shape:
        [batch, H, W, C] → same shape.

    Example:
        >>> aug = RandomRotation(0.05, fill_mode="constant", seed=0)
        >>> y = aug(x, training=True)          # x: [N, 28, 28, 1]
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.factor = factor if not isinstance(factor, list) else tuple(factor)
        self._range = _factor_range(factor, "factor", self._owner())

    def _params(self, u, h, w):
        lo, hi = self._range
        ang = _lerp(lo * 2 * math.pi, hi * 2 * math.pi, u[:, 0])
        c, s = np.cos(ang), np.sin(ang)
        x_off = ((w - 1) - (c * (w - 1) - s * (h - 1))) / 2.0
        y_off = ((h - 1) - (s * (w - 1) + c * (h - 1))) / 2.0
        z = np.zeros_like(c)
        return np.stack([c, -s, x_off, s, c, y_off, z, z], 1)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomTranslation(_AffineAugmentation):
    """Shifts each image by a random offset during training (Keras ``RandomTranslation``);
    identity at inference.

    The vertical shift is ``uniform(lower, upper) · H`` pixels (positive = down), the horizontal
    one ``uniform(lower, upper) · W`` (positive = right); sub-pixel shifts are interpolated.

    Args:
        height_factor: float f (range (-f, f)) or tuple (lower, upper), fractions of the height
            within [-1, 1].
        width_factor: the same for the width.
        fill_mode: 'reflect' (default), 'constant', 'wrap' or 'nearest'.
        interpolation: 'bilinear' (default) or 'nearest'.
        seed: optional int. fill_value: for fill_mode='constant' (default 0.0).

    Shape:
        [batch, H, W, C] → same shape.

    Example:
        >>> RandomTranslation(0.1, 0.1, fill_mode="constant")(x, training=True)
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._hr = _factor_range(height_factor, "height_factor", self._owner())
        self._wr = _factor_range(width_factor, "width_factor", self._owner())

    def _params(self, u, h, w):
        dy = _lerp(*self._hr, u[:, 0]) * h
        dx = _lerp(*self._wr, u[:, 1]) * w
        one, z = np.ones_like(dx), np.zeros_like(dx)
        return np.stack([one, z, -dx, z, one, -dy, z, z], 1)

    def get_config(self):
        return {**super().get_config(), "height_factor": _pair(self.height_factor),
                "width_factor": _pair(self.width_factor)}


class RandomZoom(_AffineAugmentation):
    """Zooms each image in or out by a random amount during training (Keras ``RandomZoom``);
    identity at inference.

    The vertical zoom is ``1 + uniform(lower, upper)``: positive factors zoom out (the image
    shrinks), negative factors zoom in. With ``width_factor=None`` the same draw is used for both
    axes (aspect ratio preserved), as Keras does.

    Args:
        height_factor: float f (range (-f, f)) or tuple (lower, upper), each >= -1.
        width_factor: the same for the width, or None (default) to follow the height.
        fill_mode: 'reflect' (default), 'constant', 'wrap' or 'nearest'.
        interpolation: 'bilinear' (default) or 'nearest'.
        seed: optional int. fill_value: for fill_mode='constant' (default 0.0).

    Shape:
        [batch, H, W, C] → same shape.

    Example:
        >>> RandomZoom((-0.2, 0.2), fill_mode="constant")(x, training=True)
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._hr = _factor_range(height_factor, "height_factor", self._owner(), symmetric_min=-1.0)
        self._wr = None if width_factor is None else \
            _factor_range(width_factor, "width_factor", self._owner(), symmetric_min=-1.0)

    def _params(self, u, h, w):
        zy = 1.0 + _lerp(*self._hr, u[:, 0])
        zx = zy if self._wr is None else 1.0 + _lerp(*self._wr, u[:, 1])
        z = np.zeros_like(zx)
        return np.stack([zx, z, (w - 1) / 2.0 * (1.0 - zx), z, zy, (h - 1) / 2.0 * (1.0 - zy), z, z], 1)

    def get_config(self):
        return {**super().get_config(), "height_factor": _pair(self.height_factor),
                "width_factor": _pair(self.width_factor)}


class RandomCrop(_Augmentation):
    """Crops each image to ``(height, width)`` at a random position during training, and at the
    centre at inference (Keras ``RandomCrop``; see the module notes for the differences).

    Args:
        height, width: the output size; must not exceed the input's.
        seed: optional int.

    Shape:
        [batch, H, W, C] → [batch, height, width, C].

    Example:
        >>> model = fusednet.Sequential([Input((32, 32, 3)), RandomCrop(28, 28), Conv2D(16, 3)])
    """

    def __init__(self, height, width, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        for what, v in (("height", height), ("width", width)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{self._owner()}: {what} must be a positive integer, got {v!r}")
        self.height, self.width = int(height), int(width)
        self._center = None

    def _check_input(self, shape):
        super()._check_input(shape)
        h, w = shape[1], shape[2]
        if (h is not None and h < self.height) or (w is not None and w < self.width):
            raise ValueError(f"{self._owner()}: crop size ({self.height}, {self.width}) is larger than the input "
                             f"images {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def _augment(self, x):
        self._check_input(x.shape)
        s, off = self._key()
        return _C.random_crop(x, self.height, self.width, s, off, True)

    def _infer(self, x):
        self._check_input(x.shape)
        h, w = x.shape[1], x.shape[2]
        t, l = (h - self.height) // 2, (w - self.width) // 2
        self._center = (t, h - self.height - t, l, w - self.width - l)
        if x.device != "cpu":
            return _C.random_crop(x.to("cpu"), self.height, self.width, 0, 0, False).to(x.device)
        return _C.random_crop(x, self.height, self.width, 0, 0, False)

    def call(self, inputs, training=None):
        if not training and _state.enabled and inputs.requires_grad:
            from .reshaping import cropping2d
            self._check_input(inputs.shape)
            h, w = inputs.shape[1], inputs.shape[2]
            t, l = (h - self.height) // 2, (w - self.width) // 2
            return cropping2d(inputs, t, h - self.height - t, l, w - self.width - l)
        return super().call(inputs, training)

    def backward(self, ctx, dy, need_dx):
        if need_dx and dy is not None and not ctx.applied:
            return _C.crop2d_backward(dy, *self._center), []
        return super().backward(ctx, dy, need_dx)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
