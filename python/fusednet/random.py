"""Global seed stream for fusednet's counter-based (Philox) random numbers.

Every random op in fusednet (initializers, dropout masks, shuffles) is a pure function of a
``(seed, offset)`` pair: the Philox key is the 64-bit seed and the offset selects an independent
counter stream. This module hands out those pairs deterministically: after ``seed(s)`` the k-th
request always receives ``(s, k)``, so a program that seeds once gets identical weights, masks
and shuffles on every run, on CPU and CUDA, with any number of threads.

Example:
    >>> import fusednet
    >>> fusednet.random.seed(42)
    >>> fusednet.random.next_key()
    (42, 0)
"""
import os
import threading

__all__ = ["seed", "get_seed", "next_key", "SeedStream", "set_random_seed"]

_MASK64 = (1 << 64) - 1


class SeedStream:
    """A deterministic source of ``(seed, offset)`` pairs.

    Args:
        seed: integer seed (reduced modulo 2**64).
    """

    __slots__ = ("seed", "offset", "_lock")

    def __init__(self, seed):
        self.seed = int(seed) & _MASK64
        self.offset = 0
        self._lock = threading.Lock()

    def next(self, count=1):
        """Reserve ``count`` consecutive offsets and return the first as ``(seed, offset)``."""
        with self._lock:
            off = self.offset
            self.offset += int(count)
        return self.seed, off


def _initial_seed():
    env = os.environ.get("FUSEDNET_SEED")
    if env is not None:
        return int(env)
    return int.from_bytes(os.urandom(8), "little")


_stream = SeedStream(_initial_seed())


def seed(value):
    """Seed fusednet's global random stream (initializers, dropout, shuffling).

    Args:
        value: non-negative integer.
    """
    global _stream
    if not isinstance(value, (int,)) or isinstance(value, bool):
        try:
            import numpy as np
            if isinstance(value, np.integer):
                value = int(value)
            else:
                raise TypeError
        except TypeError:
            raise TypeError(f"fusednet.random.seed: seed must be an int, got {type(value).__name__}") from None
    if value < 0:
        raise ValueError(f"fusednet.random.seed: seed must be >= 0, got {value}")
    _stream = SeedStream(value)


def set_random_seed(value):
    """Keras-style alias of :func:`seed` (also seeds NumPy's and Python's global generators)."""
    import random as _pyrandom
    import numpy as np
    seed(value)
    _pyrandom.seed(value)
    np.random.seed(int(value) % (2 ** 32))


def get_seed():
    """The seed of the current global stream."""
    return _stream.seed


def next_key(count=1):
    """Next ``(seed, offset)`` pair from the global stream (reserves ``count`` offsets)."""
    return _stream.next(count)
