"""Mini-batch iteration with deterministic Philox shuffling."""
import math

import numpy as np

from ._rng import fresh_seed, permutation

__all__ = ["BatchIterator", "batches"]


def _take(a, idx):
    if a is None:
        return None
    if isinstance(a, (list, tuple)):
        return type(a)(_take(v, idx) for v in a)
    if isinstance(a, dict):
        return {k: _take(v, idx) for k, v in a.items()}
    return a[idx]


def _length(a, name):
    if isinstance(a, (list, tuple)):
        lens = {_length(v, name) for v in a}
    elif isinstance(a, dict):
        lens = {_length(v, name) for v in a.values()}
    else:
        return len(a)
    if len(lens) != 1:
        raise ValueError(f"BatchIterator: the arrays in {name} have different lengths {sorted(lens)}")
    return lens.pop()


class BatchIterator:
    """Iterates ``(x_batch, y_batch)`` (or ``(x, y, w)`` with sample weights) over mini-batches.

    Each pass (``iter()``) is one epoch. With ``shuffle=True`` epoch ``e`` uses the permutation
    ``fusednet._C.permutation(n, seed, e)``: the order is reproducible for a seed, differs between
    epochs, and is the same on CPU and CUDA builds.

    Args:
        x: array, or list/tuple/dict of arrays (multi-input), indexed along axis 0.
        y: targets (same structure rules) or None.
        batch_size: samples per batch (Keras default 32).
        shuffle: reshuffle at the start of every epoch.
        seed: int seed for shuffling; None draws one.
        drop_remainder: skip the last incomplete batch.
        sample_weight: optional per-sample weights, yielded as a third element.

    Example:
        >>> it = BatchIterator(x, y, batch_size=32, shuffle=True, seed=0)
        >>> for epoch in range(5):
        ...     for xb, yb in it:
        ...         ...
    """

    def __init__(self, x, y=None, batch_size=32, shuffle=True, seed=None, drop_remainder=False,
                 sample_weight=None):
        if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"BatchIterator: batch_size must be a positive int, got {batch_size!r}")
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.n = _length(x, "x")
        for other, name in ((y, "y"), (sample_weight, "sample_weight")):
            if other is not None and _length(other, name) != self.n:
                raise ValueError(f"BatchIterator: x has {self.n} samples but {name} has {_length(other, name)}")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = fresh_seed() if seed is None else int(seed)
        self.drop_remainder = drop_remainder
        self.epoch = 0

    def __len__(self):
        return self.n // self.batch_size if self.drop_remainder else math.ceil(self.n / self.batch_size)

    def indices(self, epoch=None):
        """Sample order (int64) for ``epoch`` (default: the next epoch)."""
        e = self.epoch if epoch is None else epoch
        return permutation(self.n, self.seed, e) if self.shuffle else np.arange(self.n, dtype=np.int64)

    def __iter__(self):
        order = self.indices()
        self.epoch += 1
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            if not self.shuffle:
                idx = slice(b * self.batch_size, min((b + 1) * self.batch_size, self.n))  # views, no copy
            out = (_take(self.x, idx), _take(self.y, idx))
            if self.sample_weight is not None:
                out += (_take(self.sample_weight, idx),)
            yield out


def batches(x, y=None, batch_size=32, shuffle=False, seed=None, drop_remainder=False):
    """One pass over ``(x, y)`` in mini-batches (see :class:`BatchIterator`).

    Example:
        >>> for xb, yb in batches(x, y, batch_size=128, shuffle=True, seed=1):
        ...     ...
    """
    return iter(BatchIterator(x, y, batch_size, shuffle, seed, drop_remainder))
