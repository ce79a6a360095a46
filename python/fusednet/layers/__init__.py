"""fusednet layers (Keras-shaped)."""
from .base import KerasTensor, Layer, clear_session
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from .conv import Conv2D, Convolution2D, DepthwiseConv2D
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, GlobalAvgPool2D, GlobalMaxPool2D,
                      GlobalMaxPooling2D, MaxPool2D, MaxPooling2D)
from .preprocessing import RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom
from .reshaping import Cropping2D, ZeroPadding2D
from .conv_transpose import Conv1DTranspose, Conv2DTranspose, Convolution1DTranspose, Convolution2DTranspose
from .conv1d import (AveragePooling1D, AvgPool1D, Conv1D, Convolution1D, GlobalAveragePooling1D, GlobalAvgPool1D,
                     GlobalMaxPool1D, GlobalMaxPooling1D, MaxPool1D, MaxPooling1D)
from .separable_conv import SeparableConv2D, SeparableConvolution2D
from .upsampling import UpSampling1D, UpSampling2D
from .activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .core_extra import Identity, Lambda, Normalization, Permute, RepeatVector, Rescaling, SpatialDropout2D
from .preprocessing_color import RandomBrightness, RandomContrast
from .reshaping1d import Cropping1D, ZeroPadding1D
from .noise import GaussianDropout, GaussianNoise
from .embedding import Embedding
from .masking import Masking
from .recurrent import GRU, LSTM, SimpleRNN
from .rnn_cells import RNN, GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from .bidirectional import Bidirectional
from .time_distributed import TimeDistributed
from .resizing import Resizing
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average,
                      concatenate, dot, maximum, minimum, multiply, subtract)
from .attention import MultiHeadAttention
from .position_embedding import PositionEmbedding, TokenAndPositionEmbedding
from .text_vectorization import TextVectorization

__all__ = ["Layer", "KerasTensor", "Input", "InputLayer", "Dense", "Activation", "Flatten",
           "Reshape", "Dropout", "clear_session", "get", "serialize", "deserialize",
           "Conv2D", "Convolution2D", "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
           "GlobalMaxPooling2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D",
           "BatchNormalization", "LayerNormalization",
           "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomCrop",
           "ZeroPadding2D", "Cropping2D", "Resizing",
           "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot",
           "Conv2DTranspose", "Convolution2DTranspose", "Conv1DTranspose", "Convolution1DTranspose", "Conv1D", "Convolution1D", "MaxPooling1D", "MaxPool1D",
           "AveragePooling1D", "AvgPool1D", "GlobalAveragePooling1D", "GlobalAvgPool1D", "GlobalMaxPooling1D",
           "GlobalMaxPool1D", "SeparableConv2D", "SeparableConvolution2D", "UpSampling1D", "UpSampling2D",
           "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Rescaling", "Identity", "Lambda", "Permute",
           "RepeatVector", "SpatialDropout2D", "Normalization", "RandomContrast", "RandomBrightness",
           "ZeroPadding1D", "Cropping1D", "GaussianNoise", "GaussianDropout",
           "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed"]
__all__ += ["MultiHeadAttention", "PositionEmbedding", "TokenAndPositionEmbedding", "TextVectorization"]
__all__ += ["Masking"]
__all__ += ["RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells"]


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
