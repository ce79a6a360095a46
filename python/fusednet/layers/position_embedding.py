"""Learned position embeddings (keras_hub ``PositionEmbedding`` and ``TokenAndPositionEmbedding``).

Both run on native gathers: token rows are ``_C.take_rows(embeddings, ids)`` forward and
``_C.scatter_add_rows`` (deterministic, no atomics) backward; the position table's first T rows
are added with a broadcast ``_C.binary('add')`` and its gradient is the batch sum
(``_C.reduce``) padded back to ``sequence_length`` rows.
"""
from .. import _C
from .. import initializers as _init
from .base import Layer

__all__ = ["PositionEmbedding", "TokenAndPositionEmbedding"]


def _pos_grad(dy, seq_len):
    """d(position table) [seq_len, D] from dy [B, T, D]: sum over the batch, zero rows after T."""
    g = _C.reduce("sum", dy, [0])
    T, D = g.shape
    if T == seq_len:
        return g
    return _C.concat([g, _C.zeros([seq_len - T, D])], 0)


def _token_ids(x, owner):
    """Token ids as an int64 Array (models feed float32: ids < 2^24 are exact)."""
    if x.dtype in ("int64", "int32"):
        return x
    return _C.cast(x, "int64")


class PositionEmbedding(Layer):
    """Learned position embedding (keras_hub ``keras_hub.layers.PositionEmbedding``).

    Returns the first ``T`` rows of a ``[sequence_length, D]`` table, broadcast over the batch
    (the layer's output does *not* include its input: add it yourself, as keras_hub).

    Args:
        sequence_length: the longest sequence the table covers.
        initializer: initializer of the table (keras_hub default 'glorot_uniform').

    Shape:
        input: ``(batch, T, D)`` with ``T <= sequence_length``; output: the same shape.

    Example:
        >>> x = fusednet.Input((16, 32))
        >>> y = fusednet.layers.Add()([x, fusednet.layers.PositionEmbedding(16)(x)])
    """

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(sequence_length, int) or sequence_length <= 0:
            raise ValueError(f"PositionEmbedding: sequence_length must be a positive int, got {sequence_length!r}")
        self.sequence_length = sequence_length
        self.initializer = _init.get(initializer)

    def build(self, input_shape):
        if len(input_shape) < 3 or input_shape[-1] is None:
            raise ValueError(f"PositionEmbedding '{self.name}': input must be (batch, time, features), "
                             f"got {tuple(input_shape)}")
        self.position_embeddings = self.add_weight((self.sequence_length, int(input_shape[-1])), self.initializer,
                                                   name="embeddings")
        self.built = True

    def forward(self, ctx, x, training, strip=False):
        T = x.shape[1]
        if x.ndim != 3 or T > self.sequence_length or x.shape[-1] != self.position_embeddings.shape[1]:
            raise ValueError(f"PositionEmbedding '{self.name}': input {tuple(x.shape)} must be (batch, T <= "
                             f"{self.sequence_length}, {self.position_embeddings.shape[1]})")
        ctx.B = x.shape[0]
        p = _C.slice_axis(self.position_embeddings.data, 0, 0, T)
        return _C.binary("add", _C.zeros(list(x.shape)), p)

    def backward(self, ctx, dy, need_dx):
        dx = _C.zeros(list(dy.shape)) if need_dx else None
        return dx, ([_pos_grad(dy, self.sequence_length)] if self.trainable else [])

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length,
                "initializer": _init.serialize(self.initializer)}


class TokenAndPositionEmbedding(Layer):
    """Token embedding plus learned position embedding (keras_hub
    ``keras_hub.layers.TokenAndPositionEmbedding``): ``E[ids] + P[:T]``.

    Args:
        vocabulary_size: number of token ids (ids must be in ``[0, vocabulary_size)``).
        sequence_length: the longest sequence (rows of the position table).
        embedding_dim: output features D.
        embeddings_initializer: initializer of both tables (keras_hub default "uniform" =
            i.e. U(-0.05, 0.05)).

    Shape:
        input: integer ids ``(batch, T)`` with ``T <= sequence_length``; output ``(batch, T, D)``.

    Example:
        >>> ids = fusednet.Input((128,))
        >>> h = fusednet.layers.TokenAndPositionEmbedding(65, 128, 64)(ids)
    """

    accepts_integer_inputs = True     # token ids stay exact (no float32 cast)

    def __init__(self, vocabulary_size, sequence_length, embedding_dim, embeddings_initializer="random_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        for nm, v in (("vocabulary_size", vocabulary_size), ("sequence_length", sequence_length),
                      ("embedding_dim", embedding_dim)):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"TokenAndPositionEmbedding: {nm} must be a positive int, got {v!r}")
        self.vocabulary_size, self.sequence_length = vocabulary_size, sequence_length
        self.embedding_dim = embedding_dim
        self.embeddings_initializer = _init.get(embeddings_initializer)

    def build(self, input_shape):
        init = self.embeddings_initializer
        self.token_embeddings = self.add_weight((self.vocabulary_size, self.embedding_dim), init,
                                                name="token_embedding/embeddings")
        self.position_embeddings = self.add_weight((self.sequence_length, self.embedding_dim), init,
                                                   name="position_embedding/embeddings")
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.embedding_dim,)

    def forward(self, ctx, x, training, strip=False):
        own = f"TokenAndPositionEmbedding '{self.name}'"
        if x.ndim != 2 or x.shape[1] > self.sequence_length:
            raise ValueError(f"{own}: input must be token ids (batch, T <= {self.sequence_length}), got "
                             f"{tuple(x.shape)}")
        ids = _token_ids(x, own)
        try:
            e = _C.take_rows(self.token_embeddings.data, ids)
        except ValueError as err:
            raise ValueError(f"{own}: {err}") from None
        ctx.ids = ids
        p = _C.slice_axis(self.position_embeddings.data, 0, 0, x.shape[1])
        return _C.binary("add", e, p)

    def backward(self, ctx, dy, need_dx):
        if not self.trainable:
            return None, []
        de = _C.scatter_add_rows(dy, ctx.ids, self.vocabulary_size)
        return None, [de, _pos_grad(dy, self.sequence_length)]

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length, "embedding_dim": self.embedding_dim,
                "embeddings_initializer": _init.serialize(self.embeddings_initializer)}
