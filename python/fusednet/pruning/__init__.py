"""Magnitude pruning in the shape of ``tfmot.sparsity.keras``.

Example:
    >>> from fusednet import pruning
    >>> sched = pruning.PolynomialDecay(0.0, 0.8, begin_step=0, end_step=2000, frequency=100)
    >>> pruned = pruning.prune_low_magnitude(model, pruning_schedule=sched)
    >>> pruned.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> pruned.fit(x, y, epochs=5, callbacks=[pruning.UpdatePruningStep()])
    >>> final = pruning.strip_pruning(pruned)
"""
from .callbacks import PruningSummaries, UpdatePruningStep
from .prune import PRUNABLE_WEIGHTS, get_sparsity, prune_low_magnitude, strip_pruning
from .schedules import ConstantSparsity, PolynomialDecay, PruningSchedule

__all__ = ["prune_low_magnitude", "strip_pruning", "get_sparsity", "UpdatePruningStep", "PruningSummaries",
           "PruningSchedule", "ConstantSparsity", "PolynomialDecay", "PRUNABLE_WEIGHTS"]
