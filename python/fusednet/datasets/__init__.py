"""Datasets with Keras-shaped loaders: ``fusednet.datasets.mnist.load_data()``."""
from . import mnist

__all__ = ["mnist"]
