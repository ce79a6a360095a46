"""Weight initializers (Keras 3 names, formulas and defaults) on the Philox kernels.

Random initializers draw from ``_C.random_uniform/normal/truncated_normal`` with a ``(seed, offset)``
pair: with ``seed=None`` the pair comes from the global stream (:mod:`fusednet.random`), otherwise
it is ``(seed, 0)`` so the same seed gives the same weights on CPU and CUDA, any thread count.
``Orthogonal`` draws its normal matrix the same way and orthogonalises it with NumPy's QR at
init time (a one-off host computation, not a training hot loop).

Example:
    >>> init = fusednet.initializers.get("he_normal")
    >>> w = init((784, 128))          # fusednet.Array float32
"""
import math

import numpy as np

from . import _C
from . import random as _random

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal",
           "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform",
           "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal", "Identity", "get", "serialize"]

_TRUNC_STD = 0.87962566103423978  # std of a unit normal truncated to [-2, 2]


def _shape(shape):
    try:
        return [int(s) for s in shape]
    except TypeError:
        raise TypeError(f"initializer: shape must be a sequence of ints, got {shape!r}") from None


def compute_fans(shape):
    """Keras ``compute_fans``: (fan_in, fan_out) for dense and conv kernels."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    rf = 1
    for s in shape[:-2]:
        rf *= s
    return shape[-2] * rf, shape[-1] * rf


class Initializer:
    """Base class: ``init(shape, dtype='float32') -> fusednet.Array``."""

    def __call__(self, shape, dtype="float32"):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _key(self):
        seed = getattr(self, "seed", None)
        if seed is None:
            return _random.next_key()
        return int(seed), 0

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype="float32"):
        return _C.zeros(_shape(shape), dtype=dtype)


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype="float32"):
        return _C.full(_shape(shape), 1.0, dtype=dtype)


class Constant(Initializer):
    """Every element equal to ``value``.

    Args:
        value: scalar.
    """

    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, dtype="float32"):
        return _C.full(_shape(shape), self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    """Uniform in [minval, maxval) (Keras defaults -0.05, 0.05)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = float(minval), float(maxval), seed

    def __call__(self, shape, dtype="float32"):
        s, off = self._key()
        return _C.random_uniform(_shape(shape), s, off, self.minval, self.maxval)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    """Normal(mean, stddev) (Keras defaults 0, 0.05)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = float(mean), float(stddev), seed

    def __call__(self, shape, dtype="float32"):
        s, off = self._key()
        return _C.random_normal(_shape(shape), s, off, self.mean, self.stddev)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """Normal(mean, stddev) with values beyond 2 stddev redrawn (Keras semantics)."""

    def __call__(self, shape, dtype="float32"):
        s, off = self._key()
        return _C.random_truncated_normal(_shape(shape), s, off, self.mean, self.stddev)


class VarianceScaling(Initializer):
    """Keras VarianceScaling.

    Args:
        scale: positive float.
        mode: 'fan_in', 'fan_out' or 'fan_avg'.
        distribution: 'truncated_normal', 'untruncated_normal' (or 'normal') or 'uniform'.
        seed: int or None.
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTS = ("truncated_normal", "untruncated_normal", "normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if scale <= 0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale}")
        if mode not in self._MODES:
            raise ValueError(f"VarianceScaling: mode must be one of {self._MODES}, got {mode!r}")
        distribution = distribution.lower()
        if distribution not in self._DISTS:
            raise ValueError(f"VarianceScaling: distribution must be one of {self._DISTS}, got {distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = float(scale), mode, distribution, seed

    def __call__(self, shape, dtype="float32"):
        shape = _shape(shape)
        fan_in, fan_out = compute_fans(shape)
        scale = self.scale
        if self.mode == "fan_in":
            scale /= max(1.0, fan_in)
        elif self.mode == "fan_out":
            scale /= max(1.0, fan_out)
        else:
            scale /= max(1.0, (fan_in + fan_out) / 2.0)
        s, off = self._key()
        if self.distribution == "truncated_normal":
            return _C.random_truncated_normal(shape, s, off, 0.0, math.sqrt(scale) / _TRUNC_STD)
        if self.distribution in ("untruncated_normal", "normal"):
            return _C.random_normal(shape, s, off, 0.0, math.sqrt(scale))
        limit = math.sqrt(3.0 * scale)
        return _C.random_uniform(shape, s, off, -limit, limit)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


class GlorotUniform(VarianceScaling):
    """Uniform in ±sqrt(6 / (fan_in + fan_out)) (Keras Dense default)."""

    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotNormal(VarianceScaling):
    """Truncated normal, stddev sqrt(2 / (fan_in + fan_out))."""

    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class HeUniform(VarianceScaling):
    """Uniform in ±sqrt(6 / fan_in)."""

    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class HeNormal(VarianceScaling):
    """Truncated normal, stddev sqrt(2 / fan_in)."""

    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class LecunUniform(VarianceScaling):
    """Uniform in ±sqrt(3 / fan_in)."""

    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class LecunNormal(VarianceScaling):
    """Truncated normal, stddev sqrt(1 / fan_in)."""

    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class Orthogonal(Initializer):
    """Orthogonal matrix (Keras semantics) times ``gain``.

    The normal draw uses Philox; the QR factorisation uses NumPy (init time only).
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = float(gain), seed

    def __call__(self, shape, dtype="float32"):
        shape = _shape(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: shape must have rank >= 2, got {tuple(shape)}")
        rows = 1
        for s in shape[:-1]:
            rows *= s
        cols = shape[-1]
        flat = (max(rows, cols), min(rows, cols))
        s, off = self._key()
        a = np.asarray(_C.random_normal(list(flat), s, off, 0.0, 1.0), dtype=np.float64)
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        out = (self.gain * q).reshape(shape).astype(np.float32)
        return _C.asarray(np.ascontiguousarray(out))

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """``gain`` times the identity (2-D shapes only)."""

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def __call__(self, shape, dtype="float32"):
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity: shape must be 2-D, got {tuple(shape)}")
        return _C.asarray(np.eye(shape[0], shape[1], dtype=np.float32) * np.float32(self.gain))

    def get_config(self):
        return {"gain": self.gain}


_ALIASES = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_uniform": RandomUniform,
    "random_normal": RandomNormal, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "orthogonal": Orthogonal,
    "identity": Identity,
}
_BY_CLASS = {}
for _k, _v in _ALIASES.items():
    _BY_CLASS.setdefault(_v.__name__.lower(), _v)


def get(identifier):
    """Resolve a Keras initializer identifier: name, class name, dict config, instance or callable."""
    if identifier is None:
        return None
    if isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, type)):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, dict):
        cls = get(identifier["class_name"])
        return type(cls).from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        key = identifier
        cls = _ALIASES.get(key) or _BY_CLASS.get(key.lower()) or _ALIASES.get(key.lower())
        if cls is None:
            raise ValueError(f"Unknown initializer {identifier!r}; valid names: {', '.join(sorted(_ALIASES))}")
        return cls()
    raise TypeError(f"Could not interpret initializer identifier {identifier!r}")


def serialize(init):
    """``{'class_name': ..., 'config': ...}`` for an initializer."""
    return {"class_name": type(init).__name__, "config": init.get_config()}
