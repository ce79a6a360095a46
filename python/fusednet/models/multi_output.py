"""A multi-output model used as a layer of another functional model: ``a, b = sub(x)``.

Calling a model with several outputs on KerasTensors records one node for the model itself,
whose value is the list of its outputs (in the compiled plan: the list of Arrays its nested
plan returns), and one :class:`OutputSelect` node per output picking entry ``i``. The outer
plan then runs the sub-model once per call; each select's backward hands its gradient back as
a list with that one entry filled, the plan adds such lists entry by entry (gradients from
several outputs and several consumers meet there), and the sub-model's backward runs its
nested plan once on the whole list (outputs that got no gradient pass None). On Tensors (the
eager and tape paths) the sub-model returns its outputs structure and the selects index it.

The user gets the structure the sub-model was built with: a list of KerasTensors, or a dict
for a model built with a dict of outputs. Select layers are plumbing: they are not listed in
``model.layers`` and carry no weights.
"""
from ..layers.base import KerasTensor, Layer

__all__ = ["OutputSelect", "call_multi_output", "add_grads"]


class OutputSelect(Layer):
    """Entry ``index`` (or ``key`` of a dict) of a multi-output sub-model's value (internal).

    Args:
        index: output position. key: output name when the sub-model's outputs are a dict.
        count: number of outputs of the sub-model.

    Shape:
        The selected output's shape.

    Example:
        >>> a, b = sub_model(fusednet.Input((5,)))   # two OutputSelect nodes behind a and b
    """

    def __init__(self, index, count, key=None, **kwargs):
        super().__init__(**kwargs)
        self.index, self.count, self.key = int(index), int(count), key
        self.built = True

    def __call__(self, inputs, training=None, **kwargs):
        if isinstance(inputs, dict):
            return inputs[self.key]
        return inputs[self.index]

    @property
    def supports_fast_path(self):
        return True

    def forward(self, ctx, x, training, strip=False):
        return x[self.index]

    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        """The selected output's mask: entry ``index`` (``key``) of a multi-output layer's
        masks (e.g. ``[seq mask, None, None]`` of an RNN with ``return_state``)."""
        from ..layers.masks import as_mask_array
        if isinstance(mask, dict):
            mask = mask.get(self.key)
        elif isinstance(mask, (list, tuple)):
            mask = mask[self.index] if self.index < len(mask) else None
        else:
            mask = None      # one mask for a list value: whose it is is unknown
        return as_mask_array(mask)

    def backward(self, ctx, dy, need_dx):
        g = [None] * self.count
        g[self.index] = dy
        return g, []

    def get_config(self):
        return {**super().get_config(), "index": self.index, "count": self.count, "key": self.key}


def call_multi_output(model, inputs, record):
    """Symbolic call of a multi-output ``model`` on KerasTensor(s): its outputs structure.

    Args:
        model: a functional Model with more than one output.
        inputs: a KerasTensor or a list of them (one per model input).
        record: the Layer's ``_record_call`` (keeps the first call's input/output).

    Returns:
        A list (or dict, as the model's outputs were given) of KerasTensors.

    Example:
        >>> a, b = call_multi_output(sub, x, sub._record_call)
    """
    g = model._graph
    ins = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)
    if len(ins) != len(g.inputs):
        raise ValueError(f"Model '{model.name}' expects {len(g.inputs)} input(s), got {len(ins)}")
    g.check_input_shapes([t.shape for t in ins], model.name, "call")
    packed = KerasTensor((None,), layer=model, inputs=ins, name=model.name)
    n = len(g.outputs)
    outs = []
    for i, (t, nm) in enumerate(zip(g.outputs, g.output_names)):
        sel = OutputSelect(i, n, key=nm if g.out_kind == "dict" else None, name=f"{model.name}_{nm}")
        outs.append(KerasTensor(t.shape, t.dtype, layer=sel, inputs=(packed,), name=nm))
    res = dict(zip(g.output_names, outs)) if g.out_kind == "dict" else outs
    return record(list(ins) if len(ins) > 1 else ins[0], res)


def add_grads(a, b, add):
    """a + b for gradients that may be None or per-output lists (entries added with ``add``)."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, list):
        return [add_grads(x, y, add) for x, y in zip(a, b)]
    return add(a, b)
