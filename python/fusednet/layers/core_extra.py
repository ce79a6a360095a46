"""Small layers real Keras code uses everywhere: Rescaling, Identity, Lambda, Permute,
RepeatVector, SpatialDropout2D, Normalization (with ``adapt``).

All but Lambda run native calls on Arrays (``_C.scale`` / broadcasting ``_C.binary``,
``_C.transpose``, ``_C.reduce``, ``_C.dropout_forward``); Lambda runs its Python function on the
autograd tape (Tensor ops), inside an otherwise compiled graph.
"""
import numpy as np

from .. import _C
from .. import random as _random
from ..tensor import Tensor, no_grad
from .base import Layer

__all__ = ["Rescaling", "Identity", "Lambda", "Permute", "RepeatVector", "SpatialDropout2D", "Normalization"]


def _const(value, device):
    a = _C.asarray(np.ascontiguousarray(np.asarray(value, np.float32)))
    return a if device == "cpu" else a.to(device)


class _Constants:
    """float32 constants as Arrays, cached per device."""

    def __init__(self, value):
        self.value = np.asarray(value, np.float32)
        self._by_dev = {}

    def on(self, device):
        a = self._by_dev.get(device)
        if a is None:
            a = self._by_dev[device] = _const(self.value, device)
        return a


def _number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


class Rescaling(Layer):
    """``inputs * scale + offset`` (Keras ``Rescaling``), e.g. ``Rescaling(1 / 255)``.

    Args:
        scale: float, or an array broadcastable to the inputs (e.g. one value per channel).
        offset: float or array (default 0.0).

    Shape:
        Any; output has the input's shape.

    Example:
        >>> Rescaling(1 / 127.5, offset=-1)(np.full((1, 2), 255, np.float32))   # [[1, 1]]
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for what, v in (("scale", scale), ("offset", offset)):
            a = np.asarray(v)
            if a.dtype.kind not in "fiu" or not np.all(np.isfinite(a)):
                raise ValueError(f"Rescaling '{self.name}': {what} must be a finite number or array, got {v!r}")
        self.scale, self.offset = scale, offset
        self._scalar = _number(scale)
        self._sc = None if self._scalar else _Constants(scale)
        self._off = None if (_number(offset) and float(offset) == 0.0) else _Constants(offset)

    def _mul(self, x):
        if self._scalar:
            return _C.scale(x, float(self.scale))
        return _C.binary("mul", x, self._sc.on(x.device))

    def forward(self, ctx, x, training, strip=False):
        ctx.shape = list(x.shape)
        y = self._mul(x)
        if self._off is not None:
            y = _C.binary("add", y, self._off.on(x.device))
        if list(y.shape) != ctx.shape:
            raise ValueError(f"Rescaling '{self.name}': scale/offset of shape {np.shape(self.scale)}/"
                             f"{np.shape(self.offset)} broadcast the input {tuple(x.shape)} to {tuple(y.shape)}")
        return y

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        return self._mul(dy), []

    def get_config(self):
        conv = lambda v: v if _number(v) else np.asarray(v).tolist()  # noqa: E731
        return {**super().get_config(), "scale": conv(self.scale), "offset": conv(self.offset)}


class Identity(Layer):
    """Returns its input unchanged (Keras ``Identity``).

    Shape:
        Any; output is the input.

    Example:
        >>> Identity()(np.ones((2, 3), np.float32)).shape   # (2, 3)
    """

    def forward(self, ctx, x, training, strip=False):
        return x

    def backward(self, ctx, dy, need_dx):
        return (dy if need_dx else None), []


class Lambda(Layer):
    """Wraps a function of Tensors as a layer (Keras ``Lambda``); it runs on the autograd tape.

    Args:
        function: callable ``f(inputs, **arguments)`` built from fusednet Tensor operations
            (``x * 2``, ``fusednet.functional`` / ``fusednet.activations`` functions, ...).
        output_shape: None (inferred by calling the function on zeros of the input shape, batch
            1), a shape tuple without the batch axis, or a callable ``input_shape -> shape``.
        arguments: optional dict of keyword arguments passed to the function.

    Shape:
        Whatever the function returns.

    Example:
        >>> layer = Lambda(lambda x: x * 2.0 + 1.0)
        >>> layer(np.ones((2, 3), np.float32)).numpy()   # all 3
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda '{self.name}': function must be callable, got {function!r}")
        if mask is not None:
            raise ValueError(f"Lambda '{self.name}': masks are not supported")
        if output_shape is not None and not callable(output_shape) and not isinstance(output_shape, (tuple, list)):
            raise TypeError(f"Lambda '{self.name}': output_shape must be None, a tuple or a callable, got "
                            f"{output_shape!r}")
        self.function = function
        self.output_shape = output_shape
        self.arguments = dict(arguments or {})

    def call(self, inputs, training=None):
        out = self.function(inputs, **self.arguments)
        if isinstance(out, Tensor):
            return out
        if isinstance(out, _C.Array):
            return Tensor._wrap(out)
        raise TypeError(f"Lambda '{self.name}': the function must return a fusednet Tensor, got "
                        f"{type(out).__name__}")

    def compute_output_shape(self, input_shape):
        multi = isinstance(input_shape, list)
        if callable(self.output_shape):
            return tuple(self.output_shape(input_shape))
        if self.output_shape is not None:
            batch = input_shape[0][0] if multi else input_shape[0]
            return (batch,) + tuple(self.output_shape)
        shapes = input_shape if multi else [input_shape]
        probes = [Tensor._wrap(_C.zeros([1 if s is None else int(s) for s in shp])) for shp in shapes]
        with no_grad():
            out = self.call(probes if multi else probes[0])
        batch = shapes[0][0]
        return (batch,) + tuple(out.shape[1:])

    def get_config(self):
        from ..saving import serialize_keras_object
        fn = self.function
        if getattr(fn, "__name__", "<lambda>") == "<lambda>" or "<locals>" in getattr(fn, "__qualname__", ""):
            # Keras pickles the bytecode (and loads it only with safe_mode=False); fusednet keeps the
            # name only, and from_config explains how to get the layer back
            function = {"class_name": "__lambda__", "config": getattr(fn, "__qualname__", repr(fn))}
        else:
            function = serialize_keras_object(fn)
        return {**super().get_config(), "function": function,
                "output_shape": self.output_shape if not callable(self.output_shape) else None,
                "arguments": self.arguments}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving import deserialize_keras_object
        config = dict(config)
        function = config.pop("function")
        if isinstance(function, dict) and function.get("class_name") == "__lambda__":
            raise ValueError(f"Lambda '{config.get('name')}': its function {function['config']!r} is a lambda "
                             f"or a local function, which fusednet does not serialise; use a module-level "
                             f"function (registered with fusednet.saving.register_keras_serializable or "
                             f"passed in custom_objects) or recreate the layer in code")
        return cls(deserialize_keras_object(function, custom_objects=custom_objects), **config)


class Permute(Layer):
    """Permutes the non-batch axes (Keras ``Permute``).

    Args:
        dims: a permutation of 1..rank-1 (1-based, batch axis excluded), e.g. (2, 1).

    Shape:
        [batch, d1, ..., dk] → [batch, d_dims[0], ..., d_dims[k-1]].

    Example:
        >>> Permute((2, 1))(np.zeros((4, 10, 64), np.float32)).shape   # (4, 64, 10)
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            dims = tuple(int(d) for d in dims)
        except TypeError:
            raise ValueError(f"Permute '{self.name}': dims must be a tuple of ints, got {dims!r}") from None
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Invalid permutation argument `dims` for Permute Layer. The set of indices in `dims` "
                             f"must be consecutive and start from 1. Received dims={dims}")
        self.dims = dims

    def _check_input(self, shape):
        if len(shape) != len(self.dims) + 1:
            raise ValueError(f"Permute '{self.name}': dims {self.dims} need an input of rank {len(self.dims) + 1}, "
                             f"got shape {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        self._check_input(input_shape)
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def forward(self, ctx, x, training, strip=False):
        return _C.transpose(x, [0, *self.dims])

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        inv = [0] + [int(i) + 1 for i in np.argsort(self.dims)]
        return _C.transpose(dy, inv), []

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


class RepeatVector(Layer):
    """Repeats a vector ``n`` times (Keras ``RepeatVector``).

    Args:
        n: repetitions (positive int).

    Shape:
        [batch, features] → [batch, n, features].

    Example:
        >>> RepeatVector(3)(np.zeros((4, 8), np.float32)).shape   # (4, 3, 8)
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"RepeatVector '{self.name}': n must be a positive int, got {n!r}")
        self.n = int(n)
        self._zeros = _Constants(np.zeros((1, self.n, 1), np.float32))

    def _check_input(self, shape):
        if len(shape) != 2:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected ndim=2, "
                             f"found ndim={len(shape)}. Full shape received: {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, ctx, x, training, strip=False):
        n, f = x.shape
        return _C.binary("add", x.reshape(n, 1, f), self._zeros.on(x.device))   # one broadcasting pass

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        return _C.reduce("sum", dy, [1]), []

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class SpatialDropout2D(Layer):
    """Drops whole feature maps (Keras ``SpatialDropout2D``): in training each (image, channel)
    is zeroed with probability ``rate`` and the rest scaled by 1/(1-rate); identity at inference.

    Args:
        rate: float in [0, 1).
        data_format: only 'channels_last' (None) is supported.
        seed: optional int (the k-th training call uses the Philox pair (seed, k)).

    Shape:
        [batch, H, W, C] → same shape.

    Example:
        >>> SpatialDropout2D(0.2, seed=1)(np.ones((2, 4, 4, 8), np.float32), training=True)
    """

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not _number(rate) or not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"SpatialDropout2D '{self.name}': rate must be a float in [0, 1), got {rate!r}")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"SpatialDropout2D '{self.name}': only data_format='channels_last' is supported")
        self.rate = float(rate)
        self.seed = seed
        self._stream = _random.SeedStream(seed) if seed is not None else None

    def _check_input(self, shape):
        if len(shape) != 4:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected ndim=4, "
                             f"found ndim={len(shape)}. Full shape received: {tuple(shape)}")

    def forward(self, ctx, x, training, strip=False):
        if not training or self.rate == 0.0:
            ctx.mask = None
            return x
        s, off = self._stream.next() if self._stream is not None else _random.next_key()
        n, c = x.shape[0], x.shape[3]
        ctx.mask, _ = _C.dropout_forward(_C.full([n, 1, 1, c], 1.0, "float32", x.device), self.rate, s, off)
        return _C.binary("mul", x, ctx.mask)

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        return (dy if ctx.mask is None else _C.binary("mul", dy, ctx.mask)), []

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class Normalization(Layer):
    """Feature-wise standardisation (Keras ``Normalization``): ``(x - mean) / max(sqrt(var), 1e-7)``
    (``invert=True``: ``mean + x * max(sqrt(var), 1e-7)``).

    Args:
        axis: int, tuple of ints or None: the axes with separate statistics (default -1, one
            mean and variance per feature); None: one scalar mean / variance.
        mean, variance: optional fixed statistics (broadcastable to the kept axes); when absent
            the layer has non-trainable weights ``mean`` / ``variance`` set by :meth:`adapt`.
        invert: apply the inverse transformation.

    Shape:
        Any (rank fixed at build); output has the input's shape.

    Example:
        >>> norm = Normalization()
        >>> norm.adapt(np.random.rand(100, 4).astype(np.float32) * 10)
        >>> y = norm(np.zeros((2, 4), np.float32))
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            self.axis = ()
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            self.axis = (int(axis),)
        else:
            self.axis = tuple(int(a) for a in axis)
        if (mean is None) != (variance is None):
            raise ValueError(f"Normalization '{self.name}': when setting values directly, both `mean` and "
                             f"`variance` must be set. Received: mean={mean} and variance={variance}")
        self.invert = bool(invert)
        self._fixed = None if mean is None else (np.asarray(mean, np.float32), np.asarray(variance, np.float32))
        self.mean = self.variance = None
        self._ndim = None

    def build(self, input_shape):
        nd = len(input_shape)
        keep = sorted(a + nd if a < 0 else a for a in self.axis)
        if any(not 0 < a < nd for a in keep):
            raise ValueError(f"Normalization '{self.name}': axis {self.axis} is out of range for inputs of shape "
                             f"{tuple(input_shape)} (the batch axis cannot be kept)")
        if any(input_shape[a] is None for a in keep):
            raise ValueError(f"Normalization '{self.name}': the kept axes {self.axis} need known sizes, got "
                             f"input shape {tuple(input_shape)}")
        self._ndim, self._keep = nd, keep
        self._bshape = [input_shape[a] if a in keep else 1 for a in range(nd)]
        wshape = tuple(input_shape[a] for a in keep) or (1,)
        if self._fixed is None:
            self.mean = self.add_weight(wshape, "zeros", trainable=False, name="mean")
            self.variance = self.add_weight(wshape, "ones", trainable=False, name="variance")
        else:
            try:
                m = np.broadcast_to(self._fixed[0], self._bshape)
                v = np.broadcast_to(self._fixed[1], self._bshape)
            except ValueError:
                raise ValueError(f"Normalization '{self.name}': mean {self._fixed[0].shape} / variance "
                                 f"{self._fixed[1].shape} do not broadcast to {tuple(self._bshape)}") from None
            self._mean_c, self._var_c = _Constants(m), _Constants(v)
        self.built = True

    def _check_input(self, shape):
        if self._ndim is not None and len(shape) != self._ndim:
            raise ValueError(f"Normalization '{self.name}': built for inputs of rank {self._ndim}, got shape "
                             f"{tuple(shape)}")

    def _stats(self, device):
        if self._fixed is None:
            m = self.mean.data.reshape(*self._bshape)
            v = self.variance.data.reshape(*self._bshape)
        else:
            m, v = self._mean_c.on(device), self._var_c.on(device)
        std = _C.clip(_C.unary("sqrt", v), 1e-7, float("inf"))
        return m, std

    def adapt(self, data):
        """Compute ``mean`` / ``variance`` over all axes but ``axis`` from ``data`` (an array or
        Tensor holding the whole sample set, batch first), natively."""
        x = data.data if isinstance(data, Tensor) else (data if isinstance(data, _C.Array) else
                                                         _C.asarray(np.ascontiguousarray(np.asarray(data, np.float32))))
        if self._fixed is not None:
            raise ValueError(f"Normalization '{self.name}': adapt() cannot be used when mean and variance are fixed")
        if not self.built:
            self._maybe_build((None,) + tuple(x.shape[1:]))
        self._check_input(x.shape)
        axes = [a for a in range(len(x.shape)) if a not in self._keep]
        m = _C.reduce("mean", x, axes, True)
        v = _C.reduce("mean", _C.unary("square", _C.binary("sub", x, m)), axes, True)
        wshape = tuple(self.mean.shape)
        self.mean.data.copy_(m.reshape(*wshape))
        self.variance.data.copy_(v.reshape(*wshape))

    def forward(self, ctx, x, training, strip=False):
        m, std = self._stats(x.device)
        ctx.std = std
        if self.invert:
            return _C.binary("add", _C.binary("mul", x, std), m)
        return _C.binary("div", _C.binary("sub", x, m), std)

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        return _C.binary("mul" if self.invert else "div", dy, ctx.std), []

    def get_config(self):
        fixed = self._fixed
        return {**super().get_config(), "axis": self.axis if self.axis else None, "invert": self.invert,
                "mean": None if fixed is None else fixed[0].tolist(),
                "variance": None if fixed is None else fixed[1].tolist()}
