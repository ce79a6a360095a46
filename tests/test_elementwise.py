"""Elementwise family vs NumPy float64 (and PyTorch where importable): broadcasting fast and
general paths, unary maths, reductions (accuracy, determinism), layout copies, gathers, casts,
errors and empty arrays."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import _C
from conftest import requires_torch
from tolerances import TOL

A = fn.asarray


def f32(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


BIN_NP = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
    "maximum": np.maximum, "minimum": np.minimum, "pow": np.power,
    "equal": np.equal, "not_equal": np.not_equal, "greater": np.greater,
    "greater_equal": np.greater_equal, "less": np.less, "less_equal": np.less_equal,
}
BCAST = [
    ((7,), (7,)), ((3, 4), (3, 4)), ((3, 4), ()), ((), (3, 4)), ((3, 4), (1,)), ((5, 13), (13,)),
    ((13,), (5, 13)), ((5, 1), (1, 6)), ((2, 3, 4), (3, 1)), ((4, 1, 3, 1), (2, 1, 5)),
    ((2, 1, 3, 1, 2, 1, 2, 1), (3, 2, 2, 2, 1)), ((0, 3), (3,)), ((1,), (0,)), ((300, 257), (257,)),
    ((257, 300), (257, 1)), ((2, 40000), (2, 1)), ((1, 1), (1,)),
]


@pytest.mark.parametrize("op", list(BIN_NP))
@pytest.mark.parametrize("sa,sb", BCAST)
def test_binary_broadcast(op, sa, sb, rng):
    a, b = f32(rng, sa), f32(rng, sb)
    if op == "pow":
        a = np.abs(a) + 0.5
    if op == "div":
        b = np.where(np.abs(b) < 0.1, 0.5, b).astype(np.float32)
    if op in ("equal", "not_equal", "greater_equal", "less_equal"):  # make ties happen
        a, b = np.round(a), np.round(b)
    c = np.asarray(_C.binary(op, A(a), A(b)))
    ref = BIN_NP[op](a.astype(np.float64), b.astype(np.float64))
    assert c.shape == ref.shape and c.dtype == np.float32
    np.testing.assert_allclose(c, ref, *TOL["pointwise"])


def test_binary_out_and_aliasing(rng):
    a, b = f32(rng, (6, 5)), f32(rng, (5,))
    ref = a.astype(np.float64) * b
    buf = a.copy()
    ab = A(buf)
    r = _C.binary("mul", ab, A(b), out=ab)  # in place on a
    assert r.data_ptr == ab.data_ptr
    np.testing.assert_allclose(buf, ref, *TOL["pointwise"])
    x = f32(rng, (4, 4))
    xb = A(x.copy())
    _C.binary("add", xb, xb, out=xb)
    np.testing.assert_allclose(np.asarray(xb), 2 * x, *TOL["pointwise"])
    with pytest.raises(ValueError, match=r"binary\(add\): out must have shape \(6, 5\)"):
        _C.binary("add", A(a), A(b), out=A(np.zeros((5,), np.float32)))
    big = np.zeros(60, np.float32)
    with pytest.raises(ValueError, match="overlaps"):
        _C.binary("add", A(big[:30].reshape(6, 5)), A(b), out=A(big[5:35].reshape(6, 5)))


def test_binary_special_values():
    a = np.array([np.nan, 1.0, -np.inf, 0.0], np.float32)
    b = np.array([1.0, np.nan, 2.0, 0.0], np.float32)
    for op in ("maximum", "minimum"):
        np.testing.assert_array_equal(np.asarray(_C.binary(op, A(a), A(b))), BIN_NP[op](a, b))
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(np.asarray(_C.binary("div", A(a), A(b))), a / b)


def test_binary_errors():
    with pytest.raises(ValueError, match=r"binary\(add\): shapes \(3, 4\) and \(5,\) are not broadcastable"):
        _C.binary("add", A(np.zeros((3, 4), np.float32)), A(np.zeros(5, np.float32)))
    with pytest.raises(ValueError, match=r"binary\(plus\): unknown op 'plus'"):
        _C.binary("plus", A(np.zeros(3, np.float32)), A(np.zeros(3, np.float32)))
    with pytest.raises(TypeError, match=r"binary\(add\): b must be float32"):
        _C.binary("add", A(np.zeros(3, np.float32)), A(np.zeros(3, np.int64)))
    with pytest.raises(ValueError, match="at most 8"):
        _C.binary("add", A(np.zeros((1,) * 9, np.float32)), A(np.zeros(1, np.float32)))


UN_NP = {
    "neg": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "rsqrt": lambda x: 1 / np.sqrt(x),
    "square": np.square, "abs": np.abs, "sign": np.sign, "reciprocal": lambda x: 1 / x, "sin": np.sin,
    "cos": np.cos, "floor": np.floor, "round": np.round,
}


@pytest.mark.parametrize("op", list(UN_NP))
@pytest.mark.parametrize("shape", [(0,), (1,), (31,), (3, 7), (40009,)])
def test_unary(op, shape, rng):
    x = f32(rng, shape, 3)
    if op in ("log", "sqrt", "rsqrt"):
        x = np.abs(x) + 1e-3
    if op == "reciprocal":
        x = np.where(np.abs(x) < 0.1, 0.5, x).astype(np.float32)
    if op == "round":
        x.reshape(-1)[: min(4, x.size)] = np.array([0.5, 1.5, 2.5, -0.5], np.float32)[: min(4, x.size)]
    y = np.asarray(_C.unary(op, A(x)))
    np.testing.assert_allclose(y, UN_NP[op](x.astype(np.float64)), *TOL["pointwise"])


def test_unary_special_values():
    x = np.array([0.0, -1.0, np.inf, np.nan, 1e-40, 100.0, -100.0], np.float32)
    with np.errstate(all="ignore"):
        for op in ("exp", "log", "sign", "sqrt"):
            y = np.asarray(_C.unary(op, A(x)))
            ref = UN_NP[op](x.astype(np.float64)).astype(np.float32)
            fin = np.isfinite(ref)
            np.testing.assert_array_equal(np.isnan(y), np.isnan(ref), err_msg=op)
            np.testing.assert_array_equal(y[~fin & ~np.isnan(ref)], ref[~fin & ~np.isnan(ref)], err_msg=op)
            # 1e-40 is subnormal; log/sqrt of it may see it flushed to zero by FTZ/DAZ
            keep = fin & (np.abs(x) > 1e-38)
            np.testing.assert_allclose(y[keep], ref[keep], *TOL["pointwise"], err_msg=op)


def test_clip_scale_axpy(rng):
    x = f32(rng, (17, 3), 3)
    x[0, 0] = np.nan
    np.testing.assert_array_equal(np.asarray(_C.clip(A(x), -1, 2)), np.clip(x, -1, 2))
    np.testing.assert_allclose(np.asarray(_C.scale(A(x), -2.5)), -2.5 * x.astype(np.float64), *TOL["pointwise"])
    y = f32(rng, (17, 3))
    y0 = y.copy()
    ya = A(y)
    r = _C.axpy_(ya, 0.3, A(x))
    assert r.data_ptr == ya.data_ptr
    np.testing.assert_allclose(y, y0 + 0.3 * x.astype(np.float64), *TOL["pointwise"])
    with pytest.raises(ValueError, match=r"axpy_: y \(17, 3\) and x \(3,\)"):
        _C.axpy_(ya, 1.0, A(np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match="clip: lo"):
        _C.clip(A(x), 2, 1)
    ro = np.zeros(3, np.float32)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        _C.axpy_(A(ro), 1.0, A(np.zeros(3, np.float32)))
    z = np.zeros(0, np.float32)
    assert np.asarray(_C.clip(A(z), 0, 1)).shape == (0,)


RED_NP = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod}
RED_CASES = [
    ((7,), []), ((7,), [0]), ((3, 5), [1]), ((3, 5), [0]), ((3, 5), [0, 1]), ((3, 5), [-1]),
    ((2, 3, 4), [1]), ((2, 3, 4), [0, 2]), ((2, 3, 4, 5), [1, 3]), ((2, 3, 4, 5), [0, 2, 3]),
    ((1, 3, 1, 4), [0, 2]), ((1, 3, 1, 4), [1]), ((513, 257), [0]), ((257, 513), [1]),
    ((3, 1000, 7), [1]), ((0, 4), [1]), ((4, 0), [0]), ((), []), ((5,), [0]), ((2, 2, 2, 2, 2, 2, 2, 2), [0, 3, 7]),
]


@pytest.mark.parametrize("op", list(RED_NP))
@pytest.mark.parametrize("shape,axes", RED_CASES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduce(op, shape, axes, keepdims, rng):
    x = f32(rng, shape)
    if op == "prod":
        x = (1 + 0.1 * x).astype(np.float32)
    ax = tuple(axes) if axes else None
    empty_red = x.size == 0 and (ax is None or any(shape[a] == 0 for a in ax))
    out_size = int(np.prod([n for d, n in enumerate(shape) if ax is not None and d not in [a % len(shape) for a in ax]]))
    if op in ("max", "min") and empty_red and (ax is None or out_size > 0):
        with pytest.raises(ValueError, match=rf"reduce\({op}\): zero-size reduction"):
            _C.reduce(op, A(x), axes, keepdims)
        return
    y = np.asarray(_C.reduce(op, A(x), axes, keepdims))
    with np.errstate(all="ignore"):
        ref = RED_NP[op](x.astype(np.float64), axis=ax, keepdims=keepdims)
    assert y.shape == np.shape(ref)
    np.testing.assert_allclose(y, ref, *TOL["reduce"])


def test_reduce_accuracy_and_determinism(rng):
    x = (rng.random(1_000_003) + 1000).astype(np.float32)  # float32 naive summation loses ~1e-4 here
    ref = x.astype(np.float64).sum()
    n0 = fn.get_num_threads()
    try:
        res = []
        for t in (1, 2, 3, 4):
            fn.set_num_threads(t)
            res.append((np.asarray(_C.reduce("sum", A(x), [], False)).item(),
                        np.asarray(_C.reduce("mean", A(x[:1009 * 991].reshape(1009, 991)), [0], False)).copy(),
                        np.asarray(_C.reduce("sum", A(x[:1009 * 991].reshape(1009, 991)), [1], False)).copy()))
        for r in res[1:]:
            assert r[0] == res[0][0]
            np.testing.assert_array_equal(r[1], res[0][1])
            np.testing.assert_array_equal(r[2], res[0][2])
    finally:
        fn.set_num_threads(n0)
    np.testing.assert_allclose(res[0][0], ref, rtol=1e-7)


def test_reduce_nan_and_errors():
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]], np.float32)
    np.testing.assert_array_equal(np.asarray(_C.reduce("max", A(x), [1])), [np.nan, 6.0])
    np.testing.assert_array_equal(np.asarray(_C.reduce("min", A(x), [0])), [1.0, np.nan, 3.0])
    np.testing.assert_array_equal(np.asarray(_C.reduce("sum", A(x), 0)), [5.0, np.nan, 9.0])  # int axis accepted
    with pytest.raises(ValueError, match=r"reduce\(sum\): axis 2 is out of range"):
        _C.reduce("sum", A(x), [2])
    with pytest.raises(ValueError, match="repeated"):
        _C.reduce("sum", A(x), [1, -1])
    with pytest.raises(ValueError, match=r"reduce\(median\): unknown op"):
        _C.reduce("median", A(x), [])


@pytest.mark.parametrize("xs,target", [
    ((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 4), (1, 4)), ((3, 4), (3, 1)), ((3, 4), ()), ((2, 3, 4), (3, 1)),
    ((5, 1, 6), (1, 1)), ((0, 3), (3,)), ((2, 3), (1,)),
])
def test_sum_to_shape(xs, target, rng):
    x = f32(rng, xs)
    y = np.asarray(_C.sum_to_shape(A(x), list(target)))
    lead = len(xs) - len(target)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(target) if n == 1 and xs[lead + i] != 1)
    ref = x.astype(np.float64).sum(axis=axes, keepdims=True).reshape(target)
    assert y.shape == tuple(target)
    np.testing.assert_allclose(y, ref, *TOL["reduce"])


def test_sum_to_shape_errors():
    with pytest.raises(ValueError, match=r"sum_to_shape: cannot sum \(3, 4\) down to \(2, 4\)"):
        _C.sum_to_shape(A(np.zeros((3, 4), np.float32)), [2, 4])
    with pytest.raises(ValueError, match="sum_to_shape"):
        _C.sum_to_shape(A(np.zeros((4,), np.float32)), [1, 4])


@pytest.mark.parametrize("shape,perm", [
    ((5,), [0]), ((3, 4), [1, 0]), ((67, 129), [1, 0]), ((2, 3, 4), [2, 0, 1]), ((2, 3, 4), [0, 2, 1]),
    ((2, 3, 4, 5), [3, 1, 0, 2]), ((1, 3, 1, 4), [3, 2, 1, 0]), ((0, 3), [1, 0]), ((), []),
    ((2, 1, 3, 1, 2, 1, 2, 2), [7, 6, 5, 4, 3, 2, 1, 0]), ((300, 200), [-1, -2]),
])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_transpose(shape, perm, dtype, rng):
    x = (rng.standard_normal(shape) * 100).astype(dtype)
    y = np.asarray(_C.transpose(A(x), perm))
    np.testing.assert_array_equal(y, np.transpose(x, perm))
    assert y.dtype == dtype


def test_transpose_errors():
    x = A(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="not a permutation"):
        _C.transpose(x, [0, 0])
    with pytest.raises(ValueError, match="one entry per dimension"):
        _C.transpose(x, [0])


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
def test_concat_and_slice(dtype, rng):
    parts = [(rng.standard_normal((2, n, 3)) * 10).astype(dtype) for n in (1, 0, 4, 2)]
    y = np.asarray(_C.concat([A(p) for p in parts], 1))
    np.testing.assert_array_equal(y, np.concatenate(parts, 1))
    np.testing.assert_array_equal(np.asarray(_C.concat([A(p) for p in parts], -2)), np.concatenate(parts, 1))
    a = (rng.standard_normal((3, 2)) * 10).astype(dtype)
    np.testing.assert_array_equal(np.asarray(_C.concat([A(a), A(a)], 0)), np.concatenate([a, a], 0))
    np.testing.assert_array_equal(np.asarray(_C.concat([A(a), A(a)], 1)), np.concatenate([a, a], 1))
    for axis, s, e in [(1, 1, 5), (1, -3, None), (0, 0, 1), (2, 1, 2), (1, 5, 2), (1, -100, 100), (-1, 0, 3)]:
        stop = 10**9 if e is None else e
        sl = [slice(None)] * 3
        sl[axis] = slice(s, e)
        np.testing.assert_array_equal(np.asarray(_C.slice_axis(A(y), axis, s, stop)), y[tuple(sl)])


def test_concat_errors():
    with pytest.raises(ValueError, match="concat: array 1 has shape"):
        _C.concat([A(np.zeros((2, 3), np.float32)), A(np.zeros((3, 3), np.float32))], 1)
    with pytest.raises(TypeError, match="concat: array 1 is int64"):
        _C.concat([A(np.zeros(2, np.float32)), A(np.zeros(2, np.int64))], 0)
    with pytest.raises(ValueError, match="at least one"):
        _C.concat([], 0)
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        _C.concat([A(np.zeros((2, 3), np.float32))], 3)


@pytest.mark.parametrize("idt", [np.int64, np.int32])
def test_take_scatter_one_hot(idt, rng):
    x = f32(rng, (11, 3, 2))
    idx = np.array([3, 0, 10, 3, 3, 7], idt)
    np.testing.assert_array_equal(np.asarray(_C.take_rows(A(x), A(idx))), x[idx])
    idx2 = idx.reshape(2, 3)
    np.testing.assert_array_equal(np.asarray(_C.take_rows(A(x), A(idx2))), x[idx2])
    xi = np.arange(20, dtype=np.int64).reshape(10, 2)
    np.testing.assert_array_equal(np.asarray(_C.take_rows(A(xi), A(idx[idx < 10]))), xi[idx[idx < 10]])
    assert np.asarray(_C.take_rows(A(x), A(np.zeros(0, idt)))).shape == (0, 3, 2)
    dy = f32(rng, (6, 3, 2))
    ref = np.zeros((11, 3, 2))
    np.add.at(ref, idx, dy.astype(np.float64))
    np.testing.assert_allclose(np.asarray(_C.scatter_add_rows(A(dy), A(idx), 11)), ref, *TOL["reduce"])
    oh = np.asarray(_C.one_hot(A(idx), 12))
    np.testing.assert_array_equal(oh, np.eye(12, dtype=np.float32)[idx])
    assert oh.dtype == np.float32
    bad = np.array([1, 2, 11], idt)
    with pytest.raises(ValueError, match=r"take_rows: index 11 at position 2 is out of range"):
        _C.take_rows(A(x), A(bad))
    with pytest.raises(ValueError, match=r"take_rows: index -1 at position 0"):
        _C.take_rows(A(x), A(np.array([-1], idt)))
    with pytest.raises(ValueError, match=r"scatter_add_rows: index 11 at position 2"):
        _C.scatter_add_rows(A(f32(rng, (3, 2))), A(bad), 11)
    with pytest.raises(ValueError, match=r"one_hot: index 11 at position 2 is out of range"):
        _C.one_hot(A(bad), 11)
    with pytest.raises(TypeError, match="take_rows: indices must be int64 or int32"):
        _C.take_rows(A(x), A(np.zeros(2, np.float32)))


def test_scatter_add_large_deterministic(rng):
    idx = rng.integers(0, 50, 5000)
    dy = f32(rng, (5000, 700))
    n0 = fn.get_num_threads()
    try:
        outs = []
        for t in (1, 2, 3):
            fn.set_num_threads(t)
            outs.append(np.asarray(_C.scatter_add_rows(A(dy), A(idx), 50)).copy())
    finally:
        fn.set_num_threads(n0)
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])
    ref = np.zeros((50, 700))
    np.add.at(ref, idx, dy.astype(np.float64))
    np.testing.assert_allclose(outs[0], ref, *TOL["reduce"])


def test_cast():
    f = np.array([1.7, -1.7, 0.0, 3e9, -3e9, np.nan, 2.5], np.float32)
    i32 = np.asarray(_C.cast(A(f), "int32"))
    np.testing.assert_array_equal(i32, [1, -1, 0, 2**31 - 1, -(2**31), 0, 2])
    i64 = np.asarray(_C.cast(A(f), "int64"))
    np.testing.assert_array_equal(i64, [1, -1, 0, 3000000000, -3000000000, 0, 2])
    np.testing.assert_array_equal(np.asarray(_C.cast(A(i64), np.float32)), i64.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(_C.cast(A(i64), "int32")), i64.astype(np.int32))
    np.testing.assert_array_equal(np.asarray(_C.cast(A(i32), "int64")), i32.astype(np.int64))
    np.testing.assert_array_equal(np.asarray(_C.cast(A(f), "float32")), f)
    assert _C.cast(A(np.zeros(0, np.int32)), "float32").shape == (0,)
    with pytest.raises(TypeError):
        _C.cast(A(f), "float16")


@pytest.mark.parametrize("shape,axis", [((7,), 0), ((3, 5), -1), ((3, 5), 0), ((2, 3, 4), 1), ((1000, 3), 0),
                                        ((0, 4), 1), ((3, 300, 2), 1)])
def test_argmax(shape, axis, rng):
    x = np.round(f32(rng, shape, 2))  # ties: the first maximum wins
    y = np.asarray(_C.argmax(A(x), axis))
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, np.argmax(x, axis))


def test_argmax_nan_and_errors():
    x = np.array([[1.0, np.nan, 5.0, np.nan], [2.0, 2.0, 1.0, 0.0]], np.float32)
    np.testing.assert_array_equal(np.asarray(_C.argmax(A(x))), np.argmax(x, -1))
    np.testing.assert_array_equal(np.asarray(_C.argmax(A(x), 0)), np.argmax(x, 0))
    with pytest.raises(ValueError, match="argmax: attempt to get argmax of an empty axis"):
        _C.argmax(A(np.zeros((3, 0), np.float32)))
    with pytest.raises(ValueError, match="argmax: axis 2 is out of range"):
        _C.argmax(A(np.zeros((3, 1), np.float32)), 2)


@requires_torch
def test_against_torch(rng):
    import torch
    a, b = f32(rng, (33, 1, 17)), f32(rng, (5, 17))
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    np.testing.assert_allclose(np.asarray(_C.binary("mul", A(a), A(b))), (ta * tb).numpy(), *TOL["torch"])
    np.testing.assert_allclose(np.asarray(_C.reduce("sum", A(a), [0, 2], True)),
                               ta.sum((0, 2), keepdim=True).numpy(), *TOL["torch"])
    np.testing.assert_allclose(np.asarray(_C.reduce("mean", A(b), [0])), tb.mean(0).numpy(), *TOL["torch"])
    np.testing.assert_array_equal(np.asarray(_C.transpose(A(a), [2, 0, 1])), ta.permute(2, 0, 1).numpy())
    np.testing.assert_array_equal(np.asarray(_C.argmax(A(b), 1)), tb.argmax(1).numpy())


_FTZ_SCRIPT = r"""
import numpy as np
import fusednet as fn
tiny = np.array([1], np.uint32).view(np.float32)[0]          # 1.4e-45, built from bits
assert tiny * np.float32(1) != 0, "denormals flushed before any kernel ran"
x = fn.asarray(np.random.default_rng(0).random(1 << 20).astype(np.float32))


def one_thread_attention():       # parallel_for with T = 1 (a one-task team) inside attention_backward
    fn.set_num_threads(1)
    rng = np.random.default_rng(0)
    q, k, v, dO = (fn.asarray(rng.standard_normal(s).astype(np.float32))
                   for s in ((2, 3, 150, 16), (2, 3, 170, 16), (2, 3, 170, 16), (2, 3, 150, 16)))
    o, lse = fn._C.attention_forward(q, k, v, False)
    fn._C.attention_backward(dO, q, k, v, o, lse, False)


for name, run in (("reduce sum", lambda: fn._C.reduce("sum", x)), ("reduce max", lambda: fn._C.reduce("max", x)),
                  ("binary mul", lambda: fn._C.binary("mul", x, x)), ("unary abs", lambda: fn._C.unary("abs", x)),
                  ("activation", lambda: fn._C.activation_forward(x, "linear")),
                  ("permutation", lambda: fn._C.permutation(1 << 20, 1, 0)),
                  ("one-task team", lambda: one_thread_attention())):          # last: sets 1 thread
    run()
    assert tiny * np.float32(1) != 0, name + " left FTZ/DAZ on the calling thread"
print("ok")
"""


def test_threaded_elementwise_and_reduce_keep_callers_denormals():
    """Threaded kernels set FTZ/DAZ on the pool's threads, the calling Python thread included;
    parallel_team restores the caller's mode on return (a fit's loss reduction, large activations
    and permutations used to leave NumPy flushing denormals to zero). In a fresh process: the mode
    is per-thread state that any earlier test could have changed."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", _FTZ_SCRIPT], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
