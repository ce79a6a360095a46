"""Converters: LayerNormalization (the opset-17 LayerNormalization op) and Normalization
(constant mean / std folded into one Sub + Div, or Mul + Add when inverted)."""
import numpy as np

from ... import layers as L
from ._registry import register_converter

__all__ = []


@register_converter(L.LayerNormalization)
def _layernorm(ctx, layer, inputs):
    d = layer._dim
    g = layer.gamma.numpy() if layer.gamma is not None else np.ones(d, np.float32)
    b = layer.beta.numpy() if layer.beta is not None else np.zeros(d, np.float32)
    return ctx.node("LayerNormalization", [inputs[0], ctx.initializer(g, f"{layer.name}/gamma"),
                                           ctx.initializer(b, f"{layer.name}/beta")],
                    axis=int(layer.axis), epsilon=float(layer.epsilon))


@register_converter(L.Normalization)
def _normalization(ctx, layer, inputs):
    if layer._fixed is None:
        m = layer.mean.numpy().reshape(layer._bshape)
        v = layer.variance.numpy().reshape(layer._bshape)
    else:
        m, v = layer._fixed
        if m.size == int(np.prod(layer._bshape)):
            m, v = m.reshape(layer._bshape), v.reshape(layer._bshape)
    std = np.maximum(np.sqrt(v.astype(np.float64)), 1e-7).astype(np.float32)
    mi, si = ctx.initializer(m.astype(np.float32), f"{layer.name}/mean"), ctx.initializer(std, f"{layer.name}/std")
    if layer.invert:
        return ctx.node("Add", [ctx.node("Mul", [inputs[0], si])[0], mi])
    return ctx.node("Div", [ctx.node("Sub", [inputs[0], mi])[0], si])
