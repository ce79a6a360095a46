"""Overridable per-batch steps (Keras 3): ``train_step`` / ``test_step`` / ``predict_step``.

A model that overrides one of them gets it called once per batch by ``fit`` / ``evaluate`` /
``predict`` with ``data`` = the batch as Tensors (``x``, ``(x, y)`` or ``(x, y, sample_weight)``,
x / y keeping the structure given: arrays, lists, dicts); the dict it returns is logged (the last
one of an epoch is the epoch's logs). Models that override nothing keep the compiled plan loops
of :mod:`.trainer`. Inside a step the Keras idiom works::

    x, y = data
    with fusednet.GradientTape() as tape:
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
    grads = tape.gradient(loss, self.trainable_variables)
    self.optimizer.apply_gradients(zip(grads, self.trainable_variables))

``model.metrics`` is the loss tracker (``Mean(name="loss")``), the compiled metrics and the
metrics assigned as attributes of the model, in that order (Keras 3); ``fit`` resets them at
the start of every epoch and ``evaluate`` at its start.
"""
import math

import numpy as np

from .. import _C
from .. import random as _random
from ..tensor import GradientTape, Tensor, no_grad
from .data_adapters import as_host_array, check_batch_size, host_np
from .epoch_iterator import peek, resumed, unpack_batch, warn_user
from .logs import fit_callbacks, log_values
from .sample_weights import per_output_form

__all__ = ["Steps"]


def _cb_module():
    from .. import callbacks as _cb
    return _cb


def _metrics_module():
    from .. import metrics as _m
    return _m


def _map(fn, s):
    if isinstance(s, tuple):
        return tuple(_map(fn, v) for v in s)
    if isinstance(s, list):
        return [_map(fn, v) for v in s]
    if isinstance(s, dict):
        return {k: _map(fn, v) for k, v in s.items()}
    return fn(s)


def _leaf_np(v, what, dtype=None):
    """A data leaf as a C-contiguous host array: ``dtype`` when given; else floats/bools
    float32, integers int64 (int32 kept)."""
    a = as_host_array(v, what)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{what}: expected numeric data, got dtype {a.dtype}")
    if dtype is None:
        dtype = a.dtype if a.dtype in (np.int32, np.int64) else (np.int64 if a.dtype.kind in "iu" else np.float32)
    return np.ascontiguousarray(a, dtype=dtype)


def _tensor(a, dev):
    arr = _C.asarray(a)
    return Tensor._wrap(arr if dev == "cpu" else arr.to(dev))


def host_copy(v):
    """A ``predict_step`` result leaf (Tensor, Array or array-like) as an owned host NumPy array."""
    if isinstance(v, (Tensor, _C.Array)):
        return np.array(host_np(v.data if isinstance(v, Tensor) else v), copy=True)
    return np.array(v, copy=True)


def concat_step_outputs(outs):
    """The per-batch results of ``predict_step`` (arrays, or lists / dicts of them) joined along
    the batch axis, in the structure of the first."""
    first = outs[0]
    if isinstance(first, dict):
        return {k: np.concatenate([o[k] for o in outs], 0) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(np.concatenate([o[i] for o in outs], 0) for i in range(len(first)))
    return np.concatenate(outs, 0)


def _first_len(s):
    if isinstance(s, (tuple, list)):
        return _first_len(s[0])
    if isinstance(s, dict):
        return _first_len(next(iter(s.values())))
    return s.shape[0]


class _CompiledLoss:
    """Keras 2 ``model.compiled_loss(y, y_pred, sample_weight, regularization_losses)`` shim."""

    def __init__(self, model):
        self.model = model

    def __call__(self, y_true, y_pred, sample_weight=None, regularization_losses=None):
        return self.model._compiled_loss_value(y_true, y_pred, sample_weight, regularization_losses)


class _CompiledMetrics:
    """Keras 2 ``model.compiled_metrics`` shim: ``update_state(y, y_pred, sample_weight)``
    routes each output to its metrics; ``metrics`` lists them."""

    def __init__(self, model):
        self.model = model

    @property
    def metrics(self):
        return [m for ms in self.model._out_metrics for m in ms]

    def update_state(self, y_true, y_pred, sample_weight=None):
        m = self.model
        names = m._output_names()
        ys, ps = m._per_output(y_true, "y"), m._per_output(y_pred, "y_pred")
        for ms, yt, yp in zip(m._out_metrics, ys, ps):
            if yt is None:
                continue
            for met in ms:
                met.update_state(yt, yp, sample_weight=sample_weight)
        return names

    def reset_state(self):
        for met in self.metrics:
            met.reset_state()


class Steps:
    """Mixin of :class:`fusednet.Model`: overridable steps, ``compute_loss``, ``metrics``.

    Args:
        (a mixin; no constructor arguments)

    Returns:
        (see the methods)

    Example:
        >>> class MyModel(fusednet.Model):
        ...     def test_step(self, data):
        ...         x, y = data
        ...         loss = self.compute_loss(y=y, y_pred=self(x, training=False))
        ...         return {"loss": loss}
    """

    def _overrides(self, name):
        return getattr(type(self), name) is not getattr(Steps, name)

    # ------------------------------------------------------------------ metrics
    def _loss_tracker(self):
        t = self.__dict__.get("_loss_tracker_m")
        if t is None:
            t = _metrics_module().Mean(name="loss")
            self.__dict__["_loss_tracker_m"] = t
        return t

    @property
    def metrics(self):
        """Loss tracker + compiled metrics (when compiled) + metrics set as attributes (Keras 3)."""
        out = []
        if getattr(self, "compiled", False):
            out.append(self._loss_tracker())
            out.extend(m for ms in self._out_metrics for m in ms)
        seen = {id(m) for m in out}
        for m in self.__dict__.get("_tracked_metrics", ()):
            if id(m) not in seen:
                seen.add(id(m))
                out.append(m)
        return out

    @property
    def metrics_names(self):
        """Names of the logged values: ``loss``, per-output losses, metrics (compiled loops)."""
        if self._overrides("train_step") or self._overrides("test_step"):
            return [m.name for m in self.metrics]
        loss_names, prefixes = self._log_names()
        names = ["loss"] + (loss_names or [])
        for p, ms in zip(prefixes, self._out_metrics):
            names += [p + m.name for m in ms]
        return names

    def reset_metrics(self):
        """Reset the state of every metric in :attr:`metrics`."""
        for m in self.metrics:
            m.reset_state()

    def get_metrics_result(self):
        """``{name: result}`` of :attr:`metrics` (compiled metrics of several outputs prefixed
        with the output name, as the compiled loops log them)."""
        prefix = {}
        _, prefixes = self._log_names()
        for p, ms in zip(prefixes, self._out_metrics if getattr(self, "compiled", False) else ()):
            for m in ms:
                prefix[id(m)] = p
        logs = {}
        for m in self.metrics:
            r = m.result()
            if isinstance(r, dict):
                logs.update(r)
            else:
                logs[prefix.get(id(m), "") + m.name] = r
        return logs

    @property
    def compiled_loss(self):
        return _CompiledLoss(self)

    @property
    def compiled_metrics(self):
        return _CompiledMetrics(self)

    @property
    def trainable_variables(self):
        return self.trainable_weights

    @property
    def non_trainable_variables(self):
        return self.non_trainable_weights

    # ------------------------------------------------------------------ losses
    def _per_output(self, v, what):
        names = self._output_names()
        if len(names) == 1:
            return [v]
        if isinstance(v, dict):
            return [v.get(k) for k in names]
        if isinstance(v, (list, tuple)) and len(v) == len(names):
            return list(v)
        raise ValueError(f"compute_loss: {what} must be a list or dict of {len(names)} entries for the "
                         f"outputs {names}, got {type(v).__name__}")

    def _compiled_loss_value(self, y, y_pred, sample_weight, regularization_losses):
        losses = list(getattr(self, "_out_losses", None) or [])
        weights = list(getattr(self, "_loss_weights", None) or [1.0] * len(losses))
        total = None
        if any(l is not None for l in losses) and y is not None:
            per = per_output_form(sample_weight, self._output_names())   # per-output weights: pick each
            sws = self._per_output(sample_weight, "sample_weight") if per else [sample_weight] * len(losses)
            for loss, w, yt, yp, sw in zip(losses, weights, self._per_output(y, "y"), self._per_output(y_pred, "y_pred"), sws):
                if loss is not None and yt is not None:
                    v = loss(yt, yp, sw) * float(w) if w != 1.0 else loss(yt, yp, sw)
                    total = v if total is None else total + v
        for r in regularization_losses or ():
            total = r if total is None else total + r
        return total

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled losses of ``y_pred`` against ``y`` (weighted by ``loss_weights``, summed
        over outputs) plus the layers' regularization losses: a scalar Tensor, differentiable.

        Args:
            x: the inputs (unused; Keras signature).
            y: targets (a list / dict for several outputs).
            y_pred: the model's outputs (same structure).
            sample_weight: optional per-sample weights.

        Returns:
            A scalar Tensor.

        Example:
            >>> with fusednet.GradientTape() as tape:
            ...     loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        """
        total = self._compiled_loss_value(y, y_pred, sample_weight, self.losses)
        if total is None:
            raise ValueError("compute_loss: no loss to compute; pass loss= to compile() (or compute the "
                             "loss yourself in train_step)")
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics with a batch and return :meth:`get_metrics_result`.

        Example:
            >>> return self.compute_metrics(x, y, y_pred, sample_weight)
        """
        if y is not None and getattr(self, "compiled", False):
            self.compiled_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    # ------------------------------------------------------------------ default steps
    def train_step(self, data):
        """One training step on ``data`` (a batch: x, (x, y) or (x, y, sample_weight)); returns
        the logs dict. The default runs eagerly on the autograd tape; ``fit`` only calls it when
        a subclass overrides it (otherwise the compiled plan runs the same maths).

        Args:
            data: the batch, as Tensors.

        Returns:
            ``{metric name: value}``.

        Example:
            >>> class MyModel(fusednet.Model):
            ...     def train_step(self, data):
            ...         x, y = data
            ...         with fusednet.GradientTape() as tape:
            ...             loss = self.compute_loss(y=y, y_pred=self(x, training=True))
            ...         grads = tape.gradient(loss, self.trainable_variables)
            ...         self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            ...         return {"loss": loss}
        """
        x, y, sw = unpack_batch(data, "train_step")
        tv = self.trainable_variables
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sw)
        grads = tape.gradient(loss, tv)
        self.optimizer.apply_gradients(zip(grads, tv))
        self._loss_tracker().update_state(loss, sample_weight=_first_len(x))
        return self.compute_metrics(x, y, y_pred, sw)

    def test_step(self, data):
        """One evaluation step (no gradients); returns the logs dict.

        Args:
            data: the batch, as Tensors.

        Returns:
            ``{metric name: value}``.

        Example:
            >>> def test_step(self, data):
            ...     x, y = data
            ...     self.loss_tracker.update_state(self.compute_loss(y=y, y_pred=self(x)))
            ...     return {"loss": self.loss_tracker.result()}
        """
        x, y, sw = unpack_batch(data, "test_step")
        with no_grad():
            y_pred = self(x, training=False)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sw)
        self._loss_tracker().update_state(loss, sample_weight=_first_len(x))
        return self.compute_metrics(x, y, y_pred, sw)

    def predict_step(self, data):
        """One prediction step: the model's outputs for the batch's x.

        Args:
            data: the batch (x, or a tuple whose first element is x), as Tensors.

        Returns:
            The outputs (Tensors, arrays, or a list / dict of them).

        Example:
            >>> def predict_step(self, data):
            ...     return self(data, training=False) * 2.0
        """
        x, _, _ = unpack_batch(data, "predict_step")
        with no_grad():
            return self(x, training=False)

    # ------------------------------------------------------------------ batches as Tensors
    def _x_dtypes(self, x):
        try:
            names, dts = self._input_names(), self._input_dtypes()
        except Exception:  # pragma: no cover - unusual subclasses
            return lambda key: np.float32
        table = dict(zip(names, dts))

        def lookup(key):
            if isinstance(key, str):
                return np.dtype(table.get(key, "float32"))
            return np.dtype(dts[key] if isinstance(key, int) and key < len(dts) else "float32")
        return lookup

    def _tensor_batch(self, x, y, sw, what):
        """A batch's parts as Tensors (x in the Inputs' dtypes, y keeping integer labels)."""
        dev = self._device
        look = self._x_dtypes(x)
        if isinstance(x, dict):
            tx = {k: _tensor(_leaf_np(v, f"{what}: x['{k}']", look(k)), dev) for k, v in x.items()}
        elif isinstance(x, (list, tuple)):
            tx = type(x)(_tensor(_leaf_np(v, f"{what}: x[{i}]", look(i)), dev) for i, v in enumerate(x))
        else:
            tx = _tensor(_leaf_np(x, f"{what}: x", look(0)), dev)
        ty = None if y is None else _map(lambda v: _tensor(_leaf_np(v, f"{what}: y"), dev), y)
        leaf = (lambda v: None if v is None else _tensor(_leaf_np(v, f"{what}: sample_weight", np.float32).reshape(-1), dev))
        tw = _map(leaf, sw) if per_output_form(sw, self._output_names()) else leaf(sw)   # per output: keep the structure
        return tx, ty, tw

    @staticmethod
    def _pack(x, y, sw):
        """Keras ``pack_x_y_sample_weight``: x alone (``(x,)`` for a list/tuple x), (x, y), (x, y, sw)."""
        if y is None:
            return (x,) if isinstance(x, (list, tuple)) else x
        return (x, y) if sw is None else (x, y, sw)

    def _step_data(self, x, y, sw, src, batch_size, shuffle, steps, what):
        """``epoch() -> generator of step data`` and the number of steps (None: unknown)."""
        if src is not None:
            def epoch_src():
                for b in src.epoch(steps, warn=what == "fit"):
                    bx, by, bw = unpack_batch(b, what)
                    tx, ty, tw = self._tensor_batch(bx, by, bw, what)
                    yield self._pack(tx, ty, tw) if isinstance(b, tuple) or by is not None else tx
            return epoch_src, src.check_steps(steps, "steps_per_epoch" if what == "fit" else "steps")
        if x is None:
            raise ValueError(f"{what}: x is None")
        hx = _map(lambda v: as_host_array(v, f"{what}: x"), x)
        n = _first_len(hx)
        hy = None if y is None else _map(lambda v: as_host_array(v, f"{what}: y"), y)
        hleaf = (lambda v: None if v is None else as_host_array(v, f"{what}: sample_weight"))
        hw = _map(hleaf, sw) if per_output_form(sw, self._output_names()) else hleaf(sw)   # (structure kept)
        for part, nm in ((hy, "y"), (hw, "sample_weight")):
            if part is not None and _first_len(part) != n:
                raise ValueError(f"{what}: x has {n} samples but {nm} has {_first_len(part)}")
        nsteps = int(math.ceil(n / batch_size))
        if steps is not None:
            nsteps = min(nsteps, int(steps))

        def epoch_arr():
            order = None
            if shuffle:
                s, off = _random.next_key()
                order = np.asarray(_C.permutation(n, s, off)).astype(np.int64)
            for k in range(nsteps):
                idx = slice(k * batch_size, min((k + 1) * batch_size, n)) if order is None else \
                    order[k * batch_size:(k + 1) * batch_size]
                take = (lambda a: a[idx])
                tx, ty, tw = self._tensor_batch(_map(take, hx), None if hy is None else _map(take, hy),
                                                None if hw is None else _map(take, hw), what)
                yield self._pack(tx, ty, tw)
        return epoch_arr, nsteps

    # ------------------------------------------------------------------ loops
    def _fit_custom(self, x, y, sample_weight, src, batch_size, epochs, verbose, callbacks,
                    validation_split, val, val_kwargs, shuffle, initial_epoch, steps_per_epoch,
                    validation_freq):
        if src is None and validation_split and val is None:     # the last fraction of every leaf
            n = _first_len(_map(lambda v: as_host_array(v, "fit: x"), x))
            split_at = int(math.floor(n * (1.0 - validation_split)))
            if split_at == 0 or split_at == n:
                raise ValueError(f"fit: validation_split={validation_split} leaves an empty training or "
                                 f"validation set for {n} samples")

            def part(p, lo, hi):
                return None if p is None else _map(lambda v: as_host_array(v, "fit")[lo:hi], p)
            val = (part(x, split_at, n), part(y, split_at, n)) + \
                ((part(sample_weight, split_at, n),) if sample_weight is not None else ())
            x, y, sample_weight = part(x, 0, split_at), part(y, 0, split_at), part(sample_weight, 0, split_at)
        epoch_data, steps = self._step_data(x, y, sample_weight, src, batch_size, shuffle, steps_per_epoch, "fit")
        cbs = fit_callbacks(callbacks, self, verbose, epochs, steps)

        def run_epoch(epoch):
            first, feed = peek(resumed(self, epoch_data()))
            if first is None:
                return None
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            logs = {}
            for step, data in enumerate(feed):
                cbs.on_train_batch_begin(step)
                logs = log_values(self.train_step(data), "train_step")
                cbs.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            return dict(logs)
        try:
            return self._run_epochs(cbs, epochs, initial_epoch, run_epoch, val, val_kwargs, validation_freq)
        finally:
            if src is not None:
                src.close()

    def _evaluate_custom(self, x, y, sample_weight, src, batch_size, verbose, steps, callbacks,
                         return_dict, parent_cbs):
        epoch_data, nsteps = self._step_data(x, y, sample_weight, src, batch_size, False, steps, "evaluate")
        cbs = parent_cbs if parent_cbs is not None else _cb_module().CallbackList(
            callbacks, add_history=False, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1,
            steps=nsteps)
        self.reset_metrics()
        cbs.on_test_begin()
        logs, ran = {}, False
        for step, data in enumerate(epoch_data()):
            ran = True
            cbs.on_test_batch_begin(step)
            logs = log_values(self.test_step(data), "test_step")
            cbs.on_test_batch_end(step, logs)
        if not ran:
            if parent_cbs is not None:
                warn_user("fit: validation_data yielded no batches (an exhausted generator? pass "
                          "validation_steps= or a re-iterable dataset)")
                return {}
            raise ValueError("evaluate: the data yielded no batches")
        cbs.on_test_end(logs)
        if return_dict:
            return logs
        vals = list(logs.values())
        return vals[0] if len(vals) == 1 else vals

    def _predict_custom(self, x, src, batch_size, steps, callbacks):
        batch_size = check_batch_size(batch_size, "predict")
        epoch_data, nsteps = self._step_data(x, None, None, src, batch_size, False, steps, "predict")
        cbs = _cb_module().CallbackList(callbacks, add_history=False, add_progbar=False, model=self,
                                        verbose=0, epochs=1, steps=nsteps)
        cbs.on_predict_begin()
        outs = []
        for step, data in enumerate(epoch_data()):
            cbs.on_predict_batch_begin(step)
            out = _map(host_copy, self.predict_step(data))
            outs.append(out)
            cbs.on_predict_batch_end(step, {"outputs": out})
        if not outs:
            raise ValueError("predict: the data yielded no batches")
        cbs.on_predict_end()
        return concat_step_outputs(outs)
