"""Weights in the safetensors format, written by hand (no runtime dependency).

File layout (https://github.com/huggingface/safetensors): 8-byte little-endian header length ``n``,
``n`` bytes of UTF-8 JSON ``{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
"__metadata__": {str: str}}`` padded with spaces to a multiple of 8, then the raw little-endian
C-order tensor bytes; offsets are relative to the end of the header and tile the data exactly.
Files written here load with the ``safetensors`` package and vice versa (F32, F16, F64, I8..I64,
U8, BOOL).

Writes are atomic (temp file in the same directory, fsync, ``os.replace``): a crash leaves either
the old file or the new one. Loading validates the header, dtypes, shapes, offsets and sizes and
raises ``ValueError`` naming the file on any corruption or truncation.
"""
import json
import os
import struct

import numpy as np

from ._atomic import atomic_write

__all__ = ["save_weights", "load_weights", "dumps", "loads", "save_model_weights", "load_model_weights",
           "model_weight_names"]

_DTYPES = {
    "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8"),
    "I8": np.dtype("i1"), "I16": np.dtype("<i2"), "I32": np.dtype("<i4"), "I64": np.dtype("<i8"),
    "U8": np.dtype("u1"), "U16": np.dtype("<u2"), "U32": np.dtype("<u4"), "U64": np.dtype("<u8"),
    "BOOL": np.dtype("?"),
}
_CODES = {np.dtype(v).newbyteorder("=") if v.byteorder != "|" else v: k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024  # same cap as the safetensors reference implementation


def _code_of(arr, name):
    key = arr.dtype.newbyteorder("=") if arr.dtype.byteorder not in ("|", "=") else arr.dtype
    for dt, code in _CODES.items():
        if key == dt:
            return code
    raise TypeError(f"save_weights: weight {name!r} has unsupported dtype {arr.dtype} "
                    f"(supported: float16/32/64, int8..int64, uint8..uint64, bool)")


def _items(weights):
    """Normalise dict / list of (name, array) / list of arrays into [(name, ndarray)]."""
    if isinstance(weights, dict):
        items = list(weights.items())
    else:
        items = list(weights)
        if items and all(isinstance(it, tuple) and len(it) == 2 and isinstance(it[0], str) for it in items):
            pass
        else:
            items = [(f"{i:04d}", w) for i, w in enumerate(items)]
    out, seen = [], set()
    for name, w in items:
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(f"save_weights: invalid weight name {name!r}")
        if name in seen:
            raise ValueError(f"save_weights: duplicate weight name {name!r}")
        seen.add(name)
        if hasattr(w, "numpy") and not isinstance(w, np.ndarray):
            w = w.numpy()
        out.append((name, np.asarray(w)))
    return out


def dumps(weights, metadata=None):
    """Serialise weights to safetensors bytes.

    Args:
        weights: dict ``{name: array}`` (order kept), list of ``(name, array)`` pairs, or a plain
            list of arrays (named ``"0000"``, ``"0001"``, ...).
        metadata: optional ``{str: str}`` stored under ``"__metadata__"``.

    Returns:
        bytes
    """
    items = _items(weights)
    header, offset, blobs = {}, 0, []
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("save_weights: metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    for name, arr in items:
        code = _code_of(arr, name)
        data = np.ascontiguousarray(arr, dtype=_DTYPES[code]).tobytes()
        header[name] = {"dtype": code, "shape": [int(d) for d in arr.shape],
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)
    return struct.pack("<Q", len(hjson)) + hjson + b"".join(blobs)


def _is_model(obj):
    return hasattr(obj, "get_weights") and hasattr(obj, "set_weights")


def save_weights(path, weights, metadata=None, overwrite=True):
    """Write named arrays to ``path`` as a safetensors file, atomically.

    Also accepts ``save_weights(model, path, overwrite=True)`` (what ``Model.save_weights``
    calls): then it is :func:`save_model_weights`.

    Args:
        path: destination file (conventionally ``*.safetensors``); parent directories are created.
        weights: dict ``{name: array}``, list of ``(name, array)`` pairs, or a list of arrays.
        metadata: optional ``{str: str}``.
        overwrite: if False and ``path`` exists, raise ``FileExistsError``.

    Example:
        >>> save_weights("w.safetensors", {"dense/kernel": np.ones((2, 3), np.float32)})
        >>> load_weights("w.safetensors")["dense/kernel"].shape
        (2, 3)
    """
    if _is_model(path):
        return save_model_weights(path, weights, overwrite=overwrite)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save_weights: {os.fspath(path)} exists and overwrite=False")
    buf = dumps(weights, metadata)
    with atomic_write(path) as f:
        f.write(buf)


def _reject_dupes(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key {k!r}")
        d[k] = v
    return d


def loads(buf, source="<bytes>", return_metadata=False):
    """Parse safetensors bytes, validating everything; ``source`` names the file in errors.

    Returns:
        dict ``{name: ndarray}`` in file (offset) order, or ``(dict, metadata)`` with
        ``return_metadata=True``.
    """
    def bad(msg):
        return ValueError(f"{source}: not a valid safetensors weights file: {msg}")

    mv = memoryview(buf)
    if len(mv) < 8:
        raise bad(f"truncated: {len(mv)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack_from("<Q", mv, 0)
    if n > _MAX_HEADER:
        raise bad(f"header length {n} exceeds {_MAX_HEADER} bytes")
    if 8 + n > len(mv):
        raise bad(f"truncated: header claims {n} bytes but the file has only {len(mv) - 8} after the length")
    try:
        header = json.loads(bytes(mv[8:8 + n]).decode("utf-8"), object_pairs_hook=_reject_dupes)
    except (UnicodeDecodeError, ValueError) as e:
        raise bad(f"header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise bad("__metadata__ is not an object")
    data_len = len(mv) - 8 - n
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise bad(f"entry {name!r} must have exactly dtype, shape, data_offsets")
        code, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if code not in _DTYPES:
            raise bad(f"entry {name!r} has unsupported dtype {code!r}")
        if (not isinstance(shape, list) or
                not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
            raise bad(f"entry {name!r} has invalid shape {shape!r}")
        if (not isinstance(offs, list) or len(offs) != 2 or
                not all(isinstance(o, int) and not isinstance(o, bool) for o in offs) or not 0 <= offs[0] <= offs[1]):
            raise bad(f"entry {name!r} has invalid data_offsets {offs!r}")
        nbytes = int(np.prod(shape, dtype=np.int64)) * _DTYPES[code].itemsize
        if offs[1] - offs[0] != nbytes:
            raise bad(f"entry {name!r}: data_offsets {offs} span {offs[1] - offs[0]} bytes but "
                      f"{code}{tuple(shape)} needs {nbytes}")
        entries.append((offs[0], offs[1], name, code, tuple(shape)))
    entries.sort()
    pos = 0
    for begin, end, name, _, _ in entries:
        if begin != pos:
            raise bad(f"entry {name!r} starts at {begin}, expected {pos} (gap or overlap)")
        pos = end
    if pos > data_len:
        raise bad(f"truncated: tensors need {pos} data bytes but the file holds {data_len}")
    if pos < data_len:
        raise bad(f"{data_len - pos} unexpected trailing bytes after the tensor data")
    base = 8 + n
    out = {}
    for begin, end, name, code, shape in entries:
        arr = np.frombuffer(mv[base + begin: base + end], dtype=_DTYPES[code]).reshape(shape)
        out[name] = arr.astype(_DTYPES[code].newbyteorder("="), copy=True)
    return (out, metadata) if return_metadata else out


def load_weights(path, return_metadata=False):
    """Read a safetensors file written by :func:`save_weights` (or by the ``safetensors`` package).

    Also accepts ``load_weights(model, path)`` (what ``Model.load_weights`` calls): then it is
    :func:`load_model_weights`.

    Args:
        path: file to read.
        return_metadata: also return the ``__metadata__`` dict.

    Returns:
        dict ``{name: ndarray}`` in stored order (writable copies).

    Raises:
        ValueError: naming ``path``, if the file is truncated or its header is inconsistent.
        FileNotFoundError: if ``path`` does not exist.

    Example:
        >>> weights = load_weights("model.weights.safetensors")
    """
    if _is_model(path):
        return load_model_weights(path, return_metadata)
    with open(path, "rb") as f:
        buf = f.read()
    return loads(buf, source=os.fspath(path), return_metadata=return_metadata)


# ---------------------------------------------------------------------------------------------
# model helpers (duck-typed: get_weights()/set_weights(), optional .weights with .path/.name)

def model_weight_names(model, count=None):
    """Stable, unique names of a model's weights: each weight's ``path`` (Keras 3, e.g.
    ``"dense/kernel"``) or ``name`` when the model exposes ``model.weights``; otherwise (or on
    duplicates) positional names ``"0000"``, ``"0001"``, ... Returns a list of str."""
    ws = getattr(model, "weights", None)
    names = None
    if ws is not None and not callable(ws):
        try:
            ws = list(ws)
            names = [getattr(w, "path", None) or getattr(w, "name", None) for w in ws]
        except TypeError:
            names = None
    if count is None:
        count = len(names) if names is not None else len(model.get_weights())
    if (names is None or len(names) != count or not all(isinstance(n, str) and n and n != "__metadata__"
                                                         for n in names) or len(set(names)) != count):
        return [f"{i:04d}" for i in range(count)]
    return names


def save_model_weights(model, path, overwrite=True):
    """Save ``model.get_weights()`` to ``path`` (safetensors, atomic), named by
    :func:`model_weight_names`. ``Model.save_weights`` delegates here.

    Args:
        model: any object with ``get_weights() -> list of arrays``.
        path: destination file, conventionally ``*.weights.safetensors``.

    Example:
        >>> save_model_weights(model, "ckpt/model.weights.safetensors")
    """
    arrays = [np.asarray(w) for w in model.get_weights()]
    names = model_weight_names(model, len(arrays))
    from .. import __version__
    save_weights(path, list(zip(names, arrays)), metadata={"format": "fusednet", "version": __version__},
                 overwrite=overwrite)


def _assign(model, loaded, source):
    """Match loaded {name: array} to the model's weights (by name if all names match, else by
    position) and call ``set_weights`` after checking count and shapes."""
    current = [np.asarray(w) for w in model.get_weights()]
    names = model_weight_names(model, len(current))
    if len(loaded) != len(current):
        raise ValueError(f"{source}: file holds {len(loaded)} weights but the model has {len(current)}")
    if set(names) == set(loaded):
        arrays = [loaded[n] for n in names]
    else:
        arrays = list(loaded.values())
    for name, cur, new in zip(names, current, arrays):
        if tuple(cur.shape) != tuple(new.shape):
            raise ValueError(f"{source}: weight {name!r} has shape {tuple(new.shape)} in the file but "
                             f"the model expects {tuple(cur.shape)}")
    model.set_weights([a.astype(c.dtype, copy=False) for a, c in zip(arrays, current)])


def load_model_weights(model, path):
    """Load weights saved by :func:`save_model_weights` into ``model`` (``set_weights``).

    Weights are matched by name when the file's names equal the model's, else by position; count
    and shapes are checked first, so a mismatch raises ``ValueError`` naming ``path`` and the
    weight, leaving the model unchanged.

    Example:
        >>> load_model_weights(model, "ckpt/model.weights.safetensors")
    """
    _assign(model, load_weights(path), os.fspath(path))
