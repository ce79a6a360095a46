"""ONNX QDQ converters of the quantized layers, registered with ``fusednet.io.onnx``'s registry
(imported by :mod:`fusednet.quantization`; exporting still needs the optional ``onnx`` package).

Graph of a quantized layer (QDQ format: quantization is explicit, the runtime may fuse
DequantizeLinear -> MatMul/Conv into integer kernels):

* weights: int8 initializer ``w_q`` -> ``DequantizeLinear(w_q, w_scale, 0, axis=output channel)``
  (per-axis, symmetric; conv kernels as OIHW, axis 0; Dense kernels [K, N], axis 1);
* activations, static mode: ``QuantizeLinear(x, in_scale, in_zero_point:uint8)`` ->
  ``DequantizeLinear`` with the calibrated pair;
* activations, dynamic mode: ONNX's ``DynamicQuantizeLinear`` is per tensor (one scale for the
  whole batch), fusednet's is per sample, so the per-sample rule is written out in float ops:
  ``lo = min(ReduceMin(x), 0)``, ``hi = max(ReduceMax(x), 0)`` over each sample's axes,
  ``s = (hi - lo) / 255`` (1 where 0), ``zp = Clip(Round(-lo / s), 0, 255)``,
  ``x' = (Clip(Round(x / s) + zp, 0, 255) - zp) * s`` — the values the int8 kernel sees;
* then MatMul / Conv, bias Add, and the activation as the float converters emit it.
onnxruntime matches ``predict`` to within a few quantization steps (float vs int32 sums; a tie
rounded the other way). NaN inputs are not reproduced (fusednet quantizes NaN to the zero point).
"""
import numpy as np

from ..io.onnx._registry import register_converter
from ..io.onnx.core import activation
from .layers import QuantizedConv2D, QuantizedDense

__all__ = []


def _qdq_input(ctx, layer, x, axes):
    """The activation as the int8 kernel sees it (static QDQ or the dynamic per-sample rule)."""
    if layer.in_scale is not None:
        s = ctx.initializer(np.float32(layer.in_scale), f"{layer.name}/in_scale")
        z = ctx.initializer(np.uint8(layer.in_zero_point), f"{layer.name}/in_zero_point")
        q, = ctx.node("QuantizeLinear", [x, s, z])
        return ctx.node("DequantizeLinear", [q, s, z])[0]
    f = lambda v, hint: ctx.initializer(np.float32(v), hint)  # noqa: E731
    zero, one, c255 = f(0, "zero"), f(1, "one"), f(255, "q255")
    lo, = ctx.node("Min", [ctx.reduce("ReduceMin", x, axes)[0], zero])
    hi, = ctx.node("Max", [ctx.reduce("ReduceMax", x, axes)[0], zero])
    s, = ctx.node("Div", [ctx.node("Sub", [hi, lo])[0], c255])
    s, = ctx.node("Where", [ctx.node("Greater", [s, zero])[0], s, one])
    zp, = ctx.node("Clip", [ctx.node("Round", [ctx.node("Div", [ctx.node("Neg", [lo])[0], s])[0]])[0], zero, c255])
    q, = ctx.node("Clip", [ctx.node("Add", [ctx.node("Round", [ctx.node("Div", [x, s])[0]])[0], zp])[0], zero, c255])
    return ctx.node("Mul", [ctx.node("Sub", [q, zp])[0], s])[0]


def _dq_weights(ctx, layer, w_q, axis):
    wq = ctx.initializer(np.ascontiguousarray(w_q, np.int8), f"{layer.name}/kernel_q")
    ws = ctx.initializer(layer.w_scale, f"{layer.name}/kernel_scale")
    wz = ctx.initializer(np.zeros(len(layer.w_scale), np.int8), f"{layer.name}/kernel_zero_point")
    return ctx.node("DequantizeLinear", [wq, ws, wz], axis=axis)[0]


def _bias_act(ctx, layer, y):
    if layer.bias is not None:
        y, = ctx.node("Add", [y, ctx.initializer(layer.bias, f"{layer.name}/bias")])
    return activation(ctx, y, layer._kind)


@register_converter(QuantizedDense)
def _qdense(ctx, layer, inputs):
    x = _qdq_input(ctx, layer, inputs[0], [-1])      # one scale per row (per sample for 2-D input)
    y, = ctx.node("MatMul", [x, _dq_weights(ctx, layer, layer.w_q, 1)])
    return [_bias_act(ctx, layer, y)]


@register_converter(QuantizedConv2D)
def _qconv2d(ctx, layer, inputs):
    x = _qdq_input(ctx, layer, ctx.to_nchw(inputs[0], 4), [1, 2, 3])   # per sample: C, H, W
    w = _dq_weights(ctx, layer, layer.w_q.transpose(3, 2, 0, 1), 0)     # HWIO -> OIHW, per O
    pads = {"auto_pad": "SAME_UPPER"} if layer.padding == "same" else {"pads": [0, 0, 0, 0]}
    ins = [x, w] + ([ctx.initializer(layer.bias, f"{layer.name}/bias")] if layer.bias is not None else [])
    y, = ctx.node("Conv", ins, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                  dilations=list(layer.dilation_rate), **pads)
    return [ctx.from_nchw(activation(ctx, y, layer._kind), 4)]
