"""Batch sources for ``fit`` / ``evaluate`` / ``predict``: everything that is not in-memory arrays.

A source yields whole batches: ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (x / y
may be lists or dicts for multi-input / multi-output models). Accepted:

* a :class:`fusednet.data.Dataset` (re-iterable; cardinality known, unknown or infinite);
* a :class:`fusednet.utils.PyDataset` / ``Sequence`` (``ds[i]`` in order, ``on_epoch_end``);
* a Python generator or any iterator (one pass only: it continues across epochs);
* any other iterable of batches, e.g. a torch ``DataLoader`` (re-iterated every epoch; its list
  batches are read as tuples and its tensors converted with ``np.asarray``).

Steps (Keras semantics): without ``steps`` an epoch is one full pass; a known-infinite source is
a ValueError. With ``steps`` the iterator persists across epochs (and across the validation runs
of one ``fit``); when it runs dry before ``steps`` batches the epoch ends there with a warning
and the next epoch starts a new pass (a one-shot iterator then has nothing left and training
stops, with a warning). A PyDataset's ``on_epoch_end`` runs after every epoch.
"""
import itertools
import os
import sys
import warnings

import numpy as np

from .. import _C
from ..tensor import Tensor

__all__ = ["is_source", "BatchSource", "unpack_batch", "ran_out_warning", "as_source", "check_no_targets", "peek",
           "warn_user"]


def _dataset_cls():
    from ..data.dataset import Dataset
    return Dataset


def _pydataset_cls():
    from ..utils.py_dataset import PyDataset
    return PyDataset


def _is_array_leaf(x):
    return isinstance(x, (np.ndarray, _C.Array, Tensor, np.generic, int, float)) or hasattr(x, "shape")


def is_source(x):
    """True when ``x`` is a batch source (not arrays / lists / dicts of arrays).

    Args:
        x: what the user passed as ``x``.

    Returns:
        bool.

    Example:
        >>> is_source(np.zeros((4, 2))), is_source(iter([]))
        (False, True)
    """
    if x is None or isinstance(x, (str, bytes, list, tuple, dict)) or _is_array_leaf(x):
        return False
    if isinstance(x, (_dataset_cls(), _pydataset_cls())):
        return True
    return hasattr(x, "__iter__") or hasattr(x, "__next__")


def _is_torch_loader(x):
    return type(x).__module__.startswith("torch.utils.data")


def unpack_batch(batch, what):
    """``(x, y, sample_weight)`` of one batch (Keras ``unpack_x_y_sample_weight``).

    Args:
        batch: x, or a tuple ``(x,)``, ``(x, y)``, ``(x, y, sample_weight)``.
        what: name for the error message.

    Returns:
        A 3-tuple (missing parts are None).

    Example:
        >>> x, y, sw = unpack_batch((xb, yb), "fit")
    """
    if not isinstance(batch, tuple):
        return batch, None, None
    if len(batch) == 1:
        return batch[0], None, None
    if len(batch) == 2:
        return batch[0], batch[1], None
    if len(batch) == 3:
        return batch
    raise ValueError(f"{what}: a batch must be x, (x,), (x, y) or (x, y, sample_weight); got a tuple "
                     f"of {len(batch)} elements")


def warn_user(msg):
    """``warnings.warn(msg, UserWarning)`` attributed to the first caller outside fusednet (the
    user's ``fit`` line), however deep in the loops and generators it is raised.

    Args:
        msg: the message.

    Returns:
        None.

    Example:
        >>> warn_user("fit: your input ran out of data")
    """
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    level, f = 1, sys._getframe(0)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(pkg):
        f, level = f.f_back, level + 1
    warnings.warn(msg, UserWarning, stacklevel=level)


def ran_out_warning(what, steps):
    """Warn that a source ran dry before ``steps`` batches (Keras' message).

    Args:
        what: 'fit', 'evaluate', ...
        steps: the steps that were asked for.

    Returns:
        None.

    Example:
        >>> ran_out_warning("fit", 10)
    """
    warn_user(f"{what}: your input ran out of data before {steps} steps; the epoch ends here. "
              f"Make sure that your dataset or generator can generate at least "
              f"`steps_per_epoch * epochs` batches.")


class BatchSource:
    """One batch source with Keras' per-epoch iteration rules (see the module docstring).

    Args:
        data: the source (Dataset, PyDataset, iterator, iterable).
        what: name for messages ('fit', 'evaluate', 'predict', 'fit: validation_data').

    Returns:
        ``epoch(steps)`` yields the raw batches of one epoch; ``length`` is the number of batches
        per pass when known (else None).

    Example:
        >>> src = BatchSource(dataset, "fit")
        >>> for batch in src.epoch(steps=None):
        ...     x, y, sw = unpack_batch(batch, "fit")
    """

    def __init__(self, data, what):
        self.data, self.what = data, what
        self._it = None
        self._in_pass = 0
        self.infinite = False
        self.length = None
        self.torch = _is_torch_loader(data)
        Dataset, PyDataset = _dataset_cls(), _pydataset_cls()
        if isinstance(data, Dataset):
            self.kind = "dataset"
            c = data.cardinality()
            self.infinite = c == -1
            self.length = c if c >= 0 else None
        elif isinstance(data, PyDataset):
            self.kind = "pydataset"
            self.length = len(data)
        elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
            # a Keras ``Sequence`` by duck typing (e.g. ImageDataGenerator's DirectoryIterator,
            # which also cycles forever through ``next()``): one pass = ds[0..len-1]
            self.kind = "sequence"
            self.length = len(data)
        elif hasattr(data, "__next__"):
            self.kind = "iterator"
            self.infinite = type(data) in (itertools.count, itertools.cycle)
        elif hasattr(data, "__iter__"):
            self.kind = "iterable"
            try:
                self.length = len(data)
            except TypeError:
                self.length = None
        else:  # pragma: no cover - is_source guards
            raise TypeError(f"{what}: unsupported data type {type(data).__name__}")

    def check_steps(self, steps, arg="steps_per_epoch"):
        """ValueError for a known-infinite source without ``steps``; the steps to announce."""
        if steps is None and self.infinite:
            raise ValueError(f"{self.what}: the data is infinite (e.g. Dataset.repeat() or an endless "
                             f"generator); pass {arg}= to say how many batches make one epoch")
        if steps is not None:
            if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps <= 0:
                raise ValueError(f"{self.what}: {arg} must be a positive integer, got {steps!r}")
            return int(steps)
        return self.length

    def _new_iter(self):
        if self.kind == "pydataset":
            from ..utils.py_dataset import iterate_py_dataset
            return iterate_py_dataset(self.data)
        if self.kind == "sequence":
            return (self.data[i] for i in range(len(self.data)))
        if self.kind == "iterator":
            return self.data
        return iter(self.data)

    def _end_pass(self):
        it, self._it = self._it, None
        if it is not None and it is not self.data:
            close = getattr(it, "close", None)
            if close is not None:
                close()
        if self.kind == "pydataset" or (self.kind == "sequence" and hasattr(self.data, "on_epoch_end")):
            self.data.on_epoch_end()

    def epoch(self, steps=None, warn=True):
        """Yield the raw batches of one epoch (``steps`` at most)."""
        if self._it is None:
            self._it = self._new_iter()
        it = self._it
        k = 0
        while steps is None or k < steps:
            try:
                b = next(it)
            except StopIteration:
                self._end_pass()
                if steps is not None and self.length and self._in_pass:
                    # a source of known length starts its next pass (Keras): steps_per_epoch
                    # that does not divide the length never runs dry
                    self._it = it = self._new_iter()
                    self._in_pass = 0
                    continue
                self._in_pass = 0
                if steps is not None and warn and k:     # k == 0: the caller reports the empty epoch
                    ran_out_warning(self.what, steps)
                return
            k += 1
            self._in_pass += 1           # batches of the current pass (across epochs)
            yield self._host(b)
        if self.kind == "pydataset":       # Keras: after every epoch, the pass continues
            self.data.on_epoch_end()

    def _host(self, b):
        if self.torch:
            if isinstance(b, list):
                b = tuple(b)
            return _torch_to_np(b)
        return b

    def close(self):
        """Drop the live iterator (stops prefetch threads / PyDataset workers)."""
        it, self._it = self._it, None
        if it is not None and it is not self.data:
            close = getattr(it, "close", None)
            if close is not None:
                close()


def _torch_to_np(b):
    if isinstance(b, (tuple, list)):
        return type(b)(_torch_to_np(v) for v in b)
    if isinstance(b, dict):
        return {k: _torch_to_np(v) for k, v in b.items()}
    if hasattr(b, "detach") and hasattr(b, "cpu"):
        return np.asarray(b.detach().cpu())
    return b


def as_source(x, what):
    """A :class:`BatchSource` for ``x`` when it is a source (passed through if it already is one),
    else None (arrays).

    Args:
        x: the data.
        what: name for messages.

    Returns:
        BatchSource or None.

    Example:
        >>> src = as_source(dataset, "fit")
    """
    if isinstance(x, BatchSource):
        return x
    return BatchSource(x, what) if is_source(x) else None


def check_no_targets(what, y, sample_weight):
    """ValueError when y / sample_weight are given next to a source (Keras).

    Args:
        what: 'fit' / 'evaluate'.
        y: the y argument.
        sample_weight: the sample_weight argument.

    Returns:
        None.

    Example:
        >>> check_no_targets("fit", None, None)
    """
    if y is not None:
        raise ValueError(f"{what}: y must not be given when x is a dataset, generator or PyDataset "
                         f"(the source yields (x, y) batches)")
    if sample_weight is not None:
        raise ValueError(f"{what}: sample_weight must not be given when x is a dataset, generator or "
                         f"PyDataset (yield (x, y, sample_weight) batches instead)")


def peek(gen):
    """Look at the first item of a generator without losing it.

    Args:
        gen: an iterator.

    Returns:
        (first item or None, an iterator over all items).

    Example:
        >>> first, items = peek(iter([1, 2]))
    """
    for first in gen:
        def chained():
            yield first
            yield from gen
        return first, chained()
    return None, iter(())


_END = object()


def resumed(model, batches):
    """The epoch's batches, minus those a mid-epoch backup already trained on.

    ``BackupAndRestore(save_freq=<int>)`` leaves ``model._resume_step = (done, seed, offset)``
    when it restores a backup taken after ``done`` steps of an epoch: the epoch starts from the
    global random stream as it was at the epoch's start (so its shuffle permutation is the same),
    the first ``done`` batches are drawn and dropped, and the stream jumps to the state after the
    backed-up step (so later dropout keys are the same). Without a pending resume: ``batches``.

    Args:
        model: the model being fitted.
        batches: the epoch's iterator of batches.

    Returns:
        An iterator of the remaining batches.

    Example:
        >>> feed = resumed(model, batches(epoch))
    """
    pos = model.__dict__.pop("_resume_step", None)
    return batches if pos is None else _skip(batches, *pos)


def _skip(batches, done, seed, offset):
    from .. import random as _random
    it = iter(batches)
    for _ in range(done):
        if next(it, _END) is _END:
            break
    _random.seed(seed)
    _random._stream.offset = offset
    yield from it
