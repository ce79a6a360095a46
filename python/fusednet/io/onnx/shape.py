"""Converters: Permute, RepeatVector, ZeroPadding1D / Cropping1D, UpSampling1D / UpSampling2D, Resizing
(Resize), RandomCrop (its inference centre crop), Dot and TimeDistributed.

UpSampling 'nearest' is Resize(nearest, asymmetric, floor): pixel i of the output copies input
i // size (Keras's repeat). 'bilinear' is Resize(linear, half_pixel): tf.image.resize's
half-pixel centres, which Keras's UpSampling2D uses. TimeDistributed folds time into the batch
([B, T, ...] -> [B*T, ...]) with Shape-driven Reshapes, runs the inner layer's converter, and
unfolds again, so it works for any inner layer that has a converter.
"""
import numpy as np

from ... import layers as L
from ._registry import register_converter, get_converter

__all__ = []


@register_converter(L.Permute)
def _permute(ctx, layer, inputs):
    return ctx.node("Transpose", inputs, perm=[0] + [int(d) for d in layer.dims])


@register_converter(L.RepeatVector)
def _repeat(ctx, layer, inputs):
    x = ctx.node("Unsqueeze", [inputs[0], ctx.const_i64([1], "axes")])[0]            # [B, 1, F]
    return ctx.node("Expand", [x, ctx.const_i64([1, layer.n, 1], "shape")])


@register_converter(L.ZeroPadding1D)
def _zeropad1d(ctx, layer, inputs):
    left, right = layer.padding
    return ctx.node("Pad", [inputs[0], ctx.const_i64([0, left, 0, 0, right, 0], "pads")], mode="constant")


@register_converter(L.Cropping1D)
def _crop1d(ctx, layer, inputs):
    a, b = layer.cropping
    end = -b if b else np.iinfo(np.int64).max
    return ctx.node("Slice", [inputs[0], ctx.const_i64([a], "starts"), ctx.const_i64([end], "ends"),
                              ctx.const_i64([1], "axes")])


def _resize(ctx, x, scales, mode):
    attrs = ({"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
             if mode == "nearest" else {"mode": "linear", "coordinate_transformation_mode": "half_pixel"})
    return ctx.node("Resize", [x, "", ctx.initializer(np.asarray(scales, np.float32), "scales")], **attrs)[0]


@register_converter(L.UpSampling2D)
def _upsample2d(ctx, layer, inputs):
    sh, sw = layer.size
    y = _resize(ctx, ctx.to_nchw(inputs[0], 4), [1, 1, sh, sw], layer.interpolation)
    return [ctx.from_nchw(y, 4)]


@register_converter(L.UpSampling1D)
def _upsample1d(ctx, layer, inputs):
    y = _resize(ctx, ctx.to_nchw(inputs[0], 3), [1, 1, layer.size], "nearest")
    return [ctx.from_nchw(y, 3)]


@register_converter(L.Dot)
def _dot(ctx, layer, inputs):
    shapes = layer.input_shape
    if not (isinstance(shapes, (list, tuple)) and len(shapes) == 2 and isinstance(shapes[0], (list, tuple))):
        raise ValueError(f"export_onnx: Dot '{layer.name}': input shapes unknown ({shapes})")
    a0, a1 = layer._axes([tuple(s) for s in shapes])
    x, y = inputs
    if layer.normalize:
        x = ctx.node("LpNormalization", [x], axis=a0, p=2)[0]
        y = ctx.node("LpNormalization", [y], axis=a1, p=2)[0]
    if len(shapes[0]) == 2:
        return ctx.reduce("ReduceSum", ctx.node("Mul", [x, y])[0], [1], keepdims=1)
    if a0 == 1:
        x = ctx.node("Transpose", [x], perm=[0, 2, 1])[0]
    if a1 == 2:
        y = ctx.node("Transpose", [y], perm=[0, 2, 1])[0]
    return ctx.node("MatMul", [x, y])


@register_converter(L.TimeDistributed)
def _time_distributed(ctx, layer, inputs):
    inner = layer.layer
    fn = get_converter(inner)
    if fn is None:
        raise ValueError(f"export_onnx: no ONNX converter for layer '{inner.name}' ({type(inner).__name__}) "
                         f"inside TimeDistributed '{layer.name}'")
    x = inputs[0]
    lead = ctx.node("Shape", [x], start=0, end=2)[0]                                  # [B, T]
    rest = ctx.node("Shape", [x], start=2)[0]
    flat = ctx.node("Reshape", [x, ctx.node("Concat", [ctx.const_i64([-1], "minus1"), rest], axis=0)[0]])[0]
    y = fn(ctx, inner, [flat])
    y = y[0] if isinstance(y, (list, tuple)) else y
    tail = ctx.node("Shape", [y], start=1)[0]
    return ctx.node("Reshape", [y, ctx.node("Concat", [lead, tail], axis=0)[0]])


_RESIZE_ATTRS = {   # tf.image.resize / torch interpolate(align_corners=False, antialias=False)
    "bilinear": {"mode": "linear", "coordinate_transformation_mode": "half_pixel"},
    # floor((o + 0.5) * in/out) == round_prefer_ceil of the half-pixel coordinate
    "nearest": {"mode": "nearest", "coordinate_transformation_mode": "half_pixel",
                "nearest_mode": "round_prefer_ceil"},
}   # bicubic: onnxruntime 1.32 rejects this Resize(cubic) on 4-D NCHW input (ScalesValidation): refused


@register_converter(L.Resizing)
def _resizing(ctx, layer, inputs):
    x = inputs[0]
    if layer.interpolation not in _RESIZE_ATTRS:
        raise ValueError(f"export_onnx: Resizing '{layer.name}': interpolation {layer.interpolation!r} is not "
                         f"exported (supported: {', '.join(_RESIZE_ATTRS)})")
    if getattr(layer, "antialias", False) and layer.interpolation != "nearest":
        raise ValueError(f"export_onnx: Resizing '{layer.name}': antialias=True is not exported (ONNX Resize's "
                         f"antialias needs opset 18 and differs from the native filter)")
    if layer.crop_to_aspect_ratio:          # Keras's centred crop (same rule as the native kernel)
        shape = layer.input_shape
        if shape is None or len(shape) != 4 or shape[1] is None or shape[2] is None:
            raise ValueError(f"export_onnx: Resizing '{layer.name}' with crop_to_aspect_ratio needs a known "
                             f"input height and width, got {shape}")
        H, W, h, w = int(shape[1]), int(shape[2]), layer.height, layer.width
        ch = max(min(H, int(float(W * h) / float(w))), 1)
        cw = max(min(W, int(float(H * w) / float(h))), 1)
        t, l = int((H - ch) / 2), int((W - cw) / 2)
        x = ctx.node("Slice", [x, ctx.const_i64([t, l], "starts"), ctx.const_i64([t + ch, l + cw], "ends"),
                               ctx.const_i64([1, 2], "axes")])[0]
    xc = ctx.to_nchw(x, 4)
    sizes = ctx.node("Concat", [ctx.node("Shape", [xc], start=0, end=2)[0],
                                ctx.const_i64([layer.height, layer.width], "hw")], axis=0)[0]
    y, = ctx.node("Resize", [xc, "", "", sizes], **_RESIZE_ATTRS[layer.interpolation])
    return [ctx.from_nchw(y, 4)]


@register_converter(L.RandomCrop)
def _random_crop(ctx, layer, inputs):       # inference: the centred crop
    shape = layer.input_shape
    if shape is None or len(shape) != 4 or shape[1] is None or shape[2] is None:
        raise ValueError(f"export_onnx: RandomCrop '{layer.name}' needs a known input height and width, got {shape}")
    t, l = (int(shape[1]) - layer.height) // 2, (int(shape[2]) - layer.width) // 2
    return ctx.node("Slice", [inputs[0], ctx.const_i64([t, l], "starts"),
                              ctx.const_i64([t + layer.height, l + layer.width], "ends"), ctx.const_i64([1, 2], "axes")])
