"""Inference-only int8 layers: :class:`QuantizedDense` and :class:`QuantizedConv2D`.

Each holds its kernel as int8 (``w_q``, Keras kernel layout, symmetric per output channel:
``w ≈ w_scale[o] · w_q[..., o]``, values in [-127, 127]) packed once into a native
``_C.QWeight``, a float32 ``w_scale`` and ``bias``, and either a calibrated activation
``(in_scale, in_zero_point)`` (static mode: ``x ≈ in_scale · (q − in_zero_point)``, q uint8) or
None (dynamic mode: each sample's min/max gives its own pair at run time). ``forward`` is one
native call (``_C.qdense`` / ``_C.qconv2d``: quantize the input, int8 GEMM, fused
dequantize + bias + relu/sigmoid/tanh epilogue); ``backward`` raises.

The int8 kernel is a :class:`Int8Weight` in ``layer.weights``: ``model.get_weights()`` returns
it as an int8 array, so ``model.save`` stores one byte per weight (the 4x smaller file), and
``model.set_weights`` / loading repack it.
"""
import numpy as np

from .. import _C
from .. import activations as _acts
from ..layers.base import Layer
from ..layers.conv import _out_len, _pair, _padding
from ..saving.registration import get_custom_objects, register_keras_serializable
from ..tensor import bump_weights_version

__all__ = ["QuantizedDense", "QuantizedConv2D", "Int8Weight"]

_INFERENCE_ONLY = "quantized layers are inference-only"


class _Int8Data:
    """What ``Model.set_weights`` writes through (``w.data.copy_(float32 Array)``)."""

    device = "cpu"

    def __init__(self, owner):
        self._owner = owner

    def copy_(self, src):
        self._owner.assign(np.asarray(src.to("cpu") if getattr(src, "device", "cpu") != "cpu" else src))

    def to(self, device):
        # Model.to(device): the packed kernel stays in its host QWeight, which uploads its own
        # device copy on the first call with a CUDA input (the float scales / bias move as Tensors)
        return self


class Int8Weight:
    """An int8 kernel held by a quantized layer (not a Tensor: no autograd, CPU packed copy).

    Args:
        layer: the owning layer (repacked on every assignment).
        name: weight name ("kernel").
        shape: the kernel shape (Keras layout).

    Shape:
        ``shape``; ``numpy()`` returns an int8 array of it.

    Example:
        >>> w = qmodel.layers[0].weights[0]
        >>> w.numpy().dtype
        dtype('int8')
    """

    trainable = False
    dtype = "int8"

    def __init__(self, layer, name, shape):
        self.name = f"{layer.name}/{name}"
        self.path = self.name
        self.shape = tuple(int(s) for s in shape)
        self._layer = layer
        self.value = np.zeros(self.shape, np.int8)
        self.data = _Int8Data(self)

    def numpy(self):
        return self.value

    def assign(self, v):
        """Set the int8 values (any numeric array of integers in [-127, 127]) and repack."""
        a = np.asarray(v)
        if tuple(a.shape) != self.shape:
            raise ValueError(f"{self.name}: expected shape {self.shape}, got {tuple(a.shape)}")
        if a.dtype != np.int8:
            if a.dtype.kind not in "fiub":
                raise TypeError(f"{self.name}: expected integer values, got dtype {a.dtype}")
            if a.size and (not np.all(np.isfinite(a)) or np.any(a != np.rint(a))):
                raise ValueError(f"{self.name}: int8 kernel values must be integers")
        if a.size and (a.min() < -127 or a.max() > 127):
            raise ValueError(f"{self.name}: int8 kernel values must lie in [-127, 127], got "
                             f"[{a.min()}, {a.max()}]")
        self.value = np.ascontiguousarray(a, dtype=np.int8)
        self._layer._repack()


class _QuantizedBase(Layer):
    """Shared weights / config / protocol of the quantized layers (not public)."""

    _inference_only = True     # Model.fit raises a ValueError naming the layer

    def __init__(self, activation=None, use_bias=True, in_scale=None, in_zero_point=0, isa="auto", **kwargs):
        kwargs["trainable"] = False
        super().__init__(**kwargs)
        self.activation = _acts.serialize(activation)
        self._kind, self._ep = _acts.resolve(activation)
        self.use_bias = bool(use_bias)
        if in_scale is not None:
            in_scale = float(np.float32(in_scale))
            if not in_scale > 0 or not np.isfinite(in_scale):
                raise ValueError(f"{type(self).__name__} '{self.name}': in_scale must be a positive float, "
                                 f"got {in_scale!r}")
            in_zero_point = int(in_zero_point)
            if not 0 <= in_zero_point <= 255:
                raise ValueError(f"{type(self).__name__} '{self.name}': in_zero_point must be in [0, 255], "
                                 f"got {in_zero_point!r}")
        else:
            in_zero_point = None
        self.in_scale = in_scale
        self.in_zero_point = in_zero_point
        self.isa = str(isa)
        self.kernel_q = None
        self.kernel_scale = None
        self.bias_t = None
        self._qw = None

    @property
    def mode(self):
        """'static' (calibrated activation scale) or 'dynamic' (per-sample at run time)."""
        return "dynamic" if self.in_scale is None else "static"

    def _build_weights(self, kshape, units):
        self.kernel_q = Int8Weight(self, "kernel", kshape)
        self.kernel_scale = self.add_weight((units,), "ones", trainable=False, name="kernel_scale")
        if self.use_bias:
            self.bias_t = self.add_weight((units,), "zeros", trainable=False, name="bias")
        self._repack()
        self.built = True

    def _repack(self):
        k = self.kernel_q.value
        self._qw = _C.QWeight(k.reshape(-1, k.shape[-1]))

    # the export interface (fusednet.quantization.onnx_qdq, and users)
    @property
    def w_q(self):
        """int8 kernel, Keras layout (a NumPy array)."""
        return self.kernel_q.value

    @property
    def w_scale(self):
        """float32 per-output-channel kernel scale."""
        return np.array(self.kernel_scale.numpy(), np.float32)

    @property
    def bias(self):
        """float32 bias or None."""
        return None if self.bias_t is None else np.array(self.bias_t.numpy(), np.float32)

    @property
    def weights(self):
        return [self.kernel_q] + list(self._weights) if self.kernel_q is not None else []

    @property
    def trainable_weights(self):
        return []

    @property
    def non_trainable_weights(self):
        return self.weights

    def count_params(self):
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    def set_weights(self, weights):
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"Layer '{self.name}' expects {len(mine)} weight arrays, but the provided list "
                             f"has {len(weights)}")
        for w, v in zip(mine, weights):
            if tuple(np.shape(v)) != tuple(w.shape):
                raise ValueError(f"Layer '{self.name}' weight shape mismatch for {w.name}: expected "
                                 f"{tuple(w.shape)}, got {tuple(np.shape(v))}")
        bump_weights_version()
        self.kernel_q.assign(weights[0])
        for w, v in zip(self._weights, weights[1:]):
            w.data.copy_(_C.asarray(np.ascontiguousarray(np.asarray(v, np.float32))))

    def _output_activation(self):
        return self._kind if self._kind in ("softmax", "sigmoid") else None

    def _epilogue(self, strip):
        """(fused epilogue name, activation kind to run after the kernel or None)."""
        if strip or self._kind == "linear":
            return "none", None
        return (self._ep, None) if self._ep is not None else ("none", self._kind)

    def backward(self, ctx, dy, need_dx):
        raise RuntimeError(f"{type(self).__name__} '{self.name}': {_INFERENCE_ONLY} (quantize a trained "
                           f"model for predict; train the float model)")

    def get_config(self):
        return {**super().get_config(), "activation": self.activation, "use_bias": self.use_bias,
                "in_scale": self.in_scale, "in_zero_point": self.in_zero_point}


@register_keras_serializable(package="fusednet.quantization")
class QuantizedDense(_QuantizedBase):
    """int8 Dense for inference: ``activation(dequant(quant(x) @ w_q) + bias)``.

    Built by :func:`fusednet.quantization.quantize` from a trained ``Dense``; one native call per
    forward (``_C.qdense``).

    Args:
        units: output features.
        activation: as Dense (relu / sigmoid / tanh / linear fused; others one extra kernel).
        use_bias: default True.
        in_scale, in_zero_point: static activation quantization (uint8); None = dynamic.
        isa: 'auto' (default) or a cap ('portable', 'avx2', 'avx512-vnni'), for tests.

    Shape:
        [..., K] -> [..., units]; ``w_q`` is int8 [K, units], ``w_scale`` float32 [units].

    Example:
        >>> q = fusednet.quantization.quantize(model)          # Dense -> QuantizedDense
        >>> q.layers[0].w_q.dtype, q.layers[0].mode
        (dtype('int8'), 'dynamic')
    """

    def __init__(self, units, activation=None, use_bias=True, in_scale=None, in_zero_point=0, isa="auto",
                 **kwargs):
        super().__init__(activation, use_bias, in_scale, in_zero_point, isa, **kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"QuantizedDense '{self.name}': units must be a positive integer, got {units!r}")
        self.units = int(units)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"QuantizedDense '{self.name}': the last axis of the input must be defined, got "
                             f"input shape {tuple(input_shape)}")
        self._build_weights((int(input_shape[-1]), self.units), self.units)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, ctx, x, training, strip=False):
        lead = None
        if x.ndim != 2:
            lead = tuple(x.shape[:-1])
            x = x.reshape(-1, x.shape[-1])
        ep, after = self._epilogue(strip)
        if after == "softmax":     # the classifier head: the softmax runs inside the qdense call
            ep, after = "softmax", None
        b = self.bias_t.data if self.bias_t is not None else None
        y = _C.qdense(x, self._qw, self.kernel_scale.data, b, self.in_scale,
                      self.in_zero_point or 0, ep, self.isa)
        if after is not None:
            y = _acts.array_forward(y, after)
        return y if lead is None else y.reshape(lead + (self.units,))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@register_keras_serializable(package="fusednet.quantization")
class QuantizedConv2D(_QuantizedBase):
    """int8 Conv2D (NHWC) for inference: ``activation(dequant(conv(quant(x), w_q)) + bias)``.

    Built by :func:`fusednet.quantization.quantize` from a trained ``Conv2D`` (a following
    ``BatchNormalization`` folded in); one native call per forward (``_C.qconv2d``: u8 im2col
    with the zero point as padding, int8 GEMM, fused epilogue).

    Args:
        filters, kernel_size, strides, padding, dilation_rate: as Conv2D.
        activation, use_bias, in_scale, in_zero_point, isa: as :class:`QuantizedDense`.

    Shape:
        [batch, H, W, Cin] -> [batch, Ho, Wo, filters]; ``w_q`` is int8 [kh, kw, Cin, filters].

    Example:
        >>> q = fusednet.quantization.quantize(cnn, x_calib, mode="static")
        >>> type(q.layers[0]).__name__
        'QuantizedConv2D'
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                 activation=None, use_bias=True, in_scale=None, in_zero_point=0, isa="auto", **kwargs):
        super().__init__(activation, use_bias, in_scale, in_zero_point, isa, **kwargs)
        owner = f"QuantizedConv2D '{self.name}'"
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"{owner}: filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size", owner)
        self.strides = _pair(strides, "strides", owner)
        self.dilation_rate = _pair(dilation_rate, "dilation_rate", owner)
        self.padding = _padding(padding, owner)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"QuantizedConv2D '{self.name}': expected a 4-D input (batch, H, W, channels), got "
                             f"input shape {tuple(input_shape)}")
        self._build_weights(self.kernel_size + (int(input_shape[-1]), self.filters), self.filters)

    def compute_output_shape(self, input_shape):
        n, h, w = input_shape[0], input_shape[1], input_shape[2]
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.strides, self.dilation_rate
        return (n, _out_len(h, kh, sh, dh, self.padding), _out_len(w, kw, sw, dw, self.padding), self.filters)

    def forward(self, ctx, x, training, strip=False):
        ep, after = self._epilogue(strip)
        b = self.bias_t.data if self.bias_t is not None else None
        y = _C.qconv2d(x, self._qw, self.kernel_size, self.kernel_scale.data, b, self.strides, self.padding,
                       self.dilation_rate, self.in_scale, self.in_zero_point or 0, ep, self.isa)
        return _acts.array_forward(y, after) if after is not None else y

    def forward_pooled(self, x, pool):
        """``pool(self(x))`` for a MaxPooling2D ``pool`` (activation relu or linear): one native
        call on the CPU (``_C.qconv2d_maxpool``: the float conv output is pooled per L2-sized group
        of images, never written whole); CUDA inputs run the two kernels. Same bits either way."""
        b = self.bias_t.data if self.bias_t is not None else None
        args = (self.kernel_size, self.kernel_scale.data, b, self.strides, self.padding, self.dilation_rate,
                self.in_scale, self.in_zero_point or 0, self._ep or "none")
        if x.device != "cpu":
            return _C.max_pool2d_forward(_C.qconv2d(x, self._qw, *args, self.isa), *pool._cfg())[0]
        return _C.qconv2d_maxpool(x, self._qw, *args, *pool._cfg(), self.isa)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "dilation_rate": list(self.dilation_rate)}


# fusednet's serializer writes registered_name = the bare class name for classes of fusednet.*
# modules and looks those up in the public custom-object table first: make both names resolve.
for _cls in (QuantizedDense, QuantizedConv2D):
    get_custom_objects()[_cls.__name__] = _cls

from . import fusion as _fusion  # noqa: E402,F401  (registers the int8 conv+pool inference rule)
