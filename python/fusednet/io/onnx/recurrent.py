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


@register_converter(L.Embedding)
def _embedding(ctx, layer, inputs):
    if layer.mask_zero:
        raise ValueError(f"export_onnx: Embedding '{layer.name}' has mask_zero=True; masks are not exported")
    return ctx.node("Gather", [ctx.initializer(layer.embeddings.numpy(), f"{layer.name}/embeddings"), inputs[0]],
                    axis=0)


def _act(layer, what):
    a = getattr(layer, what)
    if a not in _ACTS:
        raise ValueError(f"export_onnx: {type(layer).__name__} '{layer.name}': {what}={a!r} has no ONNX "
                         f"recurrent activation (supported: {', '.join(_ACTS)})")
    return _ACTS[a]


def _reverse_time(ctx, x):           # x time-major: flip axis 0
    return ctx.node("Slice", [x, ctx.const_i64([-1], "starts"), ctx.const_i64([_INT64_MIN], "ends"),
                              ctx.const_i64([0], "axes"), ctx.const_i64([-1], "steps")])[0]


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


def rnn(ctx, layer, x, reverse_outputs=False):
    """One recurrent layer on batch-first ``x``; returns the batch-first output name."""
    if getattr(layer, "return_state", False):
        raise ValueError(f"export_onnx: {type(layer).__name__} '{layer.name}' has return_state=True (not exported)")
    if getattr(layer, "stateful", False):   # the graph would silently start every call from zeros
        raise ValueError(f"export_onnx: {type(layer).__name__} '{layer.name}' is stateful (its carried state "
                         f"cannot be exported); export a stateful=False copy with the same weights")
    op, W, R, B, attrs = _weights(layer)
    xt = ctx.node("Transpose", [x], perm=[1, 0, 2])[0]
    if layer.go_backwards:
        xt = _reverse_time(ctx, xt)
    n = layer.name
    ins = [xt, ctx.initializer(W, f"{n}/W"), ctx.initializer(R, f"{n}/R"), ctx.initializer(B, f"{n}/B")]
    y, yh = ctx.node(op, ins, 3 if op == "LSTM" else 2, hidden_size=int(layer.units), **attrs)[:2]
    if not layer.return_sequences:
        return ctx.node("Squeeze", [yh, ctx.const_i64([0], "axes")])[0]          # [B, u]
    y = ctx.node("Squeeze", [y, ctx.const_i64([1], "axes")])[0]                  # [T, B, u]
    if reverse_outputs:
        y = _reverse_time(ctx, y)
    return ctx.node("Transpose", [y], perm=[1, 0, 2])[0]


for _cls in (L.SimpleRNN, L.LSTM, L.GRU):
    register_converter(_cls)(lambda ctx, layer, inputs: [rnn(ctx, layer, inputs[0],
                                                              layer.go_backwards and layer._y_time_order)])


@register_converter(L.Bidirectional)
def _bidirectional(ctx, layer, inputs):
    f = rnn(ctx, layer.forward_layer, inputs[0])
    b = rnn(ctx, layer.backward_layer, inputs[0], reverse_outputs=layer.backward_layer._y_time_order)
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
    # Masks are not exported (as Embedding(mask_zero=True) above): the ONNX RNN / attention ops
    # downstream would silently run unmasked, so the export refuses instead.
    raise ValueError(f"export_onnx: Masking '{layer.name}': masks are not exported")
