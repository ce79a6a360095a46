"""``fusednet.preprocessing.image`` (Keras ``keras.preprocessing.image``): PIL helpers
(``load_img``, ``img_to_array``, ``array_to_img``, ``save_img``) and the legacy augmentation
pipeline (``ImageDataGenerator`` with ``flow_from_directory`` / ``flow_from_dataframe`` / ``flow``)."""
from .generator import ImageDataGenerator
from .image_utils import array_to_img, img_to_array, load_img, save_img
from .dataframe_iterator import DataFrameIterator
from .iterators import DirectoryIterator, NumpyArrayIterator

__all__ = ["ImageDataGenerator", "DirectoryIterator", "DataFrameIterator", "NumpyArrayIterator", "load_img", "img_to_array",
           "array_to_img", "save_img"]
