"""Activation names (Keras 3 spelling) → native kernel kinds.

``resolve(name)`` returns ``(kind, fused)``: ``kind`` is the canonical name understood by
``_C.activation_forward/backward`` (or 'softmax' / 'log_softmax' / 'linear'), ``fused`` is the
GEMM epilogue name when ``_C.matmul`` can apply it in the same pass (relu, sigmoid, tanh, and
'none' for linear), else None.

Also exposes Keras-style functions (``fusednet.activations.relu(x)`` ...) working on Tensors.
"""

_KINDS = {
    "linear": "linear", "relu": "relu", "relu6": "relu6", "leaky_relu": "leaky_relu",
    "elu": "elu", "selu": "selu", "gelu": "gelu", "gelu_tanh": "gelu_tanh",
    "sigmoid": "sigmoid", "hard_sigmoid": "hard_sigmoid", "tanh": "tanh",
    "softplus": "softplus", "softsign": "softsign", "silu": "silu", "swish": "silu",
    "mish": "mish", "exponential": "exponential", "softmax": "softmax",
    "log_softmax": "log_softmax",
}
_FUSED = {"linear": "none", "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}
_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}

ALL = sorted(_KINDS)


def resolve(identifier):
    """(kind, fused_epilogue_or_None) for an activation name, None (linear) or Activation-like."""
    if identifier is None:
        return "linear", "none"
    if callable(identifier) and getattr(identifier, "_fusednet_kind", None):
        identifier = identifier._fusednet_kind
    from .custom_activation import CustomActivation, lookup
    if isinstance(identifier, CustomActivation):
        return identifier, None
    if callable(identifier) and not isinstance(identifier, str):
        return CustomActivation(identifier), None      # a user's function: no fused epilogue
    if isinstance(identifier, str) and identifier.lower() not in _KINDS and lookup(identifier):
        return CustomActivation(lookup(identifier)), None
    if not isinstance(identifier, str):
        raise TypeError(f"activation must be a string name or None, got {identifier!r}; "
                        f"valid names: {', '.join(ALL)}")
    key = identifier.lower()
    kind = _KINDS.get(key)
    if kind is None:
        raise ValueError(f"Unknown activation {identifier!r}; valid names: {', '.join(ALL)}")
    return kind, _FUSED.get(kind)


def default_alpha(kind):
    """Keras default parameter for kinds that take one (leaky_relu 0.2, elu 1.0), else 0."""
    return _ALPHA.get(kind, 0.0)


def array_forward(x, kind):
    """y = kind(x) on a raw Array (compiled steps of layers whose activation is not fused)."""
    from . import _C
    if not isinstance(kind, str):       # CustomActivation
        return kind.forward_array(x)
    if kind == "softmax":
        return _C.softmax_forward(x)
    if kind == "log_softmax":
        return _C.log_softmax_forward(x)
    return _C.activation_forward(x, kind, default_alpha(kind))


def array_backward(dy, x, y, kind):
    """dx for y = array_forward(x, kind), given dy (softmax kinds use y only)."""
    from . import _C
    if not isinstance(kind, str):       # CustomActivation
        return kind.backward_array(dy, x)
    if kind == "softmax":
        return _C.softmax_backward(dy, y)
    if kind == "log_softmax":
        return _C.log_softmax_backward(dy, y)
    return _C.activation_backward(dy, x, y, kind, default_alpha(kind))


def get(identifier):
    """Keras ``activations.get``: the Tensor function for a name (None → linear)."""
    kind, _ = resolve(identifier)
    return kind if not isinstance(kind, str) else _FUNCS[kind]


def serialize(identifier):
    """Canonical name of an activation (a user's function: its registered name)."""
    kind = resolve(identifier)[0]
    return kind if isinstance(kind, str) else kind.config_name


def _make(kind):
    def f(x, **kwargs):
        from . import functional as F
        alpha = None
        for k in ("negative_slope", "alpha"):
            if k in kwargs:
                alpha = kwargs[k]
        return F.activation_fn(x, kind, alpha)
    f.__name__ = kind
    f.__doc__ = f"The {kind} activation applied elementwise (softmax variants: over the last axis)."
    f._fusednet_kind = kind
    return f


_FUNCS = {k: _make(k) for k in set(_KINDS.values())}
globals().update({k: _FUNCS[_KINDS[k]] for k in _KINDS})
