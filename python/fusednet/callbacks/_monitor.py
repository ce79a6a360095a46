"""Shared by the monitoring callbacks: which way a metric improves, reading logged values and
the optimizer's learning rate."""

import numpy as np


_UP_WORDS = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2")
_DOWN_WORDS = ("loss", "error", "mse", "mae", "mape", "msle", "crossentropy", "hinge", "divergence")


def _infer_direction(monitor, model):
    """'up' / 'down' / None for a monitored log key (``val_`` prefix ignored)."""
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss":
        return "down"
    for m in getattr(model, "metrics", None) or []:
        if getattr(m, "name", None) == name and getattr(m, "_direction", None) in ("up", "down"):
            return m._direction
    low = name.lower()
    if any(w in low for w in _DOWN_WORDS):
        return "down"
    if any(w in low for w in _UP_WORDS):
        return "up"
    return None


def _float(v):
    try:
        return float(np.asarray(v))
    except (TypeError, ValueError):
        return None


def _monitored(who, monitor, v):
    """A monitored log value as a float; an array-valued metric (e.g. per-class F1) is an error."""
    a = np.asarray(v.numpy() if hasattr(v, "numpy") and not isinstance(v, np.ndarray) else v)
    if a.size != 1:
        raise ValueError(f"{who}: monitored value {monitor!r} is array-valued (shape {a.shape}); "
                         f"monitor a scalar (e.g. F1Score(average='macro'))")
    try:
        return float(a.reshape(-1)[0])
    except (TypeError, ValueError):
        raise ValueError(f"{who}: monitored value {monitor!r} is not a number: {v!r}") from None


def _get_lr(model, who):
    opt = getattr(model, "optimizer", None)
    if opt is None or not hasattr(opt, "learning_rate"):
        raise ValueError(f'{who}: the optimizer must have a "learning_rate" attribute.')
    lr = opt.learning_rate
    if callable(lr) and not isinstance(lr, (int, float)):  # a schedule object
        iters = getattr(opt, "iterations", 0)
        lr = lr(iters)
    return float(np.asarray(lr))
