"""The mask channel of the compiled plan (Keras 3 semantics; see ``layers/masks.py``).

A plan whose graph holds a mask *source* (``Embedding(mask_zero=True)``, ``Masking``, a user
layer overriding ``compute_mask``) keeps one mask per value slot beside the values: before a
step runs, its inputs' masks are put on the step's context (``ctx.input_mask``); after, the
step's layer computes its output mask (``compute_mask``). A plan without a source does none of
this (no cost). Output masks weight the losses as Keras does (:func:`masked_loss`): a masked
position weighs 0 and the mean runs over the valid positions of the batch.
"""
from .. import _C
from ..layers.base import Layer
from ..layers.masks import as_mask_array, get_mask, set_mask
from ..tensor import Tensor

__all__ = ["is_mask_source", "graph_has_masks", "step_output_mask", "masked_loss", "metric_mask", "EPSILON",
           "explicit_mask"]

EPSILON = 1e-7      # Keras backend.epsilon(): valid + ε in the masked mean


def is_mask_source(layer):
    """True when ``layer`` may produce a mask from unmasked inputs."""
    if getattr(layer, "_mask_source", False):
        return True
    cm = getattr(type(layer), "compute_mask", None)        # plan-internal steps (casts) have none
    return cm is not None and cm is not Layer.compute_mask and not type(layer).__module__.startswith("fusednet.")


def graph_has_masks(graph):
    """True when some node of ``graph`` (a plan :class:`Graph`) is a mask source."""
    return any(is_mask_source(n.layer) for n in graph.nodes)


def step_output_mask(layer, x, in_mask, tape, ctx):
    """The output mask of one plan step: a tape step's layer attached it to its output Tensor
    (``ctx.out_mask``); a native layer's ``compute_mask`` gets the input Arrays."""
    if tape or "out_mask" in ctx.__dict__:         # set by the step (tape steps, nested models)
        return ctx.__dict__.get("out_mask")
    if in_mask is None and not is_mask_source(layer) or not hasattr(layer, "compute_mask"):
        return None
    m = layer.compute_mask(x, in_mask)
    if isinstance(m, (list, tuple)):      # one mask per output of a multi-output layer: its
        return [as_mask_array(e) for e in m]    # OutputSelect steps pick theirs
    return as_mask_array(m)


def explicit_mask(value):
    """An explicit ``mask=`` value (bool / int / float Array) as the float32 0/1 mask the layers
    consume (nonzero = a real step)."""
    m = value if value.dtype == "float32" else _C.cast(value, "float32")
    return _C.binary("not_equal", m, _C.full([], 0.0, device=m.device))


def attach_input_masks(ts, ctx):
    """Tape steps: the input masks on the wrapped input Tensors (the layer's ``__call__`` reads
    them like any eager call)."""
    m = ctx.__dict__.get("input_mask")
    if m is None:
        return
    ms = m if isinstance(m, list) else [m]
    for t, mm in zip(ts, ms):
        set_mask(t, mm)


def tape_output_mask(out, ctx):
    m = get_mask(out)
    ctx.out_mask = None if m is None else (m.data if isinstance(m, Tensor) else m)


def valid_scale(mask):
    """Keras ``apply_mask``'s factor ``B·T / (valid + ε)`` of a [B, T] mask (a float): weighting
    every position by ``mask`` times it makes the mean over all positions the mean over the valid
    ones."""
    total = float(mask.shape[0] * mask.shape[1])
    return total / (float(_C.reduce("sum", mask).numpy()) + EPSILON)


def masked_loss(loss, out, yb, n, mask, need_grad, fused):
    """(per-sample loss [n], grad or None) of a sequence output ``out`` [n, T, ...] whose mask
    ``mask`` [n, T] weights its positions as Keras does: weight ``mask * n·T / (valid + ε)`` on
    every position, so the batch mean is ``Σ loss·mask / valid`` (the kernel's gradient already
    carries 1/n, so it gets ``mask * n / valid``, the same factor as the per-sample sums). Returns None when ``mask``
    does not match ``out`` (then the loss is unmasked, as Keras for non-sequence outputs)."""
    if mask is None or out.ndim < 3 or tuple(mask.shape) != tuple(out.shape[:2]):
        return None
    per_pos, g = loss.compute(out, yb, 1.0 / n, need_grad, fused, per_sample=False)
    w = _C.scale(mask, valid_scale(mask) / float(mask.shape[1]))   # 1/T: mean over steps
    per = _C.reduce("sum", _C.binary("mul", per_pos.reshape(mask.shape), w), [1], False)
    if g is not None:
        g = _C.binary("mul", g.reshape(*mask.shape, -1), w.reshape(*mask.shape, 1)).reshape(tuple(out.shape))
    return per, g


def metric_mask(plan, i, out):
    """The mask of output ``i`` from the plan's latest forward when it matches the sequence
    output ``out`` [B, T, ...] (Keras feeds it to the metrics as sample weights), else None."""
    if not plan.masked:
        return None
    m = plan.out_masks[i]
    if m is None or out.ndim < 3 or tuple(m.shape) != tuple(out.shape[:2]):
        return None
    return m
