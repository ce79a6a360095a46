"""Fusion rules of the compiled graph plan, in one registry, behind one switch.

A rule looks at a node of the graph (with who consumes what) and may replace it, and the nodes
it swallows, by one fused step. Rules (in order):

* ``conv_relu_maxpool``: Conv2D(activation='relu') whose only consumer is MaxPooling2D becomes
  one ``conv2d_maxpool_forward/backward`` step (the conv's output is never written); when the
  pool cannot take the conv (the conv ends the graph) the pool's backward still applies relu'
  for the conv (``relu_mask`` / ``relu_done``), saving the conv's own mask pass;
* ``loss_fusion`` (applied by the plan on output nodes): a final softmax/sigmoid is skipped and
  the loss runs its fused kernel on the logits;
* ``conv_bn_fold`` (inference plans only, any DAG): Conv2D (linear) → BatchNormalization (→
  relu/tanh), each the only consumer of the previous, becomes one convolution with the folded
  weights and the activation in its epilogue (chains also fold in ``layers/fusion.py``); the
  folded weights are checked once per predict/evaluate call (:func:`new_generation`) and rebuilt
  when the source weights' fingerprint changed; a folded
  3x3 stride-1 conv with >= 32 channels each side runs as Winograd F(4x4,3x3) on the kernel
  transformed once per generation (:mod:`.winograd`).
Dense/Conv bias + activation are fused inside their kernels' epilogues and need no rule.

Every rule gives the same values as the unfused steps, bit for bit, except BN folding (float32
rounding of the folded weights; within TOL["conv"]) and Winograd (within TOL["winograd"]). ``set_enabled(False)`` / ``with
disabled():`` turn every rule off (tests compare both).
"""
import contextlib

from .. import _C
from ..layers.fusion import fold_conv_bn
from ..tensor import WEIGHTS_VERSION
from . import winograd as _wino

__all__ = ["set_enabled", "is_enabled", "disabled", "RULES", "INFERENCE_RULES", "rule", "inference_rule",
           "new_generation"]

_ENABLED = [True]


def set_enabled(flag):
    """Turn every fusion rule on (default) or off, globally."""
    _ENABLED[0] = bool(flag)


def is_enabled():
    return _ENABLED[0]


@contextlib.contextmanager
def disabled():
    """Context manager: plans built inside it use no fusion rule."""
    old = _ENABLED[0]
    _ENABLED[0] = False
    try:
        yield
    finally:
        _ENABLED[0] = old


RULES = []
INFERENCE_RULES = []       # rules for plans that never run backward (predict / evaluate)


def new_generation():
    """Weights may have changed (a new predict / evaluate call): folded steps refold once."""
    WEIGHTS_VERSION[0] += 1


def inference_rule(fn):
    """Register a rule applied only to inference plans (same signature as :func:`rule`)."""
    INFERENCE_RULES.append(fn)
    return fn


def rule(fn):
    """Register ``fn(nodes, i, consumers, make_step) -> ([steps], n_nodes_swallowed) | None``:
    ``nodes[i:i+n]`` (topological order) are replaced by ``steps``; ``consumers[key]`` counts the
    nodes reading a value; ``make_step(node, impl=, flags=, in_keys=)`` builds a step."""
    RULES.append(fn)
    return fn


class ConvPoolStep:
    """Conv2D(relu) -> MaxPooling2D as one native call each way."""

    __slots__ = ("conv", "pool")

    def __init__(self, conv, pool):
        self.conv, self.pool = conv, pool

    def forward(self, ctx, x, training, strip=False):
        return self.conv.forward_pooled(ctx, x, self.pool)

    def backward(self, ctx, dy, need_dx):
        return self.conv.backward_pooled(ctx, dy, self.pool, need_dx)

    @property
    def layers(self):
        return (self.conv, self.pool)


def _is(layer, name):
    # exact types: a subclass may override forward/backward and not honour the context flags
    return type(layer).__name__ == name and layer.__module__.startswith("fusednet.")


@rule
def conv_relu_maxpool(nodes, i, consumers, make_step):
    node = nodes[i]
    if not _is(node.layer, "Conv2D") or node.layer._ep != "relu" or i + 1 >= len(nodes):
        return None
    nxt = nodes[i + 1]
    if not _is(nxt.layer, "MaxPooling2D") or nxt.in_keys != (node.out_key,) or \
            consumers.get(node.out_key, 0) != 1:
        return None
    if nxt.is_output:
        # the pool ends the graph (its output feeds the loss): two steps, the pool applying
        # relu' for the conv in its backward so the conv skips its own mask pass
        return [make_step(node, flags={"relu_done": True}),
                make_step(nxt, flags={"relu_mask": True})], 2
    return [make_step(nxt, impl=ConvPoolStep(node.layer, nxt.layer), in_keys=node.in_keys)], 2


class FoldedConvStep:
    """Conv2D → BatchNormalization (→ relu/tanh) at inference as one convolution."""

    __slots__ = ("conv", "bn", "act", "gen", "w", "b", "u", "key")

    def __init__(self, conv, bn, act):
        self.conv, self.bn, self.act, self.gen, self.key, self.u = conv, bn, act, None, None, None

    def _source_key(self):
        # the weights' content (a 64-bit fingerprint) + epsilon: a new predict call bumps the
        # generation (weights may have been written through a NumPy view), but refolding and
        # retransforming are skipped when the source weights are unchanged
        c, bn = self.conv, self.bn
        arrays = [c.kernel.data, c.bias.data if c.bias is not None else None,
                  bn.gamma.data if bn.gamma is not None else None, bn.beta.data if bn.beta is not None else None,
                  bn.moving_mean.data, bn.moving_variance.data]
        return _C.weights_fingerprint(arrays), float(bn.epsilon)

    def forward(self, ctx, x, training, strip=False):
        if self.gen != WEIGHTS_VERSION[0]:
            key, want_u = self._source_key(), _wino.eligible(self.conv, self.act)
            if key != self.key:
                self.w, self.b = fold_conv_bn(self.conv, self.bn)
                self.u, self.key = None, key
            if want_u and self.u is None:
                self.u = _wino.transform(self.w)
            elif not want_u:
                self.u = None
            self.gen = WEIGHTS_VERSION[0]
        c = self.conv
        if self.u is not None and _wino.is_enabled():
            return _wino.forward(x, self.u, self.b, c.padding, self.act)
        return _C.conv2d_forward(x, self.w, self.b, c.strides, c.padding, c.dilation_rate, self.act)

    def backward(self, ctx, dy, need_dx):  # pragma: no cover - inference plans never run backward
        raise RuntimeError("a folded Conv+BN step belongs to an inference plan and has no backward")

    @property
    def layers(self):
        return (self.conv, self.bn)


@inference_rule
def conv_bn_fold(nodes, i, consumers, make_step):
    node = nodes[i]
    conv = node.layer
    if not _is(conv, "Conv2D") or not conv.built or conv._kind != "linear" or node.is_output or \
            i + 1 >= len(nodes) or conv.kernel.data.device != "cpu" or consumers.get(node.out_key, 0) != 1:
        return None
    bn_node = nodes[i + 1]
    bn = bn_node.layer
    if not _is(bn, "BatchNormalization") or bn_node.in_keys != (node.out_key,) or bn.axis not in (-1, 3) or \
            bn.moving_mean is None or bn.moving_mean.shape[0] != conv.filters:
        return None
    last, act, used = bn_node, "none", 2
    if i + 2 < len(nodes) and not bn_node.is_output and consumers.get(bn_node.out_key, 0) == 1:
        a = nodes[i + 2]
        if _is(a.layer, "Activation") and a.layer._kind in ("relu", "tanh") and a.in_keys == (bn_node.out_key,):
            last, act, used = a, a.layer._kind, 3
    return [make_step(last, impl=FoldedConvStep(conv, bn, act), in_keys=node.in_keys)], used


def apply(nodes, consumers, make_step, inference=False):
    """Steps for ``nodes`` (a topological list) with every enabled rule applied (and the
    inference rules when the plan never runs backward)."""
    rules = (INFERENCE_RULES + RULES) if inference else RULES
    steps, i = [], 0
    while i < len(nodes):
        got = None
        if _ENABLED[0]:
            for r in rules:
                got = r(nodes, i, consumers, make_step)
                if got is not None:
                    break
        if got is None:
            steps.append(make_step(nodes[i]))
            i += 1
        else:
            steps.extend(got[0])
            i += got[1]
    return steps
