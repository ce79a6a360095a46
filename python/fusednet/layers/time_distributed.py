"""TimeDistributed: one layer applied to every timestep (Keras 3 semantics).

``[batch, T, ...]`` is viewed as ``[batch·T, ...]`` (a reshape of the same buffer, no copy), the
wrapped layer runs once on it with its own native forward/backward, and the result is viewed back
as ``[batch, T, ...]``: one kernel call for all timesteps instead of T calls, and the weight
gradients of all timesteps come out of that one backward already summed.
"""
from .base import Context, Layer

__all__ = ["TimeDistributed"]


class TimeDistributed(Layer):
    """Applies ``layer`` to every temporal slice of the input (axis 1).

    Args:
        layer: a layer instance (Dense, Conv2D, Dropout, pooling, ...) with native maths; its
            weights are shared by all timesteps.

    Shape:
        ``[batch, timesteps, ...inner]`` → ``[batch, timesteps, ...layer output]``.

    Example:
        >>> td = TimeDistributed(Dense(8))
        >>> y = td(np.zeros((4, 10, 16), np.float32))       # Tensor [4, 10, 8]
    """

    supports_masking = True   # passes its input mask on (Keras)

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed '{self.name}': layer must be a Layer instance, got {layer!r}")
        if not layer.supports_fast_path:
            raise NotImplementedError(f"TimeDistributed '{self.name}': the wrapped layer '{layer.name}' has a "
                                      f"Tensor call() only; wrap a layer with native forward/backward")
        self.layer = layer

    def _inner_shape(self, input_shape, who="build"):
        shape = tuple(input_shape)
        if len(shape) < 3:
            raise ValueError(f"TimeDistributed '{self.name}': input must be at least 3-D [batch, timesteps, ...], "
                             f"got shape {shape}")
        return (None,) + shape[2:]

    def build(self, input_shape):
        self.layer._maybe_build(self._inner_shape(input_shape))
        self._weights.extend(self.layer._weights)
        self._trainable_flags.extend(self.layer._trainable_flags)
        self._regularized.extend(self.layer._regularized)
        self.built = True

    def _check_input(self, shape):
        self.layer._check_input(self._inner_shape(shape))

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape(self._inner_shape(input_shape))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def _output_activation(self):
        return self.layer._output_activation()

    def forward(self, ctx, x, training, strip=False):
        b, t = int(x.shape[0]), int(x.shape[1])
        ctx.bt = (b, t)
        ctx.inner = Context()
        y = self.layer.forward(ctx.inner, x.reshape([b * t] + list(x.shape[2:])), training, strip)
        return y.reshape([b, t] + list(y.shape[1:]))

    def backward(self, ctx, dy, need_dx):
        b, t = ctx.bt
        dx, grads = self.layer.backward(ctx.inner, dy.reshape([b * t] + list(dy.shape[2:])), need_dx)
        if dx is not None:
            dx = dx.reshape([b, t] + list(dx.shape[1:]))
        return dx, (list(grads) if self._trainable else [])

    def get_config(self):
        from . import serialize
        return {**super().get_config(), "layer": serialize(self.layer)}

    @classmethod
    def from_config(cls, config):
        from . import deserialize
        config = dict(config)
        return cls(deserialize(config.pop("layer")), **config)
