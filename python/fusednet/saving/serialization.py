"""``serialize_keras_object`` / ``deserialize_keras_object``: objects <-> JSON-able dicts.

An object with ``get_config`` becomes ``{"module", "class_name", "config", "registered_name"}``
(Keras 3's layout); a named function ``{"module", "class_name": "function", "config": name,
"registered_name"}``; plain values, lists and dicts are kept (tuples become lists, NumPy scalars
Python numbers). Rebuilding looks the name up in ``custom_objects``, the active
:func:`~fusednet.saving.custom_object_scope`, the global registry, then fusednet's own classes
(picked by the ``module`` field: layers, models, losses, metrics, optimizers, schedules,
initializers, regularizers, activations).
"""
import inspect

import numpy as np

from .registration import get_registered_name, get_registered_object

__all__ = ["serialize_keras_object", "deserialize_keras_object", "builtin_objects", "resolve_class",
           "call_from_config"]

_KINDS = ("layers", "models", "losses", "metrics", "optimizers", "schedules", "initializers",
          "regularizers", "activations")


_TABLES = {}


def builtin_objects(kind):
    """fusednet's own serialisable classes and functions of one kind ('layers', 'losses', ...).

    Args:
        kind: one of 'layers', 'models', 'losses', 'metrics', 'optimizers', 'schedules',
            'initializers', 'regularizers', 'activations'.

    Returns:
        dict ``{name: object}`` (built once per kind).

    Example:
        >>> builtin_objects("layers")["Dense"] is fusednet.layers.Dense
        True
    """
    table = _TABLES.get(kind)
    if table is None:
        table = _TABLES[kind] = _scan(kind)
    return table


def _scan(kind):
    import importlib
    if kind == "models":
        from .. import models
        from ..models.multi_output import OutputSelect   # the outputs of a nested multi-output model
        return {"Model": models.Model, "Functional": models.Model, "Sequential": models.Sequential,
                "OutputSelect": OutputSelect}
    mod = importlib.import_module(f"fusednet.{kind}")
    out = {}
    for k, v in vars(mod).items():
        if k.startswith("_"):
            continue
        if isinstance(v, type) and hasattr(v, "get_config"):
            out[k] = v
        elif inspect.isfunction(v) and kind in ("losses", "metrics", "activations"):
            out[k] = v
    return out


def _kind_of(module):
    module = module or ""
    parts = module.split(".")
    if parts[0] == "fusednet" and len(parts) > 1 and parts[1] in _KINDS:
        return parts[1]
    return None


def resolve_class(class_name, module=None, registered_name=None, custom_objects=None, kinds=None):
    """The class / function a serialised entry names, or None.

    Args:
        class_name: the entry's ``class_name``.
        module: its ``module`` (selects fusednet's table first).
        registered_name: its ``registered_name`` (``"Package>Name"`` for registered objects).
        custom_objects: optional dict from the caller.
        kinds: built-in tables to search when ``module`` names none (default: all).

    Returns:
        The class or function, or None when nothing matches (a class from a user module is
        only found when registered or in ``custom_objects``: it is never imported by path).

    Example:
        >>> resolve_class("Adam", "fusednet.optimizers") is fusednet.optimizers.Adam
        True
    """
    for nm in (registered_name, class_name):
        if nm:
            obj = get_registered_object(nm, custom_objects)
            if obj is not None:
                return obj
    kind = _kind_of(module)
    order = ([kind] if kind else []) + [k for k in (kinds or _KINDS) if k != kind]
    if kind is None and module and not module.startswith("fusednet"):
        return None     # a user module: only registered / custom objects may rebuild it
    for k in order:
        obj = builtin_objects(k).get(class_name)
        if obj is not None:
            return obj
    return None


def _accepts_custom_objects(fn):
    try:
        return "custom_objects" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def call_from_config(cls, config, custom_objects=None):
    """``cls.from_config(config)``, passing ``custom_objects`` when ``from_config`` takes it.

    Args:
        cls: the class to rebuild.
        config: its ``get_config()`` dict.
        custom_objects: optional dict handed on to container classes (models).

    Returns:
        The new object.

    Example:
        >>> layer = call_from_config(fusednet.layers.Dense, {"units": 3})

    Raises:
        TypeError: naming the class and the config keys when the constructor rejects them.
    """
    fc = cls.from_config
    try:
        if _accepts_custom_objects(fc):
            return fc(config, custom_objects=custom_objects)
        return fc(config)
    except TypeError as e:
        raise TypeError(f"{cls.__name__}.from_config could not rebuild the object from its config "
                        f"(keys {sorted(config) if isinstance(config, dict) else config!r}): {e}. "
                        f"Make get_config() return every constructor argument, or override "
                        f"from_config().") from e


def serialize_keras_object(obj):
    """A JSON-able description of ``obj`` (see the module docstring).

    Args:
        obj: None, a number, string, list/tuple/dict of those, an object with ``get_config``, or
            a named (module-level) function.

    Returns:
        The JSON-able value.

    Raises:
        TypeError: for objects that cannot be described (lambdas, objects without ``get_config``).

    Example:
        >>> serialize_keras_object(fusednet.optimizers.Adam(1e-3))["class_name"]
        'Adam'
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(o) for o in obj]
    if isinstance(obj, dict):
        return {str(k): serialize_keras_object(v) for k, v in obj.items()}
    cls = type(obj)
    if isinstance(obj, type):
        raise TypeError(f"serialize_keras_object: cannot serialise the class {obj.__name__!r} itself; "
                        f"pass an instance")
    if hasattr(obj, "get_config") and not inspect.isfunction(obj):
        cfg = obj.get_config()
        name = cls.__name__
        if cls.__module__.startswith("fusednet.models") and getattr(obj, "_graph", None) is not None \
                and cls.__name__ == "Model":
            name = "Functional"
        out = {"module": cls.__module__, "class_name": name, "config": serialize_keras_object(cfg),
               "registered_name": get_registered_name(cls) if not cls.__module__.startswith("fusednet.")
               else name}
        bc = _custom_build_config(obj)
        if bc is not None:
            out["build_config"] = serialize_keras_object(bc)
        return out
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        if obj.__name__ == "<lambda>":
            raise TypeError("serialize_keras_object: lambdas cannot be saved; use a named, registered "
                            "function (fusednet.saving.register_keras_serializable)")
        return {"module": obj.__module__, "class_name": "function", "config": obj.__name__,
                "registered_name": get_registered_name(obj)}
    raise TypeError(f"serialize_keras_object: cannot serialise {obj!r} of type {cls.__name__} "
                    f"(it has no get_config())")


def _own_function(module, name):
    import importlib
    if name.startswith("_"):
        return None
    try:
        obj = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return obj if inspect.isfunction(obj) else None


def _is_entry(d):
    return isinstance(d, dict) and "class_name" in d and "config" in d


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, module_objects=None, **kwargs):
    """Rebuild what :func:`serialize_keras_object` described.

    Args:
        config: a serialised entry (dict with ``class_name``/``config``), a name (looked up and
            returned as is: a function, or a class instantiated without arguments), or a plain value.
        custom_objects: optional dict ``{name: class_or_function}``.
        safe_mode: kept for Keras compatibility: fusednet never saves lambdas or code, so loading
            never executes saved code.
        module_objects: optional dict of extra built-in objects searched last.

    Returns:
        The object.

    Raises:
        ValueError: an unknown class or function name (the message says how to register it).

    Example:
        >>> opt = deserialize_keras_object({"class_name": "Adam", "config": {"learning_rate": 0.01}})
    """
    if config is None or isinstance(config, (bool, int, float)):
        return config
    if isinstance(config, str):
        obj = get_registered_object(config, custom_objects, module_objects)
        if obj is None:
            for k in _KINDS:
                obj = builtin_objects(k).get(config)
                if obj is not None:
                    break
        if obj is None:
            raise ValueError(f"deserialize_keras_object: unknown object {config!r}. Register it with "
                             f"@fusednet.saving.register_keras_serializable() or pass custom_objects")
        return obj() if isinstance(obj, type) else obj
    if isinstance(config, list):
        return [deserialize_keras_object(c, custom_objects, safe_mode, module_objects) for c in config]
    if not _is_entry(config):
        if isinstance(config, dict):
            return {k: deserialize_keras_object(v, custom_objects, safe_mode, module_objects)
                    for k, v in config.items()}
        raise TypeError(f"deserialize_keras_object: cannot interpret {config!r}")
    class_name = config["class_name"]
    module = config.get("module")
    registered = config.get("registered_name")
    if class_name == "function":
        fname = config["config"]
        obj = resolve_class(registered or fname, module, registered, custom_objects) or \
            resolve_class(fname, module, None, custom_objects)
        if obj is None and module_objects:
            obj = module_objects.get(fname)
        if obj is None and isinstance(module, str) and (module == "fusednet" or module.startswith("fusednet.")):
            obj = _own_function(module, fname)  # fusednet's own public functions (e.g. fusednet.ops.square)
        if obj is None:
            raise ValueError(f"deserialize_keras_object: unknown function {registered or fname!r} (module "
                             f"{module!r}). Register it with @fusednet.saving.register_keras_serializable() "
                             f"or pass custom_objects={{{fname!r}: {fname}}}")
        return obj
    cls = resolve_class(class_name, module, registered, custom_objects)
    if cls is None and module_objects:
        cls = module_objects.get(class_name)
    if cls is None:
        raise ValueError(f"deserialize_keras_object: unknown class {registered or class_name!r} (module "
                         f"{module!r}). Decorate it with @fusednet.saving.register_keras_serializable() "
                         f"or pass custom_objects={{{class_name!r}: {class_name}}}")
    if not hasattr(cls, "from_config"):
        raise ValueError(f"deserialize_keras_object: {class_name!r} has no from_config()")
    obj = call_from_config(cls, config["config"], custom_objects)
    bc = config.get("build_config")
    if bc is not None and _overrides(obj, "build_from_config") and not getattr(obj, "built", True):
        obj.build_from_config(bc)       # Keras 3: a layer's own build_from_config, before any call
    return obj


def _overrides(obj, method):
    """True when ``obj``'s class overrides ``Layer.<method>`` (user saving hooks)."""
    from ..layers.base import Layer
    return isinstance(obj, Layer) and getattr(type(obj), method) is not getattr(Layer, method)


def _custom_build_config(obj):
    """A user layer's ``get_build_config()`` when its class overrides it (else None: fusednet's
    own layers are rebuilt from the model's shapes)."""
    return obj.get_build_config() if _overrides(obj, "get_build_config") else None
