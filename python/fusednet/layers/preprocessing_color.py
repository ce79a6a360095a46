"""Colour augmentation layers (Keras 3 ``RandomContrast``, ``RandomBrightness``), channels last.

Like the geometric augmentation layers (layers/preprocessing.py) they are active only in
training and the identity at inference; a training call takes one Philox (seed, offset) pair
and image n's factor is lane 0 of Philox block n (column 0 of ``_C.random_uniform([N, 4], seed,
offset)``), so the same seed gives the same augmentation on any thread count. The maths is a few
native batch-wide calls (``_C.reduce`` for the per-image channel means, broadcasting
``_C.binary``, ``_C.clip``); no gradient flows through them (see ``_Augmentation``).
"""
import math

from .. import _C
from .preprocessing import _Augmentation, _num

__all__ = ["RandomContrast", "RandomBrightness"]


def _value_range(value_range, owner):
    if not (isinstance(value_range, (tuple, list)) and len(value_range) == 2 and all(_num(v) for v in value_range)):
        raise ValueError(f"{owner}: value_range must be a tuple or list of two numbers, got {value_range!r}")
    lo, hi = float(value_range[0]), float(value_range[1])
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ValueError(f"{owner}: value_range must be finite with lower < upper, got {value_range!r}")
    return lo, hi


class _ColorAugmentation(_Augmentation):
    def __init__(self, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.value_range = _value_range(value_range, self._owner())

    def _factors(self, n, lo, hi):
        """[n, 1, 1, 1]: lo + (hi - lo) · uniform01(lane 0 of Philox block i) for image i."""
        s, off = self._key()
        u = _C.slice_axis(_C.random_uniform([n, 4], s, off, lo, hi), 1, 0, 1)
        return u.reshape(n, 1, 1, 1)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range}


class RandomContrast(_ColorAugmentation):
    """Randomly adjusts the contrast of each image during training (Keras ``RandomContrast``).

    Image n gets a factor c ~ U[1 - lower, 1 + upper]; each channel becomes
    ``(x - mean) * c + mean`` (mean over the image's pixels, per channel), clipped to
    ``value_range``. Identity at inference.

    Args:
        factor: a float f (lower = upper = f) or a pair (lower, upper), each in [0, 1].
        value_range: (low, high) of the pixel values (default (0, 255)); outputs are clipped to it.
        seed: optional int; the k-th training call then uses the Philox pair (seed, k).

    Shape:
        [batch, H, W, C] → same shape.

    Example:
        >>> layer = RandomContrast(0.2, value_range=(0, 1), seed=3)
        >>> y = layer(np.random.rand(8, 32, 32, 3).astype(np.float32), training=True)
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        if _num(factor):
            lower = upper = float(factor)
        elif isinstance(factor, (tuple, list)) and len(factor) == 2 and all(_num(a) for a in factor):
            lower, upper = float(factor[0]), float(factor[1])
        else:
            raise ValueError(f"{self._owner()}: factor must be a float or a tuple of 2 floats, got {factor!r}")
        if not (0.0 <= lower <= 1.0 and 0.0 <= upper <= 1.0):
            raise ValueError(f"{self._owner()}: `factor` argument cannot have negative values or values greater "
                             f"than 1. Received: factor={factor!r}")
        self.factor = factor if _num(factor) else (lower, upper)
        self.lower, self.upper = lower, upper

    def _augment(self, x):
        n = x.shape[0]
        c = self._factors(n, 1.0 - self.lower, 1.0 + self.upper)
        mean = _C.reduce("mean", x, [1, 2], True)
        y = _C.binary("add", _C.binary("mul", _C.binary("sub", x, mean), c), mean)
        return _C.clip(y, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomBrightness(_ColorAugmentation):
    """Randomly shifts the brightness of each image during training (Keras ``RandomBrightness``).

    Image n gets ``delta = d · (high - low)`` with d ~ U[lower, upper]; ``x + delta`` is clipped to
    ``value_range = (low, high)``. Identity at inference.

    Args:
        factor: a float f (range (-f, f)) or a pair (lower, upper), each in [-1, 1].
        value_range: (low, high) of the pixel values (default (0, 255)).
        seed: optional int; the k-th training call then uses the Philox pair (seed, k).

    Shape:
        [batch, H, W, C] → same shape.

    Example:
        >>> layer = RandomBrightness(0.1, value_range=(0, 1), seed=3)
        >>> y = layer(np.random.rand(8, 32, 32, 3).astype(np.float32), training=True)
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        if _num(factor):
            f = float(factor)
            lower, upper = -abs(f), abs(f)
        elif isinstance(factor, (tuple, list)) and len(factor) == 2 and all(_num(a) for a in factor):
            lower, upper = sorted((float(factor[0]), float(factor[1])))
        else:
            raise ValueError(f"{self._owner()}: factor must be a float or a tuple of 2 floats, got {factor!r}")
        if not (-1.0 <= lower <= 1.0 and -1.0 <= upper <= 1.0):
            raise ValueError(f"{self._owner()}: The `factor` argument cannot have value outside the range of "
                             f"[-1.0, 1.0]. Received: factor={factor!r}")
        self.factor = factor if _num(factor) else (lower, upper)
        self.lower, self.upper = lower, upper

    def _augment(self, x):
        lo, hi = self.value_range
        d = self._factors(x.shape[0], self.lower * (hi - lo), self.upper * (hi - lo))
        return _C.clip(_C.binary("add", x, d), lo, hi)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
