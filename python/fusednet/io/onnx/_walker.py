"""Walk a model's layer-call graph (Sequential chain or functional DAG) into an ONNX model.

The walker takes the model's plan graph (``_graph_spec``: one node per layer call, so a shared
layer converts once per call with the same initializers reused by name), inlines nested models by
walking their own graph with the outer value names, and hands each call to the converter
registered for its layer class. A Conv2D/DepthwiseConv2D call whose only consumer is a
BatchNormalization (and whose activation is linear) gets the BN folded into its weights.
"""
import os

import numpy as np

from .._atomic import atomic_write
from ._registry import ExportContext, get_converter, MASK_UNSET, MIN_OPSET, MAX_OPSET

__all__ = ["export_onnx", "to_onnx_model"]


def _is_model(layer):
    from ...models.model import Model
    return isinstance(layer, Model)


def _input_specs(model):
    """[(name, shape incl. batch, dtype)] of the model's inputs."""
    from ...models.sequential import Sequential
    if isinstance(model, Sequential):
        shape = tuple(model.input_shape)
        il = model._input_layer
        dtype = getattr(il, "dtype", None) if il is not None else None
        return [(il.name if il is not None else "input", shape, dtype)]
    if model._graph is None:
        raise ValueError(f"export_onnx: model '{model.name}' is a subclassed Model (its call() is Python "
                         f"code); only Sequential and functional models can be exported")
    out = []
    for name, t in zip(model._graph.input_names, model._graph.inputs):
        out.append((name, tuple(t.shape), getattr(t, "dtype", None)))
    return out


def _onnx_dtype(dtype):
    from onnx import TensorProto
    d = str(dtype or "float32")
    table = {"float32": TensorProto.FLOAT, "int32": TensorProto.INT32, "int64": TensorProto.INT64,
             "float64": TensorProto.FLOAT, "float16": TensorProto.FLOAT}
    for k, v in table.items():
        if k in d:
            return v
    raise ValueError(f"export_onnx: unsupported input dtype {dtype!r}")


def _consumers(graph):
    n = {}
    for node in graph.nodes:
        for k in node.in_keys:
            n[k] = n.get(k, 0) + 1
    for k in graph.outputs:
        n[k] = n.get(k, 0) + 1
    return n


def _foldable(node, nxt, uses):
    from ...layers.conv import Conv2D, DepthwiseConv2D
    from ...layers.normalization import BatchNormalization
    if nxt is None or not isinstance(nxt.layer, BatchNormalization) or type(node.layer) not in (Conv2D, DepthwiseConv2D):
        return False
    ax = nxt.layer.axis
    ax = ax[0] if isinstance(ax, (list, tuple)) and len(ax) == 1 else ax
    return (node.layer._kind == "linear" and nxt.in_keys == (node.out_key,) and uses.get(node.out_key) == 1
            and ax in (-1, 3))


def _walk(ctx, model, in_names):
    """Convert ``model``'s graph with its inputs bound to ``in_names``; returns its output names."""
    graph = model._graph_spec()
    if model._graph is None and not hasattr(model, "_layers"):
        raise ValueError(f"export_onnx: model '{model.name}' is a subclassed Model (its call() is Python "
                         f"code); only Sequential and functional models can be exported")
    vals = dict(zip(graph.inputs, in_names))
    masks = {}                              # value key -> mask value name (absent: unmasked)
    uses = _consumers(graph)
    nodes = graph.nodes
    i = 0
    while i < len(nodes):
        node = nodes[i]
        nxt = nodes[i + 1] if i + 1 < len(nodes) else None
        ins = [vals[k] for k in node.in_keys]
        in_m = [masks.get(k) for k in node.in_keys]
        if getattr(node, "mask_input", False):          # layer(x, mask=m): m's value is the mask
            m = ctx.node("Cast", [ins[-1]], to=1)[0]
            zero = ctx.initializer(np.float32(0.0), "zero_f")
            ins = ins[:-1]                              # [x] or [x, initial states...]
            in_m = [ctx.not_equal_f32(m, zero)] + [None] * (len(ins) - 1)
        layer = node.layer
        out_m = None
        if _is_model(layer):
            if any(m is not None for m in in_m):
                raise ValueError(f"export_onnx: a mask flows into the nested model '{layer.name}'; masks "
                                 f"across nested models are not exported")
            outs = _walk(ctx, layer, ins)
        elif type(layer).__name__ == "OutputSelect":   # a multi-output sub-model's output: a name, no node
            outs = [ins[0][layer.index]]
            out_m = in_m[0][layer.index] if isinstance(in_m[0], list) else None
        else:
            fold = _foldable(node, nxt, uses)
            ctx.fold_bn = nxt.layer if fold else None
            ctx.in_masks, ctx.out_mask = in_m, MASK_UNSET
            outs = _convert(ctx, layer, ins)
            ctx.fold_bn = None
            out_m = ctx.out_mask if ctx.out_mask is not MASK_UNSET else _propagate(ctx, layer, in_m)
            ctx.in_masks, ctx.out_mask = [], MASK_UNSET
            if fold:
                vals[node.out_key] = outs[0]
                node, i = nxt, i + 1
        vals[node.out_key] = outs[0] if len(outs) == 1 else outs
        if out_m is not None:
            masks[node.out_key] = out_m
        i += 1
    return [vals[k] for k in graph.outputs]


def _propagate(ctx, layer, in_m):
    """Keras' mask rules for a converter that did not set one: a ``supports_masking`` layer
    passes its input's mask (a merge: the AND of its inputs'), any other drops it. Layers whose
    own computation uses the mask and have no masked export refuse."""
    present = [m for m in in_m if m is not None]
    if not present:
        return None
    from ... import layers as L
    refuse = (L.MultiHeadAttention, L.Conv1D, L.TimeDistributed)
    if isinstance(layer, refuse):
        raise ValueError(f"export_onnx: {type(layer).__name__} '{layer.name}' receives a mask; its masked "
                         f"computation is not exported")
    if not getattr(layer, "supports_masking", False):
        return None
    if isinstance(layer, L.Concatenate) and layer.axis in (1, -2):
        raise ValueError(f"export_onnx: Concatenate '{layer.name}' on the time axis with masks is not exported")
    if len(in_m) == 1:
        return in_m[0]
    out = present[0]
    for m in present[1:]:
        out, = ctx.node("Mul", [out, m])        # 0/1 values: the product is the AND
    return out


def _convert(ctx, layer, ins):
    fn = get_converter(layer)
    if fn is None:
        raise ValueError(f"export_onnx: no ONNX converter for layer '{layer.name}' ({type(layer).__name__}); "
                         f"register one with fusednet.io.onnx.register_converter({type(layer).__name__})")
    if not layer.built:
        raise ValueError(f"export_onnx: layer '{layer.name}' ({type(layer).__name__}) is not built")
    outs = fn(ctx, layer, list(ins))
    if isinstance(outs, str):
        outs = [outs]
    return list(outs)


def to_onnx_model(model, opset=17, dynamic_batch=True):
    """Build (without writing) the ``onnx.ModelProto`` of a built Sequential/functional model.

    Args:
        model: a built :class:`fusednet.Model`.
        opset: ONNX default-domain opset, 17..21.
        dynamic_batch: the batch axis is a symbolic ``"batch"`` dimension; else fixed (the input's
            batch size, or 1 when the model leaves it open).

    Returns:
        The checked ``onnx.ModelProto``.

    Example:
        >>> proto = to_onnx_model(model)
    """
    try:
        import onnx
        from onnx import helper
    except ImportError:
        raise ImportError("export_onnx needs the 'onnx' package: pip install 'fusednet[onnx]' "
                          "(or pip install onnx onnxruntime)") from None
    from ... import __version__
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"export_onnx: unsupported opset {opset!r}; supported: {MIN_OPSET}..{MAX_OPSET}")
    if not getattr(model, "built", False):
        raise ValueError(f"export_onnx: model '{model.name}' is not built; call it on data or build(input_shape) first")
    ctx = ExportContext(opset)
    specs = _input_specs(model)
    graph_inputs, names = [], []
    for name, shape, dtype in specs:
        nm = ctx.unique(name)
        batch = "batch" if dynamic_batch else (shape[0] if shape[0] is not None else 1)
        dims = [batch] + [d if d is not None else f"{nm}_dim{j + 1}" for j, d in enumerate(shape[1:])]
        graph_inputs.append(helper.make_tensor_value_info(nm, _onnx_dtype(dtype), dims))
        names.append(nm)
    outs = _walk(ctx, model, names)
    ctx.finish_outputs(outs)
    out_names = model._output_names() if hasattr(model, "_output_names") else None
    out_names = out_names if out_names and len(out_names) == len(outs) else [f"output_{j}" for j in range(len(outs))]
    graph_outputs = []
    for src, want, kt in zip(outs, out_names, model.outputs):
        nm = ctx.unique(want)
        ctx.node("Identity", [src], [nm])
        shape = tuple(kt.shape)
        batch = "batch" if dynamic_batch else (shape[0] if shape[0] is not None else 1)
        dims = [batch] + [d if d is not None else f"{nm}_dim{j + 1}" for j, d in enumerate(shape[1:])]
        graph_outputs.append(helper.make_tensor_value_info(nm, _onnx_dtype(getattr(kt, "dtype", None)), dims))
    g = helper.make_graph(ctx.nodes, model.name, graph_inputs, graph_outputs, ctx.initializers)
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", int(opset))],
                              producer_name="fusednet", producer_version=str(__version__))
    proto.ir_version = min(proto.ir_version, 9)   # onnxruntime releases lag the newest IR version
    onnx.checker.check_model(proto)
    return proto


def export_onnx(model, path, opset=17, dynamic_batch=True):
    """Export a built Sequential/functional model to an ONNX file (written atomically).

    Inputs and outputs keep the model's channels-last layout (what ``predict`` takes and returns);
    inference-only layers (Dropout, noise, augmentation) become identities and BatchNormalization
    after a convolution is folded into it.

    Args:
        model: a built :class:`fusednet.Model` (Sequential or functional; nested models are inlined).
        path: destination file (``.onnx``).
        opset: ONNX opset, 17 (default) .. 21.
        dynamic_batch: symbolic batch axis (default True).

    Returns:
        ``path``.

    Example:
        >>> fusednet.io.export_onnx(model, "model.onnx")
        >>> # onnxruntime.InferenceSession("model.onnx").run(None, {"input": x})
    """
    proto = to_onnx_model(model, opset=opset, dynamic_batch=dynamic_batch)
    with atomic_write(path) as f:
        f.write(proto.SerializeToString())
    return os.fspath(path)
