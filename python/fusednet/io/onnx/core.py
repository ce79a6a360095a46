"""Converters: Dense, activations (functions and layers), Flatten/Reshape, inference identities,
Rescaling and the merge layers."""
import math

import numpy as np

from ... import layers as L
from ...layers import activation_layers as A
from ._registry import register_converter

__all__ = ["activation", "pointwise"]


def pointwise(ctx, inputs, build):
    """``build(names) -> name`` for an elementwise op: when every input has a channels-first twin
    of one rank (inside a conv region), build on the twins and stay channels-first, so
    Conv -> BN -> ReLU -> Add -> Conv carries no transposes."""
    twins = [ctx.nchw_twin(x) for x in inputs]
    if all(t is not None for t in twins) and len({t[1] for t in twins}) == 1:
        return [ctx.from_nchw(build([t[0] for t in twins]), twins[0][1])]
    return [build(list(inputs))]


def _mul_const(ctx, x, c, hint):
    return ctx.node("Mul", [x, ctx.initializer(np.asarray(c, np.float32), hint)])[0]


def activation(ctx, x, kind, alpha=None):
    """Emit activation ``kind`` (fusednet's canonical names, see :mod:`fusednet.activations`) on x."""
    from ...activations import default_alpha
    a = default_alpha(kind) if alpha is None else alpha
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus",
              "softsign": "Softsign", "exponential": "Exp", "selu": "Selu"}
    if kind == "linear":
        return x
    if kind in simple:
        return ctx.node(simple[kind], [x])[0]
    if kind == "softmax":
        return ctx.node("Softmax", [x], axis=-1)[0]
    if kind == "log_softmax":
        return ctx.node("LogSoftmax", [x], axis=-1)[0]
    if kind == "leaky_relu":
        return ctx.node("LeakyRelu", [x], alpha=float(a))[0]
    if kind == "elu":
        return ctx.node("Elu", [x], alpha=float(a))[0]
    if kind == "relu6":
        lo, hi = ctx.initializer(np.float32(0), "zero"), ctx.initializer(np.float32(6), "six")
        return ctx.node("Clip", [x, lo, hi])[0]
    if kind == "hard_sigmoid":          # Keras 3: relu6(x + 3) / 6
        return ctx.node("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)[0]
    if kind == "silu":
        return ctx.node("Mul", [x, ctx.node("Sigmoid", [x])[0]])[0]
    if kind == "mish":
        return ctx.node("Mul", [x, ctx.node("Tanh", [ctx.node("Softplus", [x])[0]])[0]])[0]
    if kind == "gelu":                  # exact: 0.5 x (1 + erf(x / sqrt 2)); Gelu op only from opset 20
        e = ctx.node("Erf", [_mul_const(ctx, x, 1.0 / math.sqrt(2.0), "inv_sqrt2")])[0]
        one = ctx.initializer(np.float32(1), "one")
        return _mul_const(ctx, ctx.node("Mul", [x, ctx.node("Add", [e, one])[0]])[0], 0.5, "half")
    if kind == "gelu_tanh":             # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        x3 = ctx.node("Mul", [x, ctx.node("Mul", [x, x])[0]])[0]
        inner = ctx.node("Add", [x, _mul_const(ctx, x3, 0.044715, "c")])[0]
        t = ctx.node("Tanh", [_mul_const(ctx, inner, math.sqrt(2.0 / math.pi), "k")])[0]
        one = ctx.initializer(np.float32(1), "one")
        return _mul_const(ctx, ctx.node("Mul", [x, ctx.node("Add", [t, one])[0]])[0], 0.5, "half")
    raise ValueError(f"export_onnx: activation {kind!r} has no ONNX converter")


@register_converter(L.Dense)
def _dense(ctx, layer, inputs):
    w = ctx.initializer(layer.kernel.numpy(), f"{layer.name}/kernel")
    y = ctx.node("MatMul", [inputs[0], w])[0]
    if layer.bias is not None:
        y = ctx.node("Add", [y, ctx.initializer(layer.bias.numpy(), f"{layer.name}/bias")])[0]
    return [activation(ctx, y, layer._kind)]


@register_converter(L.Activation)
def _activation(ctx, layer, inputs):
    if layer._kind in ("softmax", "log_softmax"):     # over the channels-last axis: not pointwise
        return [activation(ctx, inputs[0], layer._kind)]
    return pointwise(ctx, inputs, lambda xs: activation(ctx, xs[0], layer._kind))


@register_converter(A.ReLU)
def _relu(ctx, layer, inputs):
    return pointwise(ctx, inputs, lambda xs: _relu_on(ctx, layer, xs[0]))


def _relu_on(ctx, layer, x):
    slope, thr, mx = layer.negative_slope, layer.threshold, layer.max_value
    if thr == 0.0:
        y = ctx.node("LeakyRelu", [x], alpha=slope)[0] if slope else ctx.node("Relu", [x])[0]
    else:                               # x >= thr ? x : slope * (x - thr)
        t = ctx.initializer(np.float32(thr), "threshold")
        below = _mul_const(ctx, ctx.node("Sub", [x, t])[0], slope, "slope")
        y = ctx.node("Where", [ctx.node("GreaterOrEqual", [x, t])[0], x, below])[0]
    if mx is not None:
        y = ctx.node("Min", [y, ctx.initializer(np.float32(mx), "max_value")])[0]
    return y


@register_converter(A.LeakyReLU)
def _leaky(ctx, layer, inputs):
    return pointwise(ctx, inputs, lambda xs: ctx.node("LeakyRelu", xs, alpha=layer.negative_slope)[0])


@register_converter(A.ELU)
def _elu(ctx, layer, inputs):
    return pointwise(ctx, inputs, lambda xs: ctx.node("Elu", xs, alpha=layer.alpha)[0])


@register_converter(A.PReLU)
def _prelu(ctx, layer, inputs):
    return ctx.node("PRelu", [inputs[0], ctx.initializer(layer.alpha.numpy(), f"{layer.name}/alpha")])


@register_converter(A.Softmax)
def _softmax(ctx, layer, inputs):
    return ctx.node("Softmax", inputs, axis=layer.axis)


def _identity(ctx, layer, inputs):
    return [inputs[0]]


for _cls in (L.Dropout, L.SpatialDropout2D, L.GaussianNoise, L.GaussianDropout, L.Identity, L.RandomFlip,
             L.RandomRotation, L.RandomTranslation, L.RandomZoom, L.RandomContrast, L.RandomBrightness):
    register_converter(_cls)(_identity)


@register_converter(L.Flatten)
def _flatten(ctx, layer, inputs):       # NHWC order (Keras), so the value is channels-last here
    return ctx.node("Flatten", inputs, axis=1)


@register_converter(L.Reshape)
def _reshape(ctx, layer, inputs):
    return ctx.node("Reshape", [inputs[0], ctx.const_i64([0] + list(layer.target_shape), "shape")])


@register_converter(L.Rescaling)
def _rescaling(ctx, layer, inputs):
    y = _mul_const(ctx, inputs[0], np.asarray(layer.scale, np.float32), f"{layer.name}/scale")
    off = np.asarray(layer.offset, np.float32)
    if np.any(off != 0):
        y = ctx.node("Add", [y, ctx.initializer(off, f"{layer.name}/offset")])[0]
    return [y]


@register_converter(L.Lambda)
def _lambda(ctx, layer, inputs):
    raise ValueError(f"export_onnx: Lambda layer '{layer.name}' runs arbitrary Python and cannot be "
                     f"exported; replace it with built-in layers or register a converter for a custom layer")


# ---------------------------------------------------------------------------------------------- merges
def _merge(op):
    """Converter for a merge layer that is one variadic (or binary) ONNX op."""
    def conv(ctx, layer, inputs):
        return pointwise(ctx, inputs, lambda xs: ctx.node(op, xs)[0])
    return conv


for _cls, _op in ((L.Add, "Sum"), (L.Subtract, "Sub"), (L.Maximum, "Max"), (L.Minimum, "Min")):
    register_converter(_cls)(_merge(_op))


@register_converter(L.Multiply)
def _mul(ctx, layer, inputs):
    def build(xs):
        y = xs[0]
        for x in xs[1:]:
            y = ctx.node("Mul", [y, x])[0]
        return y
    return pointwise(ctx, inputs, build)


@register_converter(L.Average)
def _avg(ctx, layer, inputs):
    return pointwise(ctx, inputs, lambda xs: _mul_const(ctx, ctx.node("Sum", xs)[0], 1.0 / len(xs), "inv_n"))


@register_converter(L.Concatenate)
def _concat(ctx, layer, inputs):
    twins = [ctx.nchw_twin(x) for x in inputs]
    rank = twins[0][1] if twins[0] is not None else None
    ax = int(layer.axis)
    if rank is not None and all(t is not None and t[1] == rank for t in twins):
        ax = ax + rank if ax < 0 else ax        # channels-last axis -> channels-first axis
        cf = 1 if ax == rank - 1 else (0 if ax == 0 else ax + 1)
        y, = ctx.node("Concat", [t[0] for t in twins], axis=cf)
        return [ctx.from_nchw(y, rank)]
    return ctx.node("Concat", inputs, axis=ax)
