"""``clone_model`` (Keras ``keras.models.clone_model``): the same architecture, new weights.

A clone is rebuilt from the model's config (``get_config`` -> ``from_config``), so it shares no
layer and no weight with the original and its weights are freshly initialised, as in Keras (copy
them with ``clone.set_weights(model.get_weights())``). For a Sequential model a
``clone_function(layer) -> layer`` may replace the per-layer copy.
"""
__all__ = ["clone_model"]


def _copy_layer(layer):
    return type(layer).from_config(layer.get_config())


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False,
                **kwargs):
    """A new model with ``model``'s architecture and freshly initialised weights.

    Args:
        model: a :class:`fusednet.Model` / :class:`fusednet.Sequential` (a subclassed model needs
            ``get_config``/``from_config``, as in Keras).
        input_tensors: not supported (raises if given).
        clone_function: Sequential models only: ``layer -> new layer`` applied to each layer
            (default: rebuild the layer from its config).
        call_function, recursive: not supported (raise if given).

    Returns:
        The clone (unbuilt weights are built as the original's were; not compiled).

    Raises:
        ValueError: an unsupported argument, or ``clone_function`` with a non-Sequential model.

    Example:
        >>> clone = fusednet.models.clone_model(model)
        >>> clone.set_weights(model.get_weights())
    """
    from .model import Model
    from .sequential import Sequential
    if not isinstance(model, Model):
        raise TypeError(f"clone_model: expected a fusednet Model, got {type(model).__name__}")
    if input_tensors is not None or call_function is not None or recursive or kwargs:
        raise ValueError("clone_model: input_tensors, call_function and recursive are not supported")
    if clone_function is not None:
        if not isinstance(model, Sequential):
            raise ValueError(f"clone_model: clone_function is supported for Sequential models only, "
                             f"got {type(model).__name__} '{model.name}'")
        clone = Sequential([clone_function(l) for l in model.layers], name=model.name)
        shape = model.input_shape
        if shape is not None and not isinstance(shape, list):
            clone.build(tuple(shape))
        return clone
    clone = type(model).from_config(model.get_config())
    shape = getattr(model, "input_shape", None)
    if not clone.built and model.built and shape is not None and not isinstance(shape, list):
        clone.build(tuple(shape))
    return clone
