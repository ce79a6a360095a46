"""``fusednet.GradientTape``: the TensorFlow-shaped custom training loop on fusednet's tape
(``with GradientTape() as tape: ...; tape.gradient(loss, variables)``)."""
from .tensor import Tensor, enable_grad

__all__ = ["GradientTape"]


class GradientTape:
    """Records operations for differentiation, in the shape of ``tf.GradientTape``: a custom
    training loop with ``tape.gradient`` and ``optimizer.apply_gradients``.

    Weights (Tensors with ``requires_grad``) are watched automatically; call ``tape.watch(x)`` for
    an input whose gradient you want. The gradients come from the same backward kernels as
    ``Tensor.backward``; the sources' ``.grad`` fields are left as they were.

    Args:
        persistent: allow several ``gradient`` calls (the recorded graph is kept).

    Example:
        >>> with fusednet.GradientTape() as tape:
        ...     loss = loss_fn(y, model(x, training=True))
        >>> grads = tape.gradient(loss, model.trainable_weights)
        >>> optimizer.apply_gradients(zip(grads, model.trainable_weights))
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = bool(persistent)
        self._ctx = None
        self._used = False

    def __enter__(self):
        self._ctx = enable_grad()
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        return False

    def watch(self, tensor):
        """Track ``tensor`` (a Tensor, or a list of them) so gradients can be taken w.r.t. it."""
        for t in tensor if isinstance(tensor, (list, tuple)) else [tensor]:
            if not isinstance(t, Tensor):
                raise TypeError(f"GradientTape.watch: expected a Tensor, got {type(t).__name__}")
            t.requires_grad = True

    def gradient(self, target, sources, output_gradients=None):
        """d target / d sources: a Tensor per source (None where the target does not depend on
        it), in the structure of ``sources`` (one Tensor, a list/tuple, or a dict)."""
        if self._used and not self.persistent:
            raise RuntimeError("GradientTape.gradient can only be called once on a non-persistent tape "
                               "(use GradientTape(persistent=True))")
        self._used = True
        if isinstance(sources, dict):
            keys, srcs = list(sources), list(sources.values())
        elif isinstance(sources, (list, tuple)):
            keys, srcs = None, list(sources)
        else:
            keys, srcs = None, [sources]
        for s in srcs:
            if not isinstance(s, Tensor):
                raise TypeError(f"GradientTape.gradient: sources must be Tensors, got {type(s).__name__}")
        saved = [s.grad for s in srcs]
        for s in srcs:
            s.grad = None
        try:
            if isinstance(target, Tensor) and target.requires_grad:
                target.backward(output_gradients, retain_graph=self.persistent)
            grads = [s.grad for s in srcs]
        finally:
            for s, g in zip(srcs, saved):
                s.grad = g
        if keys is not None:
            return dict(zip(keys, grads))
        return grads if isinstance(sources, (list, tuple)) else grads[0]
