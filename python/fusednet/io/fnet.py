"""``.fnet`` model files: a zip holding ``config.json`` (architecture, from ``model.get_config()``)
and ``weights.safetensors`` (from ``model.get_weights()``), written atomically."""
import json
import os
import zipfile

import numpy as np

from ._atomic import atomic_write
from .weights import dumps, loads, model_weight_names, _assign

__all__ = ["save_model", "load_model", "read_fnet"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.safetensors"


def _model_config(model):
    cfg = {"class_name": type(model).__name__, "module": type(model).__module__}
    get_config = getattr(model, "get_config", None)
    cfg["config"] = get_config() if callable(get_config) else {}
    compile_config = getattr(model, "get_compile_config", None)
    if callable(compile_config):
        try:
            cfg["compile_config"] = compile_config()
        except Exception:  # compile state is optional; never fail a save over it
            pass
    from .. import __version__
    cfg["fusednet_version"] = __version__
    return cfg


def save_model(model, path):
    """Save architecture + weights to a ``.fnet`` zip (atomic).

    Args:
        model: object with ``get_weights()`` and, for reloading with :func:`load_model`,
            ``get_config()`` whose class offers ``from_config``.
        path: destination, conventionally ``*.fnet``.

    Example:
        >>> save_model(model, "mnist.fnet"); model2 = load_model("mnist.fnet")
    """
    cfg = _model_config(model)
    arrays = [np.asarray(w) for w in model.get_weights()]
    names = model_weight_names(model, len(arrays))
    blob = dumps(list(zip(names, arrays)), metadata={"format": "fusednet"})
    with atomic_write(path) as f:
        with zipfile.ZipFile(f, "w") as z:
            z.writestr(CONFIG_NAME, json.dumps(cfg, indent=2, default=_json_default),
                       compress_type=zipfile.ZIP_DEFLATED)
            z.writestr(WEIGHTS_NAME, blob, compress_type=zipfile.ZIP_STORED)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"config value {o!r} of type {type(o).__name__} is not JSON serialisable")


def read_fnet(path):
    """Read a ``.fnet`` file without building a model.

    Returns:
        ``(config: dict, weights: dict name -> ndarray)``.

    Raises:
        ValueError: naming ``path`` when it is not a zip, lacks a member, or a member is corrupt.
    """
    src = os.fspath(path)
    try:
        with zipfile.ZipFile(src) as z:
            members = set(z.namelist())
            for m in (CONFIG_NAME, WEIGHTS_NAME):
                if m not in members:
                    raise ValueError(f"{src}: not a fusednet model file: missing {m}")
            config_bytes = z.read(CONFIG_NAME)
            weights_bytes = z.read(WEIGHTS_NAME)
    except (zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{src}: not a fusednet model file (corrupt or truncated zip: {e})") from None
    except zipfile.LargeZipFile as e:  # pragma: no cover
        raise ValueError(f"{src}: {e}") from None
    try:
        config = json.loads(config_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{src}: {CONFIG_NAME} is not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{src}: {CONFIG_NAME} is not a JSON object")
    weights = loads(weights_bytes, source=f"{src}!{WEIGHTS_NAME}")
    return config, weights


def load_model(path, custom_objects=None, compile=True):
    """Rebuild a model saved with :func:`save_model`.

    The class named in ``config.json`` is looked up in ``custom_objects`` then ``fusednet.models``
    (then ``fusednet``) and built with ``cls.from_config(config)``; weights are assigned with
    ``set_weights`` (count and shapes checked). If the model can ``compile`` and a compile config
    was saved, it is compiled again when ``compile`` is true.

    Raises:
        ValueError: corrupt file, unknown class, or weights not matching the architecture.
    """
    src = os.fspath(path)
    config, weights = read_fnet(src)
    cls_name = config.get("class_name")
    cls = (custom_objects or {}).get(cls_name)
    if cls is None:
        import importlib
        for modname in ("fusednet.models", "fusednet"):
            try:
                cls = getattr(importlib.import_module(modname), cls_name, None)
            except ImportError:
                cls = None
            if cls is not None:
                break
    if cls is None or not hasattr(cls, "from_config"):
        raise ValueError(f"{src}: cannot rebuild model class {cls_name!r} (pass it in custom_objects)")
    model = cls.from_config(config.get("config", {}))
    _assign(model, weights, src)
    cc = config.get("compile_config")
    if compile and cc and hasattr(model, "compile_from_config"):
        model.compile_from_config(cc)
    return model
