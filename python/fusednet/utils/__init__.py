"""Utilities (Keras ``keras.utils`` shaped): the :class:`Progbar`, ``set_random_seed``,
``to_categorical`` / ``normalize`` (aliases of :mod:`fusednet.data`'s)."""
from .progbar import Progbar, format_value, format_duration
from ..random import set_random_seed
from ..data.preprocessing import normalize, to_categorical
from ..data.image import image_dataset_from_directory
from ..preprocessing.image_utils import array_to_img, img_to_array, load_img, save_img

__all__ = ["Progbar", "format_value", "format_duration", "set_random_seed", "to_categorical", "normalize",
           "image_dataset_from_directory", "load_img", "img_to_array", "array_to_img", "save_img"]
