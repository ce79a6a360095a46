"""Keras 3 sample and class weights for the compiled fit / evaluate loops.

``sample_weight`` is one array of ``n`` weights (applied to every output, as Keras 3 does when
one array is given for several outputs), or, per output, a dict ``{output name: weights}`` or a
list in output order; a missing / None entry leaves that output unweighted. Each output's
per-sample loss is multiplied by its own weights before the batch mean (Keras
``sum_over_batch_size``: ``Σ w·loss / batch``), then by its ``loss_weights`` entry.
``class_weight`` (single-output models only, as Keras) maps each sample's class — argmax of a
one-hot / probability target, else its rounded label — to ``class_weight.get(class, 1.0)``,
multiplied into the sample weights.

Internally the weights travel with the batches as ``None``, one Array (shared), or a list of
one Array-or-None per output (:func:`map_weights` applies a row gather/slice to either form).
"""
import numpy as np

from .. import _C
from .data_adapters import as_host_array
from .logs import array_sum

__all__ = ["sample_weights", "class_weighted", "map_weights", "output_weights", "weighted_loss_sum",
           "per_output_form"]


def per_output_form(sample_weight, names):
    """True when ``sample_weight`` gives weights per output: a dict, or a list/tuple on a model
    with several outputs (on one output a list is the weights themselves)."""
    return isinstance(sample_weight, dict) or (isinstance(sample_weight, (list, tuple)) and len(names) > 1)


def sample_weights(names, sample_weight, n, what):
    """Validated host weights: None, one float32 [n] array, or a per-output list.

    Args:
        names: the model's output names. sample_weight: what the user passed. n: samples.
        what: the calling API ("fit", "evaluate") for error messages.

    Returns:
        None, ``np.ndarray`` [n], or a list (one per output) of arrays / None.

    Example:
        >>> sample_weights(["a", "b"], {"b": np.ones(4)}, 4, "fit")
        [None, array([1., 1., 1., 1.], dtype=float32)]
    """
    if sample_weight is None:
        return None

    def one(v, nm):
        w = np.ascontiguousarray(np.asarray(as_host_array(v, nm), np.float32).reshape(-1))
        if w.shape[0] != n:
            raise ValueError(f"{nm} has {w.shape[0]} entries, x has {n} samples")
        return w
    if isinstance(sample_weight, dict):
        bad = [k for k in sample_weight if k not in names]
        if bad:
            raise ValueError(f"{what}: sample_weight has keys {bad} that name no output; outputs: {names}")
        vals = [sample_weight.get(nm) for nm in names]
    elif isinstance(sample_weight, (list, tuple)) and len(names) > 1:
        if len(sample_weight) != len(names):
            raise ValueError(f"{what}: sample_weight is a list of {len(sample_weight)} entries for a model "
                             f"with {len(names)} outputs {names}; pass one per output (or a dict)")
        vals = list(sample_weight)
    else:
        return one(sample_weight, f"{what}: sample_weight")
    sw = [None if v is None else one(v, f"{what}: sample_weight['{nm}']") for v, nm in zip(vals, names)]
    return sw if any(w is not None for w in sw) else None


def class_weighted(sw, ys, class_weight, what):
    """Sample weights times the Keras 3 class weights of the targets ``ys`` (one output).

    Args:
        sw: weights from :func:`sample_weights`. ys: the raw targets, one per output.
        class_weight: dict {class index: weight} or None. what: calling API name.

    Returns:
        The combined weights (same form as ``sw``; an array when ``sw`` is None).

    Example:
        >>> class_weighted(None, [np.array([0, 1, 1])], {1: 2.0}, "fit")
        array([1., 2., 2.], dtype=float32)
    """
    if class_weight is None:
        return sw
    if len(ys) != 1:
        raise ValueError(f"{what}: class_weight is only supported for single-output models")
    if not isinstance(class_weight, dict):
        raise TypeError(f"{what}: class_weight must be a dict {{class index: weight}}, got "
                        f"{type(class_weight).__name__}")
    ya = as_host_array(ys[0], f"{what}: y")
    if ya.ndim > 1:
        ya = np.argmax(ya, axis=-1) if ya.shape[-1] != 1 else np.squeeze(ya, axis=-1)
    cls = np.round(np.asarray(ya, np.float64)).astype(np.int64).reshape(ya.shape[0], -1)[:, 0]
    uniq, inv = np.unique(cls, return_inverse=True)
    w = np.array([float(class_weight.get(int(c), 1.0)) for c in uniq], np.float32)[inv.reshape(-1)]
    if isinstance(sw, list):
        return [w if sw[0] is None else sw[0] * w]
    return w if sw is None else sw * w


def map_weights(w, f):
    """``f`` applied to the weights: None stays None; a per-output list maps entry-wise."""
    if w is None:
        return None
    if isinstance(w, list):
        return [None if a is None else f(a) for a in w]
    return f(w)


def output_weights(w, i):
    """The weights of output ``i`` (the shared array, or entry i of a per-output list)."""
    return w[i] if isinstance(w, list) else w


def weighted_loss_sum(plan, i, out, y, n, w):
    """Σ over the ``n`` rows of output ``i``'s per-sample loss times its weights (evaluate's
    running sums; the mean divides by the rows seen)."""
    per, _ = plan.output_loss(i, out, y, n, None, False)
    wi = output_weights(w, i)
    if wi is not None:
        per = _C.binary("mul", per, wi)
    return array_sum(per)
