"""``fusednet.Variable``: a named Tensor whose value is replaced in place (Keras 3 ``keras.Variable``).

Metric state (``Metric.add_variable``) and user code that keeps counters or running values use
it: ``assign``, ``assign_add`` and ``assign_sub`` write into the variable's own buffer, so every
holder of the variable (a layer, a compiled plan, a metric) sees the new value without being told.
"""
import numpy as np

from . import _C
from .tensor import Tensor

__all__ = ["Variable"]


class Variable(Tensor):
    """A Tensor with a name and in-place assignment (Keras 3 ``keras.Variable``).

    Args:
        initializer: the initial value (array, scalar, Tensor) or an initializer (name such as
            ``"zeros"``, an instance of :mod:`fusednet.initializers` or a callable
            ``fn(shape, dtype)``), which then needs ``shape``.
        shape: the shape when ``initializer`` is not a value.
        dtype: ``"float32"`` (default), ``"int32"`` or ``"int64"``.
        trainable: whether gradients are taken for it (float32 only).
        name: a name for logs and saving.
        aggregation: kept for Keras compatibility (``"none"``, ``"sum"``, ``"mean"``, ...).

    Shape:
        ``shape`` (or that of the initial value).

    Example:
        >>> v = fusednet.Variable(0.0, name="count")
        >>> v.assign_add(3.0); float(v)
        3.0
    """

    __slots__ = ("trainable", "aggregation", "_initializer")

    def __init__(self, initializer, shape=None, dtype=None, trainable=True, name=None, aggregation="none"):
        dtype = str(np.dtype(dtype)) if dtype is not None else None
        init = initializer
        if isinstance(init, str) or (callable(init) and not isinstance(init, (Tensor, _C.Array))):
            if shape is None:
                raise ValueError(f"Variable {name!r}: an initializer ({init!r}) needs a shape")
            from . import initializers as _init
            shape = tuple(int(s) for s in shape)
            fn = _init.get(init)
            value = fn(shape) if fn is not None else np.zeros(shape, np.float32)
            if not isinstance(value, _C.Array):
                value = np.asarray(value, dtype=dtype or np.float32)
            elif dtype not in (None, "float32"):
                value = np.asarray(value.numpy(), dtype=dtype)
        else:
            value = init.data if isinstance(init, Tensor) else init
            if shape is not None:
                value = np.broadcast_to(np.asarray(value), tuple(int(s) for s in shape))
        if not isinstance(value, _C.Array):
            a = np.asarray(value)
            if dtype is None and a.dtype.kind == "f":
                dtype = "float32"
            value = np.array(a, dtype=dtype, order="C")
        super().__init__(value, requires_grad=bool(trainable) and (dtype in (None, "float32")), dtype=dtype,
                         name=name)
        self.trainable = bool(trainable)
        self.aggregation = aggregation
        # a value initializer is kept as a private copy: the buffer itself changes on assign
        is_init_fn = isinstance(initializer, str) or (
            callable(initializer) and not isinstance(initializer, (Tensor, _C.Array)))
        self._initializer = initializer if is_init_fn else np.array(self.numpy(), copy=True)

    def reset(self):
        """Back to the initial value (used by ``Metric.reset_state``)."""
        init = self._initializer
        if isinstance(init, np.ndarray):
            return self.assign(init)
        return self.assign(Variable(init, shape=self.shape, dtype=self.data.dtype, trainable=False).data)

    def __repr__(self):
        return f"<Variable name={self.name!r} shape={tuple(self.shape)} dtype={self.data.dtype}>"
