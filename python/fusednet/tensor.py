"""Tensor: a native :class:`fusednet.Array` plus reverse-mode autograd.

The autograd is deliberately thin (docs/ARCHITECTURE.md, invariant 5): every differentiable op records one
:class:`Function` node holding whatever its backward needs; ``Tensor.backward()`` walks the
recorded nodes in reverse topological order and each node's ``backward`` calls hand-written native
kernels only (no element loops in Python, no NumPy maths). The operators (``+ - * / // % ** @``,
unary ``-``, ``abs``, ``< <= > >=``, indexing, ``.T``) and the methods ``sum``, ``mean``,
``reshape``, ... are defined here, once, and route to :mod:`fusednet.ops` (imported lazily: ops
imports this module). ``==`` / ``!=`` keep Python identity (Tensors stay hashable and usable in
lists and dicts); use ``ops.equal`` / ``ops.not_equal`` for elementwise comparisons.
"""
import numpy as np

from . import _C

__all__ = ["Tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "tensor", "GradientTape"]

Array = _C.Array

_OPS = None


def _ops():
    """fusednet.ops, imported on first use (it imports this module)."""
    global _OPS
    if _OPS is None:
        from . import ops
        _OPS = ops
    return _OPS


def _binop(name, swap=False):
    """Operator method ``self <op> other`` (``other <op> self`` when swap) -> ``fusednet.ops.<name>``."""
    if swap:
        def f(self, other):
            return getattr(_ops(), name)(other, self)
    else:
        def f(self, other):
            return getattr(_ops(), name)(self, other)
    f.__name__ = name
    f.__doc__ = f"``ops.{name}`` with this tensor as the {'second' if swap else 'first'} operand."
    return f


def _method(name):
    """Tensor method forwarding its arguments to ``fusednet.ops.<name>(self, ...)``."""
    def f(self, *args, **kwargs):
        return getattr(_ops(), name)(self, *args, **kwargs)
    f.__name__ = name
    f.__doc__ = f"``ops.{name}(self, ...)``."
    return f


class _GradState:
    __slots__ = ("enabled",)

    def __init__(self):
        self.enabled = True


_state = _GradState()


def is_grad_enabled():
    """True when operations on tensors that require grad are being recorded."""
    return _state.enabled


class no_grad:
    """Context manager / decorator that disables recording of operations.

    Example:
        >>> with fusednet.no_grad():
        ...     y = model(x)          # no graph is built, no activations are kept
    """

    __slots__ = ("_prev",)

    def __enter__(self):
        self._prev = _state.enabled
        _state.enabled = False
        return self

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*a, **k):
            with no_grad():
                return fn(*a, **k)
        return wrapper


class enable_grad(no_grad):
    """Context manager that re-enables recording inside a :class:`no_grad` block."""

    __slots__ = ()

    def __enter__(self):
        self._prev = _state.enabled
        _state.enabled = True
        return self


class Function:
    """One recorded op on the tape.

    Subclasses store what their backward needs in their own slots and implement
    ``backward(grad) -> tuple`` returning one gradient Array (or None) per input, in the order of
    ``self.inputs``. ``backward`` must only call native kernels.
    """

    __slots__ = ("inputs",)

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError(type(self).__name__ + ".backward")


def _to_array(data, dtype=None):
    if isinstance(data, Array):
        if dtype is not None and data.dtype != dtype:
            return _C.asarray(data, dtype=dtype)
        return data
    if isinstance(data, Tensor):
        return data.data
    arr = np.asarray(data)
    if dtype is None:
        if arr.dtype.kind in "fc":
            dtype = "float32"
        elif arr.dtype.kind == "b":
            dtype = "float32"
        elif arr.dtype == np.int32:
            dtype = "int32"
        elif arr.dtype.kind in "iu":
            dtype = "int64"
        else:
            raise TypeError(f"Tensor: cannot convert data of dtype {arr.dtype} (shape {arr.shape})")
    if arr.dtype.kind == "c":
        raise TypeError(f"Tensor: complex data is not supported (shape {arr.shape})")
    return _C.asarray(np.asarray(arr, order="C"), dtype=dtype)


#: bumped whenever weights may have changed in place (optimizer steps, set_weights, assign, a new
#: predict/evaluate call): inference steps that cache transformed weights (Conv+BN folding)
#: rebuild them when it moves.
WEIGHTS_VERSION = [0]


def bump_weights_version():
    WEIGHTS_VERSION[0] += 1


def _value_array(value, like, op):
    """``value`` as an Array of ``like``'s shape, dtype and device (broadcast if needed)."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, _C.Array):
        if tuple(value.shape) == tuple(like.shape) and value.dtype == like.dtype and value.device == like.device:
            return value
        value = value.numpy() if value.device == "cpu" else value.to("cpu").numpy()
    a = np.asarray(value)
    if a.dtype == object or a.dtype.kind not in "fiub":
        raise TypeError(f"Tensor.{op}: cannot assign a value of dtype {a.dtype} to a {like.dtype} variable")
    try:
        a = np.broadcast_to(a, tuple(like.shape))
    except ValueError:
        raise ValueError(f"Tensor.{op}: value of shape {a.shape} does not match the variable's shape "
                         f"{tuple(like.shape)}") from None
    arr = _C.asarray(np.array(a, dtype=like.dtype, order="C"))  # (ascontiguousarray makes 0-d 1-d)
    return arr if like.device == "cpu" else arr.to(like.device)


class Tensor:
    """A :class:`fusednet.Array` that can take part in automatic differentiation.

    Args:
        data: an Array, NumPy array, nested sequence or scalar. Floating data becomes float32,
            integer data int64 (int32 is kept). NumPy float32 C-contiguous input is wrapped
            without copying.
        requires_grad: record operations on this tensor so ``backward()`` can fill ``.grad``.
        dtype: optional 'float32' / 'int32' / 'int64'.
        name: optional name (used by layers for their weights).

    Shape:
        Any; ``.shape`` is a tuple of ints.

    Example:
        >>> w = fusednet.Tensor(np.ones((3, 2), np.float32), requires_grad=True)
        >>> x = fusednet.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
        >>> loss = (x @ w).sum()
        >>> loss.backward()
        >>> w.grad.numpy()              # x summed over rows, broadcast to w's shape
    """

    __slots__ = ("data", "requires_grad", "grad", "_fn", "name", "_keras_mask", "__weakref__")

    __array_priority__ = 1000  # make ndarray + Tensor dispatch to Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        self.data = _to_array(data, dtype)
        if requires_grad and self.data.dtype != "float32":
            raise TypeError(f"Tensor: only float32 tensors can require grad, got {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._fn = None
        self.name = name

    # ------------------------------------------------------------------ properties
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return self.data.device

    @property
    def is_leaf(self):
        return self._fn is None

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        extra = ", requires_grad=True" if self.requires_grad else ""
        nm = f", name={self.name!r}" if self.name else ""
        if self.data.device == "cpu" and self.data.size <= 20:
            body = np.array2string(self.data.numpy(), separator=", ")
            return f"Tensor({body}, dtype={self.dtype}{extra}{nm})"
        return f"Tensor(shape={self.shape}, dtype={self.dtype}, device={self.device}{extra}{nm})"

    # ------------------------------------------------------------------ conversion
    # ------------------------------------------------------------------ in-place updates (Keras Variable API)
    @property
    def value(self):
        """The current value as a Tensor sharing this variable's buffer (no gradient history)."""
        return Tensor._wrap(self.data)

    def assign(self, value):
        """Overwrite the value in place (broadcast to the variable's shape). Returns self."""
        WEIGHTS_VERSION[0] += 1
        self.data.copy_(_value_array(value, self.data, "assign"))
        return self

    def _update(self, kind, value, op):
        WEIGHTS_VERSION[0] += 1
        v = _value_array(value, self.data, op)
        if self.data.dtype == "float32":
            _C.binary(kind, self.data, v, out=self.data)
        else:  # integer counters: the native binary kernels are float32-only
            a, b = self.numpy(), v.numpy() if v.device == "cpu" else v.to("cpu").numpy()
            self.assign(a + b if kind == "add" else a - b)
        return self

    def assign_add(self, value):
        """``self += value`` in place. Returns self."""
        return self._update("add", value, "assign_add")

    def assign_sub(self, value):
        """``self -= value`` in place. Returns self."""
        return self._update("sub", value, "assign_sub")

    def numpy(self):
        """A NumPy array sharing memory with this tensor (CPU only; copies from a device)."""
        if self.data.device != "cpu":
            return self.data.to("cpu").numpy()
        return self.data.numpy()

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a.astype(dtype) if dtype is not None else a

    def item(self):
        """The single value of a one-element tensor as a Python number."""
        return self.data.item()

    def __float__(self):
        return float(self.data.item())

    def __bool__(self):
        """Truth of a one-element tensor (so ``if ops.any(x > 0):`` works); ambiguous otherwise."""
        if self.data.size != 1:
            raise ValueError(f"Tensor: the truth value of a tensor of shape {self.shape} is ambiguous; "
                             f"use ops.any(...) or ops.all(...)")
        return bool(self.data.item())

    def detach(self):
        """A tensor sharing data with this one but cut from the graph."""
        return Tensor._wrap(self.data)

    def to(self, device):
        """Copy to ``device`` ('cpu', 'cuda', 'cuda:N'); differentiable (grads flow back)."""
        return _ops().to_device(self, device)

    def zero_grad(self):
        """Drop the accumulated gradient."""
        self.grad = None

    def requires_grad_(self, flag=True):
        """Set ``requires_grad`` in place (leaf tensors only) and return self."""
        if not self.is_leaf:
            raise ValueError("requires_grad_: only leaf tensors can change requires_grad")
        self.requires_grad = bool(flag)
        return self

    # ------------------------------------------------------------------ operators (-> fusednet.ops)
    __add__, __radd__ = _binop("add"), _binop("add", True)
    __sub__, __rsub__ = _binop("subtract"), _binop("subtract", True)
    __mul__, __rmul__ = _binop("multiply"), _binop("multiply", True)
    __truediv__, __rtruediv__ = _binop("divide"), _binop("divide", True)
    __floordiv__, __rfloordiv__ = _binop("floor_divide"), _binop("floor_divide", True)
    __mod__, __rmod__ = _binop("mod"), _binop("mod", True)
    __pow__, __rpow__ = _binop("power"), _binop("power", True)
    __matmul__, __rmatmul__ = _binop("matmul"), _binop("matmul", True)
    __lt__, __le__ = _binop("less"), _binop("less_equal")
    __gt__, __ge__ = _binop("greater"), _binop("greater_equal")
    __getitem__ = _binop("getitem")
    __neg__, __abs__ = _method("negative"), _method("abs")
    __hash__ = object.__hash__

    def __pos__(self):
        return self

    @property
    def T(self):
        """The tensor with its axes reversed (``ops.transpose``)."""
        return _ops().transpose(self)

    # ------------------------------------------------------------------ methods (-> fusednet.ops)
    sum, mean, max, min, prod = (_method(n) for n in ("sum", "mean", "max", "min", "prod"))
    var, std, argmax, argmin = (_method(n) for n in ("var", "std", "argmax", "argmin"))
    flatten, squeeze, expand_dims, clip = (_method(n) for n in ("flatten", "squeeze", "expand_dims", "clip"))
    exp, log, sqrt, square, abs = (_method(n) for n in ("exp", "log", "sqrt", "square", "abs"))
    relu, sigmoid, tanh, softmax = (_method(n) for n in ("relu", "sigmoid", "tanh", "softmax"))
    astype = _method("cast")

    def reshape(self, *shape):
        """``ops.reshape``; the shape may be given as one tuple or as separate ints."""
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = shape[0]
        return _ops().reshape(self, shape)

    def transpose(self, *axes):
        """``ops.transpose``; the permutation may be one tuple, separate ints, or omitted."""
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = axes[0]
        return _ops().transpose(self, tuple(axes) if axes else None)

    # ------------------------------------------------------------------ construction helpers
    @staticmethod
    def _wrap(arr):
        t = Tensor.__new__(Tensor)
        t.data = arr
        t.requires_grad = False
        t.grad = None
        t._fn = None
        t.name = None
        return t

    @staticmethod
    def _from_op(arr, fn, inputs):
        """Wrap ``arr`` as the result of ``fn`` applied to ``inputs`` (records when needed)."""
        t = Tensor.__new__(Tensor)
        t.data = arr
        t.grad = None
        t.name = None
        if _state.enabled and fn is not None:
            for i in inputs:
                if i.requires_grad:
                    fn.inputs = inputs
                    t.requires_grad = True
                    t._fn = fn
                    return t
        t.requires_grad = False
        t._fn = None
        return t

    # ------------------------------------------------------------------ autograd
    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        Args:
            grad: upstream gradient (Array/Tensor/NumPy) with this tensor's shape; may be
                omitted for one-element tensors (taken as 1).
            retain_graph: keep the recorded graph so ``backward`` can run again.
        """
        if not self.requires_grad:
            raise ValueError("backward: tensor does not require grad (no input of the graph had "
                             "requires_grad=True, or it was computed under no_grad())")
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"backward: grad can be implied only for one-element tensors, "
                                 f"got shape {self.shape}; pass grad=")
            g = _C.full(list(self.shape), 1.0, device=self.data.device)
        else:
            g = _to_array(grad, "float32")
            if tuple(g.shape) != tuple(self.shape):
                raise ValueError(f"backward: grad has shape {g.shape}, expected {self.shape}")
        # topological order (iterative DFS)
        order = []
        seen = set()
        stack = [(self, False)]
        while stack:
            t, done = stack.pop()
            if done:
                order.append(t)
                continue
            if id(t) in seen:
                continue
            seen.add(id(t))
            stack.append((t, True))
            fn = t._fn
            if fn is not None:
                for p in fn.inputs:
                    if p.requires_grad and id(p) not in seen:
                        stack.append((p, False))
        grads = {id(self): g}
        for t in reversed(order):
            g = grads.pop(id(t), None)
            if g is None:
                continue
            fn = t._fn
            if fn is None:
                if t.grad is None:
                    t.grad = Tensor._wrap(g if g is not grad else _C.asarray(g, copy=True))
                else:
                    t.grad = Tensor._wrap(_C.binary("add", t.grad.data, g))
                continue
            gs = fn.backward(g)
            for p, gp in zip(fn.inputs, gs):
                if gp is None or not p.requires_grad:
                    continue
                k = id(p)
                prev = grads.get(k)
                grads[k] = gp if prev is None else _C.binary("add", prev, gp)
            if not retain_graph:
                t._fn = None
                t.requires_grad = True  # still a (now detached) result; keeps user checks simple


def tensor(data, requires_grad=False, dtype=None):
    """Create a :class:`Tensor` (PyTorch-style factory)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


from .gradient_tape import GradientTape  # noqa: E402,F401  (re-exported: fusednet.tensor.GradientTape)
