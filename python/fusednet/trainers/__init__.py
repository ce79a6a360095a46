"""The training engine under :class:`fusednet.Model`: graph plans (:mod:`.plan`) and the fusion
rules they apply (:mod:`.fusion`)."""
from . import fusion, plan  # noqa: F401
from .plan import GraphPlan, Graph  # noqa: F401
