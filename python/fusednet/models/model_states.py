"""``Model.reset_states()``: the Keras 2 model method that resets every stateful layer."""

__all__ = ["StatesMixin"]


class StatesMixin:
    """Mixin of :class:`~fusednet.models.Model`: carried recurrent states."""

    def reset_states(self):
        """Reset the carried states of every stateful layer (``stateful=True`` recurrent layers
        and Bidirectional wrappers, nested models included) to zeros. Keras 3 dropped the model
        method (call ``layer.reset_state()``); Keras 2 code calls this one.

        Example:
            >>> model.reset_states()    # before a new independent sequence batch
        """
        for layer in self.layers:
            if isinstance(layer, StatesMixin) or getattr(layer, "stateful", False):
                layer.reset_states()

    def reset_state(self):
        """Alias of :meth:`reset_states`."""
        self.reset_states()
