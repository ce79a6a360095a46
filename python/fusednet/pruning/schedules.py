"""Pruning schedules with the formulas of ``tfmot.sparsity.keras`` (ConstantSparsity, PolynomialDecay).

A schedule maps the pruning step (one per optimizer step) to ``(should_prune, sparsity)``:
the mask is recomputed only on steps where ``should_prune`` is True, i.e. inside
``[begin_step, end_step]`` (``end_step=-1``: forever) and on a multiple of ``frequency`` after
``begin_step`` -- tfmot's ``PruningSchedule._should_prune_in_step``. The arithmetic is done in
float32 as tfmot does (its values are ``tf.float32`` tensors).
"""
import numpy as np

__all__ = ["PruningSchedule", "ConstantSparsity", "PolynomialDecay"]


class PruningSchedule:
    """Base class: ``schedule(step) -> (should_prune: bool, sparsity: float)``.

    Args:
        begin_step, end_step, frequency: see the subclasses.

    Shape:
        Scalars only.

    Example:
        >>> ConstantSparsity(0.5, begin_step=0)(100)
        (True, 0.5)
    """

    @staticmethod
    def _should_prune_in_step(step, begin_step, end_step, frequency):
        in_range = step >= begin_step and (step <= end_step or end_step < 0)
        return bool(in_range and (step - begin_step) % frequency == 0)

    def _validate_step(self, begin_step, end_step, frequency, allow_negative_1):
        name = type(self).__name__
        for nm, v in (("begin_step", begin_step), ("end_step", end_step), ("frequency", frequency)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name}: {nm} must be an int, got {v!r}")
        if begin_step < 0:
            raise ValueError(f"{name}: begin_step should be >= 0, got {begin_step}")
        if not allow_negative_1 and end_step == -1:
            raise ValueError(f"{name}: end_step cannot be -1")
        if end_step != -1:
            if end_step < 0:
                raise ValueError(f"{name}: end_step can be -1 or >= 0, got {end_step}")
            if end_step < begin_step:
                raise ValueError(f"{name}: begin_step ({begin_step}) should be <= end_step ({end_step}) "
                                 f"if end_step != -1")
        if frequency <= 0:
            raise ValueError(f"{name}: frequency should be > 0, got {frequency}")

    @staticmethod
    def _validate_sparsity(sparsity, variable_name, owner):
        if not 0.0 <= float(sparsity) < 1.0:
            raise ValueError(f"{owner}: {variable_name} must be in range [0,1), got {sparsity}")

    def __call__(self, step):  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__}: a PruningSchedule subclass must define "
                                  f"__call__(step) -> (should_prune, sparsity)")

    def get_config(self):  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__}: a PruningSchedule subclass must define get_config()")

    def should_prune(self, step):
        """``self(step)[0]`` without the sparsity arithmetic: what the per-training-step hook asks
        (the built-in schedules answer with integer arithmetic only; a subclass may override)."""
        return bool(self(step)[0])

    @classmethod
    def from_config(cls, config):
        """Rebuild from :meth:`get_config` (the ``"config"`` part, or the whole dict)."""
        config = config.get("config", config)
        return cls(**config)


class ConstantSparsity(PruningSchedule):
    """Prune to a constant ``target_sparsity`` every ``frequency`` steps in ``[begin_step, end_step]``.

    Args:
        target_sparsity: fraction of zeros in [0, 1).
        begin_step: first step that prunes (>= 0).
        end_step: last step that may prune; -1 (default) = forever.
        frequency: prune every ``frequency`` steps (default 100).

    Shape:
        Scalars only.

    Example:
        >>> s = ConstantSparsity(0.8, begin_step=10, frequency=5)
        >>> s(15), s(16)
        ((True, 0.800000011920929), (False, 0.800000011920929))
    """

    def __init__(self, target_sparsity, begin_step, end_step=-1, frequency=100):
        self.target_sparsity = float(target_sparsity)
        self.begin_step, self.end_step, self.frequency = begin_step, end_step, frequency
        self._validate_step(begin_step, end_step, frequency, True)
        self._validate_sparsity(target_sparsity, "target_sparsity", "ConstantSparsity")

    def __call__(self, step):
        return (self._should_prune_in_step(int(step), self.begin_step, self.end_step, self.frequency),
                float(np.float32(self.target_sparsity)))

    def should_prune(self, step):
        return self._should_prune_in_step(int(step), self.begin_step, self.end_step, self.frequency)

    def get_config(self):
        return {"class_name": type(self).__name__,
                "config": {"target_sparsity": self.target_sparsity, "begin_step": self.begin_step,
                           "end_step": self.end_step, "frequency": self.frequency}}


class PolynomialDecay(PruningSchedule):
    """Sparsity rising from ``initial_sparsity`` to ``final_sparsity`` on a polynomial (tfmot).

    ``p = clip((step - begin_step) / (end_step - begin_step), 0, 1)``;
    ``sparsity = (initial - final) * (1 - p)**power + final``, in float32. With
    ``end_step == begin_step`` the division is 0/0 in tfmot; here p = 1 (the final sparsity).

    Args:
        initial_sparsity: sparsity at ``begin_step``, in [0, 1).
        final_sparsity: sparsity at and after ``end_step``, in [0, 1).
        begin_step: first pruning step (>= 0).
        end_step: last pruning step (>= begin_step; -1 is not allowed).
        power: exponent of the decay (default 3).
        frequency: prune every ``frequency`` steps (default 100).

    Shape:
        Scalars only.

    Example:
        >>> s = PolynomialDecay(0.0, 0.8, begin_step=0, end_step=1000)
        >>> round(s(500)[1], 4)
        0.7
    """

    def __init__(self, initial_sparsity, final_sparsity, begin_step, end_step, power=3, frequency=100):
        self.initial_sparsity, self.final_sparsity = float(initial_sparsity), float(final_sparsity)
        self.begin_step, self.end_step, self.frequency = begin_step, end_step, frequency
        self.power = power
        self._validate_step(begin_step, end_step, frequency, False)
        self._validate_sparsity(initial_sparsity, "initial_sparsity", "PolynomialDecay")
        self._validate_sparsity(final_sparsity, "final_sparsity", "PolynomialDecay")

    def __call__(self, step):
        f = np.float32
        span = self.end_step - self.begin_step
        p = f(1.0) if span == 0 else f(int(step) - self.begin_step) / f(span)
        p = min(f(1.0), max(f(0.0), p))
        s = f(f(self.initial_sparsity) - f(self.final_sparsity)) * f(np.power(f(1.0) - p, f(self.power))) \
            + f(self.final_sparsity)
        return (self._should_prune_in_step(int(step), self.begin_step, self.end_step, self.frequency),
                float(f(s)))

    def should_prune(self, step):
        return self._should_prune_in_step(int(step), self.begin_step, self.end_step, self.frequency)

    def get_config(self):
        return {"class_name": type(self).__name__,
                "config": {"initial_sparsity": self.initial_sparsity, "final_sparsity": self.final_sparsity,
                           "begin_step": self.begin_step, "end_step": self.end_step, "power": self.power,
                           "frequency": self.frequency}}


def deserialize(config):
    """A schedule from ``{"class_name": ..., "config": {...}}``."""
    cls = {"ConstantSparsity": ConstantSparsity, "PolynomialDecay": PolynomialDecay}.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"pruning: unknown schedule {config.get('class_name')!r}")
    return cls.from_config(config["config"])
