"""TEMPORARY stand-ins for fusednet.metrics / fusednet.callbacks (branch pydata).

Used by models.py only while those modules are missing; delete after merging pydata.
"""
import numpy as np


class Callback:
    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass


class History(Callback):
    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class _Line(Callback):
    def __init__(self, verbose):
        super().__init__()
        self.verbose = verbose

    def on_epoch_end(self, epoch, logs=None):
        print(f"Epoch {epoch + 1}/{self.params.get('epochs')} - " +
              " - ".join(f"{k}: {v:.4f}" for k, v in (logs or {}).items()))


class CallbackList:
    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        self.callbacks = list(callbacks or [])
        if add_progbar:
            self.callbacks.append(_Line(params.get("verbose", 1)))
        if add_history:
            self.history = History()
            self.callbacks.append(self.history)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        if model is not None and add_history:
            model.history = self.history

    def __getattr__(self, name):
        if name.startswith("on_"):
            def f(*a, **k):
                for cb in self.callbacks:
                    getattr(cb, name)(*a, **k)
            return f
        raise AttributeError(name)


class _Mean:
    def __init__(self, name, fn):
        self.name, self.fn = name, fn
        self.reset_state()

    def reset_state(self):
        self.total, self.count = 0.0, 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        v = self.fn(np.asarray(y_true), np.asarray(y_pred))
        self.total += float(v.sum())
        self.count += v.size

    def result(self):
        return self.total / max(self.count, 1)


def _sparse_acc(yt, yp):
    return (np.argmax(yp, -1) == yt.reshape(-1)).astype(np.float64)


def _cat_acc(yt, yp):
    return (np.argmax(yp, -1) == np.argmax(yt, -1)).astype(np.float64)


def _bin_acc(yt, yp):
    return ((yp > 0.5) == (yt > 0.5)).astype(np.float64).mean(-1)


def get(identifier, loss=None):
    if not isinstance(identifier, str):
        return identifier
    ln = getattr(loss, "name", "")
    if identifier in ("accuracy", "acc"):
        if "sparse" in ln:
            return _Mean("accuracy", _sparse_acc)
        if "binary" in ln:
            return _Mean("accuracy", _bin_acc)
        return _Mean("accuracy", _cat_acc)
    if identifier == "sparse_categorical_accuracy":
        return _Mean(identifier, _sparse_acc)
    if identifier == "categorical_accuracy":
        return _Mean(identifier, _cat_acc)
    if identifier == "binary_accuracy":
        return _Mean(identifier, _bin_acc)
    if identifier in ("mae", "mean_absolute_error"):
        return _Mean(identifier, lambda t, p: np.abs(p - t.reshape(p.shape)).mean(-1))
    if identifier in ("mse", "mean_squared_error"):
        return _Mean(identifier, lambda t, p: ((p - t.reshape(p.shape)) ** 2).mean(-1))
    raise ValueError(f"Unknown metric {identifier!r}")
