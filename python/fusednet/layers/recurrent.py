"""Recurrent layers: SimpleRNN, LSTM, GRU (Keras 3 semantics, weights and gate orders).

Each layer runs a whole sequence in one native call forward (``_C.rnn_forward``) and one
backward through time (``_C.rnn_backward``): the input projection of all steps is one GEMM, each
step one recurrent GEMM with the gate maths fused, and dW / dR / db are accumulated once over all
steps (csrc/cpu/rnn.h). Python here only checks arguments and routes Arrays.

Inputs are [batch, timesteps, features]. An initial state is passed as extra inputs,
``layer([x, h0])`` / ``layer([x, h0, c0])`` (LSTM) or ``layer(x, initial_state=[h0, c0])``. A mask
(1 = real step, 0 = padding: the state is carried through, the output repeats the previous one)
comes through the mask channel (layers/masks.py: ``Embedding(mask_zero=True)``, ``Masking``, and
every mask-preserving layer between), or ``layer(x, mask=m)`` eagerly. ``recurrent_dropout``
draws one mask per gate on h_{t-1} per call (training only) and the kernel applies it.
``return_state`` inside models and ``stateful``: see layers/rnn_state.py.
"""
import numpy as np

from .. import _C
from .. import activations as _acts
from .. import initializers as _init
from .. import random as _random
from .. import regularizers as _reg
from ..tensor import Function, Tensor, _state
from .base import Context, KerasTensor, Layer, is_symbolic
from .embedding import attached_mask
from .rnn_state import StatefulMixin, split_grads, symbolic_multi_call, with_initial_state
from .masks import check_mask

__all__ = ["SimpleRNN", "LSTM", "GRU"]

_NATIVE = ("tanh", "sigmoid", "relu", "linear")


class _StatePart(Function):
    """Tape node for one output of a ``return_state`` call. The backward is linear in the three
    output gradients, so each part runs the layer's backward with its own gradient alone and the
    tape adds the results."""

    __slots__ = ("layer", "ctx", "part", "n_in", "need_dx")

    def backward(self, g):
        grads = [None, None, None]
        grads[self.part] = g
        dx, wgrads = self.layer._backward(self.ctx, *grads, self.need_dx)
        if dx is None:
            dx = [None] * self.n_in
        elif not isinstance(dx, list):
            dx = [dx]
        return tuple(dx) + tuple(wgrads)


def share_weights(dst, src):
    """Make ``dst`` use ``src``'s weight Tensors (the same objects: one set of parameters)."""
    dst.kernel, dst.recurrent_kernel, dst.bias = src.kernel, src.recurrent_kernel, src.bias
    dst._weights = list(src._weights)
    dst._trainable_flags = list(src._trainable_flags)
    dst._regularized = list(src._regularized)


class _RNN(StatefulMixin, Layer):
    """Shared machinery of SimpleRNN / LSTM / GRU (not public; see the subclasses)."""

    _kind = None
    _gates = 1

    def __init__(self, units, activation, recurrent_activation, use_bias, kernel_initializer,
                 recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
                 bias_regularizer, activity_regularizer, kernel_constraint, recurrent_constraint,
                 bias_constraint, dropout, recurrent_dropout, return_sequences, return_state, go_backwards,
                 stateful, unroll, seed, **kwargs):
        batch_input_shape = kwargs.pop("batch_input_shape", None)
        batch_size = kwargs.pop("batch_size", None)
        if batch_input_shape is None and batch_size is not None and kwargs.get("input_shape") is not None:
            batch_input_shape = (batch_size,) + tuple(kwargs["input_shape"])
        if batch_input_shape is not None:
            kwargs.setdefault("input_shape", tuple(batch_input_shape)[1:])
        super().__init__(**kwargs)
        cls = type(self).__name__
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"{cls} '{self.name}': units must be a positive integer, got {units!r}")
        if any(v is not None for v in (activity_regularizer, kernel_constraint, recurrent_constraint,
                                        bias_constraint)):
            raise ValueError(f"{cls} '{self.name}': activity_regularizer and constraints are not supported")
        for nm, v in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) \
                    or not 0.0 <= float(v) < 1.0:
                raise ValueError(f"{cls} '{self.name}': {nm} must be a float in [0, 1), got {v!r}")
        self.units = int(units)
        self.activation = self._native_act("activation", activation)
        self.recurrent_activation = self._native_act("recurrent_activation", recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _init.get(kernel_initializer)
        self.recurrent_initializer = _init.get(recurrent_initializer)
        self.bias_initializer = _init.get(bias_initializer)
        self.kernel_regularizer = _reg.get(kernel_regularizer)
        self.recurrent_regularizer = _reg.get(recurrent_regularizer)
        self.bias_regularizer = _reg.get(bias_regularizer)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self._init_stateful(stateful, batch_input_shape)
        self.unroll = bool(unroll)  # accepted; the native kernel is the same either way
        self.seed = seed
        self._stream = _random.SeedStream(seed) if seed is not None else None
        self.reset_after = True
        self._y_time_order = False  # Bidirectional's backward half: outputs in input time order
        self.kernel = self.recurrent_kernel = self.bias = None

    def _native_act(self, what, a):
        name = _acts.serialize(a)
        if name not in _NATIVE:
            raise ValueError(f"{type(self).__name__} '{self.name}': {what}={a!r} is not supported by the native "
                             f"recurrent kernel (supported: {', '.join(_NATIVE)})")
        return name

    @property
    def _n_states(self):
        return 2 if self._kind == "lstm" else 1

    # ------------------------------------------------------------------ build / shapes
    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def build(self, input_shape):
        x_shape = input_shape[0] if input_shape and isinstance(input_shape[0], (tuple, list)) else input_shape
        if len(x_shape) != 3 or x_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': expected input [batch, timesteps, features] "
                             f"with features defined, got shape {tuple(x_shape)}")
        self._fix_batch(tuple(x_shape))
        f, gu = int(x_shape[-1]), self._gates * self.units
        src = self.__dict__.get("_adopt_weights")       # RNN(built cell): the cell's Tensors
        if src is not None:
            if tuple(src.kernel.shape) != (f, gu):
                raise ValueError(f"{type(self).__name__} '{self.name}': its cell '{src.name}' was built for "
                                 f"{src.kernel.shape[0]} input features, got input shape {tuple(x_shape)}")
            share_weights(self, src)
            self.built = True
            return
        self.kernel = self.add_weight((f, gu), self.kernel_initializer, self.kernel_regularizer, name="kernel")
        self.recurrent_kernel = self.add_weight((self.units, gu), self.recurrent_initializer,
                                                self.recurrent_regularizer, name="recurrent_kernel")
        if self.use_bias:
            self.bias = self.add_weight(self._bias_shape(), self._bias_init(), self.bias_regularizer, name="bias")
        self.built = True
        cell = self.__dict__.get("cell")
        if cell is not None and not cell.built:         # RNN(unbuilt cell): the cell takes ours
            cell._adopt(self)

    def _check_input(self, shape):
        if self.kernel is not None and (len(shape) != 3 or shape[-1] != self.kernel.shape[0]):
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected shape "
                             f"(batch, timesteps, {self.kernel.shape[0]}), but received input with shape "
                             f"{tuple(shape)}")

    def compute_output_shape(self, input_shape):
        x_shape = input_shape[0] if input_shape and isinstance(input_shape[0], (tuple, list)) else input_shape
        b = x_shape[0]
        out = (b, x_shape[1], self.units) if self.return_sequences else (b, self.units)
        return out

    def _state_shapes(self, input_shape):
        """Output shapes with ``return_state``: [output, h(, c)]."""
        x_shape = input_shape[0] if input_shape and isinstance(input_shape[0], (tuple, list)) else input_shape
        return [self.compute_output_shape(input_shape)] + [(x_shape[0], self.units)] * self._n_states

    # ------------------------------------------------------------------ calls
    def __call__(self, inputs, training=None, initial_state=None, mask=None, **kwargs):
        inputs = with_initial_state(inputs, initial_state)
        symbolic = is_symbolic(inputs)
        if symbolic and mask is not None and not isinstance(mask, KerasTensor):
            raise TypeError(f"{type(self).__name__} '{self.name}': mask= in a model must be a KerasTensor (e.g. an "
                            f"Input), got {type(mask).__name__}")
        if symbolic and isinstance(mask, KerasTensor):          # an explicit mask= (layers/base.py)
            shapes = [t.shape for t in inputs] if isinstance(inputs, (list, tuple)) else inputs.shape
            if self.return_state:
                self._maybe_build(shapes)
                self._check_input(inputs[0].shape if isinstance(inputs, (list, tuple)) else inputs.shape)
                return symbolic_multi_call(self, inputs, self._state_shapes(shapes), mask=mask)
            x_shape = shapes[0] if isinstance(inputs, (list, tuple)) else shapes
            return self._symbolic_masked_call(inputs, mask, kwargs, self.compute_output_shape(x_shape))
        if isinstance(inputs, (list, tuple)) and len(inputs) != 1 + self._n_states:
            raise ValueError(f"{type(self).__name__} '{self.name}': expected [x] plus {self._n_states} initial "
                             f"state(s), got {len(inputs)} inputs")
        if symbolic and self.return_state:   # one node with a list value + one select per output
            shapes = [t.shape for t in inputs] if isinstance(inputs, (list, tuple)) else inputs.shape
            self._maybe_build(shapes)
            self._check_input(inputs[0].shape if isinstance(inputs, (list, tuple)) else inputs.shape)
            return symbolic_multi_call(self, inputs, self._state_shapes(shapes))
        return super().__call__(inputs, training=training, mask=mask, **kwargs)

    def call(self, inputs, training=None, mask=None):
        """Run the layer eagerly on Tensors (one tape node; with ``return_state`` a list
        ``[output, h]`` / ``[output, h, c]`` whose gradients all reach the inputs)."""
        if isinstance(mask, (list, tuple)):      # [x, h0, ...]: the mask of x
            mask = mask[0]
        if mask is None and not self.return_state:
            return self._tape_forward(inputs, training, False)
        multi = isinstance(inputs, (list, tuple))
        xs = list(inputs) if multi else [inputs]
        ctx = Context()
        if mask is not None:
            m = mask.data if isinstance(mask, Tensor) else _C.asarray(np.ascontiguousarray(mask, np.float32))
            ctx.explicit_mask = m if m.dtype == "float32" else _C.cast(m, "float32")
        arrays = [x.data for x in xs]
        out = self._forward(ctx, arrays if multi else arrays[0], bool(training))
        parts = [out] if not self.return_state else out
        rec = [*xs, *self.trainable_weights]
        grad = _state.enabled and any(t.requires_grad for t in rec)
        result = []
        for k, arr in enumerate(parts):
            if not grad:
                result.append(Tensor._wrap(arr))
                continue
            fn = _StatePart()
            fn.layer, fn.ctx, fn.n_in = self, ctx, len(xs)
            fn.part = k if self.return_sequences or k else 1  # output == h_T without sequences
            fn.need_dx = any(x.requires_grad for x in xs)
            result.append(Tensor._from_op(arr, fn, rec))
        return result if self.return_state else result[0]

    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        """Keras: the input mask when ``return_sequences`` (None otherwise); with
        ``return_state`` one more None per state."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        return [out] + [None] * self._n_states if self.return_state else out

    def forward(self, ctx, inputs, training, strip=False):
        # with return_state the value is the list [output, h(, c)] (OutputSelect steps pick it)
        return self._forward(ctx, inputs, training)

    def _key(self):
        return self._stream.next() if self._stream is not None else _random.next_key()

    def _forward(self, ctx, inputs, training):
        if isinstance(inputs, (list, tuple)):
            x, states = inputs[0], list(inputs[1:])
        else:
            x, states = inputs, []
        name = f"{type(self).__name__} '{self.name}'"
        if len(x.shape) != 3:
            raise ValueError(f"{name}: expected input [batch, timesteps, features], got shape {tuple(x.shape)}")
        mask = getattr(ctx, "explicit_mask", None)
        if mask is None:                       # the mask channel (layers/masks.py)
            mask = getattr(ctx, "input_mask", None)
            if isinstance(mask, (list, tuple)):
                mask = mask[0]
        if mask is None:
            mask = attached_mask(x)
        check_mask(name, mask, x.shape)
        ctx.dmask = ctx.rdrop = None
        if training and self.dropout > 0.0:
            s, off = self._key()
            ones = _C.full([int(x.shape[0]), 1, int(x.shape[2])], 1.0, "float32", x.device)
            _, ctx.dmask = _C.dropout_forward(ones, self.dropout, s, off)  # one mask for all steps (Keras)
            x = _C.binary("mul", x, ctx.dmask)
        carried = self.stateful and not states
        if self.stateful:
            if states:
                self._carried_states(x)      # batch-size check only: explicit states win (Keras)
            else:
                states = self._carried_states(x)
        if training and self.recurrent_dropout > 0.0:
            # Keras 3: one mask per gate on h_{t-1} [G, B, U], fixed over the steps, scaled by
            # 1/(1-rate); the kernel applies it inside the recurrent products (csrc/cpu/rnn.h)
            s, off = self._key()
            ones = _C.full([self._gates, int(x.shape[0]), self.units], 1.0, "float32", x.device)
            _, ctx.rdrop = _C.dropout_forward(ones, self.recurrent_dropout, s, off)
        h0 = states[0] if states else None
        c0 = states[1] if len(states) > 1 else None
        b = self.bias.data if self.use_bias else None
        y, h, c, ws = _C.rnn_forward(self._kind, x, self.kernel.data, self.recurrent_kernel.data, b, h0, c0, mask,
                                     self.activation, self.recurrent_activation, self.go_backwards,
                                     self.reset_after, self.return_sequences, self._y_time_order, ctx.rdrop)
        # a carried state is a constant input (truncated BPTT): no dh0 is asked for it
        ctx.x, ctx.ws, ctx.c0, ctx.mask, ctx.n_states = x, ws, c0, mask, 0 if carried else len(states)
        if self.stateful:
            self._keep_states(h, c)
        out = y if self.return_sequences else h
        ctx.row_flag = None
        if mask is not None and not self.return_sequences and (h0 is not None or carried):
            # Keras: the last *output* of a row with no real step is zeros, while its state stays h0
            ctx.row_flag = _C.reduce("max", mask, [1], True)          # 0/1 masks: 1 if any real step
            out = _C.binary("mul", h, ctx.row_flag)
        if not self.return_state:
            return out
        return [out, h] + ([c] if c is not None else [])

    def backward(self, ctx, dy, need_dx):
        flag = ctx.__dict__.get("row_flag")
        if self.return_state:     # dy: [d output, dh(, dc)] with None where no gradient arrived
            d = split_grads(dy, 1 + self._n_states)
            dc = d[2] if len(d) > 2 else None
            if self.return_sequences:
                return self._backward(ctx, d[0], d[1], dc, need_dx)
            do = d[0] if d[0] is None or flag is None else _C.binary("mul", d[0], flag)
            dh = do if d[1] is None else (d[1] if do is None else _C.binary("add", do, d[1]))
            return self._backward(ctx, None, dh, dc, need_dx)
        if self.return_sequences:
            return self._backward(ctx, dy, None, None, need_dx)
        return self._backward(ctx, None, dy if flag is None else _C.binary("mul", dy, flag), None, need_dx)

    def _backward(self, ctx, dy, dh, dc, need_dx):
        need_states = need_dx and ctx.n_states > 0
        dx, dw, dr, db, dh0, dc0 = _C.rnn_backward(
            self._kind, dy, dh, dc, ctx.x, self.kernel.data, self.recurrent_kernel.data, ctx.ws, self.use_bias,
            ctx.c0, ctx.mask, self.activation, self.recurrent_activation, self.go_backwards, self.reset_after,
            need_dx, need_states, self._y_time_order, ctx.rdrop)
        if dx is not None and ctx.dmask is not None:
            dx = _C.binary("mul", dx, ctx.dmask)
        if ctx.n_states:
            dx = [dx, dh0, dc0][:1 + ctx.n_states] if need_dx else None
        if not self._trainable:
            return dx, []
        for g, w, reg in ((dw, self.kernel, self.kernel_regularizer),
                          (dr, self.recurrent_kernel, self.recurrent_regularizer),
                          (db, self.bias, self.bias_regularizer)):
            if reg is not None and g is not None:
                reg.add_grad_(g, w.data)
        return dx, [dw, dr] + ([db] if self.use_bias else [])

    # ------------------------------------------------------------------ config
    def get_config(self):
        ser = _reg.serialize
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": _init.serialize(self.kernel_initializer),
                "recurrent_initializer": _init.serialize(self.recurrent_initializer),
                "bias_initializer": _init.serialize(self.bias_initializer),
                "kernel_regularizer": ser(self.kernel_regularizer) if self.kernel_regularizer else None,
                "recurrent_regularizer": ser(self.recurrent_regularizer) if self.recurrent_regularizer else None,
                "bias_regularizer": ser(self.bias_regularizer) if self.bias_regularizer else None,
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
                "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("dtype", None)     # batch_input_shape kept whole: it fixes a stateful batch size
        return cls(**config)


_COMMON_DOC = """
    Args:
        units: size of the state (positive int).
        activation: 'tanh' (default), 'relu', 'sigmoid' or 'linear'/None.
        use_bias: default True.
        kernel_initializer: default 'glorot_uniform'; recurrent_initializer: default 'orthogonal';
            bias_initializer: default 'zeros'.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: e.g. 'l2'.
        dropout: fraction of the input features dropped in training (one mask for all steps, as
            Keras). recurrent_dropout: fraction of the state h_{t-1} dropped in the recurrent
            products in training (one mask per gate and sample, fixed over the steps, as Keras 3).
        return_sequences: output every step [batch, timesteps, units] (default: last, [batch, units]).
        return_state: also return the final state(s): ``[output, h]`` (LSTM ``[output, h, c]``),
            eagerly and inside models (the gradients of all outputs reach the inputs).
        go_backwards: process the sequence in reverse (outputs in processing order, as Keras).
        stateful: carry each batch's final states into the next batch (fixed batch size, from
            ``Input(batch_size=)``, ``batch_input_shape=`` or the first batch; ``reset_states()``).
            unroll: accepted, no effect.
        seed: dropout seed.
"""


class SimpleRNN(_RNN):
    """Fully connected RNN: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.
    {common}
    Shape:
        Input [batch, timesteps, features]; kernel [features, units], recurrent_kernel
        [units, units], bias [units].

    Example:
        >>> rnn = SimpleRNN(16, return_sequences=True)
        >>> y = rnn(np.zeros((4, 10, 8), np.float32))        # Tensor [4, 10, 16]
    """

    _kind, _gates = "simple_rnn", 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, seed=None, **kwargs):
        super().__init__(units, activation, "sigmoid", use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                         recurrent_dropout, return_sequences, return_state, go_backwards, stateful, unroll, seed,
                         **kwargs)


class LSTM(_RNN):
    """Long short-term memory (Hochreiter 1997), Keras gate order i, f, c, o:
    ``c_t = f*c_{t-1} + i*activation(z_c)``, ``h_t = o*activation(c_t)``, gates by
    ``recurrent_activation`` (default sigmoid).
    {common}
        recurrent_activation: 'sigmoid' (default), 'tanh', 'relu' or 'linear'.
        unit_forget_bias: start the forget-gate bias at 1 (default True, Keras).

    Shape:
        Input [batch, timesteps, features]; kernel [features, 4·units], recurrent_kernel
        [units, 4·units], bias [4·units]. ``return_state`` adds h and c, each [batch, units].

    Example:
        >>> lstm = LSTM(32)
        >>> y = lstm(np.zeros((4, 10, 8), np.float32))       # Tensor [4, 32]
        >>> out, h, c = LSTM(32, return_state=True)(np.zeros((4, 10, 8), np.float32))
    """

    _kind, _gates = "lstm", 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False, unroll=False,
                 seed=None, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint, recurrent_constraint,
                         bias_constraint, dropout, recurrent_dropout, return_sequences, return_state, go_backwards,
                         stateful, unroll, seed, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, u = self.bias_initializer, self.units

        def init(shape, dtype="float32"):
            def part(n):
                v = base((n,))
                return v if isinstance(v, _C.Array) else _C.asarray(np.asarray(v, np.float32))
            return _C.concat([part(u), _C.full([u], 1.0), part(2 * u)], 0)
        return init

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": self.recurrent_activation,
                "unit_forget_bias": self.unit_forget_bias}


class GRU(_RNN):
    """Gated recurrent unit (Cho 2014), Keras gate order z, r, h:
    ``h_t = z*h_{t-1} + (1-z)*activation(x_h + r*(h_{t-1} @ R_h + b'_h))`` with
    ``reset_after=True`` (default: Keras 3 and cuDNN/PyTorch), or
    ``activation(x_h + (r*h_{t-1}) @ R_h)`` with ``reset_after=False``.
    {common}
        recurrent_activation: 'sigmoid' (default), 'tanh', 'relu' or 'linear'.
        reset_after: see above; also selects the bias layout.

    Shape:
        Input [batch, timesteps, features]; kernel [features, 3·units], recurrent_kernel
        [units, 3·units], bias [2, 3·units] (input and recurrent bias) with reset_after, else
        [3·units].

    Example:
        >>> gru = GRU(32, return_sequences=True)
        >>> y = gru(np.zeros((4, 10, 8), np.float32))        # Tensor [4, 10, 32]
    """

    _kind, _gates = "gru", 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, seed=None, reset_after=True, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint, recurrent_constraint,
                         bias_constraint, dropout, recurrent_dropout, return_sequences, return_state, go_backwards,
                         stateful, unroll, seed, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": self.recurrent_activation,
                "reset_after": self.reset_after}


for _cls in (SimpleRNN, LSTM, GRU):
    _cls.__doc__ = _cls.__doc__.replace("{common}", _COMMON_DOC)
del _cls
