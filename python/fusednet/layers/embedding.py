"""Embedding: a lookup table of trainable vectors, indexed by integer token ids.

Forward is one native row gather (``_C.take_rows``), backward one deterministic scatter-add
(``_C.scatter_add_rows``: every output row is summed in index order by one thread, no atomics,
so the gradient is bitwise independent of the thread count).

With ``mask_zero=True`` the layer also produces a mask (``ids != 0``) that a recurrent layer
called directly on its output uses to skip the padded steps (see :func:`attached_mask`).
"""
from collections import OrderedDict

import numpy as np

from .. import _C
from .. import initializers as _init
from .. import regularizers as _reg
from ..tensor import Tensor
from .base import KerasTensor, Layer

__all__ = ["Embedding", "attached_mask"]

# Output Array -> the mask computed with it (bounded, holding both, so an id is never confused
# with a later object's). Consumers look their input up by identity: attached_mask(x).
_MASKS = OrderedDict()
_MASKS_KEEP = 32


def _attach_mask(y, mask):
    _MASKS[id(y)] = (y, mask)
    _MASKS.move_to_end(id(y))
    while len(_MASKS) > _MASKS_KEEP:
        _MASKS.popitem(last=False)


def attached_mask(x):
    """The float32 [batch, timesteps] mask an ``Embedding(mask_zero=True)`` produced together
    with the Array ``x`` (1 = real token, 0 = padding), or None.

    Args:
        x: an Array (or Tensor) that may be an Embedding's output.

    Returns:
        The mask Array, or None when ``x`` did not come from a masking Embedding.

    Example:
        >>> emb = Embedding(100, 8, mask_zero=True)
        >>> y = emb(np.array([[3, 0]]))
        >>> attached_mask(y).numpy()        # [[1., 0.]]
    """
    data = x.data if isinstance(x, Tensor) else x
    hit = _MASKS.get(id(data))
    return hit[1] if hit is not None and hit[0] is data else None


def _index_array(op, x):
    """int32/int64 Arrays as they are; float32 index arrays (Sequential fed with float data)
    cast to int64 natively."""
    if x.dtype in ("int32", "int64"):
        return x
    if x.dtype == "float32":
        return _C.cast(x, "int64")
    raise TypeError(f"{op}: indices must be int32, int64 or float32, got {x.dtype}")


class Embedding(Layer):
    """Turns non-negative integer indices into dense vectors: ``embeddings[ids]``.

    Args:
        input_dim: vocabulary size (largest index + 1).
        output_dim: size of each vector.
        embeddings_initializer: default 'uniform' (Keras: RandomUniform(-0.05, 0.05)).
        embeddings_regularizer: e.g. 'l2' or None.
        mask_zero: index 0 is padding: the output carries a mask (``ids != 0``) that a
            recurrent layer called on it uses (masked steps keep the previous state). As in
            Keras, index 0 then must not be used as a token.
        input_length: accepted for Keras 2 compatibility (ignored).

    Shape:
        Input [batch, ...] of int32/int64 (or float32 holding integers) → output
        [batch, ..., output_dim]. The weight ``embeddings`` is [input_dim, output_dim].

    Example:
        >>> emb = Embedding(1000, 64)
        >>> y = emb(np.array([[4, 20, 7]]))          # Tensor [1, 3, 64]
        >>> model = fusednet.Sequential([Embedding(1000, 64), fusednet.layers.LSTM(32)])
    """

    accepts_integer_inputs = True     # token ids stay exact (no float32 cast)

    @property
    def _mask_source(self):
        return self.mask_zero

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, **kwargs):
        super().__init__(**kwargs)
        for nm, v in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"Embedding '{self.name}': {nm} must be a positive integer, got {v!r}")
        if embeddings_constraint is not None:
            raise ValueError(f"Embedding '{self.name}': embeddings_constraint is not supported")
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        if isinstance(embeddings_initializer, str) and embeddings_initializer.lower() == "uniform":
            embeddings_initializer = _init.RandomUniform(-0.05, 0.05)
        self.embeddings_initializer = _init.get(embeddings_initializer)
        self.embeddings_regularizer = _reg.get(embeddings_regularizer)
        self.mask_zero = bool(mask_zero)
        self.input_length = input_length
        self.embeddings = None

    def build(self, input_shape):
        self.embeddings = self.add_weight((self.input_dim, self.output_dim), self.embeddings_initializer,
                                          self.embeddings_regularizer, name="embeddings")
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def compute_mask(self, inputs, mask=None):
        """``ids != 0`` as float32 (1 = keep) when ``mask_zero``, else None."""
        if not self.mask_zero:
            return None
        data = inputs.data if isinstance(inputs, Tensor) else inputs
        if not isinstance(data, _C.Array):
            data = _C.asarray(np.ascontiguousarray(data))
        if data.dtype != "float32":
            data = _C.cast(data, "float32")
        return _C.binary("not_equal", data, _C.zeros([1]))

    def __call__(self, inputs, training=None, **kwargs):
        # Integer NumPy ids stay integers (the base class would make them float32).
        if not isinstance(inputs, (KerasTensor, Tensor, _C.Array, list, tuple)):
            a = np.asarray(inputs)
            if a.dtype.kind in "iu":
                inputs = _C.asarray(np.ascontiguousarray(a.astype(np.int64, copy=False)))
        if isinstance(inputs, _C.Array):
            inputs = Tensor._wrap(inputs)
        return super().__call__(inputs, training=training, **kwargs)

    def forward(self, ctx, x, training, strip=False):
        idx = _index_array(f"Embedding '{self.name}'", x)
        ctx.idx = idx
        ctx.x_shape, ctx.x_float = list(x.shape), x.dtype == "float32"
        y = _C.take_rows(self.embeddings.data, idx)
        if self.mask_zero:
            _attach_mask(y, self.compute_mask(idx))
        return y

    def backward(self, ctx, dy, need_dx):
        dx = _C.zeros(ctx.x_shape) if need_dx and ctx.x_float else None
        if not self.trainable:
            return dx, []
        dw = _C.scatter_add_rows(dy, ctx.idx, self.input_dim)
        if self.embeddings_regularizer is not None:
            self.embeddings_regularizer.add_grad_(dw, self.embeddings.data)
        return dx, [dw]

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": _init.serialize(self.embeddings_initializer),
                "embeddings_regularizer": _reg.serialize(self.embeddings_regularizer)
                if self.embeddings_regularizer is not None else None,
                "mask_zero": self.mask_zero}
