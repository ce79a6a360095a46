"""Utilities (Keras ``keras.utils`` shaped): the :class:`Progbar`, ``set_random_seed``,
``to_categorical`` / ``normalize`` (aliases of :mod:`fusednet.data`'s), :class:`PyDataset`
(alias ``Sequence``)."""
from .progbar import Progbar, format_value, format_duration
from .py_dataset import PyDataset, Sequence
from ..random import set_random_seed
from ..data.preprocessing import normalize, to_categorical

__all__ = ["PyDataset", "Sequence", "Progbar", "format_value", "format_duration", "set_random_seed", "to_categorical", "normalize"]
