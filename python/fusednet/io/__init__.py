"""Saving and loading: safetensors weights (hand-written, no dependency) and ``.fnet`` model files.

- :func:`save_weights` / :func:`load_weights`: named arrays <-> a ``.safetensors`` file.
- :func:`save_model_weights` / :func:`load_model_weights`: a model's ``get_weights()`` list
  (what ``Model.save_weights`` / ``load_weights`` and ``ModelCheckpoint`` use).
- :func:`save_model` / :func:`load_model`: whole models in a ``.keras`` / ``.fnet`` zip (``config.json``,
  ``metadata.json``, ``model.weights.safetensors``, optimizer state; see :mod:`.fnet`), the same
  functions as :mod:`fusednet.saving`'s.

All writes are atomic (temp file in the same directory, fsync, ``os.replace``).
"""
from ._atomic import atomic_write
from .weights import (dumps, loads, save_weights, load_weights, save_model_weights, load_model_weights,
                      model_weight_names)
from .fnet import save_model, load_model, read_fnet, read_archive, write_archive

__all__ = ["atomic_write", "dumps", "loads", "save_weights", "load_weights", "save_model_weights",
           "load_model_weights", "model_weight_names", "save_model", "load_model", "read_fnet", "read_archive", "write_archive"]
