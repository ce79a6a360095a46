"""Merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot): forward
against float64 NumPy, backward against float64 central finite differences of the same formula,
tape (Tensor call) equal to the protocol bit for bit, Keras-style errors, functional forms."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import _C, layers
from fusednet.layers.base import Context
from tolerances import TOL

EPS = TOL["fd_eps"]


def _l2n(x, axis):
    return x / np.maximum(np.sqrt((x * x).sum(axis, keepdims=True)), 1e-12)


def _dot_ref(axes, normalize):
    def f(a, b):
        if normalize:
            a, b = _l2n(a, axes[0]), _l2n(b, axes[1])
        if a.ndim == 2:
            return (a * b).sum(1, keepdims=True)
        A = a if axes[0] == 2 else a.transpose(0, 2, 1)      # contracted axis last
        B = b if axes[1] == 2 else b.transpose(0, 2, 1)
        return np.einsum("bnd,bmd->bnm", A, B)
    return f


# (layer factory, float64 reference, input shapes): sizes 1, primes, broadcasting
CASES = [
    ("add", lambda: layers.Add(), lambda *x: sum(x), [(5, 7), (5, 7)]),
    ("add3_bcast", lambda: layers.Add(), lambda *x: x[0] + x[1] + x[2], [(3, 1, 7), (3, 5, 7), (3, 5, 1)]),
    ("add_b1", lambda: layers.Add(), lambda *x: sum(x), [(1, 13), (1, 13)]),
    ("subtract", lambda: layers.Subtract(), lambda a, b: a - b, [(4, 11), (4, 11)]),
    ("subtract_bcast", lambda: layers.Subtract(), lambda a, b: a - b, [(2, 3, 5), (2, 1, 5)]),
    ("multiply", lambda: layers.Multiply(), lambda *x: x[0] * x[1] * x[2], [(3, 7), (3, 7), (3, 7)]),
    ("multiply_bcast", lambda: layers.Multiply(), lambda a, b: a * b, [(3, 7), (3, 1)]),
    ("average", lambda: layers.Average(), lambda *x: sum(x) / len(x), [(2, 3, 5), (2, 3, 5), (2, 3, 5)]),
    ("maximum", lambda: layers.Maximum(), lambda *x: np.maximum(np.maximum(x[0], x[1]), x[2]),
     [(4, 9), (4, 9), (4, 9)]),
    ("minimum", lambda: layers.Minimum(), lambda a, b: np.minimum(a, b), [(6, 5), (6, 5)]),
    ("concat_last", lambda: layers.Concatenate(), lambda *x: np.concatenate(x, -1), [(3, 5), (3, 2), (3, 7)]),
    ("concat_axis1", lambda: layers.Concatenate(axis=1), lambda *x: np.concatenate(x, 1),
     [(2, 3, 4, 5), (2, 1, 4, 5)]),
    ("dot2", lambda: layers.Dot(axes=1), _dot_ref((1, 1), False), [(5, 7), (5, 7)]),
    ("dot2_norm", lambda: layers.Dot(axes=-1, normalize=True), _dot_ref((1, 1), True), [(3, 6), (3, 6)]),
    ("dot3_22", lambda: layers.Dot(axes=(2, 2)), _dot_ref((2, 2), False), [(2, 3, 5), (2, 7, 5)]),
    ("dot3_11", lambda: layers.Dot(axes=1), _dot_ref((1, 1), False), [(3, 5, 2), (3, 5, 4)]),
    ("dot3_12", lambda: layers.Dot(axes=(1, 2)), _dot_ref((1, 2), False), [(2, 5, 3), (2, 4, 5)]),
]


def _inputs(shapes, rng, name):
    xs = [rng.standard_normal(s) for s in shapes]
    if name.startswith(("maximum", "minimum")):
        xs = [x + 0.3 * i for i, x in enumerate(xs)]     # keep FD steps away from ties
    return xs


@pytest.mark.parametrize("name,make,ref,shapes", CASES, ids=[c[0] for c in CASES])
def test_merge_forward_backward(name, make, ref, shapes):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    xs = _inputs(shapes, rng, name)
    layer = make()
    ctx = Context()
    arrays = [_C.asarray(x.astype(np.float32)) for x in xs]
    y = np.asarray(layer.forward(ctx, arrays, True))
    x32 = [x.astype(np.float32).astype(np.float64) for x in xs]
    yref = ref(*x32)
    np.testing.assert_allclose(y, yref, *TOL["pointwise"])
    assert tuple(y.shape[1:]) == tuple(layer.compute_output_shape([(None,) + s[1:] for s in shapes])[1:])
    w = rng.standard_normal(yref.shape)
    dxs, grads = layer.backward(ctx, _C.asarray(w.astype(np.float32)), True)
    assert grads == []
    rt, at = TOL["gradcheck"]
    for i, dx in enumerate(dxs):
        x = x32[i].copy()
        fd = np.zeros_like(x)
        it = np.nditer(x, flags=["multi_index"])
        for _ in it:
            idx = it.multi_index
            old = x[idx]
            args = list(x32)
            x[idx] = old + EPS
            args[i] = x
            fp = np.sum(w * ref(*args))
            x[idx] = old - EPS
            fm = np.sum(w * ref(*args))
            x[idx] = old
            fd[idx] = (fp - fm) / (2 * EPS)
        g = np.asarray(dx, np.float64)
        assert g.shape == fd.shape
        # float32 products inside the kernel: the FD reference is float64 of the float32 inputs
        assert np.abs(g - fd).max() <= 1e-4 * max(1.0, np.abs(fd).max()) + at, (i, np.abs(g - fd).max())


@pytest.mark.parametrize("name,make,ref,shapes", CASES[:12:3] + CASES[12:], ids=[c[0] for c in CASES[:12:3] + CASES[12:]])
def test_merge_tape_equals_protocol(name, make, ref, shapes):
    rng = np.random.default_rng(3)
    xs = [x.astype(np.float32) for x in _inputs(shapes, rng, name)]
    layer = make()
    ctx = Context()
    y = layer.forward(ctx, [_C.asarray(x) for x in xs], True)
    w = rng.standard_normal(tuple(y.shape)).astype(np.float32)
    dxs, _ = layer.backward(ctx, _C.asarray(w), True)
    ts = [fn.tensor(x, requires_grad=True) for x in xs]
    yt = layer(ts)
    assert np.array_equal(np.asarray(yt.data), np.asarray(y))
    yt.backward(fn.tensor(w))
    for t, dx in zip(ts, dxs):
        assert np.array_equal(t.grad.numpy(), np.asarray(dx))


def test_maximum_ties_go_to_first_input():
    a = np.array([[1.0, 2.0, 3.0]], np.float32)
    b = np.array([[1.0, 5.0, 3.0]], np.float32)
    layer = layers.Maximum()
    ctx = Context()
    layer.forward(ctx, [_C.asarray(a), _C.asarray(b)], True)
    (da, db), _ = layer.backward(ctx, _C.asarray(np.ones((1, 3), np.float32)), True)
    np.testing.assert_array_equal(np.asarray(da), [[1, 0, 1]])
    np.testing.assert_array_equal(np.asarray(db), [[0, 1, 0]])


def test_merge_errors():
    a, b = fn.Input((4,)), fn.Input((5,))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        layers.Add()([a, b])
    with pytest.raises(ValueError, match="list of inputs"):
        layers.Add()(a)
    with pytest.raises(ValueError, match="at least 2"):
        layers.Multiply()([a])
    with pytest.raises(ValueError, match="exactly 2"):
        layers.Subtract()([a, a, a])
    with pytest.raises(ValueError, match="matching shapes"):
        layers.Concatenate(axis=1)([fn.Input((2, 3)), fn.Input((4, 5))])
    with pytest.raises(ValueError, match="batch axis"):
        layers.Concatenate(axis=0)([a, a])
    with pytest.raises(ValueError, match="contracted axes differ"):
        layers.Dot(axes=1)([a, b])
    with pytest.raises(TypeError, match="axes"):
        layers.Dot(axes="x")
    with pytest.raises(ValueError, match="cannot be broadcast"):      # eager, on arrays
        layers.add([np.zeros((2, 3)), np.zeros((2, 4))])


def test_functional_forms_and_shapes():
    a, b = fn.Input((6,)), fn.Input((6,))
    assert layers.add([a, b]).shape == (None, 6)
    assert layers.subtract([a, b]).shape == (None, 6)
    assert layers.multiply([a, b]).shape == (None, 6)
    assert layers.average([a, b]).shape == (None, 6)
    assert layers.maximum([a, b]).shape == (None, 6)
    assert layers.minimum([a, b]).shape == (None, 6)
    assert layers.concatenate([a, b]).shape == (None, 12)
    assert layers.dot([a, b], axes=1).shape == (None, 1)
    assert layers.Dot(axes=(2, 2))([fn.Input((3, 5)), fn.Input((7, 5))]).shape == (None, 3, 7)
    c = layers.Concatenate(axis=1)
    assert c.get_config()["axis"] == 1
    d = layers.Dot(axes=(1, 1), normalize=True)
    assert layers.Dot.from_config(d.get_config()).normalize
    y = layers.add([np.ones((2, 3), np.float32), np.full((2, 3), 2, np.float32)])
    np.testing.assert_array_equal(np.asarray(y.data), np.full((2, 3), 3))


def test_merge_in_model_no_tape():
    x = fn.Input((8,))
    h = layers.Dense(8, activation="relu")(x)
    y = layers.Dense(3, activation="softmax")(layers.concatenate([layers.add([x, h]), layers.multiply([x, h])]))
    m = fn.Model(x, y)
    m.compile("adam", "sparse_categorical_crossentropy")
    assert not m._get_plan().tape_layers
    r = np.random.default_rng(0)
    X, Y = r.random((64, 8), dtype=np.float32), r.integers(0, 3, 64)
    h = m.fit(X, Y, epochs=5, batch_size=16, verbose=0).history["loss"]
    assert h[-1] < h[0]
