"""Regression metrics: mean squared / absolute error and their root."""
import math

import numpy as np

from .base import MeanMetricWrapper, _np

def mean_squared_error(y_true, y_pred):
    d = _np(y_pred, np.float64) - _np(y_true, np.float64)
    return np.mean(d * d, axis=-1) if d.ndim > 1 else d * d


def mean_absolute_error(y_true, y_pred):
    d = np.abs(_np(y_pred, np.float64) - _np(y_true, np.float64))
    return np.mean(d, axis=-1) if d.ndim > 1 else d


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
