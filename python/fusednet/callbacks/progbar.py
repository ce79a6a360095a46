"""The progress bar callback ``fit`` adds when ``verbose`` is on."""


from .base import Callback, _print


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
            from ..utils.progbar import Progbar
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
