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
from ..tensor import Tensor
from ..distribution import sync as _sync
from .data_parallel_eval import (custom_host_arrays, custom_shards, evaluate_data_parallel, metrics_over_ranks,
                                 predict_data_parallel, shard_batches)
from .epoch_iterator import BatchSource, as_source, check_no_targets, peek, resumed
from .grad_buckets import GradBuckets, NcclGrads
from .data_adapters import host_np
from .logs import array_sum, fit_callbacks, needs_batch_hooks, probs, reg_penalty
from .sample_weights import map_weights

__all__ = ["fit_data_parallel", "fit_custom_data_parallel", "DataParallelFit"]

_RANK0_ONLY = ("ModelCheckpoint", "TensorBoard", "CSVLogger")   # BackupAndRestore: rank 0 writes, all restore


def _broadcast_weights(model, comm):
    ws = [np.ascontiguousarray(w) for w in model.get_weights()]
    for w in ws:
        comm.bcast_(w, 0)
    model.set_weights(ws)


def _overlap_ok(comm, synced):
    """Whether buckets may leave while backward runs. Synchronized BatchNorm's backward calls
    MPI from the main thread while the bucket thread may be inside its Allreduce: that needs
    MPI_THREAD_MULTIPLE (mpi4py's default request; Open MPI provides it). Below it, every bucket
    is sent after backward instead (the same sums, no overlap)."""
    return not synced or getattr(comm, "thread_multiple", True)


def _check_synced_batch(nb, N):
    if nb < N:
        raise ValueError(f"fit: BatchNormalization(synchronized=True) needs every rank to hold rows of "
                         f"every global batch; a batch of {nb} rows over {N} ranks leaves a rank without "
                         f"rows (fewer rows than ranks: choose batch_size and the data so that each "
                         f"batch, the last included, has >= {N} rows)")


def fit_data_parallel(model, dist, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                      validation_data, shuffle, class_weight, sample_weight, initial_epoch, steps_per_epoch,
                      validation_steps=None, validation_batch_size=None, validation_freq=1):
    """The compiled-plan fit loop across ranks. Args as :meth:`Model.fit`."""
    comm = dist.comm
    N, r = comm.size, comm.rank
    val = model._validation_source(validation_data)
    val_kwargs = {"batch_size": validation_batch_size or batch_size, "steps": validation_steps}
    src = as_source(x, "fit")
    synced = any(getattr(l, "synchronized", False) and l._trainable for l in model._flat_layers())
    if synced and str(model._device).startswith("cuda"):
        raise ValueError("fit: BatchNormalization(synchronized=True) under DataParallel needs CPU arrays "
                         "(synchronized statistics on CUDA are not implemented)")
    if src is not None:
        check_no_targets("fit", y, sample_weight)
        if validation_split:
            raise ValueError("fit: validation_split is only supported for NumPy arrays / Arrays / "
                             "Tensors; pass validation_data= with a dataset or generator")
        steps = src.check_steps(steps_per_epoch)
    else:
        if y is None:
            raise ValueError("fit: y is required")
        xs, ys, Ys, sw = model._prepare_xy(x, y, sample_weight, "fit")
        sw = model._class_weighted(sw, ys, class_weight, "fit")
        n = xs[0].shape[0]
        if validation_data is None and validation_split:     # the last rows, before shuffling (Keras)
            split_at = int(math.floor(n * (1.0 - validation_split)))
            if split_at == 0 or split_at == n:
                raise ValueError(f"fit: validation_split={validation_split} leaves an empty training or "
                                 f"validation set for {n} samples")
            val = (model._pack_inputs([a[split_at:] for a in xs]),
                   model._pack_outputs([None if a is None else np.asarray(a)[split_at:] for a in ys]))
            xs = [a[:split_at] for a in xs]
            Ys = [None if a is None else _C.slice_axis(a, 0, 0, split_at) for a in Ys]
            sw = map_weights(sw, lambda a: a[:split_at])
            n = split_at
        if synced and n > 0:
            _check_synced_batch(min(batch_size, n - (int(math.ceil(n / batch_size)) - 1) * batch_size), N)
        X, Y = model._to_device(xs), model._to_device(Ys)
        W = model._weights_to_device(sw)
        steps = int(math.ceil(n / batch_size))
        if steps_per_epoch is not None:
            steps = min(steps, int(steps_per_epoch))
    sync_comm = dist.sync_comm() if synced else None
    overlap = _overlap_ok(comm, synced)
    plan = model._get_plan()
    opt = model.optimizer
    params = plan.param_arrays
    opt._check_match(params)
    reg_layers = [l for l in model._flat_layers() if l._regularized]
    _broadcast_weights(model, comm)
    if r != 0:
        verbose = 0
        callbacks = [c for c in (callbacks or []) if type(c).__name__ not in _RANK0_ONLY]
    cbs = fit_callbacks(callbacks, model, verbose, epochs, steps)
    # per-batch logs need a collective per step: every rank must agree to run it (rank 0 alone
    # has the progress bar)
    hooks = bool(comm.allreduce_sum_(np.array([float(needs_batch_hooks(cbs))]))[0] > 0)
    stats = np.zeros(2, np.float64)
    out_metrics = model._out_metrics

    def batches(epoch):
        if src is not None:                # every rank reads the same batches and keeps its rows
            return resumed(model, shard_batches(model, comm, ("source", src.epoch(steps_per_epoch)), True,
                                                class_weight, "fit"))
        return resumed(model, array_batches(epoch))

    def array_batches(epoch):
        perm = None
        if shuffle:
            key = comm.bcast_obj(_random.next_key() if r == 0 else None)
            if r != 0:
                _random.next_key()         # keep every rank's generator in step with rank 0's
            perm = _C.permutation(n, key[0], key[1])
            if model._device != "cpu":
                perm = perm.to(model._device)
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
            if synced:
                _check_synced_batch(nb, N)
            if hooks:
                cbs.on_train_batch_begin(step)
            gb.begin(nl / nb)
            if nl > 0:
                plan.grad_hook = gb.ready if overlap else None     # buckets leave while backward runs
                try:
                    with _sync.step(sync_comm, nl / nb):
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
            if reg_layers and nl:                  # the updated weights' penalty per row (as fit logs it)
                loc[0] += reg_penalty(reg_layers) * nl
            if hooks:
                np.copyto(stats, loc)
                comm.allreduce_sum_(stats)
                cbs.on_train_batch_end(step, {"loss": stats[0] / max(stats[1], 1.0)})
            if model.stop_training:
                break
        np.copyto(stats, loc)
        comm.allreduce_sum_(stats)
        metrics_over_ranks(comm, out_metrics, seen)
        return model._results(float(stats[0] / max(stats[1], 1.0)), [None] * len(out_metrics), out_metrics)

    if str(model._device).startswith("cuda"):
        gb = NcclGrads(params, dist.nccl(model._device))     # CUDA arrays: NCCL, on the device
    else:
        gb = GradBuckets(plan, params, comm, dist.bucket_bytes)
    try:
        return model._run_epochs(cbs, epochs, initial_epoch, run_epoch, val, val_kwargs, validation_freq)
    finally:
        gb.close()
        if src is not None:
            src.close()
        if isinstance(val, BatchSource):
            val.close()


def fit_custom_data_parallel(model, dist, x, y, sample_weight, batch_size, epochs, verbose, callbacks, val,
                             val_kwargs, shuffle, initial_epoch, steps_per_epoch, validation_freq):
    """``fit`` of a model that overrides ``train_step``, across ranks.

    Rows are sharded as in :func:`fit_data_parallel`; each rank runs the user's ``train_step`` on
    its rows, and every ``apply_gradients`` call made inside it (any optimizer: a GAN's two
    included) first sums the gradients over ranks, each scaled by its share of the global batch
    (``n_r / nb``: the global-batch mean when the step's loss is a mean over its rows), so every
    rank applies the same update. The returned logs are averaged over ranks weighted by rows. A
    global batch with fewer rows than ranks (a short last batch) is skipped on every rank: an
    empty shard cannot run a user step, and every rank must make the same collective calls.
    Arrays only (a dataset / generator raises).
    """
    from ..optimizers import Optimizer
    from .logs import log_values
    comm = dist.comm
    N, r = comm.size, comm.rank
    host = custom_host_arrays(x, y, sample_weight, "fit")
    n = host[3]
    steps = int(math.ceil(n / batch_size))
    if steps_per_epoch is not None:
        steps = min(steps, int(steps_per_epoch))
    _broadcast_weights(model, comm)
    if r != 0:
        verbose = 0
        callbacks = [c for c in (callbacks or []) if type(c).__name__ not in _RANK0_ONLY]
    cbs = fit_callbacks(callbacks, model, verbose, epochs, steps)
    share = [1.0]                         # this rank's n_r / nb for the step being run

    def summed(grads_and_vars):
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        host = [host_np(g.data if isinstance(g, Tensor) else g) for g, _ in pairs]
        flat = np.empty(sum(h.size for h in host), np.float32)      # one buffer, one allreduce
        k = 0
        for h in host:
            flat[k:k + h.size] = h.ravel()
            k += h.size
        flat *= np.float32(share[0])
        comm.allreduce_sum_(flat)
        out, k = [], 0
        for (g, v), h in zip(pairs, host):
            a = _C.asarray(np.ascontiguousarray(flat[k:k + h.size].reshape(h.shape)))
            dev = getattr(v, "device", "cpu")
            out.append((a if dev == "cpu" else a.to(dev), v))
            k += h.size
        return out

    def epoch_batches():
        perm = None
        if shuffle:
            key = comm.bcast_obj(_random.next_key() if r == 0 else None)
            if r != 0:
                _random.next_key()
            perm = np.asarray(_C.permutation(n, key[0], key[1])).astype(np.int64)
        for data, nl, nb in custom_shards(model, comm, host, batch_size, steps, "fit", perm):
            if nb >= N:                    # a batch with an empty shard is skipped on every rank
                yield data, nl, nb

    def run_epoch(epoch):
        first, feed = peek(resumed(model, epoch_batches()))
        if first is None:
            return None
        model.reset_metrics()
        cbs.on_epoch_begin(epoch)
        logs = {}
        for step, (data, nl, nb) in enumerate(feed):
            cbs.on_train_batch_begin(step)
            share[0] = nl / nb
            local = log_values(model.train_step(data), "train_step")
            keys = list(local)
            buf = np.array([float(local[k]) * nl for k in keys] + [float(nl)], np.float64)
            comm.allreduce_sum_(buf)
            logs = {k: buf[i] / buf[-1] for i, k in enumerate(keys)}
            cbs.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        return dict(logs)

    orig = Optimizer.apply_gradients

    def apply_gradients(self, grads_and_vars):
        return orig(self, summed(grads_and_vars))
    Optimizer.apply_gradients = apply_gradients
    try:
        return model._run_epochs(cbs, epochs, initial_epoch, run_epoch, val, val_kwargs, validation_freq)
    finally:
        Optimizer.apply_gradients = orig
        if isinstance(val, BatchSource):
            val.close()


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

    def _fit_dp(self, dist, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                shuffle, class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps=None,
                validation_batch_size=None, validation_freq=1):
        if self._overrides("train_step"):
            if validation_split or class_weight is not None:
                raise ValueError("fit: an overridden train_step under DataParallel takes validation_data= "
                                 "(not validation_split) and no class_weight")
            val = self._validation_source(validation_data)
            val_kwargs = {"batch_size": validation_batch_size or batch_size, "steps": validation_steps}
            return fit_custom_data_parallel(self, dist, x, y, sample_weight, batch_size, epochs, verbose, callbacks,
                                            val, val_kwargs, shuffle, initial_epoch, steps_per_epoch,
                                            validation_freq)
        return fit_data_parallel(self, dist, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                                 validation_data, shuffle, class_weight, sample_weight, initial_epoch,
                                 steps_per_epoch, validation_steps, validation_batch_size, validation_freq)

    def _evaluate_dp(self, *args):
        return evaluate_data_parallel(self, self._dp_active(), *args)

    def _predict_dp(self, *args):
        return predict_data_parallel(self, self._dp_active(), *args)
