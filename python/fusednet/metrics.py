"""Streaming evaluation metrics with Keras 3 semantics.

A metric accumulates state over batches with ``update_state(y_true, y_pred, sample_weight=None)``
and reports ``result()``; ``reset_state()`` clears it. Inputs are NumPy arrays (or anything
``np.asarray`` accepts, including :class:`fusednet.Array`): predictions float32, labels either
integer class indices or one-hot / probability rows. The bookkeeping is vectorised NumPy glue;
no training maths lives here.

Example:
    >>> m = SparseCategoricalAccuracy()
    >>> m.update_state(np.array([0, 2]), np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1]]))
    >>> m.result()
    0.5

``get(identifier, loss=None)`` resolves strings, classes and instances the way ``compile``
expects (``"accuracy"``/``"acc"`` picks the variant matching the loss, like Keras).
"""
import math

import numpy as np

__all__ = [
    "Metric", "Mean", "Sum", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
    "Precision", "Recall", "F1Score", "AUC", "MeanSquaredError", "MeanAbsoluteError",
    "RootMeanSquaredError", "get", "serialize", "confusion_matrix", "classification_report",
]

EPSILON = 1e-7  # Keras backend.epsilon()


def _np(x, dtype=None):
    """NumPy view of an input (Array / Tensor / list), optionally cast."""
    if x is None:
        return None
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    a = np.asarray(x)
    if dtype is not None and a.dtype != dtype:
        a = a.astype(dtype)
    return a


def _snake(name):
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _weights_for(values, sample_weight):
    """Broadcast `sample_weight` against per-sample `values` (Keras: weights of shape [N] or [N,1])."""
    if sample_weight is None:
        return np.ones_like(values, dtype=np.float64)
    w = _np(sample_weight, np.float64)
    while w.ndim > values.ndim and w.shape[-1] == 1:
        w = w[..., 0]
    if w.ndim < values.ndim:
        w = w.reshape(w.shape + (1,) * (values.ndim - w.ndim))
    try:
        return np.broadcast_to(w, values.shape)
    except ValueError:
        raise ValueError(f"sample_weight with shape {w.shape} does not broadcast to values with "
                         f"shape {values.shape}") from None


class Metric:
    """Base class of streaming metrics (Keras 3 shaped).

    Subclasses implement ``update_state``, ``result`` and ``reset_state``. Calling a metric
    (``m(y_true, y_pred)``) updates it and returns the current result.

    Args:
        name: name used in logs (defaults to the snake_case class name).
        dtype: kept for Keras compatibility; results are Python floats.

    Example:
        >>> m = fusednet.metrics.BinaryAccuracy()
        >>> m.update_state([[1], [0]], [[0.8], [0.7]])
        >>> m.result()
        0.5
    """

    #: "up" when larger is better, "down" when smaller is better (used by callbacks' mode="auto").
    _direction = "up"

    def __init__(self, name=None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype or "float32"

    def update_state(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def result(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def reset_state(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def reset_states(self):
        """Alias of :meth:`reset_state` (older Keras name)."""
        self.reset_state()

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class Sum(Metric):
    """Weighted running sum of values.

    Args:
        name: metric name.

    Example:
        >>> s = Sum(); s.update_state([1, 3]); s.result()
        4.0
    """

    def __init__(self, name="sum", dtype=None):
        super().__init__(name, dtype)
        self.reset_state()

    def reset_state(self):
        self.total = 0.0

    def update_state(self, values, sample_weight=None):
        v = _np(values, np.float64)
        w = _weights_for(v, sample_weight)
        self.total += float(np.sum(v * w))

    def result(self):
        return float(self.total)


class Mean(Metric):
    """Weighted running mean of values (``compile`` uses it to average the loss).

    ``update_state(values, sample_weight=None)`` (Keras signature): ``values`` is a scalar or array;
    the result is ``sum(values * w) / sum(w)``.

    Args:
        name: metric name (default ``"mean"``).

    Example:
        >>> m = Mean(name="loss")
        >>> m.update_state(0.5, sample_weight=32); m.update_state(1.0, sample_weight=32)
        >>> m.result()
        0.75
    """

    _direction = "down"

    def __init__(self, name="mean", dtype=None):
        super().__init__(name, dtype)
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        v = _np(values, np.float64)
        w = _weights_for(v, sample_weight)
        self.total += float(np.sum(v * w))
        self.count += float(np.sum(w))

    def result(self):
        return float(self.total / self.count) if self.count else 0.0


class MeanMetricWrapper(Mean):
    """Averages a per-sample function ``fn(y_true, y_pred) -> values[N]`` over all samples seen.

    Args:
        fn: callable returning one value per sample (NumPy in, NumPy out).
        name: metric name (default ``fn.__name__``).
        **kwargs: extra keyword arguments passed to ``fn``.

    Example:
        >>> m = MeanMetricWrapper(lambda t, p: np.abs(t - p).mean(-1), name="mae")
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name or getattr(fn, "__name__", "mean_metric"), dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = np.asarray(self._fn(_np(y_true), _np(y_pred), **self._fn_kwargs), dtype=np.float64)
        super().update_state(values, sample_weight)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(self._fn_kwargs)
        return cfg


# ---------------------------------------------------------------------------------------------
# per-sample functions (vectorised; Keras 3 semantics)

def _squeeze_labels(y_true, y_pred):
    """Sparse labels [N] or [N,1] against predictions [N, C]."""
    y_true = _np(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return y_true


def accuracy(y_true, y_pred):
    """Exact elementwise equality, averaged over the last axis (Keras ``accuracy``)."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred[..., 0]
    eq = (y_true == y_pred).astype(np.float64)
    return eq.mean(-1) if eq.ndim > 1 else eq


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Fraction of ``(y_pred > threshold) == y_true`` over the last axis."""
    y_true, y_pred = _np(y_true, np.float64), _np(y_pred, np.float64)
    if y_true.ndim == y_pred.ndim - 1:
        y_true = y_true[..., None]
    if y_pred.ndim == y_true.ndim - 1:
        y_pred = y_pred[..., None]
    eq = ((y_pred > threshold) == (y_true > 0.5)).astype(np.float64)
    return eq.mean(-1) if eq.ndim > 1 else eq


def categorical_accuracy(y_true, y_pred):
    """``argmax(y_true) == argmax(y_pred)`` per sample."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    return (np.argmax(y_true, -1) == np.argmax(y_pred, -1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    """``y_true == argmax(y_pred)`` per sample; ``y_true`` holds class indices ([N] or [N,1])."""
    y_pred = _np(y_pred)
    y_true = _squeeze_labels(y_true, y_pred)
    return (y_true.astype(np.int64) == np.argmax(y_pred, -1)).astype(np.float64)


def _in_top_k(scores, target_idx, k):
    """True where the target's score is among the k largest (ties counted in the target's favour)."""
    target_score = np.take_along_axis(scores, target_idx[..., None].astype(np.int64), -1)
    n_better = np.sum(scores > target_score, axis=-1)
    return (n_better < k).astype(np.float64)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Whether the one-hot target is within the top-k predictions."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    return _in_top_k(y_pred, np.argmax(y_true, -1), k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Whether the integer target is within the top-k predictions."""
    y_pred = _np(y_pred)
    y_true = _squeeze_labels(y_true, y_pred).astype(np.int64)
    return _in_top_k(y_pred, y_true, k)


def mean_squared_error(y_true, y_pred):
    d = _np(y_pred, np.float64) - _np(y_true, np.float64)
    return np.mean(d * d, axis=-1) if d.ndim > 1 else d * d


def mean_absolute_error(y_true, y_pred):
    d = np.abs(_np(y_pred, np.float64) - _np(y_true, np.float64))
    return np.mean(d, axis=-1) if d.ndim > 1 else d


# ---------------------------------------------------------------------------------------------
# accuracy family

class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly (Keras ``Accuracy``).

    Args:
        name: metric name (default ``"accuracy"``).

    Example:
        >>> m = Accuracy(); m.update_state([1, 2, 3], [1, 2, 4]); round(m.result(), 3)
        0.667
    """

    _direction = "up"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name, dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches binary labels.

    Args:
        name: metric name.
        threshold: decision threshold on the predicted probability (default 0.5).

    Example:
        >>> m = BinaryAccuracy(); m.update_state([[1], [0]], [[0.9], [0.6]]); m.result()
        0.5
    """

    _direction = "up"

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name, dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of predictions matches the argmax of one-hot labels.

    Args:
        name: metric name.

    Example:
        >>> m = CategoricalAccuracy(); m.update_state([[0, 1]], [[0.2, 0.8]]); m.result()
        1.0
    """

    _direction = "up"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of predictions equals integer labels.

    Args:
        name: metric name.

    Example:
        >>> m = SparseCategoricalAccuracy(); m.update_state([1], [[0.2, 0.8]]); m.result()
        1.0
    """

    _direction = "up"

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name, dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often one-hot targets are in the top ``k`` predictions.

    Args:
        k: number of top predictions considered (default 5).
        name: metric name.

    Example:
        >>> m = TopKCategoricalAccuracy(k=1); m.update_state([[0, 1]], [[0.3, 0.7]]); m.result()
        1.0
    """

    _direction = "up"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name, dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often integer targets are in the top ``k`` predictions.

    Args:
        k: number of top predictions considered (default 5).
        name: metric name.

    Example:
        >>> m = SparseTopKCategoricalAccuracy(k=2); m.update_state([0], [[0.2, 0.5, 0.3]]); m.result()
        0.0
    """

    _direction = "up"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype, k=k)
        self.k = k


class _AutoAccuracy(Mean):
    """``metrics=['accuracy']`` when the loss does not say which accuracy: decided by shapes at the
    first update (1 output column → binary; labels shaped like predictions → categorical; integer
    labels with one fewer axis → sparse categorical; otherwise exact-match accuracy)."""

    _direction = "up"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name, dtype)
        self._fn = None

    def _pick(self, y_true, y_pred):
        if y_pred.ndim >= 1 and (y_pred.ndim == 1 or y_pred.shape[-1] == 1) and np.issubdtype(y_pred.dtype, np.floating):
            return binary_accuracy
        if y_pred.ndim >= 2 and y_true.shape == y_pred.shape:
            return categorical_accuracy
        if y_pred.ndim >= 2 and (y_true.ndim == y_pred.ndim - 1 or
                                 (y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1)):
            return sparse_categorical_accuracy
        return accuracy

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _np(y_true), _np(y_pred)
        if self._fn is None:
            self._fn = self._pick(y_true, y_pred)
        super().update_state(self._fn(y_true, y_pred), sample_weight)


# ---------------------------------------------------------------------------------------------
# confusion-based metrics

def _binary_inputs(y_true, y_pred, class_id=None, top_k=None):
    y_true, y_pred = _np(y_true, np.float64), _np(y_pred, np.float64)
    if y_true.shape != y_pred.shape:
        if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
            y_true = y_true[..., None]
        elif y_pred.ndim == y_true.ndim - 1 and y_true.shape[-1] == 1:
            y_pred = y_pred[..., None]
        else:
            raise ValueError(f"y_true shape {y_true.shape} and y_pred shape {y_pred.shape} are incompatible")
    if top_k is not None:
        kth = -np.sort(-y_pred, axis=-1)[..., top_k - 1: top_k]
        y_pred = np.where(y_pred >= kth, y_pred, -np.inf)
    if class_id is not None:
        y_true, y_pred = y_true[..., class_id], y_pred[..., class_id]
    return y_true, y_pred


class _ThresholdConfusion(Metric):
    """Accumulates TP/FP/TN/FN at one or more thresholds (shared by Precision and Recall)."""

    _direction = "up"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name, dtype)
        default = 0.5 if top_k is None else -np.inf  # Keras: with top_k, anything in the top k counts
        self._scalar = thresholds is None or np.ndim(thresholds) == 0
        self.thresholds = np.atleast_1d(np.asarray(default if thresholds is None else thresholds, np.float64))
        if np.any((self.thresholds > 1) | (self.thresholds < 0)) and np.isfinite(self.thresholds).all():
            raise ValueError(f"{self.name}: thresholds must be in [0, 1], got {thresholds}")
        self.top_k, self.class_id = top_k, class_id
        self.reset_state()

    def reset_state(self):
        n = len(self.thresholds)
        self.true_positives = np.zeros(n)
        self.false_positives = np.zeros(n)
        self.true_negatives = np.zeros(n)
        self.false_negatives = np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _binary_inputs(y_true, y_pred, self.class_id, self.top_k)
        w = _weights_for(y_true, sample_weight).reshape(-1)
        t = (y_true.reshape(-1) > 0.5)
        p = y_pred.reshape(-1)[None, :] > self.thresholds[:, None]  # [T, N]
        self.true_positives += (p & t) @ w
        self.false_positives += (p & ~t) @ w
        self.false_negatives += (~p & t) @ w
        self.true_negatives += (~p & ~t) @ w

    def _out(self, values):
        return float(values[0]) if self._scalar else [float(v) for v in values]

    def get_config(self):
        cfg = super().get_config()
        cfg.update(thresholds=None if self._scalar and self.top_k is None and self.thresholds[0] == 0.5
                   else self.thresholds.tolist(), top_k=self.top_k, class_id=self.class_id)
        return cfg


def _div(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.where(b > 0, a / np.where(b > 0, b, 1.0), 0.0)


class Precision(_ThresholdConfusion):
    """Precision ``TP / (TP + FP)`` of binary (or multi-label) predictions.

    Args:
        thresholds: float or list of floats in [0, 1]; prediction ``> threshold`` counts as positive
            (default 0.5). A list makes ``result()`` return a list.
        top_k: only the top-k predictions per sample count as positive.
        class_id: restrict to one column of multi-label predictions.
        name: metric name.

    Example:
        >>> m = Precision(); m.update_state([0, 1, 1, 1], [1, 0, 1, 1]); round(m.result(), 3)
        0.667
    """

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision", dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        return self._out(_div(self.true_positives, self.true_positives + self.false_positives))


class Recall(_ThresholdConfusion):
    """Recall ``TP / (TP + FN)`` of binary (or multi-label) predictions.

    Args:
        thresholds: float or list of floats in [0, 1] (default 0.5).
        top_k: only the top-k predictions per sample count as positive.
        class_id: restrict to one column of multi-label predictions.
        name: metric name.

    Example:
        >>> m = Recall(); m.update_state([0, 1, 1, 1], [1, 0, 1, 1]); round(m.result(), 3)
        0.667
    """

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall", dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        return self._out(_div(self.true_positives, self.true_positives + self.false_negatives))


class FBetaScore(Metric):
    """F-beta score over classes (Keras 3 ``FBetaScore``).

    Inputs are ``[N, C]`` one-hot / multi-hot labels and scores (integer labels ``[N]`` are one-hot
    encoded for convenience; 1-D binary inputs are treated as one class).

    Args:
        average: None (per-class array), 'micro', 'macro' or 'weighted'.
        beta: weight of recall relative to precision.
        threshold: predictions ``> threshold`` are positive; None marks the arg-max of each row.
        name: metric name.

    Example:
        >>> m = FBetaScore(beta=2.0, average="macro")
    """

    _direction = "up"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name, dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"{self.name}: invalid average {average!r}; expected one of None, 'micro', "
                             f"'macro', 'weighted'")
        if not (isinstance(beta, (int, float)) and beta > 0):
            raise ValueError(f"{self.name}: beta must be a positive float, got {beta!r}")
        if threshold is not None and not (0 < threshold <= 1):
            raise ValueError(f"{self.name}: threshold must be in (0, 1], got {threshold!r}")
        self.average, self.beta, self.threshold = average, float(beta), threshold
        self.reset_state()

    def reset_state(self):
        self.true_positives = self.false_positives = self.false_negatives = None
        self.intermediate_weights = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _np(y_true), _np(y_pred, np.float64)
        if y_pred.ndim == 1:
            y_pred = y_pred[:, None]
        if y_true.ndim == 1 and y_pred.shape[1] > 1:
            y_true = np.eye(y_pred.shape[1])[y_true.astype(np.int64)]
        elif y_true.ndim == 1:
            y_true = y_true[:, None]
        y_true = y_true.astype(np.float64)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{self.name}: y_true shape {y_true.shape} != y_pred shape {y_pred.shape}")
        if self.threshold is None:
            y_pred = (y_pred >= y_pred.max(axis=-1, keepdims=True)).astype(np.float64)
        else:
            y_pred = (y_pred > self.threshold).astype(np.float64)
        if sample_weight is not None:
            w = _np(sample_weight, np.float64).reshape(-1, 1)
            y_true_w, y_pred_w = y_true * w, y_pred * w
        else:
            w = None
            y_true_w, y_pred_w = y_true, y_pred
        tp = np.sum(y_pred * y_true * (w if w is not None else 1.0), axis=0)
        fp = np.sum(y_pred_w * (1 - y_true), axis=0)
        fn = np.sum((1 - y_pred) * y_true_w, axis=0)
        iw = np.sum(y_true_w, axis=0)
        if self.true_positives is None:
            self.true_positives, self.false_positives, self.false_negatives = tp, fp, fn
            self.intermediate_weights = iw
        else:
            if tp.shape != self.true_positives.shape:
                raise ValueError(f"{self.name}: number of classes changed from "
                                 f"{self.true_positives.shape[0]} to {tp.shape[0]}")
            self.true_positives = self.true_positives + tp
            self.false_positives = self.false_positives + fp
            self.false_negatives = self.false_negatives + fn
            self.intermediate_weights = self.intermediate_weights + iw

    def result(self):
        if self.true_positives is None:
            return 0.0 if self.average is not None else np.zeros(0)
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        if self.average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        b2 = self.beta ** 2
        f = (1 + b2) * precision * recall / (b2 * precision + recall + EPSILON)
        if self.average == "weighted":
            weights = self.intermediate_weights / max(float(self.intermediate_weights.sum()), EPSILON)
            return float(np.sum(f * weights))
        if self.average == "macro":
            return float(np.mean(f))
        if self.average == "micro":
            return float(f)
        return np.asarray(f, np.float32)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(average=self.average, beta=self.beta, threshold=self.threshold)
        return cfg


class F1Score(FBetaScore):
    """F1 score over classes (Keras 3 ``F1Score``): harmonic mean of precision and recall.

    Args:
        average: None (per-class NumPy array), 'micro', 'macro' or 'weighted'.
        threshold: predictions ``> threshold`` are positive; None (default) marks the arg-max of
            each row as the predicted class.
        name: metric name (default ``"f1_score"``).

    Example:
        >>> m = F1Score(average="macro")
        >>> m.update_state(np.eye(3)[[0, 1, 2]], np.eye(3)[[0, 1, 1]])
        >>> round(m.result(), 3)
        0.556
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("beta")
        return cfg


class AUC(Metric):
    """Area under the ROC (or PR) curve, approximated on ``num_thresholds`` thresholds (Keras).

    Thresholds are ``[-eps, 1/(n-1), ..., (n-2)/(n-1), 1+eps]``; a prediction ``> t`` is positive.
    Multi-column inputs are flattened (Keras ``multi_label=False``).

    Args:
        num_thresholds: number of thresholds (default 200, must be > 1).
        curve: 'ROC' or 'PR'.
        summation_method: 'interpolation' (trapezoids), 'minoring' or 'majoring'.
        name: metric name.

    Example:
        >>> m = AUC(); m.update_state([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]); round(m.result(), 2)
        0.75
    """

    _direction = "up"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name="auc",
                 dtype=None, thresholds=None):
        super().__init__(name, dtype)
        curve = curve.upper()
        if curve not in ("ROC", "PR"):
            raise ValueError(f"{self.name}: curve must be 'ROC' or 'PR', got {curve!r}")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f"{self.name}: invalid summation_method {summation_method!r}")
        if thresholds is not None:
            inner = np.sort(np.asarray(thresholds, np.float64))
            self.num_thresholds = len(inner) + 2
        else:
            if num_thresholds <= 1:
                raise ValueError(f"{self.name}: num_thresholds must be > 1, got {num_thresholds}")
            self.num_thresholds = int(num_thresholds)
            inner = np.arange(1, num_thresholds - 1, dtype=np.float64) / (num_thresholds - 1)
        self.thresholds = np.concatenate([[-EPSILON], inner, [1.0 + EPSILON]])
        self.curve, self.summation_method = curve, summation_method
        self.reset_state()

    def reset_state(self):
        n = self.num_thresholds
        self.true_positives = np.zeros(n)
        self.false_positives = np.zeros(n)
        self.true_negatives = np.zeros(n)
        self.false_negatives = np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _binary_inputs(y_true, y_pred)
        w = _weights_for(y_true, sample_weight).reshape(-1)
        t = y_true.reshape(-1) > 0.5
        p = np.clip(y_pred.reshape(-1), 0.0, 1.0)
        # bucket b = number of thresholds strictly below p; p > thr[j]  <=>  b > j
        b = np.searchsorted(self.thresholds, p, side="left")
        n = self.num_thresholds
        pos_hist = np.bincount(b, weights=w * t, minlength=n + 1)
        neg_hist = np.bincount(b, weights=w * ~t, minlength=n + 1)
        pos_above = np.cumsum(pos_hist[::-1])[::-1][1:]  # [n]: positives with b > j
        neg_above = np.cumsum(neg_hist[::-1])[::-1][1:]
        self.true_positives += pos_above
        self.false_positives += neg_above
        self.false_negatives += pos_hist.sum() - pos_above
        self.true_negatives += neg_hist.sum() - neg_above

    def result(self):
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        recall = _div(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _div(fp, fp + tn), recall
        else:
            x, y = recall, _div(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(np.sum((x[:-1] - x[1:]) * heights))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(num_thresholds=self.num_thresholds, curve=self.curve, summation_method=self.summation_method)
        return cfg


class MeanSquaredError(MeanMetricWrapper):
    """Mean of ``(y_pred - y_true)**2`` over all samples.

    Example:
        >>> m = MeanSquaredError(); m.update_state([[0.0, 1.0]], [[1.0, 1.0]]); m.result()
        0.5
    """

    _direction = "down"

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name, dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Mean of ``|y_pred - y_true|`` over all samples.

    Example:
        >>> m = MeanAbsoluteError(); m.update_state([[0.0, 1.0]], [[1.0, 1.0]]); m.result()
        0.5
    """

    _direction = "down"

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name, dtype)


class RootMeanSquaredError(MeanMetricWrapper):
    """Square root of the running mean squared error.

    Example:
        >>> m = RootMeanSquaredError(); m.update_state([[0.0]], [[2.0]]); m.result()
        2.0
    """

    _direction = "down"

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name, dtype)

    def result(self):
        return math.sqrt(super().result())


# ---------------------------------------------------------------------------------------------
# lookup

_ALIASES = {
    "accuracy": Accuracy, "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "precision": Precision, "recall": Recall, "f1_score": F1Score, "fbeta_score": FBetaScore, "auc": AUC,
    "mean": Mean, "sum": Sum,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "root_mean_squared_error": RootMeanSquaredError, "rmse": RootMeanSquaredError,
}
_CLASSES = {cls.__name__: cls for cls in set(_ALIASES.values())}


def _loss_name(loss):
    if loss is None:
        return ""
    if isinstance(loss, str):
        name = loss
    else:
        name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
        if not isinstance(name, str):
            name = type(loss).__name__
    name = _snake(name) if any(c.isupper() for c in name) else name
    return name.lower()


def _accuracy_for_loss(name, loss):
    ln = _loss_name(loss)
    from_logits = bool(getattr(loss, "from_logits", False))
    if "sparse_categorical_crossentropy" in ln or ln in ("sparse_categorical_cross_entropy",):
        return SparseCategoricalAccuracy(name=name)
    if "categorical_crossentropy" in ln or ln == "categorical_cross_entropy":
        return CategoricalAccuracy(name=name)
    if "binary_crossentropy" in ln or "binary_focal_crossentropy" in ln or ln == "binary_cross_entropy":
        # from_logits: the logit threshold is 0 (sigmoid(0) = 0.5)
        return BinaryAccuracy(name=name, threshold=0.0 if from_logits else 0.5)
    return _AutoAccuracy(name=name)


def get(identifier, loss=None):
    """Resolve a metric identifier to a :class:`Metric` instance.

    Args:
        identifier: a Metric instance (returned as is), a Metric subclass (instantiated), a string
            (Keras names like ``"sparse_categorical_accuracy"``, ``"auc"``, ``"mse"`` or class names
            like ``"Precision"``), a config dict ``{"class_name": ..., "config": {...}}``, or a
            plain function ``fn(y_true, y_pred) -> per-sample values`` (wrapped in a running mean).
            None returns None.
        loss: the compiled loss (name, object or function). ``"accuracy"``/``"acc"`` (and
            ``"crossentropy"``-free variants) pick sparse categorical / categorical / binary accuracy
            from it like Keras; without a recognisable loss the choice is made from the shapes at
            the first update.

    Returns:
        A fresh Metric (or the instance passed in).

    Raises:
        ValueError: unknown name (the message lists the valid ones).

    Example:
        >>> get("acc", loss="sparse_categorical_crossentropy")
        <SparseCategoricalAccuracy name='acc'>
    """
    if identifier is None:
        return None
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, dict):
        cls_name = identifier.get("class_name")
        cls = _CLASSES.get(cls_name) or _ALIASES.get(str(cls_name).lower())
        if cls is None:
            raise ValueError(f"Unknown metric class {cls_name!r}; valid: {sorted(_CLASSES)}")
        return cls(**identifier.get("config", {}))
    if isinstance(identifier, str):
        key = identifier.strip()
        if key.lower() in ("accuracy", "acc"):
            return _accuracy_for_loss(key, loss)
        if key in _CLASSES:
            return _CLASSES[key]()
        low = key.lower()
        if low in _ALIASES:
            return _ALIASES[low]()
        if _snake(key) in _ALIASES:
            return _ALIASES[_snake(key)]()
        raise ValueError(f"Unknown metric {identifier!r}. Valid names: "
                         f"{', '.join(['accuracy', 'acc'] + sorted(k for k in _ALIASES if k != 'accuracy'))} "
                         f"(or a Metric class / instance / function)")
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Could not interpret metric identifier {identifier!r} (type {type(identifier).__name__})")


def serialize(metric):
    """Config dict ``{"class_name", "config"}`` of a metric (inverse of ``get`` on dicts)."""
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


# ---------------------------------------------------------------------------------------------
# whole-dataset reports

def _labels(y, name):
    y = _np(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be class indices [N] or scores/one-hot [N, C], got shape {y.shape}")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(f"{name} holds non-integer values; pass class indices or [N, C] scores")
    return y.astype(np.int64)


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Confusion matrix with rows = true class, columns = predicted class.

    Args:
        y_true: class indices ``[N]`` or one-hot ``[N, C]``.
        y_pred: class indices ``[N]`` or scores/probabilities ``[N, C]`` (arg-max is taken).
        num_classes: matrix size; default ``max(label) + 1`` (or C of 2-D inputs).

    Returns:
        int64 array ``[num_classes, num_classes]``.

    Example:
        >>> confusion_matrix([0, 1, 1], [0, 1, 0])
        array([[1, 0],
               [1, 1]])
    """
    yt, yp = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if yt.shape != yp.shape:
        raise ValueError(f"confusion_matrix: y_true has {yt.shape[0]} samples but y_pred has {yp.shape[0]}")
    if num_classes is None:
        dims = [int(a.shape[1]) for a in (_np(y_true), _np(y_pred)) if a.ndim == 2 and a.shape[1] > 1]
        num_classes = max(dims + [int(yt.max(initial=-1)) + 1, int(yp.max(initial=-1)) + 1])
    if yt.size and (yt.min() < 0 or yp.min() < 0 or yt.max() >= num_classes or yp.max() >= num_classes):
        raise ValueError(f"confusion_matrix: labels must be in [0, {num_classes}), got y_true in "
                         f"[{yt.min()}, {yt.max()}], y_pred in [{yp.min()}, {yp.max()}]")
    return np.bincount(yt * num_classes + yp, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes).astype(np.int64)


def classification_report(y_true, y_pred, target_names=None, digits=2, output_dict=False):
    """Per-class precision, recall, F1 and support as text laid out like scikit-learn's.

    Args:
        y_true: class indices ``[N]`` or one-hot ``[N, C]``.
        y_pred: class indices ``[N]`` or scores ``[N, C]``.
        target_names: display names, one per class index ``0..len-1``; default the labels present.
        digits: decimals shown.
        output_dict: return a dict instead of text.

    Returns:
        The report string (or dict). Undefined ratios (no predictions / no support) are 0.

    Example:
        >>> print(classification_report([0, 1, 1], [0, 1, 0]))  # doctest: +SKIP
    """
    yt, yp = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if yt.shape != yp.shape:
        raise ValueError(f"classification_report: y_true has {yt.shape[0]} samples but y_pred has {yp.shape[0]}")
    if target_names is not None:
        labels = np.arange(len(target_names))
        present = np.union1d(yt, yp)
        if present.size and (present.min() < 0 or present.max() >= len(labels)):
            raise ValueError(f"classification_report: {len(target_names)} target_names but labels "
                             f"range over {present.min()}..{present.max()}")
        names = [str(n) for n in target_names]
    else:
        labels = np.union1d(yt, yp)
        names = [str(v) for v in labels]
    n = len(labels)
    idx_t = np.searchsorted(labels, yt)
    idx_p = np.searchsorted(labels, yp)
    cm = np.bincount(idx_t * n + idx_p, minlength=n * n).reshape(n, n).astype(np.float64)
    tp = np.diag(cm)
    pred_count, support = cm.sum(axis=0), cm.sum(axis=1)
    precision = _div(tp, pred_count)
    recall = _div(tp, support)
    f1 = _div(2 * precision * recall, precision + recall)
    total = support.sum()
    micro_is_accuracy = target_names is None or set(np.union1d(yt, yp).tolist()) == set(labels.tolist())
    rows = {}
    for i, name in enumerate(names):
        rows[name] = {"precision": float(precision[i]), "recall": float(recall[i]),
                      "f1-score": float(f1[i]), "support": int(support[i])}
    avgs = {}
    if micro_is_accuracy:
        avgs["accuracy"] = float(tp.sum() / total) if total else 0.0
    else:
        mp = float(tp.sum() / pred_count.sum()) if pred_count.sum() else 0.0
        mr = float(tp.sum() / total) if total else 0.0
        avgs["micro avg"] = {"precision": mp, "recall": mr,
                             "f1-score": (2 * mp * mr / (mp + mr)) if mp + mr else 0.0, "support": int(total)}
    avgs["macro avg"] = {"precision": float(precision.mean()) if n else 0.0,
                         "recall": float(recall.mean()) if n else 0.0,
                         "f1-score": float(f1.mean()) if n else 0.0, "support": int(total)}
    wts = support / total if total else np.zeros(n)
    avgs["weighted avg"] = {"precision": float(precision @ wts), "recall": float(recall @ wts),
                            "f1-score": float(f1 @ wts), "support": int(total)}
    if output_dict:
        out = dict(rows)
        out.update(avgs)
        return out
    headers = ["precision", "recall", "f1-score", "support"]
    width = max([len(nm) for nm in names] + [len("weighted avg"), digits])
    report = ("{:>{width}s} " + " {:>9}" * 4).format("", *headers, width=width) + "\n\n"
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    for name, r in rows.items():
        report += row_fmt.format(name, r["precision"], r["recall"], r["f1-score"], r["support"],
                                 width=width, digits=digits)
    report += "\n"
    for head, r in avgs.items():
        if head == "accuracy":
            fmt = "{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f}" + " {:>9}\n"
            report += fmt.format(head, "", "", r, int(total), width=width, digits=digits)
        else:
            report += row_fmt.format(head, r["precision"], r["recall"], r["f1-score"], r["support"],
                                     width=width, digits=digits)
    return report
