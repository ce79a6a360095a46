"""Training callbacks with Keras 3 hook names and semantics.

``Model.fit`` wraps its callbacks in a :class:`CallbackList` (adding :class:`History` and
:class:`ProgbarLogger`), calls ``set_model``/``set_params`` and then the hooks
``on_train_begin``, ``on_epoch_begin``, ``on_train_batch_begin/end``, ``on_test_*`` (validation),
``on_epoch_end`` and ``on_train_end``. A callback stops training by setting
``model.stop_training = True``.

The model is duck-typed: callbacks use only ``get_weights()``, ``set_weights()``,
``optimizer.learning_rate``, ``stop_training``, ``save_weights()``/``save()`` (falling back to
:mod:`fusednet.io`) and, optionally, ``metrics`` (to infer whether a monitored metric goes up).
"""
import csv
import math
import os
import sys
import warnings

import numpy as np

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
           "LearningRateScheduler", "ReduceLROnPlateau", "TerminateOnNaN", "CSVLogger", "LambdaCallback"]

_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
          "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
          "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
          "on_predict_batch_begin", "on_predict_batch_end")


def _print(msg):
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


class Callback:
    """Base class: override the hooks you need (all no-ops here).

    Attributes:
        model: the model being trained (set by ``set_model``).
        params: dict with ``verbose``, ``epochs``, ``steps`` (set by ``set_params``).

    Example:
        >>> class PrintLoss(Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(epoch, logs["loss"])
        >>> model.fit(x, y, callbacks=[PrintLoss()])
    """

    def __init__(self):
        self.params = None
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    def on_batch_begin(self, batch, logs=None):
        """Alias kept for Keras 2 code; called by ``on_train_batch_begin``."""

    def on_batch_end(self, batch, logs=None):
        """Alias kept for Keras 2 code; called by ``on_train_batch_end``."""

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass


class CallbackList(Callback):
    """Container that forwards every hook to its callbacks, in order.

    Args:
        callbacks: list of Callback (or None).
        add_history: append a :class:`History` unless one is present.
        add_progbar: append a :class:`ProgbarLogger` unless one is present.
        model: model passed to ``set_model`` of every callback.
        **params: passed to ``set_params`` (``verbose``, ``epochs``, ``steps``).

    Example:
        >>> cbs = CallbackList([EarlyStopping()], add_history=True, add_progbar=True,
        ...                    model=model, verbose=1, epochs=5, steps=100)
        >>> cbs.on_train_begin()
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback) and not isinstance(callbacks, CallbackList):
            callbacks = [callbacks]
        self.callbacks = list(callbacks)
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        self._progbar = next((c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        if add_history and self._history is None:
            self._history = History()
            self.callbacks.append(self._history)
        if add_progbar and self._progbar is None:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def append(self, callback):
        self.callbacks.append(callback)

    def set_params(self, params):
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    def set_model(self, model):
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)


def _make_dispatch(hook, with_index):
    if with_index:
        def dispatch(self, index, logs=None):
            logs = logs if logs is not None else {}
            for cb in self.callbacks:
                getattr(cb, hook)(index, logs)
    else:
        def dispatch(self, logs=None):
            logs = logs if logs is not None else {}
            for cb in self.callbacks:
                getattr(cb, hook)(logs)
    dispatch.__name__ = hook
    return dispatch


for _h in _HOOKS + ("on_batch_begin", "on_batch_end"):
    setattr(CallbackList, _h, _make_dispatch(_h, "epoch" in _h or "batch" in _h))


class History(Callback):
    """Records epoch logs; ``fit`` returns it and sets ``model.history``.

    Attributes:
        history: dict ``{metric_name: [value per epoch]}``.
        epoch: list of epoch indices seen.

    Example:
        >>> h = model.fit(x, y, epochs=3)
        >>> h.history["loss"]
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints progress to stdout: ``verbose=1`` a live bar per epoch with ETA, loss and metrics;
    ``verbose=2`` one line per epoch. ``fit`` adds it automatically when ``verbose`` is non-zero.

    Example:
        >>> CallbackList([ProgbarLogger()], verbose=2, epochs=3, steps=10)
    """

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs = params.get("epochs", 1) or 1
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_predict_begin(self, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose and self.epochs > 1:
            _print(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update_progbar(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._update_progbar(batch, None)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize_progbar(logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs=None):
        self._finalize_progbar(logs)

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def _reset_progbar(self):
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self):
        if self.progbar is None:
            from .utils.progbar import Progbar
            self.progbar = Progbar(target=self.target, verbose=self.verbose, stateful_metrics="all",
                                   unit_name="step")

    def _update_progbar(self, batch, logs=None):
        self._maybe_init_progbar()
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finalize_progbar(self, logs):
        self._maybe_init_progbar()
        target = self.target if self.target is not None else self.seen
        self.progbar.target = target
        self.progbar.update(target, list((logs or {}).items()), finalize=True)


# ---------------------------------------------------------------------------------------------
# monitoring helpers

_UP_WORDS = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2")
_DOWN_WORDS = ("loss", "error", "mse", "mae", "mape", "msle", "crossentropy", "hinge", "divergence")


def _infer_direction(monitor, model):
    """'up' / 'down' / None for a monitored log key (``val_`` prefix ignored)."""
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss":
        return "down"
    for m in getattr(model, "metrics", None) or []:
        if getattr(m, "name", None) == name and getattr(m, "_direction", None) in ("up", "down"):
            return m._direction
    low = name.lower()
    if any(w in low for w in _DOWN_WORDS):
        return "down"
    if any(w in low for w in _UP_WORDS):
        return "up"
    return None


def _float(v):
    try:
        return float(np.asarray(v))
    except (TypeError, ValueError):
        return None


def _monitored(who, monitor, v):
    """A monitored log value as a float; an array-valued metric (e.g. per-class F1) is an error."""
    a = np.asarray(v.numpy() if hasattr(v, "numpy") and not isinstance(v, np.ndarray) else v)
    if a.size != 1:
        raise ValueError(f"{who}: monitored value {monitor!r} is array-valued (shape {a.shape}); "
                         f"monitor a scalar (e.g. F1Score(average='macro'))")
    try:
        return float(a.reshape(-1)[0])
    except (TypeError, ValueError):
        raise ValueError(f"{who}: monitored value {monitor!r} is not a number: {v!r}") from None


def _get_lr(model, who):
    opt = getattr(model, "optimizer", None)
    if opt is None or not hasattr(opt, "learning_rate"):
        raise ValueError(f'{who}: the optimizer must have a "learning_rate" attribute.')
    lr = opt.learning_rate
    if callable(lr) and not isinstance(lr, (int, float)):  # a schedule object
        iters = getattr(opt, "iterations", 0)
        lr = lr(iters)
    return float(np.asarray(lr))


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
        from . import io as fio
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


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite.

    Example:
        >>> model.fit(x, y, callbacks=[TerminateOnNaN()])
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None:
            v = _float(loss)
            if v is not None and not math.isfinite(v):
                _print(f"Batch {batch}: Invalid loss, terminating training")
                self.model.stop_training = True


class CSVLogger(Callback):
    """Stream epoch results (``epoch`` + sorted log keys) to a CSV file.

    Args:
        filename: CSV path.
        separator: field separator (default ``","``).
        append: append to an existing file (the header is written only if the file is empty).

    Example:
        >>> model.fit(x, y, epochs=10, callbacks=[CSVLogger("training.log")])
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, "r", encoding="utf-8") as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        d = os.path.dirname(os.path.abspath(self.filename))
        os.makedirs(d, exist_ok=True)
        self.csv_file = open(self.filename, mode, newline="", encoding="utf-8")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def fmt(k):
            v = logs.get(k, "NA")
            if isinstance(v, str):
                return v
            if isinstance(v, (list, tuple)) or (isinstance(v, np.ndarray) and v.ndim > 0):
                return '"[%s]"' % ", ".join(map(str, np.asarray(v).ravel().tolist()))
            f = _float(v)
            return f if f is not None else str(v)

        if self.keys is None:
            self.keys = sorted(logs.keys())  # later epochs missing a key write "NA"
        if self.csv_file is None:
            self.on_train_begin()
        if self.writer is None:
            fieldnames = ["epoch"] + self.keys
            self.writer = csv.DictWriter(self.csv_file, fieldnames=fieldnames, delimiter=self.sep,
                                         lineterminator="\n")
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, fmt(k)) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
        self.csv_file = None
        self.writer = None


class LambdaCallback(Callback):
    """Callback built from plain functions, one per hook.

    Args:
        on_epoch_begin, on_epoch_end: ``f(epoch, logs)``.
        on_train_begin, on_train_end: ``f(logs)``.
        on_train_batch_begin, on_train_batch_end: ``f(batch, logs)``.
        **kwargs: any other hook name (``on_test_end=...``, ``on_predict_batch_end=...``).

    Example:
        >>> LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        hooks = dict(kwargs, on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin, on_train_batch_end=on_train_batch_end)
        for name, fn in hooks.items():
            if name not in _HOOKS + ("on_batch_begin", "on_batch_end"):
                raise ValueError(f"LambdaCallback: unknown hook {name!r}; valid: {', '.join(_HOOKS)}")
            if fn is not None:
                setattr(self, name, fn)
