"""ResNet18 / ResNet34 (He et al., 2015, basic blocks) laid out like torchvision's models, so a
torchvision state dict loads by name (``layer1.0.conv1.weight`` → layer ``layer1_0_conv1``; see
:func:`fusednet.io.torch_state.load_torch_state_dict`). Keras has no ResNet18/34; the arguments
follow ``keras.applications``. Padding is PyTorch's (symmetric): explicit ZeroPadding2D before
every strided convolution, so the outputs match torchvision's to float32 rounding."""
from .. import layers
from ..models import Model
from .imagenet_utils import load_weights_file, obtain_input_shape, family_preprocess, resolve_weights

__all__ = ["ResNet18", "ResNet34", "preprocess_input"]

_BN = dict(momentum=0.9, epsilon=1e-5)  # torch's momentum=0.1, eps=1e-5


def _conv3x3(x, filters, stride, name):
    if stride == 1:
        return layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
    x = layers.ZeroPadding2D(1, name=name + "_pad")(x)
    return layers.Conv2D(filters, 3, strides=stride, use_bias=False, name=name)(x)


def _basic_block(x, filters, stride, name):
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=name + "_downsample_0")(x)
        shortcut = layers.BatchNormalization(name=name + "_downsample_1", **_BN)(shortcut)
    y = _conv3x3(x, filters, stride, name + "_conv1")
    y = layers.BatchNormalization(name=name + "_bn1", **_BN)(y)
    y = layers.Activation("relu", name=name + "_relu1")(y)
    y = _conv3x3(y, filters, 1, name + "_conv2")
    y = layers.BatchNormalization(name=name + "_bn2", **_BN)(y)
    y = layers.Add(name=name + "_add")([y, shortcut])
    return layers.Activation("relu", name=name + "_relu2")(y)


def _resnet(depths, who, include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name):
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{who}: pooling must be None, 'avg' or 'max', got {pooling!r}")
    if weights == "imagenet":
        raise ValueError(f"{who}: no ImageNet file of its own; pass weights=<path to a torchvision "
                         f"state dict (.pth / .pt / .safetensors)>")
    path = resolve_weights(weights, None, who)
    if input_tensor is not None:
        img_input = input_tensor
    else:
        img_input = layers.Input(shape=obtain_input_shape(input_shape, 224, 32, include_top, weights, who))
    x = layers.ZeroPadding2D(3, name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1")(x)
    x = layers.BatchNormalization(name="bn1", **_BN)(x)
    x = layers.Activation("relu", name="relu")(x)
    x = layers.ZeroPadding2D(1, name="maxpool_pad")(x)     # zeros act as -inf after a ReLU
    x = layers.MaxPooling2D(3, strides=2, name="maxpool")(x)
    for stage, (filters, n) in enumerate(zip((64, 128, 256, 512), depths), start=1):
        for i in range(n):
            x = _basic_block(x, filters, 2 if (i == 0 and stage > 1) else 1, f"layer{stage}_{i}")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avgpool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="fc")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avgpool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="maxpool_global")(x)
    model = Model(img_input, x, name=name)
    if path is not None:
        _load(model, path)
    return model


def _load(model, path):
    """A torchvision-layout state dict (``.pt``/``.pth``, or ``.safetensors`` with torch keys such
    as ``conv1.weight``), else fusednet's / Keras's own weight files."""
    from ..io.torch_state import load_torch_state_dict
    if path.endswith((".pt", ".pth")):
        return load_torch_state_dict(model, path)
    if path.endswith(".safetensors"):
        from ..io.weights import load_weights
        keys = load_weights(path)
        if any(k.endswith((".weight", ".running_mean")) for k in keys):
            return load_torch_state_dict(model, keys)
    return load_weights_file(model, path)


_DOC = """{who} (torchvision layout, Keras-style arguments), channels last.

    Args:
        include_top: end with global average pooling and the ``fc`` classifier.
        weights: None (random init) or a path: a torchvision-layout state dict (``.pth``/``.pt``
            read with ``torch.load(weights_only=True)``, or ``.safetensors`` with torch keys), or
            fusednet's / Keras's own weight files.
        input_tensor: optional KerasTensor to build on.
        input_shape: ``(H, W, C)``, at least 32×32 (default 224×224×3 with the top).
        pooling: without the top: None, ``"avg"`` or ``"max"``.
        classes: classifier width.
        classifier_activation: default ``"softmax"`` (None gives torchvision's logits).
        name: model name.

    Shape:
        ``[N, H, W, 3]`` → ``[N, classes]`` with the top, else ``[N, H/32, W/32, 512]``.

    Example:
        >>> m = fusednet.applications.{who}(input_shape=(32, 32, 3), weights=None, classes=10)
    """


def ResNet18(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="resnet18"):
    return _resnet((2, 2, 2, 2), "ResNet18", include_top, weights, input_tensor, input_shape, pooling, classes,
                   classifier_activation, name)


def ResNet34(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="resnet34"):
    return _resnet((3, 4, 6, 3), "ResNet34", include_top, weights, input_tensor, input_shape, pooling, classes,
                   classifier_activation, name)


ResNet18.__doc__ = _DOC.format(who="ResNet18")
ResNet34.__doc__ = _DOC.format(who="ResNet34")


preprocess_input = family_preprocess("torch", "torchvision ResNet", "resnet_small")
