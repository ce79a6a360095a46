"""VGG16 / VGG19 (Simonyan & Zisserman, 2014) with Keras's layer names, order and weight layout,
so Keras's ``vgg16_weights_tf_dim_ordering_tf_kernels[_notop].h5`` (and any Keras 3
``.weights.h5`` of the same definition) load by name (:func:`fusednet.io.keras_h5.load_keras_weights`).
Five blocks of 3x3 "same" ReLU convolutions, each closed by a 2x2 max pool; the top is Flatten →
fc1 (4096) → fc2 (4096) → predictions."""
from .. import layers
from ..models import Model
from .imagenet_utils import (decode_predictions, load_weights_file, obtain_input_shape,
                             family_preprocess, resolve_weights)

__all__ = ["VGG16", "VGG19", "preprocess_input", "decode_predictions"]

# convolutions per block (filters 64, 128, 256, 512, 512)
_DEPTHS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
_FILTERS = (64, 128, 256, 512, 512)


def _vgg(model_name, include_top, weights, input_tensor, input_shape, pooling, classes,
         classifier_activation, name):
    who = model_name.upper()
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{who}: pooling must be None, 'avg' or 'max', got {pooling!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"{who}: ImageNet weights with include_top=True need classes=1000, got {classes}")
    top = "" if include_top else "_notop"
    path = resolve_weights(weights, f"{model_name}_weights_tf_dim_ordering_tf_kernels{top}.h5", who)
    if input_tensor is not None:
        img_input = input_tensor
    else:
        img_input = layers.Input(shape=obtain_input_shape(input_shape, 224, 32, include_top, weights, who))
    if include_top and any(s is None for s in img_input.shape[1:3]):
        raise ValueError(f"{who}: include_top=True needs a fixed input size (Flatten before fc1), got "
                         f"input shape {tuple(img_input.shape[1:])}")
    x = img_input
    for b, (n, f) in enumerate(zip(_DEPTHS[model_name], _FILTERS), start=1):
        for i in range(1, n + 1):
            x = layers.Conv2D(f, 3, activation="relu", padding="same", name=f"block{b}_conv{i}")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    model = Model(img_input, x, name=name or model_name)
    if path is not None:
        load_weights_file(model, path)
    return model


_DOC = """{who} (Keras ``keras.applications.{who}``), channels last.

    Args:
        include_top: end with Flatten and the fc1 / fc2 / ``predictions`` Dense layers.
        weights: None (random init), ``"imagenet"`` (Keras's file from the Keras cache; nothing
            is downloaded) or a path to Keras weights (``.h5`` / ``.weights.h5`` / ``.keras``).
        input_tensor: optional KerasTensor to build the model on.
        input_shape: ``(H, W, 3)``, at least 32×32 (default 224×224×3 with the top).
        pooling: without the top: None (4-D feature map), ``"avg"`` or ``"max"``.
        classes: classifier width (1000 for ImageNet weights).
        classifier_activation: activation of the classifier (default ``"softmax"``).
        name: model name (default ``"{lower}"``).

    Shape:
        ``[N, H, W, 3]`` preprocessed by :func:`preprocess_input` ("caffe" mode) → ``[N, classes]``
        with the top, else ``[N, H/32, W/32, 512]`` (or ``[N, 512]`` pooled).

    Example:
        >>> base = fusednet.applications.{who}(include_top=False, weights=None,
        ...                                     input_shape=(64, 64, 3), pooling="avg")
    """


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
          classes=1000, classifier_activation="softmax", name="vgg16"):
    return _vgg("vgg16", include_top, weights, input_tensor, input_shape, pooling, classes,
                classifier_activation, name)


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
          classes=1000, classifier_activation="softmax", name="vgg19"):
    return _vgg("vgg19", include_top, weights, input_tensor, input_shape, pooling, classes,
                classifier_activation, name)


for _f in (VGG16, VGG19):
    _f.__doc__ = _DOC.format(who=_f.__name__, lower=_f.__name__.lower())


preprocess_input = family_preprocess("caffe", "VGG", "vgg")
