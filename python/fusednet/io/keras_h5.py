"""Loading weights written by Keras into a fusednet model, matched by layer name.

Three layouts are read (h5py is needed, an optional dependency):

* Keras 3 ``.weights.h5`` (and the ``model.weights.h5`` inside a ``.keras`` zip): groups
  ``.../<layer path>/vars`` carrying the layer's name in the ``name`` attribute, datasets ``0``,
  ``1``, ... in the layer's weight order;
* legacy Keras 2 ``.h5`` (``model.save`` / ``save_weights``, and Keras's application files such as
  ``resnet50_weights_tf_dim_ordering_tf_kernels.h5``): the ``layer_names`` attribute of the root
  (or of ``model_weights``), each layer group listing its ``weight_names``.

fusednet's weight layouts are Keras's (channels last, kernels ``[kh, kw, Cin, Cout]``, Dense
``[in, out]``, BatchNormalization gamma/beta/moving mean/variance), so arrays are copied as they
are; counts and shapes are checked per layer and errors name the file and the layer.
"""
import io as _pyio
import os
import zipfile

import numpy as np

__all__ = ["load_keras_weights", "read_keras_weights"]


def _h5py(path):
    try:
        import h5py
    except ImportError:
        raise ImportError(f"reading Keras weights ({path}) needs h5py: pip install h5py") from None
    return h5py


def _decode(v):
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _read_v3(f, src):
    out = {}

    def visit(name, obj):
        if name.split("/")[-1] != "vars" or not hasattr(obj, "keys"):
            return
        keys = sorted(obj.keys(), key=lambda k: int(k) if k.isdigit() else 1 << 30)
        if not keys:
            return
        lname = _decode(obj.attrs.get("name", name.split("/")[-2]))
        if lname in out:
            raise ValueError(f"{src}: two layers named {lname!r} hold weights; load by name is ambiguous")
        out[lname] = [np.array(obj[k]) for k in keys]
    f.visititems(visit)
    return out


def _read_legacy(g, src):
    out = {}
    for lname in (_decode(n) for n in g.attrs["layer_names"]):
        lg = g[lname]
        names = [_decode(n) for n in lg.attrs.get("weight_names", [])]
        if names:
            try:
                out[lname] = [np.array(lg[n]) for n in names]
            except KeyError as e:
                raise ValueError(f"{src}: layer {lname!r} lists weight {e} but the file lacks it") from None
    return out


def read_keras_weights(path):
    """``{layer name: [arrays in the layer's weight order]}`` from a Keras weights file.

    Args:
        path: ``.weights.h5`` (Keras 3), ``.keras`` (Keras 3 model zip) or ``.h5`` (legacy).

    Returns:
        dict of layer name → list of NumPy arrays.

    Example:
        >>> w = fusednet.io.keras_h5.read_keras_weights("model.weights.h5")
    """
    src = os.fspath(path)
    h5py = _h5py(src)
    if not os.path.isfile(src):
        raise FileNotFoundError(f"Keras weights file {src!r} does not exist")
    handle = src
    if zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as z:
            if "model.weights.h5" not in z.namelist():
                raise ValueError(f"{src}: a zip without model.weights.h5 is not a .keras file")
            handle = _pyio.BytesIO(z.read("model.weights.h5"))
    try:
        f = h5py.File(handle, "r")
    except OSError as e:
        raise ValueError(f"{src}: not a readable HDF5 file ({e})") from None
    with f:
        if "layer_names" in f.attrs:
            return _read_legacy(f, src)
        if "model_weights" in f and "layer_names" in f["model_weights"].attrs:
            return _read_legacy(f["model_weights"], src)
        return _read_v3(f, src)


def _weighted_layers(model):
    """(name, layer) for every layer holding weights, nested models opened."""
    out = []
    for layer in getattr(model, "layers", []):
        if hasattr(layer, "layers") and not layer.__dict__.get("_weights"):
            out.extend(_weighted_layers(layer))
        elif layer.weights:
            out.append((layer.name, layer))
    return out


def load_keras_weights(model, path, skip_mismatch=False):
    """Copy a Keras weights file into ``model``, layer by layer, matched by name.

    Args:
        model: a built fusednet model with Keras's layer names (e.g. ``applications.ResNet50``
            or the same functional/sequential definition built with fusednet).
        path: ``.weights.h5`` / ``.keras`` / legacy ``.h5``.
        skip_mismatch: leave layers missing from the file (or of another shape) untouched and
            ignore file layers the model lacks, instead of raising.

    Returns:
        The list of layer names that were loaded.

    Raises:
        ValueError: a layer of the model is missing from the file (or the reverse), or a weight
            count or shape differs; the message names the file, the layer and the shapes.

    Example:
        >>> fusednet.io.keras_h5.load_keras_weights(model, "resnet50_notop.h5")
    """
    src = os.fspath(path)
    stored = read_keras_weights(src)
    mine = _weighted_layers(model)
    loaded, problems = [], []
    names = {n for n, _ in mine}
    for name, layer in mine:
        arrays = stored.get(name)
        if arrays is None:
            problems.append(f"layer {name!r} ({type(layer).__name__}) is not in the file")
            continue
        shapes = [tuple(w.shape) for w in layer.weights]
        got = [a.shape for a in arrays]
        if len(arrays) != len(shapes) or any(tuple(a) != b for a, b in zip(got, shapes)):
            problems.append(f"layer {name!r} expects weights {shapes}, the file holds {got}")
            continue
        layer.set_weights([a.astype(np.float32, copy=False) for a in arrays])
        loaded.append(name)
    extra = sorted(set(stored) - names)
    if extra:
        problems.append(f"the file holds layers the model lacks: {extra[:8]}{' ...' if len(extra) > 8 else ''}")
    if problems and not skip_mismatch:
        raise ValueError(f"load_keras_weights({src}): " + "; ".join(problems[:6]) +
                         (f" (+{len(problems) - 6} more)" if len(problems) > 6 else ""))
    return loaded
