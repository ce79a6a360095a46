"""Utilities (Keras ``keras.utils`` shaped): the :class:`Progbar`, ``set_random_seed``,
``to_categorical`` / ``normalize`` (aliases of :mod:`fusednet.data`'s), :class:`PyDataset`
(alias ``Sequence``), and the custom-object registry of :mod:`fusednet.saving`
(``register_keras_serializable``, ``get_custom_objects``, ``custom_object_scope``,
``serialize/deserialize_keras_object``), as Keras 3 keeps them here too."""
from .progbar import Progbar, format_value, format_duration
from .py_dataset import PyDataset, Sequence
from ..random import set_random_seed
from ..data.preprocessing import normalize, to_categorical
from ..saving import (custom_object_scope, deserialize_keras_object, get_custom_objects,
                      register_keras_serializable, serialize_keras_object)
from ..data.image import image_dataset_from_directory
from ..preprocessing.image_utils import array_to_img, img_to_array, load_img, save_img
from .sequence_utils import pad_sequences
from .model_visualization import model_to_dot, plot_model

__all__ = ["PyDataset", "Sequence", "Progbar", "format_value", "format_duration", "set_random_seed",
           "to_categorical", "normalize", "register_keras_serializable", "get_custom_objects",
           "custom_object_scope", "serialize_keras_object", "deserialize_keras_object",
           "image_dataset_from_directory", "load_img", "img_to_array", "array_to_img", "save_img",
           "pad_sequences", "plot_model", "model_to_dot"]
