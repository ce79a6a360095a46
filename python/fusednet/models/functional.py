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

__all__ = ["FunctionalGraph"]


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
    def layers(self):
        """Distinct layers in call order (Input layers excluded)."""
        out, seen = [], set()
        for t in self.order:
            if t.layer is not None and not isinstance(t.layer, InputLayer) and id(t.layer) not in seen:
                seen.add(id(t.layer))
                out.append(t.layer)
        return out

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
        nodes = [Node(t.layer, [id(p) for p in t.inputs], id(t), len(t.inputs) > 1) for t in self.calls()]
        return Graph([id(t) for t in self.inputs], [id(t) for t in self.outputs], nodes)

    # ------------------------------------------------------------------ running on Tensors
    def call(self, xs, training, logits=False):
        """Run on a list of Tensors (one per input) through each layer's ``__call__``; returns the
        list of outputs. ``logits``: output layers skip a final softmax/sigmoid."""
        vals = {id(t): x for t, x in zip(self.inputs, xs)}
        outs = {id(t) for t in self.outputs}
        for t in self.calls():
            args = [vals[id(p)] for p in t.inputs]
            a = args[0] if len(args) == 1 else args
            if logits and id(t) in outs and hasattr(t.layer, "_call_logits"):
                vals[id(t)] = t.layer._call_logits(a)
            else:
                vals[id(t)] = t.layer(a, training=training)
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
