"""Shuffling indices with the library's counter-based Philox RNG."""
import os

import numpy as np

_MASK64 = (1 << 64) - 1


def fresh_seed():
    """A random 63-bit seed (used when the caller passes seed=None)."""
    return int.from_bytes(os.urandom(8), "little") >> 1


def permutation(n, seed, offset=0):
    """Random permutation of ``range(n)`` as int64, a pure function of ``(n, seed, offset)``.

    Uses the native ``fusednet._C.permutation`` (Philox4x32-10, identical on CPU/CUDA and any
    thread count) when the extension provides it; otherwise NumPy's Philox bit generator keyed by
    ``(seed, offset)`` (also deterministic, but a different stream).
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"permutation: n must be >= 0, got {n}")
    seed, offset = int(seed) & _MASK64, int(offset) & _MASK64
    try:
        from .. import _C
        native = getattr(_C, "permutation", None)
    except ImportError:  # pragma: no cover - extension not built
        native = None
    if native is not None:
        return np.asarray(native(n, seed, offset)).astype(np.int64, copy=False)
    gen = np.random.Generator(np.random.Philox(key=[seed, offset]))
    return gen.permutation(n).astype(np.int64)
