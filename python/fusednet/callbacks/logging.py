"""TerminateOnNaN, CSVLogger and LambdaCallback."""
import csv
import math
import os

import numpy as np

from .base import _HOOKS, Callback, _print
from ._monitor import _float


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
