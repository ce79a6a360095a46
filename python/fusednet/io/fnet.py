"""The model file container (``.keras`` / ``.fnet``): a zip written atomically, holding

=============================  ==============================================================
``config.json``                the model: ``{"module", "class_name", "config", "registered_name",
                               "build_config", "compile_config"}`` (Keras 3 layout)
``metadata.json``              ``{"keras_version", "fusednet_version", "date_saved", "format"}``
``model.weights.safetensors``  every model weight, named by its path (``"dense/kernel"``)
``optimizer.safetensors``      optional: ``"iterations"`` (int64 scalar) and one entry per
                               optimizer slot and trainable weight, ``"<slot>/<index>"``
``rng_state.json``             optional: ``{"layers": [{"name", "seed", "offset"}]}``, the
                               random streams of seeded layers (Dropout, augmentation)
=============================  ==============================================================

This module only reads and writes the container; what goes in it is decided by
:mod:`fusednet.saving`. Files of the first format (``weights.safetensors``, no metadata) still
read. Every read is validated and raises ``ValueError`` naming the file and the member.
"""
import json
import os
import zipfile

import numpy as np

from ._atomic import atomic_write
from .weights import dumps, loads

__all__ = ["save_model", "load_model", "read_fnet", "read_archive", "write_archive",
           "CONFIG_NAME", "METADATA_NAME", "WEIGHTS_NAME", "OPTIMIZER_NAME", "RNG_NAME"]

CONFIG_NAME = "config.json"
METADATA_NAME = "metadata.json"
WEIGHTS_NAME = "model.weights.safetensors"
OPTIMIZER_NAME = "optimizer.safetensors"
RNG_NAME = "rng_state.json"
_LEGACY_WEIGHTS = "weights.safetensors"


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"config value {o!r} of type {type(o).__name__} is not JSON serialisable")


def write_archive(path, config, metadata, weights, optimizer=None, rng=None):
    """Write the container atomically (an error leaves any previous file untouched).

    Args:
        path: destination file.
        config: JSON-able dict (``config.json``).
        metadata: JSON-able dict (``metadata.json``).
        weights: list of ``(name, ndarray)`` (``model.weights.safetensors``).
        optimizer: optional list of ``(name, ndarray)`` (``optimizer.safetensors``).
        rng: optional JSON-able dict (``rng_state.json``).

    Raises:
        TypeError: naming ``path`` when the config holds a value JSON cannot store.

    Example:
        >>> write_archive("m.keras", {"class_name": "X", "config": {}}, {}, [("w", np.zeros(3))])
    """
    src = os.fspath(path)
    try:
        cfg_text = json.dumps(config, indent=2, default=_json_default)
        meta_text = json.dumps(metadata, indent=2, default=_json_default)
        rng_text = json.dumps(rng) if rng is not None else None
    except (TypeError, ValueError) as e:
        raise TypeError(f"{src}: cannot save the model config: {e}") from None
    blob = dumps(weights, metadata={"format": "fusednet"})
    opt_blob = dumps(optimizer, metadata={"format": "fusednet"}) if optimizer is not None else None
    with atomic_write(src) as f:
        with zipfile.ZipFile(f, "w") as z:
            z.writestr(CONFIG_NAME, cfg_text, compress_type=zipfile.ZIP_DEFLATED)
            z.writestr(METADATA_NAME, meta_text, compress_type=zipfile.ZIP_DEFLATED)
            z.writestr(WEIGHTS_NAME, blob, compress_type=zipfile.ZIP_STORED)
            if opt_blob is not None:
                z.writestr(OPTIMIZER_NAME, opt_blob, compress_type=zipfile.ZIP_STORED)
            if rng_text is not None:
                z.writestr(RNG_NAME, rng_text, compress_type=zipfile.ZIP_DEFLATED)


def _json_member(src, name, data):
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{src}: {name} is not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{src}: {name} is not a JSON object")
    return obj


def read_archive(path):
    """Read and validate every member of a model file.

    Returns:
        dict with ``config`` (dict), ``metadata`` (dict, ``{}`` for old files), ``weights``
        (dict name -> ndarray), ``optimizer`` (dict name -> ndarray, or None) and ``rng``
        (dict, or None).

    Raises:
        ValueError: naming ``path`` (and the member) when it is not a zip, lacks a member, or a
            member is corrupt or truncated.
        FileNotFoundError: when ``path`` does not exist.

    Example:
        >>> read_archive("m.keras")["optimizer"]["iterations"]
        array(300)
    """
    src = os.fspath(path)
    if not os.path.exists(src):
        raise FileNotFoundError(f"{src}: no such model file")
    if os.path.isdir(src):
        raise ValueError(f"{src}: is a directory, not a model file (expected a .keras / .fnet zip)")
    try:
        with zipfile.ZipFile(src) as z:
            members = set(z.namelist())
            wname = WEIGHTS_NAME if WEIGHTS_NAME in members else _LEGACY_WEIGHTS
            if wname not in members and "model.weights.h5" in members:
                raise ValueError(f"{src}: a Keras-written .keras file (HDF5 weights, model.weights.h5): "
                                 f"fusednet reads only its own files (safetensors weights)")
            for m in (CONFIG_NAME, wname):
                if m not in members:
                    raise ValueError(f"{src}: not a fusednet model file: missing {m}")
            raw = {m: z.read(m) for m in (CONFIG_NAME, METADATA_NAME, wname, OPTIMIZER_NAME, RNG_NAME)
                   if m in members}
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as e:
        raise ValueError(f"{src}: not a fusednet model file (corrupt or truncated zip: {e})") from None
    except (OSError, RuntimeError) as e:   # CRC errors, bad compression data
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{src}: not a fusednet model file (corrupt member: {e})") from None
    config = _json_member(src, CONFIG_NAME, raw[CONFIG_NAME])
    metadata = _json_member(src, METADATA_NAME, raw[METADATA_NAME]) if METADATA_NAME in raw else {}
    weights = loads(raw[wname], source=f"{src}!{wname}")
    optimizer = loads(raw[OPTIMIZER_NAME], source=f"{src}!{OPTIMIZER_NAME}") if OPTIMIZER_NAME in raw else None
    rng = _json_member(src, RNG_NAME, raw[RNG_NAME]) if RNG_NAME in raw else None
    return {"config": config, "metadata": metadata, "weights": weights, "optimizer": optimizer, "rng": rng}


def read_fnet(path):
    """Read a model file without building a model.

    Returns:
        ``(config: dict, weights: dict name -> ndarray)``.

    Raises:
        ValueError: naming ``path`` when it is not a zip, lacks a member, or a member is corrupt.

    Example:
        >>> config, weights = read_fnet("model.keras")
        >>> config["class_name"], list(weights)[:1]
        ('Sequential', ['dense/kernel'])
    """
    a = read_archive(path)
    return a["config"], a["weights"]


def save_model(model, path, overwrite=True, include_optimizer=True):
    """Save a model to a ``.keras`` / ``.fnet`` file: :func:`fusednet.saving.save_model`.

    Example:
        >>> save_model(model, "mnist.fnet"); model2 = load_model("mnist.fnet")
    """
    from ..saving import save_model as _save
    return _save(model, path, overwrite=overwrite, include_optimizer=include_optimizer)


def load_model(path, custom_objects=None, compile=True, safe_mode=True):
    """Rebuild a model saved with :func:`save_model`: :func:`fusednet.saving.load_model`.

    Raises:
        ValueError: corrupt file, unknown class ("cannot rebuild ..."), or weights not matching.
    """
    from ..saving import load_model as _load
    return _load(path, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
