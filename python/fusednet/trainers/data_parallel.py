"""``fit`` under a :class:`fusednet.distribution.DataParallel` distribution (world size > 1).

Per epoch: one Philox permutation of the n samples (key drawn on rank 0 as a single-process fit
would draw it, broadcast); global batch k is rows ``[k B, (k+1) B)`` of it and rank r takes the
contiguous slice ``[floor(r nb / N), floor((r+1) nb / N))`` of those nb rows. The plan's
forward/backward runs on the local rows (loss = local per-sample mean), the gradients are packed
into fixed buckets of one flat float32 buffer scaled by ``n_r / nb`` (so the sum over ranks is
the global-batch mean gradient), summed over ranks by a communication thread while backward
still runs (:mod:`.grad_buckets`) (:meth:`Communicator.allreduce_sum_`, bitwise identical on every
rank), unpacked, and every rank applies the identical optimizer step. Loss logs are the global
per-sample mean (sums and counts allreduced at epoch end, and per batch when batch hooks run).
"""
import math

import numpy as np

from .. import _C
from .. import random as _random
from .epoch_iterator import peek
from .grad_buckets import GradBuckets
from .data_adapters import host_np
from .logs import _cb_module, array_sum, needs_batch_hooks, probs
from .sample_weights import map_weights

__all__ = ["fit_data_parallel", "DataParallelFit"]

_RANK0_ONLY = ("ModelCheckpoint", "TensorBoard", "CSVLogger")   # BackupAndRestore: rank 0 writes, all restore


def _broadcast_weights(model, comm):
    ws = [np.ascontiguousarray(w) for w in model.get_weights()]
    for w in ws:
        comm.bcast_(w, 0)
    model.set_weights(ws)


def _metrics_over_ranks(comm, out_metrics, seen):
    """Epoch metrics over the whole global epoch: every rank's (y_true, y_pred) rows gathered
    (rank order) and fed to every rank's metrics, so all ranks log the same values. Why gather
    rows rather than sum metric states: built-in metrics keep plain Python state, not only
    ``add_variable`` variables; rows work for every metric (cost: n x outputs floats/epoch)."""
    for ms, rows in zip(out_metrics, seen):
        if not ms:
            continue
        local = (np.concatenate([r[0] for r in rows]), np.concatenate([r[1] for r in rows])) if rows else None
        for m in ms:
            m.reset_state()
        for part in comm.allgather_obj(local):
            if part is not None:
                for m in ms:
                    m.update_state(part[0], part[1])


def fit_data_parallel(model, dist, x, y, batch_size, epochs, verbose, callbacks, shuffle,
                      sample_weight, initial_epoch, steps_per_epoch):
    """The compiled-plan fit loop across ranks (arrays only). Args as :meth:`Model.fit`."""
    comm = dist.comm
    N, r = comm.size, comm.rank
    if model._device != "cpu":
        raise ValueError("fit: DataParallel runs on CPU arrays over MPI only (NCCL for CUDA is not "
                         "implemented yet)")
    if y is None:
        raise ValueError("fit: y is required")
    xs, ys, Ys, sw = model._prepare_xy(x, y, sample_weight, "fit")
    if any(l._regularized for l in model._flat_layers()):
        raise ValueError("fit: weight regularizers are not supported with DataParallel yet (each rank "
                         "would add the penalty gradient)")
    n = xs[0].shape[0]
    X, Y = model._to_device(xs), model._to_device(Ys)
    W = model._weights_to_device(sw)
    steps = int(math.ceil(n / batch_size))
    if steps_per_epoch is not None:
        steps = min(steps, int(steps_per_epoch))
    plan = model._get_plan()
    opt = model.optimizer
    params = plan.param_arrays
    opt._check_match(params)
    _broadcast_weights(model, comm)
    if r != 0:
        verbose = 0
        callbacks = [c for c in (callbacks or []) if type(c).__name__ not in _RANK0_ONLY]
    cbs = _cb_module().CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                                    verbose=verbose, epochs=epochs, steps=steps)
    # per-batch logs need a collective per step: every rank must agree to run it (rank 0 alone
    # has the progress bar)
    hooks = bool(comm.allreduce_sum_(np.array([float(needs_batch_hooks(cbs))]))[0] > 0)
    stats = np.zeros(2, np.float64)
    out_metrics = model._out_metrics

    def batches(epoch):
        perm = None
        if shuffle:
            key = comm.bcast_obj(_random.next_key() if r == 0 else None)
            if r != 0:
                _random.next_key()         # keep every rank's generator in step with rank 0's
            perm = _C.permutation(n, key[0], key[1])
        for k in range(steps):
            start, nb = k * batch_size, min(batch_size, n - k * batch_size)
            lo, hi = start + (r * nb) // N, start + ((r + 1) * nb) // N
            if perm is not None:
                idx = _C.slice_axis(perm, 0, lo, hi)
                take = (lambda a: None if a is None else _C.take_rows(a, idx))
            else:
                take = (lambda a: None if a is None else _C.slice_axis(a, 0, lo, hi))
            yield [take(a) for a in X], [take(a) for a in Y], map_weights(W, take), hi - lo, nb

    def run_epoch(epoch):
        first, feed = peek(batches(epoch))
        if first is None:
            return None
        cbs.on_epoch_begin(epoch)
        loc = np.zeros(2, np.float64)         # local (loss sum, samples)
        seen = [[] for _ in out_metrics]      # local (y_true, y_pred) host rows per metered output
        for step, (xb, yb, wb, nl, nb) in enumerate(feed):
            if hooks:
                cbs.on_train_batch_begin(step)
            gb.begin(nl / nb)
            if nl > 0:
                plan.grad_hook = gb.ready          # buckets leave while backward runs
                try:
                    per, _, outs, grads = plan.train_step(xb, yb, nl, wb)
                finally:
                    plan.grad_hook = None
                grads = gb.finish(grads)
                loc[0] += array_sum(per)
                loc[1] += nl
                for i, ms in enumerate(out_metrics):
                    if ms:
                        seen[i].append((np.array(host_np(yb[i])),
                                        np.array(host_np(probs(outs[i], plan.fuse[i], plan.out_acts[i])))))
            else:
                grads = gb.finish(None)            # an empty shard: zeros, the same buckets
            opt._apply_arrays(params, grads)
            if hooks:
                np.copyto(stats, loc)
                comm.allreduce_sum_(stats)
                cbs.on_train_batch_end(step, {"loss": stats[0] / max(stats[1], 1.0)})
            if model.stop_training:
                break
        np.copyto(stats, loc)
        comm.allreduce_sum_(stats)
        _metrics_over_ranks(comm, out_metrics, seen)
        return model._results(float(stats[0] / max(stats[1], 1.0)), [None] * len(out_metrics), out_metrics)

    gb = GradBuckets(plan, params, comm, dist.bucket_bytes)
    try:
        return model._run_epochs(cbs, epochs, initial_epoch, run_epoch, None, {}, 1)
    finally:
        gb.close()


class DataParallelFit:
    """Mixin of :class:`Trainer`: routes ``fit`` to :func:`fit_data_parallel` when a
    :class:`fusednet.distribution.DataParallel` with world size > 1 is set.

    Example:
        >>> fusednet.distribution.set_distribution(fusednet.distribution.DataParallel())
        >>> model.fit(x, y, batch_size=64)     # under mpirun -np 2: 32 rows per rank
    """

    def _dp_active(self):
        from ..distribution import distribution
        d = distribution()
        return d if d is not None and d.world_size > 1 else None

    def _fit_dp(self, dist, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                validation_data, shuffle, class_weight, sample_weight, initial_epoch, steps_per_epoch):
        from .epoch_iterator import as_source
        if as_source(x, "fit") is not None or self._overrides("train_step"):
            raise ValueError("fit: DataParallel supports in-memory arrays with the compiled step only "
                             "(no datasets/generators or overridden train_step yet)")
        if validation_split or validation_data is not None or class_weight is not None:
            raise ValueError("fit: DataParallel does not support validation_split / validation_data / "
                             "class_weight yet; evaluate on rank 0 after fit")
        return fit_data_parallel(self, dist, x, y, batch_size, epochs, verbose, callbacks, shuffle,
                                 sample_weight, initial_epoch, steps_per_epoch)
