"""Loading a PyTorch ``state_dict`` into a fusednet model whose layer names follow the module
paths (``layer1.0.conv1.weight`` → layer ``layer1_0_conv1``), converting layouts:

* ``Conv2d.weight`` ``[Cout, Cin, kh, kw]`` → kernel ``[kh, kw, Cin, Cout]``; a depthwise conv's
  ``[Cin·m, 1, kh, kw]`` → ``[kh, kw, Cin, m]``;
* ``Linear.weight`` ``[out, in]`` → Dense kernel ``[in, out]``;
* ``BatchNorm2d`` weight / bias / running_mean / running_var → gamma / beta / moving mean /
  variance (``num_batches_tracked`` is dropped); LayerNorm weight / bias; Embedding as is.

A state dict comes as a dict of tensors/arrays, a ``.safetensors`` file (read by fusednet itself)
or a ``.pt``/``.pth`` file (``torch.load(weights_only=True)``; needs torch).
"""
import os

import numpy as np

__all__ = ["load_torch_state_dict", "read_state_dict"]


def read_state_dict(source):
    """A state dict as ``{key: float32 NumPy array}``.

    Args:
        source: a mapping of tensors/arrays, or a path to ``.safetensors`` / ``.pt`` / ``.pth``.

    Returns:
        dict of key → NumPy array.

    Example:
        >>> sd = fusednet.io.torch_state.read_state_dict("resnet18.safetensors")
    """
    if isinstance(source, dict):
        items = source.items()
    else:
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"state dict file {path!r} does not exist")
        if path.endswith(".safetensors"):
            from .weights import load_weights
            items = load_weights(path).items()
        else:
            try:
                import torch
            except ImportError:
                raise ImportError(f"reading {path} needs torch (or convert it to .safetensors)") from None
            try:
                items = torch.load(path, map_location="cpu", weights_only=True).items()
            except Exception as e:
                raise ValueError(f"{path}: not a readable PyTorch state dict ({e})") from None
    out = {}
    for k, v in items:
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        out[str(k)] = np.asarray(v)
    return out


def _convert(layer, params, where):
    kind = type(layer).__name__
    if kind in ("Conv2D",):
        w = [params.pop("weight").transpose(2, 3, 1, 0)]
    elif kind == "DepthwiseConv2D":
        w0 = params.pop("weight")
        kh, kw = w0.shape[2:]
        cin = layer.kernel.shape[2]
        w = [w0.reshape(cin, -1, kh, kw).transpose(2, 3, 0, 1)]
    elif kind == "Dense":
        w = [params.pop("weight").T]
    elif kind == "BatchNormalization":
        params.pop("num_batches_tracked", None)
        w = [params.pop(k) for k in ("weight", "bias") if k in params]
        w += [params.pop("running_mean"), params.pop("running_var")]
        return w
    elif kind in ("LayerNormalization", "Embedding"):
        return [params.pop(k) for k in ("weight", "bias") if k in params]
    else:
        raise ValueError(f"{where}: no PyTorch conversion for {kind} layer {layer.name!r}")
    if "bias" in params:
        w.append(params.pop("bias"))
    return w


def load_torch_state_dict(model, source, strict=True):
    """Copy a PyTorch state dict into ``model`` (layer ``a_b_c`` takes the keys ``a.b.c.*``).

    Args:
        model: a built fusednet model (e.g. ``applications.ResNet18``).
        source: mapping, ``.safetensors`` or ``.pt``/``.pth`` path (see :func:`read_state_dict`).
        strict: every key must be used and every weighted layer filled (as torch's ``strict``).

    Returns:
        The list of layer names that were loaded.

    Raises:
        ValueError: unknown keys, missing layers or shape mismatches (named in the message).

    Example:
        >>> fusednet.io.torch_state.load_torch_state_dict(model, torch_model.state_dict())
    """
    where = f"load_torch_state_dict({source if isinstance(source, (str, os.PathLike)) else 'dict'})"
    sd = read_state_dict(source)
    groups = {}
    for k, v in sd.items():
        prefix, _, param = k.rpartition(".")
        groups.setdefault(prefix.replace(".", "_"), {})[param] = v
    from .keras_h5 import _weighted_layers
    mine = dict(_weighted_layers(model))
    problems, loaded = [], []
    for name, layer in mine.items():
        params = groups.pop(name, None)
        if params is None:
            problems.append(f"layer {name!r} has no keys in the state dict")
            continue
        arrays = _convert(layer, dict(params), where)
        shapes = [tuple(w.shape) for w in layer.weights]
        if [a.shape for a in arrays] != shapes:
            problems.append(f"layer {name!r} expects {shapes}, converted state holds {[a.shape for a in arrays]}")
            continue
        layer.set_weights([np.ascontiguousarray(a, dtype=np.float32) for a in arrays])
        loaded.append(name)
    if groups:
        problems.append(f"unused keys for modules {sorted(groups)[:8]}")
    if problems and strict:
        raise ValueError(f"{where}: " + "; ".join(problems[:6]))
    return loaded
