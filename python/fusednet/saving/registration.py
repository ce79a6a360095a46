"""The custom-object registry (Keras 3 ``keras.saving`` names).

Two sources of user classes and functions are consulted when a saved config is rebuilt, after
the ``custom_objects`` argument itself: the innermost :func:`custom_object_scope`, then the
global registry filled by :func:`register_keras_serializable` (or by writing into
:func:`get_custom_objects`). This module imports nothing from fusednet, so any module may use it.
"""
import threading

__all__ = ["register_keras_serializable", "get_custom_objects", "custom_object_scope",
           "get_registered_name", "get_registered_object", "CustomObjectScope"]

_GLOBAL_CUSTOM_OBJECTS = {}     # registered name ("Package>Name") -> class / function
_GLOBAL_CUSTOM_NAMES = {}       # class / function -> registered name
_SCOPE = threading.local()


def get_custom_objects():
    """The global registry: a live dict ``{registered_name: class_or_function}``.

    Returns:
        dict; entries written into it are found by name when configs are rebuilt.

    Example:
        >>> fusednet.saving.get_custom_objects()["MyLayer"] = MyLayer
    """
    return _GLOBAL_CUSTOM_OBJECTS


def register_keras_serializable(package="Custom", name=None):
    """Class/function decorator registering ``obj`` under ``"{package}>{name}"``.

    Args:
        package: namespace of the registered name (default 'Custom').
        name: defaults to the class / function name.

    Returns:
        The decorator (it returns ``obj`` unchanged).

    Raises:
        ValueError: a class without ``get_config``, or a name already used by another object.

    Example:
        >>> @fusednet.saving.register_keras_serializable(package="my_pkg")
        ... class Scale(fusednet.layers.Layer):
        ...     def get_config(self):
        ...         return super().get_config()
    """
    def decorator(obj):
        nm = name if name is not None else getattr(obj, "__name__", None)
        if not nm or not isinstance(nm, str):
            raise ValueError(f"register_keras_serializable: cannot name {obj!r}; pass name=")
        key = f"{package}>{nm}"
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise ValueError(f"register_keras_serializable: cannot register class {obj.__name__!r}: it has "
                             f"no get_config() method")
        prev = _GLOBAL_CUSTOM_OBJECTS.get(key)
        if prev is not None and prev is not obj and getattr(prev, "__qualname__", None) != \
                getattr(obj, "__qualname__", None):
            raise ValueError(f"register_keras_serializable: {key!r} is already registered to {prev!r}")
        _GLOBAL_CUSTOM_OBJECTS[key] = obj
        _GLOBAL_CUSTOM_NAMES[obj] = key
        return obj
    return decorator


def get_registered_name(obj):
    """Registered name of a class or function (``"Package>Name"``), else its ``__name__``.

    Args:
        obj: a class or function.

    Returns:
        str

    Example:
        >>> get_registered_name(fusednet.layers.Dense)
        'Dense'
    """
    if obj in _GLOBAL_CUSTOM_NAMES:
        return _GLOBAL_CUSTOM_NAMES[obj]
    return getattr(obj, "__name__", type(obj).__name__)


def _scopes():
    st = getattr(_SCOPE, "stack", None)
    if st is None:
        st = _SCOPE.stack = []
    return st


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The class / function for ``name``: ``custom_objects``, then the active
    :func:`custom_object_scope` (innermost first), the global registry, then ``module_objects``.

    Args:
        name: registered name or class name.
        custom_objects: optional dict.
        module_objects: optional dict of built-in objects.

    Returns:
        The object, or None when nothing matches.

    Example:
        >>> get_registered_object("Custom>Scale") is Scale    # after @register_keras_serializable()
        True
    """
    for table in (custom_objects or {}, *reversed(_scopes()), _GLOBAL_CUSTOM_OBJECTS, module_objects or {}):
        if name in table:
            return table[name]
    return None


class CustomObjectScope:
    """Context manager making ``custom_objects`` visible to every rebuild inside it.

    Args:
        custom_objects: one or more dicts ``{name: class_or_function}``.

    Example:
        >>> with fusednet.saving.custom_object_scope({"MyLayer": MyLayer}):
        ...     model = fusednet.models.load_model("m.keras")
    """

    def __init__(self, *custom_objects):
        self.custom_objects = {}
        for d in custom_objects:
            if d:
                self.custom_objects.update(d)

    def __enter__(self):
        _scopes().append(self.custom_objects)
        return self

    def __exit__(self, *exc):
        st = _scopes()
        if st and st[-1] is self.custom_objects:
            st.pop()
        return False


custom_object_scope = CustomObjectScope

