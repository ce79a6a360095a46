"""ResNet50 / ResNet101 / ResNet152 (He et al., 2015, v1) with Keras's layer names, order and
weight layout, so Keras's ``resnet50_weights_tf_dim_ordering_tf_kernels[_notop].h5`` and Keras 3
``.weights.h5`` files load by name (:func:`fusednet.io.keras_h5.load_keras_weights`)."""
from .. import layers
from ..models import Model
from .imagenet_utils import (decode_predictions, load_weights_file, obtain_input_shape, family_preprocess,
                             resolve_weights)

__all__ = ["ResNet50", "ResNet101", "ResNet152", "preprocess_input", "decode_predictions"]

_BN_EPS = 1.001e-5
_FILES = {"resnet50": ("resnet50_weights_tf_dim_ordering_tf_kernels.h5",
                       "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
          "resnet101": ("resnet101_weights_tf_dim_ordering_tf_kernels.h5",
                        "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5"),
          "resnet152": ("resnet152_weights_tf_dim_ordering_tf_kernels.h5",
                        "resnet152_weights_tf_dim_ordering_tf_kernels_notop.h5")}


def _block(x, filters, stride=1, conv_shortcut=True, name=None):
    """Bottleneck block: 1x1 (stride) → 3x3 → 1x1 (4·filters), plus the (projected) input."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=name + "_0_conv")(x)
        shortcut = layers.BatchNormalization(axis=3, epsilon=_BN_EPS, name=name + "_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=name + "_1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_BN_EPS, name=name + "_1_bn")(x)
    x = layers.Activation("relu", name=name + "_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=name + "_2_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_BN_EPS, name=name + "_2_bn")(x)
    x = layers.Activation("relu", name=name + "_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=name + "_3_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_BN_EPS, name=name + "_3_bn")(x)
    x = layers.Add(name=name + "_add")([shortcut, x])
    return layers.Activation("relu", name=name + "_out")(x)


def _stack(x, filters, blocks, stride1=2, name=None):
    x = _block(x, filters, stride=stride1, name=name + "_block1")
    for i in range(2, blocks + 1):
        x = _block(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def _resnet(model_name, depths, include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name):
    who = model_name.replace("resnet", "ResNet")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{who}: pooling must be None, 'avg' or 'max', got {pooling!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"{who}: ImageNet weights with include_top=True need classes=1000, got {classes}")
    path = resolve_weights(weights, _FILES[model_name][0 if include_top else 1], who)
    if input_tensor is not None:
        img_input = input_tensor
    else:
        img_input = layers.Input(shape=obtain_input_shape(input_shape, 224, 32, include_top, weights, who))
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_BN_EPS, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = _stack(x, 64, depths[0], stride1=1, name="conv2")
    x = _stack(x, 128, depths[1], name="conv3")
    x = _stack(x, 256, depths[2], name="conv4")
    x = _stack(x, 512, depths[3], name="conv5")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    model = Model(img_input, x, name=name or model_name)
    if path is not None:
        load_weights_file(model, path)
    return model


_DOC = """{who} (Keras ``keras.applications.{who}``), channels last.

    Args:
        include_top: end with global average pooling and the ``predictions`` Dense classifier.
        weights: None (random init), ``"imagenet"`` (Keras's file from the Keras cache; nothing
            is downloaded) or a path to Keras weights (``.h5`` / ``.weights.h5`` / ``.keras``).
        input_tensor: optional KerasTensor to build the model on.
        input_shape: ``(H, W, 3)``, at least 32×32 (default 224×224×3 with the top).
        pooling: without the top: None (4-D feature map), ``"avg"`` or ``"max"``.
        classes: classifier width (1000 for ImageNet weights).
        classifier_activation: activation of the classifier (default ``"softmax"``).
        name: model name (default ``"{lower}"``).

    Shape:
        ``[N, H, W, 3]`` preprocessed by :func:`preprocess_input` → ``[N, classes]`` with the
        top, else ``[N, H/32, W/32, 2048]`` (or ``[N, 2048]`` pooled).

    Example:
        >>> base = fusednet.applications.{who}(include_top=False, weights=None,
        ...                                     input_shape=(64, 64, 3))
        >>> x = fusednet.layers.Flatten()(base.output)
    """


def ResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
             classes=1000, classifier_activation="softmax", name="resnet50"):
    return _resnet("resnet50", (3, 4, 6, 3), include_top, weights, input_tensor, input_shape, pooling,
                   classes, classifier_activation, name)


def ResNet101(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax", name="resnet101"):
    return _resnet("resnet101", (3, 4, 23, 3), include_top, weights, input_tensor, input_shape, pooling,
                   classes, classifier_activation, name)


def ResNet152(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax", name="resnet152"):
    return _resnet("resnet152", (3, 8, 36, 3), include_top, weights, input_tensor, input_shape, pooling,
                   classes, classifier_activation, name)


for _f in (ResNet50, ResNet101, ResNet152):
    _f.__doc__ = _DOC.format(who=_f.__name__, lower=_f.__name__.lower())


preprocess_input = family_preprocess("caffe", "ResNet", "resnet")
