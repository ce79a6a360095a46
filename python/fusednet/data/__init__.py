"""Data utilities: preprocessing (``to_categorical``, ``normalize``, ``train_test_split``),
mini-batching with Philox shuffles (``BatchIterator``, ``batches``) and a small ``tf.data``-shaped
input pipeline (:class:`Dataset`). Datasets live in :mod:`fusednet.datasets`."""
from ._rng import permutation
from .batching import BatchIterator, batches
from .dataset import INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from .preprocessing import normalize, to_categorical, train_test_split
from .image import AUTOTUNE, image_dataset_from_directory

__all__ = ["BatchIterator", "batches", "Dataset", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "normalize",
           "to_categorical", "train_test_split", "permutation", "image_dataset_from_directory", "AUTOTUNE"]
