"""Converters: Conv2D, DepthwiseConv2D, SeparableConv2D, 2-D pooling, global pooling and
BatchNormalization.

ONNX Conv/Pool are channels-first; fusednet is channels-last. These converters take their input
through ``ctx.to_nchw`` and return through ``ctx.from_nchw``, so a run of conv/pool/BN layers
carries one Transpose at each end and none between (see docs/DECISIONS.md, "ONNX export").
Kernels: HWIO -> OIHW; depthwise (kh, kw, cin, mult) -> (cin*mult, 1, kh, kw) with group=cin.
"""
import numpy as np

from ... import layers as L
from ._registry import register_converter
from .core import activation

__all__ = []


def _pad_attrs(layer):
    return {"auto_pad": "SAME_UPPER"} if layer.padding == "same" else {"pads": [0, 0, 0, 0]}


def _bn_affine(bn):
    """(scale, shift) float64 of inference BatchNormalization: y = x * scale + shift."""
    var = bn.moving_variance.numpy().astype(np.float64)
    scale = 1.0 / np.sqrt(var + bn.epsilon)
    if bn.gamma is not None:
        scale = scale * bn.gamma.numpy()
    shift = -bn.moving_mean.numpy().astype(np.float64) * scale
    if bn.beta is not None:
        shift = shift + bn.beta.numpy()
    return scale, shift


def _conv(ctx, layer, x, w_oihw, b, group=1):
    """Conv (+ folded BN) + activation; w_oihw/b float64 or float32 arrays (b may be None)."""
    bn = ctx.fold_bn
    if bn is not None:
        scale, shift = _bn_affine(bn)
        w_oihw = w_oihw.astype(np.float64) * scale.reshape(-1, 1, 1, 1)
        b = (np.zeros(len(scale)) if b is None else b.astype(np.float64)) * scale + shift
    ins = [ctx.to_nchw(x, 4), ctx.initializer(w_oihw.astype(np.float32), f"{layer.name}/kernel")]
    if b is not None:
        ins.append(ctx.initializer(np.asarray(b, np.float32), f"{layer.name}/bias"))
    y, = ctx.node("Conv", ins, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                  dilations=list(layer.dilation_rate), group=group, **_pad_attrs(layer))
    return [ctx.from_nchw(activation(ctx, y, layer._kind), 4)]


def _bias(layer):
    return layer.bias.numpy() if layer.bias is not None else None


@register_converter(L.Conv2D)
def _conv2d(ctx, layer, inputs):
    return _conv(ctx, layer, inputs[0], layer.kernel.numpy().transpose(3, 2, 0, 1), _bias(layer))


@register_converter(L.DepthwiseConv2D)
def _depthwise(ctx, layer, inputs):
    k = layer.kernel.numpy()
    kh, kw, cin, mult = k.shape
    return _conv(ctx, layer, inputs[0], k.transpose(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw),
                 _bias(layer), group=cin)


@register_converter(L.MaxPooling2D)
def _maxpool(ctx, layer, inputs):
    y, = ctx.node("MaxPool", [ctx.to_nchw(inputs[0], 4)], kernel_shape=list(layer.pool_size),
                  strides=list(layer.strides), **_pad_attrs(layer))
    return [ctx.from_nchw(y, 4)]


@register_converter(L.AveragePooling2D)
def _avgpool(ctx, layer, inputs):       # count_include_pad=0: Keras averages over the real cells
    y, = ctx.node("AveragePool", [ctx.to_nchw(inputs[0], 4)], kernel_shape=list(layer.pool_size),
                  strides=list(layer.strides), count_include_pad=0, **_pad_attrs(layer))
    return [ctx.from_nchw(y, 4)]


def global_pool(op, rank):
    """Converter for a Global*Pooling layer on rank-``rank`` input (ONNX pools to [N, C, 1...])."""
    def conv(ctx, layer, inputs):
        y, = ctx.node(op, [ctx.to_nchw(inputs[0], rank)])
        if layer.keepdims:
            return [ctx.from_nchw(y, rank)]
        return ctx.node("Flatten", [y], axis=1)
    return conv


register_converter(L.GlobalAveragePooling2D)(global_pool("GlobalAveragePool", 4))
register_converter(L.GlobalMaxPooling2D)(global_pool("GlobalMaxPool", 4))


@register_converter(L.BatchNormalization)
def _batchnorm(ctx, layer, inputs):
    """Not folded (no conv before it): one per-channel Mul + Add on the channels-last value; on a
    channels-first twin (after a conv with an activation) the same in NCHW, avoiding a transpose."""
    scale, shift = _bn_affine(layer)
    x = inputs[0]
    twin = ctx.nchw_twin(x)
    if twin is not None:
        twin, rank = twin
        cshape = (-1,) + (1,) * (rank - 2)
        s = ctx.initializer(scale.reshape(cshape).astype(np.float32), f"{layer.name}/scale")
        t = ctx.initializer(shift.reshape(cshape).astype(np.float32), f"{layer.name}/shift")
        y, = ctx.node("Add", [ctx.node("Mul", [twin, s])[0], t])
        return [ctx.from_nchw(y, rank)]
    s = ctx.initializer(scale.astype(np.float32), f"{layer.name}/scale")
    t = ctx.initializer(shift.astype(np.float32), f"{layer.name}/shift")
    return ctx.node("Add", [ctx.node("Mul", [x, s])[0], t])


@register_converter(L.ZeroPadding2D)
def _zeropad(ctx, layer, inputs):
    (t, b), (l, r) = layer.padding
    twin = ctx.nchw_twin(inputs[0])
    if twin is not None and twin[1] == 4:    # stay channels-first between convs (MobileNet, ResNet stems)
        y, = ctx.node("Pad", [twin[0], ctx.const_i64([0, 0, t, l, 0, 0, b, r], "pads")], mode="constant")
        return [ctx.from_nchw(y, 4)]
    return ctx.node("Pad", [inputs[0], ctx.const_i64([0, t, l, 0, 0, b, r, 0], "pads")], mode="constant")


@register_converter(L.Cropping2D)
def _crop(ctx, layer, inputs):
    (t, b), (l, r) = layer.cropping
    big = np.iinfo(np.int64).max
    starts, ends = ctx.const_i64([t, l], "starts"), ctx.const_i64([-b if b else big, -r if r else big], "ends")
    return ctx.node("Slice", [inputs[0], starts, ends, ctx.const_i64([1, 2], "axes")])
