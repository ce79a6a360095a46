"""MobileNetV2 (Sandler et al., 2018) with Keras's layer names and weight layout: inverted
residual blocks (1x1 expand → 3x3 depthwise → 1x1 linear projection, ReLU6), channels last."""
from .. import layers
from ..models import Model
from .imagenet_utils import (decode_predictions, correct_pad, load_weights_file, obtain_input_shape,
                             family_preprocess, resolve_weights)

__all__ = ["MobileNetV2", "preprocess_input", "decode_predictions"]

_BN = dict(axis=3, epsilon=1e-3, momentum=0.999)
# (filters, stride, expansion) for blocks 0..16
_BLOCKS = [(16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
           (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6),
           (320, 1, 6)]


def _make_divisible(v, divisor=8, min_value=None):
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _relu6(name):
    return layers.Activation("relu6", name=name)


def _inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    in_channels = inputs.shape[-1]
    pointwise_filters = _make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = layers.Conv2D(expansion * in_channels, 1, padding="same", use_bias=False, name=prefix + "expand")(x)
        x = layers.BatchNormalization(name=prefix + "expand_BN", **_BN)(x)
        x = _relu6(prefix + "expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = layers.ZeroPadding2D(padding=correct_pad(tuple(x.shape[1:3]), 3), name=prefix + "pad")(x)
    x = layers.DepthwiseConv2D(3, strides=stride, use_bias=False, padding="same" if stride == 1 else "valid",
                               name=prefix + "depthwise")(x)
    x = layers.BatchNormalization(name=prefix + "depthwise_BN", **_BN)(x)
    x = _relu6(prefix + "depthwise_relu")(x)
    x = layers.Conv2D(pointwise_filters, 1, padding="same", use_bias=False, name=prefix + "project")(x)
    x = layers.BatchNormalization(name=prefix + "project_BN", **_BN)(x)
    if in_channels == pointwise_filters and stride == 1:
        return layers.Add(name=prefix + "add")([inputs, x])
    return x


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet", input_tensor=None,
                pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """MobileNetV2 (Keras ``keras.applications.MobileNetV2``), channels last.

    Args:
        input_shape: ``(H, W, 3)``, at least 32×32 (default 224×224×3).
        alpha: width multiplier (channels scaled and rounded to multiples of 8).
        include_top: end with global average pooling and the ``predictions`` classifier.
        weights: None, ``"imagenet"`` (Keras's file from the Keras cache; nothing is downloaded)
            or a path to Keras weights.
        input_tensor: optional KerasTensor to build on.
        pooling: without the top: None, ``"avg"`` or ``"max"``.
        classes: classifier width.
        classifier_activation: default ``"softmax"``.
        name: model name (default ``"mobilenetv2_<alpha>_<rows>"``).

    Shape:
        ``[N, H, W, 3]`` preprocessed by :func:`preprocess_input` ("tf" mode) → ``[N, classes]``
        with the top, else ``[N, H/32, W/32, 1280]`` (or pooled ``[N, 1280]``).

    Example:
        >>> m = fusednet.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None, classes=10)
    """
    who = "MobileNetV2"
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{who}: pooling must be None, 'avg' or 'max', got {pooling!r}")
    if input_tensor is not None:
        img_input = input_tensor
    else:
        img_input = layers.Input(shape=obtain_input_shape(input_shape, 224, 32, include_top, weights, who))
    rows = img_input.shape[1]
    top = "" if include_top else "_no_top"
    file_name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{top}.h5"
    path = resolve_weights(weights, file_name, who)
    x = layers.Conv2D(_make_divisible(32 * alpha, 8), 3, strides=(2, 2), padding="same", use_bias=False,
                      name="Conv1")(img_input)
    x = layers.BatchNormalization(name="bn_Conv1", **_BN)(x)
    x = _relu6("Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = _inverted_res_block(x, expansion, stride, alpha, filters, block_id)
    last = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last, 1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(name="Conv_1_bn", **_BN)(x)
    x = _relu6("out_relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    model = Model(img_input, x, name=name or f"mobilenetv2_{float(alpha):0.2f}_{rows}")
    if path is not None:
        load_weights_file(model, path)
    return model


preprocess_input = family_preprocess("tf", "MobileNetV2", "mobilenet_v2")
