"""Keras' cell-level RNN API: ``SimpleRNNCell`` / ``LSTMCell`` / ``GRUCell``, ``StackedRNNCells``
and the generic ``RNN(cell)`` loop.

Two paths, chosen per instance:

* ``RNN(cell)`` with one of the built-in cells (exactly these classes, not subclasses) *is* the
  native layer: ``RNN(LSTMCell(10))`` returns an ``LSTM(10)`` with the cell's settings and the
  RNN's (``return_sequences``, ``go_backwards``...), its ``.cell`` the given cell, whose
  ``kernel`` / ``recurrent_kernel`` / ``bias`` are the layer's own Tensors (one native call per
  sequence, the fast training path; Keras documents the two as mathematically identical). It
  saves as that layer (class ``LSTM``), which loads back to the same computation.
* Any other cell (a user ``Layer`` with ``state_size`` and ``call(inputs, states[, training])``
  returning ``(output, new_states)``, or ``StackedRNNCells``) runs step by step on the autograd
  tape: the plan runs that one node through the tape (layers/base.py).

A built-in cell called directly (``cell(x_t, states)``, e.g. in a custom loop) runs the same
native kernel on a one-step sequence, so it equals one step of the layer bitwise.
"""
import inspect

from .. import functional as F
from .. import ops as _ops
from ..tensor import Tensor
from .base import KerasTensor, Layer, is_symbolic, unique_name
from .recurrent import GRU, LSTM, SimpleRNN, share_weights
from .rnn_state import symbolic_multi_call, with_initial_state

__all__ = ["SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "RNN"]

_LAYER_KW = ("name", "trainable", "dtype")


class _Cell(Layer):
    """One step of a built-in recurrent layer (see the subclasses)."""

    _layer_cls = None

    def __init__(self, units, **kwargs):
        layer_kw = {k: kwargs.pop(k) for k in _LAYER_KW if k in kwargs}
        super().__init__(**layer_kw)
        for k in ("return_sequences", "return_state", "go_backwards", "stateful", "unroll"):
            if k in kwargs:
                raise TypeError(f"{type(self).__name__}: unexpected keyword argument '{k}' (an RNN option)")
        self._cell_args = dict(kwargs)
        # validates every argument now, as the layer would; also the one-step runner
        self._step = self._layer_cls(units, return_state=True, name=self.name, **kwargs)
        self.units = self._step.units
        self.kernel = self.recurrent_kernel = self.bias = None

    @property
    def state_size(self):
        return [self.units, self.units] if self._layer_cls is LSTM else self.units

    @property
    def output_size(self):
        return self.units

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 2 or shape[-1] is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': expected input [batch, features], got "
                             f"shape {shape}")
        if not self._step.built:
            self._step._maybe_build((shape[0], 1, shape[1]))
        share_weights(self, self._step)
        self.built = True

    def _adopt(self, layer):
        """Take the Tensors of the native layer built for ``RNN(self)`` (cell not built yet)."""
        share_weights(self._step, layer)
        self._step.built = True
        share_weights(self, layer)
        self.built = True

    def __call__(self, inputs, states=None, training=None, **kwargs):
        if isinstance(inputs, KerasTensor):
            raise NotImplementedError(f"{type(self).__name__} '{self.name}': call the cell on Tensors, or wrap it "
                                      f"in layers.RNN inside a model")
        x = inputs if isinstance(inputs, Tensor) else F.as_tensor(inputs)
        self._maybe_build(tuple(x.shape))
        return self.call(x, states, training=training)

    def call(self, inputs, states=None, training=None):
        """(output, new_states) of one step: ``inputs`` [batch, features], ``states`` a list of
        [batch, units] Tensors (zeros when None)."""
        x = inputs if isinstance(inputs, Tensor) else F.as_tensor(inputs)
        if states is None:
            states = self.get_initial_state(int(x.shape[0]))
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        states = [s if isinstance(s, Tensor) else F.as_tensor(s) for s in states]
        x3 = _ops.expand_dims(x, 1)
        outs = self._step.call([x3, *states], training=training)
        return outs[0], list(outs[1:])

    def get_initial_state(self, batch_size=None):
        n = 2 if self._layer_cls is LSTM else 1
        return [_ops.zeros((int(batch_size), self.units)) for _ in range(n)]

    def _layer(self, **rnn_kwargs):
        """The native layer equal to ``RNN(self, **rnn_kwargs)``, sharing this cell's weights."""
        layer = self._layer_cls(self.units, **self._cell_args, **rnn_kwargs)
        layer.cell = self
        if self.built:
            layer._adopt_weights = self       # build takes the cell's Tensors instead of new ones
        return layer

    def get_config(self):
        cfg = {k: v for k, v in self._step.get_config().items()
               if k not in ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                            "batch_input_shape", "batch_shape")}
        return {**cfg, **super().get_config()}

    @classmethod
    def from_config(cls, config):
        return cls(**{k: v for k, v in config.items() if k != "dtype"})


class SimpleRNNCell(_Cell):
    """One step of :class:`SimpleRNN` (Keras ``SimpleRNNCell``): ``h = act(x W + h R + b)``.

    Args: as :class:`SimpleRNN` without the sequence options (units, activation, use_bias,
        initializers, regularizers, dropout, recurrent_dropout, seed).

    Shape: inputs [batch, features], states ``[h]`` [batch, units] -> (h, [h]).

    Example:
        >>> rnn = RNN(SimpleRNNCell(16), return_sequences=True)     # = SimpleRNN(16, ...)
    """
    _layer_cls = SimpleRNN


class LSTMCell(_Cell):
    """One step of :class:`LSTM` (Keras ``LSTMCell``, gate order i, f, c, o).

    Args: as :class:`LSTM` without the sequence options (units, activation,
        recurrent_activation, use_bias, initializers, unit_forget_bias, regularizers, dropout,
        recurrent_dropout, seed).

    Shape: inputs [batch, features], states ``[h, c]`` each [batch, units] -> (h, [h, c]).

    Example:
        >>> out, (h, c) = LSTMCell(8)(np.zeros((2, 5), np.float32))
        >>> layer = RNN(LSTMCell(10))                               # = LSTM(10)
    """
    _layer_cls = LSTM


class GRUCell(_Cell):
    """One step of :class:`GRU` (Keras ``GRUCell``, gate order z, r, h; reset_after=True).

    Args: as :class:`GRU` without the sequence options.

    Shape: inputs [batch, features], states ``[h]`` [batch, units] -> (h, [h]).

    Example:
        >>> rnn = RNN(GRUCell(16))                                  # = GRU(16)
    """
    _layer_cls = GRU


_NATIVE_CELLS = (SimpleRNNCell, LSTMCell, GRUCell)


def _sizes(state_size, who):
    sizes = list(state_size) if isinstance(state_size, (list, tuple)) else [state_size]
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, int) or s <= 0:
            raise NotImplementedError(f"{who}: state_size entries must be positive ints (nested / shaped "
                                      f"states are not supported), got {state_size!r}")
    return sizes


def _takes_training(cell):
    try:
        return "training" in inspect.signature(cell.call).parameters
    except (TypeError, ValueError):
        return False


class StackedRNNCells(Layer):
    """Several cells as one (Keras ``StackedRNNCells``): each step feeds the output of cell k to
    cell k+1; the states are the cells' states in order.

    Args:
        cells: a list of RNN cells.

    Shape: inputs [batch, features] -> (last cell's output, concatenated state list).

    Example:
        >>> rnn = RNN(StackedRNNCells([LSTMCell(8), LSTMCell(4)]), return_sequences=True)
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(f"StackedRNNCells '{self.name}': cells must be a non-empty list, got {cells!r}")
        self.cells = list(cells)

    @property
    def state_size(self):
        out = []
        for c in self.cells:
            out.extend(_sizes(c.state_size, f"StackedRNNCells '{self.name}'"))
        return out

    @property
    def output_size(self):
        last = self.cells[-1]
        return getattr(last, "output_size", None) or _sizes(last.state_size, self.name)[0]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for c in self.cells:
            c._maybe_build(shape)
            self._weights.extend(c._weights)
            self._trainable_flags.extend(c._trainable_flags)
            self._regularized.extend(c._regularized)
            shape = (shape[0], getattr(c, "output_size", None) or _sizes(c.state_size, c.name)[0])
        self.built = True

    def call(self, inputs, states, training=None):
        x, new, i = inputs, [], 0
        for c in self.cells:
            n = len(_sizes(c.state_size, c.name))
            kw = {"training": training} if _takes_training(c) else {}
            x, s = c.call(x, states[i:i + n] if n > 1 else states[i:i + n], **kw)
            new.extend(s if isinstance(s, (list, tuple)) else [s])
            i += n
        return x, new

    def get_config(self):
        from . import serialize
        return {**super().get_config(), "cells": [serialize(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config):
        from . import deserialize
        config = dict(config)
        config.pop("dtype", None)
        return cls([deserialize(c) for c in config.pop("cells")], **config)


class _RNNMeta(type):
    # RNN(builtin cell) returns the native layer: isinstance(LSTM(...), RNN) holds, as in Keras
    def __instancecheck__(cls, obj):
        if cls is RNN and isinstance(obj, (SimpleRNN, LSTM, GRU)):
            return True
        return type.__instancecheck__(cls, obj)


class RNN(Layer, metaclass=_RNNMeta):
    """The generic recurrent loop (Keras ``RNN``) over a cell.

    Args:
        cell: an RNN cell: ``SimpleRNNCell`` / ``LSTMCell`` / ``GRUCell`` (then this is the native
            ``SimpleRNN`` / ``LSTM`` / ``GRU`` layer, see the module notes), a ``StackedRNNCells``,
            a list of cells (stacked), or any Layer with ``state_size`` (int or list of ints), an
            optional ``output_size`` and ``call(inputs, states[, training]) -> (output, states)``.
        return_sequences: output every step [batch, timesteps, out] (default: the last step).
        return_state: also return the final states.
        go_backwards: process the sequence in reverse (outputs in processing order).
        stateful: carry the final states into the next call (``reset_states()`` clears).
        unroll: accepted, no effect.
        zero_output_for_mask: masked steps output zeros instead of the previous output.

    Shape:
        [batch, timesteps, features] -> [batch, out] (or [batch, timesteps, out]).

    Example:
        >>> class MinimalRNNCell(layers.Layer):
        ...     def __init__(self, units, **kw):
        ...         super().__init__(**kw); self.units = self.state_size = units
        ...     def build(self, input_shape):
        ...         self.kernel = self.add_weight((input_shape[-1], self.units), name="kernel")
        ...         self.recurrent_kernel = self.add_weight((self.units, self.units), name="rk")
        ...     def call(self, inputs, states):
        ...         h = ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent_kernel)
        ...         return h, [h]
        >>> y = RNN(MinimalRNNCell(32))(np.zeros((4, 10, 5), np.float32))
    """

    def __new__(cls, cell=None, *args, **kwargs):
        if cls is RNN and type(cell) in _NATIVE_CELLS:
            if args:
                raise TypeError("RNN: pass the options after the cell by keyword")
            kwargs.setdefault("name", unique_name("rnn"))
            return cell._layer(**kwargs)
        return super().__new__(cls)

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not isinstance(cell, Layer) or not hasattr(cell, "state_size") or not hasattr(cell, "call"):
            raise ValueError(f"RNN '{self.name}': cell must be a Layer with a state_size attribute and "
                             f"call(inputs, states), got {cell!r}")
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.states = None

    supports_masking = True

    @property
    def supports_fast_path(self):
        return False                 # a Python cell: this node runs on the tape

    @property
    def _n_states(self):
        return len(_sizes(self.cell.state_size, f"RNN '{self.name}'"))

    def _out_size(self):
        o = getattr(self.cell, "output_size", None)
        return o if o is not None else _sizes(self.cell.state_size, self.name)[0]

    def build(self, input_shape):
        x_shape = input_shape[0] if input_shape and isinstance(input_shape[0], (tuple, list)) else input_shape
        if len(x_shape) != 3:
            raise ValueError(f"RNN '{self.name}': expected input [batch, timesteps, features], got shape "
                             f"{tuple(x_shape)}")
        self.cell._maybe_build((x_shape[0], x_shape[2]))
        self._weights = list(self.cell._weights)
        self._trainable_flags = list(self.cell._trainable_flags)
        self._regularized = list(self.cell._regularized)
        self.built = True

    def compute_output_shape(self, input_shape):
        x_shape = input_shape[0] if input_shape and isinstance(input_shape[0], (tuple, list)) else input_shape
        o = self._out_size()
        return (x_shape[0], x_shape[1], o) if self.return_sequences else (x_shape[0], o)

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        return [out] + [None] * self._n_states if self.return_state else out

    def __call__(self, inputs, training=None, initial_state=None, mask=None, **kwargs):
        inputs = with_initial_state(inputs, initial_state)
        symbolic = is_symbolic(inputs)
        if symbolic and self.return_state:
            shapes = [t.shape for t in inputs] if isinstance(inputs, (list, tuple)) else inputs.shape
            self._maybe_build(shapes)
            x_shape = shapes[0] if isinstance(inputs, (list, tuple)) else shapes
            sh = [self.compute_output_shape(x_shape)] + [(x_shape[0], s) for s in
                                                         _sizes(self.cell.state_size, self.name)]
            return symbolic_multi_call(self, inputs, sh)
        if not symbolic and self.return_state:
            xs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
            xs = [x if isinstance(x, Tensor) else F.as_tensor(x) for x in xs]
            self._maybe_build([tuple(x.shape) for x in xs] if len(xs) > 1 else tuple(xs[0].shape))
            return self.call(xs if len(xs) > 1 else xs[0], training=training, mask=mask)
        return super().__call__(inputs, training=training, mask=mask, **kwargs)

    def call(self, inputs, training=None, mask=None):
        if isinstance(inputs, (list, tuple)):
            x, states = inputs[0], list(inputs[1:])
        else:
            x, states = inputs, []
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        x = x if isinstance(x, Tensor) else F.as_tensor(x)
        if x.ndim != 3:
            raise ValueError(f"RNN '{self.name}': expected input [batch, timesteps, features], got shape "
                             f"{tuple(x.shape)}")
        b, t_len = int(x.shape[0]), int(x.shape[1])
        sizes = _sizes(self.cell.state_size, f"RNN '{self.name}'")
        if not states and self.stateful and self.states is not None:
            states = [Tensor._wrap(s.data) for s in self.states]   # carried: constants (truncated BPTT)
        if not states:
            states = [_ops.zeros((b, s)) for s in sizes]
        if len(states) != len(sizes):
            raise ValueError(f"RNN '{self.name}': expected {len(sizes)} initial state(s), got {len(states)}")
        states = [s if isinstance(s, Tensor) else F.as_tensor(s) for s in states]
        for s, n in zip(states, sizes):
            if tuple(s.shape) != (b, n):
                raise ValueError(f"RNN '{self.name}': initial state of shape {tuple(s.shape)}, expected {(b, n)}")
        m = None
        if mask is not None:
            m = mask if isinstance(mask, Tensor) else F.as_tensor(mask)
            if tuple(m.shape) != (b, t_len):
                raise ValueError(f"RNN '{self.name}': mask of shape {tuple(m.shape)}, expected {(b, t_len)}")
            m = _ops.cast(m, "float32")
        kw = {"training": training} if _takes_training(self.cell) else {}
        outs, prev = [], None
        for t in (range(t_len - 1, -1, -1) if self.go_backwards else range(t_len)):
            out, new = self.cell.call(x[:, t], states, **kw)
            new = list(new) if isinstance(new, (list, tuple)) else [new]
            if m is not None:
                mt = _ops.expand_dims(m[:, t], 1)
                keep = 1.0 - mt
                new = [n * mt + s * keep for n, s in zip(new, states)]
                base = prev if prev is not None and not self.zero_output_for_mask else None
                out = out * mt + (base * keep if base is not None else 0.0)
            states, prev = new, out
            outs.append(out)
        y = _ops.stack(outs, axis=1) if self.return_sequences else outs[-1]
        if self.stateful:
            self.states = [Tensor._wrap(s.data) for s in states]
        return [y, *states] if self.return_state else y

    def reset_states(self, states=None):
        """Forget the carried states (or set them: a list of [batch, size] arrays)."""
        self.states = None if states is None else [F.as_tensor(s) for s in
                                                   (states if isinstance(states, (list, tuple)) else [states])]

    reset_state = reset_states

    def get_config(self):
        from . import serialize
        return {**super().get_config(), "cell": serialize(self.cell), "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards, "stateful": self.stateful,
                "unroll": self.unroll, "zero_output_for_mask": self.zero_output_for_mask}

    @classmethod
    def from_config(cls, config):
        from . import deserialize
        config = dict(config)
        config.pop("dtype", None)
        return cls(deserialize(config.pop("cell")), **config)
