"""``image_dataset_from_directory`` (Keras 3 ``keras.utils.image_dataset_from_directory``) and
the batch source it returns, :class:`ImageFolderDataset`."""
import numpy as np

from ... import _C
from ._decode import IMAGE_FORMATS, channels_of, decode_resized
from .indexing import check_validation_split, index_directory, training_or_validation_split
from .source import BatchSource

__all__ = ["image_dataset_from_directory", "ImageFolderDataset"]

_OWNER = "image_dataset_from_directory"
_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic")
_KERAS_ONLY = ("gaussian", "mitchellcubic")


class ImageFolderDataset(BatchSource):
    """Batches of images decoded from files (what ``image_dataset_from_directory`` returns).

    A duck-typed ``PyDataset``: ``len(ds)`` batches, ``ds[i] -> (x, y)`` (``x`` alone with
    ``label_mode=None``), iteration, ``on_epoch_end``; plus ``map`` / ``prefetch`` / ``cache``.
    ``x`` is float32 ``[B, height, width, channels]`` in [0, 255]. Pass 0 follows
    ``file_paths`` (already shuffled with the seed, as Keras); later passes are Philox
    permutations of it when ``shuffle`` is set.

    Args:
        file_paths: list of image paths.
        labels: int array (one per path) or None.
        class_names: list of class names or None.
        label_mode: 'int', 'categorical', 'binary' or None.
        image_size: (height, width).
        color_mode: 'grayscale', 'rgb' or 'rgba'.
        batch_size: int or None (items without batch axis).
        shuffle: reshuffle every pass after the first.
        seed: int.
        interpolation: 'bilinear', 'nearest', 'bicubic', 'area', 'lanczos3', 'lanczos5', 'gaussian' or
            'mitchellcubic'.
        crop_to_aspect_ratio: resize the centred crop with the target aspect ratio.
        workers: background decoding threads.

    Shape:
        x: ``[B, height, width, C]`` float32; y: ``[B]`` int32 ('int'), ``[B, K]`` float32
        ('categorical'), ``[B, 1]`` float32 ('binary').

    Example:
        >>> ds = ImageFolderDataset(paths, labels, ["cat", "dog"], "int", (64, 64), "rgb", 32, True, 1, "bilinear", False)
    """

    def __init__(self, file_paths, labels, class_names, label_mode, image_size, color_mode, batch_size, shuffle,
                 seed, interpolation, crop_to_aspect_ratio, workers=2):
        self.file_paths = list(file_paths)
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int32)
        self.class_names = None if class_names is None else list(class_names)
        self.label_mode = label_mode
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.color_mode = color_mode
        self.num_channels = channels_of(color_mode, _OWNER)
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        super().__init__(len(self.file_paths), batch_size, shuffle, seed, workers)

    def _owner(self):
        return _OWNER

    def _order(self, epoch):
        if epoch == 0 or not self.shuffle:
            return np.arange(self.n, dtype=np.int64)
        return super()._order(epoch)

    def _sample(self, j):
        return decode_resized(self.file_paths[j], self.color_mode, self.image_size, self.interpolation,
                              self.crop_to_aspect_ratio, _OWNER)

    def _assemble(self, idx, images, key):
        x = np.empty((len(idx),) + self.image_size + (self.num_channels,), np.float32)
        for k, im in enumerate(images):
            x[k] = im
        if self.label_mode is None:
            return x
        y = self.labels[idx]
        if self.label_mode == "int":
            return x, y.astype(np.int32)
        if self.label_mode == "binary":
            return x, y.astype(np.float32).reshape(-1, 1)
        oh = _C.one_hot(_C.asarray(np.ascontiguousarray(y, np.int64)), len(self.class_names))
        return x, np.asarray(oh, dtype=np.float32)

    def __repr__(self):
        return (f"<ImageFolderDataset {self.n} files, {len(self)} batches of {self.batch_size}, "
                f"image_size={self.image_size}, classes={self.class_names}>")


def _size_arg(image_size):
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (int(image_size), int(image_size))
    if (not isinstance(image_size, (list, tuple)) or len(image_size) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in image_size)):
        raise ValueError(f"{_OWNER}: invalid image_size value. Expected a tuple of 2 positive integers. Received: "
                         f"image_size={image_size!r}")
    return tuple(int(v) for v in image_size)


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, color_mode="rgb",
                                 batch_size=32, image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, verbose=True, workers=2):
    """Batches of images from class sub-folders (Keras ``image_dataset_from_directory``).

    ``directory/class_a/*.png, directory/class_b/*.jpg, ...``: classes in alphanumeric order (or
    ``class_names``), files walked in sorted order and shuffled once with ``seed`` exactly as
    Keras (``np.random.RandomState(seed)``), so ``validation_split`` with the same seed gives the
    same training / validation files as Keras: the last ``int(validation_split * n)`` files are
    validation. Images are decoded by Pillow in ``workers`` background threads and resized by the
    native ``_C.resize_images`` kernel (half-pixel bilinear / nearest, as ``tf.image.resize``).

    Args:
        directory: root folder.
        labels: 'inferred' (from sub-folders), None, or a list of ints in sorted file order.
        label_mode: 'int' (int32 ``[B]``), 'categorical' (one-hot float32 ``[B, K]``), 'binary'
            (float32 ``[B, 1]``, exactly 2 classes) or None (images only).
        class_names: explicit class order (labels='inferred' only).
        color_mode: 'rgb' (3 channels), 'grayscale' (1) or 'rgba' (4).
        batch_size: int (default 32) or None (one image per item).
        image_size: (height, width) every image is resized to (default (256, 256)).
        shuffle: shuffle the files (once, with the seed) and reshuffle each later pass.
        seed: int for the shuffles (None draws one: validation subsets then differ per call).
        validation_split: float in (0, 1) reserved for validation.
        subset: 'training', 'validation' or 'both' (returns ``[train, val]``).
        interpolation: 'bilinear' (default), 'nearest', 'bicubic' (PyTorch's kernel, as Keras
            on the torch backend), 'area' or 'lanczos3' / 'lanczos5' (TF's, no antialias as
            Keras' loader); 'gaussian' and 'mitchellcubic' raise.
        follow_links: follow symbolic links to folders.
        crop_to_aspect_ratio: resize the centred crop with the target aspect ratio.
        verbose: print "Found N files belonging to K classes." as Keras.
        workers: background decoding threads (default 2; 0 decodes on the caller's thread).

    Returns:
        An :class:`ImageFolderDataset` (``.class_names``, ``.file_paths``), or a list
        ``[train, validation]`` with ``subset='both'``.

    Example:
        >>> train, val = image_dataset_from_directory("data", image_size=(64, 64), validation_split=0.2,
        ...                                           subset="both", seed=123)
        >>> model.fit(train, validation_data=val, epochs=3)
    """
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple, np.ndarray)):
            raise ValueError(f"{_OWNER}: labels argument should be a list/tuple of integer labels, of the same "
                             f"size as the number of image files in the target directory. If you wish to infer "
                             f"the labels from the subdirectory names in the target directory, pass "
                             f"labels='inferred'. If you wish to get a dataset that only contains images (no "
                             f"labels), pass labels=None. Received: labels={labels!r}")
        if class_names:
            raise ValueError(f"{_OWNER}: you can only pass class_names if labels='inferred'. Received: "
                             f"labels={labels!r}, and class_names={class_names!r}")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f"{_OWNER}: label_mode argument must be one of 'int', 'categorical', 'binary', or None. "
                         f"Received: label_mode={label_mode!r}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    channels_of(color_mode, _OWNER)
    image_size = _size_arg(image_size)
    interp = interpolation.lower() if isinstance(interpolation, str) else interpolation
    if interp not in _INTERPOLATIONS:
        extra = f" ({interp!r} is a Keras method not implemented here)" if interp in _KERAS_ONLY else ""
        raise ValueError(f"{_OWNER}: interpolation should be one of {_INTERPOLATIONS}{extra}. Received: "
                         f"interpolation={interpolation!r}")
    check_validation_split(validation_split, subset, _OWNER)
    if seed is None:
        seed = int(np.random.randint(1e6))
    paths, y, names = index_directory(directory, labels, IMAGE_FORMATS, class_names=class_names, shuffle=shuffle,
                                      seed=seed, follow_links=follow_links, owner=_OWNER)
    if verbose:
        if y is None:
            print(f"Found {len(paths)} files.")
        else:
            print(f"Found {len(paths)} files belonging to {len(names)} classes.")
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f"{_OWNER}: when passing label_mode='binary', there must be exactly 2 class_names. "
                         f"Received: class_names={names}")

    def make(sub, shuf):
        p, lab = training_or_validation_split(paths, y, validation_split, sub)
        if not p:
            what = {"training": "training images", "validation": "validation images"}.get(sub, "images")
            raise ValueError(f"{_OWNER}: no {what} found in directory {directory!r}. Allowed formats: "
                             f"{IMAGE_FORMATS}")
        if verbose and validation_split:
            print(f"Using {len(p)} files for {sub}.")
        return ImageFolderDataset(p, lab, names, label_mode, image_size, color_mode, batch_size, shuf, seed,
                                  interp, crop_to_aspect_ratio, workers)

    if subset == "both":
        return [make("training", shuffle), make("validation", False)]
    return make(subset, shuffle)
