"""Normalization layers: BatchNormalization (channels last) and LayerNormalization (last axis),
with their differentiable ops. Each forward and backward is one native call; the training
forward of BatchNormalization updates the moving statistics in place (Keras 3 rule:
moving = moving*momentum + batch*(1-momentum), biased batch variance)."""
import numpy as np

from .. import _C
from .. import functional as F
from ..distribution import sync as _sync
from .. import initializers as _init
from .. import regularizers as _reg
from ..tensor import Function, Tensor, _state
from .base import Layer

__all__ = ["BatchNormalization", "LayerNormalization", "batch_normalization", "layer_normalization"]


def _inv_std(var, eps):
    """1/sqrt(var + eps) for a [C] Array, with native kernels."""
    e = _C.full([], float(eps), device=var.device)
    return _C.unary("rsqrt", _C.binary("add", var, e))


class _BNFn(Function):
    __slots__ = ("x", "gamma", "mean", "inv", "training", "has_g", "has_b")

    def backward(self, g):
        dx, dg, db = _C.batch_norm_backward(g, self.x, self.gamma, self.mean, self.inv, self.training)
        out = [dx]
        if self.has_g:
            out.append(dg)
        if self.has_b:
            out.append(db)
        return tuple(out)


class _LNFn(Function):
    __slots__ = ("x", "gamma", "mean", "inv", "has_g", "has_b")

    def backward(self, g):
        dx, dg, db = _C.layer_norm_backward(g, self.x, self.gamma, self.mean, self.inv)
        out = [dx]
        if self.has_g:
            out.append(dg)
        if self.has_b:
            out.append(db)
        return tuple(out)


def batch_normalization(x, gamma, beta, moving_mean, moving_var, training, momentum=0.99, epsilon=1e-3):
    """Differentiable BatchNorm over every axis but the last.

    ``training=True`` normalises with the batch statistics and updates ``moving_mean`` /
    ``moving_var`` (Arrays or Tensors, in place); otherwise the moving statistics are used.
    ``gamma`` / ``beta`` may be None.
    """
    x = F.as_tensor(x)
    g = F.as_tensor(gamma) if gamma is not None else None
    b = F.as_tensor(beta) if beta is not None else None
    mm = moving_mean.data if isinstance(moving_mean, Tensor) else moving_mean
    mv = moving_var.data if isinstance(moving_var, Tensor) else moving_var
    gd = g.data if g is not None else None
    bd = b.data if b is not None else None
    if training:
        y, mean, inv = _C.batch_norm_forward_train(x.data, gd, bd, mm, mv, float(momentum), float(epsilon))
    else:
        y = _C.batch_norm_forward_infer(x.data, gd, bd, mm, mv, float(epsilon))
        mean, inv = mm, None
    inputs = tuple(t for t in (x, g, b) if t is not None)
    if _state.enabled and any(t.requires_grad for t in inputs):
        fn = _BNFn()
        if inv is None:
            inv = _inv_std(mv, epsilon)
        fn.x, fn.gamma, fn.mean, fn.inv, fn.training = x.data, gd, mean, inv, bool(training)
        fn.has_g, fn.has_b = g is not None, b is not None
        return Tensor._from_op(y, fn, inputs)
    return Tensor._wrap(y)


def layer_normalization(x, gamma=None, beta=None, epsilon=1e-3):
    """Differentiable LayerNorm over the last axis (biased variance, Keras)."""
    x = F.as_tensor(x)
    g = F.as_tensor(gamma) if gamma is not None else None
    b = F.as_tensor(beta) if beta is not None else None
    gd = g.data if g is not None else None
    y, mean, inv = _C.layer_norm_forward(x.data, gd, b.data if b is not None else None, float(epsilon))
    inputs = tuple(t for t in (x, g, b) if t is not None)
    if _state.enabled and any(t.requires_grad for t in inputs):
        fn = _LNFn()
        fn.x, fn.gamma, fn.mean, fn.inv = x.data, gd, mean, inv
        fn.has_g, fn.has_b = g is not None, b is not None
        return Tensor._from_op(y, fn, inputs)
    return Tensor._wrap(y)


def _affine_grads(layer, dg, db):
    """(dgamma, dbeta) of a normalization layer in trainable_weights order, regularized."""
    if not layer.trainable:
        return []
    grads = []
    if layer.gamma is not None:
        if layer.gamma_regularizer is not None:
            layer.gamma_regularizer.add_grad_(dg, layer.gamma.data)
        grads.append(dg)
    if layer.beta is not None:
        if layer.beta_regularizer is not None:
            layer.beta_regularizer.add_grad_(db, layer.beta.data)
        grads.append(db)
    return grads


def _synced_forward(comm, x, gd, bd, mm, mv, momentum, eps):
    """Training BatchNorm with the global batch's statistics: the fused kernel's two passes with
    their float64 per-channel sums (and the row count) allreduced between them."""
    s1 = _C.batch_norm_sums(x)
    c = s1.shape[0]
    buf = np.empty(c + 1, np.float64)
    buf[:c] = s1
    buf[c] = x.size // c if c else 0
    comm.allreduce_sum_(buf)
    rows = int(buf[c])
    mean = _C.batch_norm_mean(buf[:c], rows)
    s2 = _C.batch_norm_sums(x, mean)
    comm.allreduce_sum_(s2)
    y, inv = _C.batch_norm_forward_finish(x, gd, bd, mm, mv, mean, s2, rows, momentum, eps)
    return y, mean, inv, rows


def _masked_forward(name, x, mask, gd, bd, mm, mv, momentum, eps):
    """Training BatchNorm whose statistics count only the unmasked positions (Keras 3
    ``_moments(inputs, mask)``): mean = Σ m·x / n, var = Σ m·(x - mean)² / n with n = Σ m; every
    position is normalised with them. The fused kernel's two passes: pass 1 on m·x, pass 2 on x
    with its masked positions replaced by the mean (so they add 0), the variance sum rescaled by
    M / n so the kernel's division by its M rows divides by n."""
    m, m3, n = _bn_mask(name, x, mask)
    c = x.shape[-1]
    rows = x.size // c if c else 0
    xm = _C.binary("mul", x, m3)
    mean = _C.batch_norm_mean(_C.batch_norm_sums(xm), n)
    xc = _C.binary("add", xm, _C.binary("mul", _C.binary("sub", _C.full([], 1.0), m3), mean))
    s2 = np.asarray(_C.batch_norm_sums(xc, mean), np.float64) * (rows / n if n else 0.0)
    y, inv = _C.batch_norm_forward_finish(x, gd, bd, mm, mv, mean, s2, rows, momentum, eps)
    return y, mean, inv, (m3, n)


def _bn_mask(name, x, mask):
    """(mask [B, T], mask [B, T, 1], valid count) of a BatchNormalization input's mask."""
    m = mask[0] if isinstance(mask, (list, tuple)) else mask
    if m.ndim != x.ndim - 1 or tuple(m.shape) != tuple(x.shape[:-1]):
        raise ValueError(f"BatchNormalization '{name}': the mask must have the input's shape without "
                         f"its channel axis, got mask {tuple(m.shape)} for input {tuple(x.shape)}")
    if x.device != "cpu":
        raise NotImplementedError(f"BatchNormalization '{name}': masked batch statistics run on the "
                                  f"CPU only (input on {x.device})")
    n = int(round(float(_C.reduce("sum", m).numpy())))
    return m, m.reshape(*m.shape, 1), n


def _masked_backward(dy, x, gd, mean, inv, masked):
    """dX through masked statistics: the unmasked kernel's coefficients with the statistics'
    terms divided by n instead of M (``rescale = M / n``) on the counted positions; a masked
    position takes no part in the statistics, so its dX is only ``gamma · inv · dy``."""
    m3, n = masked
    c = x.shape[-1]
    rows = x.size // c if c else 0
    s = _C.batch_norm_backward_sums(dy, x, mean, inv)
    dx, dg, db = _C.batch_norm_backward_finish(dy, x, gd, mean, inv, s, s, rows / n if n else 0.0, rows, True)
    a = _C.binary("mul", gd, inv) if gd is not None else inv
    direct = _C.binary("mul", dy, a)
    dx = _C.binary("add", direct, _C.binary("mul", m3, _C.binary("sub", dx, direct)))
    return dx, dg, db


def _synced_backward(comm, scale, dy, x, gd, mean, inv, rows):
    """dX through the global statistics. Each rank's dy is 1/scale times its share of the global
    loss's, so the local sums are scaled by ``scale`` before the allreduce (the global-loss sums)
    and the dX coefficients by 1/scale after (back to this rank's loss); dgamma / dbeta stay
    local (the gradient allreduce scales and sums them like every other parameter's)."""
    s = _C.batch_norm_backward_sums(dy, x, mean, inv)
    sg = s * scale
    comm.allreduce_sum_(sg)
    return _C.batch_norm_backward_finish(dy, x, gd, mean, inv, s, sg, 1.0 / scale, rows, True)


class BatchNormalization(Layer):
    """Batch normalization (Keras ``BatchNormalization``) over the last (channel) axis.

    Training (``fit``, or ``training=True``): normalises with the batch mean and biased variance,
    then updates ``moving_mean`` / ``moving_variance`` with ``moving*momentum + batch*(1-momentum)``.
    With an input mask (e.g. from ``Embedding(mask_zero=True)``) the training statistics count
    only the unmasked positions (Keras 3); the mask is passed on.
    Inference: uses the moving statistics. A layer with ``trainable=False`` always runs in
    inference mode (Keras 3 behaviour, for fine-tuning).

    Args:
        axis: the feature axis; only the last axis (-1 or ndim-1) is supported.
        momentum: default 0.99. epsilon: default 1e-3.
        synchronized: under a :class:`fusednet.distribution.DataParallel` ``fit`` (world size >
            1), normalise with the statistics of the whole global batch: the per-channel sum and
            centred sum of squares of the forward, and the two per-channel sums of the backward,
            are allreduced over the ranks (3 small allreduces per layer and step; CPU arrays).
            Anywhere else it is plain BatchNorm (bitwise).
        center / scale: learn beta / gamma (default True).
        beta_initializer 'zeros', gamma_initializer 'ones', moving_mean_initializer 'zeros',
        moving_variance_initializer 'ones'; beta_regularizer / gamma_regularizer optional.

    Shape:
        Any rank >= 2; output has the input's shape.

    Example:
        >>> bn = fusednet.layers.BatchNormalization(synchronized=True)
        >>> y = bn(fusednet.asarray(np.ones((4, 3), np.float32)), training=True)
    """

    supports_masking = True   # passes its input mask on (Keras)


    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        owner = f"BatchNormalization '{self.name}'"
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise ValueError(f"{owner}: axis must be an int, got {axis!r}")
        if beta_constraint is not None or gamma_constraint is not None:
            raise ValueError(f"{owner}: constraints are not supported")
        if not epsilon > 0:
            raise ValueError(f"{owner}: epsilon must be > 0, got {epsilon!r}")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = _init.get(beta_initializer)
        self.gamma_initializer = _init.get(gamma_initializer)
        self.moving_mean_initializer = _init.get(moving_mean_initializer)
        self.moving_variance_initializer = _init.get(moving_variance_initializer)
        self.beta_regularizer = _reg.get(beta_regularizer)
        self.gamma_regularizer = _reg.get(gamma_regularizer)
        self.synchronized = bool(synchronized)
        self.gamma = self.beta = None

    def build(self, input_shape):
        nd = len(input_shape)
        if self.axis not in (-1, nd - 1):
            raise ValueError(f"BatchNormalization '{self.name}': only the last axis is supported "
                             f"(axis=-1), got axis={self.axis} for input shape {tuple(input_shape)}")
        c = input_shape[-1]
        if c is None:
            raise ValueError(f"BatchNormalization '{self.name}': the channel axis must be defined, got "
                             f"input shape {tuple(input_shape)}")
        c = int(c)
        if self.scale:
            self.gamma = self.add_weight((c,), self.gamma_initializer, self.gamma_regularizer, name="gamma")
        if self.center:
            self.beta = self.add_weight((c,), self.beta_initializer, self.beta_regularizer, name="beta")
        self.moving_mean = self.add_weight((c,), self.moving_mean_initializer, trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight((c,), self.moving_variance_initializer, trainable=False,
                                               name="moving_variance")
        self.built = True

    def _check_input(self, shape):
        if self.built and shape[-1] != self.moving_mean.shape[0]:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected axis -1 "
                             f"of input shape to have value {self.moving_mean.shape[0]}, but received input "
                             f"with shape {tuple(shape)}")

    # ---------------------------------------------------------------- protocol
    def forward(self, ctx, x, training, strip=False):
        gd = self.gamma.data if self.gamma is not None else None
        bd = self.beta.data if self.beta is not None else None
        mm, mv = self.moving_mean.data, self.moving_variance.data
        ctx.x = x
        # Keras 3: a frozen BatchNormalization runs in inference mode even inside fit()
        ctx.training = bool(training) and self._trainable
        ctx.sync = _sync.current() if ctx.training and self.synchronized else None
        mask = ctx.__dict__.get("input_mask") if ctx.training else None
        ctx.masked = None
        if mask is not None and (not isinstance(mask, (list, tuple)) or mask[0] is not None):
            if ctx.sync is not None:
                raise NotImplementedError(f"BatchNormalization '{self.name}': synchronized=True with a "
                                          f"mask is not supported")
            y, ctx.mean, ctx.inv, ctx.masked = _masked_forward(self.name, x, mask, gd, bd, mm, mv,
                                                               self.momentum, self.epsilon)
        elif ctx.sync is not None:
            y, ctx.mean, ctx.inv, ctx.rows = _synced_forward(ctx.sync[0], x, gd, bd, mm, mv, self.momentum,
                                                             self.epsilon)
        elif ctx.training:
            y, ctx.mean, ctx.inv = _C.batch_norm_forward_train(x, gd, bd, mm, mv, self.momentum, self.epsilon)
        else:
            y = _C.batch_norm_forward_infer(x, gd, bd, mm, mv, self.epsilon)
            ctx.mean = ctx.inv = None
        return y

    def backward(self, ctx, dy, need_dx):
        gd = self.gamma.data if self.gamma is not None else None
        mean, inv = ctx.mean, ctx.inv
        if mean is None:
            mean, inv = self.moving_mean.data, _inv_std(self.moving_variance.data, self.epsilon)
        if ctx.__dict__.get("masked") is not None:
            dx, dg, db = _masked_backward(dy, ctx.x, gd, mean, inv, ctx.masked)
        elif ctx.__dict__.get("sync") is not None:
            dx, dg, db = _synced_backward(ctx.sync[0], ctx.sync[1], dy, ctx.x, gd, mean, inv, ctx.rows)
        else:
            dx, dg, db = _C.batch_norm_backward(dy, ctx.x, gd, mean, inv, ctx.training)
        return dx, _affine_grads(self, dg, db)

    def get_config(self):
        ser = _init.serialize
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "synchronized": self.synchronized,
                "beta_initializer": ser(self.beta_initializer), "gamma_initializer": ser(self.gamma_initializer),
                "moving_mean_initializer": ser(self.moving_mean_initializer),
                "moving_variance_initializer": ser(self.moving_variance_initializer),
                "beta_regularizer": _reg.serialize(self.beta_regularizer) if self.beta_regularizer else None,
                "gamma_regularizer": _reg.serialize(self.gamma_regularizer) if self.gamma_regularizer else None}


class LayerNormalization(Layer):
    """Layer normalization (Keras ``LayerNormalization``) over the last axis.

    ``gamma * (x - mean) / sqrt(var + epsilon) + beta`` with per-sample mean and biased variance.

    Args:
        axis: only the last axis (-1) is supported.
        epsilon: default 1e-3.
        center / scale: learn beta / gamma (default True).
        beta_initializer 'zeros', gamma_initializer 'ones'; regularizers optional.
    """

    supports_masking = True   # passes its input mask on (Keras)


    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"LayerNormalization '{self.name}'"
        if rms_scaling:
            raise ValueError(f"{owner}: rms_scaling is not supported")
        if beta_constraint is not None or gamma_constraint is not None:
            raise ValueError(f"{owner}: constraints are not supported")
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise ValueError(f"{owner}: only the last axis is supported, got axis={axis!r}")
            axis = axis[0]
        if not epsilon > 0:
            raise ValueError(f"{owner}: epsilon must be > 0, got {epsilon!r}")
        self.axis = int(axis)
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = _init.get(beta_initializer)
        self.gamma_initializer = _init.get(gamma_initializer)
        self.beta_regularizer = _reg.get(beta_regularizer)
        self.gamma_regularizer = _reg.get(gamma_regularizer)
        self.gamma = self.beta = None

    def build(self, input_shape):
        nd = len(input_shape)
        if self.axis not in (-1, nd - 1):
            raise ValueError(f"LayerNormalization '{self.name}': only the last axis is supported (axis=-1), "
                             f"got axis={self.axis} for input shape {tuple(input_shape)}")
        d = input_shape[-1]
        if d is None:
            raise ValueError(f"LayerNormalization '{self.name}': the last axis must be defined, got "
                             f"{tuple(input_shape)}")
        if self.scale:
            self.gamma = self.add_weight((int(d),), self.gamma_initializer, self.gamma_regularizer, name="gamma")
        if self.center:
            self.beta = self.add_weight((int(d),), self.beta_initializer, self.beta_regularizer, name="beta")
        self._dim = int(d)
        self.built = True

    def _check_input(self, shape):
        if self.built and shape[-1] != self._dim:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: expected axis -1 "
                             f"of input shape to have value {self._dim}, but received input with shape "
                             f"{tuple(shape)}")

    def forward(self, ctx, x, training, strip=False):
        gd = self.gamma.data if self.gamma is not None else None
        bd = self.beta.data if self.beta is not None else None
        y, ctx.mean, ctx.inv = _C.layer_norm_forward(x, gd, bd, self.epsilon)
        ctx.x = x
        return y

    def backward(self, ctx, dy, need_dx):
        gd = self.gamma.data if self.gamma is not None else None
        dx, dg, db = _C.layer_norm_backward(dy, ctx.x, gd, ctx.mean, ctx.inv)
        return dx, _affine_grads(self, dg, db)

    def get_config(self):
        ser = _init.serialize
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": False, "beta_initializer": ser(self.beta_initializer),
                "gamma_initializer": ser(self.gamma_initializer),
                "beta_regularizer": _reg.serialize(self.beta_regularizer) if self.beta_regularizer else None,
                "gamma_regularizer": _reg.serialize(self.gamma_regularizer) if self.gamma_regularizer else None}
