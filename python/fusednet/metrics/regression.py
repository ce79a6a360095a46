"""Regression metrics: mean squared / absolute (percentage) / squared-log error and the root."""
import math

import numpy as np

from .base import MeanMetricWrapper, _np

def mean_squared_error(y_true, y_pred):
    d = _np(y_pred, np.float64) - _np(y_true, np.float64)
    return np.mean(d * d, axis=-1) if d.ndim > 1 else d * d


def mean_absolute_error(y_true, y_pred):
    d = np.abs(_np(y_pred, np.float64) - _np(y_true, np.float64))
    return np.mean(d, axis=-1) if d.ndim > 1 else d


_EPS = 1e-7  # Keras' backend.epsilon(): guards |y_true| -> 0 and log(0)


def mean_absolute_percentage_error(y_true, y_pred):
    """Keras' MAPE: ``100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7))`` over the last axis."""
    t, p = _np(y_true, np.float64), _np(y_pred, np.float64)
    d = 100.0 * np.abs(t - p) / np.maximum(np.abs(t), _EPS)
    return np.mean(d, axis=-1) if d.ndim > 1 else d


def mean_squared_logarithmic_error(y_true, y_pred):
    """Keras' MSLE: ``mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))**2)``."""
    t, p = _np(y_true, np.float64), _np(y_pred, np.float64)
    d = np.log(np.maximum(p, _EPS) + 1.0) - np.log(np.maximum(t, _EPS) + 1.0)
    return np.mean(d * d, axis=-1) if d.ndim > 1 else d * d


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


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """Mean of ``100 * |y_true - y_pred| / max(|y_true|, 1e-7)`` over all samples (Keras' MAPE).

    Example:
        >>> m = MeanAbsolutePercentageError(); m.update_state([[2.0, 4.0]], [[1.0, 4.0]]); m.result()
        25.0
    """

    _direction = "down"

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, name, dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """Mean of ``(log(1 + y_pred) - log(1 + y_true))**2`` (both clipped at 1e-7), Keras' MSLE.

    Example:
        >>> m = MeanSquaredLogarithmicError(); m.update_state([[0.0]], [[0.0]]); m.result()
        0.0
    """

    _direction = "down"

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, name, dtype)
