"""fusednet.ops as keras.ops, numeric ops: values vs NumPy float64 on seeded inputs (sizes 1, primes,
broadcasting) for elementwise, comparisons, where/clip, reductions, layout, indexing, creation and
matmul's two levels. nn ops, dtype policy, operators, errors and Keras-style use: test_ops_nn.py;
gradients: test_ops_grad.py."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import Tensor, ops
from tolerances import TOL, gemm_tol

RT, AT = TOL["pointwise"]
RR, AR = TOL["reduce"]
RC, AC = TOL["ops_composed"]
RA, AA = TOL["ops_abs"]
EX = TOL["exact"]

SHAPES = [(1,), (7,), (3, 13), (2, 5, 17)]
PAIRS = [((1,), (1,)), ((7,), (1,)), ((3, 13), (13,)), ((3, 1), (1, 13)), ((2, 5, 17), (5, 1)), ((13,), ())]


def close(t, ref, rt=RT, at=AT):
    assert isinstance(t, Tensor), type(t)
    got = t.numpy()
    assert got.shape == np.shape(ref), (got.shape, np.shape(ref))
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=rt, atol=at)


def f32(a):
    return np.asarray(a, np.float32)


# ------------------------------------------------------------------ elementwise
BINARY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "maximum": np.maximum, "minimum": np.minimum,
    "power": lambda a, b: np.power(np.abs(a) + 0.5, b),
    "floor_divide": np.floor_divide, "mod": np.mod,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("sa,sb", PAIRS)
def test_binary_vs_numpy(name, sa, sb, rng):
    a, b = f32(rng.standard_normal(sa)), f32(rng.standard_normal(sb))
    if name in ("divide", "floor_divide", "mod"):
        b = f32(np.where(np.abs(b) < 0.2, 0.7, b))
    if name == "power":
        out = ops.power(f32(np.abs(a) + 0.5), b)
    else:
        out = getattr(ops, name)(a, b)
    ref = BINARY[name](a.astype(np.float64), b.astype(np.float64))
    if name in ("floor_divide", "mod"):
        # float32 division then floor: compare against the float32 quotient's floor
        q = np.floor(a / b).astype(np.float64)
        ref = q if name == "floor_divide" else a - q * b
    close(out, ref, RA, AA)


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "maximum", "minimum", "power"])
def test_binary_with_python_scalars_both_sides(name, rng):
    a = f32(np.abs(rng.standard_normal((3, 7))) + 0.5)
    f = getattr(ops, name)
    ref = BINARY[name] if name != "power" else np.power
    close(f(a, 2.5), ref(a.astype(np.float64), 2.5))
    close(f(1.5, a), ref(1.5, a.astype(np.float64)))


UNARY = {
    "negative": (np.negative, None), "square": (np.square, None), "sqrt": (np.sqrt, "pos"),
    "rsqrt": (lambda x: 1 / np.sqrt(x), "pos"), "exp": (np.exp, None), "expm1": (np.expm1, None),
    "log": (np.log, "pos"), "log1p": (np.log1p, "pos"), "log2": (np.log2, "pos"), "log10": (np.log10, "pos"),
    "abs": (np.abs, None), "absolute": (np.abs, None), "sign": (np.sign, None), "reciprocal": (np.reciprocal, "pos"),
    "sin": (np.sin, None), "cos": (np.cos, None), "floor": (np.floor, None), "ceil": (np.ceil, None),
    "round": (np.round, None),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", SHAPES)
def test_unary_vs_numpy(name, shape, rng):
    ref, dom = UNARY[name]
    x = rng.standard_normal(shape) * 2
    if dom == "pos":
        x = np.abs(x) + 0.1
    if name == "round":
        x = np.concatenate([x.ravel()[:-1], [2.5]]).reshape(shape)  # half to even, like NumPy
    x = f32(x)
    close(getattr(ops, name)(x), ref(x.astype(np.float64)))


def test_expm1_log1p_are_accurate_near_zero_in_absolute_terms():
    x = f32([1e-4, -1e-4, 0.0])
    close(ops.expm1(x), np.expm1(x.astype(np.float64)), *TOL["ops_near_zero"])
    close(ops.log1p(x), np.log1p(x.astype(np.float64)), *TOL["ops_near_zero"])


# ------------------------------------------------------------------ comparisons, logical, where, clip
CMP = {"equal": np.equal, "not_equal": np.not_equal, "greater": np.greater, "greater_equal": np.greater_equal,
       "less": np.less, "less_equal": np.less_equal}


@pytest.mark.parametrize("name", sorted(CMP))
@pytest.mark.parametrize("sa,sb", PAIRS[:5])
def test_comparisons_are_float_masks(name, sa, sb, rng):
    a, b = f32(rng.integers(-2, 3, sa)), f32(rng.integers(-2, 3, sb))  # many ties
    out = getattr(ops, name)(a, b)
    assert out.dtype == "float32"
    close(out, CMP[name](a, b).astype(np.float64), *EX)


@pytest.mark.parametrize("name,ref", [("logical_and", np.logical_and), ("logical_or", np.logical_or),
                                      ("logical_xor", np.logical_xor)])
def test_logical_binary(name, ref, rng):
    a, b = f32(rng.integers(0, 2, (5, 7)) * rng.standard_normal((5, 7))), f32(rng.integers(0, 2, (7,)))
    close(getattr(ops, name)(a, b), ref(a != 0, b != 0).astype(np.float64), *EX)
    close(ops.logical_not(a), np.logical_not(a).astype(np.float64), *EX)


def test_isnan_isfinite_isinf():
    x = f32([0.0, -1.5, np.inf, -np.inf, np.nan, 3e38])
    close(ops.isnan(x), np.isnan(x).astype(np.float64), *EX)
    close(ops.isfinite(x), np.isfinite(x).astype(np.float64), *EX)
    close(ops.isinf(x), np.isinf(x).astype(np.float64), *EX)


@pytest.mark.parametrize("sc,sa,sb", [((1,), (1,), (1,)), ((3, 13), (13,), ()), ((2, 5, 1), (5, 7), (2, 1, 7))])
def test_where_broadcasts(sc, sa, sb, rng):
    c = f32(rng.integers(0, 2, sc))
    a, b = f32(rng.standard_normal(sa)), f32(rng.standard_normal(sb))
    close(ops.where(c, a, b), np.where(c != 0, a, b).astype(np.float64), *EX)
    close(ops.where(c, 1.5, b), np.where(c != 0, 1.5, b).astype(np.float64), *EX)
    close(ops.where(c, a, -2.0), np.where(c != 0, a, -2.0).astype(np.float64), *EX)


def test_where_is_a_select_not_arithmetic():
    x = f32([-1.0, 0.0, 4.0, np.inf])
    t = Tensor(x)
    out = ops.where(t > 0, ops.sqrt(t), 0.0)      # sqrt(-1) = NaN in the branch not taken
    close(out, np.array([0.0, 0.0, 2.0, np.inf]), *EX)
    out = ops.where(f32([1, 0]), f32([np.inf, np.nan]), f32([np.nan, -np.inf]))
    close(out, np.array([np.inf, -np.inf]), *EX)


@pytest.mark.parametrize("shape", SHAPES)
def test_clip(shape, rng):
    x = f32(rng.standard_normal(shape) * 3)
    close(ops.clip(x, -1.0, 2.0), np.clip(x, -1.0, 2.0).astype(np.float64), *EX)
    lo = f32(rng.standard_normal(shape[-1:]) - 1)
    close(ops.clip(x, lo, 1.0), np.clip(x, lo, 1.0).astype(np.float64), *EX)
    with pytest.raises(ValueError, match=r"clip: x_min \(2.0\) must be <= x_max \(1.0\)"):
        ops.clip(x, 2.0, 1.0)


# ------------------------------------------------------------------ reductions
REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
          "var": np.var, "std": np.std, "logsumexp": None, "any": np.any, "all": np.all}


def _lse(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    r = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return r if keepdims else np.squeeze(r, axis=axis)


@pytest.mark.parametrize("name", sorted(REDUCE))
@pytest.mark.parametrize("shape,axis", [((1,), None), ((7,), 0), ((3, 13), 1), ((3, 13), -2), ((2, 5, 17), (0, 2)),
                                        ((2, 5, 17), None)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_vs_numpy(name, shape, axis, keepdims, rng):
    x = rng.standard_normal(shape)
    if name == "prod":
        x = 1 + 0.1 * x
    if name in ("any", "all"):
        x = x * rng.integers(0, 2, shape) if name == "any" else x + (x == 0)
    x = f32(x)
    x64 = x.astype(np.float64)
    out = getattr(ops, name)(x, axis=axis, keepdims=keepdims)
    if name == "logsumexp":
        ref = _lse(x64, axis, keepdims)
    else:
        ref = REDUCE[name](x64, axis=axis, keepdims=keepdims)
    rt = RC if name in ("var", "std", "logsumexp") else RR
    close(out, np.asarray(ref, np.float64), rt, AR)


def test_argmax_argmin_and_count(rng):
    x = f32(rng.standard_normal((3, 13, 5)))
    for axis in (None, 0, 1, -1):
        for keep in (False, True):
            a = ops.argmax(x, axis=axis, keepdims=keep)
            assert a.dtype == "int64"
            np.testing.assert_array_equal(a.numpy(), np.argmax(x, axis=axis, keepdims=keep))
            np.testing.assert_array_equal(ops.argmin(x, axis=axis, keepdims=keep).numpy(),
                                          np.argmin(x, axis=axis, keepdims=keep))
    z = f32(rng.integers(0, 2, (4, 7)))
    np.testing.assert_array_equal(ops.count_nonzero(z, axis=1).numpy(), np.count_nonzero(z, axis=1))


def test_logsumexp_handles_infinities():
    x = f32([[0.0, -np.inf], [-np.inf, -np.inf], [np.inf, 1.0]])
    close(ops.logsumexp(x, axis=1), np.array([0.0, -np.inf, np.inf]), *EX)


# ------------------------------------------------------------------ layout and indexing
def test_reshape_family(rng):
    x = f32(rng.standard_normal((2, 3, 5)))
    close(ops.reshape(x, (5, -1)), x.reshape(5, -1))
    close(ops.flatten(x), x.reshape(2, -1))
    close(ops.ravel(x), x.ravel())
    close(ops.expand_dims(x, 1), np.expand_dims(x, 1))
    close(ops.expand_dims(x, -1), np.expand_dims(x, -1))
    close(ops.expand_dims(x, (0, 2)), np.expand_dims(x, (0, 2)))
    close(ops.squeeze(f32(np.ones((1, 3, 1)))), np.ones(3))
    close(ops.squeeze(f32(np.ones((1, 3, 1))), axis=-1), np.ones((1, 3)))
    close(ops.transpose(x), x.T)
    close(ops.transpose(x, (1, 0, 2)), x.transpose(1, 0, 2))
    close(ops.swapaxes(x, 0, 2), np.swapaxes(x, 0, 2))
    close(ops.moveaxis(x, 0, -1), np.moveaxis(x, 0, -1))


def test_concatenate_stack_split(rng):
    a, b = f32(rng.standard_normal((3, 1, 5))), f32(rng.standard_normal((3, 7, 5)))
    close(ops.concatenate([a, b], axis=1), np.concatenate([a, b], axis=1))
    c = f32(rng.standard_normal((3, 7, 5)))
    for ax in (0, 1, -1, 3):
        close(ops.stack([b, c], axis=ax), np.stack([b, c], axis=ax))
    parts = ops.split(b, [2, 3], axis=1)
    for p, r in zip(parts, np.split(b, [2, 3], axis=1)):
        close(p, r)
    for p, r in zip(ops.split(f32(np.arange(12.0)), 3), np.split(np.arange(12.0), 3)):
        close(p, r)


def test_tile_repeat_broadcast_to(rng):
    x = f32(rng.standard_normal((2, 3)))
    for reps in (2, (2, 1), (1, 3), (2, 1, 2)):
        close(ops.tile(x, reps), np.tile(x, reps))
    for axis in (None, 0, 1):
        close(ops.repeat(x, 3, axis=axis), np.repeat(x, 3, axis=axis))
    close(ops.broadcast_to(f32([1.0, 2.0, 3.0]), (4, 3)), np.broadcast_to([1.0, 2.0, 3.0], (4, 3)))


def test_getitem_and_take(rng):
    x = f32(rng.standard_normal((5, 7, 3)))
    t = Tensor(x)
    for key in (2, -1, slice(1, 4), (slice(None), 3), (1, slice(2, 6), 0), (Ellipsis, 1), [4, 0, 0],
                None, (None, 1), (Ellipsis, None), (slice(None, None, -1),), (slice(None), slice(5, 0, -2)),
                (Ellipsis, slice(None, None, 2)), (slice(4, 1),), np.array([[0, 4], [1, 1]])):
        ref = x[key] if not isinstance(key, list) else x[np.array(key)]
        close(t[key], ref)
    with pytest.raises(IndexError, match="getitem: an index can only have a single ellipsis"):
        t[..., 0, ...]
    with pytest.raises(TypeError, match="getitem: indices must be integers, got bool"):
        t[np.array([True, False, True, False, True])]
    for axis in (None, 0, 1, 2):
        idx = np.array([[0, 2], [1, 2]])
        close(ops.take(x, idx, axis=axis), np.take(x, idx, axis=axis))


def test_creation():
    close(ops.zeros((2, 3)), np.zeros((2, 3)))
    close(ops.ones(4), np.ones(4))
    close(ops.full((1, 7), 2.5), np.full((1, 7), 2.5))
    close(ops.zeros_like(f32(np.ones((3,)))), np.zeros(3))
    close(ops.ones_like(f32(np.ones((3,)))), np.ones(3))
    close(ops.full_like(f32(np.ones((3,))), -1.0), -np.ones(3))
    a = ops.arange(5)
    assert a.dtype == "int64"
    np.testing.assert_array_equal(a.numpy(), np.arange(5))
    close(ops.arange(0.5, 3.0, 0.5), np.arange(0.5, 3.0, 0.5))
    close(ops.linspace(-1.0, 1.0, 7), np.linspace(-1.0, 1.0, 7))
    for n, m, k in [(1, None, 0), (3, None, 0), (3, 5, 1), (5, 3, -2), (4, 4, 7)]:
        close(ops.eye(n, m, k), np.eye(n, m, k))
    assert ops.full((2,), 3, dtype="int32").dtype == "int32"


# ------------------------------------------------------------------ matmul: two levels
@pytest.mark.parametrize("sa,sb", [((1,), (1,)), ((7,), (7,)), ((3, 7), (7,)), ((7,), (7, 5)), ((1, 1), (1, 1)),
                                   ((3, 13), (13, 5)), ((2, 3, 13), (13, 5)), ((2, 3, 7), (2, 7, 5)),
                                   ((4, 1, 3, 7), (2, 7, 5)), ((3, 7), (2, 7, 5))])
def test_matmul_numpy_shapes(sa, sb, rng):
    a, b = f32(rng.standard_normal(sa)), f32(rng.standard_normal(sb))
    out = ops.matmul(Tensor(a), b)
    assert isinstance(out, Tensor)
    tol = gemm_tol(sa[-1])
    close(out, np.matmul(a.astype(np.float64), b.astype(np.float64)), *tol)
    close(Tensor(a) @ b, np.matmul(a.astype(np.float64), b.astype(np.float64)), *tol)
    if len(sb) <= 2:
        close(ops.dot(Tensor(a), b), np.dot(a.astype(np.float64), b.astype(np.float64)), *tol)


def test_matmul_dispatch_keeps_the_kernel_call_for_arrays(rng):
    a, b = f32(rng.standard_normal((3, 4))), f32(rng.standard_normal((4, 2)))
    r = ops.matmul(a, b)
    assert isinstance(r, fn.Array)
    np.testing.assert_allclose(np.asarray(r), a @ b, *gemm_tol(4))
    r = ops.matmul(fn.asarray(a), fn.asarray(b.T.copy()), trans_b=True, activation="relu")
    assert isinstance(r, fn.Array)
    np.testing.assert_allclose(np.asarray(r), np.maximum(a @ b, 0), *gemm_tol(4))
    assert isinstance(ops.matmul(a.tolist(), b.tolist()), Tensor)   # lists: the Keras op
    with pytest.raises(TypeError, match=r"matmul: kernel keywords \['trans_b'\] take Arrays.*\(3, 4\) @ \(4, 2\)"):
        ops.matmul(Tensor(a), b, trans_b=True)
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ: \(3, 4\) @ \(3, 2\)"):
        ops.matmul(Tensor(a), f32(np.ones((3, 2))))


def test_linear_and_depthwise_are_reexported(rng):
    x, w, b = f32(rng.standard_normal((5, 3))), f32(rng.standard_normal((3, 2))), f32(rng.standard_normal(2))
    close(ops.linear(x, w, b, "relu"), np.maximum(x.astype(np.float64) @ w + b, 0), *gemm_tol(3))
    assert fn.functional.linear is ops.linear and fn.functional.depthwise_conv2d is ops.depthwise_conv2d


# ------------------------------------------------------------------ norm, average, outer, slice, pad, segment_sum
@pytest.mark.parametrize("ord_,axis", [(None, None), (2, 1), (1, 0), (np.inf, -1), (-np.inf, 1), (0, None),
                                       ("fro", (0, 1)), (None, (0, 1))])
def test_norm_vs_numpy(ord_, axis, rng):
    x = f32(rng.standard_normal((3, 13)) * rng.integers(0, 2, (3, 13)))
    x64 = x.astype(np.float64)
    if axis is None and ord_ not in (None, 2):
        ref = np.linalg.norm(x64.ravel(), ord=ord_)
    else:
        ref = np.linalg.norm(x64, ord=ord_, axis=axis)
    close(ops.norm(x, ord=ord_, axis=axis), np.asarray(ref), RC, AC)
    with pytest.raises(ValueError, match=r"norm: only the Frobenius norm is supported over two axes"):
        ops.norm(x, ord=1, axis=(0, 1))


def test_average_outer_slice_pad_segment_sum(rng):
    x = f32(rng.standard_normal((3, 13)))
    w = f32(np.abs(rng.standard_normal(13)) + 0.1)
    x64 = x.astype(np.float64)
    close(ops.average(x, axis=1, weights=w), np.average(x64, axis=1, weights=w), RC, AC)
    close(ops.average(x, weights=np.abs(x) + 1), np.average(x64, weights=np.abs(x64) + 1), RC, AC)
    close(ops.average(x, axis=0), np.average(x64, axis=0), RR, AR)
    close(ops.outer(x[0, :5], x[1]), np.outer(x64[0, :5], x64[1]))
    close(ops.slice(x, (1, 2), (2, -1)), x64[1:3, 2:])
    close(ops.pad(x, ((1, 0), (2, 3)), constant_values=-1.5),
          np.pad(x64, ((1, 0), (2, 3)), constant_values=-1.5), *EX)
    close(ops.pad(x, 1), np.pad(x64, 1), *EX)
    ids = np.array([0, 4, 4])
    ref = np.zeros((5, 13))
    np.add.at(ref, ids, x64)
    close(ops.segment_sum(x, ids), ref, RR, AR)
    close(ops.segment_sum(x, ids, num_segments=7), np.concatenate([ref, np.zeros((2, 13))]), RR, AR)
    with pytest.raises(ValueError, match=r"segment_sum: segment_ids of shape \(2,\) must be 1-D with one id per row of data \(3, 13\)"):
        ops.segment_sum(x, [0, 1])
    with pytest.raises(ValueError, match=r"slice: block start \(2, 0\) shape \(2, 1\) is outside the input of shape \(3, 13\)"):
        ops.slice(x, (2, 0), (2, 1))
    with pytest.raises(ValueError, match=r"pad: pad_width \[\[1, -1\], \[0, 0\]\] must be non-negative"):
        ops.pad(x, ((1, -1), (0, 0)))
    with pytest.raises(ValueError, match=r"average: weights of length 5 do not match axis 1 of shape \(3, 13\)"):
        ops.average(x, axis=1, weights=np.ones(5, np.float32))


def test_truth_value_of_tensors():
    x = Tensor(f32([1.0, -2.0]))
    assert ops.any(x > 0) and not ops.all(x > 0) and bool(Tensor(f32(3.0)))
    with pytest.raises(ValueError, match=r"Tensor: the truth value of a tensor of shape \(2,\) is ambiguous"):
        bool(x > 0)
