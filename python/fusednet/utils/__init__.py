"""Utilities (Keras ``keras.utils`` shaped): the :class:`Progbar`, ``set_random_seed``,
``to_categorical`` / ``normalize`` (aliases of :mod:`fusednet.data`'s)."""
from .progbar import Progbar, format_value, format_duration
from ..random import set_random_seed
from ..data.preprocessing import normalize, to_categorical

__all__ = ["Progbar", "format_value", "format_duration", "set_random_seed", "to_categorical", "normalize"]
