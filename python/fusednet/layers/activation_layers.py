"""Activation layers with parameters (Keras ``ReLU``, ``LeakyReLU``, ``PReLU``, ``ELU``,
``Softmax``). Each forward / backward is one native call: ``_C.relu_ext_forward/backward`` (Keras'
relu with negative_slope, max_value, threshold), ``_C.activation_forward/backward`` (leaky_relu,
elu), ``_C.prelu_forward/backward`` (PReLU's learned slopes and their gradient) and
``_C.softmax_forward/backward`` (last axis; another axis is moved last and back with
``_C.transpose``).
"""
import math

import numpy as np

from .. import _C
from .. import initializers as _init
from .. import regularizers as _reg
from .base import Layer

__all__ = ["ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"]


def _real(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


class ReLU(Layer):
    """Rectified linear unit layer (Keras ``ReLU``).

    ``f(x) = max_value`` for ``x >= max_value``, ``x`` for ``threshold < x < max_value``,
    ``negative_slope * (x - threshold)`` otherwise (Keras 3 ``activations.relu``).

    Args:
        max_value: float >= 0 or None (no upper clip; default).
        negative_slope: float >= 0 (default 0).
        threshold: float >= 0 (default 0).

    Shape:
        Any; output has the input's shape.

    Example:
        >>> ReLU(max_value=6.0)(np.array([[-1.0, 3.0, 9.0]], np.float32))   # [[0, 3, 6]]
    """

    supports_masking = True   # passes its input mask on (Keras)

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and (not _real(max_value) or not max_value >= 0.0):
            raise ValueError(f"max_value of a ReLU layer cannot be a negative value. Received: max_value={max_value!r}")
        if not _real(negative_slope) or not negative_slope >= 0.0 or not math.isfinite(negative_slope):
            raise ValueError(f"negative_slope of a ReLU layer cannot be a negative value. Received: "
                             f"negative_slope={negative_slope!r}")
        if not _real(threshold) or not threshold >= 0.0 or not math.isfinite(threshold):
            raise ValueError(f"threshold of a ReLU layer cannot be a negative value. Received: threshold={threshold!r}")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)
        self.threshold = float(threshold)

    def forward(self, ctx, x, training, strip=False):
        ctx.x = x
        return _C.relu_ext_forward(x, self.threshold, self.max_value, self.negative_slope)

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        return _C.relu_ext_backward(dy, ctx.x, self.threshold, self.max_value, self.negative_slope), []

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class _SlopeAct(Layer):
    """One native activation kind with one parameter (leaky_relu / elu)."""

    supports_masking = True   # passes its input mask on (Keras)

    _kind = None

    def forward(self, ctx, x, training, strip=False):
        y = _C.activation_forward(x, self._kind, self._param())
        ctx.x, ctx.y = x, y
        return y

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        return _C.activation_backward(dy, ctx.x, ctx.y, self._kind, self._param()), []


class LeakyReLU(_SlopeAct):
    """Leaky ReLU layer (Keras ``LeakyReLU``): ``x`` for ``x >= 0``, ``negative_slope * x`` otherwise.

    Args:
        negative_slope: float >= 0 (Keras 3 default 0.3; the legacy keyword ``alpha`` is accepted).

    Shape:
        Any; output has the input's shape.

    Example:
        >>> LeakyReLU()(np.array([[-10.0, 2.0]], np.float32))   # [[-3, 2]]
    """

    _kind = "leaky_relu"

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        if not _real(negative_slope) or not negative_slope >= 0.0 or not math.isfinite(negative_slope):
            raise ValueError(f"The negative_slope value of a Leaky ReLU layer cannot be None or negative value. "
                             f"Expected a float. Received: negative_slope={negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def _param(self):
        return self.negative_slope

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_SlopeAct):
    """Exponential linear unit layer (Keras ``ELU``): ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)``
    otherwise.

    Args:
        alpha: float (default 1.0).

    Shape:
        Any; output has the input's shape.

    Example:
        >>> ELU()(np.array([[-1.0, 2.0]], np.float32))   # [[-0.632, 2]]
    """

    _kind = "elu"

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        if not _real(alpha) or not math.isfinite(alpha):
            raise ValueError(f"ELU '{self.name}': alpha must be a finite float, got {alpha!r}")
        self.alpha = float(alpha)

    def _param(self):
        return self.alpha

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """Parametric ReLU (Keras ``PReLU``): ``x`` for ``x > 0``, ``alpha * x`` otherwise, with a
    learned ``alpha`` per position (shared along ``shared_axes``).

    Args:
        alpha_initializer: default 'zeros' (Keras).
        alpha_regularizer: optional.
        alpha_constraint: not supported (must be None).
        shared_axes: None, an int or a list of axes (1-based, batch axis excluded as Keras) along
            which alpha is shared, e.g. ``[1, 2]`` for one slope per channel of an image.

    Shape:
        Any rank >= 2; output has the input's shape; ``alpha`` has the input's shape without the
        batch axis, 1 on shared axes.

    Example:
        >>> layer = PReLU(shared_axes=[1, 2])
        >>> y = layer(np.zeros((8, 28, 28, 16), np.float32))   # alpha [1, 1, 16]
    """

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        if alpha_constraint is not None:
            raise ValueError(f"PReLU '{self.name}': alpha_constraint is not supported")
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, (int, np.integer)) else list(shared_axes)
            if any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
                raise ValueError(f"PReLU '{self.name}': shared_axes must be None, an int or a list of ints, got "
                                 f"{shared_axes!r}")
            self.shared_axes = [int(a) for a in axes]
        self.alpha_initializer = _init.get(alpha_initializer)
        self.alpha_regularizer = _reg.get(alpha_regularizer)
        self.alpha = None

    def build(self, input_shape):
        nd = len(input_shape)
        if nd < 2:
            raise ValueError(f"PReLU '{self.name}': expected an input of rank >= 2 (batch first), got "
                             f"{tuple(input_shape)}")
        shape = list(input_shape[1:])
        for a in self.shared_axes or []:
            if not 1 <= a < nd:
                raise ValueError(f"PReLU '{self.name}': shared_axes entry {a} is out of range for an input of "
                                 f"shape {tuple(input_shape)} (axes 1..{nd - 1})")
            shape[a - 1] = 1
        if any(s is None for s in shape):
            raise ValueError(f"PReLU '{self.name}': every non-shared axis must have a known size, got input shape "
                             f"{tuple(input_shape)} with shared_axes={self.shared_axes}")
        self.alpha = self.add_weight(tuple(shape), self.alpha_initializer, self.alpha_regularizer, name="alpha")
        self.built = True

    def _check_input(self, shape):
        if self.alpha is None:
            return
        want = tuple(self.alpha.shape)
        got = tuple(shape[1:])
        if len(got) != len(want) or any(w != 1 and w != g for w, g in zip(want, got)):
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: alpha has shape "
                             f"{want}, input shape {tuple(shape)}")

    def forward(self, ctx, x, training, strip=False):
        ctx.x = x
        return _C.prelu_forward(x, self.alpha.data)

    def backward(self, ctx, dy, need_dx):
        dx, da = _C.prelu_backward(dy, ctx.x, self.alpha.data, need_dx)
        if not self.trainable:
            return dx, []
        if self.alpha_regularizer is not None:
            self.alpha_regularizer.add_grad_(da, self.alpha.data)
        return dx, [da]

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": _init.serialize(self.alpha_initializer),
                "alpha_regularizer": _reg.serialize(self.alpha_regularizer) if self.alpha_regularizer else None,
                "alpha_constraint": None, "shared_axes": self.shared_axes}


class Softmax(Layer):
    """Softmax layer (Keras ``Softmax``): ``exp(x) / sum(exp(x), axis)``.

    As the last layer of a model trained with a cross-entropy loss (axis -1), training fuses it
    with the loss exactly as ``Dense(..., activation='softmax')``.

    Args:
        axis: int (default -1). Masks are not supported.

    Shape:
        Any rank >= 1; output has the input's shape.

    Example:
        >>> Softmax()(np.array([[1.0, 1.0]], np.float32))   # [[0.5, 0.5]]
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"Softmax '{self.name}': axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def _ax(self, ndim):
        a = self.axis + ndim if self.axis < 0 else self.axis
        if not 0 <= a < ndim:
            raise ValueError(f"Softmax '{self.name}': axis {self.axis} is out of range for an input of rank {ndim}")
        return a

    def _check_input(self, shape):
        self._ax(len(shape))

    def _output_activation(self):
        return "softmax" if self.axis == -1 else None

    def call(self, inputs, training=None, mask=None):
        if mask is not None:
            raise ValueError(f"Softmax '{self.name}': masks are not supported")
        return super().call(inputs, training)

    def forward(self, ctx, x, training, strip=False):
        nd = len(x.shape)
        a = self._ax(nd)
        if strip and a == nd - 1:
            ctx.y = None
            return x
        perm = None
        if a != nd - 1:
            perm = [i for i in range(nd) if i != a] + [a]
            x = _C.transpose(x, perm)
        y = _C.softmax_forward(x)
        ctx.y, ctx.perm = y, perm
        if perm is None:
            return y
        return _C.transpose(y, [int(i) for i in np.argsort(perm)])

    def backward(self, ctx, dy, need_dx):
        if ctx.y is None:
            return dy, []
        if not need_dx:
            return None, []
        if ctx.perm is None:
            return _C.softmax_backward(dy, ctx.y), []
        dx = _C.softmax_backward(_C.transpose(dy, ctx.perm), ctx.y)
        return _C.transpose(dx, [int(i) for i in np.argsort(ctx.perm)]), []

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
