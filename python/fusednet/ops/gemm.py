"""Differentiable matrix products on Tensors (csrc family: gemm).

``matmul`` follows NumPy/Keras shapes: 1-D operands are promoted and the promoted axis dropped;
``[..., M, K] @ [K, N]`` flattens the leading axes into GEMM rows (one GEMM forward, two in
backward); batched ``[..., M, K] @ [..., K, N]`` is one native batched GEMM (``_C.bmm``) over
the NumPy-broadcast batch axes (nothing is copied to broadcast), and so is its backward: the
gradient of a broadcast operand is summed back by ``_C.sum_to_shape``, or, for an operand
shared by every batch matrix, computed as one GEMM over the stacked rows.
``linear`` is the fused dense op (bias + activation epilogue,
one fused backward kernel).
"""
from .. import _C
from .. import activations as _acts
from ..tensor import Function, Tensor
from .core import broadcast_shapes, float_tensor, need_grad, unbroadcast
from .layout import expand_dims, reshape, squeeze
from .nn import activation as _activation

__all__ = ["matmul", "dot", "linear", "outer"]


class _MatMul(Function):
    __slots__ = ("a", "b", "ashape")

    def backward(self, g):
        a, b = self.inputs
        ga = gb = None
        if self.ashape is not None:
            g = g.reshape(-1, g.shape[-1])
        if a.requires_grad:
            ga = _C.matmul(g, self.b, trans_b=True)
            if self.ashape is not None:
                ga = ga.reshape(self.ashape)
        if b.requires_grad:
            gb = _C.matmul(self.a, g, trans_a=True)
        return ga, gb


def _matmul_2d(a, b):
    """a [..., K] @ b [K, N] as one GEMM over the flattened rows of a."""
    ad, ashape = a.data, None
    if a.ndim > 2:
        ashape = a.shape
        ad = ad.reshape(-1, ashape[-1])
    out = _C.matmul(ad, b.data)
    if ashape is not None:
        out = out.reshape(tuple(ashape[:-1]) + (b.shape[1],))
    if not need_grad(a, b):
        return Tensor._wrap(out)
    fn = _MatMul()
    fn.a, fn.b, fn.ashape = ad, b.data, ashape
    return Tensor._from_op(out, fn, (a, b))


def matmul(x1, x2):
    """Matrix product ``x1 @ x2`` with NumPy shape rules, differentiable in both operands.

    Args:
        x1: tensor-like of rank >= 1 (``[..., M, K]``).
        x2: tensor-like of rank >= 1 (``[K, N]`` or ``[..., K, N]``).

    Returns:
        float32 Tensor ``[..., M, N]`` (1-D operands: the promoted axis is dropped).

    Example:
        >>> ops.matmul(ops.ones((5, 2, 3)), ops.ones((3, 4))).shape
        (5, 2, 4)
    """
    a, b = float_tensor(x1, "matmul"), float_tensor(x2, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have rank >= 1, got {a.shape} @ {b.shape}")
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise ValueError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape} ({ka} != {kb})")
    if a.ndim == 1:
        return squeeze(matmul(expand_dims(a, 0), b), -2 if b.ndim > 1 else 0)
    if b.ndim == 1:
        return squeeze(_matmul_2d(a, expand_dims(b, 1)), -1)
    if b.ndim == 2:
        return _matmul_2d(a, b)
    broadcast_shapes("matmul", a.shape[:-2], b.shape[:-2])  # the error names the op
    return _bmm(a, b)


class _BMM(Function):
    __slots__ = ("a", "b")

    def backward(self, g):
        ta, tb = self.inputs
        a, b = self.a, self.b
        ga = gb = None
        if ta.requires_grad:  # dA[i] = G[i] @ B[i]ᵀ
            ga = unbroadcast(_C.bmm(g, b, trans_b=True), a.shape)
        if tb.requires_grad:  # dB[i] = A[i]ᵀ @ G[i]
            if _numel(b.shape[:-2]) == 1 and tuple(a.shape[:-2]) == tuple(g.shape[:-2]):
                # one B for every matrix: Σ_i A[i]ᵀ G[i] is one GEMM over the stacked rows
                k, n = b.shape[-2], b.shape[-1]
                gb = _C.matmul(a.reshape(-1, k), g.reshape(-1, n), trans_a=True).reshape(tuple(b.shape))
            else:
                gb = unbroadcast(_C.bmm(a, g, trans_a=True), b.shape)
        return ga, gb


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def _bmm(a, b):
    """Batched a [..., M, K] @ b [..., K, N] (rank >= 2 both, batch axes broadcast) in one call."""
    out = _C.bmm(a.data, b.data)
    if not need_grad(a, b):
        return Tensor._wrap(out)
    fn = _BMM()
    fn.a, fn.b = a.data, b.data
    return Tensor._from_op(out, fn, (a, b))


def dot(x1, x2):
    """NumPy ``dot``: the product of 1-D or 2-D operands, ``[..., K] @ [K]`` / ``[..., K] @ [K, N]``.

    Args:
        x1: tensor-like. x2: tensor-like of rank 1 or 2 (higher ranks: use ``matmul`` or
            ``tensordot``-style reshapes).

    Returns:
        float32 Tensor; differentiable.

    Example:
        >>> ops.dot(ops.ones((3,)), ops.ones((3,))).numpy()
        array(3., dtype=float32)
    """
    b = float_tensor(x2, "dot")
    if b.ndim > 2:
        raise ValueError(f"dot: second operand of rank {b.ndim} (shape {b.shape}) is not supported; "
                         f"use ops.matmul")
    return matmul(x1, b)


def outer(x1, x2):
    """Outer product of the flattened operands, ``[M] x [N] -> [M, N]``.

    Args:
        x1, x2: tensor-likes (flattened first).

    Returns:
        float32 Tensor ``[x1.size, x2.size]``; differentiable.

    Example:
        >>> ops.outer(ops.ones((2,)), ops.ones((3,))).shape
        (2, 3)
    """
    from .elementwise import multiply
    a, b = float_tensor(x1, "outer"), float_tensor(x2, "outer")
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


class _Linear(Function):
    """Y = act(X @ W + b) in one GEMM; backward = one dense_backward call."""

    __slots__ = ("x", "w", "y", "act", "xshape")

    def backward(self, g):
        x_t = self.inputs[0]
        has_b = len(self.inputs) == 3
        if self.xshape is not None:
            g = g.reshape(-1, g.shape[-1])
        dx, dw, db = _C.dense_backward(g, self.x, self.w, self.y, self.act,
                                       need_dX=x_t.requires_grad, has_bias=has_b)
        if dx is not None and self.xshape is not None:
            dx = dx.reshape(self.xshape)
        if has_b:
            return dx, dw, db
        return dx, dw


def linear(x, weight, bias=None, activation=None):
    """Fused dense layer: ``act(x @ weight + bias)``.

    relu / sigmoid / tanh / linear run as one GEMM with a bias+activation epilogue and one fused
    backward kernel (``_C.dense_backward``); other activations run the GEMM then the activation
    kernel.

    Args:
        x: [..., K] input (leading axes are flattened into rows).
        weight: [K, N] kernel (Keras layout).
        bias: optional [N].
        activation: name or None (linear).

    Shape:
        Output [..., N].

    Example:
        >>> y = linear(np.ones((4, 3), np.float32), np.ones((3, 2), np.float32), activation="relu")
    """
    x, w = float_tensor(x, "linear"), float_tensor(weight, "linear")
    b = float_tensor(bias, "linear") if bias is not None else None
    kind, fused = _acts.resolve(activation)
    if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[0]:
        raise ValueError(f"linear: input of shape {x.shape} does not match kernel of shape {w.shape} "
                         f"(expected last input axis {w.shape[0] if w.ndim == 2 else '?'})")
    xd = x.data
    xshape = None
    if x.ndim != 2:
        xshape = x.shape
        xd = xd.reshape(-1, xshape[-1])
    ep = fused if fused is not None else "none"
    y = _C.matmul(xd, w.data, bias=b.data if b is not None else None, activation=ep)
    inputs = (x, w, b) if b is not None else (x, w)
    out_y = y if xshape is None else y.reshape(tuple(xshape[:-1]) + (w.shape[1],))
    if need_grad(*inputs):
        fn = _Linear()
        fn.x, fn.w, fn.y, fn.act, fn.xshape = xd, w.data, y, ep, xshape
        out = Tensor._from_op(out_y, fn, inputs)
    else:
        out = Tensor._wrap(out_y)
    if fused is None and kind != "linear":
        out = _activation(out, kind)
    return out
