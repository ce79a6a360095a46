"""Confusion-based metrics: Precision, Recall, F-beta / F1 and AUC, accumulated as true/false
positive/negative counts at fixed thresholds."""
import numpy as np

from .base import EPSILON, Metric, _np, _weights_for

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
        self._explicit = None if thresholds is None else [float(t) for t in np.ravel(thresholds)]
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
        cfg.update(num_thresholds=self.num_thresholds, curve=self.curve, summation_method=self.summation_method,
                   thresholds=self._explicit)
        return cfg
