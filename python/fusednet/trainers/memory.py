"""Activation-memory report of a compiled plan: what its liveness planning keeps alive.

:meth:`GraphPlan.forward` drops a value as soon as its last consumer ran; a training forward
also keeps what each step's context saved for backward until that step's backward. This module
runs one forward on a real batch and, after every step, sums the bytes of the distinct native
buffers then alive (deduplicated by data pointer, so a reshape view is not counted twice):

    live values  the graph inputs (held by the caller throughout) and the step outputs not yet
                 dropped (the graph outputs are kept)
    saved        (training) every Array reachable from the contexts of the steps run so far

``peak_bytes`` is the maximum over steps of their union; ``total_bytes`` is what a plan without
liveness would hold at its end (the inputs, every step output that is a new buffer, not a view,
and in training every other buffer a context saved: masks, normalised inputs), so
``peak_bytes / total_bytes`` is what freeing saved; ``saved_bytes`` is what a training forward
leaves held for backward. A fused step is named by its layers joined with ``+``. Weight buffers are excluded: they are
parameters, not activations. The report is measured, not estimated: kernels' own scratch
buffers (thread-local, reused) are not part of it.
"""
from ..layers.base import Context
from ..tensor import Tensor

__all__ = ["forward_report", "buffers"]


def buffers(obj, out, exclude, depth=0):
    """Add ``{data_ptr: nbytes}`` of every native Array reachable from ``obj`` to ``out``."""
    if obj is None or depth > 8:
        return
    nbytes = getattr(obj, "nbytes", None)
    if hasattr(obj, "data_ptr") and nbytes is not None and not isinstance(obj, Tensor):
        p = obj.data_ptr
        if p and p not in exclude:
            out[p] = max(out.get(p, 0), int(nbytes))
        return
    if isinstance(obj, Tensor):
        return buffers(obj.data, out, exclude, depth + 1)
    if isinstance(obj, Context):
        for v in obj.__dict__.values():
            buffers(v, out, exclude, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            buffers(v, out, exclude, depth + 1)
    elif isinstance(obj, dict):
        for v in obj.values():
            buffers(v, out, exclude, depth + 1)


def _step_name(st):
    owner = getattr(st.fwd, "__self__", None)
    fused = getattr(owner, "layers", None)
    if isinstance(fused, (list, tuple)) and fused:     # a fused step: its layers' names
        return "+".join(getattr(l, "name", type(l).__name__) for l in fused)
    layer = getattr(owner, "layer", owner)
    return getattr(layer, "name", type(owner).__name__)


def forward_report(plan, xs, training=False, weights=()):
    """Run ``plan`` forward once on input Arrays ``xs`` and report its activation memory.

    Args:
        plan: a :class:`~fusednet.trainers.plan.GraphPlan`.
        xs: one input Array per graph input (a real batch).
        training: measure the training forward (contexts keep what backward needs) instead of
            inference.
        weights: further parameter Tensors/Arrays to leave out (the plan's own are left out).

    Returns:
        dict: ``peak_bytes``, ``total_bytes``, ``saved_bytes``, ``input_bytes`` and ``steps``: one dict per step
        (``name``, ``output_bytes``, ``live_bytes``: values alive during the step, ``saved_bytes``:
        arrays held for backward so far, ``bytes``: their union).
    """
    wb = {}
    buffers(list(plan.params) + list(weights), wb, ())
    exclude = set(wb)
    steps, saved, ctxs_seen = [], {}, []
    inputs = {}
    buffers(list(xs), inputs, exclude)
    state = {"peak": 0, "outputs": 0, "extra": 0}

    def observe(i, vals, ctx):
        st = plan.steps[i]
        live, ins, out = {}, {}, {}
        buffers(vals, live, exclude)
        buffers([vals[s] for s in st.in_slots], ins, exclude)
        buffers(vals[st.out_slot], out, exclude)
        out = {p: n for p, n in out.items() if p not in ins}  # a view of an input is no new buffer
        state["outputs"] += sum(out.values())
        if training:
            ctxs_seen.append(ctx)
            mine = {}
            buffers(ctx, mine, exclude)
            # saved buffers that are neither a live value nor saved before (masks, normalised
            # inputs, ...) are activations a plan without liveness would hold too
            state["extra"] += sum(n for p, n in mine.items() if p not in live and p not in saved and p not in inputs)
            saved.update(mine)
        union = dict(saved)
        union.update(inputs)  # the caller holds the inputs for the whole forward
        union.update(live)
        b = sum(union.values())
        state["peak"] = max(state["peak"], b)
        steps.append({"name": _step_name(st), "output_bytes": sum(out.values()),
                      "live_bytes": sum(live.values()), "saved_bytes": sum(saved.values()), "bytes": b})

    plan.forward(list(xs), training, record=training, observe=observe)
    return {"peak_bytes": state["peak"], "total_bytes": sum(inputs.values()) + state["outputs"] + state["extra"],
            "saved_bytes": sum(saved.values()), "input_bytes": sum(inputs.values()), "steps": steps}
