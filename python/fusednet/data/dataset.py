"""A small ``tf.data``-shaped input pipeline: :class:`Dataset`.

Elements are NumPy arrays (or tuples / dicts of them). A dataset is re-iterable: every
``iter()`` starts a fresh pass (``shuffle`` reshuffles each pass, as ``tf.data`` does by
default). ``fit`` / ``evaluate`` / ``predict`` accept a Dataset of batches directly.

Cardinality follows ``tf.data``: a number of elements, :data:`INFINITE_CARDINALITY` (-1, after
``repeat()``) or :data:`UNKNOWN_CARDINALITY` (-2, after ``filter`` or ``from_generator``).

``prefetch(n)`` runs the upstream pipeline in a background thread filling a bounded queue of
``n`` elements. The thread stops when the consuming iterator is exhausted, closed or dropped,
and an exception raised upstream is re-raised in the consumer (same exception, with a note).
"""
import numpy as np

from ._rng import fresh_seed
from .prefetch import PrefetchIterator

__all__ = ["Dataset", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY"]

INFINITE_CARDINALITY = -1
UNKNOWN_CARDINALITY = -2


def _to_np(v):
    """An array-like leaf (NumPy, fusednet Array/Tensor, torch tensor, list) as NumPy."""
    if hasattr(v, "detach") and hasattr(v, "cpu"):      # torch
        return v.detach().cpu().numpy()
    if hasattr(v, "numpy") and not isinstance(v, np.ndarray):
        return np.asarray(v.numpy())
    return np.asarray(v)


def _map_struct(fn, s):
    if isinstance(s, tuple):
        return tuple(_map_struct(fn, v) for v in s)
    if isinstance(s, dict):
        return {k: _map_struct(fn, v) for k, v in s.items()}
    return fn(s)


def _leaves(s):
    if isinstance(s, tuple):
        return [x for v in s for x in _leaves(v)]
    if isinstance(s, dict):
        return [x for v in s.values() for x in _leaves(v)]
    return [s]


def _stack(elems):
    """Stack a list of equally structured elements along a new batch axis."""
    first = elems[0]
    if isinstance(first, tuple):
        return tuple(_stack([e[i] for e in elems]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _stack([e[k] for e in elems]) for k in first}
    try:
        return np.stack([np.asarray(e) for e in elems])
    except ValueError as e:
        shapes = sorted({np.shape(x) for x in elems})
        raise ValueError(f"Dataset.batch: elements have different shapes {shapes}; they must match "
                         f"to be batched") from e


class Dataset:
    """A re-iterable pipeline of elements (``tf.data.Dataset`` shaped).

    Build one with :meth:`from_tensor_slices` (or :meth:`from_generator`), then chain
    transformations; each returns a new Dataset.

    Args:
        (internal) use the factory methods.

    Returns:
        Iterating yields elements: NumPy arrays, or tuples / dicts of them.

    Example:
        >>> ds = (fusednet.data.Dataset.from_tensor_slices((x, y))
        ...       .shuffle(1024, seed=0).batch(32).prefetch(2))
        >>> model.fit(ds, epochs=3)
        >>> for xb, yb in ds.take(1):
        ...     print(xb.shape, yb.shape)
    """

    def __init__(self, parent=None):
        self._parent = parent

    # ------------------------------------------------------------------ factories
    @staticmethod
    def from_tensor_slices(tensors):
        """Elements are the slices of ``tensors`` along axis 0.

        Args:
            tensors: an array (NumPy, fusednet Array/Tensor, torch, nested list), a tuple of
                arrays (e.g. ``(x, y)``) or a dict of arrays; all with the same first dimension.

        Returns:
            A Dataset of ``len(tensors)`` elements with the same structure.

        Example:
            >>> ds = Dataset.from_tensor_slices({"a": xa, "b": xb})
        """
        return _Slices(tensors)

    @staticmethod
    def from_generator(generator, output_signature=None):
        """Elements produced by calling ``generator()`` (a fresh call per pass).

        Args:
            generator: a callable returning an iterator (e.g. a generator function).
            output_signature: accepted for tf.data compatibility, not used.

        Returns:
            A Dataset of unknown cardinality.

        Example:
            >>> ds = Dataset.from_generator(lambda: ((x[i], y[i]) for i in range(10)))
        """
        if not callable(generator):
            raise TypeError(f"Dataset.from_generator: generator must be callable (a generator function), "
                            f"got {type(generator).__name__}")
        return _FromGenerator(generator)

    # ------------------------------------------------------------------ transformations
    def map(self, map_func, num_parallel_calls=None, deterministic=None):
        """Apply ``map_func`` to every element (a tuple element is passed as separate args).

        Args:
            map_func: callable; its exceptions propagate to the consumer.
            num_parallel_calls: accepted for compatibility; ``map`` runs in the consuming
                thread (use ``prefetch`` to overlap it with training).

        Returns:
            The mapped Dataset (same cardinality).

        Example:
            >>> ds = ds.map(lambda x, y: (x / 255.0, y))
        """
        if not callable(map_func):
            raise TypeError(f"Dataset.map: map_func must be callable, got {type(map_func).__name__}")
        return _Map(self, map_func)

    def filter(self, predicate):
        """Keep the elements for which ``predicate(*element)`` is true (unknown cardinality).

        Example:
            >>> ds = ds.filter(lambda x, y: y != 0)
        """
        return _Filter(self, predicate)

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None, deterministic=None):
        """Stack consecutive elements into batches of ``batch_size`` along a new axis 0.

        Args:
            batch_size: positive int.
            drop_remainder: drop the last batch when it is smaller than ``batch_size``.

        Returns:
            A Dataset of batches; ``ceil(n / batch_size)`` of them (``floor`` when dropping).

        Example:
            >>> Dataset.from_tensor_slices(np.arange(10)).batch(4)   # 3 batches: 4, 4, 2
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"Dataset.batch: batch_size must be a positive integer, got {batch_size!r}")
        return _Batch(self, int(batch_size), bool(drop_remainder))

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        """Shuffle with a buffer of ``buffer_size`` elements (``tf.data`` semantics: a buffer at
        least as large as the dataset gives a uniform permutation).

        Args:
            buffer_size: positive int.
            seed: int seed (None: a fresh random seed); pass k gives the same order every run.
            reshuffle_each_iteration: a different order on each pass (default True).

        Returns:
            The shuffled Dataset.

        Example:
            >>> ds = Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(32)
        """
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, (int, np.integer)) or buffer_size <= 0:
            raise ValueError(f"Dataset.shuffle: buffer_size must be a positive integer, got {buffer_size!r}")
        return _Shuffle(self, int(buffer_size), fresh_seed() if seed is None else int(seed),
                        bool(reshuffle_each_iteration))

    def prefetch(self, buffer_size):
        """Produce up to ``buffer_size`` elements ahead in a background thread.

        Args:
            buffer_size: positive int (``-1`` / AUTOTUNE: 2).

        Returns:
            The same elements; the consumer only waits when the producer is slower.

        Example:
            >>> ds = ds.map(augment).batch(64).prefetch(2)
        """
        if buffer_size == -1:
            buffer_size = 2
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, (int, np.integer)) or buffer_size <= 0:
            raise ValueError(f"Dataset.prefetch: buffer_size must be a positive integer, got {buffer_size!r}")
        return _Prefetch(self, int(buffer_size))

    def repeat(self, count=None):
        """Repeat the dataset ``count`` times (None or -1: forever).

        Example:
            >>> ds.repeat(2)          # two passes, cardinality doubled
        """
        if count is not None and (not isinstance(count, (int, np.integer)) or count < -1):
            raise ValueError(f"Dataset.repeat: count must be None, -1 or a non-negative int, got {count!r}")
        return _Repeat(self, None if count in (None, -1) else int(count))

    def take(self, count):
        """The first ``count`` elements (-1: all).

        Example:
            >>> first = next(iter(ds.take(1)))
        """
        return _Take(self, int(count))

    def skip(self, count):
        """All but the first ``count`` elements.

        Example:
            >>> val = ds.take(10); train = ds.skip(10)
        """
        return _Skip(self, int(count))

    # ------------------------------------------------------------------ inspection
    def cardinality(self):
        """Number of elements, or INFINITE_CARDINALITY (-1) / UNKNOWN_CARDINALITY (-2).

        Example:
            >>> Dataset.from_tensor_slices(np.zeros(10)).batch(3).cardinality()
            4
        """
        return self._card()

    def __len__(self):
        c = self._card()
        if c == INFINITE_CARDINALITY:
            raise TypeError("Dataset: the dataset is infinite (repeat()); it has no length")
        if c == UNKNOWN_CARDINALITY:
            raise TypeError("Dataset: the dataset length is unknown (filter/from_generator)")
        return c

    def __iter__(self):
        return self._iter()

    def as_numpy_iterator(self):
        """An iterator over the elements (they already are NumPy arrays).

        Example:
            >>> list(Dataset.from_tensor_slices(np.arange(3)).as_numpy_iterator())
        """
        return iter(self)

    def __repr__(self):
        return f"<{type(self).__name__.lstrip('_')}Dataset cardinality={self._card()}>"

    # subclasses implement _iter() and _card()
    def _card(self):  # pragma: no cover - abstract
        return self._parent._card()

    def _iter(self):  # pragma: no cover - abstract
        raise NotImplementedError


class _Slices(Dataset):
    def __init__(self, tensors):
        super().__init__()
        if isinstance(tensors, list) and tensors and all(hasattr(t, "shape") for t in tensors):
            tensors = tuple(tensors)    # a list of arrays: a tuple structure (fusednet convenience)
        self.data = _map_struct(_to_np, tensors)
        lens = {a.shape[0] if a.ndim else None for a in _leaves(self.data)}
        if None in lens:
            raise ValueError("Dataset.from_tensor_slices: every array needs a first (slicing) axis; "
                             "got a scalar")
        if len(lens) != 1:
            raise ValueError(f"Dataset.from_tensor_slices: all arrays must have the same first "
                             f"dimension, got {sorted(lens)}")
        self.n = lens.pop()

    def _card(self):
        return self.n

    def _iter(self):
        data = self.data
        for i in range(self.n):
            yield _map_struct(lambda a: a[i], data)

    def _rows(self, idx):
        return _map_struct(lambda a: a[idx], self.data)


class _FromGenerator(Dataset):
    def __init__(self, gen):
        super().__init__()
        self.gen = gen

    def _card(self):
        return UNKNOWN_CARDINALITY

    def _iter(self):
        yield from self.gen()


class _Map(Dataset):
    def __init__(self, parent, fn):
        super().__init__(parent)
        self.fn = fn

    def _iter(self):
        fn = self.fn
        for e in self._parent:
            yield fn(*e) if isinstance(e, tuple) else fn(e)


class _Filter(Dataset):
    def __init__(self, parent, pred):
        super().__init__(parent)
        self.pred = pred

    def _card(self):
        c = self._parent._card()
        return c if c == INFINITE_CARDINALITY else UNKNOWN_CARDINALITY

    def _iter(self):
        pred = self.pred
        for e in self._parent:
            if pred(*e) if isinstance(e, tuple) else pred(e):
                yield e


class _Batch(Dataset):
    def __init__(self, parent, n, drop):
        super().__init__(parent)
        self.bs, self.drop = n, drop

    def _card(self):
        c = self._parent._card()
        if c < 0:
            return c
        return c // self.bs if self.drop else -(-c // self.bs)

    def _iter(self):
        p, bs = self._parent, self.bs
        if isinstance(p, _Slices):                  # fast path: slices of the arrays (views)
            stop = p.n - p.n % bs if self.drop else p.n
            for s in range(0, stop, bs):
                yield p._rows(slice(s, min(s + bs, p.n)))
            return
        if isinstance(p, _Shuffle) and isinstance(p._parent, _Slices) and p.buf >= p._parent.n:
            perm = p._permutation()                 # one gather per batch instead of a stack
            src = p._parent
            stop = src.n - src.n % bs if self.drop else src.n
            for s in range(0, stop, bs):
                yield src._rows(perm[s:s + bs])
            return
        buf = []
        for e in p:
            buf.append(e)
            if len(buf) == bs:
                yield _stack(buf)
                buf = []
        if buf and not self.drop:
            yield _stack(buf)


class _Shuffle(Dataset):
    def __init__(self, parent, buf, seed, reshuffle):
        super().__init__(parent)
        self.buf, self.seed, self.reshuffle = buf, seed, reshuffle
        self._passes = 0

    def _rng(self):
        k = self._passes if self.reshuffle else 0
        self._passes += 1
        return np.random.Generator(np.random.Philox(key=[self.seed & ((1 << 64) - 1), k]))

    def _permutation(self):
        return self._rng().permutation(self._parent.n)

    def _iter(self):
        p = self._parent
        if isinstance(p, _Slices) and self.buf >= p.n:
            perm = self._permutation()
            for i in perm:
                yield p._rows(int(i))
            return
        rng = self._rng()
        buf = []
        for e in p:
            if len(buf) < self.buf:
                buf.append(e)
                continue
            j = int(rng.integers(len(buf)))
            out, buf[j] = buf[j], e
            yield out
        while buf:
            j = int(rng.integers(len(buf)))
            buf[j], buf[-1] = buf[-1], buf[j]
            yield buf.pop()


class _Repeat(Dataset):
    def __init__(self, parent, count):
        super().__init__(parent)
        self.count = count

    def _card(self):
        c = self._parent._card()
        if self.count is None:
            return INFINITE_CARDINALITY if c != 0 else 0
        return c * self.count if c >= 0 else c

    def _iter(self):
        k = 0
        while self.count is None or k < self.count:
            got = False
            for e in self._parent:
                got = True
                yield e
            if not got:
                return                              # an empty dataset repeated is empty
            k += 1


class _Take(Dataset):
    def __init__(self, parent, count):
        super().__init__(parent)
        self.count = count

    def _card(self):
        c = self._parent._card()
        if self.count < 0:
            return c
        if c == INFINITE_CARDINALITY:
            return self.count
        return min(c, self.count) if c >= 0 else UNKNOWN_CARDINALITY

    def _iter(self):
        if self.count < 0:
            yield from self._parent
            return
        if self.count == 0:
            return
        for i, e in enumerate(self._parent):
            yield e
            if i + 1 >= self.count:
                return


class _Skip(Dataset):
    def __init__(self, parent, count):
        super().__init__(parent)
        self.count = count

    def _card(self):
        c = self._parent._card()
        return max(c - self.count, 0) if c >= 0 else c

    def _iter(self):
        for i, e in enumerate(self._parent):
            if i >= self.count:
                yield e


class _Prefetch(Dataset):
    def __init__(self, parent, n):
        super().__init__(parent)
        self.n = n

    def _iter(self):
        return PrefetchIterator(iter(self._parent), self.n)
