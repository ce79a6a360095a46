"""Gradients of every differentiable fusednet.ops op vs float64 central finite differences of a
NumPy reference (sizes 1, primes, broadcasting), plus the gradient rules Keras/TF fix by choice
(ties of max/maximum, zeros of prod, masks of where/clip, zero gradients of step functions)."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import Tensor, ops
from tolerances import TOL

EPS = TOL["fd_eps"]
RT, AT = TOL["gradcheck"]


def fd_grad(ref, xs, i, w):
    """d/dx_i of sum(w * ref(*xs)) in float64 by central differences."""
    args = [a.astype(np.float64) for a in xs]
    x = args[i]
    g = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + EPS
        fp = np.sum(w * ref(*args))
        x[idx] = old - EPS
        fm = np.sum(w * ref(*args))
        x[idx] = old
        g[idx] = (fp - fm) / (2 * EPS)
    return g


def gradcheck(op, ref, xs, rng, wrt=None):
    xs = [np.asarray(x, np.float32) for x in xs]
    ts = [Tensor(x, requires_grad=True) for x in xs]
    out = op(*ts)
    want = np.asarray(ref(*[x.astype(np.float64) for x in xs]))
    assert out.shape == want.shape, (out.shape, want.shape)
    w = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(w)
    for i, t in enumerate(ts):
        if wrt is not None and i not in wrt:
            continue
        g = fd_grad(ref, xs, i, w.astype(np.float64))
        assert t.grad is not None, f"no gradient for input {i}"
        scale = max(np.abs(g).max(), 1e-3)
        np.testing.assert_allclose(t.grad.numpy(), g, rtol=RT, atol=RT * scale + AT)


def normal(rng, *shape, away=0.0, pos=False):
    a = rng.standard_normal(shape)
    if pos:
        a = np.abs(a) + 0.5
    if away:
        a = np.where(np.abs(a) < away, a + 2 * away * np.sign(a + 1e-12), a)
    return a


PAIRS = [((1,), (1,)), ((7,), (1,)), ((3, 13), (13,)), ((3, 1), (1, 5)), ((2, 3, 5), (3, 1))]


@pytest.mark.parametrize("sa,sb", PAIRS)
@pytest.mark.parametrize("name,ref,kw", [
    ("add", np.add, {}), ("subtract", np.subtract, {}), ("multiply", np.multiply, {}),
    ("divide", np.divide, {"pos_b": True}), ("power", np.power, {"pos_a": True}),
    ("maximum", np.maximum, {}), ("minimum", np.minimum, {}),
])
def test_binary_grads(name, ref, kw, sa, sb, rng):
    a = normal(rng, *sa, pos=kw.get("pos_a", False))
    b = normal(rng, *sb, pos=kw.get("pos_b", False))
    if name in ("maximum", "minimum"):
        b = b + 0.05  # no ties
    gradcheck(getattr(ops, name), ref, [a, b], rng)


def test_scalar_operands_and_operators(rng):
    x = normal(rng, 3, 7, pos=True)
    gradcheck(lambda t: (2.0 - t) * 3.0 + 1.0 / (t * t + 1.0) - t / 4.0 + t ** 1.5 + 2.0 ** t,
              lambda t: (2.0 - t) * 3.0 + 1.0 / (t * t + 1.0) - t / 4.0 + t ** 1.5 + 2.0 ** t, [x], rng)
    gradcheck(lambda t: ops.mod(t, 0.7), lambda t: np.mod(t, 0.7), [x + 0.01], rng)


UNARY = {
    "negative": (np.negative, None), "square": (np.square, None), "sqrt": (np.sqrt, "pos"),
    "rsqrt": (lambda x: 1 / np.sqrt(x), "pos"), "exp": (np.exp, None), "expm1": (np.expm1, None),
    "log": (np.log, "pos"), "log1p": (np.log1p, "pos"), "log2": (np.log2, "pos"), "log10": (np.log10, "pos"),
    "abs": (np.abs, "away"), "reciprocal": (np.reciprocal, "pos"), "sin": (np.sin, None), "cos": (np.cos, None),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5)])
def test_unary_grads(name, shape, rng):
    ref, dom = UNARY[name]
    x = normal(rng, *shape, pos=dom == "pos", away=0.1 if dom == "away" else 0.0)
    gradcheck(getattr(ops, name), ref, [x], rng)


@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "round"])
def test_step_functions_have_zero_gradients(name, rng):
    x = Tensor(normal(rng, 5, away=0.1).astype(np.float32), requires_grad=True)
    ops.sum(getattr(ops, name)(x) + x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(5, np.float32))


def test_where_grads_broadcast(rng):
    c = (rng.standard_normal((3, 5)) > 0).astype(np.float32)
    gradcheck(lambda a, b: ops.where(c, a, b), lambda a, b: np.where(c != 0, a, b),
              [normal(rng, 5), normal(rng, 3, 1)], rng)
    gradcheck(lambda a: ops.where(c, a, 0.0), lambda a: np.where(c != 0, a, 0.0), [normal(rng, 3, 5)], rng)


def test_where_select_keeps_values_and_its_own_gradient_finite():
    a = Tensor(np.array([np.inf, 1.0, np.nan], np.float32), requires_grad=True)
    b = Tensor(np.array([2.0, -np.inf, 3.0], np.float32), requires_grad=True)
    c = np.array([0.0, 1.0, 0.0], np.float32)
    y = ops.where(c, a, b)
    np.testing.assert_array_equal(y.numpy(), [2.0, 1.0, 3.0])     # c*a + (1-c)*b would be NaN
    ops.sum(y).backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 0.0, 1.0])


def test_where_inner_op_gradients_follow_tf_and_the_double_where_idiom_is_finite():
    x = Tensor(np.array([-1.0, 0.0, 4.0], np.float32), requires_grad=True)
    y = ops.where(x > 0, ops.log(x), 0.0)
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.0, np.log(np.float32(4.0))])
    ops.sum(y).backward()          # log's own backward sees g = 0 at x = 0: 0 / 0, as in TF
    assert np.isnan(x.grad.numpy()[1]) and x.grad.numpy()[2] == np.float32(0.25)
    x.zero_grad()
    safe = ops.where(x > 0, x, 1.0)                       # the documented idiom
    ops.sum(ops.where(x > 0, ops.log(safe), 0.0)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.25])


def test_clip_grads(rng):
    x = normal(rng, 4, 7) * 2
    x = np.where(np.abs(np.abs(x) - 1.0) < 0.05, x * 1.2, x)    # away from the bounds
    gradcheck(lambda t: ops.clip(t, -1.0, 1.0), lambda t: np.clip(t, -1.0, 1.0), [x], rng)
    lo = normal(rng, 7) - 1.0
    gradcheck(lambda t, l: ops.clip(t, l, 1.5), lambda t, l: np.clip(t, l, 1.5), [x, lo + 0.03], rng)
    t = Tensor(np.array([-1.0, 0.5, 1.0], np.float32), requires_grad=True)   # bounds pass the gradient
    ops.sum(ops.clip(t, -1.0, 0.8)).backward()
    np.testing.assert_array_equal(t.grad.numpy(), [1.0, 1.0, 0.0])


@pytest.mark.parametrize("shape,axis", [((1,), None), ((7,), 0), ((3, 13), 1), ((2, 3, 5), (0, 2)), ((2, 3, 5), -2)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod", "var", "std", "logsumexp"])
def test_reduction_grads(name, shape, axis, keepdims, rng):
    x = normal(rng, *shape)
    if name == "prod":
        x = 1 + 0.3 * x
    if name == "std" and x.size == 1:   # std of one element is 0: sqrt'(0) has no finite gradient
        np.testing.assert_array_equal(ops.std(x.astype(np.float32), axis=axis, keepdims=keepdims).numpy(),
                                      np.zeros(np.std(x, axis=axis, keepdims=keepdims).shape, np.float32))
        return

    def lse(v, axis=None, keepdims=False):
        m = np.max(v, axis=axis, keepdims=True)
        r = np.log(np.sum(np.exp(v - m), axis=axis, keepdims=True)) + m
        return r if keepdims else np.squeeze(r, axis=axis)
    ref = lse if name == "logsumexp" else getattr(np, name)
    gradcheck(lambda t: getattr(ops, name)(t, axis=axis, keepdims=keepdims),
              lambda v: np.asarray(ref(v, axis=axis, keepdims=keepdims)), [x], rng)


def test_max_ties_share_the_gradient_and_prod_handles_zeros(rng):
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], np.float32), requires_grad=True)
    ops.sum(ops.max(x, axis=1)).backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]], *TOL["pointwise"])
    for row in ([0.0, 2.0, 3.0], [0.0, 0.0, 3.0], [1.5, 2.0, -3.0]):
        gradcheck(lambda t: ops.prod(t, axis=-1), lambda v: np.prod(v, axis=-1), [np.array([row, row[::-1]])], rng)


def test_maximum_ties_go_to_the_first_operand():
    a = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    b = Tensor(np.array([1.0, 3.0], np.float32), requires_grad=True)
    ops.sum(ops.maximum(a, b)).backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 0.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.0, 1.0])


LAYOUT = [
    ("reshape", lambda t: ops.reshape(t, (5, -1)), lambda v: v.reshape(5, -1)),
    ("expand_squeeze", lambda t: ops.squeeze(ops.expand_dims(t, 1), 1), lambda v: v),
    ("transpose", lambda t: ops.transpose(t, (2, 0, 1)), lambda v: v.transpose(2, 0, 1)),
    ("swapaxes", lambda t: ops.swapaxes(t, 0, 2), lambda v: np.swapaxes(v, 0, 2)),
    ("moveaxis", lambda t: ops.moveaxis(t, 0, -1), lambda v: np.moveaxis(v, 0, -1)),
    ("tile", lambda t: ops.tile(t, (2, 1, 3)), lambda v: np.tile(v, (2, 1, 3))),
    ("repeat", lambda t: ops.repeat(t, 3, axis=1), lambda v: np.repeat(v, 3, axis=1)),
    ("repeat_flat", lambda t: ops.repeat(t, 2), lambda v: np.repeat(v, 2)),
    ("broadcast_to", lambda t: ops.broadcast_to(t[:, :1, :], (2, 4, 5)),
     lambda v: np.broadcast_to(v[:, :1, :], (2, 4, 5))),
    ("getitem", lambda t: t[1, 1:3] * t[:, 2][..., 1:2], lambda v: v[1, 1:3] * v[:, 2][..., 1:2]),
    ("rows", lambda t: t[[1, 0, 1]], lambda v: v[[1, 0, 1]]),
    ("strided", lambda t: t[::-1, None, :, 4:0:-2], lambda v: v[::-1, None, :, 4:0:-2]),
    ("rows_2d", lambda t: t[np.array([[1, 1], [0, 1]])], lambda v: v[np.array([[1, 1], [0, 1]])]),
    ("take", lambda t: ops.take(t, np.array([[4, 0], [4, 4]]), axis=2), lambda v: np.take(v, [[4, 0], [4, 4]], axis=2)),
    ("take_flat", lambda t: ops.take(t, np.array([0, 29, 29])), lambda v: np.take(v, [0, 29, 29])),
    ("split", lambda t: ops.split(t, [1, 4], axis=-1)[1] * 2 + ops.split(t, [1, 4], axis=-1)[0],
     lambda v: np.split(v, [1, 4], axis=-1)[1] * 2 + np.split(v, [1, 4], axis=-1)[0]),
]


@pytest.mark.parametrize("name,op,ref", LAYOUT, ids=[n for n, _, _ in LAYOUT])
def test_layout_grads(name, op, ref, rng):
    gradcheck(op, ref, [normal(rng, 2, 3, 5)], rng)


def test_concatenate_and_stack_grads(rng):
    xs = [normal(rng, 2, 1, 3), normal(rng, 2, 4, 3), normal(rng, 2, 2, 3)]
    gradcheck(lambda *t: ops.concatenate(t, axis=1), lambda *v: np.concatenate(v, axis=1), xs, rng)
    ys = [normal(rng, 3, 5), normal(rng, 3, 5)]
    for ax in (0, 1, 2):
        gradcheck(lambda *t: ops.stack(t, axis=ax), lambda *v: np.stack(v, axis=ax), ys, rng)


@pytest.mark.parametrize("sa,sb", [((7,), (7,)), ((3, 7), (7,)), ((7,), (7, 5)), ((1, 1), (1, 1)), ((2, 3, 7), (7, 5)),
                                   ((2, 3, 7), (2, 7, 5)), ((3, 7), (2, 7, 5)), ((2, 1, 3, 4), (3, 4, 2))])
def test_matmul_grads(sa, sb, rng):
    gradcheck(ops.matmul, np.matmul, [normal(rng, *sa), normal(rng, *sb)], rng)


def test_dot_and_linear_grads(rng):
    gradcheck(ops.dot, np.dot, [normal(rng, 3, 7), normal(rng, 7, 2)], rng)
    gradcheck(lambda x, w, b: ops.linear(x, w, b, "tanh"), lambda x, w, b: np.tanh(x @ w + b),
              [normal(rng, 2, 3, 5), normal(rng, 5, 4), normal(rng, 4)], rng)


def _sig(x):
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize("name,ref", [
    ("relu", lambda x: np.maximum(x, 0)), ("sigmoid", _sig), ("tanh", np.tanh),
    ("softplus", lambda x: np.log1p(np.exp(x))), ("silu", lambda x: x * _sig(x)),
    ("leaky_relu", lambda x: np.where(x > 0, x, 0.2 * x)), ("elu", lambda x: np.where(x > 0, x, np.expm1(x))),
    ("log_sigmoid", lambda x: -np.log1p(np.exp(-x))), ("softsign", lambda x: x / (1 + np.abs(x))),
    ("gelu", lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))),
])
def test_activation_grads(name, ref, rng):
    gradcheck(getattr(ops, name), ref, [normal(rng, 3, 7, away=0.05)], rng)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_grads_any_axis(axis, rng):
    x = normal(rng, 3, 5, 2)
    gradcheck(lambda t: ops.softmax(t, axis), lambda v: _softmax(v, axis), [x], rng)
    gradcheck(lambda t: ops.log_softmax(t, axis), lambda v: np.log(_softmax(v, axis)), [x], rng)


@pytest.mark.parametrize("from_logits", [False, True])
def test_crossentropy_grads(from_logits, rng):
    labels = rng.integers(0, 5, 4)
    onehot = np.eye(5)[labels]
    logits = normal(rng, 4, 5)
    if from_logits:
        ref = lambda o: -np.sum(onehot * np.log(_softmax(o, -1)), -1)  # noqa: E731
        x = logits
    else:
        ref = lambda o: -np.sum(onehot * np.log(o / o.sum(-1, keepdims=True)), -1)  # noqa: E731
        x = _softmax(logits, -1) + 0.05
    gradcheck(lambda o: ops.categorical_crossentropy(onehot, o, from_logits=from_logits), ref, [x], rng)
    gradcheck(lambda o: ops.sparse_categorical_crossentropy(labels, o, from_logits=from_logits), ref, [x], rng)
    z = rng.integers(0, 2, (4, 5)).astype(np.float64)
    if from_logits:
        ref_b = lambda o: -(z * np.log(_sig(o)) + (1 - z) * np.log(1 - _sig(o)))  # noqa: E731
        xb = logits
    else:
        ref_b = lambda p: -(z * np.log(p) + (1 - z) * np.log(1 - p))  # noqa: E731
        xb = _sig(logits)
    gradcheck(lambda o: ops.binary_crossentropy(z, o, from_logits=from_logits), ref_b, [xb], rng)


def test_normalize_and_moments_grads(rng):
    x = normal(rng, 3, 7)
    gradcheck(ops.normalize, lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True), [x], rng)
    gradcheck(lambda t: ops.normalize(t, axis=0, order=1), lambda v: v / np.abs(v).sum(0, keepdims=True),
              [np.where(np.abs(x) < 0.1, 0.3, x)], rng)
    gradcheck(lambda t: ops.moments(t, axes=[1])[1], lambda v: v.var(axis=1), [x], rng)
    t = Tensor(np.zeros((2, 3), np.float32), requires_grad=True)
    ops.sum(ops.normalize(t)).backward()
    assert np.all(np.isfinite(t.grad.numpy()))


def test_cast_float_keeps_grad_and_dropout_grad_is_its_mask(rng):
    x = normal(rng, 4, 6)
    gradcheck(lambda t: ops.cast(t, "float32") * 2.0, lambda v: v * 2.0, [x], rng)
    t = Tensor(x.astype(np.float32), requires_grad=True)
    y = fn.random.dropout(t, 0.5, noise_shape=(1, 6), seed=3)
    ops.sum(y).backward()
    mask = y.numpy() / x.astype(np.float32)
    np.testing.assert_allclose(t.grad.numpy(), mask, *TOL["pointwise"])
    assert set(np.unique(np.round(mask, 5))) <= {0.0, 2.0}
    np.testing.assert_array_equal(mask, np.broadcast_to(mask[:1], mask.shape))   # shared along axis 0


def test_norm_average_outer_slice_pad_segment_sum_grads(rng):
    x = normal(rng, 3, 5, away=0.05)
    gradcheck(lambda t: ops.norm(t, axis=1), lambda v: np.linalg.norm(v, axis=1), [x], rng)
    gradcheck(lambda t: ops.norm(t, ord=1, axis=0), lambda v: np.linalg.norm(v, ord=1, axis=0), [x], rng)
    gradcheck(lambda t: ops.norm(t, axis=(0, 1)), lambda v: np.linalg.norm(v, axis=(0, 1)), [x], rng)
    gradcheck(lambda t, w: ops.average(t, axis=1, weights=w), lambda v, w: np.average(v, axis=1, weights=w),
              [x, normal(rng, 5, pos=True)], rng)
    gradcheck(ops.outer, np.outer, [normal(rng, 4), normal(rng, 2, 3)], rng)
    gradcheck(lambda t: ops.slice(t, (1, 1), (2, 3)), lambda v: v[1:3, 1:4], [x], rng)
    gradcheck(lambda t: ops.pad(t, ((2, 1), (0, 3)), constant_values=0.5),
              lambda v: np.pad(v, ((2, 1), (0, 3)), constant_values=0.5), [x], rng)
    ids = np.array([2, 0, 2])

    def seg(v):
        out = np.zeros((4,) + v.shape[1:])
        np.add.at(out, ids, v)
        return out
    gradcheck(lambda t: ops.segment_sum(t, ids, num_segments=4), seg, [x], rng)


def test_eager_control_flow_is_differentiable(rng):
    x = normal(rng, 5)
    gradcheck(lambda t: ops.cond(ops.sum(t) > 0, lambda: ops.square(t), lambda: ops.sin(t)),
              lambda v: np.square(v) if v.sum() > 0 else np.sin(v), [x], rng)
    gradcheck(lambda t: ops.fori_loop(1, 4, lambda i, v: v * ops.cos(t) + i, t),
              lambda v: ((v * np.cos(v) + 1) * np.cos(v) + 2) * np.cos(v) + 3, [x], rng)
    i, acc = ops.while_loop(lambda i, a: i < 10, lambda i, a: (i + 3, a * 2.0), (0, ops.ones((2,))))
    assert i == 12
    np.testing.assert_array_equal(acc.numpy(), [16.0, 16.0])
    assert ops.while_loop(lambda i: i < 10, lambda i: i + 1, 0, maximum_iterations=4) == 4
    assert ops.while_loop(lambda i, j: i < 2, lambda i, j: [i + 1, j], [0, 5]) == [2, 5]
