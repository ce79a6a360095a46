"""``PyDataset`` (alias ``Sequence``): batches by index, Keras 3 shaped.

``fit`` reads ``ds[0] .. ds[len(ds) - 1]`` every epoch (in order), then calls
``on_epoch_end()``. With ``workers > 1`` batches are loaded by a pool of threads, up to
``max_queue_size`` ahead, still handed to the model in index order. ``use_multiprocessing``
is accepted for Keras compatibility but threads are always used (documented difference).
"""
import concurrent.futures as _futures
import warnings

__all__ = ["PyDataset", "Sequence", "iterate_py_dataset"]


class PyDataset:
    """Base class of index-addressed batch sources for ``fit`` / ``evaluate`` / ``predict``.

    Subclasses implement ``__len__`` (number of batches) and ``__getitem__(index)`` returning
    one batch: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``; optionally ``on_epoch_end``.

    Args:
        workers: threads loading batches (1: in the training thread).
        use_multiprocessing: accepted; threads are used regardless.
        max_queue_size: batches loaded ahead when ``workers > 1``.

    Returns:
        (a base class)

    Example:
        >>> class Batches(fusednet.utils.PyDataset):
        ...     def __init__(self, x, y, batch_size, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.x, self.y, self.bs = x, y, batch_size
        ...     def __len__(self):
        ...         return -(-len(self.x) // self.bs)
        ...     def __getitem__(self, i):
        ...         s = slice(i * self.bs, (i + 1) * self.bs)
        ...         return self.x[s], self.y[s]
        >>> model.fit(Batches(x, y, 32, workers=2), epochs=3)
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"PyDataset: workers must be a positive int, got {workers!r}")
        if isinstance(max_queue_size, bool) or not isinstance(max_queue_size, int) or max_queue_size < 1:
            raise ValueError(f"PyDataset: max_queue_size must be a positive int, got {max_queue_size!r}")
        self._workers = workers
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = max_queue_size

    @property
    def workers(self):
        return getattr(self, "_workers", 1)

    @property
    def use_multiprocessing(self):
        return getattr(self, "_use_multiprocessing", False)

    @property
    def max_queue_size(self):
        return getattr(self, "_max_queue_size", 10)

    @property
    def num_batches(self):
        """Number of batches (``len(self)``)."""
        return len(self)

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index)")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__()")

    def on_epoch_end(self):
        """Called after every epoch (e.g. to reshuffle)."""


#: Keras 2 name of :class:`PyDataset`.
Sequence = PyDataset

_warned_mp = []


def iterate_py_dataset(ds, limit=None):
    """Yield ``ds[0], ds[1], ...`` (``limit`` batches at most) in index order; with
    ``ds.workers > 1`` they are loaded by threads. Closing the generator stops the workers.

    Args:
        ds: a PyDataset (or any object with ``__len__`` / ``__getitem__``).
        limit: optional maximum number of batches.

    Returns:
        A generator of batches.

    Example:
        >>> for batch in iterate_py_dataset(ds):
        ...     ...
    """
    n = len(ds)
    if limit is not None:
        n = min(n, int(limit))
    workers = getattr(ds, "workers", 1) or 1
    if getattr(ds, "use_multiprocessing", False) and not _warned_mp:
        _warned_mp.append(True)
        warnings.warn("PyDataset: use_multiprocessing=True is not supported; loading with threads",
                      stacklevel=3)
    if workers <= 1:
        for i in range(n):
            yield ds[i]
        return
    ahead = max(getattr(ds, "max_queue_size", 10), workers)
    pool = _futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fusednet-pydataset")
    pending = []
    try:
        nxt = 0
        for i in range(n):
            while nxt < n and len(pending) < ahead:
                pending.append(pool.submit(ds.__getitem__, nxt))
                nxt += 1
            yield pending.pop(0).result()
    finally:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True)
