"""Weight regularizers (Keras 3): L1, L2, L1L2, OrthogonalRegularizer-free subset.

A regularizer adds ``penalty(w)`` to the training loss; its gradient is added to the weight's
gradient. Both are native kernel calls: L2 → factor·Σw² (gradient 2·factor·w), L1 → factor·Σ|w|
(gradient factor·sign(w)).

Example:
    >>> Dense(64, kernel_regularizer="l2")                 # L2(0.01), as in Keras
    >>> Dense(64, kernel_regularizer=L1L2(l1=1e-5, l2=1e-4))
"""
from . import _C

__all__ = ["Regularizer", "L1", "L2", "L1L2", "get", "serialize"]


class Regularizer:
    """Base class. Subclasses define ``l1`` and ``l2`` factors."""

    l1 = 0.0
    l2 = 0.0

    def __call__(self, x):
        """Penalty of a Tensor as a differentiable scalar Tensor."""
        from . import functional as F
        out = None
        if self.l1:
            out = F.mul(F.sum(F.abs(x)), self.l1)
        if self.l2:
            t = F.mul(F.sum(F.square(x)), self.l2)
            out = t if out is None else F.add(out, t)
        if out is None:
            out = F.mul(F.sum(x), 0.0)
        return out

    # array-level (used by the compiled training step)
    def penalty_array(self, w):
        """The penalty as a 0-d Array (native reductions)."""
        total = None
        if self.l1:
            total = _C.scale(_C.reduce("sum", _C.unary("abs", w), [], False), self.l1)
        if self.l2:
            t = _C.scale(_C.reduce("sum", _C.unary("square", w), [], False), self.l2)
            total = t if total is None else _C.binary("add", total, t)
        return total

    def add_grad_(self, grad, w):
        """grad += d penalty / d w, in place."""
        if self.l2:
            _C.axpy_(grad, 2.0 * self.l2, w)
        if self.l1:
            _C.axpy_(grad, self.l1, _C.unary("sign", w))

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.get_config().items())})"


def _check(name, v):
    v = float(v)
    if v < 0 or v != v:
        raise ValueError(f"{name}: factor must be a non-negative number, got {v}")
    return v


class L1(Regularizer):
    """factor · Σ|w| (Keras default factor 0.01)."""

    def __init__(self, l1=0.01):
        self.l1 = _check("L1", l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """factor · Σw² (Keras default factor 0.01)."""

    def __init__(self, l2=0.01):
        self.l2 = _check("L2", l2)

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """l1 · Σ|w| + l2 · Σw² (Keras defaults 0, 0)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _check("L1L2", l1)
        self.l2 = _check("L1L2", l2)


_ALIASES = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}


def get(identifier):
    """Resolve 'l1', 'l2', 'l1_l2', a class name, a config dict or an instance."""
    if identifier is None:
        return None
    if isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, dict):
        cls = _ALIASES.get(identifier["class_name"].lower())
        if cls is None:
            raise ValueError(f"Unknown regularizer {identifier['class_name']!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Unknown regularizer {identifier!r}; valid names: l1, l2, l1_l2")
        return cls()
    raise TypeError(f"Could not interpret regularizer identifier {identifier!r}")


def serialize(reg):
    return {"class_name": type(reg).__name__, "config": reg.get_config()}


# Keras 3 spells the classes in lower case too (``keras.regularizers.l2(1e-3)``): the same classes.
l1 = L1
l2 = L2
l1_l2 = L1L2
__all__ += ["l1", "l2", "l1_l2"]
