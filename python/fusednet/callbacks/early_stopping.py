"""EarlyStopping: stop when a monitored metric stops improving."""
import warnings


from .base import Callback, _print
from ._monitor import _infer_direction, _monitored


class EarlyStopping(Callback):
    """Stop training when a monitored quantity has stopped improving.

    Args:
        monitor: log key to watch (default ``"val_loss"``).
        min_delta: minimum change that counts as an improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints a message when stopping / restoring.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the name: losses/errors go down, accuracy,
            AUC, precision, recall, F1 go up; a metric object's direction if the model lists it).
        baseline: value the monitored quantity must beat; training stops if it does not within
            ``patience`` epochs.
        restore_best_weights: restore the weights of the best epoch at the end of training.
        start_from_epoch: epochs to wait before monitoring (warm-up).

    Example:
        >>> cb = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
        >>> model.fit(x, y, validation_split=0.2, epochs=100, callbacks=[cb])
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(min_delta)
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"EarlyStopping mode {mode} is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        self.mode = mode
        self.monitor_op = None
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def _set_monitor_op(self):
        direction = {"min": "down", "max": "up"}.get(self.mode) or _infer_direction(self.monitor, self.model)
        if direction is None:
            raise ValueError(f"EarlyStopping callback received monitor={self.monitor} but fusednet isn't able "
                             f"to automatically determine whether that metric should be maximized or "
                             f"minimized. Pass `mode='max'` in order to do early stopping based on the "
                             f"highest metric value, or pass `mode='min'` in order to use the lowest value.")
        self._sign = 1.0 if direction == "up" else -1.0

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        # maximise: value - min_delta > ref ; minimise: value + min_delta < ref
        return self._sign * (value - reference) > self.min_delta

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def get_monitor_value(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(list((logs or {}).keys()))}", stacklevel=3)
            return None
        return _monitored(type(self).__name__, self.monitor, value)

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
            self.monitor_op = self._is_improvement
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)
