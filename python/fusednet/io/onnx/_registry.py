"""The public converter registry and the export context converters build the graph through.

A converter is ``fn(ctx, layer, input_names) -> list[str]``: it receives the ONNX value names of the
layer call's inputs (channels-last, exactly what the layer's ``call`` sees) and returns the names
of its outputs, adding nodes with ``ctx.node(...)`` and weights with ``ctx.initializer(...)``.
Converters are looked up by the layer's class, walking its MRO, so a subclass inherits its base's
converter unless it registers its own. The quantization module registers its QDQ converters here.
"""
import numpy as np

__all__ = ["register_converter", "get_converter", "ExportContext", "MIN_OPSET", "MAX_OPSET"]

MIN_OPSET, MAX_OPSET = 17, 21     # 17: LayerNormalization; ReduceX take axes as an input from 18
_CONVERTERS = {}


def register_converter(layer_class):
    """Decorator: register ``fn(ctx, layer, input_names) -> list[str]`` as the ONNX converter of
    ``layer_class`` (and of its subclasses without their own).

    Args:
        layer_class: a :class:`fusednet.layers.Layer` subclass.

    Example:
        >>> @register_converter(MyScale)
        ... def _my_scale(ctx, layer, inputs):
        ...     s = ctx.initializer(np.float32(layer.factor), "scale")
        ...     return ctx.node("Mul", [inputs[0], s])
    """
    if not isinstance(layer_class, type):
        raise TypeError(f"register_converter: expected a layer class, got {layer_class!r}")

    def deco(fn):
        if not callable(fn):
            raise TypeError(f"register_converter({layer_class.__name__}): the converter must be callable")
        _CONVERTERS[layer_class] = fn
        return fn
    return deco


def get_converter(layer):
    """The converter registered for ``layer``'s class (or its nearest base), or None."""
    for cls in type(layer).__mro__:
        fn = _CONVERTERS.get(cls)
        if fn is not None:
            return fn
    return None


MASK_UNSET = object()


class ExportContext:
    """What a converter builds the ONNX graph with.

    Attributes:
        opset: the target ONNX opset (default domain).

    Methods ``node``, ``initializer``, ``unique`` are the public converter API; ``to_nchw`` /
    ``from_nchw`` let layout-aware converters (conv, pooling) skip boundary transposes: a value
    returned through ``from_nchw`` is transposed back to channels-last only if some consumer needs it.

    Example:
        >>> y, = ctx.node("Relu", [x])
    """

    def __init__(self, opset):
        from onnx import helper
        self._helper = helper
        self.opset = int(opset)
        self.nodes, self.initializers, self._names = [], [], set()
        self._consts = {}      # (dtype, shape, sha1) -> initializer name
        self._pending = {}     # channels-last name -> (channels-first name, perm), not yet emitted
        self._nchw = {}        # channels-last name -> (its channels-first twin, rank)
        self.fold_bn = None    # set by the walker: the BatchNormalization to fold into this conv call
        # the mask channel (Keras masks, float 0/1 [B, T] value names): the walker sets in_masks
        # (one entry per input, None = unmasked) before each converter; a converter that makes or
        # changes a mask sets out_mask (else the walker applies Keras' propagation rules)
        self.in_masks = []
        self.out_mask = MASK_UNSET

    def unique(self, name_hint):
        """A value/node name not used yet, based on ``name_hint``."""
        base = "".join(c if c.isalnum() or c in "_./:" else "_" for c in str(name_hint)) or "v"
        name, i = base, 1
        while name in self._names:
            name, i = f"{base}_{i}", i + 1
        self._names.add(name)
        return name

    def initializer(self, array, name_hint):
        """Add a constant tensor (float64 is stored as float32); returns its name. Equal constants
        are stored once (a shared layer called twice reuses its weights; repeated scalars)."""
        import hashlib
        from onnx import numpy_helper
        a = np.asarray(array)
        if a.dtype == np.float64:
            a = a.astype(np.float32)
        a = np.ascontiguousarray(a)
        key = (a.dtype.str, a.shape, hashlib.sha1(a.tobytes()).hexdigest())
        if key in self._consts:
            return self._consts[key]
        name = self._consts[key] = self.unique(name_hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(a), name))
        return name

    def not_equal_f32(self, x, value):
        """float32 1.0 where ``x != value`` (an initializer of ``x``'s type), else 0.0: the mask
        form (nonzero ids, explicit masks, Masking's real steps)."""
        return self.node("Cast", [self.node("Not", [self.node("Equal", [x, value])[0]])[0]], to=1)[0]

    def const_i64(self, values, name_hint="shape"):
        """An int64 1-D initializer (shapes, axes, pads)."""
        return self.initializer(np.asarray(values, np.int64).reshape(-1), name_hint)

    def node(self, op_type, inputs, outputs=None, name=None, **attrs):
        """Append an ONNX node; ``outputs``: names, a count, or None (one fresh output). Returns the
        output names. Attributes are ONNX attributes (``axis=-1``, ``perm=[0, 3, 1, 2]``)."""
        for x in inputs:
            if x in self._pending:
                self._materialize(x)
        if outputs is None:
            outputs = 1
        if isinstance(outputs, int):
            outputs = [self.unique(f"{op_type}_out") for _ in range(outputs)]
        else:
            outputs = list(outputs)
            self._names.update(outputs)
        self.nodes.append(self._helper.make_node(op_type, list(inputs), outputs,
                                                 name=self.unique(name or op_type), **attrs))
        return outputs

    # ------------------------------------------------------------------ layout (NHWC <-> NCHW)
    def to_nchw(self, name, rank):
        """Channels-first view of channels-last value ``name`` (rank >= 3), reusing a twin when the
        value came from a channels-first op, so Conv -> Conv chains carry no transposes."""
        if name in self._nchw:
            return self._nchw[name][0]
        perm = [0, rank - 1] + list(range(1, rank - 1))
        out, = self.node("Transpose", [name], perm=perm)
        self._nchw[name] = (out, rank)
        return out

    def nchw_twin(self, name):
        """(channels-first name, rank) already available for ``name``, or None."""
        return self._nchw.get(name)

    def from_nchw(self, name, rank):
        """A channels-last name for channels-first value ``name``; its Transpose is emitted lazily,
        just before the first node (or graph output) that reads it."""
        last = self.unique(name + "_nhwc")
        self._pending[last] = (name, [0] + list(range(2, rank)) + [1])
        self._nchw[last] = (name, rank)
        return last

    def _materialize(self, name):
        src, perm = self._pending.pop(name)
        self.nodes.append(self._helper.make_node("Transpose", [src], [name], name=self.unique("Transpose"),
                                                 perm=perm))

    def finish_outputs(self, names):
        for x in names:
            if x in self._pending:
                self._materialize(x)

    # ------------------------------------------------------------------ opset-dependent helpers
    def reduce(self, op_type, x, axes, keepdims=1):
        """ReduceMean/ReduceMax/...: axes are an attribute up to opset 17, an input from 18."""
        if self.opset >= 18 or op_type == "ReduceSum":   # ReduceSum switched at opset 13
            return self.node(op_type, [x, self.const_i64(axes, "axes")], keepdims=keepdims)
        return self.node(op_type, [x], axes=list(axes), keepdims=keepdims)
