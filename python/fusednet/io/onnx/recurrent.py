"""Converters: Embedding (Gather), SimpleRNN / LSTM / GRU (the ONNX RNN / LSTM / GRU ops) and
Bidirectional.

fusednet runs batch-first [B, T, F]; the ONNX ops are time-major [T, B, F] (onnxruntime does not
implement layout=1), so each call transposes in and out. Gate order: Keras LSTM kernels are
i, f, c, o, ONNX's are i, o, f, c; GRU z, r, h is the same in both, and ``reset_after=True`` is
``linear_before_reset=1`` with the input / recurrent biases in ONNX's Wb / Rb halves.
``go_backwards``: the sequence is reversed before a forward op (Keras then returns outputs in
processing order, which is what the forward op yields); Bidirectional's backward half is flipped
back to input time order before the merge.
"""
import numpy as np

from ... import layers as L
from ._registry import register_converter

__all__ = []

_ACTS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}
_INT64_MIN = np.iinfo(np.int64).min
_FLOAT, _INT32, _INT64 = 1, 6, 7          # onnx.TensorProto element types


@register_converter(L.Embedding)
def _embedding(ctx, layer, inputs):
    y = ctx.node("Gather", [ctx.initializer(layer.embeddings.numpy(), f"{layer.name}/embeddings"), inputs[0]],
                 axis=0)
    if layer.mask_zero:         # the mask channel: 1.0 where the id is not 0
        zero = ctx.initializer(np.zeros((), np.int64), "zero_i64")
        ids = ctx.node("Cast", [inputs[0]], to=_INT64)[0]
        ctx.out_mask = ctx.not_equal_f32(ids, zero)
    return y


def _act(layer, what):
    a = getattr(layer, what)
    if a not in _ACTS:
        raise ValueError(f"export_onnx: {type(layer).__name__} '{layer.name}': {what}={a!r} has no ONNX "
                         f"recurrent activation (supported: {', '.join(_ACTS)})")
    return _ACTS[a]


def _weights(layer):
    """(op, W [1, G*u, F], R [1, G*u, u], B [1, 2*G*u], attrs) in ONNX layout."""
    u = layer.units
    k, r = layer.kernel.numpy(), layer.recurrent_kernel.numpy()
    g = layer._gates
    b = layer.bias.numpy() if layer.bias is not None else np.zeros(g * u, np.float32)
    wb, rb = (b[0], b[1]) if b.ndim == 2 else (b, np.zeros_like(b))
    if isinstance(layer, L.LSTM):
        order = [0, 3, 1, 2]         # Keras i, f, c, o -> ONNX i, o, f, c

        def reorder(m):
            parts = np.split(m, 4, axis=-1)
            return np.concatenate([parts[j] for j in order], axis=-1)
        k, r, wb, rb = reorder(k), reorder(r), reorder(wb), reorder(rb)
        op, attrs = "LSTM", {"activations": [_act(layer, "recurrent_activation"), _act(layer, "activation"),
                                             _act(layer, "activation")]}
    elif isinstance(layer, L.GRU):
        op, attrs = "GRU", {"activations": [_act(layer, "recurrent_activation"), _act(layer, "activation")],
                            "linear_before_reset": int(layer.reset_after)}
    else:
        op, attrs = "RNN", {"activations": [_act(layer, "activation")]}
    return op, k.T[None], r.T[None], np.concatenate([wb, rb])[None], attrs


def _reverse_bf(ctx, x):               # batch-first [B, T, ...]: flip axis 1
    return ctx.node("Slice", [x, ctx.const_i64([-1], "starts"), ctx.const_i64([_INT64_MIN], "ends"),
                              ctx.const_i64([1], "axes"), ctx.const_i64([-1], "steps")])[0]


def _gather_steps(ctx, x, idx):
    """x [B, T, F] gathered along time by idx [B, T] (int64)."""
    shape = ctx.node("Shape", [x])[0]
    full = ctx.node("Expand", [ctx.node("Unsqueeze", [idx, ctx.const_i64([2], "axes")])[0], shape])[0]
    return ctx.node("GatherElements", [x, full], axis=1)[0]


def _compact(ctx, x, m):
    """Keras masking, exactly: masked steps are skipped (the state carries over). The valid steps
    of each row move to the front in time order (TopK of t + T·(1 - m), ascending) and the op runs
    with ``sequence_lens`` = the valid count, so its final state is Keras's. Returns (x
    compacted [B, T, F], lens int32 [B])."""
    T = ctx.node("Gather", [ctx.node("Shape", [x])[0], ctx.const_i64([1], "idx1")], axis=0)[0]    # [1]
    steps = ctx.node("Cast", [ctx.node("Range", [ctx.initializer(np.zeros((), np.int64), "zero_i64"),
                                                 ctx.node("Squeeze", [T, ctx.const_i64([0], "axes")])[0],
                                                 ctx.initializer(np.ones((), np.int64), "one_i64")])[0]],
                     to=_FLOAT)[0]                                                     # [T] 0..T-1
    Tf = ctx.node("Cast", [T], to=_FLOAT)[0]
    one = ctx.initializer(np.float32(1.0), "one_f")
    key = ctx.node("Add", [steps, ctx.node("Mul", [ctx.node("Sub", [one, m])[0], Tf])[0]])[0]      # [B, T]
    _, idx = ctx.node("TopK", [key, T], 2, axis=1, largest=0, sorted=1)
    lens = ctx.node("Cast", [ctx.reduce("ReduceSum", m, [1], keepdims=0)[0]], to=_INT32)[0]
    return _gather_steps(ctx, x, idx), lens


def _spread(ctx, yc, m, zero_padded):
    """Sequence output of the compacted run back on the input's steps: at step t the output after
    the last valid step <= t (Gather at cumsum(m) - 1; Keras repeats it over masked steps), zeros
    before the first one, or zeros on every masked step with ``zero_padded`` (Bidirectional)."""
    one = ctx.initializer(np.float32(1.0), "one_f")
    c = ctx.node("CumSum", [m, ctx.const_i64([1], "axis")])[0]
    pos = ctx.node("Cast", [ctx.node("Max", [ctx.node("Sub", [c, one])[0],
                                             ctx.initializer(np.float32(0.0), "zero_f")])[0]], to=_INT64)[0]
    y = _gather_steps(ctx, yc, pos)
    keep = m if zero_padded else ctx.node("Cast", [ctx.node("Greater", [c, ctx.initializer(
        np.float32(0.5), "half_f")])[0]], to=_FLOAT)[0]
    return ctx.node("Mul", [y, ctx.node("Unsqueeze", [keep, ctx.const_i64([2], "axes")])[0]])[0]


def rnn(ctx, layer, x, reverse_outputs=False, mask=None, zero_padded=False, states=()):
    """One recurrent layer on batch-first ``x``: ``mask`` its [B, T] float mask value or None,
    ``states`` initial h (, c) values [B, u]. Returns (output, h, c or None), batch-first."""
    if getattr(layer, "stateful", False):   # the graph would silently start every call from zeros
        raise ValueError(f"export_onnx: {type(layer).__name__} '{layer.name}' is stateful (its carried state "
                         f"cannot be exported); export a stateful=False copy with the same weights")
    op, W, R, B, attrs = _weights(layer)
    n = layer.name
    if layer.go_backwards:                  # Keras reverses the steps (and their mask)
        x = _reverse_bf(ctx, x)
        mask = _reverse_bf(ctx, mask) if mask is not None else None
    lens = ""
    if mask is not None:
        x, lens = _compact(ctx, x, mask)
    xt = ctx.node("Transpose", [x], perm=[1, 0, 2])[0]
    init = [ctx.node("Unsqueeze", [st, ctx.const_i64([0], "axes")])[0] for st in states]
    ins = [xt, ctx.initializer(W, f"{n}/W"), ctx.initializer(R, f"{n}/R"), ctx.initializer(B, f"{n}/B"),
           lens, *init]
    while ins[-1] == "":
        ins.pop()
    outs = ctx.node(op, ins, 3 if op == "LSTM" else 2, hidden_size=int(layer.units), **attrs)
    h = ctx.node("Squeeze", [outs[1], ctx.const_i64([0], "axes")])[0]                # [B, u]
    c = ctx.node("Squeeze", [outs[2], ctx.const_i64([0], "axes")])[0] if op == "LSTM" else None
    if not layer.return_sequences:
        return h, h, c
    y = ctx.node("Transpose", [ctx.node("Squeeze", [outs[0], ctx.const_i64([1], "axes")])[0]],
                 perm=[1, 0, 2])[0]                                                   # [B, T, u]
    if mask is not None:
        y = _spread(ctx, y, mask, zero_padded)
    return (_reverse_bf(ctx, y) if reverse_outputs else y), h, c


def _in_mask(ctx):
    return ctx.in_masks[0] if ctx.in_masks else None


def _rnn_converter(ctx, layer, inputs):
    m = _in_mask(ctx)
    ctx.out_mask = m if (m is not None and layer.return_sequences) else None
    if layer.return_state and m is not None:
        ctx.out_mask = [ctx.out_mask] + [None] * layer._n_states
    y, h, c = rnn(ctx, layer, inputs[0], layer.go_backwards and layer._y_time_order, mask=m,
                  states=inputs[1:])
    if not layer.return_state:
        return [y]
    return [[y, h] + ([c] if c is not None else [])]       # one list value: OutputSelect picks


for _cls in (L.SimpleRNN, L.LSTM, L.GRU):
    register_converter(_cls)(_rnn_converter)


@register_converter(L.Bidirectional)
def _bidirectional(ctx, layer, inputs):
    m = _in_mask(ctx)
    ctx.out_mask = m if (m is not None and layer.forward_layer.return_sequences) else None
    if getattr(layer, "return_state", False) or len(inputs) > 1:
        raise ValueError(f"export_onnx: Bidirectional '{layer.name}' with states (return_state / "
                         f"initial_state) is not exported")
    f = rnn(ctx, layer.forward_layer, inputs[0], mask=m, zero_padded=True)[0]
    b = rnn(ctx, layer.backward_layer, inputs[0], reverse_outputs=layer.backward_layer._y_time_order, mask=m,
            zero_padded=True)[0]
    mode = layer.merge_mode
    if mode == "concat":
        return ctx.node("Concat", [f, b], axis=-1)
    if mode == "sum":
        return ctx.node("Add", [f, b])
    if mode == "mul":
        return ctx.node("Mul", [f, b])
    if mode == "ave":
        return ctx.node("Mul", [ctx.node("Add", [f, b])[0], ctx.initializer(np.float32(0.5), "half")])
    raise ValueError(f"export_onnx: Bidirectional '{layer.name}': merge_mode {mode!r} is not supported")


@register_converter(L.Masking)
def _masking(ctx, layer, inputs):
    # Keras: a step is real when any feature differs from mask_value; masked steps are zeroed
    x = inputs[0]
    v = ctx.initializer(np.float32(layer.mask_value), f"{layer.name}/mask_value")
    real = ctx.not_equal_f32(x, v)
    m = ctx.reduce("ReduceMax", real, [-1], keepdims=0)[0]
    prev = _in_mask(ctx)
    ctx.out_mask = m if prev is None else ctx.node("Mul", [m, prev])[0]
    return ctx.node("Mul", [x, ctx.node("Unsqueeze", [m, ctx.const_i64([2], "axes")])[0]])
