"""Batch sources of :class:`ImageDataGenerator`: ``DirectoryIterator`` (``flow_from_directory``)
and ``NumpyArrayIterator`` (``flow``), Keras' legacy iterators as duck-typed PyDatasets with
background decoding."""
import os

import numpy as np

from .. import _C
from ..data.image._decode import channels_of, decode_resized
from ..data.image.indexing import list_class_folders
from ..data.image.source import BatchSource
from .image_utils import img_to_array, load_img

__all__ = ["DirectoryIterator", "NumpyArrayIterator"]

_NATIVE = ("nearest", "bilinear")


class _KerasIterator(BatchSource):
    """Keras iterator behaviour on top of BatchSource: every pass shuffled (the first included),
    ``next()`` cycling forever over passes, ``reset()``, augmentation keyed by (seed, pass, batch)."""

    def _init_iter(self, generator, save_to_dir=None, save_prefix="", save_format="png"):
        self.image_data_generator = generator
        self.batch_index = 0
        self.total_batches_seen = 0
        if save_to_dir is not None and not isinstance(save_to_dir, (str, os.PathLike)):
            raise TypeError(f"{self._owner()}: save_to_dir must be a folder path or None, got "
                            f"{type(save_to_dir).__name__}")
        if not isinstance(save_format, str) or not save_format:
            raise ValueError(f"{self._owner()}: save_format must be a file format name such as 'png', got "
                             f"{save_format!r}")
        if save_to_dir is not None:
            from .image_utils import require_pil
            require_pil("save_to_dir")
        self.save_to_dir = None if save_to_dir is None else os.fspath(save_to_dir)
        self.save_prefix, self.save_format = str(save_prefix), save_format

    @staticmethod
    def _offset(key):
        """Philox offset of batch (pass, i): 4 consecutive streams per batch (affine, flips,
        intensity, save-file hashes)."""
        epoch, i = key
        return ((epoch & 0xFFFFFFFF) << 32 | (i & 0x7FFFFFFF)) << 2

    def _save(self, x, idx, key):
        """``save_to_dir``: the batch as image files named as Keras names them (the hash from Philox)."""
        if self.save_to_dir is None:
            return
        from .generator_stats import save_batch
        u = np.asarray(_C.random_uniform([len(idx), 1], 0 if self.seed is None else int(self.seed) & (2 ** 64 - 1),
                                         (self._offset(key) + 3) & (2 ** 64 - 1)))
        save_batch(x, idx, self.save_to_dir, self.save_prefix, self.save_format, (u[:, 0] * 1e7).astype(np.int64))

    def _order(self, epoch):
        if not self.shuffle:
            return np.arange(self.n, dtype=np.int64)
        return super()._order(epoch)

    def _augment(self, x, key):
        g = self.image_data_generator
        if g is None:
            return x
        x = g.augment_batch(x, self.seed, self._offset(key))
        return g.standardize(x)

    def __iter__(self):
        return self

    def __next__(self):
        """The next batch, cycling over passes forever (Keras); a new pass is reshuffled."""
        if len(self) == 0:
            raise StopIteration
        i = self.batch_index
        item = self[i]
        self.total_batches_seen += 1
        self.batch_index = i + 1
        if self.batch_index >= len(self):
            self.batch_index = 0
            self.on_epoch_end()
        return item

    def reset(self):
        """Restart ``next()`` at batch 0 of the current pass."""
        self.batch_index = 0


class DirectoryIterator(_KerasIterator):
    """Images from class folders, batched and augmented (Keras ``DirectoryIterator``).

    Use :meth:`ImageDataGenerator.flow_from_directory`. Attributes as Keras: ``samples``,
    ``batch_size``, ``class_indices``, ``classes`` (int32 per file), ``filenames`` (relative to
    ``directory``), ``filepaths``, ``num_classes``, ``image_shape``. ``it[i]`` is batch i of the
    current pass; ``len(it)`` batches per pass; ``next(it)`` cycles forever.

    Args:
        directory: root folder.
        image_data_generator: the ImageDataGenerator (or None for no augmentation).
        target_size, color_mode, classes, class_mode, batch_size, shuffle, seed, follow_links,
        subset, interpolation, keep_aspect_ratio, workers, save_to_dir, save_prefix, save_format: see
            ``flow_from_directory``.
        dtype: output dtype (default: the generator's).

    Shape:
        x ``[B, height, width, C]``; y ``[B, K]`` ('categorical'), ``[B]`` ('binary'/'sparse').

    Example:
        >>> it = DirectoryIterator("data", ImageDataGenerator(), target_size=(64, 64))
        >>> x, y = it[0]
    """

    allowed_class_modes = ("categorical", "binary", "sparse", "input", None)
    white_list_formats = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")

    def __init__(self, directory, image_data_generator, target_size=(256, 256), color_mode="rgb", classes=None,
                 class_mode="categorical", batch_size=32, shuffle=True, seed=None, follow_links=False, subset=None,
                 interpolation="nearest", keep_aspect_ratio=False, dtype=None, workers=2, save_to_dir=None,
                 save_prefix="", save_format="png"):
        owner = "flow_from_directory"
        if class_mode not in self.allowed_class_modes:
            raise ValueError(f"{owner}: invalid class_mode: {class_mode!r}; expected one of: "
                             f"{self.allowed_class_modes}")
        self.num_channels = channels_of(color_mode, owner)
        if (not isinstance(target_size, (list, tuple)) or len(target_size) != 2
                or not all(isinstance(v, (int, np.integer)) and v > 0 for v in target_size)):
            raise ValueError(f"{owner}: target_size must be (height, width) of positive ints, got {target_size!r}")
        split = None
        if subset is not None:
            vs = image_data_generator._validation_split if image_data_generator is not None else 0.0
            if subset == "validation":
                split = (0, vs)
            elif subset == "training":
                split = (vs, 1)
            else:
                raise ValueError(f"{owner}: invalid subset name: {subset!r}; expected 'training' or 'validation'")
        self.directory, self.target_size, self.color_mode = directory, tuple(int(v) for v in target_size), color_mode
        self.class_mode, self.subset, self.split = class_mode, subset, split
        self.interpolation, self.keep_aspect_ratio = interpolation, bool(keep_aspect_ratio)
        self.image_shape = self.target_size + (self.num_channels,)
        self.filenames, self.classes, self.class_indices = list_class_folders(
            directory, self.white_list_formats, classes, split, follow_links, owner)
        self.num_classes = len(self.class_indices)
        self.samples = len(self.filenames)
        self._filepaths = [os.path.join(directory, f) for f in self.filenames]
        self.dtype = np.dtype(dtype or (image_data_generator.dtype if image_data_generator is not None else "float32"))
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        super().__init__(self.samples, batch_size, shuffle, seed, workers)
        self._init_iter(image_data_generator, save_to_dir, save_prefix, save_format)

    def _owner(self):
        return "DirectoryIterator"

    @property
    def filepaths(self):
        """Absolute (directory-joined) paths of the files, in ``filenames`` order."""
        return self._filepaths

    @property
    def labels(self):
        """Class index of every file (``classes``)."""
        return self.classes

    def _sample(self, j):
        path = self._filepaths[j]
        if self.interpolation in _NATIVE:
            return decode_resized(path, self.color_mode, self.target_size, self.interpolation,
                                  self.keep_aspect_ratio, "flow_from_directory")
        img = load_img(path, self.color_mode, self.target_size, self.interpolation, self.keep_aspect_ratio)
        return img_to_array(img)

    def _assemble(self, idx, images, key):
        x = np.empty((len(idx),) + self.image_shape, np.float32)
        for k, im in enumerate(images):
            x[k] = im
        x = self._augment(x, key).astype(self.dtype, copy=False)
        self._save(x, idx, key)
        if self.class_mode is None:
            return x
        if self.class_mode == "input":
            return x, x.copy()
        c = self.classes[idx]
        if self.class_mode in ("binary", "sparse"):
            return x, c.astype(self.dtype)
        oh = _C.one_hot(_C.asarray(np.ascontiguousarray(c, np.int64)), self.num_classes)
        return x, np.asarray(oh).astype(self.dtype, copy=False)


class NumpyArrayIterator(_KerasIterator):
    """Batches of augmented in-memory images (Keras ``NumpyArrayIterator``; use ``flow``).

    Args:
        x: array ``[N, H, W, C]`` (C in 1, 3, 4 is not required).
        y: labels ``[N, ...]`` or None.
        image_data_generator: ImageDataGenerator or None.
        batch_size, shuffle, seed, subset, workers, save_to_dir, save_prefix, save_format: see
            ``ImageDataGenerator.flow``.
        sample_weight: ``[N]`` or None.

    Shape:
        items ``(x [B, H, W, C], y [B, ...])`` (``x`` alone without y; ``(x, y, w)`` with weights).

    Example:
        >>> it = NumpyArrayIterator(np.zeros((10, 8, 8, 3)), np.arange(10), ImageDataGenerator(), batch_size=4)
        >>> len(it)   # 3
    """

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False, sample_weight=None, seed=None,
                 subset=None, workers=0, save_to_dir=None, save_prefix="", save_format="png"):
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"flow: input data should have rank 4 [N, H, W, C]. You passed an array with shape "
                             f"{x.shape}")
        if y is not None and len(x) != len(y):
            raise ValueError(f"flow: x (images tensor) and y (labels) should have the same length. Found: "
                             f"x.shape = {x.shape}, y.shape = {np.asarray(y).shape}")
        if sample_weight is not None and len(x) != len(sample_weight):
            raise ValueError(f"flow: x and sample_weight should have the same length. Found: x.shape = {x.shape}, "
                             f"sample_weight.shape = {np.asarray(sample_weight).shape}")
        if subset is not None:
            if subset not in ("training", "validation"):
                raise ValueError(f"flow: invalid subset name: {subset!r}; expected 'training' or 'validation'")
            k = int(len(x) * (image_data_generator._validation_split if image_data_generator is not None else 0))
            sl = slice(0, k) if subset == "validation" else slice(k, len(x))
            x = x[sl]
            y = None if y is None else np.asarray(y)[sl]
            sample_weight = None if sample_weight is None else np.asarray(sample_weight)[sl]
        self.x = np.ascontiguousarray(x, np.float32)
        self.y = None if y is None else np.asarray(y)
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        self.dtype = image_data_generator.dtype if image_data_generator is not None else np.dtype("float32")
        super().__init__(len(self.x), batch_size, shuffle, seed, workers)
        self._init_iter(image_data_generator, save_to_dir, save_prefix, save_format)

    def _owner(self):
        return "NumpyArrayIterator"

    def _sample(self, j):
        return self.x[j]

    def _assemble(self, idx, images, key):
        bx = self._augment(self.x[idx], key).astype(self.dtype, copy=False)
        self._save(bx, idx, key)
        if self.y is None:
            return bx
        if self.sample_weight is None:
            return bx, self.y[idx]
        return bx, self.y[idx], self.sample_weight[idx]
