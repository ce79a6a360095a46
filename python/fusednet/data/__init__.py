"""Data utilities: preprocessing (``to_categorical``, ``normalize``, ``train_test_split``) and
mini-batching with Philox shuffles (``BatchIterator``, ``batches``). Datasets live in
:mod:`fusednet.datasets`."""
from ._rng import permutation
from .batching import BatchIterator, batches
from .preprocessing import normalize, to_categorical, train_test_split
from .image import AUTOTUNE, image_dataset_from_directory

__all__ = ["BatchIterator", "batches", "normalize", "to_categorical", "train_test_split", "permutation",
           "image_dataset_from_directory", "AUTOTUNE"]
