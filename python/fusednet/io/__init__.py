"""Saving and loading: safetensors weights (hand-written, no dependency) and ``.fnet`` model files.

- :func:`save_weights` / :func:`load_weights`: named arrays <-> a ``.safetensors`` file.
- :func:`save_model_weights` / :func:`load_model_weights`: a model's ``get_weights()`` list
  (what ``Model.save_weights`` / ``load_weights`` and ``ModelCheckpoint`` use).
- :func:`save_model` / :func:`load_model`: whole models in a ``.keras`` / ``.fnet`` zip (``config.json``,
  ``metadata.json``, ``model.weights.safetensors``, optimizer state; see :mod:`.fnet`), the same
  functions as :mod:`fusednet.saving`'s.

- :func:`export_onnx`: a model to an ONNX file (optional ``onnx`` package; see :mod:`.onnx`).

All writes are atomic (temp file in the same directory, fsync, ``os.replace``).
"""
from ._atomic import atomic_write
from .weights import (dumps, loads, save_weights, load_weights, save_model_weights, load_model_weights,
                      model_weight_names)
from .fnet import save_model, load_model, read_fnet, read_archive, write_archive



def export_onnx(model, path, opset=17, dynamic_batch=True):
    """Export a built Sequential/functional model to ONNX; see :func:`fusednet.io.onnx.export_onnx`.

    Args:
        model: a built model. path: destination file. opset: 17..21. dynamic_batch: symbolic batch axis.

    Returns:
        ``path``.

    Example:
        >>> fusednet.io.export_onnx(model, "model.onnx")
    """
    from .onnx import export_onnx as _export   # lazy: the onnx package is an optional extra
    return _export(model, path, opset=opset, dynamic_batch=dynamic_batch)


__all__ = ["export_onnx", "atomic_write", "dumps", "loads", "save_weights", "load_weights", "save_model_weights",
           "load_model_weights", "model_weight_names", "save_model", "load_model", "read_fnet", "read_archive", "write_archive"]
