"""The common case of ``Model.predict`` without its general machinery.

``predict(x)`` with one NumPy array for a single-float-input model, no callbacks, no ``steps``,
no distribution and the compiled ``predict_step`` spends, at batch 64 on the seed MLP, as long in
Python (a CallbackList, its hook scan, a batch generator, input flattening) as the int8 model
spends in its kernels (docs/DECISIONS.md, 2026-12-04 int8 whole-model predict). This path does the
same checks (``prep_x``: dtype, empty, finite; the model's input-shape check), the same plan
lookups (Conv+BN refold once per call, the cached inference plan) and the same batching
(``batch_size`` slices, a single batch is the input itself), and returns the same float32
arrays; everything else goes the general way. ``tests/test_predict_fast.py`` checks it returns
bit-identical results and raises the same errors as the general path.
"""
import numpy as np

from .. import _C
from .data_adapters import host_np, prep_x

__all__ = ["fast_predict"]


def fast_predict(model, x, batch_size, steps, callbacks):
    """``model.predict(x, batch_size)`` for the common case, or None when it does not apply.

    Args:
        model: a built :class:`~fusednet.models.Model` (Sequential or functional) on the CPU.
        x: the input; only a NumPy array qualifies.
        batch_size: a checked positive int.
        steps, callbacks: predict's arguments; the fast path needs both None (or no callbacks).

    Returns:
        What ``predict`` returns (a float32 array, or the packed outputs), or None.

    Shape:
        x [n, ...] -> outputs [n, ...].

    Example:
        >>> out = fast_predict(model, x, 64, None, None)   # None: use the general predict
    """
    if type(x) is not np.ndarray or steps is not None or (callbacks is not None and (
            not isinstance(callbacks, (list, tuple)) or len(callbacks))):
        return None
    if not model.built or model._device != "cpu" or model._overrides("predict_step") or model._dp_active():
        return None
    if len(model._input_names()) != 1 or model._input_dtypes()[0] != "float32":
        return None
    if not model.layers and model._graph is None:
        return None                                  # the general path raises "has no layers"
    a = prep_x(x, "predict: x")
    model._check_input_shape(a.shape, "predict")
    n = a.shape[0]
    run = model._predict_fn(1, model._inference_plan(refresh=True))
    X = _C.asarray(a)
    results = None
    for s0 in range(0, n, batch_size):
        xb = X if s0 == 0 and batch_size >= n else _C.slice_axis(X, 0, s0, min(s0 + batch_size, n))
        hs = [host_np(o) for o in run([xb])]
        if results is None:
            results = [np.empty((n,) + h.shape[1:], np.float32) for h in hs]
        for r, h in zip(results, hs):
            r[s0:s0 + h.shape[0]] = h
    return model._pack_outputs([r[:n] for r in results])   # (the general path returns r[:s0] views)
