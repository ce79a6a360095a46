"""Core layers: Input/InputLayer, Dense, Activation, Flatten, Reshape, Dropout."""
import numpy as np

from .. import _C
from .. import activations as _acts
from .. import initializers as _init
from .. import random as _random
from .. import regularizers as _reg
from .base import KerasTensor, Layer

__all__ = ["Input", "InputLayer", "Dense", "Activation", "Flatten", "Reshape", "Dropout"]


class InputLayer(Layer):
    """Entry point of a model: declares the input shape (without the batch axis).

    Args:
        shape: tuple of ints (without batch axis).
        batch_size: optional fixed batch size.
        dtype: 'float32' (default), 'int32' or 'int64': the dtype data is converted to before
            it reaches the layers (integer inputs stay integer Arrays; layers that need floats
            get them cast, see docs/LAYERS.md).
        name: optional name.

    Example:
        >>> model = fusednet.Sequential([fusednet.layers.InputLayer(shape=(784,)), Dense(10)])
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, input_shape=None, **kwargs):
        if shape is None:
            shape = input_shape
        if shape is None:
            raise ValueError("InputLayer: shape is required, e.g. InputLayer(shape=(784,))")
        if isinstance(shape, int):
            shape = (shape,)
        shape = tuple(shape)
        for s in shape:
            if s is not None and (not isinstance(s, (int, np.integer)) or s <= 0):
                raise ValueError(f"InputLayer: shape entries must be positive ints or None, got {shape}")
        self.dtype = input_dtype(dtype)
        super().__init__(name=name, **kwargs)
        self.batch_shape = (batch_size,) + shape
        self._batch_input_shape = self.batch_shape
        self.built = True
        self.input_shape = self.batch_shape
        self.output = KerasTensor(self.batch_shape, dtype=self.dtype, layer=self, inputs=(), name=self.name)

    accepts_integer_inputs = True

    def call(self, inputs, training=None):
        return inputs

    def forward(self, ctx, x, training, strip=False):
        return x

    def backward(self, ctx, dy, need_dx):
        return dy, []

    def get_config(self):
        return {"name": self.name, "batch_shape": self.batch_shape, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        bs = config["batch_shape"]
        return cls(shape=tuple(bs[1:]), batch_size=bs[0], name=config.get("name"), dtype=config.get("dtype"))


_INPUT_DTYPES = ("float32", "int32", "int64")


def input_dtype(dtype):
    """A model input's dtype name ('float32', 'int32' or 'int64'); None means 'float32'."""
    if dtype is None:
        return "float32"
    name = getattr(dtype, "__name__", None) if isinstance(dtype, type) else None
    name = name or str(np.dtype(dtype)) if not isinstance(dtype, str) else dtype
    if name not in _INPUT_DTYPES:
        raise TypeError(f"Input: dtype must be one of {list(_INPUT_DTYPES)}, got {dtype!r}")
    return name


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """Declare a model input (Keras ``keras.Input``): returns a symbolic :class:`KerasTensor`.

    Args:
        shape: shape without the batch axis, e.g. ``(784,)``.
        batch_size: optional fixed batch size.
        dtype: 'float32' (default), 'int32' or 'int64' (e.g. token ids for an Embedding).
        name: optional name.

    Returns:
        A KerasTensor of shape ``(batch_size, *shape)`` and that dtype.

    Example:
        >>> ids = fusednet.Input(shape=(20,), dtype="int32")      # integer Arrays reach the layers
        >>> inputs = fusednet.Input(shape=(784,))
        >>> outputs = Dense(10, activation="softmax")(Dense(128, activation="relu")(inputs))
        >>> model = fusednet.Model(inputs, outputs)
    """
    if batch_shape is not None:
        shape, batch_size = tuple(batch_shape[1:]), batch_shape[0]
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name)
    return layer.output


class Dense(Layer):
    """Densely connected layer: ``activation(inputs @ kernel + bias)``.

    relu / sigmoid / tanh / linear activations run fused in the GEMM epilogue (one kernel
    forward, one ``dense_backward`` kernel backward); other activations run one extra kernel.

    Args:
        units: output dimension (positive int).
        activation: name (e.g. 'relu', 'softmax') or None for linear.
        use_bias: add a bias vector (default True).
        kernel_initializer: default 'glorot_uniform'.
        bias_initializer: default 'zeros'.
        kernel_regularizer, bias_regularizer: e.g. 'l2' or ``L2(1e-4)``.

    Shape:
        Input [batch, ..., input_dim] → output [batch, ..., units]. The kernel is
        [input_dim, units] (Keras layout).

    Example:
        >>> layer = Dense(128, activation="relu", kernel_initializer="he_normal")
        >>> y = layer(np.zeros((32, 784), np.float32))    # Tensor [32, 128]
    """

    supports_masking = True   # passes its input mask on (Keras)

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense '{self.name}': units must be a positive integer, got {units!r}")
        if activity_regularizer is not None or kernel_constraint is not None or bias_constraint is not None:
            raise ValueError(f"Dense '{self.name}': activity_regularizer and constraints are not supported")
        self.units = int(units)
        self.activation = _acts.serialize(activation)
        self._kind, self._ep = _acts.resolve(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _init.get(kernel_initializer)
        self.bias_initializer = _init.get(bias_initializer)
        self.kernel_regularizer = _reg.get(kernel_regularizer)
        self.bias_regularizer = _reg.get(bias_regularizer)
        self.kernel = None
        self.bias = None
        self._lead = None

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense '{self.name}': the last axis of the input must be defined, got "
                             f"input shape {tuple(input_shape)}")
        in_dim = int(input_shape[-1])
        self.kernel = self.add_weight((in_dim, self.units), self.kernel_initializer,
                                      self.kernel_regularizer, name="kernel")
        if self.use_bias:
            self.bias = self.add_weight((self.units,), self.bias_initializer, self.bias_regularizer, name="bias")
        self.built = True

    def _check_input(self, shape):
        if self.kernel is not None and shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                             f"axis -1 of input shape to have value {self.kernel.shape[0]}, but received "
                             f"input with shape {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def _output_activation(self):
        return self._kind if self._kind in ("softmax", "sigmoid") else None

    # ---------------------------------------------------------------- protocol
    def forward(self, ctx, x, training, strip=False):
        b = self.bias.data if self.bias is not None else None
        W = self.kernel.data
        # rank > 2 (Keras: the kernel applies to the last axis): one GEMM on a [B*T, F] view
        # (reshape never copies), the result viewed back as [B, T, units]; backward mirrors it
        lead = None
        if x.ndim != 2:
            lead = tuple(x.shape[:-1])
            x = x.reshape(-1, x.shape[-1])
        ctx.lead, ctx.x, ctx.W = lead, x, W
        # positional arguments: pybind11's keyword matching costs ~0.7 us per call
        ep = "none" if strip else self._ep
        if ep is not None:
            y = _C.matmul(x, W, False, False, b, ep)
            ctx.ep, ctx.y, ctx.z = ep, y, None
        else:
            z = _C.matmul(x, W, False, False, b, "none")
            y = _acts.array_forward(z, self._kind)
            ctx.ep, ctx.y, ctx.z = None, y, z
        return y if lead is None else y.reshape(lead + (self.units,))

    def backward(self, ctx, dy, need_dx):
        lead = ctx.lead
        if lead is not None:
            dy = dy.reshape(-1, self.units)
        ep, Y = ctx.ep, ctx.y
        if ep is None:   # activation without a fused epilogue: its backward first
            dy = _acts.array_backward(dy, ctx.z, ctx.y, self._kind)
            ep, Y = "none", ctx.z
        dx, dw, db = _C.dense_backward(dy, ctx.x, ctx.W, Y, ep, need_dx, self.use_bias)
        grads = self._kernel_grads(dw, db, self.kernel_regularizer)
        if lead is not None and dx is not None:
            dx = dx.reshape(lead + (ctx.x.shape[1],))
        return dx, grads

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": _init.serialize(self.kernel_initializer),
                "bias_initializer": _init.serialize(self.bias_initializer),
                "kernel_regularizer": _reg.serialize(self.kernel_regularizer) if self.kernel_regularizer else None,
                "bias_regularizer": _reg.serialize(self.bias_regularizer) if self.bias_regularizer else None}


class Activation(Layer):
    """Applies an activation function.

    Args:
        activation: name, e.g. 'relu', 'gelu', 'softmax'.

    Shape:
        Any; output has the input's shape.
    """

    supports_masking = True   # passes its input mask on (Keras)

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = _acts.serialize(activation)
        self._kind, _ = _acts.resolve(activation)

    def _output_activation(self):
        return self._kind if self._kind in ("softmax", "sigmoid") else None

    def forward(self, ctx, x, training, strip=False):
        kind = self._kind
        if strip or kind == "linear":
            ctx.x = None
            return x
        y = _acts.array_forward(x, kind)
        ctx.x, ctx.y = x, y
        return y

    def backward(self, ctx, dy, need_dx):
        if ctx.x is None:
            return dy, []
        return _acts.array_backward(dy, ctx.x, ctx.y, self._kind), []

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class Flatten(Layer):
    """Flattens all axes but the batch axis (a reshape view; no copy).

    Shape:
        [batch, d1, d2, ...] → [batch, d1·d2·...].
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Flatten '{self.name}': only data_format='channels_last' is supported")

    def compute_output_shape(self, input_shape):
        n = 1
        for s in input_shape[1:]:
            if s is None:
                return (input_shape[0], None)
            n *= s
        return (input_shape[0], n)

    def forward(self, ctx, x, training, strip=False):
        shp = x.shape
        ctx.shape = shp
        return x.reshape(shp[0], -1) if len(shp) != 2 else x

    def backward(self, ctx, dy, need_dx):
        return dy.reshape(ctx.shape), []

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last"}


class Reshape(Layer):
    """Reshapes the non-batch axes to ``target_shape`` (one entry may be -1).

    Args:
        target_shape: tuple without the batch axis.

    Shape:
        [batch, ...] → [batch, *target_shape].
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(s) for s in target_shape)
        if sum(1 for s in self.target_shape if s == -1) > 1:
            raise ValueError(f"Reshape '{self.name}': at most one -1 in target_shape, got {self.target_shape}")

    def compute_output_shape(self, input_shape):
        n = 1
        for s in input_shape[1:]:
            n = None if (s is None or n is None) else n * s
        tgt = list(self.target_shape)
        known = int(np.prod([s for s in tgt if s != -1])) if tgt else 1
        if -1 in tgt:
            if n is not None:
                if known == 0 or n % known:
                    raise ValueError(f"Reshape '{self.name}': cannot reshape input {tuple(input_shape)} to "
                                     f"{self.target_shape}")
                tgt[tgt.index(-1)] = n // known
            else:
                tgt[tgt.index(-1)] = None
        elif n is not None and n != known:
            raise ValueError(f"Reshape '{self.name}': total size of the new shape {self.target_shape} must "
                             f"equal the input's non-batch size {n} (input shape {tuple(input_shape)})")
        return (input_shape[0],) + tuple(tgt)

    def _check_input(self, shape):
        self.compute_output_shape(shape)

    def forward(self, ctx, x, training, strip=False):
        ctx.shape = x.shape
        return x.reshape((x.shape[0],) + self.target_shape)

    def backward(self, ctx, dy, need_dx):
        return dy.reshape(ctx.shape), []

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class Dropout(Layer):
    """Randomly zeroes a fraction ``rate`` of inputs during training and scales the rest by
    1/(1-rate) (inverted dropout). Identity at inference.

    Masks come from the Philox kernel: with ``seed`` set, the k-th training call of this layer
    uses ``(seed, k)``; otherwise pairs are drawn from :mod:`fusednet.random`'s global stream.

    Args:
        rate: float in [0, 1).
        noise_shape: not supported (must be None).
        seed: optional int.

    Shape:
        Any; output has the input's shape.
    """

    supports_masking = True   # passes its input mask on (Keras)

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)) \
                or not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout '{self.name}': rate must be a float in [0, 1), got {rate!r}")
        if noise_shape is not None:
            raise ValueError(f"Dropout '{self.name}': noise_shape is not supported")
        self.rate = float(rate)
        self.seed = seed
        self._stream = _random.SeedStream(seed) if seed is not None else None

    def _key(self):
        return self._stream.next() if self._stream is not None else _random.next_key()

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        return super().call(inputs, training)

    def forward(self, ctx, x, training, strip=False):
        if not training or self.rate == 0.0:
            ctx.mask = None
            return x
        s, off = self._key()
        y, ctx.mask = _C.dropout_forward(x, self.rate, s, off)
        return y

    def backward(self, ctx, dy, need_dx):
        if ctx.mask is None:
            return dy, []
        return _C.binary("mul", dy, ctx.mask), []

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": None, "seed": self.seed}
