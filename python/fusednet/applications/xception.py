"""Xception (Chollet, 2017) with Keras's layer names, order and weight layout, so Keras's
``xception_weights_tf_dim_ordering_tf_kernels[_notop].h5`` load by name: an entry flow (two 3x3
convolutions, then three blocks of two separable convolutions + a stride-2 max pool, each with a
1x1 stride-2 projection shortcut), eight middle blocks of three ReLU → separable conv → BN units
on an identity shortcut, an exit block, and two final separable convolutions. Batch norms use
Keras's defaults (epsilon 1e-3); the unnamed shortcut convolutions / BNs get Keras's auto names."""
from .. import layers
from ..models import Model
from .imagenet_utils import (decode_predictions, load_weights_file, obtain_input_shape,
                             family_preprocess, resolve_weights)

__all__ = ["Xception", "preprocess_input", "decode_predictions"]


def _sep_bn(x, filters, name, relu_first=True):
    """(ReLU →) SeparableConv2D 3x3 "same", no bias → BatchNormalization, Keras's names."""
    if relu_first:
        x = layers.Activation("relu", name=f"{name}_act")(x)
    x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(axis=-1, name=f"{name}_bn")(x)


def _shortcut(x, filters):
    r = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x)
    return layers.BatchNormalization(axis=-1)(r)


def _down_block(x, f1, f2, block, relu_first):
    """Two separable units and a 3x3 stride-2 max pool, plus a projection shortcut."""
    r = _shortcut(x, f2)
    x = _sep_bn(x, f1, f"block{block}_sepconv1", relu_first)    # block 2 starts after block1's ReLU
    x = _sep_bn(x, f2, f"block{block}_sepconv2")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"block{block}_pool")(x)
    return layers.add([x, r])


def Xception(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
             classes=1000, classifier_activation="softmax", name="xception"):
    """Xception (Keras ``keras.applications.Xception``), channels last.

    Args:
        include_top: end with ``avg_pool`` and the ``predictions`` Dense layer.
        weights: None (random init), ``"imagenet"`` (Keras's file from the Keras cache; nothing
            is downloaded) or a path to Keras weights (``.h5`` / ``.weights.h5`` / ``.keras``).
        input_tensor: optional KerasTensor to build the model on.
        input_shape: ``(H, W, 3)``, at least 71x71 (default 299x299 with the top).
        pooling: without the top: None (4-D features), "avg" or "max".
        classes: outputs of the top (1000 with ImageNet weights).
        classifier_activation: activation of ``predictions`` (default "softmax").
        name: the model's name.

    Shape:
        ``[batch, H, W, 3]`` → ``[batch, classes]`` (top), ``[batch, h, w, 2048]`` or
        ``[batch, 2048]`` (pooled).

    Example:
        >>> base = fusednet.applications.Xception(include_top=False, weights=None, input_shape=(96, 96, 3))
    """
    who = "Xception"
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{who}: pooling must be None, 'avg' or 'max', got {pooling!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"{who}: ImageNet weights with include_top=True need classes=1000, got {classes}")
    top = "" if include_top else "_notop"
    path = resolve_weights(weights, f"xception_weights_tf_dim_ordering_tf_kernels{top}.h5", who)
    img_input = input_tensor if input_tensor is not None else \
        layers.Input(shape=obtain_input_shape(input_shape, 299, 71, include_top, weights, who))
    x = layers.Conv2D(32, 3, strides=2, use_bias=False, name="block1_conv1")(img_input)
    x = layers.BatchNormalization(axis=-1, name="block1_conv1_bn")(x)
    x = layers.Activation("relu", name="block1_conv1_act")(x)
    x = layers.Conv2D(64, 3, use_bias=False, name="block1_conv2")(x)
    x = layers.BatchNormalization(axis=-1, name="block1_conv2_bn")(x)
    x = layers.Activation("relu", name="block1_conv2_act")(x)
    x = _down_block(x, 128, 128, 2, relu_first=False)
    x = _down_block(x, 256, 256, 3, relu_first=True)
    x = _down_block(x, 728, 728, 4, relu_first=True)
    for b in range(5, 13):                  # middle flow: identity shortcuts
        r = x
        for k in (1, 2, 3):
            x = _sep_bn(x, 728, f"block{b}_sepconv{k}")
        x = layers.add([x, r])
    x = _down_block(x, 728, 1024, 13, relu_first=True)
    x = _sep_bn(x, 1536, "block14_sepconv1", relu_first=False)
    x = layers.Activation("relu", name="block14_sepconv1_act")(x)
    x = _sep_bn(x, 2048, "block14_sepconv2", relu_first=False)
    x = layers.Activation("relu", name="block14_sepconv2_act")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    model = Model(img_input, x, name=name)
    if path is not None:
        load_weights_file(model, path)
    return model


preprocess_input = family_preprocess("tf", "Xception", "xception")
