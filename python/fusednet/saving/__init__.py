"""Saving whole models and describing objects as configs (Keras 3 ``keras.saving``).

- :func:`save_model` / :func:`load_model`: a ``.keras`` (or ``.fnet``) zip with ``config.json``,
  ``metadata.json``, ``model.weights.safetensors`` and the optimizer state (layout in
  :mod:`fusednet.io.fnet`). ``model.save(path)`` and ``fusednet.models.load_model`` are the same.
- :func:`register_keras_serializable`, :func:`get_custom_objects`, :func:`custom_object_scope`:
  how user classes and functions are found again when a file is loaded.
- :func:`serialize_keras_object` / :func:`deserialize_keras_object`: any layer, model, loss,
  metric, optimizer, schedule, initializer or regularizer <-> a JSON-able dict.

Example:
    >>> @fusednet.saving.register_keras_serializable(package="demo")
    ... class Scale(fusednet.layers.Layer):
    ...     ...
    >>> model.save("model.keras")
    >>> model2 = fusednet.saving.load_model("model.keras")
"""
from .registration import (CustomObjectScope, custom_object_scope, get_custom_objects, get_registered_name,
                           get_registered_object, register_keras_serializable)
from .serialization import deserialize_keras_object, serialize_keras_object
from .saving_lib import load_model, load_weights, model_from_json, save_model, save_weights

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "model_from_json", "register_keras_serializable", "get_custom_objects",
           "custom_object_scope", "CustomObjectScope", "get_registered_name", "get_registered_object",
           "serialize_keras_object", "deserialize_keras_object"]
