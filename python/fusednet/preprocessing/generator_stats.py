"""The data-dependent half of :class:`ImageDataGenerator`: ``fit`` statistics (featurewise mean /
std, the ZCA whitening matrix), the standardisation chain on native kernels
(``_C.image_standardize``, ZCA as one ``_C.matmul``), and ``save_to_dir`` (atomic image writes).
Kept apart from generator.py, which owns the random geometric / intensity transforms."""
import os
import warnings

import numpy as np

from .. import _C

__all__ = ["fit_statistics", "standardize_batch", "save_batch"]


def fit_statistics(gen, x, augment=False, rounds=1, seed=None):
    """Compute ``gen.mean`` / ``gen.std`` / ``gen.zca_whitening_matrix`` from sample images (Keras
    ``ImageDataGenerator.fit``).

    Args:
        gen: the ImageDataGenerator.
        x: ``[N, H, W, C]`` sample images.
        augment: fit on ``rounds`` randomly augmented copies of ``x`` (Philox keyed by ``seed``).
        rounds: augmentation passes (with ``augment``).
        seed: int seed of the augmentation draws (default 0).

    Returns:
        None (the statistics are stored on ``gen``).

    Example:
        >>> fit_statistics(ImageDataGenerator(featurewise_center=True), x_train)
    """
    owner = "ImageDataGenerator.fit"
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"{owner}: input should have rank 4 [N, H, W, C]. Got array with shape: {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{owner}: needs at least one sample image, got shape {x.shape}")
    if not isinstance(rounds, (int, np.integer)) or isinstance(rounds, bool) or rounds < 1:
        raise ValueError(f"{owner}: rounds must be a positive int, got {rounds!r}")
    if x.shape[3] not in (1, 3, 4):
        warnings.warn(f"{owner}: expected images with 1, 3 or 4 channels last, got shape {x.shape} "
                      f"({x.shape[3]} channels)", stacklevel=3)
    x = np.ascontiguousarray(x)
    if gen.rescale:
        x = np.asarray(_C.scale(_C.asarray(x), float(gen.rescale)))
    if augment:
        s = 0 if seed is None else int(seed)
        x = np.concatenate([gen.augment_batch(x, s, (r + 1) << 40) for r in range(rounds)])
    if gen.featurewise_center:
        gen.mean = np.mean(x, axis=(0, 1, 2), dtype=np.float64).astype(np.float32).reshape(1, 1, -1)
        x = x - gen.mean
    if gen.featurewise_std_normalization:
        gen.std = np.std(x, axis=(0, 1, 2), dtype=np.float64).astype(np.float32).reshape(1, 1, -1)
        x = x / (gen.std + 1e-6)
    if gen.zca_whitening:
        n = len(x)
        flat = x.reshape(n, -1).astype(np.float64)
        # Keras: u, s from svd(flat^T); matrix = u · diag(sqrt(n) / (s + eps)) · u^T (LAPACK, once)
        u, s, _ = np.linalg.svd(flat.T, full_matrices=False)
        gen.zca_whitening_matrix = ((u * (np.sqrt(n) / (s + gen.zca_epsilon))) @ u.T).astype(np.float32)


def standardize_batch(gen, x):
    """``preprocessing_function`` (per image), then rescale / samplewise / featurewise steps on the
    native kernel, then ZCA (Keras ``standardize``, image by image along axis 0).

    Args:
        gen: the ImageDataGenerator.
        x: float32 ``[N, H, W, C]``.

    Returns:
        float32 ``[N, H, W, C]``.

    Example:
        >>> standardize_batch(ImageDataGenerator(samplewise_center=True), x)
    """
    if gen.preprocessing_function is not None and len(x):
        x = np.stack([np.asarray(gen.preprocessing_function(img), np.float32) for img in x])
    fc = gen.featurewise_center and gen.mean is not None
    fs = gen.featurewise_std_normalization and gen.std is not None
    for flag, have, what in ((gen.featurewise_center, fc, "featurewise_center"),
                             (gen.featurewise_std_normalization, fs, "featurewise_std_normalization"),
                             (gen.zca_whitening, gen.zca_whitening_matrix is not None, "zca_whitening")):
        if flag and not have:
            warnings.warn(f"This ImageDataGenerator specifies `{what}`, but it hasn't been fit on any training "
                          f"data. Fit it first by calling `.fit(numpy_data)`.", stacklevel=3)
    if not (gen.rescale or gen.samplewise_center or gen.samplewise_std_normalization or fc or fs
            or (gen.zca_whitening and gen.zca_whitening_matrix is not None)):
        return x
    x = np.ascontiguousarray(x, np.float32)
    c = x.shape[-1]
    for name, v in (("mean", gen.mean if fc else None), ("std", gen.std if fs else None)):
        if v is not None and v.size != c:
            raise ValueError(f"ImageDataGenerator.standardize: fitted {name} has {v.size} channels, images have "
                             f"shape {x.shape}")
    a = _C.image_standardize(_C.asarray(x), float(gen.rescale or 0.0), bool(gen.samplewise_center),
                             bool(gen.samplewise_std_normalization),
                             _C.asarray(np.ascontiguousarray(gen.mean.reshape(-1))) if fc else None,
                             _C.asarray(np.ascontiguousarray(gen.std.reshape(-1))) if fs else None)
    if gen.zca_whitening and gen.zca_whitening_matrix is not None:
        m = gen.zca_whitening_matrix
        d = int(np.prod(x.shape[1:]))
        if m.shape != (d, d):
            raise ValueError(f"ImageDataGenerator.standardize: the ZCA matrix {m.shape} was fit on images of "
                             f"another size than {x.shape[1:]}")
        a = _C.matmul(a.reshape([x.shape[0], d]), _C.asarray(m)).reshape(list(x.shape))
    return np.asarray(a)


def save_batch(batch_x, idx, save_to_dir, save_prefix, save_format, hashes):
    """Write each image of a batch to ``save_to_dir`` as Keras does
    (``{prefix}_{index}_{hash}.{format}``, values scaled to [0, 255]), each file atomically.

    Args:
        batch_x: ``[B, H, W, C]`` images (C in 1, 3, 4).
        idx: sample index of each image.
        save_to_dir: existing folder.
        save_prefix: file name prefix.
        save_format: 'png', 'jpeg' / 'jpg', 'bmp', ...
        hashes: ints (one per image) that make names unique across passes.

    Returns:
        The list of paths written.

    Example:
        >>> save_batch(x, [0, 1], "aug", "img", "png", [12, 34])
    """
    from ..io._atomic import atomic_write
    from .image_utils import array_to_img
    fmt = "jpeg" if save_format.lower() == "jpg" else save_format.lower()
    paths = []
    for img_arr, j, h in zip(batch_x, idx, hashes):
        img = array_to_img(img_arr, scale=True)
        if img.mode == "RGBA" and fmt == "jpeg":
            img = img.convert("RGB")
        path = os.path.join(save_to_dir, f"{save_prefix}_{int(j)}_{int(h)}.{save_format}")
        with atomic_write(path) as f:
            img.save(f, format=fmt)
        paths.append(path)
    return paths
