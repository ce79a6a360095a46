"""Merge layers (Keras 3): Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot,
and their functional forms ``add(inputs)``, ``concatenate(inputs, axis=-1)``, ...

Each takes a list of inputs. Element-wise merges follow NumPy broadcasting over the non-batch
axes (Keras allows it too); the backward sums a gradient back to each input's shape
(``_C.sum_to_shape``). Maximum/Minimum send the gradient at a tie to the first input holding the
extreme (TensorFlow's rule for ``maximum``; PyTorch splits ties evenly): the total gradient is
conserved either way. All maths is native (``_C.binary``, ``_C.concat``, ``_C.reduce``), through
the one layer protocol (``forward``/``backward``), so merges run on the compiled plan.
"""
from .. import _C
from .base import Layer

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]


def _broadcast(shapes, owner):
    """Broadcast shapes (None = unknown, e.g. the batch axis); ValueError names the layer."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"{owner}: inputs with shapes {[tuple(s) for s in shapes]} cannot be "
                             f"broadcast together")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


class _Merge(Layer):
    """Base of the merge layers: a list of >= ``min_inputs`` tensors in, one out."""

    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        """Keras merges: the logical AND of the inputs' masks (an unmasked input counts as all
        ones), or None when no input is masked."""
        if mask is None:
            return None
        from .masks import and_masks
        return and_masks(mask if isinstance(mask, (list, tuple)) else [mask])

    min_inputs, max_inputs = 2, None

    def _shapes(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape or \
                not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects a list of inputs, "
                             f"got a single input of shape {input_shape}")
        n = len(input_shape)
        if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
            want = f"exactly {self.max_inputs}" if self.max_inputs == self.min_inputs else \
                f"at least {self.min_inputs}"
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects {want} inputs, got {n}")
        return [tuple(s) for s in input_shape]

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return _broadcast(self._shapes(input_shape), f"Layer '{self.name}' ({type(self).__name__})")

    def _check_arrays(self, xs):
        if not isinstance(xs, (list, tuple)):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects a list of inputs, "
                             f"got one Array of shape {tuple(xs.shape)}")
        self.compute_output_shape([tuple(x.shape) for x in xs])
        for x in xs:
            if x.dtype != "float32":
                raise TypeError(f"Layer '{self.name}': inputs must be float32, got {x.dtype}")

    @staticmethod
    def _to_shapes(ctx, grads):
        return [g if tuple(g.shape) == s else _C.sum_to_shape(g, list(s)) for g, s in zip(grads, ctx.shapes)]


class _Fold(_Merge):
    """Element-wise merges computed as a left fold of one binary op."""

    op = None

    def forward(self, ctx, xs, training, strip=False):
        self._check_arrays(xs)
        ctx.shapes = [tuple(x.shape) for x in xs]
        out = xs[0]
        for x in xs[1:]:
            out = _C.binary(self.op, out, x)
        self._keep(ctx, xs, out)
        return out

    def _keep(self, ctx, xs, out):
        pass


class Add(_Fold):
    """Sum of a list of inputs (same shape, or broadcastable).

    Args:
        **kwargs: base layer arguments (name, ...).

    Shape:
        inputs: a list of tensors of shape ``(batch, ...)``; output: their broadcast shape.

    Example:
        >>> x = fusednet.Input((16,)); h = Dense(16)(x)
        >>> y = fusednet.layers.Add()([x, h])       # a residual connection
    """

    op = "add"

    def backward(self, ctx, dy, need_dx):
        return (self._to_shapes(ctx, [dy] * len(ctx.shapes)) if need_dx else None), []


class Subtract(_Fold):
    """``inputs[0] - inputs[1]`` (exactly two inputs).

    Shape: two tensors ``(batch, ...)``, broadcastable; output: their broadcast shape.

    Example:
        >>> d = fusednet.layers.Subtract()([a, b])
    """

    op = "sub"
    min_inputs = max_inputs = 2

    def backward(self, ctx, dy, need_dx):
        return (self._to_shapes(ctx, [dy, _C.scale(dy, -1.0)]) if need_dx else None), []


class Multiply(_Fold):
    """Element-wise product of a list of inputs.

    Shape: a list of tensors ``(batch, ...)``, broadcastable; output: their broadcast shape.

    Example:
        >>> gated = fusednet.layers.Multiply()([h, gate])
    """

    op = "mul"

    def _keep(self, ctx, xs, out):
        ctx.xs = list(xs)

    def backward(self, ctx, dy, need_dx):
        xs = ctx.xs
        ctx.xs = None
        if not need_dx:
            return None, []
        grads = []
        for i in range(len(xs)):
            g = dy
            for j, x in enumerate(xs):
                if j != i:
                    g = _C.binary("mul", g, x)
            grads.append(g)
        return self._to_shapes(ctx, grads), []


class Average(_Fold):
    """Mean of a list of inputs.

    Shape: a list of tensors ``(batch, ...)``, broadcastable; output: their broadcast shape.

    Example:
        >>> y = fusednet.layers.Average()([branch_a, branch_b])
    """

    op = "add"

    def forward(self, ctx, xs, training, strip=False):
        return _C.scale(super().forward(ctx, xs, training), 1.0 / len(xs))

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        g = _C.scale(dy, 1.0 / len(ctx.shapes))
        return self._to_shapes(ctx, [g] * len(ctx.shapes)), []


class _Extreme(_Fold):
    def _keep(self, ctx, xs, out):
        ctx.xs, ctx.out = list(xs), out

    def backward(self, ctx, dy, need_dx):
        xs, out = ctx.xs, ctx.out
        ctx.xs = ctx.out = None
        if not need_dx:
            return None, []
        grads, left = [], None     # left: 1 where no earlier input has taken the gradient
        for x in xs:
            m = _C.binary("equal", x, out)
            if left is not None:
                m = _C.binary("mul", m, left)
            left = _C.binary("sub", _C.full(list(m.shape), 1.0, device=m.device) if left is None else left, m)
            grads.append(_C.binary("mul", dy, m))
        return self._to_shapes(ctx, grads), []


class Maximum(_Extreme):
    """Element-wise maximum of a list of inputs (gradient at ties: to the first maximal input).

    Shape: a list of tensors ``(batch, ...)``, broadcastable; output: their broadcast shape.

    Example:
        >>> y = fusednet.layers.Maximum()([a, b])
    """

    op = "maximum"


class Minimum(_Extreme):
    """Element-wise minimum of a list of inputs (gradient at ties: to the first minimal input).

    Shape: a list of tensors ``(batch, ...)``, broadcastable; output: their broadcast shape.

    Example:
        >>> y = fusednet.layers.Minimum()([a, b])
    """

    op = "minimum"


class Concatenate(_Merge):
    """Concatenation of a list of inputs along ``axis``.

    Args:
        axis: the axis to join along (default -1, the channels/features axis); the batch axis
            counts (axis 0), as in Keras.

    Shape: tensors equal in every axis but ``axis``; output: the sum of their ``axis`` sizes.

    Example:
        >>> y = fusednet.layers.Concatenate()([tower_a, tower_b])   # (batch, 32) + (batch, 16) -> (batch, 48)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"Concatenate: axis must be an int, got {axis!r}")
        self.axis = axis

    def compute_mask(self, inputs, mask=None):
        """Keras: masks concatenated along the time axis when joining steps (axis 1), else
        AND-ed (feature axis); an unmasked input counts as all ones."""
        if mask is None or all(m is None for m in mask):
            return None
        shapes = [tuple(x.shape) for x in inputs]
        if self._axis(len(shapes[0])) != 1:
            return super().compute_mask(inputs, mask)
        from .masks import as_mask_array
        ms = [as_mask_array(m) if m is not None else _C.full(list(sh[:2]), 1.0) for m, sh in zip(mask, shapes)]
        return _C.concat(ms, 1)

    def _axis(self, rank):
        a = self.axis + rank if self.axis < 0 else self.axis
        if not 0 < a < rank:
            raise ValueError(f"Layer '{self.name}' (Concatenate): axis={self.axis} is out of range for "
                             f"inputs of rank {rank} (the batch axis 0 cannot be concatenated)")
        return a

    def compute_output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        rank = len(shapes[0])
        a = self._axis(rank)
        for s in shapes:
            if len(s) != rank or any(d0 is not None and d is not None and d0 != d
                                     for i, (d0, d) in enumerate(zip(shapes[0], s)) if i != a):
                raise ValueError(f"Layer '{self.name}' (Concatenate) requires inputs with matching shapes "
                                 f"except for the concatenation axis {self.axis}; got inputs with shapes "
                                 f"{shapes}")
        sizes = [s[a] for s in shapes]
        out = list(shapes[0])
        out[a] = None if any(d is None for d in sizes) else sum(sizes)
        return tuple(out)

    def forward(self, ctx, xs, training, strip=False):
        self._check_arrays(xs)
        a = self._axis(len(xs[0].shape))
        ctx.axis, ctx.sizes = a, [x.shape[a] for x in xs]
        return _C.concat(list(xs), a)

    def backward(self, ctx, dy, need_dx):
        if not need_dx:
            return None, []
        grads, start = [], 0
        for n in ctx.sizes:
            grads.append(_C.slice_axis(dy, ctx.axis, start, start + n))
            start += n
        return grads, []

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dot(_Merge):
    """Dot product of two inputs over ``axes`` (per sample).

    Args:
        axes: the axis (int) or pair of axes ``(a0, a1)`` contracted, counting the batch axis as 0
            (Keras); negative values count from the end.
        normalize: L2-normalise both inputs along the contracted axes first (the result is then
            the cosine similarity).

    Shape: rank-2 inputs ``(batch, d)`` give ``(batch, 1)``; rank-3 inputs ``(batch, n, d)``
    and ``(batch, m, d)`` contracted on axes (2, 2) give ``(batch, n, m)`` (other axis pairs
    likewise, as a batched matrix product).

    Example:
        >>> sim = fusednet.layers.Dot(axes=1, normalize=True)([u, v])   # cosine similarity
    """

    min_inputs = max_inputs = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, int) and not isinstance(axes, bool):
            axes = (axes, axes)
        if not (isinstance(axes, (tuple, list)) and len(axes) == 2 and
                all(isinstance(a, int) and not isinstance(a, bool) for a in axes)):
            raise TypeError(f"Dot: axes must be an int or a pair of ints, got {axes!r}")
        self.axes = tuple(axes)
        self.normalize = bool(normalize)

    def _axes(self, shapes):
        ax = []
        for a, s in zip(self.axes, shapes):
            r = len(s)
            if r not in (2, 3):
                raise ValueError(f"Layer '{self.name}' (Dot) supports inputs of rank 2 or 3, got shapes {shapes}")
            b = a + r if a < 0 else a
            if not 0 < b < r:
                raise ValueError(f"Layer '{self.name}' (Dot): axes={self.axes} out of range for shapes {shapes}")
            ax.append(b)
        if len(shapes[0]) != len(shapes[1]):
            raise ValueError(f"Layer '{self.name}' (Dot) needs inputs of equal rank, got shapes {shapes}")
        d0, d1 = shapes[0][ax[0]], shapes[1][ax[1]]
        if d0 is not None and d1 is not None and d0 != d1:
            raise ValueError(f"Layer '{self.name}' (Dot): the contracted axes differ in size: {shapes} "
                             f"on axes {tuple(ax)}")
        return ax

    def compute_output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        a0, a1 = self._axes(shapes)
        if len(shapes[0]) == 2:
            return (shapes[0][0], 1)
        return (shapes[0][0], shapes[0][3 - a0], shapes[1][3 - a1])

    def forward(self, ctx, xs, training, strip=False):
        self._check_arrays(xs)
        a, b = xs
        ax = self._axes([tuple(a.shape), tuple(b.shape)])
        ctx.ax = ax
        if self.normalize:
            a, ctx.na = _l2n(a, ax[0])
            b, ctx.nb = _l2n(b, ax[1])
        ctx.a, ctx.b = a, b
        if len(a.shape) == 2:
            return _C.reduce("sum", _C.binary("mul", a, b), [1], True)
        # rank 3: out[s] = op(a[s]) @ op(b[s]) with op making the contracted axis inner
        ta, tb = ax[0] == 1, ax[1] == 2
        return _C.bmm(a, b, trans_a=ta, trans_b=tb)  # one batched GEMM, no per-sample loop

    def backward(self, ctx, dy, need_dx):
        a, b, ax = ctx.a, ctx.b, ctx.ax
        ctx.a = ctx.b = None
        if not need_dx:
            return None, []
        if len(a.shape) == 2:
            da, db = _C.binary("mul", dy, b), _C.binary("mul", dy, a)
        else:
            ta, tb = ax[0] == 1, ax[1] == 2
            # out = opA(A) @ opB(B) per sample: d opA(A) = G @ opB(B)ᵀ, d opB(B) = opA(A)ᵀ @ G
            da = _C.bmm(b, dy, trans_a=tb, trans_b=True) if ta else _C.bmm(dy, b, trans_b=not tb)
            db = _C.bmm(dy, a, trans_a=True, trans_b=ta) if tb else _C.bmm(a, dy, trans_a=not ta)
        if self.normalize:
            da = _l2n_backward(da, a, ctx.na, ax[0])
            db = _l2n_backward(db, b, ctx.nb, ax[1])
        return [da, db], []

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


_EPS = 1e-12


def _l2n(x, axis):
    """x / max(||x||, eps) along axis, and the clamped norms (kept for the backward)."""
    n = _C.unary("sqrt", _C.reduce("sum", _C.binary("mul", x, x), [axis], True))
    n = _C.binary("maximum", n, _C.full([1], _EPS, device=x.device))
    return _C.binary("div", x, n), n


def _l2n_backward(g, xhat, n, axis):
    """d x from d xhat for xhat = x / n: (g - xhat * sum(g * xhat)) / n."""
    s = _C.reduce("sum", _C.binary("mul", g, xhat), [axis], True)
    return _C.binary("div", _C.binary("sub", g, _C.binary("mul", xhat, s)), n)


def _functional(cls):
    def fn(inputs, **kwargs):
        return cls(**kwargs)(inputs)
    fn.__name__ = cls.__name__.lower()
    fn.__doc__ = f"Functional form of :class:`{cls.__name__}`: ``{fn.__name__}(inputs, **kwargs)``."
    return fn


add, subtract, multiply, average = (_functional(c) for c in (Add, Subtract, Multiply, Average))
maximum, minimum, concatenate = (_functional(c) for c in (Maximum, Minimum, Concatenate))


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """Functional form of :class:`Dot`: ``dot(inputs, axes, normalize=False)``."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
