"""Learning-rate callbacks: LearningRateScheduler and ReduceLROnPlateau."""
import math
import warnings

import numpy as np

from .base import Callback, _print
from ._monitor import _get_lr, _monitored


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of every epoch from ``schedule``.

    Args:
        schedule: ``f(epoch, lr) -> new_lr`` (or ``f(epoch) -> new_lr``); epoch is 0-based.
        verbose: 1 prints the new rate.

    Example:
        >>> cb = LearningRateScheduler(lambda epoch, lr: lr if epoch < 10 else lr * 0.9)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = _get_lr(self.model, "LearningRateScheduler")
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:  # schedule(epoch) only
            lr = self.schedule(epoch)
        if isinstance(lr, np.ndarray) and lr.ndim == 0:
            lr = lr.item()
        if not isinstance(lr, (float, int, np.floating, np.integer)) or isinstance(lr, bool):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {lr}")
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _get_lr(self.model, "LearningRateScheduler")


class ReduceLROnPlateau(Callback):
    """Reduce the learning rate when a metric has stopped improving.

    Args:
        monitor: log key to watch (default ``"val_loss"``).
        factor: new_lr = lr * factor (must be < 1).
        patience: epochs with no improvement before reducing.
        verbose: 1 prints reductions.
        mode: ``"auto"`` (max if "acc" in the name, else min), ``"min"`` or ``"max"``.
        min_delta: threshold for measuring a new optimum.
        cooldown: epochs to wait after a reduction before resuming normal operation.
        min_lr: lower bound on the learning rate.

    Example:
        >>> cb = ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=1e-5)
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.monitor = monitor
        self.factor = factor
        self.min_lr = min_lr
        self.min_delta = min_delta
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0
        self.best = 0
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"Learning rate reduction mode {mode} is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        self.mode = mode
        self._reset()

    def _reset(self):
        if self.mode == "min" or (self.mode == "auto" and "acc" not in self.monitor):
            self.monitor_op = lambda a, b: a < b - self.min_delta
            self.best = math.inf
        else:
            self.monitor_op = lambda a, b: a > b + self.min_delta
            self.best = -math.inf
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _get_lr(self.model, "ReduceLROnPlateau")
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(list(logs.keys()))}.", stacklevel=2)
            return
        current = _monitored("ReduceLROnPlateau", self.monitor, current)
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = _get_lr(self.model, "ReduceLROnPlateau")
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        _print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0
