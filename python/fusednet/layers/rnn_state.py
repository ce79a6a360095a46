"""State plumbing of the recurrent layers: ``return_state`` inside models and ``stateful=True``.

return_state in a model
    A recurrent layer called on KerasTensors with ``return_state=True`` records one node whose
    value is the list ``[output, h]`` / ``[output, h, c]`` (Bidirectional: ``[output, forward
    states..., backward states...]``, Keras's order), and one
    :class:`~fusednet.models.multi_output.OutputSelect` node per entry, exactly as a
    multi-output sub-model does. The compiled plan then runs the layer once per call; the
    selects hand their gradients back as a list with one entry filled, the plan adds the lists,
    and the layer's ``backward`` receives the whole list (None where no gradient arrived) and
    runs the native backward through time once: ``dh_T``/``dc_T`` from the state outputs,
    ``dh0``/``dc0`` for initial states given as extra inputs.

stateful
    The layer keeps the final states of each batch as Arrays on the device the layer runs on
    (never copied to the host) and starts the next batch from them. They are not weights: not
    trainable, not in ``get_weights`` and not saved (Keras 3 does not track them either). The
    batch size is fixed by the build shape (``Input(batch_size=...)``, ``batch_input_shape``) or
    else by the first batch; another batch size raises ValueError naming the layer and both
    sizes (Keras). Gradients stop at the carried state (truncated back-propagation through time,
    as Keras: the state is a constant input of the next batch).
"""
from .. import _C
from ..tensor import Function, Tensor, _state
from .base import Context, KerasTensor, unique_name

__all__ = ["StatefulMixin", "symbolic_multi_call", "eager_multi_call"]


class StatefulMixin:
    """``stateful`` support shared by SimpleRNN / LSTM / GRU (``_n_states`` state Arrays of
    shape [batch, units])."""

    def _init_stateful(self, stateful, batch_input_shape):
        self.stateful = bool(stateful)
        self.states = None                # list of Arrays once a stateful layer ran
        self._expected_batch_size = None
        if batch_input_shape is not None:
            self._batch_input_shape = tuple(batch_input_shape)
            if self.stateful and batch_input_shape[0] is not None:
                self._expected_batch_size = int(batch_input_shape[0])

    def _fix_batch(self, shape):
        """Build hook: a static batch axis fixes a stateful layer's batch size."""
        if self.stateful and shape and shape[0] is not None and self._expected_batch_size is None:
            self._expected_batch_size = int(shape[0])

    def _carried_states(self, x):
        """The states a stateful layer starts this batch from (zeros on the first batch)."""
        b = int(x.shape[0])
        exp = self._expected_batch_size
        if exp is not None and b != exp:
            raise ValueError(f"{type(self).__name__} '{self.name}': the layer is stateful, so the batch size of the "
                             f"input must be the batch size of its states: expected batch size {exp}, received "
                             f"input with shape {tuple(x.shape)} (batch size {b}). Use a fixed batch size that "
                             f"divides the data, or reset_states() after changing it")
        self._expected_batch_size = b
        if self.states is None:
            self.states = [_C.zeros([b, self.units], device=x.device) for _ in range(self._n_states)]
        elif self.states[0].device != x.device:     # the model moved (compile(device=...)): follow it
            self.states = [s.to(x.device) for s in self.states]
        return list(self.states)

    def _keep_states(self, h, c):
        # copies (B x units each, on the layer's device): the returned h may be a graph output
        # that later steps hold on to; the carried state must not alias it
        self.states = [h.copy()] + ([c.copy()] if c is not None else [])

    def reset_states(self, states=None):
        """Set the carried states to zeros (or to ``states``: one array [batch, units] per
        state). Alias of :meth:`reset_state` (Keras 2 name).

        Args:
            states: optional list of arrays (NumPy, Arrays or Tensors), h (and c for LSTM).

        Raises:
            AttributeError: the layer is not stateful (Keras). ValueError: wrong count or shapes.

        Example:
            >>> lstm = LSTM(8, stateful=True); y = lstm(np.zeros((2, 5, 3), np.float32))
            >>> lstm.reset_states()
        """
        if not self.stateful:
            raise AttributeError(f"{type(self).__name__} '{self.name}': layer must be stateful to reset its states")
        if states is None:
            if self.states is not None:
                self.states = [_C.zeros(list(s.shape), device=s.device) for s in self.states]
            return
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        if len(states) != self._n_states:
            raise ValueError(f"{type(self).__name__} '{self.name}': reset_states expects {self._n_states} state "
                             f"array(s), got {len(states)}")
        import numpy as np
        arrs = []
        dev = self.kernel.data.device if self.kernel is not None else "cpu"
        for s in states:
            a = s.data if isinstance(s, Tensor) else s
            if not isinstance(a, _C.Array):
                a = _C.asarray(np.ascontiguousarray(a, np.float32), device=dev)
            b = self._expected_batch_size
            if len(a.shape) != 2 or a.shape[1] != self.units or (b is not None and a.shape[0] != b):
                raise ValueError(f"{type(self).__name__} '{self.name}': reset_states: each state must have shape "
                                 f"({b if b is not None else 'batch'}, {self.units}), got {tuple(a.shape)}")
            arrs.append(a)
        self._expected_batch_size = int(arrs[0].shape[0])
        self.states = arrs

    def reset_state(self, states=None):
        """Keras 3 name of :meth:`reset_states` (same arguments)."""
        self.reset_states(states)


class _Part(Function):
    """Tape node for entry ``part`` of a multi-output layer call. The layer's backward is linear
    in the output gradients, so each entry runs it with its own gradient alone (others None)
    and the tape adds the results for the inputs and weights."""

    __slots__ = ("layer", "ctx", "part", "count", "n_in", "need_dx")

    def backward(self, g):
        grads = [None] * self.count
        grads[self.part] = g
        dx, wgrads = self.layer.backward(self.ctx, grads, self.need_dx)
        if dx is None:
            dx = [None] * self.n_in
        elif not isinstance(dx, list):
            dx = [dx]
        return tuple(dx) + tuple(wgrads)


def eager_multi_call(layer, inputs, training, mask=None):
    """Run ``layer.forward`` (which returns a list of Arrays) on Tensors: a list of Tensors,
    each a tape node whose gradient reaches the inputs and weights.

    Args:
        layer: a layer whose ``forward`` returns a list and whose ``backward`` takes one.
        inputs: a Tensor or a list of Tensors. training: bool. mask: the input mask (layers/masks.py)
            or None.

    Returns:
        list of Tensors.

    Example:
        >>> out, fh, bh = eager_multi_call(bi_gru, x_tensor, False)
    """
    multi = isinstance(inputs, (list, tuple))
    xs = list(inputs) if multi else [inputs]
    ctx = Context()
    if mask is not None:                  # the input mask, for forward (layers/masks.py)
        from .masks import context_mask
        ctx.input_mask = context_mask(mask)
    arrays = [x.data for x in xs]
    parts = layer.forward(ctx, arrays if multi else arrays[0], bool(training))
    rec = [*xs, *layer.trainable_weights]
    grad = _state.enabled and any(t.requires_grad for t in rec)
    out = []
    for k, arr in enumerate(parts):
        if not grad:
            out.append(Tensor._wrap(arr))
            continue
        fn = _Part()
        fn.layer, fn.ctx, fn.part, fn.count, fn.n_in = layer, ctx, k, len(parts), len(xs)
        fn.need_dx = any(x.requires_grad for x in xs)
        out.append(Tensor._from_op(arr, fn, rec))
    return out


def symbolic_multi_call(layer, inputs, shapes, mask=None):
    """Record a multi-output call of ``layer`` on KerasTensor(s): one node for the layer (its
    value is the list of outputs) and one OutputSelect per output.

    Args:
        layer: the (built) layer. inputs: KerasTensor or list of them.
        shapes: the output shapes (batch axis included).
        mask: an explicit ``mask=`` KerasTensor (the node's last input, flagged), or None.

    Returns:
        list of KerasTensors, one per output.

    Example:
        >>> out, h, c = symbolic_multi_call(lstm, x, [(None, 8), (None, 8), (None, 8)])
    """
    from ..models.multi_output import OutputSelect
    ins = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)
    packed = KerasTensor((None,), layer=layer, inputs=ins + ((mask,) if mask is not None else ()), name=layer.name)
    packed.mask_input = mask is not None
    outs = []
    for i, s in enumerate(shapes):
        sel = OutputSelect(i, len(shapes), name=unique_name(f"{layer.name}_output_{i}"))
        outs.append(KerasTensor(s, layer=sel, inputs=(packed,), name=layer.name))
    return layer._record_call(list(ins) if len(ins) > 1 else ins[0], outs)


def with_initial_state(inputs, initial_state):
    """A recurrent call's inputs: ``x`` alone, or ``[x, states...]`` when ``initial_state`` is
    given (one state or a list)."""
    if initial_state is None:
        return inputs
    states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
    return [inputs, *states]


def split_grads(dy, count):
    """A multi-output backward's gradient as a list of ``count`` entries (None where none)."""
    if isinstance(dy, list):
        return list(dy) + [None] * (count - len(dy))
    return [dy] + [None] * (count - 1)
