"""Winograd F(4x4,3x3) convolution for inference plans: when a folded Conv+BN step takes it.

A 3x3, stride-1, undilated convolution with at least :data:`MIN_CHANNELS` input and output channels
(every 3x3 conv of ResNet-50) runs at inference as ``_C.conv2d_winograd_forward`` on the kernel
transformed once per weights generation (``_C.winograd_weights``): 36 multiplies per 4x4 output
tile and channel pair instead of 144, measured 1.6-2.4x faster than the direct conv on ResNet-50's
3x3 shapes (bench/bench_conv.py --imagenet --winograd). Results differ from the direct conv by
float32 rounding of the transforms (within ``TOL["winograd"]``), so training (whose forward must
match its backward) never uses it. ``set_enabled(False)`` / ``with disabled():`` switch it off
(tests compare both); ``FUSEDNET_WINOGRAD=0`` starts with it off.
"""
import contextlib
import os

from .. import _C

__all__ = ["MIN_CHANNELS", "set_enabled", "is_enabled", "disabled", "eligible", "transform", "forward"]

#: Smallest Cin and Cout taken: below it the 36 small GEMMs do not beat the direct kernel.
MIN_CHANNELS = 32

_ENABLED = [os.environ.get("FUSEDNET_WINOGRAD", "1") != "0"]


def set_enabled(flag):
    """Use Winograd for eligible inference convolutions (default) or not, for plans built later.

    Args:
        flag: bool.

    Example:
        >>> from fusednet.trainers import winograd
        >>> winograd.set_enabled(False); winograd.is_enabled()
        False
        >>> winograd.set_enabled(True)
    """
    _ENABLED[0] = bool(flag)


def is_enabled():
    """Whether eligible inference convolutions use Winograd (see :func:`set_enabled`)."""
    return _ENABLED[0]


@contextlib.contextmanager
def disabled():
    """Context manager: inference steps run inside it use the direct convolution.

    Example:
        >>> from fusednet.trainers import winograd
        >>> with winograd.disabled():
        ...     winograd.is_enabled()
        False
    """
    old = _ENABLED[0]
    _ENABLED[0] = False
    try:
        yield
    finally:
        _ENABLED[0] = old


def eligible(conv, act):
    """True when the Conv2D layer ``conv`` with epilogue ``act`` runs as Winograd F(4x4,3x3).

    Args:
        conv: a built fusednet Conv2D. act: the epilogue activation name of the fused step.

    Shape:
        kernel (3, 3, Cin, Cout) with Cin, Cout >= MIN_CHANNELS; strides and dilation 1.

    Example:
        >>> import fusednet as fn
        >>> from fusednet.trainers import winograd
        >>> c = fn.layers.Conv2D(64, 3, padding="same"); c.build((None, 8, 8, 64))
        >>> winograd.eligible(c, "relu")
        True
    """
    if not _ENABLED[0] or act not in ("none", "linear", "relu"):
        return False
    k = conv.kernel
    if k is None or len(k.shape) != 4:
        return False
    return (tuple(conv.kernel_size) == (3, 3) and tuple(conv.strides) == (1, 1) and
            tuple(conv.dilation_rate) == (1, 1) and k.shape[2] >= MIN_CHANNELS and k.shape[3] >= MIN_CHANNELS)


def transform(w):
    """The transformed kernel ``_C.winograd_weights(w)``.

    Args:
        w: Array (3, 3, Cin, Cout) float32.

    Shape:
        returns (36, Cin, Cout).

    Example:
        >>> import numpy as np
        >>> from fusednet import _C
        >>> from fusednet.trainers import winograd
        >>> winograd.transform(_C.asarray(np.ones((3, 3, 2, 4), np.float32))).shape
        (36, 2, 4)
    """
    return _C.winograd_weights(w)


def forward(x, u, b, padding, act):
    """``act(conv(x, w) + b)`` for the transformed kernel ``u = transform(w)``.

    Args:
        x: Array (N, H, W, Cin). u: Array (36, Cin, Cout). b: Array (Cout,) or None.
        padding: 'same' | 'valid'. act: 'none' | 'linear' | 'relu'.

    Shape:
        returns (N, Ho, Wo, Cout), Ho and Wo by Conv2D's rules for a 3x3 stride-1 kernel.

    Example:
        >>> import numpy as np
        >>> from fusednet import _C
        >>> from fusednet.trainers import winograd
        >>> u = winograd.transform(_C.asarray(np.ones((3, 3, 2, 4), np.float32)))
        >>> winograd.forward(_C.asarray(np.ones((1, 5, 5, 2), np.float32)), u, None, "same", "relu").shape
        (1, 5, 5, 4)
    """
    return _C.conv2d_winograd_forward(x, u, b, padding, "none" if act == "linear" else act)
