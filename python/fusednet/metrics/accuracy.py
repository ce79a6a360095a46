"""Accuracy metrics: the per-sample functions (``accuracy``, ``binary_accuracy``, ...) and their
streaming classes, plus the ``"accuracy"`` metric that picks its variant from the shapes."""
import numpy as np

from .base import Mean, MeanMetricWrapper, _np

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
