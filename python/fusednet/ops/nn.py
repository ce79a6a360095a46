"""Neural-network ops (``keras.ops.nn``; csrc families: activation, loss maths, random dropout).

Activations run the native ``_C.activation_forward`` kernel and record
``_C.activation_backward``; softmax / log_softmax are one fused kernel each way (any axis: the
axis is moved last and back). The cross-entropies follow Keras' backend formulas (probabilities
clipped to ``[1e-7, 1 - 1e-7]``; logits through log_softmax / the stable sigmoid form) and are
compositions of differentiable ops, so they can sit inside any custom loss.
"""
from .. import _C
from .. import activations as _acts
from .. import random as _random
from ..tensor import Function, Tensor
from .compare import clip
from .core import as_tensor, float_tensor, need_grad, norm_axis
from .elementwise import abs as _abs
from .elementwise import add, divide, log, multiply, negative, subtract
from .layout import moveaxis, squeeze
from .reduce import mean, sum, var

__all__ = [
    "activation", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "hard_sigmoid",
    "tanh", "softplus", "softsign", "silu", "swish", "mish", "log_sigmoid", "softmax", "log_softmax",
    "one_hot", "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
    "moments", "normalize", "dropout",
]

EPSILON = 1e-7  # keras.backend.epsilon()


class _Act(Function):
    __slots__ = ("x", "y", "kind", "alpha")

    def backward(self, g):
        return (_C.activation_backward(g, self.x, self.y, self.kind, self.alpha),)


class _Softmax(Function):
    __slots__ = ("y", "log")

    def backward(self, g):
        if self.log:
            return (_C.log_softmax_backward(g, self.y),)
        return (_C.softmax_backward(g, self.y),)


def _softmax_last(x, log):
    y = _C.log_softmax_forward(x.data) if log else _C.softmax_forward(x.data)
    if not need_grad(x):
        return Tensor._wrap(y)
    fn = _Softmax()
    fn.y, fn.log = y, log
    return Tensor._from_op(y, fn, (x,))


def _softmax_impl(x, axis, log):
    op = "log_softmax" if log else "softmax"
    x = float_tensor(x, op)
    if x.ndim == 0:
        raise ValueError(f"{op}: needs a tensor of rank >= 1, got shape {x.shape}")
    if isinstance(axis, (tuple, list)):
        if len(axis) != 1:
            raise ValueError(f"{op}: only one axis is supported, got axis={axis} (shape {x.shape})")
        axis = axis[0]
    ax = norm_axis(axis, x.ndim, op)
    if ax == x.ndim - 1:
        return _softmax_last(x, log)
    return moveaxis(_softmax_last(moveaxis(x, ax, -1), log), -1, ax)


def activation(x, kind, alpha=None):
    """Apply the activation ``kind`` (any name accepted by :mod:`fusednet.activations`).

    Args:
        x: tensor-like. kind: activation name. alpha: the kind's parameter (leaky_relu slope,
            elu alpha); None takes the Keras default.

    Returns:
        float32 Tensor of x's shape; the backward is the native activation_backward kernel.

    Example:
        >>> ops.nn.activation(ops.convert_to_tensor([-1.0, 1.0]), "relu").numpy()
        array([0., 1.], dtype=float32)
    """
    kind, _ = _acts.resolve(kind)
    if kind == "linear":
        return as_tensor(x)
    if kind in ("softmax", "log_softmax"):
        return _softmax_impl(x, -1, kind == "log_softmax")
    x = float_tensor(x, kind)
    a = _acts.default_alpha(kind) if alpha is None else float(alpha)
    y = _C.activation_forward(x.data, kind, a)
    if not need_grad(x):
        return Tensor._wrap(y)
    fn = _Act()
    fn.x, fn.y, fn.kind, fn.alpha = x.data, y, kind, a
    return Tensor._from_op(y, fn, (x,))


activation_fn = activation


def _def_act(name, kind, doc):
    def f(x):
        return activation(x, kind)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"{doc}\n\n    Args:\n        x: tensor-like.\n\n"
                 f"    Returns:\n        float32 Tensor of x's shape (native forward and backward kernels).\n\n"
                 f"    Example:\n        >>> ops.{name}(ops.convert_to_tensor([-1.0, 0.5]))\n")
    return f


relu = _def_act("relu", "relu", "``max(x, 0)``.")
relu6 = _def_act("relu6", "relu6", "``min(max(x, 0), 6)``.")
selu = _def_act("selu", "selu", "Scaled ELU (Keras constants).")
sigmoid = _def_act("sigmoid", "sigmoid", "``1 / (1 + exp(-x))``.")
hard_sigmoid = _def_act("hard_sigmoid", "hard_sigmoid", "Piecewise-linear sigmoid (Keras 3: ``relu6(x + 3) / 6``).")
tanh = _def_act("tanh", "tanh", "Hyperbolic tangent.")
softplus = _def_act("softplus", "softplus", "``log(1 + exp(x))``, computed stably.")
softsign = _def_act("softsign", "softsign", "``x / (1 + |x|)``.")
silu = _def_act("silu", "silu", "``x * sigmoid(x)`` (also called swish).")
swish = silu
mish = _def_act("mish", "mish", "``x * tanh(softplus(x))``.")


def leaky_relu(x, negative_slope=0.2):
    """``x`` for x > 0 else ``negative_slope * x`` (Keras 3 default slope 0.2).

    Args:
        x: tensor-like. negative_slope: slope for x < 0.

    Returns:
        float32 Tensor of x's shape.

    Example:
        >>> ops.leaky_relu(ops.convert_to_tensor([-1.0, 1.0])).numpy()
        array([-0.2,  1. ], dtype=float32)
    """
    return activation(x, "leaky_relu", negative_slope)


def elu(x, alpha=1.0):
    """``x`` for x > 0 else ``alpha * (exp(x) - 1)``.

    Args:
        x: tensor-like. alpha: scale of the negative part.

    Returns:
        float32 Tensor of x's shape.

    Example:
        >>> ops.elu(ops.convert_to_tensor([0.0, 1.0])).numpy()
        array([0., 1.], dtype=float32)
    """
    return activation(x, "elu", alpha)


def gelu(x, approximate=True):
    """Gaussian error linear unit; ``approximate=True`` (the Keras 3 default) is the tanh form,
    False the exact erf form.

    Args:
        x: tensor-like. approximate: tanh approximation (True) or erf (False).

    Returns:
        float32 Tensor of x's shape.

    Example:
        >>> ops.gelu(ops.convert_to_tensor([0.0, 1.0]), approximate=False)
    """
    return activation(x, "gelu_tanh" if approximate else "gelu")


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``, stable for large |x|.

    Args:
        x: tensor-like.

    Returns:
        float32 Tensor of x's shape.

    Example:
        >>> ops.log_sigmoid(ops.zeros((1,)))            # log(0.5)
    """
    return negative(softplus(negative(x)))


def softmax(x, axis=-1):
    """Softmax along ``axis`` (max-subtracted; one fused kernel forward and backward).

    Args:
        x: tensor-like of rank >= 1. axis: int.

    Returns:
        float32 Tensor of x's shape.

    Example:
        >>> ops.softmax(ops.zeros((2, 4))).numpy()[0]
        array([0.25, 0.25, 0.25, 0.25], dtype=float32)
    """
    return _softmax_impl(x, axis, False)


def log_softmax(x, axis=-1):
    """``log(softmax(x))`` along ``axis``, computed stably.

    Args:
        x: tensor-like of rank >= 1. axis: int.

    Returns:
        float32 Tensor of x's shape.

    Example:
        >>> ops.log_softmax(ops.zeros((1, 2)))            # log(0.5) twice
    """
    return _softmax_impl(x, axis, True)


def one_hot(x, num_classes, axis=-1, dtype=None):
    """One-hot encode integer class indices (native kernel).

    Args:
        x: int32/int64 tensor-like of indices in ``[0, num_classes)`` (out of range: ValueError).
        num_classes: int. axis: where the class axis goes (default last). dtype: default float32.

    Returns:
        Tensor of shape ``x.shape`` with a class axis of length ``num_classes`` inserted.

    Example:
        >>> ops.one_hot(ops.convert_to_tensor([0, 2]), 3).numpy()
        array([[1., 0., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    from .core import cast
    x = as_tensor(x)
    if x.dtype == "float32":
        x = cast(x, "int64")
    try:
        y = Tensor._wrap(_C.one_hot(x.data, int(num_classes)))
    except ValueError as e:
        raise ValueError(f"one_hot: {e} (indices of shape {x.shape})") from None
    if axis not in (-1, y.ndim - 1):
        y = moveaxis(y, -1, norm_axis(axis, y.ndim, "one_hot"))
    return y if dtype is None else cast(y, dtype)


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Cross-entropy between one-hot (or soft) ``target`` and ``output`` along ``axis``.

    Keras backend formula: logits go through ``log_softmax``; probabilities are renormalised to
    sum to 1 and clipped to ``[1e-7, 1 - 1e-7]``.

    Args:
        target: tensor-like of output's shape. output: probabilities or logits.
        from_logits: whether ``output`` is logits. axis: the class axis.

    Returns:
        float32 Tensor of output's shape without ``axis`` (one loss per sample); differentiable.

    Example:
        >>> ops.categorical_crossentropy(ops.convert_to_tensor([[0.0, 1.0]]),
        ...                              ops.convert_to_tensor([[0.5, 0.5]]))   # [log 2]
    """
    t, o = float_tensor(target, "categorical_crossentropy"), float_tensor(output, "categorical_crossentropy")
    if t.shape != o.shape:
        raise ValueError(f"categorical_crossentropy: target shape {t.shape} and output shape {o.shape} "
                         f"must be equal")
    if from_logits:
        return negative(sum(multiply(t, log_softmax(o, axis)), axis))
    o = divide(o, sum(o, axis, keepdims=True))
    o = clip(o, EPSILON, 1.0 - EPSILON)
    return negative(sum(multiply(t, log(o)), axis))


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Cross-entropy between integer class ``target`` and ``output`` (Keras semantics).

    Args:
        target: int tensor-like of output's shape without ``axis`` (a trailing axis of length 1
            is squeezed). output: probabilities or logits.
        from_logits: whether ``output`` is logits. axis: the class axis.

    Returns:
        float32 Tensor of target's shape; differentiable w.r.t. ``output``.

    Example:
        >>> ops.sparse_categorical_crossentropy(ops.convert_to_tensor([1]),
        ...                                     ops.convert_to_tensor([[0.5, 0.5]]))  # [log 2]
    """
    o = float_tensor(output, "sparse_categorical_crossentropy")
    t = as_tensor(target)
    if t.ndim == o.ndim and t.ndim > 0 and t.shape[-1] == 1:
        t = squeeze(t, -1)
    ax = norm_axis(axis, o.ndim, "sparse_categorical_crossentropy")
    expect = tuple(s for i, s in enumerate(o.shape) if i != ax)
    if tuple(t.shape) != expect:
        raise ValueError(f"sparse_categorical_crossentropy: target shape {t.shape} does not match output "
                         f"shape {o.shape} without axis {axis} ({expect})")
    oh = one_hot(t, o.shape[ax], axis=ax)
    return categorical_crossentropy(oh, o, from_logits=from_logits, axis=ax)


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise binary cross-entropy (no reduction, as ``keras.ops.binary_crossentropy``).

    Logits use the stable ``max(x, 0) - x*z + log(1 + exp(-|x|))``; probabilities are clipped
    to ``[1e-7, 1 - 1e-7]``.

    Args:
        target: tensor-like of 0/1 (or soft) labels. output: probabilities or logits, same shape.
        from_logits: whether ``output`` is logits.

    Returns:
        float32 Tensor of output's shape; differentiable.

    Example:
        >>> ops.binary_crossentropy(ops.convert_to_tensor([1.0]), ops.convert_to_tensor([0.5]))
    """
    t, o = float_tensor(target, "binary_crossentropy"), float_tensor(output, "binary_crossentropy")
    if t.shape != o.shape:
        raise ValueError(f"binary_crossentropy: target shape {t.shape} and output shape {o.shape} must be equal")
    if from_logits:
        return add(subtract(relu(o), multiply(o, t)), softplus(negative(_abs(o))))
    o = clip(o, EPSILON, 1.0 - EPSILON)
    return negative(add(multiply(t, log(o)), multiply(subtract(1.0, t), log(subtract(1.0, o)))))


def moments(x, axes, keepdims=False, synchronized=False):
    """Mean and (population) variance of ``x`` over ``axes``.

    Args:
        x: tensor-like. axes: int or sequence of ints. keepdims: keep reduced axes.
        synchronized: accepted for Keras compatibility (single device: no effect).

    Returns:
        ``(mean, variance)`` Tensors; both differentiable.

    Example:
        >>> m, v = ops.moments(ops.convert_to_tensor([1.0, 2.0, 3.0, 4.0]), axes=[0])  # 2.5, 1.25
    """
    return mean(x, axes, keepdims), var(x, axes, keepdims)


def normalize(x, axis=-1, order=2, epsilon=None):
    """``x / max(norm(x), epsilon)`` along ``axis`` for the L1 or L2 norm (Keras ``ops.normalize``).

    Args:
        x: tensor-like. axis: int. order: 1 or 2. epsilon: floor of the norm (default 1e-7).

    Returns:
        float32 Tensor of x's shape; differentiable (finite at x = 0).

    Example:
        >>> ops.normalize(ops.convert_to_tensor([[3.0, 4.0]])).numpy()
        array([[0.6, 0.8]], dtype=float32)
    """
    from .elementwise import maximum, sqrt, square
    eps = EPSILON if epsilon is None else float(epsilon)
    if order == 2:
        n = sqrt(maximum(sum(square(x), axis, keepdims=True), eps * eps))
    elif order == 1:
        n = maximum(sum(_abs(x), axis, keepdims=True), eps)
    else:
        raise ValueError(f"normalize: order must be 1 or 2, got {order!r}")
    return divide(x, n)


def dropout(x, rate, training=True, seed=None):
    """Inverted dropout with a Philox counter-based mask (the functional form of ``Dropout``).

    Args:
        x: input tensor.
        rate: fraction of units to drop, in [0, 1).
        training: when False (or rate == 0) returns ``x`` unchanged.
        seed: int, ``(seed, offset)`` pair or :class:`fusednet.random.SeedGenerator`; None draws
            the next pair from :mod:`fusednet.random`. The same pair gives the same mask on CPU
            and CUDA with any thread count.

    Returns:
        Tensor of x's shape.

    Example:
        >>> y = dropout(ops.ones((4, 8)), 0.5, seed=1)    # entries 0 or 2
    """
    x = as_tensor(x)
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    if not training or rate == 0.0:
        return x
    return _random.dropout(x, rate, seed=seed)

