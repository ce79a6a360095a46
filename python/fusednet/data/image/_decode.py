"""Decoding image files with Pillow (an optional dependency, imported lazily) and resizing them
with the native ``_C.resize_images`` kernel straight from the decoder's uint8 pixels."""
import io
import os
import pathlib

import numpy as np

from ... import _C

__all__ = ["require_pil", "open_image", "decode_resized", "channels_of", "IMAGE_FORMATS"]

#: File extensions ``image_dataset_from_directory`` indexes (Keras' allow-list).
IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")

_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}


def require_pil(what="image loading"):
    """Return the ``PIL.Image`` module, or raise ImportError saying how to install it.

    Args:
        what: the feature that needs Pillow (named in the error message).

    Returns:
        The ``PIL.Image`` module.

    Example:
        >>> Image = require_pil("load_img")
    """
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - Pillow is installed in the test environment
        raise ImportError(f"fusednet: {what} needs Pillow: `pip install fusednet[image]` (or `pip install "
                          f"pillow`)") from e
    return Image


def channels_of(color_mode, owner="image"):
    """Number of channels of a Keras ``color_mode`` ('grayscale' 1, 'rgb' 3, 'rgba' 4).

    Args:
        color_mode: 'grayscale', 'rgb' or 'rgba'.
        owner: function name used in the error message.

    Returns:
        int.

    Example:
        >>> channels_of("rgb")   # 3
    """
    if color_mode not in _CHANNELS:
        raise ValueError(f"{owner}: color_mode must be one of 'grayscale', 'rgb', 'rgba', got {color_mode!r}")
    return _CHANNELS[color_mode]


def open_image(path, color_mode="rgb", owner="load_img"):
    """Open and decode one image file as a PIL image in ``color_mode`` (Keras conversions).

    The file is read fully before decoding (no open file handle is left behind). Grayscale keeps
    16/32-bit grayscale modes ('I;16', 'I') as Keras does; everything else converts to 'L',
    'RGB' or 'RGBA'.

    Args:
        path: str, bytes, pathlib.Path or io.BytesIO.
        color_mode: 'grayscale', 'rgb' or 'rgba'.
        owner: function name used in error messages.

    Returns:
        A decoded ``PIL.Image.Image``.

    Example:
        >>> img = open_image("cats/001.png", "rgb")
    """
    Image = require_pil(owner)
    channels_of(color_mode, owner)
    if isinstance(path, io.BytesIO):
        src, name = path, "<BytesIO>"
    elif isinstance(path, (str, bytes, pathlib.Path, os.PathLike)):
        name = os.fsdecode(path)
        with open(name, "rb") as f:
            src = io.BytesIO(f.read())
    else:
        raise TypeError(f"{owner}: path should be path-like or io.BytesIO, not {type(path).__name__}")
    try:
        img = Image.open(src)
        img.load()
    except Exception as e:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ... on bad files
        raise ValueError(f"{owner}: cannot decode image file {name!r}: {type(e).__name__}: {e}") from e
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode == "rgba":
        if img.mode != "RGBA":
            img = img.convert("RGBA")
    elif img.mode != "RGB":
        img = img.convert("RGB")
    return img


def decode_resized(path, color_mode, size, interpolation="bilinear", crop_to_aspect_ratio=False, owner="image"):
    """Decode one file and resize it natively to ``size``: float32 ``[h, w, C]`` in [0, 255].

    8-bit images go to ``_C.resize_images`` as uint8 (converted inside the kernel); 16/32-bit
    grayscale is converted to float32 first. Runs with the GIL released in Pillow's decoder and
    in the kernel, so several threads decode in parallel.

    Args:
        path: image file path.
        color_mode: 'grayscale', 'rgb' or 'rgba'.
        size: (height, width).
        interpolation: 'bilinear', 'nearest', 'bicubic', 'area', 'lanczos3', 'lanczos5', 'gaussian' or 'mitchellcubic'
            (half-pixel centres, no antialiasing: Keras' loader).
        crop_to_aspect_ratio: resize the centred crop with the target aspect ratio.
        owner: function name used in error messages.

    Returns:
        NumPy float32 array ``[height, width, channels]``.

    Example:
        >>> decode_resized("cats/001.png", "rgb", (64, 64)).shape   # (64, 64, 3)
    """
    img = open_image(path, color_mode, owner)
    a = np.asarray(img)
    img.close()
    if a.ndim == 2:
        a = a[:, :, None]
    h, w = int(size[0]), int(size[1])
    if a.dtype == np.uint8:
        y = _C.resize_images(np.ascontiguousarray(a), h, w, interpolation, bool(crop_to_aspect_ratio))
        return np.asarray(y)
    x = _C.asarray(np.ascontiguousarray(a[None], dtype=np.float32))
    return np.asarray(_C.resize_images(x, h, w, interpolation, bool(crop_to_aspect_ratio)))[0]
