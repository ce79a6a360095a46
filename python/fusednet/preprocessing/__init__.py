"""Keras-shaped ``keras.preprocessing``: the :mod:`fusednet.preprocessing.image` module
(``load_img``, ``img_to_array``, ``array_to_img``, ``save_img``, ``ImageDataGenerator``)."""
from . import image

__all__ = ["image"]
