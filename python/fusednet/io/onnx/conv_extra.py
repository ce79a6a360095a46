"""Converters: Conv1D (valid / same / causal), 1-D pooling and global pooling, SeparableConv2D and
Conv1DTranspose / Conv2DTranspose.

Same layout rule as :mod:`.conv`: channels-first inside, ``to_nchw`` / ``from_nchw`` at the edges.
Kernels: Conv1D (k, cin, f) -> (f, cin, k); transposed convs (..., f, cin) -> (cin, f, ...).
Transposed convs use explicit pads and output_padding computed from Keras's geometry
(:func:`fusednet.layers.conv_transpose.conv_transpose_geometry`), so the output length matches
Keras's rule for 'same' / 'valid' and any ``output_padding``.
"""
import numpy as np

from ... import layers as L
from ...layers.conv_transpose import conv_transpose_geometry
from ._registry import register_converter
from .conv import global_pool
from .core import activation

__all__ = []


def _finish(ctx, layer, y, rank):
    return [ctx.from_nchw(activation(ctx, y, layer._kind), rank)]


def _bias_in(ctx, layer, ins):
    if layer.bias is not None:
        ins.append(ctx.initializer(layer.bias.numpy(), f"{layer.name}/bias"))
    return ins


@register_converter(L.Conv1D)
def _conv1d(ctx, layer, inputs):
    k, d = layer.kernel_size[0], layer.dilation_rate[0]
    pads = {"valid": {"pads": [0, 0]}, "same": {"auto_pad": "SAME_UPPER"},
            "causal": {"pads": [(k - 1) * d, 0]}}[layer.padding]
    ins = [ctx.to_nchw(inputs[0], 3), ctx.initializer(layer.kernel.numpy().transpose(2, 1, 0), f"{layer.name}/kernel")]
    y, = ctx.node("Conv", _bias_in(ctx, layer, ins), kernel_shape=[k], strides=list(layer.strides),
                  dilations=[d], **pads)
    return _finish(ctx, layer, y, 3)


def _pool1d(op, **extra):
    def conv(ctx, layer, inputs):
        pads = {"auto_pad": "SAME_UPPER"} if layer.padding == "same" else {"pads": [0, 0]}
        y, = ctx.node(op, [ctx.to_nchw(inputs[0], 3)], kernel_shape=list(layer.pool_size),
                      strides=list(layer.strides), **pads, **extra)
        return [ctx.from_nchw(y, 3)]
    return conv


register_converter(L.MaxPooling1D)(_pool1d("MaxPool"))
register_converter(L.AveragePooling1D)(_pool1d("AveragePool", count_include_pad=0))


_gap1d = global_pool("GlobalAveragePool", 3)


@register_converter(L.GlobalAveragePooling1D)
def _gap1d_masked(ctx, layer, inputs):
    m = ctx.in_masks[0] if ctx.in_masks else None
    if m is None:
        return _gap1d(ctx, layer, inputs)
    # the mean over the unmasked steps (a row with none gives 0, as fusednet's kernel)
    m3 = ctx.node("Unsqueeze", [m, ctx.const_i64([2], "axes")])[0]
    keep = 1 if layer.keepdims else 0
    s = ctx.reduce("ReduceSum", ctx.node("Mul", [inputs[0], m3])[0], [1], keepdims=keep)[0]
    n = ctx.reduce("ReduceSum", m3, [1], keepdims=keep)[0]
    n = ctx.node("Max", [n, ctx.initializer(np.float32(1.0), "one_f")])[0]
    ctx.out_mask = None
    return ctx.node("Div", [s, n])
register_converter(L.GlobalMaxPooling1D)(global_pool("GlobalMaxPool", 3))


@register_converter(L.SeparableConv2D)
def _separable(ctx, layer, inputs):
    dk = layer.depthwise_kernel.numpy()
    kh, kw, cin, mult = dk.shape
    pads = {"auto_pad": "SAME_UPPER"} if layer.padding == "same" else {"pads": [0, 0, 0, 0]}
    x = ctx.to_nchw(inputs[0], 4)
    dw = ctx.initializer(dk.transpose(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw), f"{layer.name}/depthwise_kernel")
    y, = ctx.node("Conv", [x, dw], kernel_shape=[kh, kw], strides=list(layer.strides),
                  dilations=list(layer.dilation_rate), group=cin, **pads)
    pw = ctx.initializer(layer.pointwise_kernel.numpy().transpose(3, 2, 0, 1), f"{layer.name}/pointwise_kernel")
    y, = ctx.node("Conv", _bias_in(ctx, layer, [y, pw]), kernel_shape=[1, 1])
    return _finish(ctx, layer, y, 4)


@register_converter(L.Conv2DTranspose)      # also Conv1DTranspose (a subclass)
def _conv_transpose(ctx, layer, inputs):
    one_d = isinstance(layer, L.Conv1DTranspose)
    shape = layer.input_shape
    if shape is None or any(s is None for s in shape[1:-1]):
        raise ValueError(f"export_onnx: {type(layer).__name__} '{layer.name}' needs known spatial input sizes, "
                         f"got {shape}")
    spatial = list(shape[1:-1])
    ks, ss, ds = list(layer.kernel_size), list(layer.strides), list(layer.dilation_rate)
    ops = list(layer.output_padding) if layer.output_padding is not None else [None] * len(ks)
    begin, end, outpad = [], [], []
    for n, k, s, d, op in zip(spatial, ks, ss, ds, ops):
        length, pad = conv_transpose_geometry(n, k, s, d, layer.padding, op)
        keff = (k - 1) * d + 1
        crop = pad                            # what Keras crops from the start of the full output
        extra = length - ((n - 1) * s + keff - crop)
        begin.append(crop)
        end.append(max(-extra, 0))
        outpad.append(max(extra, 0))
    w = layer.kernel.numpy()
    w = w.transpose(2, 1, 0) if one_d else w.transpose(3, 2, 0, 1)             # (cin, f, k...)
    rank = len(ks) + 2
    ins = [ctx.to_nchw(inputs[0], rank), ctx.initializer(w, f"{layer.name}/kernel")]
    y, = ctx.node("ConvTranspose", _bias_in(ctx, layer, ins), kernel_shape=ks, strides=ss, dilations=ds,
                  pads=begin + end, output_padding=outpad)
    return _finish(ctx, layer, y, rank)
