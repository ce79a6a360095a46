"""Masking: marks the timesteps whose features all equal ``mask_value`` as padding (Keras 3).

``keep[b, t] = any(x[b, t, :] != mask_value)``; the output is ``x * keep`` (masked steps become
zeros, as Keras) and carries ``keep`` as its mask (layers/masks.py), which recurrent layers,
attention, masked pooling and the losses read. Three native passes (compare, max over the
feature axis, broadcast multiply); backward is ``dy * keep``.
"""
from .. import _C
from ..tensor import Tensor
from .base import Layer

__all__ = ["Masking"]


def _keep(x, mask_value):
    """float32 0/1 [*, T] (the input shape without its last axis)."""
    ne = _C.binary("not_equal", x, _C.full([1], float(mask_value), device=x.device))
    return _C.reduce("max", ne, [x.ndim - 1], False)


class Masking(Layer):
    """Masks the timesteps whose features all equal ``mask_value``.

    Args:
        mask_value: the padding value (default 0.0).

    Shape:
        Input [batch, timesteps, features] (any rank >= 2) → output of the same shape; mask
        [batch, timesteps] (the input shape without its last axis).

    Example:
        >>> model = fusednet.Sequential([fusednet.layers.Input((10, 8)), Masking(0.0),
        ...                              fusednet.layers.LSTM(16)])
    """

    supports_masking = True
    _mask_source = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        try:
            self.mask_value = float(mask_value)
        except (TypeError, ValueError):
            raise ValueError(f"Masking '{self.name}': mask_value must be a number, got {mask_value!r}") from None

    def _check_input(self, shape):
        if len(shape) < 2:
            raise ValueError(f"Masking '{self.name}': expected input [batch, ..., features] of rank >= 2, got "
                             f"shape {tuple(shape)}")

    def compute_mask(self, inputs, mask=None):
        """``any(x != mask_value, axis=-1)`` as float32 0/1."""
        x = inputs.data if isinstance(inputs, Tensor) else inputs
        return _keep(x, self.mask_value)

    def forward(self, ctx, x, training, strip=False):
        keep = _keep(x, self.mask_value).reshape(*x.shape[:-1], 1)
        ctx.keep = keep
        return _C.binary("mul", x, keep)

    def backward(self, ctx, dy, need_dx):
        return (_C.binary("mul", dy, ctx.keep) if need_dx else None), []

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
