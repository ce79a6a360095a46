"""``load_img`` / ``img_to_array`` / ``array_to_img`` / ``save_img`` (Keras ``keras.utils`` and
``keras.preprocessing.image``): PIL images in and out, Keras' conversions and defaults."""
import pathlib

import numpy as np

from ..data.image._decode import open_image, require_pil

__all__ = ["load_img", "img_to_array", "array_to_img", "save_img", "PIL_INTERPOLATION_METHODS"]

_PIL_NAMES = {"nearest": "NEAREST", "bilinear": "BILINEAR", "bicubic": "BICUBIC", "hamming": "HAMMING",
              "box": "BOX", "lanczos": "LANCZOS"}


def _resample(name):
    Image = require_pil("load_img")
    methods = {k: getattr(Image.Resampling, v) for k, v in _PIL_NAMES.items()}
    if name not in methods:
        raise ValueError(f"load_img: invalid interpolation method {name!r} specified. Supported methods are "
                         f"{', '.join(methods)}")
    return methods[name]


#: Interpolation names ``load_img`` accepts (Pillow resampling filters).
PIL_INTERPOLATION_METHODS = tuple(_PIL_NAMES)


def _channels_first(data_format, owner):
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError(f"{owner}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    return data_format == "channels_first"


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """Load an image file into a PIL image (Keras ``load_img``).

    Args:
        path: file path (str, bytes, pathlib.Path) or io.BytesIO.
        color_mode: 'rgb' (default), 'grayscale' or 'rgba'.
        target_size: None (original size) or (height, width).
        interpolation: Pillow filter used when resizing: 'nearest' (default), 'bilinear',
            'bicubic', 'hamming', 'box', 'lanczos' (Pillow's own resize, as Keras).
        keep_aspect_ratio: resize the centred crop with the target aspect ratio.

    Returns:
        A ``PIL.Image.Image``. A file Pillow cannot decode raises ValueError naming it.

    Example:
        >>> img = load_img("cats/001.png", target_size=(64, 64))
        >>> x = img_to_array(img)   # (64, 64, 3) float32
    """
    img = open_image(path, color_mode, "load_img")
    if target_size is None:
        return img
    wh = (int(target_size[1]), int(target_size[0]))
    if img.size == wh:
        return img
    resample = _resample(interpolation)
    if keep_aspect_ratio:
        width, height = img.size
        tw, th = wh
        ch = min(height, (width * th) // tw)
        cw = min(width, (height * tw) // th)
        h0, w0 = (height - ch) // 2, (width - cw) // 2
        return img.resize(wh, resample, box=[w0, h0, w0 + cw, h0 + ch])
    return img.resize(wh, resample)


def img_to_array(img, data_format=None, dtype=None):
    """A PIL image (or array-like) as a float32 NumPy array ``[H, W, C]`` (Keras ``img_to_array``).

    Args:
        img: PIL image.
        data_format: 'channels_last' (default) or 'channels_first' (``[C, H, W]``).
        dtype: NumPy dtype (default float32).

    Returns:
        NumPy array; grayscale images get a channel axis of 1.

    Example:
        >>> img_to_array(load_img("cats/001.png")).shape   # (28, 28, 3)
    """
    first = _channels_first(data_format, "img_to_array")
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 3:
        return x.transpose(2, 0, 1) if first else x
    if x.ndim == 2:
        return x.reshape((1,) + x.shape) if first else x.reshape(x.shape + (1,))
    raise ValueError(f"img_to_array: unsupported image shape: {x.shape}")


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A rank-3 array as a PIL image (Keras ``array_to_img``).

    Args:
        x: array-like ``[H, W, C]`` with C in (1, 3, 4) (``[C, H, W]`` with channels_first).
        data_format: 'channels_last' (default) or 'channels_first'.
        scale: rescale values so that min → 0 and max → 255.
        dtype: dtype the array is converted to first (default float32).

    Returns:
        A PIL image: mode 'L' (or 'I' above 255), 'RGB' or 'RGBA'.

    Example:
        >>> array_to_img(np.random.rand(8, 8, 3)).size   # (8, 8)
    """
    Image = require_pil("array_to_img")
    first = _channels_first(data_format, "array_to_img")
    x = np.array(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"array_to_img: expected image array to have rank 3 (single image). Got array with "
                         f"shape: {x.shape}")
    if first:
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        m = np.max(x)
        if m != 0:
            x /= m
        x *= 255
    c = x.shape[2]
    if c == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if c == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if c == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"array_to_img: unsupported channel number: {c} (shape {x.shape})")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Save an array as an image file (Keras ``save_img``).

    Args:
        path: file path or file object.
        x: array ``[H, W, C]``.
        data_format: 'channels_last' (default) or 'channels_first'.
        file_format: format override (default: from the extension; 'jpg' means JPEG).
        scale: rescale values to [0, 255] first.
        **kwargs: passed to ``PIL.Image.save``.

    Returns:
        None.

    Example:
        >>> save_img("out.png", np.zeros((8, 8, 3)))
    """
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        img = img.convert("RGB")
    img.save(path, format=file_format or None, **kwargs)
