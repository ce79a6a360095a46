"""``fit`` / ``evaluate`` / ``predict`` (Keras semantics), for models with any number of inputs and
outputs, on the compiled graph plan (:mod:`.plan`).

Each training step is a fixed sequence of native calls: ``take_rows`` gathers per input and
target (in-memory arrays) or the batch Arrays of a data source (:mod:`.epoch_iterator`), the
plan's forward (every node's kernel), one fused loss kernel per output, the plan's backward, one
multi-tensor optimizer kernel. Logs: ``loss`` (the weighted sum over outputs plus
regularization); with several outputs also ``<output>_loss`` per output and metrics named
``<output>_<metric>`` (Keras). A model overriding ``train_step`` / ``test_step`` /
``predict_step`` runs those per batch instead (:mod:`.steps`).
"""
import math

import numpy as np

from .. import _C
from .. import random as _random
from .data_adapters import as_host_array, check_batch_size, flatten, host_np
from .epoch_iterator import BatchSource, as_source, check_no_targets, peek, resumed, unpack_batch, warn_user
from .sample_weights import class_weighted, map_weights, sample_weights, weighted_loss_sum
from .logs import (MetricFeeder, _cb_module, array_sum, find_history, fit_callbacks, needs_batch_hooks, probs,
                   reg_penalty, to_float)
from .data_parallel import DataParallelFit
from .inference_only import inference_only_layer
from .predict_fast import fast_predict
from .masks import metric_mask
from .plan import check_fit_loss
from .steps import Steps

__all__ = ["Trainer"]


class Trainer(Steps, DataParallelFit):
    """Mixin of :class:`fusednet.Model`: the training / evaluation / prediction loops."""

    # ------------------------------------------------------------------ data
    def _prepare_xy(self, x, y, sample_weight, what):
        """Host arrays per input, per output target (prepared for its loss) and sample weights."""
        xs = self._prepare_inputs(x, what)
        n = xs[0].shape[0]
        if y is None and any(l is not None for l in self._out_losses):   # add_loss-only: no y (Keras)
            raise ValueError(f"{what}: y is required for training/evaluation")
        ys = [None] * len(self._output_names()) if y is None else \
            flatten(y, self._output_names(), f"{what}: y", allow_missing=True)
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
        return xs, ys, Ys, self._sample_weights(sample_weight, n, what)

    def _sample_weights(self, sample_weight, n, what):
        return sample_weights(self._output_names(), sample_weight, n, what)

    def _weights_to_device(self, sw):
        """Device copy of the sample weights (one array, or the per-output list)."""
        if sw is None:
            return None
        return self._to_device(sw) if isinstance(sw, list) else self._to_device([sw])[0]

    def _class_weighted(self, sw, ys, class_weight, what):
        return class_weighted(sw, ys, class_weight, what)

    def _source_batch(self, batch, what, class_weight=None, need_y=True):
        """One raw batch of a source as device Arrays (xb, Yb, wb, nb) for the compiled plan."""
        bx, by, bw = unpack_batch(batch, what)
        if not need_y:
            xs = self._prepare_inputs(bx, what)
            return self._to_device(xs), None, None, xs[0].shape[0]
        if by is None:
            raise ValueError(f"{what}: the data yielded batches without targets; yield (x, y) or "
                             f"(x, y, sample_weight) tuples")
        xs, ys, Ys, sw = self._prepare_xy(bx, by, bw, what)
        sw = self._class_weighted(sw, ys, class_weight, what)
        return self._to_device(xs), self._to_device(Ys), self._weights_to_device(sw), xs[0].shape[0]

    def _to_device(self, arrays):
        dev = self._device
        out = [None if a is None else a if isinstance(a, _C.Array) else _C.asarray(a) for a in arrays]
        return out if dev == "cpu" else [None if a is None else a.to(dev) for a in out]

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
            # Keras logs each output's own loss, before its loss_weights factor (the total has it)
            lw = self._loss_weights or [1.0] * len(loss_names)
            for nm, v, w in zip(loss_names, out_losses, lw):
                if v is not None:
                    logs[nm] = v / w if w else v
        for prefix, ms in zip(prefixes, feeders_metrics):
            for m in ms:
                logs[prefix + m.name] = to_float(m.result())
        return logs

    @staticmethod
    def _array_batches(X, Y, W, n, batch_size, steps, perm=None, whole=False):
        """(xb, Yb, wb, nb) per step from device arrays: row gathers (shuffled) or slices;
        ``whole`` (predict: batches are only read): a single batch covering X is X itself."""
        for step in range(steps):
            start = step * batch_size
            stop = min(start + batch_size, n)
            if perm is not None:
                idx = _C.slice_axis(perm, 0, start, stop)
                yield ([_C.take_rows(a, idx) for a in X], [None if a is None else _C.take_rows(a, idx) for a in Y],
                       map_weights(W, lambda a: _C.take_rows(a, idx)), stop - start)
            elif whole and start == 0 and stop == n and all(a.shape[0] == n for a in X):
                yield list(X), list(Y), W, n     # one batch: the arrays themselves, no copy
            else:
                yield ([_C.slice_axis(a, 0, start, stop) for a in X],
                       [None if a is None else _C.slice_axis(a, 0, start, stop) for a in Y],
                       map_weights(W, lambda a: _C.slice_axis(a, 0, start, stop)), stop - start)

    def _check_fit_args(self, batch_size, verbose, epochs, validation_split):
        if not self.compiled:
            raise ValueError("You must call compile() before fit(): model.compile(optimizer=..., loss=...)")
        frozen = inference_only_layer(self)
        if frozen is not None:
            raise ValueError(f"fit: layer '{frozen.name}' ({type(frozen).__name__}): quantized layers are "
                             f"inference-only; train the float model and quantize it again")
        batch_size = check_batch_size(batch_size, "fit")
        if not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
        if not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        return batch_size, 1 if verbose == "auto" else verbose

    @staticmethod
    def _validation_source(validation_data):
        if validation_data is None:
            return None
        if isinstance(validation_data, (tuple, list)):
            if len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be (x_val, y_val), (x_val, y_val, sample_weight) "
                                 "or a dataset / generator / PyDataset")
            return tuple(validation_data)
        src = as_source(validation_data, "fit: validation_data")
        if src is None:
            raise ValueError("fit: validation_data must be (x_val, y_val), (x_val, y_val, sample_weight) "
                             f"or a dataset / generator / PyDataset, got {type(validation_data).__name__}")
        return src

    def _run_epochs(self, cbs, epochs, initial_epoch, run_epoch, val, val_kwargs, validation_freq):
        """The epoch loop shared by the compiled and custom-step fits. ``run_epoch(epoch)`` runs
        the steps (calling ``cbs.on_epoch_begin`` once it has a first batch) and returns the epoch
        logs, or None when the data ran out before the epoch's first batch."""
        self.stop_training = False
        cbs.on_train_begin()
        logs = {}
        initial_epoch = max(initial_epoch, self.__dict__.pop("_resume_epoch", 0))   # BackupAndRestore
        for epoch in range(initial_epoch, epochs):
            elogs = run_epoch(epoch)
            if elogs is None:
                if epoch == initial_epoch:
                    raise ValueError("fit: the data yielded no batches (an empty dataset, or an exhausted "
                                     "generator)")
                warn_user("fit: your input ran out of data; interrupting training. Make sure that your "
                          "dataset or generator can generate at least `steps_per_epoch * epochs` batches.")
                break
            logs = elogs
            freq_ok = (epoch + 1) in validation_freq if isinstance(validation_freq, (list, tuple, set)) \
                else (epoch + 1) % int(validation_freq) == 0
            if val is not None and freq_ok:
                vx, vy, vw = (val + (None,))[:3] if isinstance(val, tuple) else (val, None, None)
                vres = self.evaluate(vx, vy, sample_weight=vw, verbose=0, return_dict=True,
                                     _callbacks=cbs, **val_kwargs)
                for k, v in vres.items():
                    logs["val_" + k] = v
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        self.history = find_history(cbs)
        return self.history

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs; returns a History (``history.history`` dict of lists).

        Keras semantics: ``x`` / ``y`` are arrays, or lists / dicts of arrays for models with
        several inputs / outputs; or ``x`` is a data source yielding ``(x, y[, sample_weight])``
        batches (:class:`fusednet.data.Dataset`, :class:`fusednet.utils.PyDataset`, a generator,
        any iterable such as a torch DataLoader; see :mod:`fusednet.trainers.epoch_iterator`).
        ``batch_size`` defaults to 32 (arrays only); ``validation_split`` takes the last fraction
        of the arrays before shuffling; ``validation_data`` is a tuple or a source
        (``validation_steps`` batches of it); ``shuffle`` reshuffles arrays every epoch (Philox
        permutation from :mod:`fusednet.random`); ``steps_per_epoch`` bounds an epoch;
        ``verbose`` 'auto'/1 = progress bar, 2 = one line per epoch, 0 = silent.
        """
        batch_size, verbose = self._check_fit_args(batch_size, verbose, epochs, validation_split)
        if self._dp_active():      # DataParallel over MPI (world size > 1): .data_parallel
            return self._fit_dp(self._dp_active(), x, y, batch_size, epochs, verbose, callbacks, validation_split,
                                validation_data, shuffle, class_weight, sample_weight, initial_epoch,
                                steps_per_epoch, validation_steps, validation_batch_size, validation_freq)
        val = self._validation_source(validation_data)
        val_kwargs = {"batch_size": validation_batch_size or batch_size, "steps": validation_steps}
        src = as_source(x, "fit")
        if src is not None:
            check_no_targets("fit", y, sample_weight)
            if validation_split:
                raise ValueError("fit: validation_split is only supported for NumPy arrays / Arrays / "
                                 "Tensors; pass validation_data= with a dataset or generator")
            steps = src.check_steps(steps_per_epoch)
        if self._overrides("train_step"):
            return self._fit_custom(x, y, sample_weight, src, batch_size, epochs, verbose, callbacks,
                                    validation_split, val, val_kwargs, shuffle, initial_epoch,
                                    steps_per_epoch, validation_freq)
        check_fit_loss(self)
        dev = self._device
        if src is not None:
            def batches(epoch):
                return resumed(self, (self._source_batch(b, "fit", class_weight)
                                      for b in src.epoch(steps_per_epoch)))
        else:
            if y is None and any(l is not None for l in self._out_losses):
                raise ValueError("fit: y is required")
            xs, ys, Ys, sw = self._prepare_xy(x, y, sample_weight, "fit")
            n = xs[0].shape[0]
            sw = self._class_weighted(sw, ys, class_weight, "fit")
            if validation_data is None and validation_split:
                split_at = int(math.floor(n * (1.0 - validation_split)))
                if split_at == 0 or split_at == n:
                    raise ValueError(f"fit: validation_split={validation_split} leaves an empty training or "
                                     f"validation set for {n} samples")
                vx = self._pack_inputs([a[split_at:] for a in xs])
                vy = self._pack_outputs([None if a is None else np.asarray(a)[split_at:] for a in ys])
                val = (vx, vy)
                xs = [a[:split_at] for a in xs]
                Ys = [None if Y is None else _C.slice_axis(Y, 0, 0, split_at) for Y in Ys]
                sw = map_weights(sw, lambda a: a[:split_at])
                n = split_at
            X, Y = self._to_device(xs), self._to_device(Ys)
            W = self._weights_to_device(sw)
            steps = int(math.ceil(n / batch_size))
            if steps_per_epoch is not None:
                steps = min(steps, int(steps_per_epoch))

            def batches(epoch):
                perm = None
                if shuffle:
                    s, off = _random.next_key()
                    perm = _C.permutation(n, s, off)
                    if dev != "cpu":
                        perm = perm.to(dev)
                return resumed(self, self._array_batches(X, Y, W, n, batch_size, steps, perm))
        plan = self._get_plan()
        opt = self.optimizer
        params = plan.param_arrays
        opt._check_match(params)
        out_metrics = self._out_metrics
        cbs = fit_callbacks(callbacks, self, verbose, epochs, steps)
        batch_hooks = needs_batch_hooks(cbs)
        reg_layers = [l for l in self._flat_layers() if l._regularized]
        nout = len(self._out_losses)
        multi = nout > 1
        feeders = [MetricFeeder(ms, defer=not batch_hooks and dev == "cpu") if ms else None
                   for ms in out_metrics]

        def run_epoch(epoch):
            first, feed = peek(batches(epoch))
            if first is None:
                return None
            for ms in out_metrics:
                for m in ms:
                    m.reset_state()
            cbs.on_epoch_begin(epoch)
            acc, full = None, first[3]      # per-sample loss sums of batches of the first's size
            out_acc = [0.0] * nout
            tail_loss = seen = reg_sum = 0.0
            for step, (xb, yb, wb, nb) in enumerate(feed):
                if batch_hooks:
                    cbs.on_train_batch_begin(step)
                per, pers, outs, grads = plan.train_step(xb, yb, nb, wb)
                opt._apply_arrays(params, grads)
                if nb == full:
                    if acc is None:
                        acc = _C.zeros([full], device=dev)
                    _C.axpy_(acc, 1.0, per)
                else:
                    tail_loss += array_sum(per)
                if multi:
                    for i, p in enumerate(pers):
                        if p is not None:
                            out_acc[i] += array_sum(p)
                seen += nb
                if reg_layers:
                    reg_sum += reg_penalty(reg_layers) * nb
                for i, f in enumerate(feeders):
                    if f is not None:
                        f.add(yb[i], probs(outs[i], plan.fuse[i], plan.out_acts[i]), metric_mask(plan, i, outs[i]))
                if batch_hooks:
                    total = (array_sum(acc) if acc is not None else 0.0) + tail_loss + reg_sum
                    blogs = self._results(total / seen, [a / seen for a in out_acc], out_metrics)
                    cbs.on_train_batch_end(step, blogs)
                if self.stop_training:
                    break
            for f in feeders:
                if f is not None:
                    f.flush()
            total = (array_sum(acc) if acc is not None else 0.0) + tail_loss + reg_sum
            seen = max(seen, 1)
            return self._results(total / seen, [a / seen if p is not None else None
                                                for a, p in zip(out_acc, self._out_losses)], out_metrics)
        try:
            return self._run_epochs(cbs, epochs, initial_epoch, run_epoch, val, val_kwargs, validation_freq)
        finally:
            if src is not None:
                src.close()
            if isinstance(val, BatchSource):
                val.close()

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, _callbacks=None):
        """Loss (and metrics) over x/y (arrays, or a data source yielding ``(x, y)`` batches,
        ``steps`` of them at most); returns ``loss`` (no metrics, one output),
        ``[loss, *output losses, *metrics]`` or a dict (``return_dict=True``)."""
        if not self.compiled:
            raise ValueError("You must call compile() before evaluate()")
        batch_size = check_batch_size(batch_size, "evaluate")
        if self._dp_active():      # sharded over the DataParallel ranks: .data_parallel_eval
            return self._evaluate_dp(x, y, batch_size, sample_weight, steps, callbacks, return_dict, _callbacks)
        verbose = 1 if verbose == "auto" else verbose
        src = as_source(x, "evaluate")
        if src is not None:
            check_no_targets("evaluate", y, sample_weight)
            nsteps = src.check_steps(steps, "steps")
        if self._overrides("test_step"):
            return self._evaluate_custom(x, y, sample_weight, src, batch_size, verbose, steps, callbacks,
                                         return_dict, _callbacks)
        if all(l is None for l in self._out_losses):
            raise ValueError("evaluate: the model was compiled without a loss; pass loss= to compile(), "
                             "or override test_step()")
        dev = self._device
        nout = len(self._out_losses)
        if src is not None:
            feed = (self._source_batch(b, "evaluate") for b in src.epoch(steps, warn=False))
            single = len(self._input_names()) == 1 and nout == 1
        else:
            xs, _, Ys, sw = self._prepare_xy(x, y, sample_weight, "evaluate")
            n = xs[0].shape[0]
            X, Y = self._to_device(xs), self._to_device(Ys)
            Wt = self._weights_to_device(sw)
            nsteps = int(math.ceil(n / batch_size))
            if steps is not None:
                nsteps = min(nsteps, int(steps))
            feed = self._array_batches(X, Y, Wt, n, batch_size, nsteps)
            single = len(X) == 1 and len(Y) == 1
        out_metrics = self._out_metrics
        for ms in out_metrics:
            for m in ms:
                m.reset_state()
        if _callbacks is None:     # a standalone evaluate: its own callback list and progress bar
            cbs = _cb_module().CallbackList(callbacks, add_history=False, add_progbar=verbose != 0,
                                            model=self, verbose=verbose, epochs=1, steps=nsteps)
        else:                      # validation inside fit: fit's callbacks get the on_test_* hooks
            cbs = _callbacks
        cbs.on_test_begin()
        hooks = needs_batch_hooks(cbs, "test")
        feeders = [MetricFeeder(ms, defer=not hooks and dev == "cpu") if ms else None for ms in out_metrics]
        total, out_tot, done = 0.0, [0.0] * nout, 0
        plan = self._get_plan()
        ip = self._inference_plan(refresh=True) if single and not plan.masked else None
        for step, (xb, Yb, wb, nb) in enumerate(feed):
            if hooks:
                cbs.on_test_batch_begin(step)
            if ip is not None:
                outs = [ip.forward(xb[0], plan.fuse[0])]
            else:
                outs = plan.forward(xb, False, plan.strip, record=False)[0]
            for i, (out, yb) in enumerate(zip(outs, Yb)):
                if yb is None:
                    continue
                v = weighted_loss_sum(plan, i, out, yb, nb, wb)
                total += v
                out_tot[i] += v
                if feeders[i] is not None:
                    feeders[i].add(yb, probs(out, plan.fuse[i], plan.out_acts[i]), metric_mask(plan, i, out))
            done += nb
            if hooks:
                cbs.on_test_batch_end(step, {"loss": total / done})
        if src is not None and done == 0:
            if _callbacks is not None:     # validation inside fit: warn, log nothing this epoch
                warn_user("fit: validation_data yielded no batches (an exhausted generator? pass "
                          "validation_steps= or a re-iterable dataset)")
                return {}
            raise ValueError("evaluate: the data yielded no batches (an empty dataset, or an exhausted "
                             "generator)")
        for f in feeders:
            if f is not None:
                f.flush()
        reg_layers = [l for l in self._flat_layers() if l._regularized]
        done = max(done, 1)
        loss = total / done + (reg_penalty(reg_layers) if reg_layers else 0.0)
        res = self._results(loss, [t / done if l is not None else None for t, l in zip(out_tot, self._out_losses)],
                            out_metrics)
        cbs.on_test_end(res)
        if return_dict:
            return res
        if len(res) == 1:
            return loss
        return list(res.values())

    # ------------------------------------------------------------------ predict
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Model outputs for ``x`` (arrays, or a source of ``x`` / ``(x, ...)`` batches, ``steps`` at
        most): a NumPy array (list / dict for several outputs); softmax/sigmoid give probabilities."""
        batch_size = check_batch_size(batch_size, "predict")
        out = fast_predict(self, x, batch_size, steps, callbacks)   # one array, no callbacks / steps
        if out is not None:
            return out
        if self._dp_active():
            return self._predict_dp(x, batch_size, steps, callbacks)
        src = as_source(x, "predict")
        if self._overrides("predict_step"):
            return self._predict_custom(x, src, batch_size, steps, callbacks)
        if not self.layers and self._graph is None and not self._weights:
            raise ValueError(f"predict: model '{self.name}' has no layers; add layers before predicting")
        if src is not None:
            nsteps = src.check_steps(steps, "steps")
            feed = (self._source_batch(b, "predict", need_y=False) for b in src.epoch(steps, warn=False))
            n = None
        else:
            xs = self._prepare_inputs(x, "predict")
            n = xs[0].shape[0]
            nsteps = int(math.ceil(n / batch_size))
            if steps is not None:
                nsteps = min(nsteps, int(steps))
            feed = self._array_batches(self._to_device(xs), [], None, n, batch_size, nsteps, whole=True)
        self._require_built("predict")
        cbs = _cb_module().CallbackList(callbacks, add_history=False, add_progbar=False, model=self,
                                        verbose=0, epochs=1, steps=nsteps)
        hooks = needs_batch_hooks(cbs, "predict")
        cbs.on_predict_begin()
        results, s0, run = None, 0, None
        folded = self._inference_plan(refresh=True)   # re-fold Conv+BN weights once per predict call
        for step, (xb, _, _, nb) in enumerate(feed):
            if hooks:
                cbs.on_predict_batch_begin(step)
            if run is None or hooks:         # batch callbacks may change weights: look up again
                run = self._predict_fn(len(xb), folded if run is None else False)
            hs = [host_np(o) for o in run(xb)]
            if n is None:                    # a source: collect, concatenate at the end
                results = [[] for _ in hs] if results is None else results
                for r, h in zip(results, hs):
                    r.append(np.array(h, copy=True))
            else:
                if results is None:
                    results = [np.empty((n,) + h.shape[1:], np.float32) for h in hs]
                for r, h in zip(results, hs):
                    r[s0:s0 + nb] = h
            s0 += nb
            if hooks:
                cbs.on_predict_batch_end(step, {"outputs": self._pack_outputs(hs)})
        if results is None:
            raise ValueError("predict: the data yielded no batches")
        results = [np.concatenate(r, 0) if n is None else r[:s0] for r in results]
        cbs.on_predict_end()
        return self._pack_outputs(results)

    def predict_on_batch(self, x):
        first = flatten(x, self._input_names(), "predict_on_batch: x")[0]
        return self.predict(x, batch_size=max(1, len(first)), verbose=0)

    def train_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """One optimizer step on one batch; returns the loss (float), or the logs dict."""
        first = flatten(x, self._input_names(), "train_on_batch: x")[0]
        h = self.fit(x, y, batch_size=max(1, len(first)), epochs=1, verbose=0, shuffle=False,
                     sample_weight=sample_weight)
        logs = {k: v[-1] for k, v in h.history.items()}
        return logs if return_dict or "loss" not in logs else logs["loss"]

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        first = flatten(x, self._input_names(), "test_on_batch: x")[0]
        return self.evaluate(x, y, batch_size=max(1, len(first)), verbose=0, sample_weight=sample_weight,
                             return_dict=return_dict)
