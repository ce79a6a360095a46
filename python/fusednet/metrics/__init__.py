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
from .base import Mean, MeanMetricWrapper, Metric, Sum, _snake
from .accuracy import (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                       SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy, _AutoAccuracy, accuracy,
                       binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
                       sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from .confusion import AUC, F1Score, FBetaScore, Precision, Recall
from .regression import (MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError, mean_absolute_error,
                         mean_squared_error)
from .regression import (MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
                         mean_absolute_percentage_error, mean_squared_logarithmic_error)
from .reports import classification_report, confusion_matrix

__all__ = [
    "Metric", "Mean", "Sum", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
    "Precision", "Recall", "F1Score", "AUC", "MeanSquaredError", "MeanAbsoluteError",
    "RootMeanSquaredError", "get", "serialize", "confusion_matrix", "classification_report", "FBetaScore",
    "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "mean_squared_error",
    "mean_absolute_error",
    "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
]

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
    "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "msle": MeanSquaredLogarithmicError,
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
        # Keras logs a string metric under the string it was given ("mae" -> logs["mae"])
        if key in _CLASSES:
            return _CLASSES[key]()
        low = key.lower()
        if low in _ALIASES:
            return _ALIASES[low](name=key)
        if _snake(key) in _ALIASES:
            return _ALIASES[_snake(key)](name=key)
        raise ValueError(f"Unknown metric {identifier!r}. Valid names: "
                         f"{', '.join(['accuracy', 'acc'] + sorted(k for k in _ALIASES if k != 'accuracy'))} "
                         f"(or a Metric class / instance / function)")
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Could not interpret metric identifier {identifier!r} (type {type(identifier).__name__})")


def serialize(metric):
    """Config dict ``{"class_name", "config"}`` of a metric (inverse of ``get`` on dicts)."""
    return {"class_name": type(metric).__name__, "config": metric.get_config()}
