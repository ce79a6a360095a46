"""``plot_model`` / ``model_to_dot`` (Keras ``keras.utils``): the model's layer graph in DOT.

The DOT text is built here from the model's own graph (no dependency): one node per layer
(a shared layer is one node, as in Keras), one edge per tensor flowing between layers. A ``.dot``
/ ``.gv`` target is written as that text (atomically); an image target (``.png``, ``.svg``,
``.pdf``, ...) is rendered by Graphviz, through ``pydot`` when installed or else the ``dot``
program on ``PATH``. With neither, Keras' behaviour is kept: inside IPython/Jupyter a message is
printed and nothing is drawn, elsewhere ``ImportError`` says what to install.
"""
import os
import shutil
import subprocess
import sys

__all__ = ["model_to_dot", "plot_model"]

_MSG = ("You must install pydot (`pip install pydot`) or Graphviz's `dot` program "
        "(see https://graphviz.gitlab.io/download/) for `plot_model` to render images; a `.dot` "
        "target needs neither.")


def _q(s):
    return '"' + str(s).replace('"', "'") + '"'


def _graph(model):
    """(layers in order, edges as (src_layer, dst_layer)) of a built model."""
    g = getattr(model, "_graph", None)
    if g is not None:
        nodes, edges, seen = [], [], set()
        for t in g.order:
            if id(t.layer) not in seen:
                seen.add(id(t.layer))
                nodes.append(t.layer)
            for u in t.inputs:
                e = (u.layer, t.layer)
                if all(a is not e[0] or b is not e[1] for a, b in edges):
                    edges.append(e)
        return nodes, edges
    nodes = list(model.layers)
    return nodes, list(zip(nodes[:-1], nodes[1:]))


def _label(layer, shape, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable):
    title = f"{layer.name} ({type(layer).__name__})" if show_layer_names else type(layer).__name__
    parts = [title]
    act = getattr(layer, "activation", None)
    if show_layer_activations and isinstance(act, str) and act != "linear":
        parts.append(f"Activation: {act}")
    if show_shapes:
        parts.append(f"Output shape: {shape if shape is not None else '?'}")
    if show_dtype:
        parts.append(f"Output dtype: {getattr(layer, 'dtype', 'float32')}")
    if show_trainable and layer.weights:
        parts.append(f"Trainable: {'Y' if layer.trainable else 'N'}")
    return "\\n".join(p.replace('"', "'") for p in parts)


def _dot_source(model, show_shapes=False, show_dtype=False, show_layer_names=False, rankdir="TB",
                dpi=200, show_layer_activations=False, show_trainable=False):
    if not model.built:
        raise ValueError(f"plot_model: model '{model.name}' has not yet been built. Build the model "
                         f"first by calling `build()` or by calling the model on a batch of data.")
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"plot_model: rankdir must be 'TB' or 'LR', got {rankdir!r}")
    nodes, edges = _graph(model)
    shapes = {}
    g = getattr(model, "_graph", None)
    if g is not None:
        for t in g.order:
            shapes[id(t.layer)] = t.shape
    lines = [f"digraph {_q(model.name)} {{", f"  graph [rankdir={rankdir}, dpi={int(dpi)}];",
             "  node [shape=box];"]
    for i, layer in enumerate(nodes):
        lbl = _label(layer, shapes.get(id(layer)), show_shapes, show_dtype, show_layer_names,
                     show_layer_activations, show_trainable)
        lines.append(f"  n{i} [label={_q(lbl)}];")
    index = {id(l): i for i, l in enumerate(nodes)}
    for a, b in edges:
        lines.append(f"  n{index[id(a)]} -> n{index[id(b)]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False,
                 show_trainable=False, **kwargs):
    """The model's layer graph as a ``pydot.Dot`` (needs ``pydot``; Keras' signature).

    Args:
        model: a built :class:`fusednet.Model`.
        show_shapes / show_dtype / show_layer_names / show_layer_activations / show_trainable:
            what each node's label shows.
        rankdir: 'TB' (top to bottom) or 'LR'.
        expand_nested, subgraph: not supported (a nested model is one node; raise if True).
        dpi: the image resolution Graphviz is asked for.

    Returns:
        ``pydot.Dot``.

    Example:
        >>> dot = fusednet.utils.model_to_dot(model, show_shapes=True)
    """
    if expand_nested or subgraph or kwargs:
        raise ValueError(f"model_to_dot: expand_nested/subgraph are not supported; unknown: {sorted(kwargs)}")
    try:
        import pydot
    except ImportError as e:
        raise ImportError("model_to_dot: You must install pydot (`pip install pydot`)") from e
    src = _dot_source(model, show_shapes, show_dtype, show_layer_names, rankdir, dpi,
                      show_layer_activations, show_trainable)
    return pydot.graph_from_dot_data(src)[0]


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False,
               show_trainable=False, **kwargs):
    """Draw the model's layer graph to ``to_file`` (Keras ``keras.utils.plot_model``).

    Args:
        model: a built :class:`fusednet.Model`.
        to_file: ``.dot``/``.gv`` (DOT text, no dependency) or an image (``.png``, ``.svg``,
            ``.pdf``, ``.jpg``: rendered by Graphviz through pydot or the ``dot`` program).
        show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable: label
            contents.
        rankdir: 'TB' or 'LR'.
        expand_nested: not supported (raises if True).
        dpi: image resolution.

    Returns:
        None (Keras returns an IPython image in notebooks; nothing is displayed here).

    Raises:
        ValueError: the model is not built, or an argument is not supported.
        ImportError: an image target without pydot or Graphviz, outside IPython (inside it, a
            message is printed instead, as Keras does).

    Example:
        >>> fusednet.utils.plot_model(model, "model.dot", show_shapes=True)
    """
    if expand_nested or kwargs:
        raise ValueError(f"plot_model: expand_nested is not supported; unknown arguments: {sorted(kwargs)}")
    src = _dot_source(model, show_shapes, show_dtype, show_layer_names, rankdir, dpi,
                      show_layer_activations, show_trainable)
    to_file = os.fspath(to_file)
    ext = os.path.splitext(to_file)[1].lstrip(".").lower() or "png"
    if ext in ("dot", "gv"):
        from ..io._atomic import atomic_write
        with atomic_write(to_file, "w") as f:
            f.write(src)
        return None
    try:
        import pydot
        pydot.graph_from_dot_data(src)[0].write(to_file, format=ext)
        return None
    except ImportError:
        pass
    dot = shutil.which("dot")
    if dot is not None:
        subprocess.run([dot, f"-T{ext}", "-o", to_file], input=src.encode(), check=True)
        return None
    if "IPython.core.magics.namespace" in sys.modules:   # Keras: no crash in notebooks
        print(_MSG)
        return None
    raise ImportError(_MSG)
