"""Fusion rules of the compiled graph plan, in one registry, behind one switch.

A rule looks at a node of the graph (with who consumes what) and may replace it, and the nodes
it swallows, by one fused step. Rules (in order):

* ``conv_relu_maxpool``: Conv2D(activation='relu') whose only consumer is MaxPooling2D becomes
  one ``conv2d_maxpool_forward/backward`` step (the conv's output is never written); when the
  pool cannot take the conv (the conv ends the graph) the pool's backward still applies relu'
  for the conv (``relu_mask`` / ``relu_done``), saving the conv's own mask pass;
* ``loss_fusion`` (applied by the plan on output nodes): a final softmax/sigmoid is skipped and
  the loss runs its fused kernel on the logits;
* at inference, Conv2D + BatchNormalization (+ relu/tanh) folding (``layers/fusion.py``).
Dense/Conv bias + activation are fused inside their kernels' epilogues and need no rule.

Every rule gives the same values as the unfused steps, bit for bit, except BN folding (float32
rounding of the folded weights; within TOL["conv"]). ``set_enabled(False)`` / ``with
disabled():`` turn every rule off (tests compare both).
"""
import contextlib

__all__ = ["set_enabled", "is_enabled", "disabled", "RULES", "rule"]

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


def apply(nodes, consumers, make_step):
    """Steps for ``nodes`` (a topological list) with every enabled rule applied."""
    steps, i = [], 0
    while i < len(nodes):
        got = None
        if _ENABLED[0]:
            for r in RULES:
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
