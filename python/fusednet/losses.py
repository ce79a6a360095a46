"""Losses with Keras 3 names, defaults and semantics, each one native kernel.

Every loss computes a per-sample loss vector and, in the same kernel, its gradient already scaled
for the reduction. Elementwise losses (MSE, MAE, Huber, BCE) average over the last axis, then
over samples, exactly as Keras ``reduction='sum_over_batch_size'`` does; ``reduction='sum'`` and
``'none'`` are also accepted.

Fusion with the output activation: when a model's last layer ends in ``softmax`` and the loss is
``CategoricalCrossentropy`` / ``SparseCategoricalCrossentropy`` with ``from_logits=False`` (or the
last activation is ``sigmoid`` and the loss is ``BinaryCrossentropy(from_logits=False)``), the
model trains on the pre-activation logits with the fused log-sum-exp kernel
(``_C.softmax_cross_entropy`` / ``_C.sigmoid_binary_cross_entropy``). The loss value equals the
probability form (up to Keras' 1e-7 clipping, which the fused form does not need), but logits of
±1e4 give finite losses and gradients. ``predict`` still returns probabilities.

Example:
    >>> loss = fusednet.losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> value = loss(y_true, logits)          # scalar Tensor, differentiable w.r.t. logits
"""
import numpy as np

from . import _C
from .tensor import Function, Tensor, _state

__all__ = ["Loss", "MeanSquaredError", "MeanAbsoluteError", "BinaryCrossentropy",
           "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "Huber", "get",
           "serialize", "mean_squared_error", "mean_absolute_error", "binary_crossentropy",
           "categorical_crossentropy", "sparse_categorical_crossentropy", "huber"]

_REDUCTIONS = ("sum_over_batch_size", "sum", "none", "mean", None)


class Loss:
    """Base class of fusednet losses.

    Subclasses implement ``_kernel(pred, target, grad_scale, want_grad, logits)`` returning
    ``(per_sample_loss[N], grad|None)`` from one native call, and ``prepare_targets``.

    Args:
        reduction: 'sum_over_batch_size' (default), 'sum' or 'none'.
        name: optional name.
    """

    #: activation this loss fuses with when ``from_logits=False`` ('softmax', 'sigmoid' or None)
    fuses_with = None
    sparse = False

    def __init__(self, reduction="sum_over_batch_size", name=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of "
                             f"'sum_over_batch_size', 'sum', 'none', got {reduction!r}")
        self.reduction = "sum_over_batch_size" if reduction in (None, "mean") else reduction
        self.name = name or _snake(type(self).__name__)

    # ------------------------------------------------------------------ user losses (Keras ``call``)
    def call(self, y_true, y_pred):
        """Per-sample losses from Tensors (override in a subclass, as in Keras: ``fit`` then runs
        the loss on the autograd tape and applies the reduction and sample weights itself)."""
        raise NotImplementedError(f"{type(self).__name__}: a Loss subclass implements call(y_true, y_pred)")

    @property
    def is_python_loss(self):
        """True when the loss is Python code on Tensors (a function or an overridden ``call``)
        rather than one of the native fused kernels."""
        return type(self).call is not Loss.call

    def _apply_python(self, yp, tgt, sample_weight=None, mask=None):
        from . import functional as F
        per = F.as_tensor(self.call(Tensor._wrap(tgt), yp))
        if mask is not None:
            per = _masked_python_losses(per, mask)
        if per.ndim > 1:
            per = F.mean(per, axis=tuple(range(1, per.ndim)))
        if sample_weight is not None:
            w = np.ascontiguousarray(np.asarray(sample_weight, np.float32).reshape(-1))
            per = F.mul(per, Tensor(w))
        if self.reduction == "none":
            return per
        return F.sum(per) if self.reduction == "sum" else F.mean(per)

    # ------------------------------------------------------------------ targets
    def prepare_targets(self, y_true, pred_shape):
        """Validate ``y_true`` against predictions of ``pred_shape`` and return a float32 /
        int64 Array in the layout the kernel wants. Runs once per fit/evaluate on the host."""
        if self.is_python_loss:            # user code sees the labels as given (ints stay ints)
            y = _host(y_true)
            dt = np.int64 if y.dtype.kind in "iu" else np.float32
            return _C.asarray(np.ascontiguousarray(y, dtype=dt))
        y = _host(y_true)
        ps = tuple(pred_shape)
        if y.ndim == len(ps) - 1 and ps[-1] == 1:
            y = y.reshape(y.shape + (1,))
        if y.ndim == 1 and len(ps) == 1:
            pass
        if tuple(y.shape[1:]) != ps[1:]:
            raise ValueError(f"{type(self).__name__}: y_true has shape {y.shape} but the model output "
                             f"has shape {('N',) + ps[1:]}; they must match")
        return _C.asarray(np.ascontiguousarray(y, dtype=np.float32))

    # ------------------------------------------------------------------ array level
    def fused_kernel_for(self, activation_kind):
        """True when this loss can train on the logits of ``activation_kind``."""
        return self.fuses_with is not None and activation_kind == self.fuses_with and \
            not getattr(self, "from_logits", True)

    def compute(self, pred, target, grad_scale, want_grad, logits=False, per_sample=True):
        """One kernel: (per-sample loss [N], grad [same shape as pred] or None).

        Predictions [N, ..., C] with inner axes (e.g. [B, T, C] from Dense on sequences) follow
        Keras: the loss is taken over the last axis at every position and a sample's loss is the
        mean over its positions, so ``sum(per) * grad_scale`` with ``grad_scale = 1/N`` is the mean
        over all N*T positions (Keras' sum_over_batch_size). The gradient is scaled to match.
        ``per_sample=False`` returns the unreduced per-position losses [N*T] instead (for
        reduction='none'), with the gradient scaled by ``grad_scale`` per position.
        """
        p2 = pred if pred.ndim == 2 else pred.reshape(-1, pred.shape[-1] if pred.ndim > 1 else 1)
        t2 = target
        if not self.sparse:
            if target.ndim != 2:
                t2 = target.reshape(tuple(p2.shape))
        else:
            if target.ndim != 1:
                t2 = target.reshape(-1)
        inner = 1
        if per_sample and pred.ndim > 2 and pred.shape[0]:
            inner = p2.shape[0] // pred.shape[0]
        loss, grad = self._kernel(p2, t2, grad_scale / inner if inner > 1 else grad_scale, want_grad, logits)
        if inner > 1:
            loss = _C.reduce("mean", loss.reshape(pred.shape[0], inner), [1], False)
        if grad is not None and p2 is not pred:
            grad = grad.reshape(tuple(pred.shape))
        return loss, grad

    def _kernel(self, pred, target, grad_scale, want_grad, logits):  # pragma: no cover
        raise NotImplementedError

    # ------------------------------------------------------------------ Tensor level
    def __call__(self, y_true, y_pred, sample_weight=None):
        """Loss of ``y_pred`` (Tensor) against ``y_true``; differentiable w.r.t. ``y_pred``.

        Returns a scalar Tensor (or per-sample [N] with reduction='none').
        """
        from .functional import as_tensor
        yp = as_tensor(y_pred)
        if yp.ndim == 0:
            raise ValueError(f"{type(self).__name__}: y_pred must have a batch axis, got a scalar")
        target = y_true.data if isinstance(y_true, Tensor) else y_true
        if isinstance(target, _C.Array):
            target = target if target.device == "cpu" else target.to("cpu")
        tgt = self.prepare_targets(target, yp.shape)
        if yp.device != "cpu":
            tgt = tgt.to(yp.device)
        return self._apply(yp, tgt, sample_weight, logits=False)

    def _apply(self, yp, tgt, sample_weight=None, logits=False, mask=None):
        if self.is_python_loss:
            if mask is None:
                mask = getattr(yp, "_keras_mask", None)
            return self._apply_python(yp, tgt, sample_weight, mask)
        # per-sample losses [N] (a sample's positions averaged, see compute); reduction='none'
        # keeps one loss per position, shaped like the prediction without its last axis (Keras)
        rows = yp.shape[0]
        want = _state.enabled and yp.requires_grad
        red = self.reduction
        scale = 1.0 / max(rows, 1) if red == "sum_over_batch_size" else 1.0
        per, grad = self.compute(yp.data, tgt, scale if red != "none" else 1.0, want, logits,
                                 per_sample=red != "none")
        w = None
        if sample_weight is not None:
            w = _C.asarray(np.ascontiguousarray(np.asarray(sample_weight, np.float32).reshape(-1)))
            if w.shape[0] != rows:
                raise ValueError(f"{type(self).__name__}: sample_weight has {w.shape[0]} entries, "
                                 f"expected {rows}")
            if yp.device != "cpu":
                w = w.to(yp.device)
            pshape = tuple(per.shape)
            per = _C.binary("mul", per.reshape(w.shape[0], -1), w.reshape(-1, 1)).reshape(pshape)
            if grad is not None:
                gshape = tuple(grad.shape)
                g2 = grad.reshape(per.shape[0], -1)
                grad = _C.binary("mul", g2, w.reshape(-1, 1)).reshape(gshape)
        if red == "none":
            out = per if yp.ndim <= 2 else per.reshape(tuple(yp.shape[:-1]))
        elif red == "sum":
            out = _C.reduce("sum", per, [], False)
        else:
            out = _C.scale(_C.reduce("sum", per, [], False), scale)
        if not want:
            return Tensor._wrap(out)
        fn = _LossFn()
        fn.grad = grad
        fn.none = red == "none"
        return Tensor._from_op(out, fn, (yp,))

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class _LossFn(Function):
    __slots__ = ("grad", "none")

    def backward(self, g):
        if self.none:
            gshape = tuple(self.grad.shape)
            g2 = self.grad.reshape(g.size, -1)   # g: one value per position, [N] or [N, T, ...]
            return (_C.binary("mul", g2, g.reshape(-1, 1)).reshape(gshape),)
        return (_C.binary("mul", self.grad, g),)


def _snake(name):
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _host(y):
    if isinstance(y, Tensor):
        y = y.data
    if isinstance(y, _C.Array):
        y = y.to("cpu").numpy()
    return np.asarray(y)


class MeanSquaredError(Loss):
    """mean((y_pred - y_true)², axis=-1), averaged over the batch.

    Shape:
        y_true, y_pred: [N, ...] of equal shape ([N] and [N, 1] are interchangeable).
    """

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(reduction, name)

    def _kernel(self, pred, target, gs, want, logits):
        return _C.mean_squared_error(pred, target, gs, want)


class MeanAbsoluteError(Loss):
    """mean(|y_pred - y_true|, axis=-1), averaged over the batch."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(reduction, name)

    def _kernel(self, pred, target, gs, want, logits):
        return _C.mean_absolute_error(pred, target, gs, want)


class Huber(Loss):
    """Huber loss: ½e² for |e| ≤ delta, else delta·(|e| - ½delta); mean over the last axis.

    Args:
        delta: threshold (Keras default 1.0).
    """

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss"):
        super().__init__(reduction, name)
        if delta <= 0:
            raise ValueError(f"Huber: delta must be positive, got {delta}")
        self.delta = float(delta)

    def _kernel(self, pred, target, gs, want, logits):
        return _C.huber(pred, target, self.delta, gs, want)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class BinaryCrossentropy(Loss):
    """Binary cross-entropy, mean over the last axis (Keras semantics, probabilities clipped 1e-7).

    Args:
        from_logits: y_pred are logits (uses the stable sigmoid form).
        label_smoothing: targets become t·(1-ls) + 0.5·ls.
    """

    fuses_with = "sigmoid"

    def __init__(self, from_logits=False, label_smoothing=0.0, reduction="sum_over_batch_size",
                 name="binary_crossentropy"):
        super().__init__(reduction, name)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _ls(self, label_smoothing)

    def _kernel(self, pred, target, gs, want, logits):
        if logits or self.from_logits:
            return _C.sigmoid_binary_cross_entropy(pred, target, self.label_smoothing, gs, want)
        return _C.binary_cross_entropy_probs(pred, target, self.label_smoothing, gs, want)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(Loss):
    """Cross-entropy against one-hot (or soft) targets over the last axis.

    Args:
        from_logits: y_pred are logits (stable log-sum-exp kernel).
        label_smoothing: targets become t·(1-ls) + ls/C.

    Shape:
        y_true, y_pred: [N, C].
    """

    fuses_with = "softmax"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy"):
        super().__init__(reduction, name)
        if axis != -1:
            raise ValueError("CategoricalCrossentropy: only axis=-1 is supported")
        self.from_logits = bool(from_logits)
        self.label_smoothing = _ls(self, label_smoothing)

    def prepare_targets(self, y_true, pred_shape):
        y = _host(y_true)
        ps = tuple(pred_shape)
        if len(y.shape) != len(ps) or any(p is not None and g != p for g, p in zip(y.shape[1:], ps[1:])):
            hint = ""   # (a None axis of the output, e.g. variable timesteps, matches any length)
            if y.ndim == len(ps) - 1 or (y.ndim == len(ps) and y.shape[-1] == 1):
                hint = " (integer class labels need loss='sparse_categorical_crossentropy')"
            raise ValueError(f"CategoricalCrossentropy: y_true has shape {y.shape} but the model output "
                             f"has shape {('N',) + ps[1:]}; one-hot targets must match it{hint}")
        return _C.asarray(np.ascontiguousarray(y, dtype=np.float32))

    def _kernel(self, pred, target, gs, want, logits):
        if logits or self.from_logits:
            return _C.softmax_cross_entropy(pred, target, self.label_smoothing, gs, want)
        return _C.categorical_crossentropy_probs(pred, target, self.label_smoothing, gs, want)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": -1}


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy against integer class ids.

    Args:
        from_logits: y_pred are logits (stable log-sum-exp kernel).

    Shape:
        y_true: [N] or [N, 1] integer ids in [0, C); y_pred: [N, C].
    """

    fuses_with = "softmax"
    sparse = True

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy"):
        super().__init__(reduction, name)
        if ignore_class is not None:
            raise ValueError("SparseCategoricalCrossentropy: ignore_class is not supported by fusednet")
        self.from_logits = bool(from_logits)

    def prepare_targets(self, y_true, pred_shape):
        y = _host(y_true)
        ps = tuple(pred_shape)
        lead = ps[:-1]
        if y.ndim == len(ps) and y.shape[-1] == 1:
            y = y.reshape(y.shape[:-1])
        if len(ps) < 2 or tuple(y.shape[1:]) != tuple(lead[1:]):
            raise ValueError(f"SparseCategoricalCrossentropy: y_true must hold integer class ids of shape "
                             f"{('N',) + tuple(lead[1:])} (or with a trailing 1) for a model output of shape "
                             f"{('N',) + ps[1:]}; got y_true of shape {y.shape}"
                             + (" (one-hot targets need loss='categorical_crossentropy')"
                                if y.shape[1:] == ps[1:] and len(ps) >= 2 else ""))
        if y.dtype.kind == "f":
            if y.size and not np.all(np.isfinite(y)) or (y.size and np.any(y != np.floor(y))):
                raise ValueError("SparseCategoricalCrossentropy: y_true must hold integer class ids, "
                                 "got non-integer values")
        elif y.dtype.kind not in "iub":
            raise TypeError(f"SparseCategoricalCrossentropy: y_true must be integers, got dtype {y.dtype}")
        C = ps[-1]
        if y.size:
            lo, hi = y.min(), y.max()
            if lo < 0 or hi >= C:
                raise ValueError(f"SparseCategoricalCrossentropy: class ids must be in [0, {C}) for a "
                                 f"model output with {C} classes; got values in [{int(lo)}, {int(hi)}]")
        # keep [N, ...] (not flattened): fit/evaluate slice targets by sample; compute() flattens
        return _C.asarray(np.ascontiguousarray(y, dtype=np.int64))

    def _kernel(self, pred, target, gs, want, logits):
        if logits or self.from_logits:
            return _C.softmax_cross_entropy(pred, target, 0.0, gs, want)
        # the probabilities kernel takes dense targets: one native one-hot of the ids first
        return _C.categorical_crossentropy_probs(pred, _C.one_hot(target, pred.shape[-1]), 0.0, gs, want)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "ignore_class": None}


def _ls(obj, v):
    v = float(v)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{type(obj).__name__}: label_smoothing must be in [0, 1], got {v}")
    return v


_ALIASES = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
for _c in (MeanSquaredError, MeanAbsoluteError, Huber, BinaryCrossentropy, CategoricalCrossentropy,
           SparseCategoricalCrossentropy):
    _ALIASES[_c.__name__] = _c


def get(identifier):
    """Resolve a Keras loss identifier (name, class name, class, instance or config dict)."""
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict):
        cls = _ALIASES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown loss {identifier.get('class_name')!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier) or _ALIASES.get(identifier.lower())
        if cls is None:
            names = sorted(k for k in _ALIASES if k.islower())
            raise ValueError(f"Unknown loss {identifier!r}; valid names: {', '.join(names)}")
        return cls()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(f"Could not interpret loss identifier {identifier!r}")


class LossFunctionWrapper(Loss):
    """Wraps ``fn(y_true, y_pred) -> per-sample Tensor`` built from differentiable Tensor ops.

    Runs through the generic autograd tape (no compiled training step).
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name or getattr(fn, "__name__", "custom_loss"))
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)

    def get_config(self):
        from .saving import serialize_keras_object
        return {**super().get_config(), "fn": serialize_keras_object(self.fn)}

    @classmethod
    def from_config(cls, config):
        from .saving import deserialize_keras_object
        config = dict(config)
        fn = config.pop("fn")
        return cls(deserialize_keras_object(fn) if isinstance(fn, (dict, str)) else fn, **config)


def serialize(loss):
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def _functional(cls, **kw):
    def f(y_true, y_pred):
        return cls(reduction="none", **kw)(y_true, y_pred)
    f.__name__ = _snake(cls.__name__)
    f.__doc__ = f"Per-sample {cls.__name__} (reduction='none')."
    return f


mean_squared_error = _functional(MeanSquaredError)
mean_absolute_error = _functional(MeanAbsoluteError)
huber = _functional(Huber)
binary_crossentropy = _functional(BinaryCrossentropy)
categorical_crossentropy = _functional(CategoricalCrossentropy)
sparse_categorical_crossentropy = _functional(SparseCategoricalCrossentropy)


def _masked_python_losses(per, mask):
    """A user loss's values ``per`` [B, T, ...] weighted by a sequence mask [B, T] as Keras'
    ``apply_mask`` does (``mask · B·T / (valid + ε)``, so the mean over positions is the mean over
    the valid ones). Values whose leading axes do not match the mask are left unmasked (Keras
    applies it only where it broadcasts; a per-sample loss [B] of a sequence output is one)."""
    from . import functional as F
    from .trainers.masks import valid_scale
    m = mask.data if isinstance(mask, Tensor) else mask
    if m is None or per.ndim < 2 or tuple(per.shape[:2]) != tuple(m.shape):
        return per
    if m.device != per.data.device:
        m = m.to(per.data.device)
    w = _C.scale(m, valid_scale(m))
    if per.ndim > 2:
        w = w.reshape(*m.shape, *([1] * (per.ndim - 2)))
    return F.mul(per, Tensor._wrap(w))
