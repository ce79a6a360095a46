"""Shared by the application models: ImageNet input preprocessing in Keras's three modes, the
input-shape rule, resolving ``weights=`` to a file, and ``decode_predictions``."""
import json
import os

import numpy as np

__all__ = ["preprocess_input", "decode_predictions", "obtain_input_shape", "resolve_weights", "correct_pad",
           "load_weights_file"]

_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)
_TORCH_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_TORCH_STD = np.array([0.229, 0.224, 0.225], np.float32)


_MODE_TEXT = {"caffe": 'Keras "caffe" mode: RGB [0, 255] → BGR minus the ImageNet mean',
              "tf": 'Keras "tf" mode: RGB [0, 255] → [-1, 1]',
              "torch": '"torch" mode: RGB [0, 255] → [0, 1], minus mean, over std'}


def family_preprocess(mode, family, module):
    """The ``preprocess_input`` of one model family: :func:`preprocess_input` with ``mode`` fixed,
    documented for ``family`` (its module's public function)."""
    def family_preprocess_input(x, data_format=None):
        return preprocess_input(x, data_format=data_format, mode=mode)
    family_preprocess_input.__name__ = family_preprocess_input.__qualname__ = "preprocess_input"
    family_preprocess_input.__module__ = f"fusednet.applications.{module}"
    family_preprocess_input.__doc__ = f"""{family} preprocessing ({_MODE_TEXT[mode]}).

    Args:
        x: ``[..., H, W, 3]`` RGB images in [0, 255].
        data_format: only channels last.

    Returns:
        float32 array of the same shape.

    Example:
        >>> x = fusednet.applications.{module}.preprocess_input(images)
    """
    return family_preprocess_input


def preprocess_input(x, data_format=None, mode="caffe"):
    """ImageNet preprocessing of RGB images in [0, 255] (channels last), as Keras does it.

    Args:
        x: array ``[..., H, W, 3]`` (float or uint8).
        data_format: only ``None``/``"channels_last"``.
        mode: ``"caffe"`` (RGB→BGR, minus the ImageNet BGR mean: ResNet50), ``"tf"`` (to [-1, 1]:
            MobileNetV2) or ``"torch"`` (to [0, 1], minus mean, over std: torchvision models).

    Returns:
        float32 array of the same shape (a new array; the input is not modified).

    Example:
        >>> x = fusednet.applications.resnet50.preprocess_input(np.full((1, 224, 224, 3), 128.0))
    """
    if data_format not in (None, "channels_last"):
        raise ValueError(f"preprocess_input: only channels_last data is supported, got {data_format!r}")
    a = np.asarray(x)
    if a.ndim < 1 or a.shape[-1] != 3:
        raise ValueError(f"preprocess_input: expected RGB images with 3 channels last, got shape {a.shape}")
    a = a.astype(np.float32, copy=True)
    if mode == "caffe":
        a = a[..., ::-1] - _CAFFE_MEAN_BGR
    elif mode == "tf":
        a = a / 127.5 - 1.0
    elif mode == "torch":
        a = (a / 255.0 - _TORCH_MEAN) / _TORCH_STD
    else:
        raise ValueError(f"preprocess_input: mode must be 'caffe', 'tf' or 'torch', got {mode!r}")
    return np.ascontiguousarray(a, dtype=np.float32)


_CLASS_INDEX = {}       # path -> {"0": [wnid, description], ...}, read once per file


def _keras_models_dir():
    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return os.path.join(home, "models")


def _class_index(class_index):
    if isinstance(class_index, dict):
        return class_index
    path = os.fspath(class_index) if class_index is not None else os.path.join(
        _keras_models_dir(), "imagenet_class_index.json")
    if path not in _CLASS_INDEX:
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"decode_predictions: the ImageNet class index {path!r} does not exist (fusednet does not "
                f"download): copy Keras's imagenet_class_index.json there or pass class_index='<path>'")
        try:
            with open(path, encoding="utf-8") as f:
                idx = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f"decode_predictions: {path!r} is not a JSON class index: {e}") from None
        if not isinstance(idx, dict) or not all(isinstance(v, (list, tuple)) and len(v) == 2 for v in idx.values()):
            raise ValueError(f"decode_predictions: {path!r} must map class indices to [wnid, description] pairs")
        _CLASS_INDEX[path] = idx
    return _CLASS_INDEX[path]


def decode_predictions(preds, top=5, class_index=None):
    """Top-``top`` ImageNet classes of a batch of predictions (Keras ``decode_predictions``).

    The class index is Keras's ``imagenet_class_index.json`` (``{"0": ["n01440764", "tench"],
    ...}``), read from ``class_index`` (a path or an already loaded dict) or else from the Keras
    cache (``$KERAS_HOME/models`` or ``~/.keras/models``); nothing is downloaded.

    Args:
        preds: array ``[N, 1000]`` (or ``[N, len(class_index)]`` with a custom index).
        top: how many classes per sample (default 5).
        class_index: optional path to the JSON file or the dict itself.

    Returns:
        One list per sample of ``(wnid, description, score)`` tuples, best first (Keras's order,
        ties included).

    Example:
        >>> fusednet.applications.imagenet_utils.decode_predictions(model.predict(x), top=3)
    """
    p = np.asarray(preds)
    idx = _class_index(class_index)
    n = 1000 if class_index is None else len(idx)
    if p.ndim != 2 or p.shape[1] != n:
        raise ValueError(f"decode_predictions: expects a batch of predictions (a 2D array of shape (samples, "
                         f"{n})), got shape {p.shape}")
    if not isinstance(top, (int, np.integer)) or isinstance(top, bool) or top < 1:
        raise ValueError(f"decode_predictions: top must be a positive int, got {top!r}")
    results = []
    for pred in p:                        # per sample (not per element): Keras's own selection
        top_indices = pred.argsort()[-top:][::-1]
        r = [tuple(idx[str(i)]) + (pred[i],) for i in top_indices]
        r.sort(key=lambda t: t[2], reverse=True)
        results.append(r)
    return results


def obtain_input_shape(input_shape, default_size, min_size, include_top, weights, who):
    """The model's input shape: ``(default_size, default_size, 3)`` unless given; with the top
    (classifier) and pretrained weights it must be the default."""
    if input_shape is None:
        return (default_size, default_size, 3) if include_top or weights is not None else (None, None, 3)
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(f"{who}: input_shape must be (H, W, channels), got {input_shape}")
    if weights is not None and shape[-1] != 3:
        raise ValueError(f"{who}: pretrained weights need 3 input channels, got input_shape {input_shape}")
    for s in shape[:2]:
        if s is not None and s < min_size:
            raise ValueError(f"{who}: input size must be at least {min_size}x{min_size}, got {input_shape}")
    if include_top and weights == "imagenet" and shape[:2] != (default_size, default_size):
        raise ValueError(f"{who}: with include_top=True and ImageNet weights the input must be "
                         f"{default_size}x{default_size}, got {input_shape}")
    return shape


def resolve_weights(weights, file_name, who):
    """``weights`` as a file path or None: ``"imagenet"`` looks for Keras's own file name in the
    Keras cache (``$KERAS_HOME/models`` or ``~/.keras/models``); fusednet downloads nothing."""
    if weights is None:
        return None
    if weights == "imagenet":
        path = os.path.join(_keras_models_dir(), file_name)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{who}: weights='imagenet' needs Keras's {file_name} in {os.path.dirname(path)} "
                f"(fusednet does not download); copy it there or pass weights='<path to the file>'")
        return path
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{who}: weights file {path!r} does not exist (weights must be None, "
                                f"'imagenet' or a path)")
    return path


def correct_pad(input_size, kernel_size):
    """Zero padding ``((top, bottom), (left, right))`` that makes a stride-2 'valid' convolution
    match TensorFlow's 'same' one (Keras's ``imagenet_utils.correct_pad``)."""
    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    adjust = (1, 1) if input_size[0] is None else (1 - input_size[0] % 2, 1 - input_size[1] % 2)
    c = (k[0] // 2, k[1] // 2)
    return ((c[0] - adjust[0], c[0]), (c[1] - adjust[1], c[1]))


def load_weights_file(model, path):
    """Weights from Keras (HDF5 ``.h5`` / ``.weights.h5``, ``.keras`` zip: by layer name) or from
    fusednet's own ``save_weights`` / ``model.save`` files."""
    import zipfile
    with open(path, "rb") as f:
        head = f.read(8)
    keras_zip = False
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            keras_zip = "model.weights.h5" in z.namelist()
    if head == b"\x89HDF\r\n\x1a\n" or keras_zip:
        from ..io.keras_h5 import load_keras_weights
        return load_keras_weights(model, path)
    return model.load_weights(path)
