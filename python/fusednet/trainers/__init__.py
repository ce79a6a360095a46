"""The training engine under :class:`fusednet.Model`: the fit/evaluate/predict loops
(:mod:`.trainer`), overridable per-batch steps (:mod:`.steps`), input preparation
(:mod:`.data_adapters`), data sources (:mod:`.epoch_iterator`), log bookkeeping (:mod:`.logs`),
graph plans (:mod:`.plan`) and the fusion rules they apply (:mod:`.fusion`)."""
from . import data_adapters, epoch_iterator, fusion, logs, plan, steps, trainer  # noqa: F401
from .plan import Graph, GraphPlan  # noqa: F401
from .trainer import Trainer  # noqa: F401

__all__ = ["Graph", "GraphPlan", "Trainer", "data_adapters", "epoch_iterator", "fusion", "logs", "plan",
           "steps", "trainer"]
