"""Native sort / argsort / top_k, cumsum / cumprod, erf / erfinv and the einsum dispatch:
forward vs float64 NumPy (and torch where it defines the convention: top_k ties and NaN),
sizes 1, primes and long rows, several axes; every gradient vs float64 central differences;
bad input raises naming the op; results independent of the thread count; CUDA twins vs CPU."""
import math

import numpy as np
import pytest

import fusednet as fn
from fusednet import _C, ops
from test_ops_grad import gradcheck, normal
from tolerances import TOL

SHAPES = [(1,), (7,), (3, 1), (2, 13), (5, 3, 11), (1, 4097)]


def distinct(rng, shape):
    """Values with distinct entries (no ties) so sort gradients are defined."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) * 0.37 + rng.uniform(0, 0.1, shape)).astype(np.float32)


@pytest.mark.parametrize("shape", SHAPES)
def test_sort_argsort_vs_numpy_every_axis(shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    x.flat[::3] = x.flat[0]  # ties: argsort must keep the lower index first (stable)
    for ax in range(-len(shape), len(shape)):
        np.testing.assert_array_equal(ops.sort(x, axis=ax).numpy(), np.sort(x, axis=ax))
        got = ops.argsort(x, axis=ax).numpy()
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, np.argsort(x, axis=ax, kind="stable"))


def test_integer_inputs_keep_their_dtype(rng):
    x = rng.integers(-50, 50, (4, 9)).astype(np.int32)
    got = ops.sort(x)
    assert got.dtype == "int32"
    np.testing.assert_array_equal(got.numpy(), np.sort(x))
    v, i = ops.top_k(x.astype(np.int64), 3)
    assert v.dtype == "int64" and i.dtype == "int64"
    np.testing.assert_array_equal(v.numpy(), -np.sort(-x, axis=-1)[:, :3])


def test_sort_nan_last_and_top_k_nan_first_like_numpy_and_torch():
    x = np.array([[3.0, np.nan, -1.0, 2.0, np.nan, 0.0]], np.float32)
    np.testing.assert_array_equal(ops.sort(x).numpy(), np.sort(x))
    np.testing.assert_array_equal(ops.argsort(x).numpy(), np.argsort(x, kind="stable"))
    v, i = ops.top_k(x, 4)
    np.testing.assert_array_equal(i.numpy(), [[1, 4, 0, 3]])
    np.testing.assert_array_equal(v.numpy(), [[np.nan, np.nan, 3.0, 2.0]])


@pytest.mark.parametrize("shape,k", [((1,), 1), ((7,), 3), ((2, 13), 13), ((5, 3, 11), 4), ((3, 5000), 17), ((4, 6), 0)])
def test_top_k_vs_numpy_and_ties_lower_index_first(shape, k, rng):
    x = np.round(rng.standard_normal(shape) * 2).astype(np.float32)  # many ties
    v, i = ops.top_k(x, k)
    want_i = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    np.testing.assert_array_equal(i.numpy(), want_i)
    np.testing.assert_array_equal(v.numpy(), np.take_along_axis(x, want_i, -1))


def test_top_k_vs_torch_topk_on_distinct_values(rng):
    torch = pytest.importorskip("torch")
    x = distinct(rng, (6, 50))
    v, i = ops.top_k(x, 9)
    tv, ti = torch.topk(torch.from_numpy(x), 9, sorted=True)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    np.testing.assert_array_equal(i.numpy(), ti.numpy())


@pytest.mark.parametrize("shape", SHAPES[:5])
def test_cumsum_cumprod_vs_numpy_float64(shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    x64 = x.astype(np.float64)
    for ax in list(range(len(shape))) + [None]:
        np.testing.assert_allclose(ops.cumsum(x, axis=ax).numpy(), np.cumsum(x64, axis=ax), *TOL["reduce"])
        y = 0.5 + rng.uniform(0, 1, shape)
        np.testing.assert_allclose(ops.cumprod(y.astype(np.float32), axis=ax).numpy(),
                                   np.cumprod(y.astype(np.float32).astype(np.float64), axis=ax), *TOL["pointwise"])


def test_cumsum_dtype_and_long_axis(rng):
    x = rng.standard_normal((3, 10007)).astype(np.float32)
    np.testing.assert_allclose(ops.cumsum(x, axis=1).numpy(), np.cumsum(x.astype(np.float64), axis=1), *TOL["reduce"])
    assert ops.cumsum(np.ones((2, 3), np.float32), axis=0, dtype="float32").dtype == "float32"


def test_erf_vs_math_erf_and_erfinv_round_trip(rng):
    x = np.concatenate([rng.standard_normal(997) * 2, [0.0, -0.0, 6.0, -6.0, 1e-30]]).astype(np.float32)
    np.testing.assert_allclose(ops.erf(x).numpy(), [math.erf(float(v)) for v in x], *TOL["pointwise"])
    p = np.concatenate([rng.uniform(-1, 1, 1009), [0.0, 0.999999, -0.9999999, 1e-8]]).astype(np.float32)
    y = ops.erfinv(p).numpy().astype(np.float64)
    # y is erfinv(p) rounded to float32: erf(y) recovers p within the rounding of y (slope of erf)
    slope = 2 / math.sqrt(math.pi) * np.exp(-y * y)
    err = np.abs(np.array([math.erf(v) for v in y]) - p.astype(np.float64))
    rel, floor = TOL["erfinv_roundtrip"]
    assert np.all(err <= slope * np.abs(y) * rel + floor)
    e = ops.erfinv(np.array([1.0, -1.0, 1.5, -2.0, np.nan], np.float32)).numpy()
    assert e[0] == np.inf and e[1] == -np.inf and np.isnan(e[2:]).all()


def test_erf_erfinv_vs_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(513).astype(np.float32)
    np.testing.assert_allclose(ops.erf(x).numpy(), torch.erf(torch.from_numpy(x)).numpy(), *TOL["torch"])
    p = rng.uniform(-0.999, 0.999, 513).astype(np.float32)
    np.testing.assert_allclose(ops.erfinv(p).numpy(), torch.erfinv(torch.from_numpy(p)).numpy(), *TOL["torch"])


# ---------------------------------------------------------------- gradients (float64 FD)
@pytest.mark.parametrize("shape,axis", [((7,), 0), ((3, 5), 0), ((2, 3, 5), 1), ((2, 11), -1)])
def test_sort_grad(shape, axis, rng):
    gradcheck(lambda t: ops.sort(t, axis=axis), lambda v: np.sort(v, axis=axis), [distinct(rng, shape)], rng)


@pytest.mark.parametrize("shape,k", [((7,), 3), ((3, 5), 5), ((2, 3, 13), 4)])
def test_top_k_values_grad(shape, k, rng):
    def ref(v):
        return np.take_along_axis(v, np.argsort(-v, axis=-1, kind="stable")[..., :k], -1)
    gradcheck(lambda t: ops.top_k(t, k)[0], ref, [distinct(rng, shape)], rng)


@pytest.mark.parametrize("shape,axis", [((1,), 0), ((7,), 0), ((3, 5), 1), ((2, 3, 5), 1), ((2, 3), None)])
def test_cumsum_grad(shape, axis, rng):
    gradcheck(lambda t: ops.cumsum(t, axis=axis), lambda v: np.cumsum(v, axis=axis), [normal(rng, *shape)], rng)


@pytest.mark.parametrize("shape,axis,zeros", [((7,), 0, ()), ((3, 5), 1, ()), ((2, 3, 5), 1, ((0, 1, 2), (1, 0, 4))),
                                              ((6,), 0, ((2,),)), ((6,), 0, ((2,), (4,))), ((4,), 0, ((0,),)), ((2, 3), None, ())])
def test_cumprod_grad_exact_at_zeros(shape, axis, zeros, rng):
    x = normal(rng, *shape, away=0.3)
    for z in zeros:
        x[z] = 0.0
    gradcheck(lambda t: ops.cumprod(t, axis=axis), lambda v: np.cumprod(v, axis=axis), [x], rng)


def test_erf_erfinv_grads(rng):
    gradcheck(ops.erf, np.vectorize(math.erf), [normal(rng, 3, 7)], rng)
    p = rng.uniform(-0.9, 0.9, (2, 5))

    def ref_erfinv(v):  # float64 inverse by bisection (enough for central differences)
        lo, hi = np.full(v.shape, -4.0), np.full(v.shape, 4.0)
        erf = np.vectorize(math.erf)
        for _ in range(80):
            mid = (lo + hi) / 2
            big = erf(mid) > v
            hi, lo = np.where(big, mid, hi), np.where(big, lo, mid)
        return (lo + hi) / 2
    gradcheck(ops.erfinv, ref_erfinv, [p], rng)


# ---------------------------------------------------------------- einsum
EINSUMS = [("ij,jk->ik", [(3, 5), (5, 7)]), ("bij,bjk->bik", [(2, 3, 5), (2, 5, 4)]), ("ij->ji", [(3, 4)]),
           ("ijk->", [(2, 3, 4)]), ("i,i->", [(7,), (7,)]), ("i,j->ij", [(3,), (4,)]),
           ("bhqd,bhkd->bhqk", [(2, 3, 5, 4), (2, 3, 6, 4)]), ("...ij,jk->...ik", [(2, 3, 4, 5), (5, 2)]),
           ("ijk,ljk->il", [(3, 5, 4), (2, 5, 4)]), ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 5)]),
           ("ij,kj", [(3, 4), (5, 4)]), ("bi,bij->bj", [(4, 3), (4, 3, 2)]), ("abc,c->ab", [(2, 3, 4), (4,)]),
           ("ij,ij->i", [(3, 4), (3, 4)]), ("bij,jk->bki", [(1, 3, 4), (4, 6)])]


@pytest.mark.parametrize("sub,shapes", EINSUMS)
def test_einsum_vs_numpy_and_grads(sub, shapes, rng):
    xs = [rng.standard_normal(s) for s in shapes]
    got = ops.einsum(sub, *[x.astype(np.float32) for x in xs]).numpy()
    want = np.einsum(sub, *xs)
    np.testing.assert_allclose(got, want, *TOL["ops_composed"])
    gradcheck(lambda *t: ops.einsum(sub, *t), lambda *v: np.einsum(sub, *v), xs, rng)


def test_einsum_vs_torch(rng):
    torch = pytest.importorskip("torch")
    a, b = rng.standard_normal((2, 4, 3, 5)).astype(np.float32), rng.standard_normal((2, 4, 6, 5)).astype(np.float32)
    want = torch.einsum("bhqd,bhkd->bhqk", torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(ops.einsum("bhqd,bhkd->bhqk", a, b).numpy(), want, *TOL["torch"])


# ---------------------------------------------------------------- errors, threads
def test_errors_name_the_op_and_shapes():
    x = np.zeros((2, 5), np.float32)
    with pytest.raises(ValueError, match=r"top_k.*\(2, 5\)"):
        ops.top_k(x, 6)
    with pytest.raises(ValueError, match="top_k"):
        ops.top_k(x, -1)
    with pytest.raises(ValueError, match="top_k"):
        ops.top_k(np.float32(1.0), 1)
    with pytest.raises(ValueError, match=r"sort: k must be -1"):
        _C.sort_rows(_C.asarray(x), -2)
    with pytest.raises(ValueError, match=r"sort: k=6 exceeds"):
        _C.sort_rows(_C.asarray(x), 6)
    with pytest.raises(ValueError, match="sort.*axis"):
        ops.sort(x, axis=2)
    with pytest.raises(ValueError, match="cumsum.*axis"):
        ops.cumsum(x, axis=-3)
    with pytest.raises(ValueError, match=r"sort_backward.*outside \[0, 5\)"):
        _C.sort_backward(_C.asarray(np.ones((2, 2), np.float32)), _C.asarray(np.array([[0, 1], [5, 0]], np.int64)), 5)
    with pytest.raises(ValueError, match="sort_backward"):
        _C.sort_backward(_C.asarray(np.ones((2, 2), np.float32)), _C.asarray(np.array([[0, -1], [1, 0]], np.int64)), 5)
    with pytest.raises(TypeError):
        _C.sort_backward(_C.asarray(np.ones((2, 2), np.float32)), _C.asarray(np.zeros((2, 2), np.int32)), 5)
    with pytest.raises(ValueError, match="cumprod_backward"):
        _C.cumprod_backward(_C.asarray(np.ones((3,), np.float32)), _C.asarray(np.ones((2,), np.float32)),
                            _C.asarray(np.ones((2,), np.float32)), 0)
    with pytest.raises(ValueError, match="special"):
        _C.special("gamma", _C.asarray(x))
    with pytest.raises(ValueError, match="einsum.*repeated"):
        ops.einsum("ii->i", np.eye(3, dtype=np.float32))
    with pytest.raises(ValueError, match="einsum"):
        ops.einsum("ij,jk->ik", np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="einsum"):
        ops.einsum("ij,jk->ik", np.zeros((2, 3), np.float32))


def test_thread_count_invariance(rng):
    x = rng.standard_normal((64, 777)).astype(np.float32)
    saved = fn.get_num_threads()
    try:
        res = []
        for t in (1, 2, 3):
            fn.set_num_threads(t)
            res.append([ops.sort(x).numpy(), ops.top_k(x, 5)[1].numpy(), ops.cumsum(x, axis=1).numpy(),
                        ops.cumprod(x[:, :20], axis=1).numpy(), ops.erfinv(np.tanh(x)).numpy()])
    finally:
        fn.set_num_threads(saved)
    for r in res[1:]:
        for a, b in zip(res[0], r):
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- CUDA twins
@pytest.mark.cuda
def test_cuda_twins_match_cpu(rng):
    def dev(a):
        return _C.asarray(np.ascontiguousarray(a)).to("cuda")

    def host(a):
        return np.asarray(a.to("cpu"))
    RT, AT = TOL["cuda_vs_cpu"]
    for shape in [(1,), (3, 13), (2, 5000)]:
        x = np.round(rng.standard_normal(shape) * 3).astype(np.float32)
        x.flat[1 % x.size] = np.nan
        for k, desc in ((-1, False), (min(4, shape[-1]), True)):
            v, i = _C.sort_rows(_C.asarray(x), k, desc)
            dv, di = _C.sort_rows(dev(x), k, desc)
            np.testing.assert_array_equal(host(dv), np.asarray(v))
            np.testing.assert_array_equal(host(di), np.asarray(i))
            g = rng.standard_normal(np.asarray(v).shape).astype(np.float32)
            np.testing.assert_array_equal(host(_C.sort_backward(dev(g), di, shape[-1])),
                                          np.asarray(_C.sort_backward(_C.asarray(g), i, shape[-1])))
    x = rng.standard_normal((3, 17, 5)).astype(np.float32)
    x[1, 4, 2] = 0.0
    g = rng.standard_normal(x.shape).astype(np.float32)
    for ax in (0, 1, 2):
        np.testing.assert_allclose(host(_C.cumsum(dev(x), ax, True)), np.asarray(_C.cumsum(_C.asarray(x), ax, True)), RT, AT)
        y = _C.cumprod(_C.asarray(x), ax)
        np.testing.assert_allclose(host(_C.cumprod(dev(x), ax)), np.asarray(y), RT, AT)
        np.testing.assert_allclose(host(_C.cumprod_backward(dev(g), dev(x), dev(np.asarray(y)), ax)),
                                   np.asarray(_C.cumprod_backward(_C.asarray(g), _C.asarray(x), y, ax)), RT, AT)
    p = np.tanh(x)
    for name, v in (("erf", x), ("erfinv", p)):
        np.testing.assert_allclose(host(_C.special(name, dev(v))), np.asarray(_C.special(name, _C.asarray(v))), RT, AT)
        np.testing.assert_allclose(host(_C.special_backward(name, dev(g), dev(v))),
                                   np.asarray(_C.special_backward(name, _C.asarray(g), _C.asarray(v))), RT, AT)
    with pytest.raises(ValueError, match="sort_backward"):
        _C.sort_backward(dev(np.ones((1, 2), np.float32)), dev(np.array([[0, 9]], np.int64)), 3)


def test_same_results_as_keras_ops(rng):
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("real Keras is loaded with a non-torch backend")
    kops = keras.ops
    x = distinct(rng, (3, 4, 7))
    np.testing.assert_array_equal(ops.sort(x, axis=1).numpy(), kops.convert_to_numpy(kops.sort(x, axis=1)))
    np.testing.assert_array_equal(ops.argsort(x, axis=0).numpy(), kops.convert_to_numpy(kops.argsort(x, axis=0)))
    kv, ki = kops.top_k(x, 3)
    v, i = ops.top_k(x, 3)
    np.testing.assert_array_equal(v.numpy(), kops.convert_to_numpy(kv))
    np.testing.assert_array_equal(i.numpy(), kops.convert_to_numpy(ki))
    for ax in (None, 0, 2):
        np.testing.assert_allclose(ops.cumsum(x, axis=ax).numpy(), kops.convert_to_numpy(kops.cumsum(x, axis=ax)),
                                   *TOL["reduce"])
        np.testing.assert_allclose(ops.cumprod(x / 10, axis=ax).numpy(),
                                   kops.convert_to_numpy(kops.cumprod(x / 10, axis=ax)), *TOL["pointwise"])
    p = np.tanh(x)
    np.testing.assert_allclose(ops.erf(x).numpy(), kops.convert_to_numpy(kops.erf(x)), *TOL["torch"])
    np.testing.assert_allclose(ops.erfinv(p).numpy(), kops.convert_to_numpy(kops.erfinv(p)), *TOL["torch"])
    a, b = x, rng.standard_normal((3, 7, 5)).astype(np.float32)
    for sub, args in (("bij,bjk->bik", (a, b)), ("bij,bkj->bik", (a, a)), ("...j,j->...", (a, a[0, 0]))):
        np.testing.assert_allclose(ops.einsum(sub, *args).numpy(), kops.convert_to_numpy(kops.einsum(sub, *args)),
                                   *TOL["torch"])
    np.testing.assert_allclose(ops.matmul(fn.Tensor(a), b).numpy(), kops.convert_to_numpy(kops.matmul(a, b)), *TOL["torch"])
