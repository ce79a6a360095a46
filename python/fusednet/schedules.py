"""Learning-rate schedules (Keras 3 formulas), evaluated on the host once per step.

A schedule maps the optimizer's iteration count (0 for the first update, as Keras'
``optimizer.iterations``) to the scalar learning rate handed to the fused optimizer kernel.

Example:
    >>> lr = ExponentialDecay(1e-3, decay_steps=1000, decay_rate=0.9)
    >>> opt = fusednet.optimizers.Adam(learning_rate=lr)
"""
import math

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "CosineDecay",
           "InverseTimeDecay", "get", "serialize"]


class LearningRateSchedule:
    """Base class: ``schedule(step) -> float``."""

    def __call__(self, step):  # pragma: no cover
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class ExponentialDecay(LearningRateSchedule):
    """lr · decay_rate^(step / decay_steps) (integer division when ``staircase``).

    Args:
        initial_learning_rate, decay_steps, decay_rate, staircase=False.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        if decay_steps <= 0:
            raise ValueError(f"ExponentialDecay: decay_steps must be > 0, got {decay_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = decay_steps
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        p = float(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate ** p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """lr / (1 + decay_rate · step / decay_steps)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps, self.decay_rate, self.staircase, self.name = decay_steps, float(decay_rate), staircase, name

    def __call__(self, step):
        p = float(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1.0 + self.decay_rate * p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[i] for boundaries[i-1] < step <= boundaries[i] (Keras semantics).

    Args:
        boundaries: increasing step numbers; values: one more entry than boundaries.
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: values must have one more element than boundaries "
                             f"({len(values)} values, {len(boundaries)} boundaries)")
        if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must be increasing, got {boundaries}")
        self.boundaries, self.values, self.name = list(boundaries), [float(v) for v in values], name

    def __call__(self, step):
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay with optional linear warmup (Keras 3).

    Without ``warmup_target``: lr·((1-alpha)·½(1+cos(π·min(step, decay_steps)/decay_steps)) + alpha).
    With it: linear warmup from ``initial_learning_rate`` to ``warmup_target`` over
    ``warmup_steps``, then cosine decay of ``warmup_target`` over ``decay_steps``.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        if decay_steps <= 0:
            raise ValueError(f"CosineDecay: decay_steps must be > 0, got {decay_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps, self.alpha, self.name = decay_steps, float(alpha), name
        self.warmup_target = None if warmup_target is None else float(warmup_target)
        self.warmup_steps = warmup_steps

    def _decay(self, step, lr):
        s = min(float(step), float(self.decay_steps))
        cos = 0.5 * (1.0 + math.cos(math.pi * s / self.decay_steps))
        return lr * ((1.0 - self.alpha) * cos + self.alpha)

    def __call__(self, step):
        if self.warmup_target is None:
            return self._decay(step, self.initial_learning_rate)
        if step < self.warmup_steps:
            frac = float(step) / self.warmup_steps
            return self.initial_learning_rate + (self.warmup_target - self.initial_learning_rate) * frac
        return self._decay(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


_CLASSES = {c.__name__: c for c in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, CosineDecay)}


def get(identifier):
    if isinstance(identifier, LearningRateSchedule):
        return identifier
    if isinstance(identifier, dict):
        return _CLASSES[identifier["class_name"]].from_config(identifier["config"])
    raise TypeError(f"Could not interpret learning-rate schedule {identifier!r}")


def serialize(s):
    return {"class_name": type(s).__name__, "config": s.get_config()}
