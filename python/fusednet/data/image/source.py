"""``BatchSource``: the duck-typed PyDataset shared by the image pipelines (``__len__``,
``__getitem__(i) -> (x, y)``, ``__iter__``, ``on_epoch_end`` reshuffling with the seed), with
background decoding (:class:`BatchPrefetcher`) and tf.data-style ``map`` / ``prefetch`` /
``cache`` chaining."""
import copy
import threading

import numpy as np

from .._rng import fresh_seed, permutation
from .prefetch import BatchPrefetcher

__all__ = ["BatchSource", "AUTOTUNE"]

#: ``prefetch(AUTOTUNE)`` keeps the default depth (2 batches per worker), as ``tf.data.AUTOTUNE``.
AUTOTUNE = -1


class BatchSource:
    """Base class of the image batch sources (subclasses implement ``_sample`` / ``_assemble``).

    Sample order: pass ``e`` (``e = 0, 1, ...``, advanced by ``on_epoch_end``) visits the ``n``
    samples in ``_order(e)``: ``range(n)`` without shuffling, else the Philox permutation
    ``permutation(n, seed, e)`` (subclasses may keep the stored order for pass 0). Batch ``i`` of
    a pass is samples ``order[i*batch_size:(i+1)*batch_size]``, decoded by ``workers`` background
    threads ahead of the request.

    Args:
        n: number of samples.
        batch_size: int, or None for one sample per item (no batch axis).
        shuffle: reshuffle every pass.
        seed: int or None (None draws one).
        workers: decoding threads (0: decode on the calling thread).

    Returns:
        Items ``(x, y)`` (or ``x`` alone when there are no labels) of NumPy arrays.

    Example:
        >>> ds = fusednet.data.image_dataset_from_directory("data", image_size=(64, 64))
        >>> x, y = ds[0]; len(ds)
    """

    def __init__(self, n, batch_size, shuffle, seed, workers=2):
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                       or batch_size <= 0):
            raise ValueError(f"{self._owner()}: batch_size must be a positive int or None, got {batch_size!r}")
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 0:
            raise ValueError(f"{self._owner()}: workers must be an int >= 0, got {workers!r}")
        self.n = int(n)
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(fresh_seed() if seed is None else seed)
        self.workers = int(workers)
        self.epoch = 0
        self._maps = []
        self._depth = None
        self._cache = None
        self._cache_lock = threading.Lock()
        self._orders = {}
        self._pf = self._new_prefetcher()

    # ------------------------------------------------------------------ subclass hooks
    def _owner(self):
        return type(self).__name__

    def _sample(self, j):
        """Decoded sample j (float32 NumPy image), before any map."""
        raise NotImplementedError

    def _assemble(self, idx, images, key):
        """(x, y) or x from the decoded images of samples ``idx``; ``key`` = (pass, batch index)."""
        raise NotImplementedError

    def _order(self, epoch):
        if not self.shuffle:
            return np.arange(self.n, dtype=np.int64)
        return permutation(self.n, self.seed, epoch)

    # ------------------------------------------------------------------ PyDataset protocol
    def __len__(self):
        if self.batch_size is None:
            return self.n
        return (self.n + self.batch_size - 1) // self.batch_size

    def _new_prefetcher(self):
        return BatchPrefetcher(self._load_key, len(self), self.workers, None if self._depth in (None, AUTOTUNE)
                               else self._depth)

    def _load_key(self, key):
        return self._load(key[1], key[0])

    def _indices(self, i, epoch):
        order = self._orders.get(epoch)
        if order is None:
            order = self._order(epoch)
            keep = {e: o for e, o in list(self._orders.items()) if e >= epoch - 1}   # this pass and the next
            keep[epoch] = order
            self._orders = keep
        if self.batch_size is None:
            return order[i:i + 1]
        return order[i * self.batch_size:(i + 1) * self.batch_size]

    def _decoded(self, j):
        if self._cache is None:
            return self._sample(j)
        hit = self._cache.get(j)
        if hit is None:
            hit = self._sample(j)
            with self._cache_lock:
                self._cache[j] = hit
        return hit

    def _load(self, i, epoch=None):
        epoch = self.epoch if epoch is None else epoch
        idx = self._indices(i, epoch)
        item = self._assemble(idx, [self._decoded(int(j)) for j in idx], (epoch, i))
        if self.batch_size is None:
            item = tuple(a[0] for a in item) if isinstance(item, tuple) else item[0]
        for fn in self._maps:
            item = fn(*item) if isinstance(item, tuple) else fn(item)
        return item

    def __getitem__(self, i):
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"{self._owner()}: index must be an int, got {type(i).__name__}")
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"{self._owner()}: batch index {i} out of range for {n} batches")
        return self._pf.get(self.epoch, int(i))

    def __iter__(self):
        """One pass over the batches; the next iteration is the next (reshuffled) pass."""
        for i in range(len(self)):
            yield self[i]
        self.on_epoch_end()

    def on_epoch_end(self):
        """Start the next pass: new Philox order (when shuffling); its first batches are already
        decoding (the background window runs across the pass boundary)."""
        self.epoch += 1
        self._pf.set_pass(self.epoch, len(self))

    def close(self):
        """Stop the decoding threads now (idle ones also exit by themselves after a second)."""
        self._pf.close()

    @property
    def num_batches(self):
        """Number of batches per pass (``len(self)``)."""
        return len(self)

    # ------------------------------------------------------------------ tf.data-style chaining
    def _derived(self):
        other = copy.copy(self)
        other._maps = list(self._maps)
        other._orders = {}
        other._cache_lock = threading.Lock()
        other._pf = other._new_prefetcher()
        return other

    def map(self, fn):
        """A source whose items are ``fn(x, y)`` (or ``fn(x)``); ``fn`` runs in the decoding threads.

        Args:
            fn: callable on one item's components.

        Returns:
            A new source sharing files, order and seed.

        Example:
            >>> ds = ds.map(lambda x, y: (x / 255.0, y))
        """
        if not callable(fn):
            raise TypeError(f"{self._owner()}.map: fn must be callable, got {type(fn).__name__}")
        other = self._derived()
        other._maps.append(fn)
        return other

    def prefetch(self, buffer_size=AUTOTUNE):
        """A source that keeps ``buffer_size`` batches in flight (``AUTOTUNE``: 2 per worker).

        Args:
            buffer_size: int >= 1 or AUTOTUNE (-1).

        Returns:
            A new source.

        Example:
            >>> ds = ds.prefetch(4)
        """
        if buffer_size != AUTOTUNE and (not isinstance(buffer_size, (int, np.integer)) or buffer_size < 1):
            raise ValueError(f"{self._owner()}.prefetch: buffer_size must be >= 1 or AUTOTUNE, got {buffer_size!r}")
        other = copy.copy(self)
        other._depth = int(buffer_size)
        return other._derived()

    def cache(self, filename=""):
        """A source that keeps decoded images in memory after their first pass (maps still run).

        Args:
            filename: only '' (memory) is supported.

        Returns:
            A new source.

        Example:
            >>> ds = ds.cache()
        """
        if filename:
            raise ValueError(f"{self._owner()}.cache: only the in-memory cache (filename='') is supported")
        other = self._derived()
        other._cache = {}
        return other
