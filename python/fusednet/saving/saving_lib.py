"""``save_model`` / ``load_model``: whole models in one ``.keras`` / ``.fnet`` file.

What is stored (container layout in :mod:`fusednet.io.fnet`): the model's serialised config
(:func:`~fusednet.saving.serialize_keras_object`: functional graphs, Sequential stacks, or a
registered subclass's ``get_config()``), its build config (the input shape, for subclassed
models), its compile config (optimizer, losses, metrics, loss weights), every weight by name, the
optimizer state (iteration count and slots) and the position of every seeded layer's random
stream (``Dropout(seed=...)``, augmentation), so that training resumes bit for bit. The global
stream of :mod:`fusednet.random` (shuffling, unseeded layers) belongs to the process, not to
the model, and is not stored (Keras neither).
"""
import datetime
import os

import numpy as np

from .registration import CustomObjectScope, get_registered_name
from .serialization import call_from_config, resolve_class, serialize_keras_object

__all__ = ["save_model", "load_model", "model_from_json", "save_weights", "load_weights"]

_EXTS = (".keras", ".fnet")


def _check_path(filepath, what):
    src = os.fspath(filepath)
    low = src.lower()
    if low.endswith((".h5", ".hdf5")):
        raise ValueError(f"{what}: {src}: the legacy HDF5 format is not supported by fusednet. Save the whole "
                         f"model with a '.keras' (or '.fnet') extension, or only its weights with "
                         f"model.save_weights('{os.path.splitext(src)[0]}.weights.safetensors')")
    if not low.endswith(_EXTS):
        raise ValueError(f"{what}: invalid filepath extension for saving: {src!r}. Use a '.keras' "
                         f"(or '.fnet') extension, e.g. model.save('model.keras')")
    return src


OWN_PREFIX = "__own__/"


def _hook_layers(model, method):
    """(path, layer) of the layers (nested models searched) whose class overrides
    ``Layer.<method>``."""
    from ..layers.base import Layer
    out, stack = [], [("", model)]
    while stack:
        prefix, m = stack.pop()
        for l in getattr(m, "layers", None) or []:
            path = prefix + l.name
            if getattr(type(l), method, None) is not getattr(Layer, method):
                out.append((path, l))
            if getattr(l, "layers", None):
                stack.append((path + "/", l))
    return out


def _own_variables(model):
    """The entries of ``save_own_variables`` of every user layer that overrides it."""
    out = []
    for path, layer in _hook_layers(model, "save_own_variables"):
        store = {}
        layer.save_own_variables(store)
        for k, v in store.items():
            out.append((f"{OWN_PREFIX}{path}/{k}", np.asarray(v)))
    return out


def _load_own_variables(model, own, src):
    """Hand each layer overriding ``load_own_variables`` its saved store (its weights as
    ``"0"``, ``"1"``... when its class saved nothing of its own)."""
    for path, layer in _hook_layers(model, "load_own_variables"):
        pre = f"{OWN_PREFIX}{path}/"
        store = {n[len(pre):]: a for n, a in own.items() if n.startswith(pre)}
        if not store:
            store = {str(i): np.asarray(w.numpy()) for i, w in enumerate(layer.weights)}
        try:
            layer.load_own_variables(store)
        except (KeyError, ValueError, TypeError) as e:
            raise ValueError(f"{src}: layer '{path}'.load_own_variables failed on the saved entries "
                             f"{sorted(store)}: {e}") from e


def _input_shape(model):
    shp = getattr(model, "input_shape", None)
    if shp is None:
        return None
    if isinstance(shp, list):
        return [[None] + list(s[1:]) for s in shp]
    return [None] + list(shp[1:])


def _optimizer_state(model):
    """[(name, ndarray)] of the optimizer's iterations and slots, or None when not built."""
    from ..optimizers import Optimizer
    opt = getattr(model, "optimizer", None)
    if not isinstance(opt, Optimizer):
        return None
    out = [("iterations", np.array(int(opt.iterations), np.int64))]
    if opt._vars is None:
        return out
    tw = model.trainable_weights
    if len(tw) != len(opt._vars) or any(w.data.data_ptr != v.data_ptr for w, v in zip(tw, opt._vars)):
        return out      # built for other variables: only the count can be matched again
    for name in opt._slot_names:
        for i, s in enumerate(opt._slots.get(name, [])):
            host = s if s.device == "cpu" else s.to("cpu")      # slots live with the weights
            out.append((f"{name}/{i:04d}", np.array(host.numpy(), copy=True)))
    return out


def _seeded_layers(model):
    """Layers holding their own random stream (Dropout / augmentation with ``seed=``), depth first."""
    out, seen = [], set()

    def walk(m):
        for l in list(getattr(m, "layers", None) or []):
            if id(l) in seen:
                continue
            seen.add(id(l))
            if getattr(l, "_stream", None) is not None:
                out.append(l)
            if hasattr(l, "_flat_layers"):
                walk(l)
    walk(model)
    return out


def _rng_state(model):
    layers = _seeded_layers(model)
    if not layers:
        return None
    return {"layers": [{"name": l.name, "seed": int(l._stream.seed), "offset": int(l._stream.offset)}
                       for l in layers]}


def _restore_rng(model, state, src):
    from ..io.fnet import RNG_NAME
    layers = _seeded_layers(model)
    saved = state.get("layers", [])
    if len(saved) != len(layers):
        raise ValueError(f"{src}!{RNG_NAME}: {len(saved)} seeded layers in the file but the model has "
                         f"{len(layers)}")
    for l, e in zip(layers, saved):
        if int(e.get("seed", -1)) != l._stream.seed:
            raise ValueError(f"{src}!{RNG_NAME}: layer '{l.name}' has seed {l._stream.seed} but the file "
                             f"holds the stream of seed {e.get('seed')} (layer '{e.get('name')}')")
        l._stream.offset = int(e["offset"])


def save_model(model, filepath, overwrite=True, include_optimizer=True, **kwargs):
    """Save architecture, weights, compile config and optimizer state to one file (atomic).

    Args:
        model: a :class:`fusednet.Model` (functional, Sequential or registered subclass), or
            any object with ``get_config`` / ``get_weights``.
        filepath: destination ending in ``.keras`` or ``.fnet`` (``.h5`` raises: not supported).
        overwrite: when False and the file exists, raise ``FileExistsError``.
        include_optimizer: also store the optimizer's iteration count and slots.

    Raises:
        ValueError: bad extension; TypeError: a config value that cannot be stored.

    Example:
        >>> model.save("mnist.keras")                  # same as save_model(model, "mnist.keras")
        >>> model2 = fusednet.models.load_model("mnist.keras")
    """
    if kwargs.pop("save_format", None) not in (None, "keras", "fnet"):
        raise ValueError("save_model: only the '.keras' zip format is supported")
    kwargs.pop("zipped", None)
    if kwargs:
        raise TypeError(f"save_model: unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
    src = _check_path(filepath, "save_model")
    if not overwrite and os.path.exists(src):
        raise FileExistsError(f"save_model: {src} exists and overwrite=False")
    from ..io.weights import model_weight_names
    from .. import __version__
    if callable(getattr(model, "get_config", None)):
        config = serialize_keras_object(model)
    else:   # weights-only objects (no architecture): saved, but load_model cannot rebuild them
        cls = type(model)
        config = {"module": cls.__module__, "class_name": cls.__name__, "config": {},
                  "registered_name": get_registered_name(cls)}
    shp = _input_shape(model)
    if shp is not None:
        config["build_config"] = {"input_shape": shp}
    cc = getattr(model, "get_compile_config", None)
    if callable(cc):
        c = cc()
        if c:
            config["compile_config"] = c
    built = getattr(model, "built", True)       # an unbuilt model saves its config alone (Keras)
    arrays = [np.asarray(w) for w in model.get_weights()] if built else []
    names = model_weight_names(model, len(arrays)) if built else []
    from ..pruning.prune import save_state as _pruning_state
    pcfg, masks = _pruning_state(model) if built else (None, [])
    if pcfg:        # masks as extra weight entries, schedules and steps in the config
        config["pruning_config"] = pcfg
        names, arrays = names + [n for n, _ in masks], arrays + [a for _, a in masks]
    if built:      # user layers' save_own_variables: extra entries under OWN_PREFIX
        own = _own_variables(model)
        names, arrays = names + [n for n, _ in own], arrays + [a for _, a in own]
    opt = _optimizer_state(model) if include_optimizer else None
    metadata = {"keras_version": "3 (fusednet " + __version__ + ")", "fusednet_version": __version__,
                "date_saved": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d@%H:%M:%S"),
                "format": "fusednet.keras/1"}
    from ..io.fnet import write_archive
    write_archive(src, config, metadata, list(zip(names, arrays)), opt, _rng_state(model))


def _subclassed(model):
    f = getattr(model, "_is_subclassed", None)
    return bool(callable(f) and f())


def _assign_weights(model, loaded, src):
    from ..io.fnet import WEIGHTS_NAME
    from ..io.weights import model_weight_names
    where = f"{src}!{WEIGHTS_NAME}"
    current = [np.asarray(w) for w in model.get_weights()]
    names = model_weight_names(model, len(current))
    if set(loaded) == set(names):
        arrays = [loaded[n] for n in names]
    elif (all(n.isdigit() for n in loaded) or all(n.isdigit() for n in names) or
          _subclassed(model)):   # a subclass's inner layers are renamed on rebuild: by position
        if len(loaded) != len(current):
            raise ValueError(f"{where}: the file holds {len(loaded)} weights but the model has {len(current)}")
        arrays = list(loaded.values())
    else:
        missing = [n for n in names if n not in loaded]
        extra = [n for n in loaded if n not in names]
        if missing:
            raise ValueError(f"{where}: weights entry {missing[0]!r} is missing from the file "
                             f"({len(missing)} missing; the model expects {len(names)} weights)")
        raise ValueError(f"{where}: unexpected weights entr{'y' if len(extra) == 1 else 'ies'} "
                         f"{extra[:3]} that the model does not have")
    for name, cur, new in zip(names, current, arrays):
        if tuple(cur.shape) != tuple(new.shape):
            raise ValueError(f"{where}: weight {name!r} has shape {tuple(new.shape)} in the file but the "
                             f"model expects {tuple(cur.shape)}")
    model.set_weights([a.astype(c.dtype, copy=False) for a, c in zip(arrays, current)])


def _restore_optimizer(model, state, src):
    from .. import _C
    from ..io.fnet import OPTIMIZER_NAME
    where = f"{src}!{OPTIMIZER_NAME}"
    opt = model.optimizer
    if "iterations" not in state:
        raise ValueError(f"{where}: entry 'iterations' is missing")
    iterations = int(np.asarray(state["iterations"]).reshape(()))
    slot_keys = [k for k in state if k != "iterations"]
    if slot_keys:
        tw = model.trainable_weights
        slots = {}
        for name in opt._slot_names:
            arrs = []
            for i, w in enumerate(tw):
                key = f"{name}/{i:04d}"
                if key not in state:
                    raise ValueError(f"{where}: optimizer entry {key!r} is missing (slot {name!r} of weight "
                                     f"{w.name}; {type(opt).__name__} has slots {list(opt._slot_names)})")
                a = state[key]
                if tuple(a.shape) != tuple(w.shape):
                    raise ValueError(f"{where}: optimizer entry {key!r} has shape {tuple(a.shape)} but weight "
                                     f"{w.name} has shape {tuple(w.shape)}")
                arr = _C.asarray(np.ascontiguousarray(a, dtype=np.float32))
                if w.data.device != "cpu":
                    arr = arr.to(w.data.device)
                arrs.append(arr)
            slots[name] = arrs
        extra = [k for k in slot_keys if k.split("/")[0] not in opt._slot_names]
        if extra:
            raise ValueError(f"{where}: entries {extra[:3]} do not belong to {type(opt).__name__} "
                             f"(slots {list(opt._slot_names)})")
        opt._vars = [w.data for w in tw]
        opt._slots = slots
        opt.built = True
    opt.iterations = iterations


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Rebuild a model saved by :func:`save_model` / ``model.save``.

    Args:
        filepath: a ``.keras`` / ``.fnet`` file.
        custom_objects: dict ``{name: class_or_function}`` for custom layers, models, losses,
            metrics (also found when registered or inside :func:`custom_object_scope`).
        compile: compile the model again with the saved compile config (and restore the
            optimizer state) when there is one.
        safe_mode: kept for Keras compatibility; fusednet files hold no code, so loading never
            executes any.

    Returns:
        The model, with its weights (and optimizer state) as saved.

    Raises:
        ValueError: naming the file and the item: corrupt or truncated file, unknown class,
            missing weights entry, shape mismatch.

    Example:
        >>> model = fusednet.models.load_model("mnist.keras")
        >>> model.fit(x, y, epochs=1)     # continues where the saved model stopped
    """
    src = os.fspath(filepath)
    if src.lower().endswith((".h5", ".hdf5")):
        _check_path(src, "load_model")
    from ..io.fnet import read_archive
    archive = read_archive(src)
    config = archive["config"]
    cls_name = config.get("class_name")
    if not isinstance(cls_name, str):
        raise ValueError(f"{src}: config.json has no class_name")
    module, registered = config.get("module"), config.get("registered_name")
    with CustomObjectScope(custom_objects):
        cls = resolve_class(cls_name, module, registered, custom_objects, kinds=("models",))
        if cls is None or not hasattr(cls, "from_config"):
            raise ValueError(f"{src}: cannot rebuild model class {registered or cls_name!r} (module {module!r}): "
                             f"it is not a fusednet model and is not registered. Decorate the class with "
                             f"@fusednet.saving.register_keras_serializable() or pass "
                             f"custom_objects={{{cls_name!r}: {cls_name}}} to load_model")
        try:
            model = call_from_config(cls, config.get("config", {}), custom_objects)
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"{src}: cannot rebuild {cls_name!r} from config.json: {e}") from e
        shp = (config.get("build_config") or {}).get("input_shape")
        if shp is not None and not getattr(model, "built", True):
            shape = [tuple(s) for s in shp] if shp and isinstance(shp[0], list) else tuple(shp)
            try:
                model.build(shape)
            except (TypeError, ValueError) as e:
                raise ValueError(f"{src}: cannot build {cls_name!r} on the saved input shape {shp}: {e}") from e
        weights = archive["weights"]
        pcfg = config.get("pruning_config")
        if pcfg:
            from ..pruning.prune import MASK_PREFIX, restore_state
            masks = {n: a for n, a in weights.items() if n.startswith(MASK_PREFIX)}
            weights = {n: a for n, a in weights.items() if not n.startswith(MASK_PREFIX)}
        own = {n: a for n, a in weights.items() if n.startswith(OWN_PREFIX)}
        weights = {n: a for n, a in weights.items() if not n.startswith(OWN_PREFIX)}
        if getattr(model, "built", True) or weights:
            _assign_weights(model, weights, src)
        _load_own_variables(model, own, src)
        if pcfg:
            restore_state(model, pcfg, masks, src)
        if archive.get("rng") is not None:
            _restore_rng(model, archive["rng"], src)
        cc = config.get("compile_config")
        if compile and cc and hasattr(model, "compile_from_config"):
            try:
                model.compile_from_config(cc)
            except (TypeError, ValueError) as e:
                raise ValueError(f"{src}: cannot compile from the saved compile config: {e}") from e
            if archive["optimizer"] is not None and getattr(model, "optimizer", None) is not None:
                _restore_optimizer(model, archive["optimizer"], src)
    return model


def model_from_json(json_string, custom_objects=None):
    """Rebuild an architecture (fresh weights) from ``model.to_json()``.

    Args:
        json_string: the JSON text of a serialised model (``{"class_name", "config", ...}``).
        custom_objects: optional dict for custom classes.

    Returns:
        The model (not compiled; weights freshly initialised).

    Raises:
        ValueError: invalid JSON or an unknown class.

    Example:
        >>> clone = fusednet.models.model_from_json(model.to_json())
        >>> clone.set_weights(model.get_weights())
    """
    import json
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as e:
        raise ValueError(f"model_from_json: not valid JSON ({e})") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("model_from_json: expected a serialised model {'class_name': ..., 'config': ...}")
    with CustomObjectScope(custom_objects):
        cls = resolve_class(config["class_name"], config.get("module"), config.get("registered_name"),
                            custom_objects, kinds=("models",))
        if cls is None:
            raise ValueError(f"model_from_json: unknown model class {config['class_name']!r}; register it with "
                             f"@fusednet.saving.register_keras_serializable() or pass custom_objects")
        model = call_from_config(cls, config.get("config", {}), custom_objects)
        shp = (config.get("build_config") or {}).get("input_shape")
        if shp is not None and not getattr(model, "built", True):
            model.build([tuple(s) for s in shp] if shp and isinstance(shp[0], list) else tuple(shp))
    return model


def save_weights(model, filepath, overwrite=True):
    """``model.save_weights(filepath)``: every weight in one safetensors file (Keras 3's
    ``keras.saving.save_weights``; an ``.h5`` path raises, like :func:`save_model`).

    Args:
        model: the model.
        filepath: destination, conventionally ``*.weights.safetensors``.
        overwrite: when False and the file exists, raise.

    Example:
        >>> fusednet.saving.save_weights(model, "ckpt.weights.safetensors")
    """
    if os.fspath(filepath).lower().endswith((".h5", ".hdf5")):
        raise ValueError(f"save_weights: {os.fspath(filepath)}: HDF5 is not supported; use a "
                         f"'.weights.safetensors' path")
    return model.save_weights(filepath, overwrite=overwrite)


def load_weights(model, filepath):
    """``model.load_weights(filepath)`` (names and shapes checked; see :func:`save_weights`).

    Args:
        model: a built model with the saved architecture.
        filepath: a file written by :func:`save_weights`.

    Example:
        >>> fusednet.saving.load_weights(model, "ckpt.weights.safetensors")
    """
    return model.load_weights(filepath)
