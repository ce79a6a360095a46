"""ModelCheckpoint: save the model or its weights every epoch or when a metric improves."""
import math
import os
import warnings


from .base import Callback, _print
from ._monitor import _infer_direction, _monitored


class ModelCheckpoint(Callback):
    """Save the model (or its weights) during training, atomically.

    Args:
        filepath: destination; may contain ``str.format`` fields filled from ``epoch`` (1-based),
            ``batch`` and the epoch logs, e.g. ``"ckpt/w-{epoch:02d}-{val_loss:.2f}.weights.safetensors"``.
        monitor: log key used with ``save_best_only``.
        verbose: 1 prints a line per save decision.
        save_best_only: only save when ``monitor`` improves (the latest best overwrites the file
            unless ``filepath`` is formatted).
        save_weights_only: save weights only (``model.save_weights``, else
            :func:`fusednet.io.save_model_weights`); otherwise the whole model (``model.save``, else
            :func:`fusednet.io.save_model`, a ``.fnet`` zip).
        mode: ``"auto"``, ``"min"`` or ``"max"`` for ``monitor``.
        save_freq: ``"epoch"`` or an int: save every that many training batches.
        initial_value_threshold: best value to beat initially (``save_best_only``).

    Example:
        >>> cb = ModelCheckpoint("best.weights.safetensors", monitor="val_accuracy",
        ...                      save_best_only=True, save_weights_only=True)
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"ModelCheckpoint mode '{mode}' is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        self.mode = mode
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"Unrecognized save_freq: {save_freq}. Expected save_freq are 'epoch' or "
                             f"a positive integer")
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        self.best = initial_value_threshold
        self._sign = None
        self._current_epoch = 0
        self._batches_seen_since_last_saving = 0

    def _direction(self):
        if self._sign is None:
            d = {"min": "down", "max": "up"}.get(self.mode) or _infer_direction(self.monitor, self.model) or "down"
            self._sign = 1.0 if d == "up" else -1.0
            if self.best is None:
                self.best = -math.inf * self._sign
        return self._sign

    def on_train_begin(self, logs=None):
        self._batches_seen_since_last_saving = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_seen_since_last_saving += 1
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _get_file_path(self, epoch, batch, logs):
        fields = dict(logs or {})
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as e:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {e}') from None

    def _save_model(self, epoch, batch, logs):
        logs = logs or {}
        path = self._get_file_path(epoch, batch, logs)
        if self.save_best_only:
            sign = self._direction()
            current = (_monitored("ModelCheckpoint", self.monitor, logs[self.monitor])
                       if logs.get(self.monitor) is not None else None)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available, skipping.", stacklevel=3)
                return
            if sign * (current - self.best) > 0:
                if self.verbose > 0:
                    _print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                           f"{current:.5f}, saving model to {path}")
                self.best = current
            else:
                if self.verbose > 0:
                    _print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
        elif self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: saving model to {path}")
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        from .. import io as fio
        if self.save_weights_only:
            if hasattr(self.model, "save_weights"):
                self.model.save_weights(path)
            else:
                fio.save_model_weights(self.model, path)
        else:
            if hasattr(self.model, "save"):
                self.model.save(path)
            else:
                fio.save_model(self.model, path)
