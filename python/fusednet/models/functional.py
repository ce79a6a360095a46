"""The symbolic graph of a functional model: ``Model(inputs, outputs)`` over KerasTensors.

:class:`FunctionalGraph` records the inputs and outputs as the user gave them (one tensor, a list
or a dict), the layer calls between them in topological order, and turns them into the plan's
:class:`~fusednet.trainers.plan.Graph` (one node per call: a layer called twice is two nodes and
shares its weights). Names: an input is named by its ``Input`` layer, an output by the layer
producing it, or by its dict key when a dict was given (Keras).
"""
from ..layers.base import KerasTensor
from ..layers.core import InputLayer
from ..trainers.plan import Graph, Node
from .multi_output import OutputSelect

__all__ = ["FunctionalGraph", "graph_config", "graph_from_config", "is_graph_config"]


def _structure(obj, what):
    """(kind, keys, tensors): kind is 'single', 'list' or 'dict'."""
    if isinstance(obj, KerasTensor):
        return "single", None, [obj]
    if isinstance(obj, dict):
        keys, ts = list(obj), list(obj.values())
        kind = "dict"
    elif isinstance(obj, (list, tuple)):
        keys, ts = None, list(obj)
        kind = "list"
    else:
        raise TypeError(f"Model: {what} must be KerasTensors from fusednet.Input(...) and layer calls "
                        f"(one, a list or a dict), got {type(obj).__name__}")
    if not ts:
        raise ValueError(f"Model: {what} is empty")
    for t in ts:
        if not isinstance(t, KerasTensor):
            raise TypeError(f"Model: {what} must be KerasTensors from fusednet.Input(...) and layer calls, "
                            f"got {type(t).__name__}")
    return kind, keys, ts


class FunctionalGraph:
    """Inputs, outputs and the topologically ordered layer calls of a functional model."""

    def __init__(self, inputs, outputs):
        self.in_kind, in_keys, self.inputs = _structure(inputs, "inputs")
        self.out_kind, out_keys, self.outputs = _structure(outputs, "outputs")
        for t in self.inputs:
            if not isinstance(t.layer, InputLayer) or t.inputs:
                raise ValueError(f"Model: inputs must come from fusednet.Input(...); {t!r} is the output "
                                 f"of layer '{t.layer.name if t.layer else '?'}'")
        if len({id(t) for t in self.inputs}) != len(self.inputs):
            raise ValueError("Model: the same Input is listed twice in inputs")
        order, seen = [], set()
        in_ids = {id(t) for t in self.inputs}

        def visit(t):                     # iterative DFS: deep graphs must not hit the recursion limit
            stack = [(t, False)]
            while stack:
                u, done = stack.pop()
                if done:
                    order.append(u)
                    continue
                if id(u) in seen:
                    continue
                seen.add(id(u))
                if not u.inputs and id(u) not in in_ids:
                    raise ValueError(f"Model: the graph is disconnected: {u!r} (layer '{u.layer.name}') is "
                                     f"needed to compute the outputs but is not among the model's inputs "
                                     f"{[i.layer.name for i in self.inputs]}")
                stack.append((u, True))
                for p in reversed(u.inputs):
                    if id(p) not in seen:
                        stack.append((p, False))
        for o in self.outputs:
            visit(o)
        used = {id(t) for t in order}
        for t in self.inputs:
            if id(t) not in used:
                order.insert(0, t)        # an unused input is allowed (Keras warns), it feeds nothing
        self.order = order
        self.input_names = list(in_keys) if in_keys is not None else [t.layer.name for t in self.inputs]
        if out_keys is not None:
            self.output_names = list(out_keys)
        else:
            names = []
            for t in self.outputs:
                nm = t.layer.name if t.layer is not None else "output"
                names.append(nm if nm not in names else f"{nm}_{len(names)}")
            self.output_names = names

    # ------------------------------------------------------------------ structure
    def layers(self, include_inputs=False):
        """Distinct layers in Keras's order (Input layers only with ``include_inputs``).

        Keras lists a functional model's layers by depth, deepest (farthest from the outputs)
        first, where a call's depth is its longest path to an output and a layer's is the
        largest over its calls; ties go by first discovery in a depth-first walk from the
        outputs. So ``model.layers[i]`` (transfer-learning code freezes ``layers[:k]``) and
        ``get_weights()`` come in the order Keras gives for the same model.
        """
        index, post, seen = {}, [], set()  # Keras's depth-first walk from the outputs
        in_ids = {id(t) for t in self.inputs}
        for o in self.outputs:
            stack = [(o, False)]
            while stack:
                t, done = stack.pop()
                if done:
                    post.append(t)
                    continue
                if id(t) in seen:
                    continue
                seen.add(id(t))
                if t.layer is not None:
                    index.setdefault(id(t.layer), len(index))   # pre-order discovery
                stack.append((t, True))
                if id(t) not in in_ids:
                    stack.extend((p, False) for p in reversed(t.inputs))
        depth, ldepth, layers = {}, {}, {}
        for t in reversed(post):           # consumers before producers
            k = id(t.layer) if t.layer is not None else None
            d = max(depth.get(id(t), 0), ldepth.get(k, 0))
            depth[id(t)] = d
            if k is not None:
                ldepth[k] = d
                if (include_inputs or not isinstance(t.layer, InputLayer)) and not isinstance(t.layer, OutputSelect):
                    layers[k] = t.layer   # (OutputSelect: plumbing of a multi-output sub-model call)
            if id(t) not in in_ids:
                for p in t.inputs:
                    depth[id(p)] = max(depth.get(id(p), 0), d + 1)
        for t in self.inputs:              # an input no output depends on (Keras: depth 0, first)
            if include_inputs and id(t.layer) not in layers:
                layers[id(t.layer)], ldepth[id(t.layer)], index[id(t.layer)] = t.layer, 0, -1
        return [layers[k] for k in sorted(layers, key=lambda k: (-ldepth[k], index[k]))]

    def calls(self):
        """The KerasTensors produced by layer calls, in order."""
        ins = {id(t) for t in self.inputs}
        return [t for t in self.order if id(t) not in ins]

    def chain(self):
        """The layers as a simple chain (one input, one output, each consuming the previous), or None."""
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            return None
        prev, chain = self.inputs[0], []
        for t in self.calls():
            if len(t.inputs) != 1 or t.inputs[0] is not prev:
                return None
            chain.append(t.layer)
            prev = t
        return chain if prev is self.outputs[0] else None

    def spec(self):
        """The plan's :class:`Graph` (keys: ids of the KerasTensors)."""
        nodes = [Node(t.layer, [id(p) for p in t.inputs], id(t), len(t.inputs) - int(t.mask_input) > 1,
                      t.mask_input) for t in self.calls()]
        return Graph([id(t) for t in self.inputs], [id(t) for t in self.outputs], nodes)

    # ------------------------------------------------------------------ running on Tensors
    def call(self, xs, training, logits=False):
        """Run on a list of Tensors (one per input) through each layer's ``__call__``; returns the
        list of outputs. ``logits``: output layers skip a final softmax/sigmoid."""
        vals = {id(t): x for t, x in zip(self.inputs, xs)}
        outs = {id(t) for t in self.outputs}
        for t in self.calls():
            args = [vals[id(p)] for p in t.inputs]
            if t.mask_input:              # layer(x, mask=m); x may be [x, initial states...]
                a = args[0] if len(args) == 2 else args[:-1]
                vals[id(t)] = t.layer(a, training=training, mask=args[-1], **t.layer.graph_call_kwargs())
                continue
            a = args[0] if len(args) == 1 else args
            if logits and id(t) in outs and hasattr(t.layer, "_call_logits"):
                vals[id(t)] = t.layer._call_logits(a)
            else:
                vals[id(t)] = t.layer(a, training=training, **t.layer.graph_call_kwargs())
        return [vals[id(t)] for t in self.outputs]

    def pack_outputs(self, values):
        """Outputs in the structure the model was built with (one, a list or a dict)."""
        if self.out_kind == "single":
            return values[0]
        if self.out_kind == "dict":
            return dict(zip(self.output_names, values))
        return list(values)

    def check_input_shapes(self, shapes, owner, what):
        for i, (t, got) in enumerate(zip(self.inputs, shapes)):
            exp = t.shape
            got = tuple(got)
            if len(exp) != len(got) or any(e is not None and e != g for e, g in zip(exp[1:], got[1:])):
                raise ValueError(f"{what}: Input {i} ('{self.input_names[i]}') of model '{owner}' is "
                                 f"incompatible: expected shape {exp}, but received input with shape {got}")


# ---------------------------------------------------------------------------------------------
# config (Keras 3's functional format)

def _kt_config(t, history):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(t.shape), "dtype": t.dtype, "keras_history": list(history[id(t)])}}


def graph_config(graph, name, trainable):
    """Keras 3's functional config of ``graph``: ``{"name", "trainable", "layers": [{"module",
    "class_name", "config", "registered_name", "name", "inbound_nodes"}], "input_layers",
    "output_layers"}``. A layer called ``k`` times has ``k`` inbound nodes; a tensor is named by
    ``[layer_name, node_index, 0]`` (``keras_history``).

    Args:
        graph: the model's :class:`FunctionalGraph`.
        name: the model's name; trainable: its flag.

    Returns:
        dict (JSON-able).

    Raises:
        ValueError: two different layers of the graph share a name (they could not be told apart).

    Example:
        >>> graph_config(model._graph, model.name, model.trainable)["output_layers"]
        ['dense_1', 0, 0]
    """
    from ..saving.serialization import serialize_keras_object
    history, calls, layers, by_name = {}, {}, [], {}
    for t in graph.order:
        layer = t.layer
        if _is_state_select(t):       # a recurrent layer's output i: [rnn_name, node, i] (Keras)
            name, node, _ = history[id(t.inputs[0])]
            history[id(t)] = (name, node, layer.index)
            continue
        other = by_name.setdefault(layer.name, layer)
        if other is not layer:
            raise ValueError(f"Model '{name}': two different layers are named '{layer.name}'; give them "
                             f"unique names before saving")
        if id(layer) not in calls:
            calls[id(layer)] = []
            layers.append(layer)
        if isinstance(layer, InputLayer) and not t.inputs:
            history[id(t)] = (layer.name, 0, 0)
            continue
        history[id(t)] = (layer.name, len(calls[id(layer)]), 0)
        calls[id(layer)].append(t)
    out = []
    for layer in layers:
        entry = serialize_keras_object(layer)
        entry["name"] = layer.name
        nodes = []
        for t in calls[id(layer)]:
            args = [_kt_config(p, history) for p in t.inputs]
            if t.mask_input:                                     # layer(x, mask=m): Keras 3 kwargs
                kw = {**layer.graph_call_kwargs(), "mask": args[-1]}
                if len(args) > 2:                                # and a recurrent layer's states
                    kw["initial_state"] = args[1:-1]
                nodes.append({"args": [args[0]], "kwargs": kw})
                continue
            if getattr(layer, "return_state", None) is not None and len(args) > 1:   # [x, states...]
                nodes.append({"args": [args[0]], "kwargs": {"initial_state": args[1:]}})
                continue
            kw = dict(layer.graph_call_kwargs())
            if layer.__dict__.get("_positional_arity"):          # call(self, a, b): Keras 3 args
                nodes.append({"args": args, "kwargs": kw})
                continue
            nodes.append({"args": [args[0] if len(args) == 1 else args], "kwargs": kw})
        entry["inbound_nodes"] = nodes
        out.append(entry)

    def struct(kind, names, ts):
        hs = [list(history[id(t)]) for t in ts]
        if kind == "single":
            return hs[0]
        if kind == "dict":
            return dict(zip(names, hs))
        return hs
    return {"name": name, "trainable": bool(trainable), "layers": out,
            "input_layers": struct(graph.in_kind, graph.input_names, graph.inputs),
            "output_layers": struct(graph.out_kind, graph.output_names, graph.outputs)}


def _is_state_select(t):
    """True for the OutputSelect of a recurrent layer's ``return_state`` output (not a model's)."""
    if not isinstance(t.layer, OutputSelect) or len(t.inputs) != 1:
        return False
    src = t.inputs[0].layer
    return getattr(src, "return_state", None) is not None and getattr(src, "_graph", None) is None


def is_graph_config(config):
    """True for a functional model config (has ``layers``, ``input_layers`` and ``output_layers``).

    Args:
        config: any value.

    Returns:
        bool

    Example:
        >>> is_graph_config(functional_model.get_config()), is_graph_config({"name": "m"})
        (True, False)
    """
    return isinstance(config, dict) and all(k in config for k in ("layers", "input_layers", "output_layers"))


def _history_of(arg, where):
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        h = arg["config"]["keras_history"]
    elif isinstance(arg, (list, tuple)) and len(arg) >= 3 and isinstance(arg[0], str):
        h = arg                                  # Keras 2: [layer_name, node_index, tensor_index, kwargs]
    else:
        raise ValueError(f"{where}: cannot read inbound tensor {arg!r}")
    return str(h[0]), int(h[1]), int(h[2])


def _node_inputs(node, where):
    """[(layer_name, node_index, tensor_index)] and whether the layer takes a list."""
    if isinstance(node, dict):
        args = node.get("args", [])
        if len(args) > 1:           # several positional tensors: call(self, a, b)
            return [_history_of(x, where) for x in args], "positional"
        if len(args) != 1:
            raise ValueError(f"{where}: expected one positional argument, got {len(args)}")
        a = args[0]
        mk = (node.get("kwargs") or {}).get("mask")
        states = (node.get("kwargs") or {}).get("initial_state")
        if isinstance(mk, dict) and mk.get("class_name") == "__keras_tensor__":   # layer(x, mask=m)
            st = [] if states is None else (states if isinstance(states, list) else [states])
            return [_history_of(a, where)] + [_history_of(x, where) for x in st] + [_history_of(mk, where)], "mask"
        if states is not None:      # a recurrent layer's initial_state (Keras): inputs [x, states...]
            states = states if isinstance(states, list) else [states]
            return [_history_of(a, where)] + [_history_of(x, where) for x in states], True
        if isinstance(a, list) and a and not isinstance(a[0], str):
            return [_history_of(x, where) for x in a], True
        return [_history_of(a, where)], False
    if isinstance(node, list):                  # Keras 2: a list of [name, node, tensor, kwargs]
        hs = [_history_of(x, where) for x in node]
        return hs, len(hs) > 1
    raise ValueError(f"{where}: cannot read inbound node {node!r}")


def _node_constants(node):
    """The constant keyword arguments of a saved call (``{"kwargs": {...}}``), tensors and the
    recurrent ``initial_state`` (read by _node_inputs) left out."""
    if not isinstance(node, dict):
        return {}
    kw = dict(node.get("kwargs") or {})
    kw.pop("initial_state", None)
    return {k: v for k, v in kw.items() if not (isinstance(v, dict) and v.get("class_name") == "__keras_tensor__")}


def graph_from_config(config, custom_objects=None):
    """Rebuild the layers and KerasTensors of :func:`graph_config`'s output.

    Returns:
        ``(inputs, outputs)`` in the saved structure (a KerasTensor, a list or a dict), ready
        for ``Model(inputs, outputs)``.

    Args:
        config: :func:`graph_config`'s dict (or a Keras 3 / Keras 2 functional config).
        custom_objects: optional dict for custom layers.

    Raises:
        ValueError: naming the layer or tensor that cannot be rebuilt (unknown class, dangling
            reference, a cycle).

    Example:
        >>> inputs, outputs = graph_from_config(model.get_config())
        >>> clone = fusednet.Model(inputs, outputs)
    """
    from ..saving.serialization import deserialize_keras_object
    layers, tensors, pending, node_of = {}, {}, [], {}
    for i, entry in enumerate(config["layers"]):
        if not isinstance(entry, dict) or "class_name" not in entry:
            raise ValueError(f"functional config: layers[{i}] is not a layer entry")
        lname = entry.get("name") or (entry.get("config") or {}).get("name")
        if entry["class_name"] == "InputLayer" and not entry.get("inbound_nodes"):
            layer = InputLayer.from_config(entry["config"])
            tensors[(layer.name, 0, 0)] = layer.output
        else:
            spec = {k: v for k, v in entry.items() if k not in ("name", "inbound_nodes")}
            try:
                layer = deserialize_keras_object(spec, custom_objects)
            except (TypeError, ValueError) as e:
                raise ValueError(f"functional config: layer '{lname}' ({entry['class_name']}): {e}") from e
        if lname in layers:
            raise ValueError(f"functional config: two layers are named '{lname}'")
        layers[lname] = layer
        for k, node in enumerate(entry.get("inbound_nodes") or []):
            node_of[(lname, k)] = node
            pending.append((layer, lname, k, _node_inputs(node, f"functional config: layer '{lname}' node {k}")))
    while pending:
        left = []
        for layer, lname, k, (hs, multi) in pending:
            for h in hs:
                if h[0] not in layers:
                    raise ValueError(f"functional config: layer '{lname}' is called on the output of "
                                     f"unknown layer '{h[0]}'")
            if all(h in tensors for h in hs):
                args = [tensors[h] for h in hs]
                # user layers get their saved constants back (built-in ones ignore the kwargs
                # Keras writes, as before: their options live in their configs)
                kw = {} if type(layer).__module__.startswith("fusednet.") else _node_constants(node_of[(lname, k)])
                if multi == "mask":
                    res = layer(args[0], mask=args[-1], **kw) if len(args) == 2 else \
                        layer(args[0], initial_state=args[1:-1], mask=args[-1], **kw)
                else:
                    res = layer(*args, **kw) if multi == "positional" else layer(args if multi else args[0], **kw)
                if isinstance(res, list) and getattr(layer, "_graph", None) is None:
                    for i, r in enumerate(res):     # return_state: [name, node, i] is output i
                        tensors[(lname, k, i)] = r
                else:
                    tensors[(lname, k, 0)] = res
            else:
                left.append((layer, lname, k, (hs, multi)))
        if len(left) == len(pending):
            miss = [h for _, _, _, (hs, _) in left for h in hs if h not in tensors]
            raise ValueError(f"functional config: cannot compute the inputs of layer '{left[0][1]}' "
                             f"(tensor {list(miss[0])} is never produced)")
        pending = left

    def tensor(h, what):
        if not (isinstance(h, (list, tuple)) and len(h) >= 3):
            raise ValueError(f"functional config: cannot read {what} entry {h!r}")
        key = (str(h[0]), int(h[1]), int(h[2]))
        if key not in tensors:
            raise ValueError(f"functional config: {what} names tensor {list(key)}, which no layer produces")
        return tensors[key]

    def struct(spec, what):
        if isinstance(spec, dict):
            return {k: tensor(v, what) for k, v in spec.items()}
        if isinstance(spec, list) and spec and isinstance(spec[0], str):
            return tensor(spec, what)
        if isinstance(spec, list):
            return [tensor(v, what) for v in spec]
        raise ValueError(f"functional config: cannot read {what} {spec!r}")
    return struct(config["input_layers"], "input_layers"), struct(config["output_layers"], "output_layers")
