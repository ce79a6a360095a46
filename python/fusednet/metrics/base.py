"""The metric base classes: :class:`Metric` (streaming state with Keras 3's ``add_variable``),
:class:`Sum`, :class:`Mean` and :class:`MeanMetricWrapper`, and the input helpers every metric
family shares."""
import numpy as np

from ..variables import Variable

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

    # ------------------------------------------------------------------ state variables
    @property
    def variables(self):
        """The state variables made by :meth:`add_variable`, in creation order."""
        return self.__dict__.setdefault("_variables", [])

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """Create a state variable (Keras 3): reset to its initializer by the default
        :meth:`reset_state`; update it with ``assign`` / ``assign_add`` / ``assign_sub``.

        Args:
            shape: the variable's shape (``()`` for a scalar).
            initializer: initializer name / instance / callable, or an initial value.
            dtype: ``"float32"`` (default), ``"int32"`` or ``"int64"``.
            aggregation: kept for Keras compatibility.
            name: the variable's name.

        Returns:
            A :class:`fusednet.Variable`.

        Example:
            >>> class Count(fusednet.metrics.Metric):
            ...     def __init__(self, name="count"):
            ...         super().__init__(name=name)
            ...         self.n = self.add_variable((), name="n")
            ...     def update_state(self, y_true, y_pred, sample_weight=None):
            ...         self.n.assign_add(len(y_true))
            ...     def result(self):
            ...         return self.n.value
        """
        v = Variable(initializer, shape=tuple(shape), dtype=dtype or self.dtype, trainable=False,
                     name=f"{self.name}/{name or 'variable_' + str(len(self.variables))}",
                     aggregation=aggregation)
        self.variables.append(v)
        return v

    def add_weight(self, name=None, shape=(), aggregation="sum", synchronization="auto",
                   initializer="zeros", dtype=None):
        """Keras 2 spelling of :meth:`add_variable` (``name`` first)."""
        return self.add_variable(shape, initializer=initializer, dtype=dtype, aggregation=aggregation,
                                 name=name)

    def update_state(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def result(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def reset_state(self):
        """Reset every variable made by :meth:`add_variable` to its initial value (metrics that
        keep plain Python state override this)."""
        if not self.variables:
            raise NotImplementedError(f"{type(self).__name__}.reset_state: the metric keeps no "
                                      f"add_variable state; override reset_state")
        for v in self.variables:
            v.reset()

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
        from ..saving import serialize_keras_object
        cfg = super().get_config()
        cfg["fn"] = serialize_keras_object(self._fn)
        cfg.update(self._fn_kwargs)
        return cfg

    @classmethod
    def from_config(cls, config):
        from ..saving import deserialize_keras_object
        config = dict(config)
        fn = config.pop("fn", None)
        if cls is not MeanMetricWrapper and fn is not None:
            return cls(**config)             # subclasses fix their own function
        if fn is None:
            raise ValueError("MeanMetricWrapper.from_config: the config has no 'fn'")
        return cls(deserialize_keras_object(fn) if isinstance(fn, (dict, str)) else fn, **config)
