"""Array preprocessing helpers with Keras / scikit-learn semantics (vectorised NumPy glue)."""
import math

import numpy as np

from ._rng import fresh_seed, permutation

__all__ = ["to_categorical", "normalize", "train_test_split"]


def to_categorical(x, num_classes=None):
    """One-hot encode integer class labels (Keras ``to_categorical``).

    Args:
        x: integer labels of any shape; a trailing axis of size 1 is dropped (``[N,1]`` -> ``[N,C]``).
        num_classes: number of classes; default ``max(x) + 1``.

    Returns:
        float32 array of shape ``x.shape + (num_classes,)``.

    Example:
        >>> to_categorical([0, 2], 3)
        array([[1., 0., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    x = np.asarray(x)
    if x.size and not np.issubdtype(x.dtype, np.integer):
        if not np.all(np.isfinite(x)) or not np.all(x == np.round(x)):
            raise ValueError("to_categorical: labels must be integers")
    x = x.astype(np.int64)
    shape = x.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    x = x.reshape(-1)
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes}), got range "
                         f"[{x.min()}, {x.max()}]")
    out = np.zeros((x.size, num_classes), np.float32)
    out[np.arange(x.size), x] = 1.0
    return out.reshape(shape + (num_classes,))


def normalize(x, axis=-1, order=2):
    """Scale ``x`` to unit ``order``-norm along ``axis`` (Keras ``utils.normalize``); zero vectors
    stay zero.

    Example:
        >>> normalize(np.array([[3.0, 4.0]]))
        array([[0.6, 0.8]])
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis).astype(x.dtype)


def _n_test(n, test_size):
    if isinstance(test_size, (float, np.floating)):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"train_test_split: float test_size must be in (0, 1), got {test_size}")
        n_test = int(math.ceil(test_size * n))
    elif isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        n_test = int(test_size)
    else:
        raise ValueError(f"train_test_split: test_size must be a float or int, got {test_size!r}")
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: test_size={test_size} gives {n_test} test samples out of {n}; "
                         f"both splits must be non-empty")
    return n_test


def train_test_split(*arrays, test_size=0.25, shuffle=True, stratify=None, random_state=None):
    """Split arrays into train and test subsets along axis 0 (scikit-learn's contract and order).

    Args:
        *arrays: one or more arrays (x, y, sample weights, ...) of equal length.
        test_size: fraction in (0, 1) (rounded up, like scikit-learn) or an absolute count.
        shuffle: shuffle before splitting (Philox permutation of ``random_state``); without
            shuffling the test set is the last ``test_size`` samples.
        stratify: labels (``[N]`` or one-hot ``[N, C]``) whose class proportions both splits keep
            (requires ``shuffle=True``).
        random_state: int seed; None draws a fresh one.

    Returns:
        ``[a_train, a_test, b_train, b_test, ...]`` (a list, two entries per input array).

    Example:
        >>> x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y,
        ...                                                     random_state=0)
    """
    if not arrays:
        raise ValueError("train_test_split: at least one array required")
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    for a in arrays[1:]:
        if len(a) != n:
            raise ValueError(f"train_test_split: inconsistent lengths {[len(a) for a in arrays]}")
    n_test = _n_test(n, test_size)
    seed = fresh_seed() if random_state is None else int(random_state)
    if stratify is not None:
        if not shuffle:
            raise ValueError("train_test_split: stratify requires shuffle=True")
        labels = np.asarray(stratify)
        if labels.ndim == 2 and labels.shape[1] > 1:
            labels = labels.argmax(1)
        labels = labels.reshape(n, -1)[:, 0] if labels.ndim > 1 else labels
        classes, y_idx, counts = np.unique(labels, return_inverse=True, return_counts=True)
        if counts.min() < 2:
            raise ValueError("train_test_split: the least populated class in stratify has only 1 member; "
                             "each class needs at least 2")
        # largest-remainder allocation of n_test over classes, at least one train sample each
        exact = counts * (n_test / n)
        alloc = np.floor(exact).astype(np.int64)
        short = n_test - alloc.sum()
        order = np.lexsort((permutation(len(classes), seed, 1), -(exact - alloc)))
        alloc[order[:short]] += 1
        alloc = np.minimum(alloc, counts - 1)
        # permute, then stable-sort by class: samples of each class in random order
        perm = permutation(n, seed, 0)
        by_class = perm[np.argsort(y_idx[perm], kind="stable")]
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.arange(n) - np.repeat(starts, counts)
        is_test = rank < np.repeat(alloc, counts)
        test_idx = by_class[is_test]
        train_idx = by_class[~is_test]
        # shuffle the class-grouped index lists so batches mix classes
        test_idx = test_idx[permutation(len(test_idx), seed, 2)]
        train_idx = train_idx[permutation(len(train_idx), seed, 3)]
    elif shuffle:
        perm = permutation(n, seed, 0)
        train_idx, test_idx = perm[: n - n_test], perm[n - n_test:]
    else:
        train_idx, test_idx = np.arange(n - n_test), np.arange(n - n_test, n)
    out = []
    for a in arrays:
        out += [a[train_idx], a[test_idx]]
    return out
