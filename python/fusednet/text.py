"""Text generation helpers: :func:`sample` draws the next token from logits.

The probabilities come from the native softmax (``_C.softmax_forward``) and the random numbers
from Philox (``_C.random_uniform`` on a ``(seed, offset)`` pair of :mod:`fusednet.random`), one
uniform per row, so a given seed gives the same tokens on any machine and thread count. The
top-k / top-p filtering and the inverse-CDF pick are vectorised NumPy over the ``(rows, vocab)``
matrix of one generation step (sorting has no native kernel yet; this runs once per generated
token, outside any training loop).
"""
import numpy as np

from . import _C
from . import random as _random

__all__ = ["sample"]


def _logits_2d(logits):
    from .tensor import Tensor
    if isinstance(logits, Tensor):
        logits = logits.data
    a = np.asarray(logits.numpy() if isinstance(logits, _C.Array) else logits, dtype=np.float32)
    if a.ndim == 0 or a.shape[-1] == 0:
        raise ValueError(f"sample: logits must have a non-empty last (vocabulary) axis, got shape {a.shape}")
    if not np.all(np.isfinite(a) | (a == -np.inf)):
        raise ValueError("sample: logits must not contain NaN or +inf")
    return a.reshape(-1, a.shape[-1]), a.shape[:-1]


def sample(logits, temperature=1.0, top_k=None, top_p=None, seed=None):
    """Sample one token id per row of ``logits``.

    Args:
        logits: ``(..., vocab)`` unnormalised log-probabilities (NumPy, Array or Tensor); ``-inf``
            entries are never drawn.
        temperature: divides the logits; ``0`` is greedy (argmax, first index on ties).
        top_k: keep only the k most likely tokens of each row (ties at the k-th value are broken
            by the lower index).
        top_p: nucleus sampling: keep the smallest set of most likely tokens whose probability
            mass is >= top_p (at least one token).
        seed: int for a reproducible draw; None draws from fusednet's global random stream.

    Returns:
        int64 NumPy array of shape ``logits.shape[:-1]`` (a Python int for 1-D logits).

    Example:
        >>> fusednet.text.sample(np.array([0.1, 2.0, -1.0]), temperature=0.0)
        1
        >>> fusednet.text.sample(logits, temperature=0.8, top_k=40, seed=0)
    """
    x, lead = _logits_2d(logits)
    R, V = x.shape
    if not (isinstance(temperature, (int, float, np.floating)) and temperature >= 0 and np.isfinite(temperature)):
        raise ValueError(f"sample: temperature must be a finite number >= 0, got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, (int, np.integer)) or isinstance(top_k, bool) or top_k < 1):
        raise ValueError(f"sample: top_k must be a positive int or None, got {top_k!r}")
    if top_p is not None and not (0.0 < float(top_p) <= 1.0):
        raise ValueError(f"sample: top_p must be in (0, 1], got {top_p!r}")
    if np.any(np.all(x == -np.inf, axis=1)):
        raise ValueError("sample: a row of logits is entirely -inf")
    rows = np.arange(R)
    if temperature == 0:
        ids = _C.argmax(_C.asarray(np.ascontiguousarray(x)), -1).numpy()
        return _shape(ids, lead)
    p = _C.softmax_forward(_C.asarray(np.ascontiguousarray(x / np.float32(temperature)))).numpy()
    # descending by probability, ties by the lower index (stable sort of -p)
    order = np.argsort(-p, axis=1, kind="stable")
    ps = np.take_along_axis(p, order, axis=1).astype(np.float64)
    keep = np.ones((R, V), bool)
    if top_k is not None:
        keep[:, min(int(top_k), V):] = False
    if top_p is not None:
        before = np.cumsum(ps, axis=1) - ps           # mass of the tokens ranked above
        keep &= before < float(top_p)                 # smallest prefix reaching top_p
        keep[:, 0] = True
    ps = np.where(keep, ps, 0.0)
    cdf = np.cumsum(ps, axis=1)
    s, off = (_random.SeedStream(seed).next() if seed is not None else _random.next_key())
    u = _C.random_uniform([R], s, off).numpy().astype(np.float64) * cdf[:, -1]
    pick = np.minimum((cdf <= u[:, None]).sum(axis=1), V - 1)
    # never land on a zero-probability slot (u close to the total mass): step back to the last kept
    last = np.maximum((ps > 0).shape[1] - 1 - np.argmax((ps > 0)[:, ::-1], axis=1), 0)
    pick = np.minimum(pick, last)
    return _shape(order[rows, pick].astype(np.int64), lead)


def _shape(ids, lead):
    ids = np.asarray(ids, np.int64).reshape(lead)
    return int(ids) if ids.ndim == 0 else ids
