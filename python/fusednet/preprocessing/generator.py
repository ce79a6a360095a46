"""``ImageDataGenerator`` (Keras' legacy ``keras.preprocessing.image.ImageDataGenerator``): real-
time augmentation of image batches on native kernels (``_C.affine_transform`` for rotation /
shift / shear / zoom with Keras' matrix, ``_C.flip_images``, ``_C.image_intensity`` for channel
shift / brightness, ``_C.image_standardize``), Philox randomness per (seed, pass, batch, image),
and ``flow`` / ``flow_from_directory`` batch sources. ``fit`` statistics, standardisation and
``save_to_dir`` live in generator_stats.py."""
import math
import warnings

import numpy as np

from .. import _C
from .generator_stats import fit_statistics, standardize_batch

__all__ = ["ImageDataGenerator"]

_FILL_MODES = ("constant", "nearest", "reflect", "wrap")


def _is_num(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _shift_values(r, u, sign_u, dim):
    """Keras' shift draw, vectorised over images: float r → uniform(-r, r) (times dim if r < 1);
    int r → ±choice(range(r)); list → ±choice(list)."""
    if isinstance(r, (list, tuple, np.ndarray)):
        vals = np.asarray(r, np.float64)
        v = vals[np.minimum((u * len(vals)).astype(np.int64), len(vals) - 1)]
        v = v * np.where(sign_u < 0.5, -1.0, 1.0)
    elif isinstance(r, (int, np.integer)):
        v = np.minimum(np.floor(u * r), r - 1) * np.where(sign_u < 0.5, -1.0, 1.0)
    else:
        v = (2.0 * u - 1.0) * float(r)
    if np.max(r) < 1:
        v = v * dim
    return v


def _affine_params(theta, tx, ty, shear, zx, zy, h, w):
    """``_C.affine_transform`` parameters ``[N, 8]`` of Keras' ``apply_affine_transform``.

    Keras builds ``R(theta) · T(tx, ty) · Sh(shear) · Z(zx, zy)`` (degrees), centres it with
    ``transform_matrix_offset_center(m, h, w)``, swaps the two axes for scipy and samples the
    input at ``(row, col)_in = M[:2, :2] · (row, col)_out + M[:2, 2]``; the same point is written
    here in the kernel's (x = col, y = row) convention.
    """
    n = len(theta)
    th, sh = np.deg2rad(theta), np.deg2rad(shear)
    c, s = np.cos(th), np.sin(th)
    m = np.tile(np.eye(3), (n, 1, 1))
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    shift = np.tile(np.eye(3), (n, 1, 1))
    shift[:, 0, 2], shift[:, 1, 2] = tx, ty
    shm = np.tile(np.eye(3), (n, 1, 1))
    shm[:, 0, 1], shm[:, 1, 1] = -np.sin(sh), np.cos(sh)
    zm = np.tile(np.eye(3), (n, 1, 1))
    zm[:, 0, 0], zm[:, 1, 1] = zx, zy
    m = m @ shift @ shm @ zm
    ox, oy = h / 2.0 - 0.5, w / 2.0 - 0.5
    off = np.array([[1, 0, ox], [0, 1, oy], [0, 0, 1.0]])
    back = np.array([[1, 0, -ox], [0, 1, -oy], [0, 0, 1.0]])
    m = off @ m @ back
    m = m[:, :, [1, 0, 2]][:, [1, 0, 2], :]      # Keras' swap of x/y for scipy's (row, col)
    z = np.zeros(n)
    p = np.stack([m[:, 1, 1], m[:, 1, 0], m[:, 1, 2], m[:, 0, 1], m[:, 0, 0], m[:, 0, 2], z, z], 1)
    return np.ascontiguousarray(p, np.float32)


class ImageDataGenerator:
    """Batches of augmented images (Keras ``ImageDataGenerator``), channels last.

    Per image, in Keras' order: the affine transform ``R(rotation) · T(shift) · Sh(shear) ·
    Z(zoom)`` about the image centre (Keras' matrix, bilinear sampling, ``fill_mode``), the
    channel shift, the flips, the brightness change; then ``standardize``:
    ``preprocessing_function`` (one image at a time, as Keras), ``rescale``, samplewise centring /
    std normalisation, featurewise centring / std normalisation and ZCA whitening (the last three
    need :meth:`fit`).
    Random draws come from Philox keyed by (iterator seed, pass, batch), so a seeded iterator
    gives the same batches on every run and thread count (the values differ from Keras', which
    draws from NumPy's global RNG). With all ranges 0 the images are passed through unchanged.

    Args:
        featurewise_center: subtract the per-channel mean of the data given to :meth:`fit`.
        samplewise_center: subtract each image's mean (over all pixels and channels).
        featurewise_std_normalization: divide by the fitted per-channel std (+1e-6); implies
            featurewise_center (Keras).
        samplewise_std_normalization: divide each image by its std (+1e-6); implies
            samplewise_center.
        zca_whitening: multiply each flattened image by the fitted ZCA matrix; implies
            featurewise_center and turns featurewise_std_normalization off (Keras).
        zca_epsilon: added to the singular values (default 1e-6).
        brightness_range: (lo, hi): brightness factor uniform in [lo, hi), applied as Keras does
            (through a uint8 image: values are truncated to integers).
        channel_shift_range: shift uniform in (-r, r) added to all channels, clipped to the image's
            own [min, max].
        rescale: factor multiplied into every value (e.g. 1/255), after preprocessing_function;
            None or 0: none.
        preprocessing_function: callable on one image ``[H, W, C]`` returning the same shape.
        rotation_range: degrees; angle uniform in (-r, r).
        width_shift_range, height_shift_range: float (fraction of the size if < 1, else pixels;
            uniform in (-r, r)), int (± whole pixels in range(r)) or a list of pixel values.
        shear_range: shear angle in degrees, uniform in (-r, r).
        zoom_range: float z → zoom uniform in [1 - z, 1 + z], or [lower, upper].
        horizontal_flip, vertical_flip: flip each image with probability 1/2.
        fill_mode: 'nearest' (default), 'constant', 'reflect' or 'wrap'.
        cval: fill value for 'constant'.
        validation_split: fraction held out: ``subset='validation'`` gets the first fraction of
            every class folder (``flow``: of the arrays), 'training' the rest (Keras).
        dtype: output dtype (default 'float32').
        interpolation_order: 1 (bilinear, default) or 0 (nearest) resampling.

    Returns:
        Use ``flow_from_directory(...)`` / ``flow(...)`` to get a batch source.

    Example:
        >>> gen = ImageDataGenerator(rescale=1 / 255, rotation_range=10, horizontal_flip=True,
        ...                          validation_split=0.2)
        >>> train = gen.flow_from_directory("data", target_size=(64, 64), subset="training", seed=1)
        >>> x, y = train[0]
    """

    def __init__(self, featurewise_center=False, samplewise_center=False, featurewise_std_normalization=False,
                 samplewise_std_normalization=False, zca_whitening=False, zca_epsilon=1e-6, rotation_range=0,
                 width_shift_range=0.0, height_shift_range=0.0, brightness_range=None, shear_range=0.0,
                 zoom_range=0.0, channel_shift_range=0.0, fill_mode="nearest", cval=0.0, horizontal_flip=False,
                 vertical_flip=False, rescale=None, preprocessing_function=None, data_format=None,
                 validation_split=0.0, interpolation_order=1, dtype=None):
        owner = "ImageDataGenerator"
        fc, sc, fs, ss, zca = (bool(featurewise_center), bool(samplewise_center), bool(featurewise_std_normalization),
                               bool(samplewise_std_normalization), bool(zca_whitening))
        if zca:                                   # Keras' overrides, with its warnings
            if not fc:
                fc = True
                warnings.warn("This ImageDataGenerator specifies `zca_whitening`, which overrides setting of "
                              "`featurewise_center`.", stacklevel=2)
            if fs:
                fs = False
                warnings.warn("This ImageDataGenerator specifies `zca_whitening` which overrides setting of "
                              "`featurewise_std_normalization`.", stacklevel=2)
        if fs and not fc:
            fc = True
            warnings.warn("This ImageDataGenerator specifies `featurewise_std_normalization`, which overrides "
                          "setting of `featurewise_center`.", stacklevel=2)
        if ss and not sc:
            sc = True
            warnings.warn("This ImageDataGenerator specifies `samplewise_std_normalization`, which overrides "
                          "setting of `samplewise_center`.", stacklevel=2)
        if not _is_num(zca_epsilon) or not zca_epsilon > 0:
            raise ValueError(f"{owner}: zca_epsilon must be a number > 0, got {zca_epsilon!r}")
        if not _is_num(channel_shift_range) or channel_shift_range < 0 or not math.isfinite(channel_shift_range):
            raise ValueError(f"{owner}: channel_shift_range must be a number >= 0, got {channel_shift_range!r}")
        if brightness_range is not None:
            if (not isinstance(brightness_range, (tuple, list)) or len(brightness_range) != 2
                    or not all(_is_num(b) and math.isfinite(b) for b in brightness_range)):
                raise ValueError(f"{owner}: `brightness_range should be tuple or list of two floats. Received: "
                                 f"{brightness_range!r}")
            brightness_range = (float(brightness_range[0]), float(brightness_range[1]))
        self.featurewise_center, self.samplewise_center = fc, sc
        self.featurewise_std_normalization, self.samplewise_std_normalization = fs, ss
        self.zca_whitening, self.zca_epsilon = zca, float(zca_epsilon)
        self.channel_shift_range, self.brightness_range = float(channel_shift_range), brightness_range
        self.mean = self.std = self.zca_whitening_matrix = None
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, got {data_format!r}")
        if fill_mode not in _FILL_MODES:
            raise ValueError(f"{owner}: fill_mode must be one of {_FILL_MODES}, got {fill_mode!r}")
        if interpolation_order not in (0, 1):
            raise ValueError(f"{owner}: interpolation_order must be 0 (nearest) or 1 (bilinear), got "
                             f"{interpolation_order!r}")
        for name, v in (("rotation_range", rotation_range), ("shear_range", shear_range)):
            if not _is_num(v) or v < 0 or not math.isfinite(v):
                raise ValueError(f"{owner}: {name} must be a number >= 0, got {v!r}")
        for name, v in (("width_shift_range", width_shift_range), ("height_shift_range", height_shift_range)):
            if not (_is_num(v) or (isinstance(v, (list, tuple, np.ndarray)) and len(v) > 0)):
                raise ValueError(f"{owner}: {name} must be a float, an int or a non-empty list, got {v!r}")
            if _is_num(v) and v < 0:
                raise ValueError(f"{owner}: {name} must be >= 0, got {v!r}")
        if _is_num(zoom_range):
            zoom = (1.0 - zoom_range, 1.0 + zoom_range)
        elif isinstance(zoom_range, (list, tuple)) and len(zoom_range) == 2 and all(_is_num(z) for z in zoom_range):
            zoom = (float(zoom_range[0]), float(zoom_range[1]))
        else:
            raise ValueError(f"{owner}: zoom_range should be a float or a tuple or list of two floats. Received: "
                             f"{zoom_range!r}")
        if not _is_num(validation_split) or not 0 <= validation_split < 1:
            raise ValueError(f"{owner}: validation_split must be strictly between 0 and 1. Received: "
                             f"{validation_split!r}")
        if preprocessing_function is not None and not callable(preprocessing_function):
            raise TypeError(f"{owner}: preprocessing_function must be callable, got "
                            f"{type(preprocessing_function).__name__}")
        if rescale is not None and not _is_num(rescale):
            raise ValueError(f"{owner}: rescale must be a number or None, got {rescale!r}")
        self.rotation_range, self.shear_range = float(rotation_range), float(shear_range)
        self.width_shift_range, self.height_shift_range = width_shift_range, height_shift_range
        self.zoom_range = zoom
        self.horizontal_flip, self.vertical_flip = bool(horizontal_flip), bool(vertical_flip)
        self.fill_mode, self.cval = fill_mode, float(cval)
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function
        self.interpolation_order = int(interpolation_order)
        self.dtype = np.dtype(dtype or "float32")
        self._validation_split = float(validation_split)

    # ------------------------------------------------------------------ transforms
    def _has_affine(self):
        def nz(r):
            return np.any(np.asarray(r, np.float64) != 0)
        return bool(self.rotation_range or self.shear_range or nz(self.width_shift_range)
                    or nz(self.height_shift_range) or self.zoom_range != (1.0, 1.0))

    def transform_matrices(self, u, h, w):
        """Per-image ``_C.affine_transform`` parameters ``[N, 8]`` from uniforms ``u [N, 8]``.

        Builds Keras' 3×3 matrix (rotation · shift · shear · zoom, centred with
        ``transform_matrix_offset_center(m, h, w)``, axes swapped as for scipy), read as
        "output (row, col) → input (row, col)", and re-expressed in (x = col, y = row).

        Args:
            u: float64 ``[N, 8]`` uniforms in [0, 1).
            h, w: image height and width.

        Returns:
            float32 ``[N, 8]`` parameters.

        Example:
            >>> ImageDataGenerator(rotation_range=90).transform_matrices(np.full((1, 8), .5), 4, 4)
        """
        n = u.shape[0]
        theta = (2 * u[:, 0] - 1) * self.rotation_range
        tx = _shift_values(self.height_shift_range, u[:, 1], u[:, 5], h) if np.any(
            np.asarray(self.height_shift_range) != 0) else np.zeros(n)
        ty = _shift_values(self.width_shift_range, u[:, 2], u[:, 6], w) if np.any(
            np.asarray(self.width_shift_range) != 0) else np.zeros(n)
        shear = (2 * u[:, 3] - 1) * self.shear_range
        lo, hi = self.zoom_range
        if lo == 1 and hi == 1:
            zx = zy = np.ones(n)
        else:
            zx, zy = lo + (hi - lo) * u[:, 4], lo + (hi - lo) * u[:, 7]
        return _affine_params(theta, tx, ty, shear, zx, zy, h, w)

    def _params_for(self, t, h, w):
        """The 8 kernel parameters of one Keras transform dict (see apply_transform)."""
        return _affine_params(*(np.array([float(t.get(k, d))]) for k, d in
                                (("theta", 0), ("tx", 0), ("ty", 0), ("shear", 0), ("zx", 1), ("zy", 1))), h, w)[0]

    def apply_transform(self, x, transform_parameters):
        """Apply explicit transform parameters to one image ``[H, W, C]`` (Keras ``apply_transform``).

        Args:
            x: NumPy image ``[H, W, C]``.
            transform_parameters: dict with any of 'theta' (degrees), 'tx' (row shift), 'ty'
                (column shift), 'shear' (degrees), 'zx', 'zy', 'flip_horizontal', 'flip_vertical',
                'channel_shift_intensity', 'brightness' (Keras' keys).

        Returns:
            float32 image ``[H, W, C]``.

        Example:
            >>> ImageDataGenerator().apply_transform(img, {"theta": 30, "flip_horizontal": True})
        """
        x = np.asarray(x, np.float32)
        if x.ndim != 3:
            raise ValueError(f"ImageDataGenerator.apply_transform: expected one image [H, W, C], got shape {x.shape}")
        t = transform_parameters
        p = self._params_for(t, x.shape[0], x.shape[1])[None]
        a = _C.affine_transform(_C.asarray(np.ascontiguousarray(x[None])), _C.asarray(p),
                                "bilinear" if self.interpolation_order else "nearest", self.fill_mode, self.cval)
        cs, br = t.get("channel_shift_intensity"), t.get("brightness")
        if cs is not None:
            a = _C.image_intensity(a, _C.asarray(np.array([cs], np.float32)), None)
        y = np.asarray(a)[0]
        if t.get("flip_horizontal", False):
            y = y[:, ::-1]
        if t.get("flip_vertical", False):
            y = y[::-1]
        y = np.ascontiguousarray(y)
        if br is not None:
            y = np.asarray(_C.image_intensity(_C.asarray(y[None]), None, _C.asarray(np.array([br], np.float32))))[0]
        return y

    def augment_batch(self, x, seed, offset):
        """Random affine transform + flips of a float32 batch ``[N, H, W, C]`` (native kernels).

        Image n draws row n of ``_C.random_uniform([N, 8], seed, offset)`` for the affine
        parameters and Philox block n of ``(seed, offset + 1)`` for its flips.

        Args:
            x: NumPy float32 ``[N, H, W, C]``.
            seed, offset: Philox key of this batch.

        Returns:
            NumPy float32 batch (``x`` itself when nothing is enabled).

        Example:
            >>> ImageDataGenerator(horizontal_flip=True).augment_batch(np.ones((2, 4, 4, 1), np.float32), 1, 0)
        """
        if x.ndim != 4:
            raise ValueError(f"ImageDataGenerator: expected a batch [N, H, W, C], got shape {x.shape}")
        if not (self._has_affine() or self.horizontal_flip or self.vertical_flip or self._has_intensity()):
            return x
        seed, offset = int(seed) & (2 ** 64 - 1), int(offset) & (2 ** 64 - 1)
        a = _C.asarray(np.ascontiguousarray(x, np.float32))
        if self._has_affine():
            u = np.asarray(_C.random_uniform([x.shape[0], 8], seed, offset)).astype(np.float64)
            p = self.transform_matrices(u, x.shape[1], x.shape[2])
            a = _C.affine_transform(a, _C.asarray(p), "bilinear" if self.interpolation_order else "nearest",
                                    self.fill_mode, self.cval)
        if self.horizontal_flip or self.vertical_flip:
            a = _C.flip_images(a, self.horizontal_flip, self.vertical_flip, seed, (offset + 1) & (2 ** 64 - 1))
        if self._has_intensity():
            # channel shift (lane 0) and brightness (lane 1) from Philox (seed, offset + 2); the shift
            # commutes with the flips, so one kernel after them keeps Keras' order
            u = np.asarray(_C.random_uniform([x.shape[0], 2], seed, (offset + 2) & (2 ** 64 - 1))).astype(np.float64)
            shift, bright = self._intensity_amounts(u)
            a = _C.image_intensity(a, shift, bright)
        return np.asarray(a)

    def _has_intensity(self):
        return bool(self.channel_shift_range) or self.brightness_range is not None

    def _intensity_amounts(self, u):
        """Per-image channel shift and brightness factor (``_C`` Arrays [N] or None) from uniforms."""
        r = self.channel_shift_range
        shift = _C.asarray(np.ascontiguousarray((2 * u[:, 0] - 1) * r, np.float32)) if r else None
        bright = None
        if self.brightness_range is not None:
            lo, hi = self.brightness_range
            bright = _C.asarray(np.ascontiguousarray(lo + (hi - lo) * u[:, 1], np.float32))
        return shift, bright

    def standardize(self, x):
        """Keras' normalisation chain on a batch ``[N, H, W, C]``, image by image along axis 0:
        ``preprocessing_function``, ``rescale``, samplewise centre / std, featurewise centre / std,
        ZCA (the featurewise steps and ZCA warn and are skipped until :meth:`fit` was called).

        Args:
            x: NumPy float32 batch (a single ``[H, W, C]`` image is accepted too).

        Returns:
            The standardized batch in ``dtype`` (``x`` itself is never modified; with nothing to do
            it is returned as is).

        Example:
            >>> ImageDataGenerator(rescale=0.5).standardize(np.full((1, 2, 2, 1), 4, np.float32))   # all 2
        """
        x = np.asarray(x, np.float32)
        if x.ndim == 3:
            return self.standardize(x[None])[0]
        if x.ndim != 4:
            raise ValueError(f"ImageDataGenerator.standardize: expected [N, H, W, C] or [H, W, C], got shape {x.shape}")
        return standardize_batch(self, x).astype(self.dtype, copy=False)

    def fit(self, x, augment=False, rounds=1, seed=None):
        """Compute the featurewise mean / std and the ZCA matrix from sample data (Keras ``fit``).

        ``rescale`` is applied to the samples first; with ``augment`` the statistics are taken over
        ``rounds`` randomly transformed copies of ``x`` (seeded by ``seed``, Philox).

        Args:
            x: ``[N, H, W, C]`` sample images.
            augment: fit on augmented samples (default False).
            rounds: augmentation passes over ``x`` (default 1).
            seed: int seed for the augmentation.

        Returns:
            None; sets ``mean`` and ``std`` (``[1, 1, C]``) and ``zca_whitening_matrix``
            (``[H·W·C, H·W·C]``).

        Example:
            >>> gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True)
            >>> gen.fit(x_train)
        """
        fit_statistics(self, x, augment=augment, rounds=rounds, seed=seed)

    # ------------------------------------------------------------------ batch sources
    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb", classes=None,
                            class_mode="categorical", batch_size=32, shuffle=True, seed=None, save_to_dir=None,
                            save_prefix="", save_format="png", follow_links=False, subset=None,
                            interpolation="nearest", keep_aspect_ratio=False, workers=2):
        """A :class:`DirectoryIterator` over ``directory/<class>/*`` (Keras ``flow_from_directory``).

        Args:
            directory: root folder, one sub-folder per class.
            target_size: (height, width) images are resized to (default (256, 256)).
            color_mode: 'rgb', 'grayscale' or 'rgba'.
            classes: explicit class list (default: sorted sub-folders).
            class_mode: 'categorical' (one-hot), 'binary' / 'sparse' (class index as float),
                'input' (y = x) or None (x only).
            batch_size: default 32.
            shuffle: reshuffle every pass (the first one included, as Keras).
            seed: int for shuffles and augmentation.
            save_to_dir: folder to which every batch is also written as images (augmented and
                standardized, scaled to [0, 255]), each file atomically; None: nothing written.
            save_prefix: file name prefix (``{prefix}_{index}_{hash}.{format}``, Keras).
            save_format: 'png' (default), 'jpeg', ...
            follow_links: follow symbolic links.
            subset: 'training' or 'validation' (with ``validation_split``).
            interpolation: 'nearest' (default) / 'bilinear' resize natively; 'bicubic', 'lanczos',
                'box', 'hamming' use Pillow's filter.
            keep_aspect_ratio: resize the centred crop with the target aspect ratio.
            workers: background decoding threads.

        Returns:
            DirectoryIterator.

        Example:
            >>> it = ImageDataGenerator(rescale=1 / 255).flow_from_directory("data", (64, 64), batch_size=16)
            >>> it.samples, it.class_indices, len(it)
        """
        from .iterators import DirectoryIterator
        return DirectoryIterator(directory, self, target_size=target_size, color_mode=color_mode, classes=classes,
                                 class_mode=class_mode, batch_size=batch_size, shuffle=shuffle, seed=seed,
                                 follow_links=follow_links, subset=subset, interpolation=interpolation,
                                 keep_aspect_ratio=keep_aspect_ratio, workers=workers, save_to_dir=save_to_dir,
                                 save_prefix=save_prefix, save_format=save_format)

    def flow_from_dataframe(self, dataframe, directory=None, x_col="filename", y_col="class", weight_col=None,
                            target_size=(256, 256), color_mode="rgb", classes=None, class_mode="categorical",
                            batch_size=32, shuffle=True, seed=None, save_to_dir=None, save_prefix="",
                            save_format="png", subset=None, interpolation="nearest", validate_filenames=True,
                            keep_aspect_ratio=False, workers=2):
        """A :class:`DataFrameIterator` over the files listed in a pandas DataFrame (Keras
        ``flow_from_dataframe``; pandas is the caller's, fusednet does not import it).

        Args:
            dataframe: DataFrame with a file-name column ``x_col`` and (per ``class_mode``) labels.
            directory: folder the file names are relative to (None: paths as given).
            x_col: column of file names / paths (strings).
            y_col: label column (a list of columns for 'multi_output').
            weight_col: optional numeric column of sample weights (items become (x, y, w)).
            target_size, color_mode, batch_size, shuffle, seed, save_to_dir, save_prefix,
            save_format, subset, interpolation, keep_aspect_ratio, workers: as ``flow_from_directory``.
            classes: explicit class list (default: the sorted labels).
            class_mode: 'categorical' (one-hot; multi-hot for list labels), 'binary', 'sparse',
                'input', 'multi_output', 'raw' or None.
            validate_filenames: drop rows whose file is missing or not an image (with a warning).

        Returns:
            DataFrameIterator.

        Example:
            >>> it = ImageDataGenerator(rescale=1 / 255).flow_from_dataframe(df, "images", x_col="file",
            ...                                                                y_col="label", target_size=(64, 64))
        """
        from .dataframe_iterator import DataFrameIterator
        return DataFrameIterator(dataframe, directory, self, x_col=x_col, y_col=y_col, weight_col=weight_col,
                                 target_size=target_size, color_mode=color_mode, classes=classes,
                                 class_mode=class_mode, batch_size=batch_size, shuffle=shuffle, seed=seed,
                                 save_to_dir=save_to_dir, save_prefix=save_prefix, save_format=save_format,
                                 subset=subset, interpolation=interpolation, keep_aspect_ratio=keep_aspect_ratio,
                                 validate_filenames=validate_filenames, workers=workers)

    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None, save_to_dir=None,
             save_prefix="", save_format="png", subset=None, workers=0):
        """A :class:`NumpyArrayIterator` over in-memory images (Keras ``flow``).

        Args:
            x: array ``[N, H, W, C]``.
            y: labels ``[N, ...]`` or None.
            batch_size: default 32.
            shuffle: reshuffle every pass.
            sample_weight: ``[N]`` weights (then items are (x, y, w)).
            seed: int for shuffles and augmentation.
            save_to_dir: folder to which every batch is also written as images (atomic writes).
            save_prefix: file name prefix (``{prefix}_{index}_{hash}.{format}``).
            save_format: 'png' (default), 'jpeg', ...
            subset: 'training' or 'validation' (with ``validation_split``: validation = the first
                ``int(N * validation_split)`` samples).
            workers: background threads (default 0: arrays need no decoding).

        Returns:
            NumpyArrayIterator.

        Example:
            >>> it = ImageDataGenerator(horizontal_flip=True).flow(x_train, y_train, batch_size=32, seed=0)
        """
        from .iterators import NumpyArrayIterator
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle, sample_weight=sample_weight,
                                  seed=seed, subset=subset, workers=workers, save_to_dir=save_to_dir,
                                  save_prefix=save_prefix, save_format=save_format)
