"""``flow_from_dataframe``'s batch source: Keras' legacy ``DataFrameIterator`` (file names and
labels from a pandas DataFrame) on the same decoding / augmentation machinery as
``DirectoryIterator``. pandas is optional: only the caller's DataFrame is used (nothing here
imports pandas)."""
import collections
import os
import warnings

import numpy as np

from .iterators import DirectoryIterator, _KerasIterator

__all__ = ["DataFrameIterator"]


def _remove_classes(labels, classes, y_col):
    if isinstance(labels, (list, tuple)):
        labels = [c for c in labels if c in classes]
        return labels or None
    if isinstance(labels, str):
        return labels if labels in classes else None
    raise TypeError(f"flow_from_dataframe: expect string, list or tuple but found {type(labels)} in {y_col} column")


class DataFrameIterator(DirectoryIterator):
    """Images listed in a DataFrame, batched and augmented (Keras ``DataFrameIterator``).

    Use :meth:`ImageDataGenerator.flow_from_dataframe`. Rows whose file is missing or not an
    image are dropped with a warning (``validate_filenames``); classes are the sorted label set
    unless given; ``subset`` takes the first (validation) or remaining (training) fraction of the
    validated rows, as Keras. Attributes as Keras: ``filenames``, ``filepaths``, ``classes``,
    ``class_indices``, ``labels``, ``sample_weight``, ``samples``.

    Args:
        dataframe: pandas DataFrame (anything with ``copy``, ``__getitem__`` by column, ``iloc``).
        directory: folder the ``x_col`` paths are relative to (None: as given).
        image_data_generator: the ImageDataGenerator (or None).
        x_col, y_col, weight_col, target_size, color_mode, classes, class_mode, batch_size,
        shuffle, seed, save_to_dir, save_prefix, save_format, subset, interpolation,
        keep_aspect_ratio, validate_filenames, workers: see ``flow_from_dataframe``.

    Shape:
        x ``[B, height, width, C]``; y ``[B, K]`` ('categorical', multi-hot for list labels),
        ``[B]`` ('binary' / 'sparse'), the raw column ('raw'), a list of columns ('multi_output').

    Example:
        >>> it = DataFrameIterator(df, "images", ImageDataGenerator(), x_col="file", y_col="label")
    """

    allowed_class_modes = ("binary", "categorical", "input", "multi_output", "raw", "sparse", None)

    def __init__(self, dataframe, directory=None, image_data_generator=None, x_col="filename", y_col="class",
                 weight_col=None, target_size=(256, 256), color_mode="rgb", classes=None, class_mode="categorical",
                 batch_size=32, shuffle=True, seed=None, save_to_dir=None, save_prefix="", save_format="png",
                 subset=None, interpolation="nearest", keep_aspect_ratio=False, dtype=None, validate_filenames=True,
                 workers=2):
        from ..data.image._decode import channels_of
        owner = "flow_from_dataframe"
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
            if subset not in ("training", "validation"):
                raise ValueError(f"{owner}: invalid subset name: {subset!r}; expected 'training' or 'validation'")
            split = (0, vs) if subset == "validation" else (vs, 1)
        df = dataframe.copy()
        self.directory = directory or ""
        self.class_mode, self.subset, self.split, self.color_mode = class_mode, subset, split, color_mode
        self.target_size = tuple(int(v) for v in target_size)
        self.interpolation, self.keep_aspect_ratio = interpolation, bool(keep_aspect_ratio)
        self.image_shape = self.target_size + (self.num_channels,)
        self._check_params(df, x_col, y_col, weight_col, classes)
        if validate_filenames:
            paths = [os.path.join(self.directory, f) for f in df[x_col]]
            mask = np.array([p.lower().endswith(self.white_list_formats) and os.path.isfile(p) for p in paths], bool)
            if (~mask).sum():
                warnings.warn(f'Found {int((~mask).sum())} invalid image filename(s) in x_col="{x_col}". These '
                              f'filename(s) will be ignored.', stacklevel=3)
            df = df[mask]
        num_classes = 0
        if class_mode not in ("input", "multi_output", "raw", None):
            if classes:
                classes = list(collections.OrderedDict.fromkeys(classes).keys())
                df = df.copy()
                df[y_col] = df[y_col].apply(lambda v: _remove_classes(v, classes, y_col))
            else:
                found = set()
                for v in df[y_col]:
                    found.update(v) if isinstance(v, (list, tuple)) else found.add(v)
                classes = sorted(found)
            df = df.dropna(subset=[y_col])
            num_classes = len(classes)
            self.class_indices = dict(zip(classes, range(num_classes)))
        else:
            self.class_indices = {}
        if split:
            n = len(df)
            df = df.iloc[int(split[0] * n):int(split[1] * n)]
        self.classes = None
        if class_mode not in ("input", "multi_output", "raw", None):
            self.classes = [[self.class_indices[c] for c in v] if isinstance(v, (list, tuple))
                            else self.class_indices[v] for v in df[y_col]]
        self.num_classes = num_classes
        self.filenames = list(df[x_col])
        self._weights = np.asarray(df[weight_col].values) if weight_col else None
        self._targets = None
        if class_mode == "multi_output":
            self._targets = [np.array(df[c].tolist()) for c in y_col]
        elif class_mode == "raw":
            self._targets = np.asarray(df[y_col].values)
        self.samples = len(self.filenames)
        state = "validated" if validate_filenames else "non-validated"
        if class_mode in ("input", "multi_output", "raw", None):
            print(f"Found {self.samples} {state} image filenames.")
        else:
            print(f"Found {self.samples} {state} image filenames belonging to {num_classes} classes.")
        self._filepaths = [os.path.join(self.directory, f) for f in self.filenames]
        self.dtype = np.dtype(dtype or (image_data_generator.dtype if image_data_generator is not None else "float32"))
        _KerasIterator.__init__(self, self.samples, batch_size, shuffle, seed, workers)
        self._init_iter(image_data_generator, save_to_dir, save_prefix, save_format)

    def _check_params(self, df, x_col, y_col, weight_col, classes):
        mode = self.class_mode
        if mode == "multi_output" and not isinstance(y_col, list):
            raise TypeError(f'flow_from_dataframe: if class_mode="multi_output", y_col must be a list. Received '
                            f'{type(y_col).__name__}.')
        if not all(isinstance(v, str) for v in df[x_col]):
            raise TypeError(f"flow_from_dataframe: all values in column x_col={x_col} must be strings.")
        if mode in ("binary", "sparse") and not all(isinstance(v, str) for v in df[y_col]):
            raise TypeError(f'flow_from_dataframe: if class_mode="{mode}", y_col="{y_col}" column values must be '
                            f'strings.')
        if mode == "binary":
            n = len(set(classes)) if classes else df[y_col].nunique()
            if n != 2:
                raise ValueError(f'flow_from_dataframe: if class_mode="binary" there must be 2 classes. Found {n} '
                                 f'classes.')
        if mode == "categorical" and not all(isinstance(v, (str, list, tuple)) for v in df[y_col]):
            raise TypeError(f'flow_from_dataframe: if class_mode="categorical", y_col="{y_col}" column values must '
                            f'be type string, list or tuple.')
        if classes and mode in ("input", "multi_output", "raw", None):
            warnings.warn(f'`classes` will be ignored given the class_mode="{mode}"', stacklevel=4)
        if weight_col and not issubclass(df[weight_col].dtype.type, np.number):
            raise TypeError(f"flow_from_dataframe: column weight_col={weight_col} must be numeric.")

    def _owner(self):
        return "DataFrameIterator"

    @property
    def labels(self):
        """The targets: the raw column / list of columns, else the class index (list) per row."""
        return self._targets if self.class_mode in ("multi_output", "raw") else self.classes

    @property
    def sample_weight(self):
        """The ``weight_col`` values (or None)."""
        return self._weights

    def _assemble(self, idx, images, key):
        x = np.empty((len(idx),) + self.image_shape, np.float32)
        for k, im in enumerate(images):
            x[k] = im
        x = self._augment(x, key).astype(self.dtype, copy=False)
        self._save(x, idx, key)
        mode = self.class_mode
        if mode is None:
            return x
        if mode == "input":
            y = x.copy()
        elif mode in ("binary", "sparse"):
            y = np.asarray([self.classes[j] for j in idx], self.dtype)
        elif mode == "categorical":
            flat = [(r, c) for r, j in enumerate(idx) for c in np.atleast_1d(self.classes[j])]
            y = np.zeros((len(idx), self.num_classes), self.dtype)
            if flat:
                rows, cols = np.asarray(flat, np.int64).T
                y[rows, cols] = 1.0        # multi-hot for list labels
        elif mode == "multi_output":
            y = [t[idx] for t in self._targets]
        else:
            y = self._targets[idx]
        if self._weights is None:
            return x, y
        return x, y, self._weights[idx]
