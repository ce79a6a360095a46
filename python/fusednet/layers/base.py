"""Layer base class (Keras-shaped), the symbolic KerasTensor used by ``Input``, and the one
layer protocol every training path runs.

The protocol (public; see docs/LAYERS.md): a layer implements its maths once, on native Arrays,
keeping what its backward needs in a per-call context object rather than on itself:

* ``forward(ctx, inputs, training, strip=False) -> Array``: ``inputs`` is one Array (or a list
  for merge layers); ``strip`` asks an output layer to skip a final softmax/sigmoid so the loss
  can fuse with it.
* ``backward(ctx, dy, need_dx) -> (dx, grads)``: ``dx`` is the input gradient (a list for
  several inputs; None when ``need_dx`` is false) and ``grads`` one Array per entry of
  ``trainable_weights`` (empty for a frozen layer).

Both call native kernels only. ``ctx`` is fresh for every call, so one layer can be called any
number of times in a graph (shared layers). The compiled graph plan (``trainers/plan.py``) calls
these methods directly; the default ``call()`` runs the very same code through the autograd tape
(``LayerFunction``), so tape and plan are bitwise equal. A layer that implements ``call()`` with
Tensor ops instead runs on the tape inside an otherwise compiled graph.
"""
import re

import numpy as np

from .. import _C
from .. import initializers as _init
from .. import regularizers as _reg
from ..tensor import Function, Tensor, _state, bump_weights_version

__all__ = ["Layer", "KerasTensor", "Context", "LayerFunction", "clear_session", "unique_name"]

_NAME_COUNTS = {}


def clear_session():
    """Reset the layer-name counters (Keras ``clear_session``), so names start at 'dense' again."""
    _NAME_COUNTS.clear()


def unique_name(base):
    """'dense', then 'dense_1', 'dense_2', ... (Keras naming)."""
    n = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def _snake(name):
    """Keras' ``to_snake_case``: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d,
    BatchNormalization -> batch_normalization, Conv2DTranspose -> conv2d_transpose,
    SimpleRNN -> simple_rnn, LSTM -> lstm (digits stay attached to the word before them)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class KerasTensor:
    """Symbolic tensor: a shape (batch axis None) and the layer call that produced it.

    Returned by :func:`fusednet.layers.Input` and by calling layers on KerasTensors; used to
    define functional :class:`fusednet.Model` graphs.
    """

    __slots__ = ("shape", "dtype", "layer", "inputs", "name", "mask_input")

    def __init__(self, shape, dtype="float32", layer=None, inputs=(), name=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.layer = layer
        self.inputs = tuple(inputs)
        self.name = name
        self.mask_input = False     # the call's last input is an explicit ``mask=`` (Keras)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def _keras_mask(self):
        """Keras 3: the symbolic mask of this tensor (a bool KerasTensor ``[batch, timesteps]``)
        when the layers that made it produce one (Embedding(mask_zero=True), Masking, an explicit
        ``mask=``, passed on by mask-preserving layers), else None. For inspection: the plan
        computes the real masks."""
        return _symbolic_mask(self)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


def _symbolic_mask(t):
    layer = t.layer
    if layer is None or not t.inputs:
        return None
    if t.mask_input:
        m = t.inputs[-1]
        return KerasTensor(m.shape, "bool", name=f"{t.name}_mask")
    from ..trainers.masks import is_mask_source
    ins = [_symbolic_mask(p) for p in t.inputs]
    if is_mask_source(layer) or getattr(layer, "mask_zero", False):
        return KerasTensor(tuple(t.shape[:2]), "bool", name=f"{t.name}_mask")
    if not any(m is not None for m in ins) or not hasattr(layer, "compute_mask"):
        return None
    try:
        m = layer.compute_mask(None, ins if len(ins) > 1 else ins[0])
    except Exception:                       # merges AND real arrays: the first mask stands for them
        m = next(m for m in ins if m is not None) if getattr(layer, "supports_masking", False) else None
    if isinstance(m, (list, tuple)):
        m = m[0]
    return m if isinstance(m, KerasTensor) else None


class Context:
    """Per-call scratch space of :meth:`Layer.forward` / :meth:`Layer.backward` (attributes only)."""

    def clear(self):
        self.__dict__.clear()


_CALL_SIG = {}


def walk_layers(roots):
    """``roots`` and every layer nested in them (attributes, ``.layers``), each once, parents first."""
    out, seen, stack = [], set(), list(reversed(roots))
    while stack:
        l = stack.pop()
        if id(l) in seen:
            continue
        seen.add(id(l))
        out.append(l)
        subs = [v for v in list(vars(l).values()) + list(getattr(l, "layers", None) or ())
                if isinstance(v, Layer)]
        stack.extend(reversed(subs))
    return out


def call_losses(layer):
    """The :meth:`Layer.add_loss` Tensors of ``layer``'s latest call, nested layers included."""
    out, seen, stack = [], set(), [layer]
    while stack:
        l = stack.pop()
        if id(l) in seen:
            continue
        seen.add(id(l))
        out.extend(l.__dict__.get("_call_losses", ()))
        for v in list(vars(l).values()) + list(getattr(l, "layers", None) or ()):
            if isinstance(v, Layer):
                stack.append(v)
            elif isinstance(v, (list, tuple)):
                stack.extend(u for u in v if isinstance(u, Layer))
    return out


def _call_signature(cls):
    """``(names of cls.call's positional parameters after inputs, whether it takes training)``,
    read once per class."""
    sig = _CALL_SIG.get(cls)
    if sig is None:
        import inspect
        try:
            params = inspect.signature(cls.call).parameters
            ps = list(params.values())[2:]                                   # self, inputs
            sig = (tuple(p.name for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)),
                   "training" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()))
        except (TypeError, ValueError):
            sig = (("training",), True)
        _CALL_SIG[cls] = sig
    return sig


def _is_tensor_like(v):
    return isinstance(v, (KerasTensor, Tensor, _C.Array, np.ndarray))


def is_symbolic(inputs):
    """True for a KerasTensor or a list / tuple starting with one (a call that builds a graph)."""
    return isinstance(inputs, KerasTensor) or (
        isinstance(inputs, (list, tuple)) and bool(inputs) and isinstance(inputs[0], KerasTensor))


def call_layer(layer, x, training=None, **kwargs):
    """``layer.call(x, training=..., **kwargs)``, passing ``training`` only when ``call`` takes it
    (Keras inspects the signature the same way: ``def call(self, inputs)`` is allowed). A layer
    called with several positional tensors (``call(self, a, b)``, see ``Layer.__call__``) gets
    them back as separate arguments."""
    spread = layer.__dict__.get("_positional_arity") and isinstance(x, (list, tuple))
    args = tuple(x) if spread else (x,)
    if _call_signature(type(layer))[1]:
        return layer.call(*args, training=training, **kwargs)
    return layer.call(*args, **kwargs)


class LayerFunction(Function):
    """Tape node running a protocol layer: forward already ran; backward calls ``layer.backward``
    and returns gradients for the layer's inputs, then for its trainable weights."""

    __slots__ = ("layer", "ctx", "n_in", "need_dx")

    def backward(self, g):
        dx, grads = self.layer.backward(self.ctx, g, self.need_dx)
        self.ctx.clear()
        if self.n_in == 1:
            dx = [dx]
        elif dx is None:
            dx = [None] * self.n_in
        return tuple(dx) + tuple(grads)


def _prefers_tape(layer):
    """True when the layer's maths is in a Tensor ``call()``: it has no ``forward``, or a user
    subclass overrides ``call()`` below the ``forward()`` it inherits (``class MyDense(Dense)``
    with its own ``call``). fusednet's own layers may define both (a call with a shortcut)."""
    cls = type(layer)
    fwd = next(c for c in cls.__mro__ if "forward" in c.__dict__)
    if fwd is Layer:
        return True
    cal = next(c for c in cls.__mro__ if "call" in c.__dict__)
    return cal is not fwd and issubclass(cal, fwd) and not cal.__module__.startswith("fusednet.")


class Layer:
    """Base class of all layers.

    Args:
        trainable: whether the layer's weights are updated by ``fit``.
        name: unique name (default: snake_case class name with a counter, as Keras).
        dtype: only 'float32' is supported.
        input_shape: optional shape without the batch axis (Keras 2 style), lets a
            Sequential build immediately.

    Subclasses implement ``build(input_shape)`` (creating weights with ``add_weight``),
    ``compute_output_shape(input_shape)``, and either ``call(inputs, training=None)`` with Tensor
    ops (autograd tape) or ``forward(ctx, inputs, training)`` / ``backward(ctx, dy, need_dx)`` on
    native Arrays (the compiled plan; see the module docstring).

    Example:
        >>> class Scale(fusednet.layers.Layer):
        ...     def build(self, input_shape):
        ...         self.w = self.add_weight((input_shape[-1],), initializer="ones")
        ...     def call(self, x, training=None):
        ...         return x * self.w
    """

    #: False: integer inputs are cast to float32 before ``call`` / ``forward`` (Keras autocast);
    #: True for layers that take integer Arrays (indices), e.g. an Embedding.
    accepts_integer_inputs = False

    def __init__(self, trainable=True, name=None, dtype=None, input_shape=None, input_dim=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        if dtype not in (None, "float32", np.float32):
            raise TypeError(f"{type(self).__name__}: only dtype='float32' is supported, got {dtype!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, got {name!r}")
        self.name = name or unique_name(_snake(type(self).__name__))
        self._trainable = bool(trainable)
        self.built = False
        self._weights = []          # Tensors in creation order
        self._trainable_flags = []
        self._regularized = []      # (Tensor, Regularizer)
        self.input_shape = None
        self._build_shape = None
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self._batch_input_shape = (None,) + tuple(input_shape) if input_shape is not None else None

    # ------------------------------------------------------------------ weights
    def add_weight(self, shape, initializer="glorot_uniform", regularizer=None, trainable=True,
                   name=None, dtype=None):
        """Create a weight Tensor initialised by ``initializer`` (name / instance / callable)."""
        init = _init.get(initializer)
        shape = tuple(int(s) for s in shape)
        value = init(shape) if init is not None else _C.zeros(list(shape))
        if not isinstance(value, _C.Array):
            value = _C.asarray(np.ascontiguousarray(np.asarray(value, np.float32)))
        if tuple(value.shape) != shape:
            raise ValueError(f"{self.name}: initializer for {name} returned shape {value.shape}, expected {shape}")
        w = Tensor(value, requires_grad=trainable and self._trainable,
                   name=f"{self.name}/{name or 'weight_' + str(len(self._weights))}")
        self._weights.append(w)
        self._trainable_flags.append(bool(trainable))
        reg = _reg.get(regularizer)
        if reg is not None:
            self._regularized.append((w, reg))
        return w

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for w, t in zip(self._weights, self._trainable_flags):
            w.requires_grad = bool(value) and t

    @property
    def weights(self):
        """All weights (trainable first, as Keras)."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self):
        if not self._trainable:
            return []
        return [w for w, t in zip(self._weights, self._trainable_flags) if t]

    @property
    def non_trainable_weights(self):
        if not self._trainable:
            return list(self._weights)
        return [w for w, t in zip(self._weights, self._trainable_flags) if not t]

    @property
    def trainable_variables(self):
        return self.trainable_weights

    @property
    def variables(self):
        return self.weights

    def count_params(self):
        """Number of scalars in all weights (the layer must be built)."""
        if not self.built:
            raise ValueError(f"You tried to call count_params on layer '{self.name}', but the layer isn't built. "
                             f"You can build it manually via: `layer.build(input_shape)`.")
        return int(sum(int(np.prod(w.shape)) for w in self._weights))

    def get_weights(self):
        """Weights as a list of NumPy arrays (copies)."""
        return [np.array(w.numpy(), copy=True) for w in self.weights]

    def set_weights(self, weights):
        """Copy NumPy arrays into the weights (shapes must match exactly)."""
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"Layer '{self.name}' expects {len(mine)} weight arrays, but the provided list "
                             f"has {len(weights)}")
        for w, v in zip(mine, weights):
            v = np.asarray(v)
            if tuple(v.shape) != tuple(w.shape):
                raise ValueError(f"Layer '{self.name}' weight shape mismatch for {w.name}: expected "
                                 f"{tuple(w.shape)}, got {tuple(v.shape)}")
        bump_weights_version()               # cached folded weights must be rebuilt
        for w, v in zip(mine, weights):
            src = _C.asarray(np.ascontiguousarray(np.asarray(v, np.float32)))
            w.data.copy_(src if w.data.device == "cpu" else src.to(w.data.device))

    @property
    def losses(self):
        """Regularization penalties of this layer's weights and the losses its last call added
        with :meth:`add_loss`, as scalar Tensors (differentiable); nested layers' included, as
        in Keras (each layer's own first, then its sub-layers')."""
        return [t for l in walk_layers([self]) for t in l._own_losses()]

    def _own_losses(self):
        return [reg(w) for w, reg in self._regularized] + list(self.__dict__.get("_call_losses", ()))

    def add_loss(self, loss):
        """Add a scalar loss Tensor from inside ``call()`` (Keras ``add_loss``): ``fit`` adds it
        to the training loss and ``layer.losses`` lists it until the next call.

        Args:
            loss: a scalar Tensor (or number), usually computed from the call's inputs.

        Example:
            >>> class ActivityReg(fusednet.layers.Layer):
            ...     def call(self, x):
            ...         self.add_loss(1e-2 * fusednet.ops.sum(x))
            ...         return x
        """
        from ..functional import as_tensor
        t = as_tensor(loss)
        if t.size != 1:
            raise ValueError(f"{self.name}.add_loss: the loss must be a scalar, got shape {tuple(t.shape)}")
        self.__dict__.setdefault("_call_losses", []).append(t)

    # ------------------------------------------------------------------ build / call
    def build(self, input_shape):
        """Create weights for inputs of ``input_shape`` (batch axis included, may be None)."""
        self.built = True

    def _maybe_build(self, input_shape):
        if self.__dict__.get("_positional_arity") and not self.built:
            return self._build_positional(input_shape)
        if not self.built:
            self._build_shape = tuple(input_shape)
            self.input_shape = tuple(input_shape)
            self.build(tuple(input_shape))
            self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, training=None, mask=None):
        """Default: ``forward``/``backward`` on the tape as one node (mask: ``ctx.input_mask``)."""
        if type(self).forward is Layer.forward:
            raise NotImplementedError(f"{type(self).__name__} must implement call() or forward()/backward()")
        return self._tape_forward(inputs, training, False, mask)

    supports_masking = False      # Keras 3: pass the input mask on (else it is dropped)

    def compute_mask(self, inputs, mask=None):
        """Output mask (Keras): the input ``mask`` when ``supports_masking``, else None.

        Args: inputs (Tensors eagerly, Arrays in the plan); mask: float32 0/1 [B, T] (a list for
            several inputs) or None.
        Returns: a mask (Tensor / Array / NumPy) or None. Example: ``supports_masking = True``.
        """
        if not self.supports_masking or mask is None:
            return None
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def _tape_forward(self, inputs, training, strip, mask=None):
        multi = isinstance(inputs, (list, tuple))
        xs = list(inputs) if multi else [inputs]
        ctx = Context()
        if mask is not None:                  # the input mask, for forward (layers/masks.py)
            from .masks import context_mask
            ctx.input_mask = context_mask(mask)
        arrays = [x.data for x in xs]
        y = self.forward(ctx, arrays if multi else arrays[0], bool(training), strip)
        ws = self.trainable_weights
        rec = [*xs, *ws]
        if _state.enabled and any(t.requires_grad for t in rec):
            fn = LayerFunction()
            fn.layer, fn.ctx, fn.n_in = self, ctx, len(xs)
            fn.need_dx = any(x.requires_grad for x in xs)
            return Tensor._from_op(y, fn, rec)
        return Tensor._wrap(y)

    def _call_logits(self, inputs):
        """Output without the final softmax/sigmoid (fused losses), through the protocol."""
        return self._tape_forward(inputs, True, True)

    @property
    def supports_fast_path(self):
        """True when the compiled plan can run this layer through ``forward``/``backward``."""
        return not _prefers_tape(self)

    # ------------------------------------------------------------------ protocol
    def forward(self, ctx, inputs, training, strip=False):
        """Native forward (see the module docstring); default: not implemented (tape only)."""
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, ctx, dy, need_dx):
        """Native backward: ``(dx, grads)`` with one grad per trainable weight."""
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def _check_input(self, shape):
        """Raise a Keras-style ValueError when ``shape`` is incompatible with the built layer."""
        return None

    # ------------------------------------------------------------------ symbolic history
    @property
    def input(self):
        """The KerasTensor(s) this layer was first called on (functional models)."""
        if self.__dict__.get("_kt_in") is None:
            raise AttributeError(f"Layer '{self.name}' has never been called on a KerasTensor and thus has no "
                                 f"defined input.")
        return self._kt_in

    @property
    def output(self):
        """The KerasTensor produced by this layer's first call on KerasTensors: with
        ``Model(model.inputs, model.get_layer(name).output)`` a feature extractor (Keras)."""
        if self.__dict__.get("_kt_out") is None:
            raise AttributeError(f"Layer '{self.name}' has never been called on a KerasTensor and thus has no "
                                 f"defined output.")
        return self._kt_out

    @output.setter
    def output(self, value):
        self._kt_out = value

    def _record_call(self, inputs, out):
        if self.__dict__.get("_kt_out") is None:
            self._kt_in, self._kt_out = inputs, out
        return out

    def __call__(self, inputs, *args, training=None, **kwargs):
        if args:
            inputs, training = self._bind_positional(inputs, args, training, kwargs)
        symbolic = is_symbolic(inputs)
        if symbolic and kwargs.get("mask") is not None:
            if not isinstance(kwargs["mask"], KerasTensor):
                raise TypeError(f"{type(self).__name__} '{self.name}': mask= in a model must be a KerasTensor "
                                f"(e.g. an Input), got {type(kwargs['mask']).__name__}")
            return self._symbolic_masked_call(inputs, kwargs.pop("mask"), kwargs)
        if symbolic and kwargs:
            self._record_graph_kwargs(kwargs)
        if isinstance(inputs, KerasTensor):
            self._maybe_build(inputs.shape)
            self._check_input(inputs.shape)
            out_shape = self._symbolic_output_shape(inputs, inputs.shape)
            return self._record_call(inputs, KerasTensor(out_shape, layer=self, inputs=(inputs,), name=self.name))
        if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], KerasTensor):
            shapes = [i.shape for i in inputs]
            self._maybe_build(shapes)
            out = KerasTensor(self._symbolic_output_shape(list(inputs), shapes), layer=self, inputs=tuple(inputs),
                              name=self.name)
            return self._record_call(list(inputs), out)
        from ..functional import as_tensor
        self.__dict__.pop("_call_losses", None)     # add_loss: only the latest call's losses
        conv = _keep_int if self.accepts_integer_inputs else _autocast
        if isinstance(inputs, (list, tuple)):
            xs = [as_tensor(conv(i)) for i in inputs]
            self._maybe_build([x.shape for x in xs])
            return self._call_masked(inputs, xs, training, kwargs)
        x = as_tensor(conv(inputs))
        self._maybe_build(x.shape)
        self._check_input(x.shape)
        return self._call_masked(inputs, x, training, kwargs)

    def _bind_positional(self, inputs, args, training, kwargs):
        """Keras 3: positional arguments after ``inputs`` bind to ``call``'s parameters in order.
        ``training`` / ``mask`` and non-tensor values become keyword arguments; tensors right
        after ``inputs`` (``call(self, a, b)`` called as ``layer(a, b)``) become more inputs of
        the same node, handed back to ``call`` as separate arguments."""
        names = _call_signature(type(self))[0]
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} '{self.name}': call() takes {1 + len(names)} positional "
                            f"argument(s) after self, got {1 + len(args)}")
        extra, leading = [], True
        for name, v in zip(names, args):
            if name in kwargs:
                raise TypeError(f"{type(self).__name__} '{self.name}': got multiple values for '{name}'")
            if name == "training":
                training, leading = v, False
            elif leading and name != "mask" and _is_tensor_like(v):
                extra.append(v)
            else:
                kwargs[name], leading = v, False
        if not extra:
            return inputs, training
        arity = 1 + len(extra)
        if self.__dict__.get("_positional_arity", arity) != arity:
            raise ValueError(f"{type(self).__name__} '{self.name}': called with {arity} positional inputs, "
                             f"first with {self._positional_arity}")
        self._positional_arity = arity
        return [inputs, *extra], training

    def _symbolic_masked_call(self, x, mask, kwargs, out_shape=None):
        """``layer(x, mask=m)`` on KerasTensors: one node whose inputs are ``(x, m)`` (``x`` may
        be a list: a recurrent layer's ``[x, initial states...]``), the last flagged as the mask:
        the plan hands its value to the layer as the mask of ``x``, as a mask made by Embedding /
        Masking would be; it gets no gradient."""
        ins = tuple(x) if isinstance(x, (list, tuple)) else (x,)
        if kwargs:
            self._record_graph_kwargs(kwargs)
        xs, ms = tuple(ins[0].shape), tuple(mask.shape)
        if len(ms) != len(xs) - 1 or any(a is not None and b is not None and a != b
                                         for a, b in zip(ms[1:], xs[1:len(ms)])):
            raise ValueError(f"{type(self).__name__} '{self.name}': the mask must have the input's shape "
                             f"without its last axis, got mask {ms} for input {xs}")
        shapes = [t.shape for t in ins] if len(ins) > 1 else ins[0].shape
        self._maybe_build(shapes)
        self._check_input(ins[0].shape)
        if out_shape is None:
            out_shape = self._symbolic_output_shape(ins[0] if len(ins) == 1 else list(ins), shapes)
        out = KerasTensor(out_shape, layer=self, inputs=ins + (mask,), name=self.name)
        out.mask_input = True
        return self._record_call(list(ins) if len(ins) > 1 else ins[0], out)

    def _record_graph_kwargs(self, kwargs):
        """Constant call arguments of a user layer called on KerasTensors (``layer(x, scale=2)``):
        kept on the layer and passed again whenever the model runs it (``graph_call_kwargs``).
        One set per layer, as MultiHeadAttention's options: a second symbolic call with others
        is an error rather than a silent reuse."""
        kw = {k: v for k, v in kwargs.items() if k not in ("mask", "training")}
        if not kw or type(self).__module__.startswith("fusednet."):
            return
        if any(isinstance(v, KerasTensor) for v in kw.values()):
            raise NotImplementedError(f"{type(self).__name__} '{self.name}': tensor keyword arguments in a "
                                      f"model ({', '.join(sorted(kw))}) are not supported; pass tensors "
                                      f"positionally")
        old = self.__dict__.get("_graph_kwargs")
        if old is not None and old != kw:
            raise ValueError(f"{type(self).__name__} '{self.name}': called in a model with arguments {kw}, "
                             f"first with {old}; use two layers")
        self._graph_kwargs = kw
        for k in kw:
            kwargs.pop(k)

    def graph_call_kwargs(self):
        """The constant call arguments recorded by a symbolic call (see above), else {}."""
        return self.__dict__.get("_graph_kwargs") or {}

    def _build_positional(self, shapes):
        """``build`` of a layer whose ``call`` takes several tensors: Keras passes one shape per
        argument when ``build`` takes as many, else the list."""
        import inspect
        try:
            n = len([p for p in list(inspect.signature(type(self).build).parameters.values())[1:]
                     if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])
        except (TypeError, ValueError):
            n = 1
        if not self.built:
            self._build_shape = tuple(shapes)
            self.input_shape = tuple(shapes)
            if n >= len(shapes) > 1:
                self.build(*[tuple(sh) for sh in shapes])
            else:
                self.build(list(shapes))
            self.built = True

    def _symbolic_output_shape(self, inputs, shapes):
        """``compute_output_shape``; for a user layer (a class outside fusednet with a Tensor
        ``call`` and no ``compute_output_shape``) the shape is found the way Keras's
        ``compute_output_spec`` does: by running ``call``, here on zeros with each unknown
        dimension set to 2 and then 3 (dimensions that follow become None)."""
        cls = type(self)
        if cls.compute_output_shape is not Layer.compute_output_shape or cls.call is Layer.call or \
                cls.__module__.startswith("fusednet."):
            return self.compute_output_shape(shapes)
        kts = inputs if isinstance(inputs, list) else [inputs]
        outs = []
        try:
            from ..tensor import no_grad
            for fill in (2, 3):
                xs = [Tensor(np.zeros([fill if d is None else int(d) for d in k.shape],
                                      np.int64 if str(k.dtype).startswith(("int", "uint")) else np.float32))
                      for k in kts]
                with no_grad():
                    y = call_layer(self, xs if isinstance(inputs, list) else xs[0], False, **self.graph_call_kwargs())
                self.__dict__.pop("_call_losses", None)
                if not isinstance(y, Tensor):
                    return self.compute_output_shape(shapes)
                outs.append(tuple(y.shape))
        except Exception:        # not runnable on zeros: the default (input shape) as before
            return self.compute_output_shape(shapes)
        a, b = outs
        if len(a) != len(b):
            return self.compute_output_shape(shapes)
        return tuple(None if u != v else u for u, v in zip(a, b))

    def _call_masked(self, raw, x, training, kwargs):
        from .masks import call_with_masks      # late: masks.py imports this module
        return call_with_masks(self, raw, x, training, kwargs)

    # ------------------------------------------------------------------ saving hooks (Keras 3)
    def save_own_variables(self, store):
        """Write this layer's weights into ``store`` (a dict) as ``"0"``, ``"1"``, ... (Keras 3).
        Override to save more state (call ``super()`` for the weights); ``model.save`` keeps
        whatever a subclass stores and hands it back to :meth:`load_own_variables`.

        Example:
            >>> def save_own_variables(self, store):
            ...     super().save_own_variables(store); store["vocab"] = self.vocab_array
        """
        for i, w in enumerate(self.weights):
            store[str(i)] = np.array(w.numpy())

    def load_own_variables(self, store):
        """Read back what :meth:`save_own_variables` wrote: the weights from ``"0"``, ``"1"``, ..."""
        ws = self.weights
        keys = [str(i) for i in range(len(ws))]
        missing = [k for k in keys if k not in store]
        if missing:
            raise ValueError(f"Layer '{self.name}' expected {len(ws)} variables, but the saved store holds "
                             f"{sorted(store)}")
        self.set_weights([np.asarray(store[k]) for k in keys])

    def get_build_config(self):
        """``{"input_shape": ...}`` of the first build (Keras 3), or None when not built. A
        subclass overriding it (and :meth:`build_from_config`) is saved with its own dict."""
        shape = self.__dict__.get("_build_shape")
        return None if shape is None else {"input_shape": shape}

    def build_from_config(self, config):
        """Build from :meth:`get_build_config`'s dict (called by ``load_model`` before the
        layer's first call when the class overrides it)."""
        shape = (config or {}).get("input_shape")
        if shape is not None:
            self._maybe_build([tuple(s) for s in shape] if shape and isinstance(shape[0], (list, tuple))
                              else tuple(shape))

    # ------------------------------------------------------------------ config
    def get_config(self):
        cfg = {"name": self.name, "trainable": self.trainable, "dtype": "float32"}
        if self._batch_input_shape is not None:
            cfg["batch_input_shape"] = self._batch_input_shape
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        bis = config.pop("batch_input_shape", None)
        if bis is not None:
            config["input_shape"] = tuple(bis[1:])
        config.pop("dtype", None)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"

    # ------------------------------------------------------------------ fast path hooks
    def _output_activation(self):
        """Name of a final softmax/sigmoid this layer can skip for loss fusion, else None."""
        return None

    def _kernel_grads(self, dw, db, kernel_regularizer):
        """Weight gradients of a kernel+bias layer in ``trainable_weights`` order, with the
        regularizers' gradients added ([] when the layer is frozen)."""
        if not self._trainable:
            return []
        if kernel_regularizer is not None:
            kernel_regularizer.add_grad_(dw, self.kernel.data)
        if db is None:
            return [dw]
        if self.bias_regularizer is not None:
            self.bias_regularizer.add_grad_(db, self.bias.data)
        return [dw, db]


def _f32(x):
    if isinstance(x, (Tensor, _C.Array)):
        return x
    a = np.asarray(x)
    if a.dtype != np.float32 and a.dtype.kind in "fiub":
        a = a.astype(np.float32)
    return np.ascontiguousarray(a)


def _autocast(x):
    """A layer input as float32: NumPy data converted, integer Tensors / Arrays cast natively."""
    x = _f32(x)
    if isinstance(x, Tensor):
        if x.dtype in ("int32", "int64"):
            return Tensor._wrap(_C.cast(x.data, "float32"))
    elif isinstance(x, _C.Array) and x.dtype in ("int32", "int64"):
        return _C.cast(x, "float32")
    return x


def _keep_int(x):
    """A layer input for a layer that accepts integers: integer data stays integer."""
    if isinstance(x, (Tensor, _C.Array)):
        return x
    a = np.asarray(x)
    if a.dtype.kind in "iu":
        return np.ascontiguousarray(a if a.dtype in (np.int32, np.int64) else a.astype(np.int64))
    return _f32(a)
