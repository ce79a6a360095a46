"""A user's Python function as a layer activation (``Dense(1, activation=my_fn)``, Keras-style).

``my_fn`` takes and returns a :class:`~fusednet.Tensor` (it is written with ``fusednet.ops`` or
Tensor operators, as a Keras user writes it with ``keras.ops``). Layers run their activations on
raw Arrays inside the compiled step, so the function is wrapped here: forward calls it on a
Tensor view of the pre-activation; backward calls it again under a local tape and back-propagates
``dy`` through the kernels the function used. Recomputing in backward (rather than keeping a tape
per call) keeps the layer protocol's "ctx holds Arrays only" rule and costs one extra forward of
an elementwise function -- the fused built-in names stay the fast path.

Serialisation: the activation's config name is the function's registered name
(``@register_keras_serializable`` -> ``"package>name"``), else its ``__name__``; ``load_model``
resolves it through ``custom_objects`` / the custom-object scope / the registry, like Keras.
"""
__all__ = ["CustomActivation", "lookup"]


class CustomActivation:
    """A Python activation function usable where layers take an activation kind.

    Args:
        fn: callable ``Tensor -> Tensor`` (same shape).

    Shape:
        Any; the function must return its input's shape.

    Example:
        >>> layer = fusednet.layers.Dense(4, activation=lambda x: x * x)
    """

    def __init__(self, fn):
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "custom_activation")

    def __call__(self, x, **kwargs):
        return self.fn(x, **kwargs) if kwargs else self.fn(x)

    @property
    def config_name(self):
        from .saving.registration import get_registered_name
        return get_registered_name(self.fn)

    def _run(self, x, record):
        from .tensor import Tensor, enable_grad
        t = Tensor(x, requires_grad=record)
        with enable_grad():
            y = self.fn(t)
        if not isinstance(y, Tensor):
            raise TypeError(f"activation {self.__name__!r} must return a Tensor (use fusednet.ops), "
                            f"got {type(y).__name__}")
        if tuple(y.shape) != tuple(x.shape):
            raise ValueError(f"activation {self.__name__!r} returned shape {tuple(y.shape)} for input "
                             f"shape {tuple(x.shape)}; an activation must keep the shape")
        return t, y

    def forward_array(self, x):
        """y = fn(x) on a raw Array."""
        return self._run(x, False)[1].data

    def backward_array(self, dy, x):
        """dx = dy * fn'(x): fn re-run on ``x`` under a tape, ``dy`` back-propagated through it."""
        from . import _C
        t, y = self._run(x, True)
        if not y.requires_grad:          # fn ignored its input: a constant has zero gradient
            return _C.scale(dy, 0.0)
        y.backward(dy)
        return t.grad.data if hasattr(t.grad, "data") else t.grad

    def __repr__(self):
        return f"CustomActivation({self.__name__})"


def lookup(name):
    """The registered / in-scope function called ``name`` (``package>name`` or bare), or None."""
    from .saving.registration import get_registered_object, get_custom_objects
    obj = get_registered_object(name)
    if obj is None and ">" not in name:      # a bare name registered under a package
        hits = [v for k, v in get_custom_objects().items() if k.split(">")[-1] == name]
        obj = hits[0] if len(hits) == 1 else None
    return obj if callable(obj) else None
