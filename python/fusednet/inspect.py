"""Model inspection: intermediate layer outputs ("feature maps").

Keras builds a second model, ``Model(inputs=model.inputs, outputs=model.get_layer(name).output)``;
fusednet runs the model's own layers at inference up to the last requested layer and returns
their outputs, which needs no symbolic graph (works for Sequential and functional models):

    >>> from fusednet import inspect
    >>> maps = inspect.feature_maps(model, x[:8], "conv2d")                 # [8, 26, 26, 32]
    >>> maps = model.intermediate(x[:8], ["conv2d", "conv2d_1"])            # dict name -> array

Layers run with ``training=False`` (Dropout / augmentation are identity, BatchNormalization
uses its moving statistics) through the same array-level kernels as ``predict``.
"""
import numpy as np

from . import _C
from .layers.base import Context
from .tensor import Tensor, no_grad

__all__ = ["feature_maps", "memory_report"]


def _host(a):
    return np.asarray(a.to("cpu").numpy() if a.device != "cpu" else a.numpy())


def _run_chain(chain, wanted, xb, fast):
    out, last = {}, max(i for i, l in enumerate(chain) if l.name in wanted)
    a = xb if fast else Tensor._wrap(xb)
    for i, l in enumerate(chain[:last + 1]):
        if fast:
            a = l.forward(Context(), a, False)
        else:
            a = l(a, training=False)
        if l.name in wanted:
            out[l.name] = a if fast else a.data
    return out


def _run_graph(model, wanted, xb):
    g = model._graph
    if g is None or len(g.inputs) != 1:
        raise ValueError(f"feature_maps: model '{model.name}' must be a Sequential or a single-input "
                         f"functional model")
    vals, out = {id(g.inputs[0]): Tensor._wrap(xb)}, {}
    for t in g.calls():
        args = [vals[id(p)] for p in t.inputs]
        vals[id(t)] = t.layer(args[0] if len(args) == 1 else args, training=False)
        if t.layer is not None and t.layer.name in wanted:
            out[t.layer.name] = vals[id(t)].data
        if len(out) == len(wanted):
            break
    return out


def feature_maps(model, x, layer_names=None, batch_size=None):
    """Outputs of intermediate layers of ``model`` for inputs ``x``, at inference.

    Args:
        model: a built Sequential or functional Model.
        x: input batch (NumPy array or anything ``predict`` accepts).
        layer_names: one layer name (returns one array), a list of names (returns a dict
            name → array), or None (every layer; a dict).
        batch_size: rows per forward pass (default 32); results are concatenated.

    Returns:
        NumPy array(s) [N, ...] — e.g. a Conv2D's activations [N, Ho, Wo, filters].

    Raises:
        ValueError: an unknown layer name (the message lists the model's layers).
    """
    from .trainers.data_adapters import check_batch_size as _check_batch_size, prep_x as _prep_x
    single = isinstance(layer_names, str)
    names = [layer_names] if single else list(layer_names) if layer_names is not None else \
        [l.name for l in model.layers]
    known = [l.name for l in model.layers]
    for nm in names:
        if nm not in known:
            raise ValueError(f"feature_maps: model '{model.name}' has no layer named {nm!r}; layers: "
                             f"{', '.join(known)}")
    if not names:
        raise ValueError("feature_maps: no layer names given")
    bs = _check_batch_size(batch_size, "feature_maps")
    xa = _prep_x(x, "feature_maps: x")
    model._build_from_data(xa.shape)
    model._check_input_shape(xa.shape, "feature_maps")
    X = _C.asarray(xa)
    dev = getattr(model, "_device", "cpu")
    if dev != "cpu":
        X = X.to(dev)
    chain = model._chain()
    fast = bool(chain) and all(l.supports_fast_path for l in chain)
    wanted = set(names)
    parts = {nm: [] for nm in names}
    with no_grad():
        for s0 in range(0, xa.shape[0], bs):
            xb = _C.slice_axis(X, 0, s0, min(s0 + bs, xa.shape[0]))
            got = _run_chain(chain, wanted, xb, fast) if chain else _run_graph(model, wanted, xb)
            for nm in names:
                parts[nm].append(_host(got[nm]))
    res = {nm: np.concatenate(parts[nm], 0) for nm in names}
    return res[names[0]] if single else res


def memory_report(model, x, training=None):
    """Peak activation memory of ``model``'s compiled plans on the batch ``x``, measured.

    Runs one forward of the inference plan (what ``predict`` uses) and, unless
    ``training=False``, one of the training plan (what ``fit`` uses; its contexts keep what
    backward needs), on ``x``, and reports the bytes of the distinct activation buffers alive
    after every step (liveness: a value is dropped after its last consumer). Weights are not
    counted. Model state is left untouched: BatchNormalization statistics and random streams
    advanced by the training forward are restored.

    Args:
        model: a built (or buildable from ``x``) Sequential or functional Model.
        x: one input batch (NumPy array, or a list/dict for several inputs).
        training: None (both plans), True (training only) or False (inference only).

    Returns:
        dict ``{"inference": report, "training": report}`` (only the requested ones); each
        report has ``peak_bytes``, ``total_bytes`` (every activation held to the end: what
        liveness saves is the difference), ``saved_bytes``, ``input_bytes`` and per-step
        ``steps`` entries (``name``, ``output_bytes``, ``live_bytes``, ``saved_bytes``, ``bytes``).

    Example:
        >>> rep = inspect.memory_report(model, x[:32])
        >>> rep["inference"]["peak_bytes"], rep["training"]["peak_bytes"]
    """
    from . import random as _random
    xs = model._prepare_inputs(x, "memory_report")
    dev = getattr(model, "_device", "cpu")
    arrs = [_C.asarray(a) if dev == "cpu" else _C.asarray(a).to(dev) for a in xs]
    out = {}
    if training is not True:
        with no_grad():
            out["inference"] = model._infer_plan().memory_report(arrs, False, model.weights)
    if training is not False:
        plan = model._get_plan()
        state = [(w.data, w.data.copy()) for w in model.non_trainable_weights]
        streams = [(s, s.offset) for s in [_random._stream] + [l.__dict__.get("_stream") for l in model._flat_layers()]
                   if s is not None and hasattr(s, "offset")]
        try:
            out["training"] = plan.memory_report(arrs, True, model.weights)
        finally:
            for dst, src in state:
                dst.copy_(src)
            for s, off in streams:
                s.offset = off
    return out
