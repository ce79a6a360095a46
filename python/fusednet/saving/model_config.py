"""Model-level configs used by :class:`fusednet.Model`: the compile config (what ``compile`` was
given, serialised) and rebuilding a subclassed model from its ``get_config()``."""
import inspect

from .serialization import deserialize_keras_object, serialize_keras_object

__all__ = ["compile_config", "compile_from_config", "subclass_from_config"]


def compile_config(model):
    """``{"optimizer", "loss", "metrics", "loss_weights", "weighted_metrics"}`` of a compiled
    model (names stay names; Loss / Metric / Optimizer objects and functions become entries), or
    None when it is not compiled.

    Args:
        model: a :class:`fusednet.Model`.

    Returns:
        dict or None.

    Raises:
        TypeError: an argument that cannot be saved (a lambda loss, ...), naming it.

    Example:
        >>> model.compile("adam", "mse"); compile_config(model)["loss"]
        'mse'
    """
    if not getattr(model, "compiled", False):
        return None
    args = getattr(model, "_compile_args", None) or {}
    out = {}
    for key in ("optimizer", "loss", "metrics", "loss_weights", "weighted_metrics"):
        value = model.optimizer if key == "optimizer" else args.get(key)
        try:
            out[key] = serialize_keras_object(value)
        except TypeError as e:
            raise TypeError(f"model '{model.name}': compile argument {key}={value!r} cannot be saved: {e}") from None
    return out


def _revive(value, custom_objects=None):
    if isinstance(value, list):
        return [_revive(v, custom_objects) for v in value]
    if isinstance(value, dict):
        if "class_name" in value and "config" in value:
            return deserialize_keras_object(value, custom_objects)
        return {k: _revive(v, custom_objects) for k, v in value.items()}
    return value


def compile_from_config(model, config, custom_objects=None):
    """``model.compile(...)`` with the arguments :func:`compile_config` saved.

    Args:
        model: the model to compile.
        config: :func:`compile_config`'s dict.
        custom_objects: optional dict for custom losses / metrics / optimizers.

    Example:
        >>> compile_from_config(model2, compile_config(model))
    """
    model.compile(optimizer=_revive(config.get("optimizer") or "rmsprop", custom_objects),
                  loss=_revive(config.get("loss"), custom_objects),
                  metrics=_revive(config.get("metrics"), custom_objects),
                  loss_weights=config.get("loss_weights"),
                  weighted_metrics=_revive(config.get("weighted_metrics"), custom_objects))


def subclass_from_config(cls, config):
    """``cls(**config)`` (Keras' default); when the constructor takes neither ``**kwargs`` nor
    the base keys ``name`` / ``trainable`` / ``dtype``, they are set after construction instead.

    Args:
        cls: the model (or layer) class.
        config: its ``get_config()`` dict.

    Returns:
        The new instance.

    Raises:
        TypeError: the constructor rejects the config (message from :func:`call_from_config`).

    Example:
        >>> m2 = subclass_from_config(MyModel, m.get_config())
    """
    config = dict(config)
    try:
        return cls(**config)
    except TypeError:
        try:
            params = inspect.signature(cls.__init__).parameters
        except (TypeError, ValueError):
            raise
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            raise
        base = {k: config.pop(k) for k in ("name", "trainable", "dtype") if k in config and k not in params}
        if not base:
            raise
    obj = cls(**config)
    if "name" in base:
        obj.name = base["name"]
    if "trainable" in base:
        obj.trainable = bool(base["trainable"])
    return obj
