"""Pruning callbacks: :class:`UpdatePruningStep` (required to fit a pruned model, as tfmot) and
:class:`PruningSummaries` (per-layer sparsity to TensorBoard)."""
from ..callbacks.base import Callback
from ..tensor import bump_weights_version
from .prune import Pruner, pruned_states

__all__ = ["UpdatePruningStep", "PruningSummaries", "check_fit_callbacks"]


def check_fit_callbacks(model, callbacks):
    """The hook every ``fit`` calls (trainers/logs.py ``fit_callbacks``): a model with pruned
    layers must be fitted with :class:`UpdatePruningStep` (as tfmot), else ValueError.

    Args:
        model: the model being fitted.
        callbacks: the fit's callback objects.

    Shape:
        None.

    Example:
        >>> check_fit_callbacks(pruned, [UpdatePruningStep()])     # passes; [] raises
    """
    if pruned_states(model) and not any(isinstance(c, UpdatePruningStep) for c in callbacks):
        raise ValueError("fit: the model contains pruned layers (fusednet.pruning.prune_low_magnitude) "
                         "but the fusednet.pruning.UpdatePruningStep() callback is not in callbacks=")


class UpdatePruningStep(Callback):
    """Drives pruning during ``fit``: starts the pruning step, registers the mask hook on the
    optimizer (masks re-applied right after every fused step, masks updated on schedule steps),
    and re-masks at every epoch end (tfmot). ``fit`` on a pruned model without it raises.

    Args:
        None.

    Shape:
        None.

    Example:
        >>> pruned.fit(x, y, epochs=2, callbacks=[fusednet.pruning.UpdatePruningStep()])
    """

    def __init__(self):
        super().__init__()
        self._pruner = None

    def on_train_begin(self, logs=None):
        states = pruned_states(self.model)
        if not states:
            return
        opt = getattr(self.model, "optimizer", None)
        if opt is None:
            raise ValueError("UpdatePruningStep: the model has no optimizer; compile it first")
        self._pruner = Pruner(states)
        self._pruner.begin()
        opt._pruning = self._pruner

    def on_epoch_end(self, epoch, logs=None):
        if self._pruner is not None:
            bump_weights_version()
            for st in self._pruner.states:
                st.apply_masks()

    def on_train_end(self, logs=None):
        opt = getattr(self.model, "optimizer", None)
        if opt is not None and getattr(opt, "_pruning", None) is self._pruner:
            opt._pruning = None
        self._pruner = None

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls()


class PruningSummaries(Callback):
    """Writes each pruned kernel's sparsity (and the schedule's target) to TensorBoard at epoch end.

    Args:
        log_dir: directory of the event files.
        update_freq: kept for tfmot compatibility ("epoch").

    Shape:
        None.

    Example:
        >>> pruned.fit(x, y, callbacks=[UpdatePruningStep(), PruningSummaries("logs")])
    """

    def __init__(self, log_dir, update_freq="epoch"):
        super().__init__()
        if not isinstance(log_dir, str) or not log_dir:
            raise ValueError(f"PruningSummaries: log_dir must be a non-empty string, got {log_dir!r}")
        self.log_dir, self.update_freq = log_dir, update_freq
        self._writer = None

    def on_train_begin(self, logs=None):
        from ..callbacks.tensorboard import _EventWriter
        self._writer = _EventWriter(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        from .prune import get_sparsity
        sp = get_sparsity(self.model)
        values = {}
        for st in pruned_states(self.model):
            for a in st.masks:
                values[f"pruning/{st.layer.name}/{a}/sparsity"] = sp[f"{st.layer.name}/{a}"]
            values[f"pruning/{st.layer.name}/target_sparsity"] = st.schedule(max(st.step, 0))[1]
        self._writer.scalars(epoch, list(values.items()))

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def get_config(self):
        return {"log_dir": self.log_dir, "update_freq": self.update_freq}
