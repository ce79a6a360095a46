"""Models: :class:`Model` (functional or subclassed) and :class:`Sequential`, with Keras'
compile / fit / evaluate / predict (loops in :mod:`fusednet.trainers.trainer`), and
``load_model`` / ``save_model`` (:mod:`fusednet.saving`)."""
from .model import Model
from .sequential import Sequential
from ..saving import load_model, model_from_json, save_model
from .cloning import clone_model

__all__ = ["Model", "Sequential", "load_model", "save_model", "model_from_json", "clone_model"]
