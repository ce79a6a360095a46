"""Models fit must refuse: a layer marked ``_inference_only`` (the int8 layers of
:mod:`fusednet.quantization`) has a forward and no backward, so training around it would
silently leave it, and everything before it, unchanged."""

__all__ = ["inference_only_layer"]


def inference_only_layer(model):
    """The first layer (nested models searched) marked ``_inference_only`` (the int8 layers of
    :mod:`fusednet.quantization`), or None: fit refuses such models instead of training around them."""
    stack, seen = list(getattr(model, "layers", ()))[::-1], {id(model)}
    while stack:
        l = stack.pop()
        if id(l) in seen:
            continue
        seen.add(id(l))
        if getattr(l, "_inference_only", False):
            return l
        inner = list(getattr(l, "layers", ()) or ())      # nested models
        if getattr(l, "layer", None) is not None:            # wrappers (TimeDistributed, ...)
            inner.append(l.layer)
        stack.extend(inner[::-1])
    return None
