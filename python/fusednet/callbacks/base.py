"""The callback protocol: :class:`Callback` (every Keras 3 hook), :class:`CallbackList` (how
``fit`` calls them) and :class:`History`."""
import sys



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
        from .progbar import ProgbarLogger  # (progbar.py builds on this module)
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
