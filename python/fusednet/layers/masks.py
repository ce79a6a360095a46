"""The mask channel (Keras 3 semantics): helpers shared by the eager path and the compiled plan.

A mask is a float32 0/1 Array ``[batch, timesteps]`` (1 = real step, 0 = padding), the Keras
boolean mask as numbers so that every consumer can multiply by it natively. It travels beside
the values:

* eagerly, on the Tensor (``tensor._keras_mask``, as Keras' ``backend.get_keras_mask``), set by
  :meth:`Layer.__call__` from the layer's :meth:`Layer.compute_mask`;
* in the compiled plan, in a slot array parallel to the values (``trainers/masks.py``).

A layer with ``supports_masking = True`` passes its input mask on unchanged (the default
``compute_mask``); a layer without it drops the mask (Keras 3). A layer that *consumes* a mask
reads it: a ``call(..., mask=None)`` gets it as a Tensor argument; a native layer finds it on its
forward context as ``ctx.input_mask`` (an Array, or a list with one entry per input for a
multi-input layer; absent when no input is masked).
"""
import numpy as np

from .. import _C
from ..tensor import Tensor

__all__ = ["get_mask", "set_mask", "as_mask_array", "and_masks", "call_takes_mask", "check_mask", "call_with_masks"]

_TAKES_MASK = {}


def get_mask(x):
    """The mask Tensor attached to Tensor ``x`` (or None; lists give a list or None)."""
    if isinstance(x, (list, tuple)):
        ms = [get_mask(v) for v in x]
        return ms if any(m is not None for m in ms) else None
    return getattr(x, "_keras_mask", None) if isinstance(x, Tensor) else None


def set_mask(x, mask):
    """Attach ``mask`` (None clears) to Tensor ``x``; lists of outputs get one mask each."""
    if isinstance(x, (list, tuple)):
        ms = mask if isinstance(mask, (list, tuple)) else [mask] * len(x)
        for v, m in zip(x, ms):
            set_mask(v, m)
        return
    if isinstance(x, Tensor):
        m = as_mask_array(mask)
        x._keras_mask = None if m is None else Tensor._wrap(m)


def as_mask_array(m):
    """``m`` (Tensor / Array / NumPy / bool, or None) as a float32 0/1 Array, or None."""
    if m is None:
        return None
    if isinstance(m, (list, tuple)):
        raise TypeError(f"a mask must be one array, got a {type(m).__name__} of {len(m)}")
    if isinstance(m, Tensor):
        m = m.data
    if not isinstance(m, _C.Array):
        a = np.asarray(m)
        if a.dtype == np.bool_:
            a = a.astype(np.float32)
        m = _C.asarray(np.ascontiguousarray(a, np.float32))
    if m.dtype != "float32":
        m = _C.cast(m, "float32")
    return m


def context_mask(mask):
    """A mask argument as the Array(s) a native forward finds in ``ctx.input_mask``."""
    if isinstance(mask, (list, tuple)):
        return [as_mask_array(m) for m in mask]
    return as_mask_array(mask)


def and_masks(masks):
    """Logical AND of the non-None masks (Keras merges: a None mask is all ones), or None."""
    ms = [as_mask_array(m) for m in masks if m is not None]
    if not ms:
        return None
    out = ms[0]
    for m in ms[1:]:
        out = _C.binary("mul", out, m)      # 0/1 values: the product is the AND
    return out


def call_takes_mask(layer):
    """True when ``type(layer).call`` accepts a ``mask`` argument (Keras inspects it too)."""
    cls = type(layer)
    takes = _TAKES_MASK.get(cls)
    if takes is None:
        import inspect
        try:
            takes = "mask" in inspect.signature(cls.call).parameters
        except (TypeError, ValueError):
            takes = False
        _TAKES_MASK[cls] = takes
    return takes


def check_mask(owner, mask, x_shape):
    """Raise ValueError naming ``owner`` when ``mask`` is not ``x_shape[:2]`` ([batch, steps])."""
    if mask is None:
        return None
    ms, xs = tuple(mask.shape), tuple(x_shape)
    if len(xs) < 2 or ms != xs[:2]:
        raise ValueError(f"{owner}: the mask must have shape (batch, timesteps) = {xs[:2]} of the input "
                         f"{xs}, got mask shape {ms}")
    return mask


def call_with_masks(layer, raw, x, training, kwargs):
    """``layer.call`` with the mask channel (Keras): the input mask (``mask=`` or the masks
    attached to the raw inputs ``raw``) goes to a ``call`` that takes one; the output gets
    ``layer.compute_mask``'s result attached.

    Args:
        layer: the Layer. raw: the inputs as given; x: them as Tensors. training: the flag.
        kwargs: the other call arguments (``mask`` is taken out).

    Returns:
        The call's output (masks attached).

    Example:
        >>> y = call_with_masks(layer, x, as_tensor(x), False, {})      # what Layer.__call__ does
    """
    from .base import Layer, call_layer
    mask = kwargs.pop("mask", None)
    if mask is None:
        mask = get_mask(raw)
    if mask is not None and call_takes_mask(layer):
        kwargs["mask"] = mask
    out = call_layer(layer, x, training, **kwargs)
    if mask is not None or type(layer).compute_mask is not Layer.compute_mask:
        set_mask(out, layer.compute_mask(x, mask))
    return out
