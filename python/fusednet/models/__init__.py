"""Models: :class:`Model` (functional or subclassed) and :class:`Sequential`, with Keras'
compile / fit / evaluate / predict (loops in :mod:`fusednet.trainers.trainer`)."""
from .model import Model
from .sequential import Sequential

__all__ = ["Model", "Sequential"]
