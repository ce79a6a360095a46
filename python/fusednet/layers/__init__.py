"""fusednet layers (Keras-shaped)."""
from .base import KerasTensor, Layer, clear_session
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from .conv import Conv2D, Convolution2D, DepthwiseConv2D
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, GlobalAvgPool2D, GlobalMaxPool2D,
                      GlobalMaxPooling2D, MaxPool2D, MaxPooling2D)
from .preprocessing import RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom
from .reshaping import Cropping2D, ZeroPadding2D
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average,
                      concatenate, dot, maximum, minimum, multiply, subtract)

__all__ = ["Layer", "KerasTensor", "Input", "InputLayer", "Dense", "Activation", "Flatten",
           "Reshape", "Dropout", "clear_session", "get", "serialize", "deserialize",
           "Conv2D", "Convolution2D", "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
           "GlobalMaxPooling2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D",
           "BatchNormalization", "LayerNormalization",
           "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomCrop",
           "ZeroPadding2D", "Cropping2D",
           "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]


def _registry():
    import sys
    mod = sys.modules[__name__]
    return {k: v for k, v in vars(mod).items() if isinstance(v, type) and issubclass(v, Layer)}


def serialize(layer):
    """A layer as ``{"module", "class_name", "config", "registered_name"}`` (Keras 3).

    Returns:
        dict (JSON-able).

    Example:
        >>> serialize(Dense(3))["class_name"]
        'Dense'
    """
    from ..saving import serialize_keras_object
    return serialize_keras_object(layer)


def deserialize(config, custom_objects=None):
    """Rebuild a layer from :func:`serialize`'s dict (custom classes: registered, in
    ``custom_objects`` or in a ``custom_object_scope``).

    Raises:
        ValueError: unknown class (the message says how to register it).

    Example:
        >>> layer = deserialize({"class_name": "Dense", "config": {"units": 3}})
    """
    from ..saving import deserialize_keras_object
    if isinstance(config, dict) and "class_name" in config and config.get("module") is None:
        config = {**config, "module": __name__}
    return deserialize_keras_object(config, custom_objects, module_objects=_registry())


get = deserialize
