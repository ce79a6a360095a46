"""Images from folders: ``image_dataset_from_directory`` and the machinery behind it (Keras file
indexing, Pillow decoding + native resizing, background decoding threads, the PyDataset-shaped
:class:`BatchSource`)."""
from ._decode import IMAGE_FORMATS, decode_resized, open_image, require_pil
from .dataset import ImageFolderDataset, image_dataset_from_directory
from .prefetch import BatchPrefetcher
from .source import AUTOTUNE, BatchSource

__all__ = ["image_dataset_from_directory", "ImageFolderDataset", "BatchSource", "BatchPrefetcher", "AUTOTUNE",
           "IMAGE_FORMATS", "decode_resized", "open_image", "require_pil"]
