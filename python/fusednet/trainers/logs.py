"""Per-step bookkeeping of the compiled loops: metric feeding, log values, callback probes."""
import numpy as np

from .. import _C
from ..tensor import Tensor
from .data_adapters import host_np

__all__ = ["MetricFeeder", "to_float", "needs_batch_hooks", "find_history", "probs", "array_sum", "log_values",
           "reg_penalty", "fit_callbacks"]


def _cb_module():
    from .. import callbacks as _cb
    return _cb


def fit_callbacks(callbacks, model, verbose, epochs, steps):
    """The CallbackList of a ``fit`` (History, progress bar), after the fit-time checks of the
    packages that hook into ``fit``: ``fusednet.pruning`` (a model with pruned layers needs the
    UpdatePruningStep callback). Every fit path (compiled, custom train_step, data parallel) calls it."""
    cbs = _cb_module().CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                                    verbose=verbose, epochs=epochs, steps=steps)
    from ..pruning.callbacks import check_fit_callbacks
    check_fit_callbacks(model, cbs.callbacks)
    return cbs


class MetricFeeder:
    """Feeds (y_true, y_pred) batches to the metrics of one output.

    When nothing reads metric results between batches (no per-batch callback hooks, CPU), batches
    are queued as Arrays and handed to the metrics in one ``update_state`` per ~8k samples: one
    native concat and one host view instead of a dozen small NumPy calls per batch (those cost
    ~70 us per batch of 32, a third of an MLP step). Every built-in metric accumulates sums over
    samples, so the results are the same as per-batch updates (up to float summation order).
    """

    __slots__ = ("metrics", "defer", "ys", "ps", "n", "ms")
    FLUSH_ROWS = 8192

    def __init__(self, metrics, defer):
        self.metrics = metrics
        self.defer = defer
        self.ys, self.ps, self.n, self.ms = [], [], 0, []

    def add(self, yb, probs, mask=None):
        """One batch; ``mask``: the output's [batch, T] mask, the metrics' sample weights (Keras)."""
        if not self.defer:
            yt, yp = host_np(yb), host_np(probs)
            sw = None if mask is None else host_np(mask)
            for m in self.metrics:
                if sw is None:
                    m.update_state(yt, yp)
                else:
                    m.update_state(yt, yp, sample_weight=sw)
            return
        self.ys.append(yb)
        self.ps.append(probs)
        self.ms.append(mask)
        self.n += probs.shape[0] if probs.ndim else 1
        if self.n >= self.FLUSH_ROWS:
            self.flush()

    def flush(self):
        if not self.ys:
            return
        ys, ps, ms = self.ys, self.ps, self.ms
        self.ys, self.ps, self.n, self.ms = [], [], 0, []
        yt = ys[0] if len(ys) == 1 else _C.concat(ys, 0)
        yp = ps[0] if len(ps) == 1 else _C.concat(ps, 0)
        yt, yp = host_np(yt), host_np(yp)
        sw = None
        if any(m is not None for m in ms):      # masked batches: the masks (ones where none)
            sw = np.concatenate([host_np(m) if m is not None else np.ones(tuple(p.shape[:2]), np.float32)
                                 for m, p in zip(ms, ps)], 0)
        for m in self.metrics:
            if sw is None:
                m.update_state(yt, yp)
            else:
                m.update_state(yt, yp, sample_weight=sw)


def to_float(v):
    """A metric result for the logs: a Python float for scalars; a NumPy float32 array for
    vector results (e.g. ``F1Score(average=None)``: one value per class), as Keras logs them."""
    if isinstance(v, Tensor):
        v = v.data
    if isinstance(v, _C.Array):
        if v.size == 1 and v.ndim == 0:
            return float(v.item())
        v = host_np(v)
    a = np.asarray(v)
    if a.ndim == 0:
        return float(a)
    return np.array(a, dtype=np.float32)


def needs_batch_hooks(cbs, mode="train"):
    """False when no callback overrides the per-batch hooks (skip building per-batch logs)."""
    from inspect import getattr_static
    base = _cb_module().Callback
    names = (f"on_{mode}_batch_begin", f"on_{mode}_batch_end", "on_batch_begin", "on_batch_end") \
        if mode == "train" else (f"on_{mode}_batch_begin", f"on_{mode}_batch_end")
    for cb in getattr(cbs, "callbacks", []):
        for nm in names:
            try:
                if getattr_static(type(cb), nm, None) is not getattr_static(base, nm, None):
                    return True
            except AttributeError:
                return True
    return False


def find_history(cbs):
    for cb in getattr(cbs, "callbacks", []):
        if type(cb).__name__ == "History":
            return cb
    return getattr(cbs, "history", None)


def probs(out, fuse, act):
    """Model output as the user sees it: the fused loss ran on logits; apply the activation."""
    if not fuse:
        return out
    return _C.softmax_forward(out) if act == "softmax" else _C.activation_forward(out, "sigmoid", 0.0)


def reg_penalty(layers):
    """The summed weight-regularization penalty of ``layers`` (a float, for the loss logs)."""
    total = 0.0
    for l in layers:
        for w, reg in l._regularized:
            p = reg.penalty_array(w.data)
            if p is not None:
                total += float(p.item())
    return total


def array_sum(a):
    return float(_C.reduce("sum", a, [], False).item())


def log_values(logs, what="train_step"):
    """A step's returned logs as ``{name: float}`` (nested dicts flattened, Tensors read).

    Args:
        logs: the dict a step returned (None: no logs).
        what: the step's name for the error message.

    Returns:
        dict of floats (NumPy float32 arrays for vector results).

    Example:
        >>> log_values({"loss": tensor, "m": {"a": 1.0}})
        {'loss': 0.25, 'a': 1.0}
    """
    if logs is None:
        return {}
    if not isinstance(logs, dict):
        raise TypeError(f"{what} must return a dict of logs (e.g. {{m.name: m.result() for m in "
                        f"self.metrics}}), got {type(logs).__name__}")
    out = {}
    for k, v in logs.items():
        if isinstance(v, dict):
            out.update(log_values(v, what))
        else:
            out[k] = to_float(v)
    return out
