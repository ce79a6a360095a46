"""MobileNet v1 (Howard et al., 2017) with Keras's layer names and weight layout: a 3x3 stride-2
convolution then 13 depthwise-separable blocks (3x3 depthwise → BN → ReLU6 → 1x1 pointwise → BN →
ReLU6); stride-2 blocks pad (0, 1) bottom/right and use a "valid" depthwise convolution, as Keras.
The top is a 1x1 convolution ``conv_preds`` on the pooled features (not a Dense)."""
from .. import layers
from ..models import Model
from .imagenet_utils import (decode_predictions, load_weights_file, obtain_input_shape,
                             family_preprocess, resolve_weights)

__all__ = ["MobileNet", "preprocess_input", "decode_predictions"]

# (pointwise filters, stride) of blocks 1..13
_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
           (512, 1), (1024, 2), (1024, 1)]
_ALPHA_TEXT = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}


def _conv_block(x, filters, alpha, strides):
    x = layers.Conv2D(int(filters * alpha), 3, padding="same", use_bias=False, strides=strides, name="conv1")(x)
    x = layers.BatchNormalization(axis=-1, name="conv1_bn")(x)
    return layers.ReLU(6.0, name="conv1_relu")(x)


def _depthwise_conv_block(x, filters, alpha, depth_multiplier, strides, block_id):
    if strides != 1:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = layers.DepthwiseConv2D(3, padding="same" if strides == 1 else "valid", depth_multiplier=depth_multiplier,
                               strides=strides, use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = layers.BatchNormalization(axis=-1, name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(int(filters * alpha), 1, padding="same", use_bias=False, name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(axis=-1, name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True, weights="imagenet",
              input_tensor=None, pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """MobileNet v1 (Keras ``keras.applications.MobileNet``), channels last.

    Args:
        input_shape: ``(H, W, 3)``, at least 32×32 (default 224×224×3).
        alpha: width multiplier (channels ``int(filters * alpha)``).
        depth_multiplier: depthwise channel multiplier (1 for ImageNet weights).
        dropout: dropout rate before the classifier.
        include_top: end with pooling, dropout, the 1x1 ``conv_preds`` classifier and
            ``predictions`` activation.
        weights: None, ``"imagenet"`` (Keras's ``mobilenet_<alpha>_<rows>_tf[_no_top].h5`` from the
            Keras cache; nothing is downloaded) or a path to Keras weights.
        input_tensor: optional KerasTensor to build on.
        pooling: without the top: None, ``"avg"`` or ``"max"``.
        classes: classifier width.
        classifier_activation: default ``"softmax"``.
        name: model name (default ``"mobilenet_<alpha>_<rows>"``).

    Shape:
        ``[N, H, W, 3]`` preprocessed by :func:`preprocess_input` ("tf" mode) → ``[N, classes]``
        with the top, else ``[N, H/32, W/32, 1024·alpha]`` (or pooled ``[N, 1024·alpha]``).

    Example:
        >>> m = fusednet.applications.MobileNet(input_shape=(64, 64, 3), alpha=0.25, weights=None, classes=10)
    """
    who = "MobileNet"
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{who}: pooling must be None, 'avg' or 'max', got {pooling!r}")
    if weights == "imagenet":
        if include_top and classes != 1000:
            raise ValueError(f"{who}: ImageNet weights with include_top=True need classes=1000, got {classes}")
        if depth_multiplier != 1:
            raise ValueError(f"{who}: ImageNet weights need depth_multiplier=1, got {depth_multiplier}")
        if alpha not in _ALPHA_TEXT:
            raise ValueError(f"{who}: ImageNet weights exist for alpha in (0.25, 0.5, 0.75, 1.0), got {alpha}")
    default = 224
    if input_shape is not None and len(input_shape) == 3 and input_shape[0] == input_shape[1] \
            and input_shape[0] in (128, 160, 192, 224):
        default = input_shape[0]
    if input_tensor is not None:
        img_input = input_tensor
    else:
        img_input = layers.Input(shape=obtain_input_shape(input_shape, default, 32, include_top, weights, who))
    rows = img_input.shape[1]
    wrows = rows if rows == img_input.shape[2] and rows in (128, 160, 192, 224) else 224
    path = None
    if weights is not None:
        text = _ALPHA_TEXT.get(alpha, "2_5")
        path = resolve_weights(weights, f"mobilenet_{text}_{wrows}_tf{'' if include_top else '_no_top'}.h5", who)
    x = _conv_block(img_input, 32, alpha, 2)
    for block_id, (filters, stride) in enumerate(_BLOCKS, start=1):
        x = _depthwise_conv_block(x, filters, alpha, depth_multiplier, stride, block_id)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, 1, padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape_2")(x)
        x = layers.Activation(classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    model = Model(img_input, x, name=name or f"mobilenet_{float(alpha):0.2f}_{rows}")
    if path is not None:
        load_weights_file(model, path)
    return model


preprocess_input = family_preprocess("tf", "MobileNet", "mobilenet")
