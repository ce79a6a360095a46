"""Sharded ``evaluate`` / ``predict`` under :class:`fusednet.distribution.DataParallel`.

One rule for every input kind, the fit's: the data is cut into global batches of
``batch_size`` rows (in order, no shuffle; a data source's own batches, which every rank must
yield identically), and rank r takes rows ``[floor(r nb / N), floor((r+1) nb / N))`` of each.
Each rank runs the inference forward on its rows only. evaluate: weighted loss sums and row
counts are allreduced, and the metered outputs' (y_true, y_pred) rows are gathered so every
rank's metrics see every row (all ranks return the same logs). predict: the per-batch outputs
are gathered and put back in (batch, rank) order, which is the input order, so every rank
returns the full predictions.
"""
import math

import numpy as np

from .. import _C
from .data_adapters import as_host_array, host_np
from .epoch_iterator import as_source, check_no_targets
from .logs import _cb_module, probs, reg_penalty
from .sample_weights import map_weights, weighted_loss_sum

__all__ = ["shard_rows", "shard_batches", "metrics_over_ranks", "evaluate_data_parallel",
           "predict_data_parallel", "custom_host_arrays", "custom_shards"]


def shard_rows(comm, nb):
    """Rank ``comm.rank``'s rows ``(lo, hi)`` of a global batch of ``nb`` rows.

    Args:
        comm: the process group (``rank``, ``size``).
        nb: rows in the global batch.

    Returns:
        ``(floor(r nb / N), floor((r+1) nb / N))``.

    Example:
        >>> shard_rows(comm, 7)        # 3 ranks: (0, 2), (2, 4), (4, 7)
    """
    return (comm.rank * nb) // comm.size, ((comm.rank + 1) * nb) // comm.size


def _slice(arrays, lo, hi):
    return [None if a is None else _C.slice_axis(a, 0, lo, hi) for a in arrays]


def shard_batches(model, comm, raw, need_y=True, class_weight=None, what="evaluate"):
    """This rank's slice ``(xb, Yb, wb, n_local, nb)`` of each global batch.

    Args:
        model: the model (prepares and moves the data).
        comm: the process group.
        raw: ``("arrays", X, Y, W, n, batch_size, steps)`` (device Arrays) or
            ``("source", iterable of raw batches)``.
        need_y / class_weight / what: as :meth:`Model._source_batch`.

    Example:
        >>> for xb, yb, wb, nl, nb in shard_batches(model, comm, raw): ...    # doctest: +SKIP
    """
    if raw[0] == "arrays":
        _, X, Y, W, n, batch_size, steps = raw
        for k in range(steps):
            start, nb = k * batch_size, min(batch_size, n - k * batch_size)
            lo, hi = shard_rows(comm, nb)
            yield _slice(X, start + lo, start + hi), _slice(Y, start + lo, start + hi), \
                map_weights(W, lambda a: _C.slice_axis(a, 0, start + lo, start + hi)), hi - lo, nb
        return
    for b in raw[1]:
        xb, Yb, wb, nb = model._source_batch(b, what, class_weight, need_y=need_y)
        lo, hi = shard_rows(comm, nb)
        yield _slice(xb, lo, hi), (_slice(Yb, lo, hi) if Yb is not None else None), \
            map_weights(wb, lambda a: _C.slice_axis(a, 0, lo, hi)), hi - lo, nb


def metrics_over_ranks(comm, out_metrics, seen):
    """Feed every rank's (y_true, y_pred) host rows (rank order) to every rank's metrics, so all
    ranks log the same values. Why gather rows rather than sum metric states: built-in metrics
    keep plain Python state, not only ``add_variable`` variables; rows work for every metric
    (cost: rows x outputs floats per call).

    Args:
        comm: the process group.
        out_metrics: per output, its list of metrics (empty: not metered).
        seen: per output, this rank's list of ``(y_true, y_pred)`` host arrays.

    Example:
        >>> metrics_over_ranks(comm, model._out_metrics, seen)     # doctest: +SKIP
    """
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


def _raw_feed(model, x, y, sample_weight, batch_size, steps, what, need_y):
    """(raw, source or None) for :func:`shard_batches`."""
    src = as_source(x, what)
    if src is not None:
        check_no_targets(what, y, sample_weight)
        src.check_steps(steps, "steps")
        return ("source", src.epoch(steps, warn=False)), src
    if need_y:
        xs, _, Ys, sw = model._prepare_xy(x, y, sample_weight, what)
    else:
        xs, Ys, sw = model._prepare_inputs(x, what), [], None
    n = xs[0].shape[0]
    nsteps = int(math.ceil(n / batch_size))
    if steps is not None:
        nsteps = min(nsteps, int(steps))
    W = model._weights_to_device(sw)
    return ("arrays", model._to_device(xs), model._to_device(Ys), W, n, batch_size, nsteps), None


def evaluate_data_parallel(model, dist, x, y, batch_size, sample_weight, steps, callbacks, return_dict,
                           _callbacks):
    """:meth:`Model.evaluate` across ranks (compiled step). Per-batch test hooks are not called
    (their logs would need a collective per batch) and no progress bar is shown; on_test_begin /
    on_test_end are called.

    Args:
        model, dist: the model and its :class:`DataParallel`; the rest as :meth:`Model.evaluate`.

    Returns:
        As :meth:`Model.evaluate`, the same on every rank.

    Example:
        >>> model.evaluate(x, y)          # under DataParallel: sharded    # doctest: +SKIP
    """
    comm = dist.comm
    if model._overrides("test_step"):
        return _evaluate_custom_dp(model, comm, x, y, sample_weight, batch_size, steps, callbacks, return_dict,
                                   _callbacks)
    if all(l is None for l in model._out_losses):
        raise ValueError("evaluate: the model was compiled without a loss; pass loss= to compile()")
    raw, src = _raw_feed(model, x, y, sample_weight, batch_size, steps, "evaluate", True)
    cbs = _callbacks if _callbacks is not None else _cb_module().CallbackList(
        callbacks, add_history=False, add_progbar=False, model=model, verbose=0, epochs=1, steps=None)
    cbs.on_test_begin()
    plan = model._get_plan()
    nout = len(model._out_losses)
    out_metrics = model._out_metrics
    loc = np.zeros(2 + nout, np.float64)      # loss sum, rows, per-output loss sums
    seen = [[] for _ in out_metrics]
    try:
        for xb, Yb, wb, nl, nb in shard_batches(model, comm, raw, what="evaluate"):
            if nl == 0:
                continue
            outs = plan.forward(xb, False, plan.strip, record=False)[0]
            for i, (out, yb) in enumerate(zip(outs, Yb)):
                if yb is None:
                    continue
                v = weighted_loss_sum(plan, i, out, yb, nl, wb)
                loc[0] += v
                loc[2 + i] += v
                if out_metrics[i]:
                    seen[i].append((np.array(host_np(yb)),
                                    np.array(host_np(probs(out, plan.fuse[i], plan.out_acts[i])))))
            loc[1] += nl
    finally:
        if src is not None:
            src.close()
    comm.allreduce_sum_(loc)
    if loc[1] == 0:
        raise ValueError("evaluate: the data yielded no batches")
    metrics_over_ranks(comm, out_metrics, seen)
    reg_layers = [l for l in model._flat_layers() if l._regularized]
    loss = float(loc[0] / loc[1]) + (reg_penalty(reg_layers) if reg_layers else 0.0)
    res = model._results(loss, [float(loc[2 + i] / loc[1]) if l is not None else None
                                for i, l in enumerate(model._out_losses)], out_metrics)
    cbs.on_test_end(res)
    if return_dict:
        return res
    return loss if len(res) == 1 else list(res.values())


def predict_data_parallel(model, dist, x, batch_size, steps, callbacks):
    """:meth:`Model.predict` across ranks; every rank returns all outputs, in input order.

    Args:
        model, dist: the model and its :class:`DataParallel`; the rest as :meth:`Model.predict`.

    Returns:
        As :meth:`Model.predict`.

    Example:
        >>> model.predict(x)              # under DataParallel: sharded    # doctest: +SKIP
    """
    comm = dist.comm
    if model._overrides("predict_step"):
        return _predict_custom_dp(model, comm, x, batch_size, steps, callbacks)
    raw, src = _raw_feed(model, x, None, None, batch_size, steps, "predict", False)
    model._require_built("predict")
    cbs = _cb_module().CallbackList(callbacks, add_history=False, add_progbar=False, model=model,
                                    verbose=0, epochs=1, steps=None)
    cbs.on_predict_begin()
    model._inference_plan(refresh=True)
    local = []
    try:
        for xb, _, _, nl, nb in shard_batches(model, comm, raw, need_y=False, what="predict"):
            local.append([np.array(host_np(o), copy=True) for o in model._predict_arrays(xb)]
                         if nl else None)
    finally:
        if src is not None:
            src.close()
    parts = comm.allgather_obj(local)
    if len({len(p) for p in parts}) != 1:
        raise ValueError(f"predict: the ranks' data yielded different numbers of batches "
                         f"({[len(p) for p in parts]}): a data source must yield the same batches on every rank")
    pieces = [p[b] for b in range(len(local)) for p in parts if p[b] is not None]
    if not pieces:
        raise ValueError("predict: the data yielded no batches")
    results = [np.concatenate([pc[j] for pc in pieces], 0) for j in range(len(pieces[0]))]
    cbs.on_predict_end()
    return model._pack_outputs(results)


# ---------------------------------------------------------------------- overridden steps
_STEP = {"fit": "train_step", "evaluate": "test_step", "predict": "predict_step"}


def custom_host_arrays(x, y, sw, what):
    """The host arrays ``(x, y, sample_weight, n)`` an overridden step is fed from under
    DataParallel (arrays only: every rank must slice the same rows)."""
    from .epoch_iterator import as_source
    from .steps import _first_len, _map
    if as_source(x, what) is not None:
        raise ValueError(f"{what}: an overridden {_STEP[what]} under DataParallel takes NumPy arrays / Arrays / "
                         f"Tensors (not a dataset or generator)")
    hx = _map(lambda v: as_host_array(v, f"{what}: x"), x)
    hy = None if y is None else _map(lambda v: as_host_array(v, f"{what}: y"), y)
    hw = None if sw is None else as_host_array(sw, f"{what}: sample_weight")
    return hx, hy, hw, _first_len(hx)


def custom_shards(model, comm, host, batch_size, steps, what, order=None):
    """This rank's rows (:func:`shard_rows`) of every global batch of ``host`` (from
    :func:`custom_host_arrays`; ``order``: a permutation of the rows, or None), as the user step
    gets them: ``(data, rows, global rows)``, ``data`` None for an empty shard."""
    from .steps import _map
    hx, hy, hw, n = host
    nsteps = int(math.ceil(n / batch_size))
    if steps is not None:
        nsteps = min(nsteps, int(steps))
    for k in range(nsteps):
        start, nb = k * batch_size, min(batch_size, n - k * batch_size)
        lo, hi = shard_rows(comm, nb)
        if hi == lo:
            yield None, 0, nb
            continue
        idx = slice(start + lo, start + hi) if order is None else order[start + lo:start + hi]
        take = (lambda a: a[idx])
        tx, ty, tw = model._tensor_batch(_map(take, hx), None if hy is None else _map(take, hy),
                                         None if hw is None else take(hw), what)
        yield model._pack(tx, ty, tw), hi - lo, nb


def _evaluate_custom_dp(model, comm, x, y, sample_weight, batch_size, steps, callbacks, return_dict, _callbacks):
    """evaluate of a model overriding ``test_step``: each rank runs it on its rows (no collective
    inside: an empty shard just skips); the last logs (running metrics over this rank's rows)
    are averaged over ranks weighted by rows. Per-batch test hooks are not called (as the
    compiled DataParallel evaluate)."""
    from .logs import log_values
    cbs = _callbacks if _callbacks is not None else _cb_module().CallbackList(
        callbacks, add_history=False, add_progbar=False, model=model, verbose=0, epochs=1, steps=None)
    model.reset_metrics()
    cbs.on_test_begin()
    logs, rows = {}, 0
    host = custom_host_arrays(x, y, sample_weight, "evaluate")
    for data, nl, _ in custom_shards(model, comm, host, batch_size or 32, steps, "evaluate"):
        if data is not None:
            logs = log_values(model.test_step(data), "test_step")
            rows += nl
    keys = comm.bcast_obj(list(logs) if comm.rank == 0 else None)
    if rows and list(logs) != keys:
        raise ValueError(f"evaluate: the ranks' test_step returned different logs ({sorted(logs)} vs {sorted(keys)})")
    buf = np.array([float(logs.get(k, 0.0)) * rows for k in keys] + [float(rows)], np.float64)
    comm.allreduce_sum_(buf)
    if buf[-1] == 0:
        raise ValueError("evaluate: the data yielded no batches")
    res = {k: buf[i] / buf[-1] for i, k in enumerate(keys)}
    cbs.on_test_end(res)
    if return_dict:
        return res
    vals = list(res.values())
    return vals[0] if len(vals) == 1 else vals


def _predict_custom_dp(model, comm, x, batch_size, steps, callbacks):
    """predict of a model overriding ``predict_step``: each rank runs it on its rows; every rank
    returns all outputs in input order (gathered per batch)."""
    from .steps import _map, concat_step_outputs, host_copy
    host = custom_host_arrays(x, None, None, "predict")
    cbs = _cb_module().CallbackList(callbacks, add_history=False, add_progbar=False, model=model,
                                    verbose=0, epochs=1, steps=None)
    cbs.on_predict_begin()
    local = []
    for data, nl, _ in custom_shards(model, comm, host, batch_size or 32, steps, "predict"):
        local.append(None if data is None else _map(host_copy, model.predict_step(data)))
    parts = comm.allgather_obj(local)
    pieces = [p[b] for b in range(len(local)) for p in parts if p[b] is not None]
    if not pieces:
        raise ValueError("predict: the data yielded no batches")
    cbs.on_predict_end()
    return concat_step_outputs(pieces)
