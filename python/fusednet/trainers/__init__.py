"""The training engine under :class:`fusednet.Model`: the fit/evaluate/predict loops
(:mod:`.trainer`), input preparation (:mod:`.data_adapters`), graph plans (:mod:`.plan`) and the
fusion rules they apply (:mod:`.fusion`)."""
from . import data_adapters, fusion, plan, trainer  # noqa: F401
from .plan import Graph, GraphPlan  # noqa: F401
from .trainer import Trainer  # noqa: F401

__all__ = ["Graph", "GraphPlan", "Trainer", "data_adapters", "fusion", "plan", "trainer"]
