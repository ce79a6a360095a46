"""Converters: MultiHeadAttention (MatMul / Softmax / Transpose; causal mask from a Trilu of the
runtime sequence lengths), PositionEmbedding and TokenAndPositionEmbedding (the position table is
sliced to the runtime length with Shape ops, so a variable-length input still exports).

Masked scores are replaced by -1e9 (``Where``), not -inf: after the max-subtraction in Softmax
exp(-1e9) is exactly 0 in float32, and a fully masked row stays finite.
"""
import math

import numpy as np

from ... import layers as L
from ._registry import register_converter

__all__ = []


def _time_len(ctx, x):
    return ctx.node("Shape", [x], start=1, end=2)[0]          # [T] as int64 1-D


def _positions(ctx, layer, table, x):
    """Rows 0..T-1 of the position table, T = axis 1 of x."""
    pos = ctx.initializer(table, f"{layer.name}/position_embeddings")
    return ctx.node("Slice", [pos, ctx.const_i64([0], "starts"), _time_len(ctx, x), ctx.const_i64([0], "axes")])[0]


@register_converter(L.PositionEmbedding)
def _position_embedding(ctx, layer, inputs):
    p = _positions(ctx, layer, layer.position_embeddings.numpy(), inputs[0])
    return ctx.node("Expand", [p, ctx.node("Shape", [inputs[0]])[0]])


@register_converter(L.TokenAndPositionEmbedding)
def _token_and_position(ctx, layer, inputs):
    tok = ctx.initializer(layer.token_embeddings.numpy(), f"{layer.name}/token_embeddings")
    e = ctx.node("Gather", [tok, inputs[0]], axis=0)[0]
    return ctx.node("Add", [e, _positions(ctx, layer, layer.position_embeddings.numpy(), inputs[0])])


def _project(ctx, layer, x, w, b, hint):
    """x [B, T, din] @ w [din, H, k] (+ b [H, k]) -> [B, H, T, k]."""
    din, H, k = w.shape
    y = ctx.node("MatMul", [x, ctx.initializer(w.numpy().reshape(din, H * k), f"{layer.name}/{hint}/kernel")])[0]
    if b is not None:
        y = ctx.node("Add", [y, ctx.initializer(b.numpy().reshape(H * k), f"{layer.name}/{hint}/bias")])[0]
    y = ctx.node("Reshape", [y, ctx.const_i64([0, 0, H, k], "shape")])[0]
    return ctx.node("Transpose", [y], perm=[0, 2, 1, 3])[0]


@register_converter(L.MultiHeadAttention)
def _mha(ctx, layer, inputs):
    has_key, has_mask, causal = layer._graph_cfg or (False, False, False)
    q_in, v_in = inputs[0], inputs[1]
    k_in = inputs[2] if has_key else v_in
    mask = inputs[2 + has_key] if has_mask else None
    (wq, bq), (wk, bk), (wv, bv) = layer._proj
    q = _project(ctx, layer, q_in, wq, bq, "query")
    k = _project(ctx, layer, k_in, wk, bk, "key")
    v = _project(ctx, layer, v_in, wv, bv, "value")
    kt = ctx.node("Transpose", [k], perm=[0, 1, 3, 2])[0]
    s = ctx.node("MatMul", [q, kt])[0]                                         # [B, H, Tq, Tk]
    s = ctx.node("Mul", [s, ctx.initializer(np.float32(1.0 / math.sqrt(layer.key_dim)), "scale")])[0]
    keep = None
    if mask is not None:                                                       # [B, Tq, Tk] (or [Tq, Tk])
        m = ctx.node("Cast", [mask], to=9)[0]                                  # bool
        keep = ctx.node("Unsqueeze", [m, ctx.const_i64([-3], "axes")])[0]      # broadcast over heads
    if causal:
        shape = ctx.node("Concat", [_time_len(ctx, q_in), _time_len(ctx, k_in)], axis=0)[0]
        from onnx import helper, TensorProto
        ones = ctx.node("ConstantOfShape", [shape], value=helper.make_tensor("one", TensorProto.BOOL, [1], [True]))[0]
        tri = ctx.node("Trilu", [ctx.node("Cast", [ones], to=7)[0]], upper=0)[0]
        tri = ctx.node("Cast", [tri], to=9)[0]
        keep = tri if keep is None else ctx.node("And", [keep, tri])[0]
    if keep is not None:
        s = ctx.node("Where", [keep, s, ctx.initializer(np.float32(-1e9), "masked")])[0]
    p = ctx.node("Softmax", [s], axis=-1)[0]
    o = ctx.node("MatMul", [p, v])[0]                                          # [B, H, Tq, vd]
    o = ctx.node("Transpose", [o], perm=[0, 2, 1, 3])[0]
    H, vd, dout = layer.output_kernel.shape
    o = ctx.node("Reshape", [o, ctx.const_i64([0, 0, H * vd], "shape")])[0]
    y = ctx.node("MatMul", [o, ctx.initializer(layer.output_kernel.numpy().reshape(H * vd, dout),
                                               f"{layer.name}/attention_output/kernel")])[0]
    if layer.output_bias is not None:
        y = ctx.node("Add", [y, ctx.initializer(layer.output_bias.numpy(), f"{layer.name}/attention_output/bias")])[0]
    return [y]
