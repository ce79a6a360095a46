"""fusednet layers (Keras-shaped)."""
from .base import KerasTensor, Layer, clear_session
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from .conv import Conv2D, Convolution2D, DepthwiseConv2D
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, GlobalAvgPool2D, GlobalMaxPool2D,
                      GlobalMaxPooling2D, MaxPool2D, MaxPooling2D)
from .preprocessing import RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom
from .reshaping import Cropping2D, ZeroPadding2D
from .resizing import Resizing
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average,
                      concatenate, dot, maximum, minimum, multiply, subtract)

__all__ = ["Layer", "KerasTensor", "Input", "InputLayer", "Dense", "Activation", "Flatten",
           "Reshape", "Dropout", "clear_session", "get", "serialize", "deserialize",
           "Conv2D", "Convolution2D", "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
           "GlobalMaxPooling2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D",
           "BatchNormalization", "LayerNormalization",
           "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomCrop",
           "ZeroPadding2D", "Cropping2D", "Resizing",
           "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]


def _registry():
    import sys
    mod = sys.modules[__name__]
    return {k: v for k, v in vars(mod).items() if isinstance(v, type) and issubclass(v, Layer)}


def serialize(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config, custom_objects=None):
    reg = _registry()
    if custom_objects:
        reg.update(custom_objects)
    cls = reg.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Unknown layer class {config['class_name']!r}; known: {', '.join(sorted(reg))}")
    return cls.from_config(config["config"])


get = deserialize
