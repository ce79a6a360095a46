"""The inference-plan fusion rule of the int8 layers: QuantizedConv2D → MaxPooling2D as one call.

The float plan runs Conv2D(relu) → MaxPooling2D as ``conv2d_maxpool_forward`` (the conv output is
never written); this is its quantized twin, registered with
:func:`fusednet.trainers.fusion.inference_rule` (quantized layers never run backward): a
``QuantizedConv2D`` with a relu or linear activation whose only consumer is a ``MaxPooling2D``
becomes one :class:`QConvPoolStep`, i.e. one ``_C.qconv2d_maxpool`` call. The values are the
unfused ones bit for bit (the kernel pools each group of images with the same max-pool kernel
right after the epilogue wrote it). ``fusednet.trainers.fusion.disabled()`` turns it off.
"""
from ..trainers import fusion as _plan_fusion

__all__ = ["QConvPoolStep", "qconv_maxpool"]


class QConvPoolStep:
    """QuantizedConv2D(relu | linear) → MaxPooling2D at inference: one native call.

    Args:
        conv: the QuantizedConv2D.
        pool: the MaxPooling2D reading only its output.

    Shape:
        (N, H, W, C) -> the pool's output shape.

    Example:
        >>> step = QConvPoolStep(qmodel.layers[1], qmodel.layers[2])   # built by the plan's rule
    """

    __slots__ = ("conv", "pool")

    def __init__(self, conv, pool):
        self.conv, self.pool = conv, pool

    def forward(self, ctx, x, training, strip=False):
        return self.conv.forward_pooled(x, self.pool)

    def backward(self, ctx, dy, need_dx):  # pragma: no cover - inference plans never run backward
        raise RuntimeError(f"QuantizedConv2D '{self.conv.name}': quantized layers are inference-only")

    @property
    def layers(self):
        return (self.conv, self.pool)


@_plan_fusion.inference_rule
def qconv_maxpool(nodes, i, consumers, make_step):
    """The rule (see :func:`fusednet.trainers.fusion.rule` for the signature)."""
    node = nodes[i]
    conv = node.layer
    if not _plan_fusion._is(conv, "QuantizedConv2D") or not conv.built or conv._kind not in ("relu", "linear") \
            or node.is_output or i + 1 >= len(nodes) or consumers.get(node.out_key, 0) != 1:
        return None
    nxt = nodes[i + 1]
    if not _plan_fusion._is(nxt.layer, "MaxPooling2D") or nxt.in_keys != (node.out_key,):
        return None
    return [make_step(nxt, impl=QConvPoolStep(conv, nxt.layer), in_keys=node.in_keys)], 2
