"""``fusednet.random``: seeds and samplers (Keras 3 ``keras.random``) on Philox kernels.

Samplers: :func:`normal`, :func:`uniform`, :func:`truncated_normal`, :func:`randint`,
:func:`categorical`, :func:`shuffle`, :func:`dropout`; each returns a :class:`fusednet.Tensor`
and takes ``seed=``: an int (the same int always gives the same draw, like Keras), a
:class:`SeedGenerator` (advanced by each call: reproducible sequences), a ``(seed, offset)``
pair, or None (the next pair of the global stream below).

Global seed stream:

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

from . import _C
from .tensor import Function, Tensor, _state, _to_array

__all__ = ["seed", "get_seed", "next_key", "SeedStream", "set_random_seed", "SeedGenerator", "normal", "uniform",
           "truncated_normal", "randint", "categorical", "shuffle", "dropout"]

_MASK64 = (1 << 64) - 1


class SeedStream:
    """A deterministic source of ``(seed, offset)`` pairs.

    Args:
        seed: integer seed (reduced modulo 2**64).

    Example:
        >>> SeedStream(3).next()
        (3, 0)
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
    """Seed fusednet's global random stream (initializers, dropout, shuffling, samplers).

    Args:
        value: non-negative integer.

    Returns:
        None.

    Example:
        >>> fusednet.random.seed(42)
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
    """Keras-style alias of :func:`seed` (also seeds NumPy's and Python's global generators).

    Args:
        value: non-negative integer.

    Returns:
        None.

    Example:
        >>> fusednet.utils.set_random_seed(0)
    """
    import random as _pyrandom
    import numpy as np
    seed(value)
    _pyrandom.seed(value)
    np.random.seed(int(value) % (2 ** 32))


def get_seed():
    """The seed of the current global stream.

    Args:
        (none)

    Returns:
        int.

    Example:
        >>> fusednet.random.seed(7); fusednet.random.get_seed()
        7
    """
    return _stream.seed


def next_key(count=1):
    """Next ``(seed, offset)`` pair from the global stream (reserves ``count`` offsets).

    Args:
        count: number of consecutive offsets to reserve.

    Returns:
        ``(seed, first_offset)``.

    Example:
        >>> fusednet.random.seed(42); fusednet.random.next_key()
        (42, 0)
    """
    return _stream.next(count)


# ---------------------------------------------------------------------------- Keras samplers
class SeedGenerator:
    """A stateful seed stream for the samplers (Keras 3 ``keras.random.SeedGenerator``).

    Each sampler call that receives it draws the next ``(seed, offset)`` pair, so a program that
    builds ``SeedGenerator(1337)`` gets the same sequence of draws on every run, on CPU and CUDA,
    with any thread count.

    Args:
        seed: int >= 0, or None for a seed taken from the global stream.

    Example:
        >>> g = fusednet.random.SeedGenerator(1337)
        >>> a = fusednet.random.normal((2,), seed=g)
        >>> b = fusednet.random.normal((2,), seed=g)     # a different draw; same a, b every run
    """

    def __init__(self, seed=None, **kwargs):
        if seed is None:
            seed = next_key()[0] ^ next_key()[1]
        if isinstance(seed, bool) or not isinstance(seed, int):
            import numpy as np
            if not isinstance(seed, np.integer):
                raise TypeError(f"SeedGenerator: seed must be an int, got {type(seed).__name__}")
        if int(seed) < 0:
            raise ValueError(f"SeedGenerator: seed must be >= 0, got {seed}")
        self._stream = SeedStream(int(seed))

    @property
    def state(self):
        """``(seed, next_offset)`` of the generator."""
        return self._stream.seed, self._stream.offset

    def next(self, count=1):
        """Reserve the next ``(seed, offset)`` pair (``count`` offsets)."""
        return self._stream.next(count)


def _key(seed, op):
    """(seed, offset) for a sampler's ``seed=`` argument."""
    if seed is None:
        return next_key()
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if isinstance(seed, tuple) and len(seed) == 2:
        return int(seed[0]) & _MASK64, int(seed[1]) & _MASK64
    import numpy as np
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return int(seed) & _MASK64, 0
    raise TypeError(f"{op}: seed must be None, an int, a (seed, offset) pair or a SeedGenerator, "
                    f"got {type(seed).__name__}")


def _shape(shape, op):
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = [int(s) for s in shape]
    except TypeError:
        raise TypeError(f"{op}: shape must be an int or a sequence of ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"{op}: negative dimension in shape {tuple(shape)}")
    return shape


def _float_dtype(dtype, op):
    if dtype not in (None, "float32", "float64", "float16", "bfloat16", "float"):
        import numpy as np
        try:
            if np.dtype(dtype).kind == "f":
                return
        except TypeError:
            pass
        raise TypeError(f"{op}: dtype must be a floating dtype (stored as float32), got {dtype!r}")


def _tensor(arr):
    return Tensor._wrap(arr)


class _Mask(Function):
    """Backward of dropout: the gradient times the same (scaled, broadcast) mask."""

    __slots__ = ("mask",)

    def backward(self, g):
        return (_C.binary("mul", g, self.mask),)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples from a normal distribution (Philox + Box-Muller, native kernel).

    Args:
        shape: int or tuple. mean, stddev: floats. dtype: a float dtype (stored as float32).
        seed: int, SeedGenerator, (seed, offset) or None (see the module).

    Returns:
        float32 Tensor of ``shape``.

    Example:
        >>> fusednet.random.normal((2, 3), seed=0).shape
        (2, 3)
    """
    _float_dtype(dtype, "normal")
    s, off = _key(seed, "normal")
    return _tensor(_C.random_normal(_shape(shape, "normal"), s, off, float(mean), float(stddev)))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples from the uniform distribution on ``[minval, maxval)`` (24-bit resolution).

    Args:
        shape: int or tuple. minval < maxval: floats. dtype: a float dtype (stored as float32).
        seed: int, SeedGenerator, (seed, offset) or None.

    Returns:
        float32 Tensor of ``shape``.

    Example:
        >>> fusednet.random.uniform((4,), -1.0, 1.0, seed=3).shape
        (4,)
    """
    _float_dtype(dtype, "uniform")
    if not float(minval) < float(maxval):
        raise ValueError(f"uniform: minval ({minval}) must be < maxval ({maxval})")
    s, off = _key(seed, "uniform")
    return _tensor(_C.random_uniform(_shape(shape, "uniform"), s, off, float(minval), float(maxval)))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples redrawn until within two standard deviations of the mean (Keras rule).

    Args:
        shape: int or tuple. mean, stddev: floats. dtype: a float dtype (stored as float32).
        seed: int, SeedGenerator, (seed, offset) or None.

    Returns:
        float32 Tensor of ``shape``.

    Example:
        >>> fusednet.random.truncated_normal((100,), seed=1).numpy().max() <= 2.0
        True
    """
    _float_dtype(dtype, "truncated_normal")
    s, off = _key(seed, "truncated_normal")
    return _tensor(_C.random_truncated_normal(_shape(shape, "truncated_normal"), s, off, float(mean), float(stddev)))


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Uniform integers in ``[minval, maxval)``: ``floor(uniform(minval, maxval))`` (exactly
    uniform while ``maxval - minval <= 2**24``).

    Args:
        shape: int or tuple. minval < maxval: ints. dtype: 'int32' (default) or 'int64'.
        seed: int, SeedGenerator, (seed, offset) or None.

    Returns:
        Tensor of ``dtype`` and ``shape``.

    Example:
        >>> fusednet.random.randint((5,), 0, 10, seed=2).dtype
        'int32'
    """
    if dtype not in ("int32", "int64"):
        raise TypeError(f"randint: dtype must be 'int32' or 'int64', got {dtype!r}")
    lo, hi = int(minval), int(maxval)
    if lo >= hi:
        raise ValueError(f"randint: minval ({lo}) must be < maxval ({hi})")
    s, off = _key(seed, "randint")
    # floor(lo + (hi - lo) * u) with u in [0, 1 - 2**-24]: float32 rounding can reach hi, so clip
    u = _C.random_uniform(_shape(shape, "randint"), s, off, float(lo), float(hi))
    f = _C.clip(_C.unary("floor", u), float(lo), float(hi - 1))
    return _tensor(_C.cast(f, dtype))


def categorical(logits, num_samples, dtype="int32", seed=None):
    """Class indices drawn from the rows of ``logits`` (Gumbel-max: ``argmax(logits + G)``).

    Args:
        logits: [batch, num_classes] unnormalised log-probabilities (tensor-like).
        num_samples: draws per row. dtype: 'int32' (default) or 'int64'.
        seed: int, SeedGenerator, (seed, offset) or None.

    Returns:
        Tensor [batch, num_samples] of class indices.

    Example:
        >>> fusednet.random.categorical([[0.0, 0.0]], 4, seed=0).shape
        (1, 4)
    """
    x = logits.data if isinstance(logits, Tensor) else _to_array(logits, "float32")
    if x.ndim != 2:
        raise ValueError(f"categorical: logits must be 2-D [batch, num_classes], got shape {tuple(x.shape)}")
    if dtype not in ("int32", "int64"):
        raise TypeError(f"categorical: dtype must be 'int32' or 'int64', got {dtype!r}")
    b, c = x.shape
    s, off = _key(seed, "categorical")
    u = _C.random_uniform([b, int(num_samples), c], s, off, 0.0, 1.0, device=x.device)
    gumbel = _C.unary("neg", _C.unary("log", _C.unary("neg", _C.unary("log", u))))
    idx = _C.argmax(_C.binary("add", gumbel, x.reshape((b, 1, c))), -1)
    return _tensor(idx if dtype == "int64" else _C.cast(idx, dtype))


def shuffle(x, axis=0, seed=None):
    """A random permutation of ``x`` along ``axis`` (a Philox permutation, one gather).

    Args:
        x: tensor-like (any dtype). axis: int. seed: int, SeedGenerator, (seed, offset) or None.

    Returns:
        Tensor of x's shape (no gradient, like Keras).

    Example:
        >>> fusednet.random.shuffle(fusednet.ops.arange(5), seed=0).shape
        (5,)
    """
    a = x.data if isinstance(x, Tensor) else _to_array(x)
    if a.ndim == 0:
        raise ValueError("shuffle: x must have rank >= 1, got a scalar")
    nd = a.ndim
    if not -nd <= int(axis) < nd:
        raise ValueError(f"shuffle: axis {axis} is out of range for shape {tuple(a.shape)}")
    ax = int(axis) % nd
    s, off = _key(seed, "shuffle")
    perm = _C.permutation(a.shape[ax], s, off)
    if ax == 0:
        return _tensor(_C.take_rows(a, perm.to(a.device)))
    p = [ax] + [i for i in range(nd) if i != ax]
    inv = [p.index(i) for i in range(nd)]
    return _tensor(_C.transpose(_C.take_rows(_C.transpose(a, p), perm.to(a.device)), inv))


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Inverted dropout: zero each element with probability ``rate``, scale the rest by
    ``1 / (1 - rate)`` (Keras ``keras.random.dropout``); differentiable.

    Args:
        inputs: float32 tensor-like.
        rate: in [0, 1).
        noise_shape: optional shape broadcastable to ``inputs`` (None entries take the input's
            size): one mask value is shared along the axes where it is 1.
        seed: int, SeedGenerator, (seed, offset) or None.

    Returns:
        Tensor of the inputs' shape; the backward multiplies by the same mask.

    Example:
        >>> y = fusednet.random.dropout(fusednet.ops.ones((2, 4)), 0.5, seed=1)
    """
    x = inputs if isinstance(inputs, Tensor) else (Tensor._wrap(inputs) if isinstance(inputs, _C.Array)
                                                    else Tensor(inputs))
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    s, off = _key(seed, "dropout")
    if noise_shape is None:
        y, mask = _C.dropout_forward(x.data, rate, s, off)
    else:
        ns = [x.shape[i] if d is None else int(d) for i, d in enumerate(noise_shape)] \
            if len(noise_shape) == x.ndim else None
        if ns is None or any(d not in (1, x.shape[i]) for i, d in enumerate(ns)):
            raise ValueError(f"dropout: noise_shape {tuple(noise_shape)} does not broadcast to the input "
                             f"shape {x.shape}")
        mask, _ = _C.dropout_forward(_C.full(ns, 1.0, device=x.device), rate, s, off)
        y = _C.binary("mul", x.data, mask)
    if not (_state.enabled and x.requires_grad):
        return Tensor._wrap(y)
    fn = _Mask()
    fn.mask = mask
    return Tensor._from_op(y, fn, (x,))
