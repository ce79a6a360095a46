"""Regularisation noise layers (Keras ``GaussianNoise``, ``GaussianDropout``): active only in
training, the identity at inference. The noise is one ``_C.random_normal`` call over the input's
shape (Philox: a training call takes one (seed, offset) pair, from the layer's own stream when
``seed`` is given), applied with one broadcasting ``_C.binary``; the backward is the identity
(GaussianNoise) or ``dy * noise`` (GaussianDropout)."""
import math

import numpy as np

from .. import _C
from .. import random as _random
from .base import Layer

__all__ = ["GaussianNoise", "GaussianDropout"]


class _Noise(Layer):
    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"{type(self).__name__} '{self.name}': seed must be an int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._stream = _random.SeedStream(self.seed) if seed is not None else None

    def _noise(self, x, mean, std):
        s, off = self._stream.next() if self._stream is not None else _random.next_key()
        return _C.random_normal(list(x.shape), s, off, mean, std, x.device)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def _check_number(v, what, owner, lo, hi_open=None):
    ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v) \
        and v >= lo and (hi_open is None or v < hi_open)
    if not ok:
        rng = f"[{lo}, {hi_open})" if hi_open is not None else f">= {lo}"
        raise ValueError(f"{owner}: {what} must be a finite number {rng}, got {v!r}")
    return float(v)


class GaussianNoise(_Noise):
    """Adds zero-centred Gaussian noise in training (Keras ``GaussianNoise``).

    Args:
        stddev: standard deviation of the noise (>= 0).
        seed: optional int (the k-th training call uses the Philox pair (seed, k)).

    Shape:
        Any; output has the input's shape.

    Example:
        >>> GaussianNoise(0.1, seed=1)(np.zeros((2, 3), np.float32), training=True)
    """

    supports_masking = True   # passes its input mask on (Keras)

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.stddev = _check_number(stddev, "stddev", f"GaussianNoise '{self.name}'", 0.0)

    def forward(self, ctx, x, training, strip=False):
        if not training or self.stddev == 0.0:
            return x
        return _C.binary("add", x, self._noise(x, 0.0, self.stddev))

    def backward(self, ctx, dy, need_dx):
        return (dy if need_dx else None), []

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


class GaussianDropout(_Noise):
    """Multiplies by 1-centred Gaussian noise of std sqrt(rate / (1 - rate)) in training (Keras
    ``GaussianDropout``).

    Args:
        rate: drop probability it mimics, in [0, 1).
        seed: optional int (the k-th training call uses the Philox pair (seed, k)).

    Shape:
        Any; output has the input's shape.

    Example:
        >>> GaussianDropout(0.2, seed=1)(np.ones((2, 3), np.float32), training=True)
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _check_number(rate, "rate", f"GaussianDropout '{self.name}'", 0.0, 1.0)

    def forward(self, ctx, x, training, strip=False):
        if not training or self.rate == 0.0:
            ctx.noise = None
            return x
        ctx.noise = self._noise(x, 1.0, math.sqrt(self.rate / (1.0 - self.rate)))
        return _C.binary("mul", x, ctx.noise)

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        return (dy if ctx.noise is None else _C.binary("mul", dy, ctx.noise)), []

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}
