"""Inference-time layer fusion: Conv2D → BatchNormalization (→ ReLU / tanh) as ONE convolution.

At inference BatchNormalization is an affine map per channel, so it folds into the preceding
linear convolution: with s = gamma / sqrt(moving_var + eps),

    W' = W · s (over the output-channel axis),   b' = (b - moving_mean) · s + beta

(``_C.fold_batchnorm``), and ``BN(conv(x, W) + b) == conv(x, W') + b'``. A following
``Activation('relu')`` or ``Activation('tanh')`` then runs in the convolution's fused epilogue.
One conv call replaces conv + BN (+ activation): two or three full passes over the activation
tensor become one.

``inference_plan(model)`` builds the folded plan from the model's layer chain for ``predict`` /
``evaluate``. The folded weights are cached and rebuilt when ``refresh=True`` (predict and
evaluate pass it once per call, so weights changed by fit / set_weights / load_weights between
calls are always picked up), when any weight Array is replaced, or when the optimizer has
stepped. Only chains whose layers all support the array-level protocol are planned, on CPU (the
fold kernel is CPU-only for now); anything else returns None and the caller runs its usual path.

The fold changes float32 rounding only (results agree with the unfused path within
TOL["conv"]). ``set_enabled(False)`` / ``with disabled():`` turn folding off (e.g. to compare).
"""
import contextlib

from .. import _C
from .base import Context
from .conv import Conv2D
from .core import Activation
from .normalization import BatchNormalization

__all__ = ["inference_plan", "InferencePlan", "fold_conv_bn", "set_enabled", "is_enabled", "disabled"]

_ENABLED = [True]
_EPILOGUE_ACTS = ("relu", "tanh")   # fused epilogues that are never the loss-fusion output


def set_enabled(flag):
    """Turn Conv+BN folding at inference on (default) or off, globally."""
    _ENABLED[0] = bool(flag)


def is_enabled():
    return _ENABLED[0]


@contextlib.contextmanager
def disabled():
    """Context manager: run predict / evaluate without folding (for comparisons and debugging)."""
    old = _ENABLED[0]
    _ENABLED[0] = False
    try:
        yield
    finally:
        _ENABLED[0] = old


class InferencePlan:
    """A list of array-level steps ``f(x, strip) -> y``; folded groups count their calls.

    Attributes:
        groups: list of tuples of layer names folded into one convolution each.
        fused_calls: number of folded convolution calls run so far (for tests / profiling).
    """

    __slots__ = ("steps", "groups", "fused_calls")

    def __init__(self, steps, groups):
        self.steps = steps
        self.groups = groups
        self.fused_calls = 0

    def forward(self, x, strip=False):
        last = len(self.steps) - 1
        for i, f in enumerate(self.steps):
            x = f(x, strip and i == last)
        return x


def _foldable_bn(layer, channels):
    return (isinstance(layer, BatchNormalization) and layer.built and layer.axis in (-1, 3)
            and layer.moving_mean is not None and layer.moving_mean.shape[0] == channels)


def fold_conv_bn(conv, bn):
    """(kernel, bias) of ``bn(conv(x))`` as one convolution, from the layers' current weights."""
    b = conv.bias.data if conv.bias is not None else None
    gd = bn.gamma.data if bn.gamma is not None else None
    bd = bn.beta.data if bn.beta is not None else None
    return _C.fold_batchnorm(conv.kernel.data, b, gd, bd, bn.moving_mean.data, bn.moving_variance.data, bn.epsilon)


def _fused_step(plan_ref, conv, bn, act):
    w2, b2 = fold_conv_bn(conv, bn)
    args = (conv.strides, conv.padding, conv.dilation_rate, act)

    def step(x, strip):
        plan_ref[0].fused_calls += 1
        return _C.conv2d_forward(x, w2, b2, *args)
    return step


def _plain_step(layer):
    f = layer.forward
    return lambda x, strip: f(Context(), x, False, strip)


def _build(chain):
    ref = [None]
    steps, groups = [], []
    i = 0
    while i < len(chain):
        l = chain[i]
        if (isinstance(l, Conv2D) and l.built and l._kind == "linear" and i + 1 < len(chain)
                and _foldable_bn(chain[i + 1], l.filters) and l.kernel.data.device == "cpu"):
            bn = chain[i + 1]
            act, names, used = "none", (l.name, bn.name), 2
            nxt = chain[i + 2] if i + 2 < len(chain) else None
            if isinstance(nxt, Activation) and nxt._kind in _EPILOGUE_ACTS:
                act, names, used = nxt._kind, names + (nxt.name,), 3
            steps.append(_fused_step(ref, l, bn, act))
            groups.append(names)
            i += used
            continue
        steps.append(_plain_step(l))
        i += 1
    if not groups:
        return None
    plan = InferencePlan(steps, groups)
    ref[0] = plan
    return plan


def _key(model, chain):
    opt = getattr(model, "optimizer", None)
    return (tuple(id(l) for l in chain), tuple(id(w.data) for l in chain for w in l.weights),
            getattr(opt, "iterations", None))


def inference_plan(model, refresh=False):
    """The folded inference plan of ``model`` (an :class:`InferencePlan`), or None when folding
    is disabled or nothing in the model can be folded.

    Args:
        model: a Sequential or functional chain Model.
        refresh: rebuild the folded weights even if the cache looks valid (predict / evaluate
            pass True once per call).
    """
    if not _ENABLED[0]:
        return None
    chain = model._chain()
    # cheap exit first: without a Conv2D -> BatchNormalization pair there is nothing to fold (and
    # predict asks once per call: the checks below walk every layer and weight)
    if not chain or not any(isinstance(a, Conv2D) and isinstance(b, BatchNormalization)
                            for a, b in zip(chain, chain[1:])):
        return None
    if not all(l.supports_fast_path and l.built for l in chain):
        return None
    key = _key(model, chain)
    cache = model.__dict__.get("_fold_cache")
    if refresh or cache is None or cache[0] != key:
        cache = (key, _build(chain))
        model._fold_cache = cache
    return cache[1]
