"""Magnitude pruning of layer kernels: ``prune_low_magnitude``, ``strip_pruning``, sparsity report.

Shape of the design (docs/DECISIONS.md "2026-12-03 Pruning"): no wrapper layer. A pruned layer
keeps its class (so the fusion rules of trainers/fusion.py, which match layer classes, still
apply and the fast path is unchanged) and carries a :class:`PruningState` in ``layer._pruning``:
the schedule, the step, and one float32 0/1 mask Array per kernel (biases are never pruned).
The masks are applied INSIDE the fused optimizer step: the :class:`Pruner` that the
:class:`~fusednet.pruning.UpdatePruningStep` callback registers on the optimizer hands each step
one mask per parameter (``masks=`` of ``_C.adam_step`` & co.), and the kernel zeroes the pruned
weights and their optimizer state in its update loop (no separate pass). Mask update (tfmot
``Pruning._update_mask``, native ``_C.magnitude_mask``: an exact radix select): keep
``k = max(round(n·(1-s)), 1)`` entries, threshold = k-th largest ``|w|``, mask = ``|w| >= threshold``
(ties are kept, so the sparsity can fall short of ``s`` on ties). Block sparsity (tfmot
``block_size``, 2-D kernels): the same rule over the mean (``block_pooling_type="AVG"``) or max
("MAX") ``|w|`` of each block (native ``_C.block_magnitude``), the block mask expanded to the kernel.
"""
import numpy as np

from .. import _C
from ..tensor import bump_weights_version
from .schedules import PruningSchedule

__all__ = ["prune_low_magnitude", "strip_pruning", "get_sparsity", "PruningState", "Pruner",
           "PRUNABLE_WEIGHTS"]

#: layer class name -> attributes holding the prunable kernels (biases are never pruned)
PRUNABLE_WEIGHTS = {
    "Dense": ("kernel",), "Conv1D": ("kernel",), "Conv2D": ("kernel",),
    "DepthwiseConv2D": ("kernel",), "SeparableConv2D": ("depthwise_kernel", "pointwise_kernel"),
    "Conv2DTranspose": ("kernel",), "Conv1DTranspose": ("kernel",), "Embedding": ("embeddings",),
}


def _prunable_attrs(layer):
    for cls in type(layer).__mro__:
        if cls.__name__ in PRUNABLE_WEIGHTS:
            return PRUNABLE_WEIGHTS[cls.__name__]
    return None


class PruningState:
    """What ``prune_low_magnitude`` attaches to a layer (``layer._pruning``).

    Args:
        layer: the layer being pruned.
        pruning_schedule: a :class:`~fusednet.pruning.PruningSchedule`.
        block_size: ``(1, 1)`` (element-wise) or ``(bh, bw)`` blocks of a 2-D kernel.
        block_pooling_type: how a block's magnitude is pooled, ``"AVG"`` or ``"MAX"``.

    Shape:
        ``masks[attr]`` has the shape of ``getattr(layer, attr)``.

    Example:
        >>> st = fusednet.pruning.prune_low_magnitude(layer)._pruning
        >>> st.step
        -1
    """

    def __init__(self, layer, pruning_schedule, block_size=(1, 1), block_pooling_type="AVG"):
        self.layer = layer
        self.schedule = pruning_schedule
        self.block_size = tuple(int(b) for b in block_size)
        self.block_pooling_type = block_pooling_type
        self.step = -1                 # tfmot's pruning_step: -1 until UpdatePruningStep starts it
        self.masks = {}                # attr -> Array (float32 0/1), created once the layer is built
        self.thresholds = {}

    def ensure_masks(self):
        """Create all-ones masks for the built kernels (idempotent)."""
        if not self.layer.built:
            raise ValueError(f"prune_low_magnitude: layer '{self.layer.name}' is not built; build the model "
                             f"(give it an input shape) before training it")
        for attr in _prunable_attrs(self.layer):
            w = getattr(self.layer, attr, None)
            if w is not None and attr not in self.masks:
                if self.block_size != (1, 1):
                    self._block_dims(attr, w.shape)          # raises for kernels that are not 2-D
                self.masks[attr] = _C.full(list(w.shape), 1.0, device=w.data.device)

    def _block_dims(self, attr, shape):
        """(R, C) of a kernel for block pruning: a 2-D kernel as it is, else its shape without
        size-1 dims (tfmot squeezes: a 1x1 conv kernel (1, 1, cin, cout) is (cin, cout))."""
        dims = [int(d) for d in shape] if len(shape) == 2 else [int(d) for d in shape if int(d) != 1]
        if len(dims) != 2:
            raise ValueError(f"prune_low_magnitude: block_size={self.block_size} needs 2-D kernels (as tfmot); "
                             f"layer '{self.layer.name}' {attr} has shape {tuple(shape)}")
        return dims

    def pairs(self):
        """``[(weight Array, mask Array), ...]``."""
        return [(getattr(self.layer, a).data, m) for a, m in self.masks.items()]

    def update_masks(self, sparsity):
        """Recompute every mask at ``sparsity`` from the current magnitudes (tfmot's rule)."""
        for attr, mask in self.masks.items():
            w = getattr(self.layer, attr).data
            if self.block_size == (1, 1):
                # the k-th largest |w| and the mask |w| >= it, in one native call (exact radix select)
                _, thr = _C.magnitude_mask(w, _keep(int(np.prod(w.shape)), sparsity), out=mask)
            else:
                (bh, bw), rc = self.block_size, self._block_dims(attr, w.shape)
                pooled = _C.block_magnitude(w.reshape(rc), bh, bw, self.block_pooling_type)
                block_mask, thr = _C.magnitude_mask(pooled, _keep(int(np.prod(pooled.shape)), sparsity))
                _C.block_mask_expand(block_mask, bh, bw, rc, out=mask.reshape(rc))
            self.thresholds[attr] = float(thr)

    def apply_masks(self):
        """w *= mask for every kernel (one native in-place multiply each)."""
        for w, m in self.pairs():
            _C.binary("mul", w, m, out=w)


def _keep(n, sparsity):
    """tfmot's number of entries kept: max(round_half_even(n·(1-s)) in float32, 1)."""
    return int(max(np.round(np.float32(n) * (np.float32(1.0) - np.float32(sparsity))), 1))


class Pruner:
    """The optimizer hook: masks for each fused step, then the pruning step and its mask updates.

    Registered by :class:`~fusednet.pruning.UpdatePruningStep` as ``optimizer._pruning``; the
    optimizer passes :meth:`masks_for` to its native update kernel (which zeroes pruned weights
    and their optimizer state in the same loop) and calls :meth:`after_step` after it.

    Args:
        states: the :class:`PruningState` of every pruned layer of the model.

    Shape:
        None (bookkeeping only).

    Example:
        >>> opt._pruning = Pruner(pruned_states(model)); opt._pruning.begin()
    """

    def __init__(self, states):
        self.states = list(states)
        self._key = None       # data pointers of the params list the cached masks belong to
        self._masks = None

    def masks_for(self, params):
        """One mask Array (or None: not pruned) per entry of ``params``, or None when none is pruned.

        Matched by data pointer and shape, cached per params list (a fit passes the same list every
        step, so a step costs one tuple of pointers)."""
        key = tuple(p.data_ptr for p in params)
        if key != self._key:
            by_ptr = {(w.data_ptr, tuple(w.shape)): m for st in self.states for w, m in st.pairs()}
            masks = [by_ptr.get((p.data_ptr, tuple(p.shape))) for p in params]
            self._masks = masks if any(m is not None for m in masks) else None
            self._key = key
        return self._masks

    def _maybe_update(self):
        for st in self.states:
            should, sparsity = st.schedule(st.step)
            if should:
                st.update_masks(sparsity)

    def begin(self):
        """Start (step -1 -> 0) and prepare the masks the first step's forward will see."""
        for st in self.states:
            st.ensure_masks()
            if st.step < 0:
                st.step = 0
        self._key = self._masks = None
        self._maybe_update()
        bump_weights_version()
        for st in self.states:
            st.apply_masks()

    def after_step(self):
        """Steps on and updates the masks due at the new step (the step itself already applied them).

        tfmot updates the mask at the start of step t's forward from the weights left by step
        t-1; doing it right after step t-1's update is the same computation. Newly pruned weights
        are zeroed here (one pass, on pruning steps only); their optimizer state becomes 0 in the
        next fused step."""
        due = []
        for st in self.states:
            st.step += 1
            if st.schedule.should_prune(st.step):      # integer arithmetic only on most steps
                due.append(st)
        for st in due:
            st.update_masks(st.schedule(st.step)[1])
            st.apply_masks()


def _layers(model):
    """Every layer of ``model``, nested models (Sequential / functional used as layers) walked
    recursively in place of themselves, each layer once."""
    fl = getattr(model, "_flat_layers", None)
    out, seen = [], set()
    for l in (fl() if fl is not None else getattr(model, "layers", [])):
        for x in (_layers(l) if hasattr(l, "_flat_layers") else [l]):
            if id(x) not in seen:
                seen.add(id(x))
                out.append(x)
    return out


def pruned_states(model):
    """The :class:`PruningState` of every pruned layer of ``model`` (in layer order)."""
    return [l._pruning for l in _layers(model) if getattr(l, "_pruning", None) is not None]


def _check_args(pruning_schedule, block_size, block_pooling_type):
    if not isinstance(pruning_schedule, PruningSchedule):
        raise TypeError(f"prune_low_magnitude: pruning_schedule must be a PruningSchedule "
                        f"(ConstantSparsity, PolynomialDecay), got {type(pruning_schedule).__name__}")
    try:
        bs = tuple(block_size)
    except TypeError:
        bs = None
    if bs is None or len(bs) != 2 or not all(isinstance(b, (int, np.integer)) and not isinstance(b, bool)
                                             and 1 <= b <= 2 ** 31 for b in bs):
        raise ValueError(f"prune_low_magnitude: block_size must be a pair of ints >= 1, got {block_size!r}")
    if block_pooling_type not in ("AVG", "MAX"):
        raise ValueError(f"prune_low_magnitude: block_pooling_type must be 'AVG' or 'MAX', got {block_pooling_type!r}")


def _clone(model):
    clone = type(model).from_config(model.get_config())
    if model.built:
        clone.set_weights(model.get_weights())
    return clone


def _mark(layer, pruning_schedule, block_size, block_pooling_type="AVG"):
    if getattr(layer, "_pruning", None) is not None:
        raise ValueError(f"prune_low_magnitude: layer '{layer.name}' is already pruned")
    st = PruningState(layer, pruning_schedule, block_size, block_pooling_type)
    if layer.built:
        st.ensure_masks()                 # before attaching: a bad block_size leaves the layer alone
    layer._pruning = st
    return layer


def prune_low_magnitude(to_prune, pruning_schedule=None, block_size=(1, 1), block_pooling_type="AVG", **kwargs):
    """Mark a model's (or one layer's) kernels for magnitude pruning (``tfmot.sparsity.keras``).

    A model is cloned (``from_config`` + weights) and every prunable layer of the clone (Dense,
    Conv1D/2D, DepthwiseConv2D, SeparableConv2D, Conv1D/2DTranspose, Embedding) gets masks; other
    layers are left alone. A single layer must be prunable and is marked in place and returned.
    Train the result with the :class:`~fusednet.pruning.UpdatePruningStep` callback.

    Args:
        to_prune: a Sequential / functional model, or a layer.
        pruning_schedule: a schedule (default ``ConstantSparsity(0.5, 0, -1, 100)``, as tfmot).
        block_size: ``(1, 1)`` (element-wise, default) or ``(bh, bw)``: prune whole blocks of a
            2-D kernel (Dense, Embedding, 1x1 convs after dropping size-1 dims; other kernels
            raise ValueError, as tfmot). Blocks are aligned at (0, 0); edge blocks are partial.
        block_pooling_type: a block's magnitude, ``"AVG"`` (mean |w|, default) or ``"MAX"``.
        **kwargs: none accepted (TypeError).

    Shape:
        Masks have the shape of the kernels they prune.

    Example:
        >>> sched = fusednet.pruning.PolynomialDecay(0.0, 0.8, begin_step=0, end_step=1000)
        >>> pruned = fusednet.pruning.prune_low_magnitude(model, pruning_schedule=sched)
        >>> pruned.compile("adam", "sparse_categorical_crossentropy")
        >>> pruned.fit(x, y, callbacks=[fusednet.pruning.UpdatePruningStep()])
    """
    from .schedules import ConstantSparsity
    if kwargs:
        raise TypeError(f"prune_low_magnitude: unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
    if pruning_schedule is None:
        pruning_schedule = ConstantSparsity(0.5, begin_step=0, frequency=100)
    _check_args(pruning_schedule, block_size, block_pooling_type)
    from ..layers.base import Layer
    if isinstance(to_prune, Layer) and not hasattr(to_prune, "_flat_layers"):
        if _prunable_attrs(to_prune) is None:
            raise ValueError(f"prune_low_magnitude: layer '{to_prune.name}' ({type(to_prune).__name__}) is not "
                             f"prunable; prunable: {', '.join(sorted(PRUNABLE_WEIGHTS))}")
        return _mark(to_prune, pruning_schedule, block_size, block_pooling_type)
    if not hasattr(to_prune, "get_config") or not hasattr(to_prune, "layers"):
        raise TypeError(f"prune_low_magnitude: to_prune must be a model or a layer, got {type(to_prune).__name__}")
    if pruned_states(to_prune):
        raise ValueError("prune_low_magnitude: the model already contains pruned layers")
    clone = _clone(to_prune)
    n = 0
    for l in _layers(clone):
        if _prunable_attrs(l) is not None:
            _mark(l, pruning_schedule, block_size, block_pooling_type)
            n += 1
    if n == 0:
        raise ValueError(f"prune_low_magnitude: model '{to_prune.name}' has no prunable layer")
    return clone


def strip_pruning(model):
    """A plain copy of a pruned model with the masks applied (the pruned weights are zeros).

    Args:
        model: a model returned by :func:`prune_low_magnitude` (or a pruned layer: its masks are
            applied and removed in place).

    Shape:
        Same weights as ``model``.

    Example:
        >>> final = fusednet.pruning.strip_pruning(pruned)
        >>> final.save("sparse.keras")
    """
    from ..layers.base import Layer
    if isinstance(model, Layer) and not hasattr(model, "_flat_layers"):
        st = getattr(model, "_pruning", None)
        if st is not None:
            bump_weights_version()
            st.apply_masks()
            model._pruning = None
        return model
    if not hasattr(model, "get_config"):
        raise TypeError(f"strip_pruning: expected a model, got {type(model).__name__}")
    bump_weights_version()
    for st in pruned_states(model):
        st.apply_masks()
    return _clone(model)


def get_sparsity(model):
    """Fraction of exact zeros of every prunable kernel: ``{"layer/attr": fraction}``.

    Args:
        model: a model (pruned or not) or a single layer.

    Shape:
        A dict of floats in [0, 1].

    Example:
        >>> fusednet.pruning.get_sparsity(pruned)["dense/kernel"]
        0.8
    """
    layers = [model] if not hasattr(model, "layers") else _layers(model)
    out = {}
    for l in layers:
        attrs = _prunable_attrs(l)
        if attrs is None or not l.built:
            continue
        for a in attrs:
            w = getattr(l, a, None)
            if w is None:
                continue
            zero = _C.binary("equal", w.data, _C.full([], 0.0, device=w.data.device))
            out[f"{l.name}/{a}"] = float(_C.reduce("mean", zero).item())
    return out


MASK_PREFIX = "pruning_mask/"


def save_state(model):
    """``(pruning_config, [(name, mask ndarray), ...])`` for ``save_model``; ``(None, [])`` when unpruned.

    The config holds, per pruned layer name, the schedule config, the step and the block size; the
    masks travel as extra weight entries ``pruning_mask/<layer>/<attr>``.
    """
    states = pruned_states(model)
    if not states:
        return None, []
    cfg, arrays = {}, []
    for st in states:
        cfg[st.layer.name] = {"schedule": st.schedule.get_config(), "step": int(st.step),
                              "block_size": list(st.block_size), "block_pooling_type": st.block_pooling_type,
                              "masks": sorted(st.masks)}
        for attr in sorted(st.masks):
            arrays.append((f"{MASK_PREFIX}{st.layer.name}/{attr}", np.array(st.masks[attr].numpy(), copy=True)))
    return cfg, arrays


def restore_state(model, config, masks, src):
    """Re-attach pruning state saved by :func:`save_state` (``masks``: name -> ndarray)."""
    from .schedules import deserialize
    by_name = {l.name: l for l in _layers(model)}
    for name, c in config.items():
        layer = by_name.get(name)
        if layer is None or _prunable_attrs(layer) is None:
            raise ValueError(f"{src}: pruning_config names layer {name!r}, which the model has not or cannot prune")
        _mark(layer, deserialize(c["schedule"]), tuple(c.get("block_size", (1, 1))),
              c.get("block_pooling_type", "AVG"))
        layer._pruning.step = int(c["step"])
        for attr in c["masks"]:
            key = f"{MASK_PREFIX}{name}/{attr}"
            if key not in masks:
                raise ValueError(f"{src}: pruning mask {key!r} is missing from the file")
            m = np.ascontiguousarray(masks[key], np.float32)
            cur = layer._pruning.masks[attr]
            if tuple(m.shape) != tuple(cur.shape):
                raise ValueError(f"{src}: pruning mask {key!r} has shape {m.shape}, the kernel {tuple(cur.shape)}")
            cur.copy_(_C.asarray(m) if cur.device == "cpu" else _C.asarray(m).to(cur.device))
