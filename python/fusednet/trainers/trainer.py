"""``fit`` / ``evaluate`` / ``predict`` (Keras semantics), for models with any number of inputs and
outputs, on the compiled graph plan (:mod:`.plan`).

Each training step is a fixed sequence of native calls: ``take_rows`` gathers per input and
target, the plan's forward (every node's kernel), one fused loss kernel per output, the plan's
backward, one multi-tensor optimizer kernel. Logs: ``loss`` (the weighted sum over outputs plus
regularization); with several outputs also ``<output>_loss`` per output and metrics named
``<output>_<metric>`` (Keras).
"""
import math

import numpy as np

from .. import _C
from .. import random as _random
from ..tensor import Tensor
from .data_adapters import as_host_array, check_batch_size, flatten, host_np

__all__ = ["Trainer"]


def _cb_module():
    from .. import callbacks as _cb
    return _cb


class _MetricFeeder:
    """Feeds (y_true, y_pred) batches to the metrics of one output.

    When nothing reads metric results between batches (no per-batch callback hooks, CPU), batches
    are queued as Arrays and handed to the metrics in one ``update_state`` per ~8k samples: one
    native concat and one host view instead of a dozen small NumPy calls per batch (those cost
    ~70 us per batch of 32, a third of an MLP step). Every built-in metric accumulates sums over
    samples, so the results are the same as per-batch updates (up to float summation order).
    """

    __slots__ = ("metrics", "defer", "ys", "ps", "n")
    FLUSH_ROWS = 8192

    def __init__(self, metrics, defer):
        self.metrics = metrics
        self.defer = defer
        self.ys, self.ps, self.n = [], [], 0

    def add(self, yb, probs):
        if not self.defer:
            yt, yp = host_np(yb), host_np(probs)
            for m in self.metrics:
                m.update_state(yt, yp)
            return
        self.ys.append(yb)
        self.ps.append(probs)
        self.n += probs.shape[0] if probs.ndim else 1
        if self.n >= self.FLUSH_ROWS:
            self.flush()

    def flush(self):
        if not self.ys:
            return
        ys, ps = self.ys, self.ps
        self.ys, self.ps, self.n = [], [], 0
        yt = ys[0] if len(ys) == 1 else _C.concat(ys, 0)
        yp = ps[0] if len(ps) == 1 else _C.concat(ps, 0)
        yt, yp = host_np(yt), host_np(yp)
        for m in self.metrics:
            m.update_state(yt, yp)


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


def _needs_batch_hooks(cbs, mode="train"):
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


def _find_history(cbs):
    for cb in getattr(cbs, "callbacks", []):
        if type(cb).__name__ == "History":
            return cb
    return getattr(cbs, "history", None)


def _probs(out, fuse, act):
    """Model output as the user sees it: the fused loss ran on logits; apply the activation."""
    if not fuse:
        return out
    return _C.softmax_forward(out) if act == "softmax" else _C.activation_forward(out, "sigmoid", 0.0)


def _sum(a):
    return float(_C.reduce("sum", a, [], False).item())


class Trainer:
    """Mixin of :class:`fusednet.Model`: the training / evaluation / prediction loops."""

    # ------------------------------------------------------------------ data
    def _prepare_xy(self, x, y, sample_weight, what):
        """Host arrays per input, per output target (prepared for its loss) and sample weights."""
        xs = self._prepare_inputs(x, what)
        n = xs[0].shape[0]
        if y is None:
            raise ValueError(f"{what}: y is required for training/evaluation")
        ys = flatten(y, self._output_names(), f"{what}: y", allow_missing=True)
        out_shapes = self._output_shapes([(None,) + tuple(a.shape[1:]) for a in xs])
        Ys = []
        for i, (yi, loss) in enumerate(zip(ys, self._out_losses)):
            if loss is None or yi is None:
                if loss is not None:
                    raise ValueError(f"{what}: no target for output '{self._output_names()[i]}'")
                Ys.append(None)
                continue
            nm = f"{what}: y" if len(ys) == 1 else f"{what}: y['{self._output_names()[i]}']"
            ya = as_host_array(yi, nm)
            if ya.ndim == 0 or ya.shape[0] != n:
                raise ValueError(f"{what}: x and y must have the same number of samples, got x "
                                 f"{xs[0].shape} and {nm[len(what) + 2:]} {ya.shape}")
            if ya.dtype.kind == "f" and not np.isfinite(ya).all():
                raise ValueError(f"{nm} contains NaN or infinite values")
            Ys.append(loss.prepare_targets(ya, (n,) + tuple(out_shapes[i][1:])))
        sw = None
        if sample_weight is not None:
            if isinstance(sample_weight, (dict, list, tuple)) and len(self._output_names()) > 1:
                raise ValueError(f"{what}: per-output sample weights are not supported yet; pass one "
                                 f"array of {n} weights (applied to every output)")
            sw = np.ascontiguousarray(np.asarray(sample_weight, np.float32).reshape(-1))
            if sw.shape[0] != n:
                raise ValueError(f"{what}: sample_weight has {sw.shape[0]} entries, x has {n} samples")
        return xs, ys, Ys, sw

    def _to_device(self, arrays):
        dev = self._device
        out = []
        for a in arrays:
            if a is None:
                out.append(None)
                continue
            a = a if isinstance(a, _C.Array) else _C.asarray(a)
            out.append(a if dev == "cpu" else a.to(dev))
        return out

    def _log_names(self):
        """(per-output loss names or None, per-output metric name prefixes)."""
        names = self._output_names()
        if len(names) == 1:
            return None, [""]
        return [f"{nm}_loss" for nm in names], [f"{nm}_" for nm in names]

    def _results(self, loss, out_losses, feeders_metrics):
        logs = {"loss": loss}
        loss_names, prefixes = self._log_names()
        if loss_names:
            for nm, v in zip(loss_names, out_losses):
                if v is not None:
                    logs[nm] = v
        for prefix, ms in zip(prefixes, feeders_metrics):
            for m in ms:
                logs[prefix + m.name] = to_float(m.result())
        return logs

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_batch_size=None,
            validation_freq=1):
        """Train for ``epochs`` epochs; returns a History (``history.history`` dict of lists).

        Keras semantics: ``x`` / ``y`` are arrays, or lists / dicts of arrays for models with
        several inputs / outputs; ``batch_size`` defaults to 32; ``validation_split`` takes the
        last fraction of the data before shuffling; ``shuffle`` reshuffles every epoch (Philox
        permutation from :mod:`fusednet.random`); ``verbose`` 'auto'/1 = progress bar, 2 = one
        line per epoch, 0 = silent.
        """
        if not self.compiled:
            raise ValueError("You must call compile() before fit(): model.compile(optimizer=..., loss=...)")
        batch_size = check_batch_size(batch_size, "fit")
        if verbose == "auto":
            verbose = 1
        if not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
        if not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        if y is None:
            raise ValueError("fit: y is required")
        xs, ys, Ys, sw = self._prepare_xy(x, y, sample_weight, "fit")
        n = xs[0].shape[0]
        if class_weight is not None:
            if len(Ys) != 1:
                raise ValueError("fit: class_weight is only supported for single-output models")
            ya = as_host_array(ys[0], "fit: y")
            cls = np.argmax(ya, axis=-1) if ya.ndim > 1 and ya.shape[-1] > 1 else ya.reshape(-1).astype(np.int64)
            cw = np.array([class_weight.get(int(c), 1.0) for c in range(int(cls.max()) + 1)], np.float32)
            w = cw[cls]
            sw = w if sw is None else sw * w
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight)")
            val = tuple(validation_data[:2])
        elif validation_split:
            split_at = int(math.floor(n * (1.0 - validation_split)))
            if split_at == 0 or split_at == n:
                raise ValueError(f"fit: validation_split={validation_split} leaves an empty training or "
                                 f"validation set for {n} samples")
            vx = self._pack_inputs([a[split_at:] for a in xs])
            vy = self._pack_outputs([None if a is None else np.asarray(a)[split_at:] for a in ys])
            val = (vx, vy)
            xs = [a[:split_at] for a in xs]
            Ys = [None if Y is None else _C.slice_axis(Y, 0, 0, split_at) for Y in Ys]
            if sw is not None:
                sw = sw[:split_at]
            n = split_at
        X = self._to_device(xs)
        Y = self._to_device(Ys)
        W = self._to_device([sw])[0] if sw is not None else None
        dev = self._device
        plan = self._get_plan()
        opt = self.optimizer
        params = plan.param_arrays
        opt._check_match(params)
        steps = int(math.ceil(n / batch_size))
        if steps_per_epoch is not None:
            steps = min(steps, int(steps_per_epoch))
        out_metrics = self._out_metrics
        cbs = _cb_module().CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self,
                                        verbose=verbose, epochs=epochs, steps=steps)
        batch_hooks = _needs_batch_hooks(cbs)
        self.stop_training = False
        reg_layers = [l for l in self._flat_layers() if l._regularized]
        multi = len(Y) > 1
        cbs.on_train_begin()
        logs = {}
        feeders = [_MetricFeeder(ms, defer=not batch_hooks and dev == "cpu") if ms else None
                   for ms in out_metrics]
        for epoch in range(initial_epoch, epochs):
            for ms in out_metrics:
                for m in ms:
                    m.reset_state()
            cbs.on_epoch_begin(epoch)
            perm = None
            if shuffle:
                s, off = _random.next_key()
                perm = _C.permutation(n, s, off)
                if dev != "cpu":
                    perm = perm.to(dev)
            acc = _C.zeros([batch_size], device=dev)      # per-sample loss sums of full batches
            out_acc = [0.0] * len(Y)
            tail_loss = seen = reg_sum = 0.0
            for step in range(steps):
                start = step * batch_size
                stop = min(start + batch_size, n)
                nb = stop - start
                if batch_hooks:
                    cbs.on_train_batch_begin(step)
                if perm is not None:
                    idx = _C.slice_axis(perm, 0, start, stop)
                    xb = [_C.take_rows(a, idx) for a in X]
                    yb = [None if a is None else _C.take_rows(a, idx) for a in Y]
                    wb = _C.take_rows(W, idx) if W is not None else None
                else:
                    xb = [_C.slice_axis(a, 0, start, stop) for a in X]
                    yb = [None if a is None else _C.slice_axis(a, 0, start, stop) for a in Y]
                    wb = _C.slice_axis(W, 0, start, stop) if W is not None else None
                per, pers, outs, grads = plan.train_step(xb, yb, nb, wb)
                opt._apply_arrays(params, grads)
                if nb == batch_size:
                    _C.axpy_(acc, 1.0, per)
                else:
                    tail_loss += _sum(per)
                if multi:
                    for i, p in enumerate(pers):
                        if p is not None:
                            out_acc[i] += _sum(p)
                seen += nb
                if reg_layers:
                    reg_sum += self._reg_penalty(reg_layers) * nb
                for i, f in enumerate(feeders):
                    if f is not None:
                        f.add(yb[i], _probs(outs[i], plan.fuse[i], plan.out_acts[i]))
                if batch_hooks:
                    total = _sum(acc) + tail_loss + reg_sum
                    blogs = self._results(total / seen, [a / seen for a in out_acc], out_metrics)
                    cbs.on_train_batch_end(step, blogs)
                if self.stop_training:
                    break
            for f in feeders:
                if f is not None:
                    f.flush()
            total = _sum(acc) + tail_loss + reg_sum
            seen = max(seen, 1)
            logs = self._results(total / seen, [a / seen if p is not None else None
                                                for a, p in zip(out_acc, self._out_losses)], out_metrics)
            if val is not None and (epoch + 1) % validation_freq == 0:
                vres = self.evaluate(val[0], val[1], batch_size=validation_batch_size or batch_size,
                                     verbose=0, return_dict=True, _callbacks=cbs)
                for k, v in vres.items():
                    logs["val_" + k] = v
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        self.history = _find_history(cbs)
        return self.history

    def _reg_penalty(self, layers):
        total = 0.0
        for l in layers:
            for w, reg in l._regularized:
                p = reg.penalty_array(w.data)
                if p is not None:
                    total += float(p.item())
        return total

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, _callbacks=None):
        """Loss (and metrics) over x/y; returns ``loss`` (no metrics, one output),
        ``[loss, *output losses, *metrics]`` or a dict (``return_dict=True``)."""
        if not self.compiled:
            raise ValueError("You must call compile() before evaluate()")
        batch_size = check_batch_size(batch_size, "evaluate")
        if verbose == "auto":
            verbose = 1
        xs, _, Ys, sw = self._prepare_xy(x, y, sample_weight, "evaluate")
        n = xs[0].shape[0]
        dev = self._device
        X, Y = self._to_device(xs), self._to_device(Ys)
        Wt = self._to_device([sw])[0] if sw is not None else None
        out_metrics = self._out_metrics
        for ms in out_metrics:
            for m in ms:
                m.reset_state()
        nsteps = int(math.ceil(n / batch_size))
        if steps is not None:
            nsteps = min(nsteps, int(steps))
        if _callbacks is None:     # a standalone evaluate: its own callback list and progress bar
            cbs = _cb_module().CallbackList(callbacks, add_history=False, add_progbar=verbose != 0,
                                            model=self, verbose=verbose, epochs=1, steps=nsteps)
        else:                      # validation inside fit: fit's callbacks get the on_test_* hooks
            cbs = _callbacks
        cbs.on_test_begin()
        hooks = _needs_batch_hooks(cbs, "test")
        feeders = [_MetricFeeder(ms, defer=not hooks and dev == "cpu") if ms else None for ms in out_metrics]
        total, out_tot, done = 0.0, [0.0] * len(Y), 0
        plan = self._get_plan()
        ip = self._inference_plan(refresh=True) if len(X) == 1 and len(Y) == 1 else None
        for step in range(nsteps):
            s0, s1 = step * batch_size, min((step + 1) * batch_size, n)
            if hooks:
                cbs.on_test_batch_begin(step)
            xb = [_C.slice_axis(a, 0, s0, s1) for a in X]
            if ip is not None:
                outs = [ip.forward(xb[0], plan.fuse[0])]
            else:
                outs = plan.forward(xb, False, plan.strip, record=False)[0]
            for i, (out, Yi) in enumerate(zip(outs, Y)):
                if Yi is None:
                    continue
                yb = _C.slice_axis(Yi, 0, s0, s1)
                per, _ = plan.output_loss(i, out, yb, s1 - s0, None, False)
                if Wt is not None:
                    per = _C.binary("mul", per, _C.slice_axis(Wt, 0, s0, s1))
                v = _sum(per)
                total += v
                out_tot[i] += v
                if feeders[i] is not None:
                    feeders[i].add(yb, _probs(out, plan.fuse[i], plan.out_acts[i]))
            done = s1
            if hooks:
                cbs.on_test_batch_end(step, {"loss": total / done})
        for f in feeders:
            if f is not None:
                f.flush()
        reg_layers = [l for l in self._flat_layers() if l._regularized]
        done = max(done, 1)
        loss = total / done + (self._reg_penalty(reg_layers) if reg_layers else 0.0)
        res = self._results(loss, [t / done if Yi is not None else None for t, Yi in zip(out_tot, Y)],
                            out_metrics)
        cbs.on_test_end(res)
        if return_dict:
            return res
        if len(res) == 1:
            return loss
        return list(res.values())

    # ------------------------------------------------------------------ predict
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Model outputs for ``x``: a NumPy array (a list / dict of them for several outputs);
        probabilities for softmax/sigmoid outputs."""
        batch_size = check_batch_size(batch_size, "predict")
        if not self.layers and self._graph is None and not self._weights:
            raise ValueError(f"predict: model '{self.name}' has no layers; add layers before predicting")
        xs = self._prepare_inputs(x, "predict")
        self._require_built("predict")
        n = xs[0].shape[0]
        X = self._to_device(xs)
        cbs = _cb_module().CallbackList(callbacks, add_history=False, add_progbar=False, model=self,
                                        verbose=0, epochs=1, steps=int(math.ceil(n / batch_size)))
        hooks = _needs_batch_hooks(cbs, "predict")
        cbs.on_predict_begin()
        results = None
        self._inference_plan(refresh=True)   # re-fold Conv+BN weights once per predict call
        for step, s0 in enumerate(range(0, n, batch_size)):
            if steps is not None and step >= steps:
                break
            s1 = min(s0 + batch_size, n)
            if hooks:
                cbs.on_predict_batch_begin(step)
            outs = self._predict_arrays([_C.slice_axis(a, 0, s0, s1) for a in X])
            hs = [host_np(o) for o in outs]
            if results is None:
                results = [np.empty((n,) + h.shape[1:], np.float32) for h in hs]
            for r, h in zip(results, hs):
                r[s0:s1] = h
            if hooks:
                cbs.on_predict_batch_end(step, {"outputs": self._pack_outputs(hs)})
        if steps is not None:
            results = [r[:min(n, steps * batch_size)] for r in results]
        cbs.on_predict_end()
        return self._pack_outputs(results)

    def predict_on_batch(self, x):
        first = flatten(x, self._input_names(), "predict_on_batch: x")[0]
        return self.predict(x, batch_size=max(1, len(first)), verbose=0)

    def train_on_batch(self, x, y, sample_weight=None):
        """One optimizer step on one batch; returns the loss (float)."""
        first = flatten(x, self._input_names(), "train_on_batch: x")[0]
        h = self.fit(x, y, batch_size=max(1, len(first)), epochs=1, verbose=0, shuffle=False,
                     sample_weight=sample_weight)
        return h.history["loss"][-1]

    def test_on_batch(self, x, y, sample_weight=None):
        first = flatten(x, self._input_names(), "test_on_batch: x")[0]
        return self.evaluate(x, y, batch_size=max(1, len(first)), verbose=0, sample_weight=sample_weight)
