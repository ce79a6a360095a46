"""Bidirectional wrapper for the recurrent layers (Keras 3 semantics).

Two copies of the wrapped layer run on the same input, one forward in time and one with
``go_backwards`` flipped; the backward copy writes its outputs in input time order natively (no
separate reverse pass), and the two are merged. Each half is one native call each way
(``_C.rnn_forward`` / ``_C.rnn_backward``); the merge is one native op.
"""
from .. import _C
from .base import Context, KerasTensor, Layer
from .recurrent import _RNN
from .rnn_state import eager_multi_call, split_grads, symbolic_multi_call, with_initial_state

__all__ = ["Bidirectional"]

_MODES = ("concat", "sum", "mul", "ave")


class Bidirectional(Layer):
    """Runs a recurrent layer in both directions and merges the outputs.

    Args:
        layer: a ``SimpleRNN``, ``LSTM`` or ``GRU`` instance (its config is copied for the forward
            half, and with ``go_backwards`` flipped for the backward half, as Keras).
        merge_mode: 'concat' (default), 'sum', 'mul' or 'ave'. None (a list of both outputs) is not
            supported.
            The wrapped layer's ``return_state`` gives ``[output, forward states..., backward
            states...]`` (Keras), ``initial_state=`` takes them in that order; ``stateful``
            carries both halves' states (``reset_states()``).
        backward_layer: optional explicit backward layer (same class and units; its
            ``go_backwards`` must differ from ``layer``'s).

    Shape:
        Input [batch, timesteps, features] → [batch, (timesteps,) 2·units] with 'concat', else
        units. Weights: the forward half's (kernel, recurrent_kernel, bias), then the backward's.

    Example:
        >>> bi = Bidirectional(LSTM(16, return_sequences=True))
        >>> y = bi(np.zeros((4, 10, 8), np.float32))        # Tensor [4, 10, 32]
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, _RNN):
            raise ValueError(f"Bidirectional '{self.name}': layer must be a SimpleRNN, LSTM or GRU instance, got "
                             f"{layer!r}")
        if merge_mode not in _MODES:
            raise ValueError(f"Bidirectional '{self.name}': merge_mode must be one of {', '.join(_MODES)}, got "
                             f"{merge_mode!r}")
        if weights is not None:
            raise ValueError(f"Bidirectional '{self.name}': weights= is not supported; use set_weights after "
                             f"building")
        cls = type(layer)
        cfg = layer.get_config()
        self._layer_config = (cls, dict(cfg))
        self.forward_layer = cls.from_config({**cfg, "name": "forward_" + layer.name})
        if backward_layer is None:
            backward_layer = cls.from_config({**cfg, "name": "backward_" + layer.name,
                                              "go_backwards": not layer.go_backwards})
        elif type(backward_layer) is not cls or backward_layer.units != layer.units \
                or backward_layer.go_backwards == layer.go_backwards \
                or backward_layer.return_sequences != layer.return_sequences:
            raise ValueError(f"Bidirectional '{self.name}': backward_layer must be a {cls.__name__} with the same "
                             f"units and return_sequences and the opposite go_backwards")
        self.backward_layer = backward_layer
        self.backward_layer._y_time_order = True    # Keras flips the backward outputs to time order
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = layer.stateful
        self.units = layer.units
        self._n_half = layer._n_states

    # ------------------------------------------------------------------ states
    def reset_states(self, states=None):
        """Reset both halves' carried states (``stateful=True``); ``states``: the forward
        half's states then the backward half's (Keras's order)."""
        if not self.stateful:
            raise AttributeError(f"Bidirectional '{self.name}': layer must be stateful to reset its states")
        n = self._n_half
        self.forward_layer.reset_states(None if states is None else list(states)[:n])
        self.backward_layer.reset_states(None if states is None else list(states)[n:])

    def reset_state(self, states=None):
        """Alias of :meth:`reset_states`."""
        self.reset_states(states)

    def __call__(self, inputs, training=None, initial_state=None, **kwargs):
        # initial_state: the forward half's states then the backward half's (Keras)
        inputs = with_initial_state(inputs, initial_state)
        if isinstance(inputs, (list, tuple)) and len(inputs) not in (1, 1 + 2 * self._n_half):
            raise ValueError(f"Bidirectional '{self.name}': expected [x] plus {2 * self._n_half} initial states "
                             f"(forward then backward), got {len(inputs)} inputs")
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            inputs = inputs[0]
        symbolic = isinstance(inputs, KerasTensor) or (
            isinstance(inputs, (list, tuple)) and isinstance(inputs[0], KerasTensor))
        if symbolic and self.return_state:
            shapes = [t.shape for t in inputs] if isinstance(inputs, (list, tuple)) else inputs.shape
            self._maybe_build(shapes)
            x_shape = shapes[0] if isinstance(inputs, (list, tuple)) else shapes
            self._check_input(x_shape)
            return symbolic_multi_call(self, inputs, self._state_shapes(shapes))
        return super().__call__(inputs, training=training, **kwargs)

    def call(self, inputs, training=None, mask=None):
        """Eager call: one Tensor, or with ``return_state`` the list [output, states...]."""
        if self.return_state:
            return eager_multi_call(self, inputs, training, mask)
        return self._tape_forward(inputs, training, False, mask)

    def build(self, input_shape):
        if input_shape and isinstance(input_shape[0], (tuple, list)):
            input_shape = input_shape[0]      # [x, states...]: the halves build from x
        for half in (self.forward_layer, self.backward_layer):
            half._maybe_build(tuple(input_shape))
            self._weights.extend(half._weights)
            self._trainable_flags.extend(half._trainable_flags)
            self._regularized.extend(half._regularized)
        self.built = True

    def _check_input(self, shape):
        self.forward_layer._check_input(shape)

    def _state_shapes(self, input_shape):
        """Output shapes with ``return_state``: [output, forward states..., backward states...]."""
        x_shape = input_shape[0] if input_shape and isinstance(input_shape[0], (tuple, list)) else input_shape
        return [self.compute_output_shape(input_shape)] + [(x_shape[0], self.units)] * (2 * self._n_half)

    def compute_output_shape(self, input_shape):
        out = self.forward_layer.compute_output_shape(input_shape)
        return out[:-1] + (2 * self.units,) if self.merge_mode == "concat" else out

    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        """Keras: the input mask when ``return_sequences``, else None; with ``return_state``
        one more None per state (both halves)."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        return [out] + [None] * (2 * self._n_half) if self.return_state else out

    def forward(self, ctx, x, training, strip=False):
        ctx.f, ctx.b = Context(), Context()
        m = ctx.__dict__.get("input_mask")
        if m is not None:                    # both halves skip the same padded steps
            ctx.f.input_mask = ctx.b.input_mask = m
        n = self._n_half
        if isinstance(x, (list, tuple)):       # [x, forward states..., backward states...]
            xf, xb = [x[0], *x[1:1 + n]], [x[0], *x[1 + n:]]
        else:
            xf = xb = x
        ctx.multi_in = isinstance(x, (list, tuple))
        yf = self.forward_layer.forward(ctx.f, xf, training)
        yb = self.backward_layer.forward(ctx.b, xb, training)
        # Keras forces zero_output_for_mask = return_sequences on both halves: padded steps of the
        # merged sequence are 0 (a plain RNN repeats the last output there)
        ctx.zmask = None
        if m is not None and self.return_sequences:
            mk = m[0] if isinstance(m, (list, tuple)) else m
            ctx.zmask = mk.reshape(*mk.shape, 1)
        if self.return_state:      # [merged, forward states..., backward states...] (Keras order)
            return [self._zero_masked(ctx, self._merge(ctx, yf[0], yb[0]))] + list(yf[1:]) + list(yb[1:])
        return self._zero_masked(ctx, self._merge(ctx, yf, yb))

    @staticmethod
    def _zero_masked(ctx, y):
        return y if ctx.zmask is None else _C.binary("mul", y, ctx.zmask)

    def _merge(self, ctx, yf, yb):
        if self.merge_mode == "concat":
            return _C.concat([yf, yb], len(yf.shape) - 1)
        if self.merge_mode == "mul":
            ctx.yf, ctx.yb = yf, yb
            return _C.binary("mul", yf, yb)
        y = _C.binary("add", yf, yb)
        return _C.scale(y, 0.5) if self.merge_mode == "ave" else y

    def backward(self, ctx, dy, need_dx):
        n = self._n_half
        if self.return_state:
            d = split_grads(dy, 1 + 2 * n)
            d0 = self._zero_masked(ctx, d[0]) if d[0] is not None else None
            dyf, dyb = self._split(ctx, d0) if d0 is not None else (None, None)
            dxf, gf = self.forward_layer.backward(ctx.f, [dyf, *d[1:1 + n]], need_dx)
            dxb, gb = self.backward_layer.backward(ctx.b, [dyb, *d[1 + n:]], need_dx)
        else:
            dyf, dyb = self._split(ctx, self._zero_masked(ctx, dy))
            dxf, gf = self.forward_layer.backward(ctx.f, dyf, need_dx)
            dxb, gb = self.backward_layer.backward(ctx.b, dyb, need_dx)
        if not need_dx:
            dx = None
        elif ctx.multi_in:     # halves return [dx, dh0(, dc0)]: sum dx, states in input order
            dx = [_C.binary("add", dxf[0], dxb[0])] + list(dxf[1:]) + list(dxb[1:])
        else:
            dx = _C.binary("add", dxf, dxb)
        return dx, (list(gf) + list(gb) if self._trainable else [])

    def _split(self, ctx, dy):
        axis = len(dy.shape) - 1
        if self.merge_mode == "concat":
            dyf, dyb = _C.slice_axis(dy, axis, 0, self.units), _C.slice_axis(dy, axis, self.units, 2 * self.units)
        elif self.merge_mode == "mul":
            dyf, dyb = _C.binary("mul", dy, ctx.yb), _C.binary("mul", dy, ctx.yf)
        elif self.merge_mode == "ave":
            dyf = dyb = _C.scale(dy, 0.5)
        else:
            dyf = dyb = dy
        return dyf, dyb

    def get_config(self):
        from . import serialize
        cls, cfg = self._layer_config
        return {**super().get_config(), "layer": {"class_name": cls.__name__, "config": cfg},
                "merge_mode": self.merge_mode, "backward_layer": serialize(self.backward_layer)}

    @classmethod
    def from_config(cls, config):
        from . import deserialize
        config = dict(config)
        layer = deserialize(config.pop("layer"))
        back = config.pop("backward_layer", None)
        if back is not None:
            back = deserialize(back)
        return super().from_config({**config, "layer": layer, "backward_layer": back})
