"""CUDA ops vs their CPU twins, through the Python API.

Every test is marked ``cuda`` and skips itself without a device (conftest.py). Pattern: build
inputs in NumPy, run the op on the CPU arrays and on ``.to('cuda')`` copies, bring the CUDA result
back with ``.to('cpu')`` and compare with TOL["cuda_vs_cpu"]. Shapes are deliberately awkward
(1, primes, non-multiples of the 128/64/16/8 GEMM tiles and of the float4 width) so every
edge/tail path runs. Where an op takes ``out=``, the CUDA output is first poisoned with NaN to
prove every element is written. Philox ops must be bitwise identical to the CPU.
"""
import math

import numpy as np
import pytest

import fusednet as fn
from fusednet import _C
from tolerances import TOL

pytestmark = pytest.mark.cuda

RT, AT = TOL["cuda_vs_cpu"]


def dev(a):
    return _C.asarray(np.ascontiguousarray(a)).to("cuda")


def host(a):
    return np.array(a.to("cpu").numpy(), copy=True)


def cpu(a):
    return _C.asarray(np.ascontiguousarray(a))


def close(got, want, rtol=RT, atol=AT):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def poison(shape):
    return _C.full(list(shape), float("nan"), "float32", "cuda")


# ------------------------------------------------------------------ runtime
def test_device_visible():
    assert fn.cuda.is_available()
    assert fn.cuda.device_count() >= 1


# ------------------------------------------------------------------ gemm
GEMM_SHAPES = [(1, 1, 1), (1, 7, 3), (5, 1, 2), (17, 13, 11), (31, 67, 129), (128, 128, 8),
               (129, 131, 127), (64, 200, 0), (257, 255, 513), (300, 17, 1000), (2, 1031, 9)]


def _ref_gemm(a, b, ta, tb, bias=None, act="none", c=None, beta=0.0):
    A = a.T if ta else a
    B = b.T if tb else b
    z = A.astype(np.float64) @ B.astype(np.float64)
    if bias is not None:
        z = z + bias
    if beta != 0.0:
        z = z + beta * c
    if act == "relu":
        z = np.maximum(z, 0)
    elif act == "sigmoid":
        z = 1 / (1 + np.exp(-z))
    elif act == "tanh":
        z = np.tanh(z)
    return z


@pytest.mark.parametrize("M,N,K", GEMM_SHAPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_vs_cpu(M, N, K, ta, tb, rng):
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
    want = host(_C.matmul(cpu(a), cpu(b), trans_a=ta, trans_b=tb))
    out = poison((M, N))
    got = host(_C.matmul(dev(a), dev(b), trans_a=ta, trans_b=tb, out=out))
    scale = np.abs(a.T if ta else a) @ np.abs(b.T if tb else b) + 1e-30
    s = math.sqrt(max(K, 1))
    assert np.all(np.abs(got - want) <= 8 * RT * s * scale + AT)
    assert np.isfinite(got).all()


@pytest.mark.parametrize("act", ["none", "relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (37, 53, 29), (130, 258, 67)])
def test_matmul_epilogue_bias_beta(M, N, K, act, rng):
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32) / math.sqrt(K)
    bias = rng.standard_normal(N).astype(np.float32)
    c0 = rng.standard_normal((M, N)).astype(np.float32)
    want_out = cpu(c0.copy())
    want = host(_C.matmul(cpu(a), cpu(b), bias=cpu(bias), activation=act, out=want_out, beta=0.5))
    got = host(_C.matmul(dev(a), dev(b), bias=dev(bias), activation=act, out=dev(c0), beta=0.5))
    close(got, want, rtol=1e-4, atol=1e-4)


def test_matmul_misaligned_leading_dims(rng):
    # K = 13, N = 7: rows are not 16-byte multiples, so the scalar-load fallback runs everywhere.
    for M, N, K in [(67, 7, 13), (5, 129, 3)]:
        a = rng.standard_normal((M, K)).astype(np.float32)
        b = rng.standard_normal((K, N)).astype(np.float32)
        close(host(_C.matmul(dev(a), dev(b))), _ref_gemm(a, b, False, False), rtol=1e-4, atol=1e-4)


def test_matmul_tf32_precision_flag(rng):
    assert _C.get_matmul_precision() == "highest"
    a = rng.standard_normal((197, 301)).astype(np.float32)
    b = rng.standard_normal((301, 263)).astype(np.float32)
    ref = _ref_gemm(a, b, False, False)
    try:
        _C.set_matmul_precision("high")
        assert _C.get_matmul_precision() == "high"
        for ta, tb in [(False, False), (True, True)]:
            A = np.ascontiguousarray(a.T) if ta else a
            B = np.ascontiguousarray(b.T) if tb else b
            got = host(_C.matmul(dev(A), dev(B), trans_a=ta, trans_b=tb, out=poison((197, 263))))
            # TF32: 10-bit mantissa inputs -> relative error ~2^-11 per product.
            scale = np.abs(a) @ np.abs(b)
            assert np.all(np.abs(got - ref) <= 2e-3 * scale + 1e-5)
        err_tf32 = np.abs(got - ref).max()
    finally:
        _C.set_matmul_precision("highest")
    # The tensor-core path really ran: its error is far above the FP32 path's on the same data.
    err_fp32 = np.abs(host(_C.matmul(dev(a), dev(b))) - ref).max()
    assert err_tf32 > 10 * err_fp32
    with pytest.raises(ValueError):
        _C.set_matmul_precision("bogus")


@pytest.mark.parametrize("act", ["none", "relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (33, 17, 10), (129, 70, 131)])
def test_dense_backward_vs_cpu(M, K, N, act, rng):
    X = rng.standard_normal((M, K)).astype(np.float32)
    W = rng.standard_normal((K, N)).astype(np.float32)
    Y = host(_C.matmul(cpu(X), cpu(W), activation=act))
    dY = rng.standard_normal((M, N)).astype(np.float32)
    want = _C.dense_backward(cpu(dY), cpu(X), cpu(W), cpu(Y), act, True, True)
    got = _C.dense_backward(dev(dY), dev(X), dev(W), dev(Y), act, True, True)
    for g, w in zip(got, want):
        close(host(g), host(w), rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ activation
ACT_KINDS = ["linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "sigmoid",
             "hard_sigmoid", "tanh", "softplus", "softsign", "silu", "mish", "exponential"]
ODD_SHAPES = [(1,), (7,), (3, 5), (129, 3), (2, 3, 4, 5), (1001,)]


@pytest.mark.parametrize("kind", ACT_KINDS)
@pytest.mark.parametrize("shape", ODD_SHAPES)
def test_activation_fwd_bwd_vs_cpu(kind, shape, rng):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    y_cpu = _C.activation_forward(cpu(x), kind)
    y_dev = _C.activation_forward(dev(x), kind, out=poison(shape))
    close(host(y_dev), host(y_cpu))
    dx_cpu = _C.activation_backward(cpu(dy), cpu(x), y_cpu, kind)
    dx_dev = _C.activation_backward(dev(dy), dev(x), y_dev, kind, out=poison(shape))
    close(host(dx_dev), host(dx_cpu))


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (5, 129), (2, 3, 1000), (17, 4097)])
def test_softmax_vs_cpu(shape, rng):
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    for fwd, bwd in [("softmax_forward", "softmax_backward"),
                     ("log_softmax_forward", "log_softmax_backward")]:
        y_c = getattr(_C, fwd)(cpu(x))
        y_d = getattr(_C, fwd)(dev(x), out=poison(shape))
        close(host(y_d), host(y_c))
        dx_c = getattr(_C, bwd)(cpu(dy), y_c)
        dx_d = getattr(_C, bwd)(dev(dy), y_d, out=poison(shape))
        close(host(dx_d), host(dx_c))


def test_softmax_large_logits(rng):
    x = (rng.standard_normal((4, 33)) * 1e4).astype(np.float32)
    y = host(_C.log_softmax_forward(dev(x)))
    assert np.isfinite(y).all()
    close(y, host(_C.log_softmax_forward(cpu(x))))


# ------------------------------------------------------------------ loss
@pytest.mark.parametrize("N,C", [(1, 1), (1, 2), (7, 10), (33, 129), (5, 1000)])
@pytest.mark.parametrize("ls", [0.0, 0.1])
@pytest.mark.parametrize("label_kind", ["int32", "int64", "dense"])
def test_softmax_cross_entropy_vs_cpu(N, C, ls, label_kind, rng):
    logits = (rng.standard_normal((N, C)) * 4).astype(np.float32)
    y = rng.integers(0, C, N)
    if label_kind == "dense":
        lab = np.eye(C, dtype=np.float32)[y]
    else:
        lab = y.astype(label_kind)
    lc, gc = _C.softmax_cross_entropy(cpu(logits), cpu(lab), ls, 1.0 / N, True)
    ld, gd = _C.softmax_cross_entropy(dev(logits), dev(lab), ls, 1.0 / N, True)
    close(host(ld), host(lc))
    close(host(gd), host(gc))
    ld2, none = _C.softmax_cross_entropy(dev(logits), dev(lab), ls, 1.0, False)
    assert none is None
    close(host(ld2), host(lc))


def test_softmax_cross_entropy_bad_label_on_cuda():
    with pytest.raises(ValueError):
        _C.softmax_cross_entropy(dev(np.zeros((2, 3), np.float32)), dev(np.array([0, 3], np.int64)))


@pytest.mark.parametrize("N,C", [(1, 1), (9, 7), (40, 130)])
def test_categorical_crossentropy_probs_vs_cpu(N, C, rng):
    p = rng.random((N, C)).astype(np.float32) + 1e-3
    t = np.eye(C, dtype=np.float32)[rng.integers(0, C, N)]
    lc, gc = _C.categorical_crossentropy_probs(cpu(p), cpu(t), 0.05, 1.0 / N, True)
    ld, gd = _C.categorical_crossentropy_probs(dev(p), dev(t), 0.05, 1.0 / N, True)
    close(host(ld), host(lc))
    close(host(gd), host(gc))


@pytest.mark.parametrize("shape", [(1,), (13,), (7, 1), (6, 33), (3, 5, 70)])
def test_elementwise_losses_vs_cpu(shape, rng):
    p = rng.standard_normal(shape).astype(np.float32)
    t = rng.standard_normal(shape).astype(np.float32)
    pr = (rng.random(shape) * 0.98 + 0.01).astype(np.float32)
    tb = (rng.random(shape) > 0.5).astype(np.float32)
    cases = [
        ("mean_squared_error", (p, t), ()),
        ("mean_absolute_error", (p, t), ()),
        ("huber", (p, t), (0.7,)),
        ("sigmoid_binary_cross_entropy", (p, tb), (0.1,)),
        ("binary_cross_entropy_probs", (pr, tb), (0.0,)),
    ]
    for name, (a, b), extra in cases:
        f = getattr(_C, name)
        lc, gc = f(cpu(a), cpu(b), *extra, 0.25, True)
        ld, gd = f(dev(a), dev(b), *extra, 0.25, True)
        close(host(ld), host(lc))
        close(host(gd), host(gc))


# ------------------------------------------------------------------ optimizer
OPT_SHAPES = [(1,), (3, 5), (129,), (4097,), (7, 11, 13), (16384 + 5,)]


def _opt_state(rng, shapes, n_state, positive=False):
    ps = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    gs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    st = [[(np.abs(rng.standard_normal(s)) if positive else rng.standard_normal(s)).astype(np.float32)
           for s in shapes] for _ in range(n_state)]
    return ps, gs, st


def _run_both(step_fn, ps, gs, st, steps=3):
    cp = [cpu(p.copy()) for p in ps]
    cs = [[cpu(x.copy()) for x in lst] for lst in st]
    dp = [dev(p) for p in ps]
    ds = [[dev(x) for x in lst] for lst in st]
    for i in range(steps):
        step_fn(cp, [cpu(g) for g in gs], cs, i + 1)
        step_fn(dp, [dev(g) for g in gs], ds, i + 1)
    for a, b in zip(dp, cp):
        close(host(a), host(b))
    for la, lb in zip(ds, cs):
        for a, b in zip(la, lb):
            close(host(a), host(b))


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_adam_vs_cpu(amsgrad, wd, rng):
    ps, gs, st = _opt_state(rng, OPT_SHAPES, 3 if amsgrad else 2, positive=True)

    def step(p, g, s, t):
        _C.adam_step(p, g, s[0], s[1], 1e-2, 0.9, 0.999, 1e-7, t, wd, s[2] if amsgrad else None)

    _run_both(step, ps, gs, st)


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_vs_cpu(momentum, nesterov, rng):
    ps, gs, st = _opt_state(rng, OPT_SHAPES, 1)

    def step(p, g, s, t):
        _C.sgd_step(p, g, s[0] if momentum else None, 0.05, momentum, nesterov, 0.001)

    _run_both(step, ps, gs, st)


@pytest.mark.parametrize("momentum,centered", [(0.0, False), (0.5, False), (0.0, True), (0.5, True)])
def test_rmsprop_vs_cpu(momentum, centered, rng):
    ps, gs, st = _opt_state(rng, OPT_SHAPES, 3, positive=True)

    def step(p, g, s, t):
        _C.rmsprop_step(p, g, s[0], s[1] if momentum else None, s[2] if centered else None,
                        1e-3, 0.9, momentum, 1e-7, 0.0)

    _run_both(step, ps, gs, st)


def test_adagrad_vs_cpu(rng):
    ps, gs, st = _opt_state(rng, OPT_SHAPES, 1, positive=True)
    _run_both(lambda p, g, s, t: _C.adagrad_step(p, g, s[0], 0.1, 1e-7, 0.0), ps, gs, st)


def test_norms_and_clipping_vs_cpu(rng):
    xs = [rng.standard_normal(s).astype(np.float32) for s in OPT_SHAPES]
    gn_c = _C.global_norm([cpu(x) for x in xs])
    gn_d = _C.global_norm([dev(x) for x in xs])
    assert gn_d == pytest.approx(gn_c, rel=1e-12)
    # deterministic: same bits every call
    assert all(_C.global_norm([dev(x) for x in xs]) == gn_d for _ in range(3))
    for name, arg in [("scale_", 0.37), ("clip_by_value_", 0.5), ("clip_by_norm_", 3.0)]:
        c = [cpu(x.copy()) for x in xs]
        d = [dev(x) for x in xs]
        getattr(_C, name)(c, arg)
        getattr(_C, name)(d, arg)
        for a, b in zip(d, c):
            close(host(a), host(b))


# ------------------------------------------------------------------ random (bitwise)


@pytest.mark.parametrize("n", [1, 3, 4, 5, 1023, 4096 + 3])
def test_random_bitwise_identical(n):
    seed, off = 1234567890123, 42
    for name, extra in [("random_uniform", (-2.0, 3.0)), ("random_normal", (0.5, 2.0)),
                        ("random_truncated_normal", (0.0, 1.0))]:
        f = getattr(_C, name)
        c = host(f([n], seed, off, *extra))
        d = host(f([n], seed, off, *extra, device="cuda"))
        assert np.array_equal(c.view(np.uint32), d.view(np.uint32)), name


def test_dropout_bitwise_identical(rng):
    x = rng.standard_normal((33, 65)).astype(np.float32)
    yc, mc = _C.dropout_forward(cpu(x), 0.3, 99, 7)
    yd, md = _C.dropout_forward(dev(x), 0.3, 99, 7)
    assert np.array_equal(host(mc), host(md))
    assert np.array_equal(host(yc).view(np.uint32), host(yd).view(np.uint32))


# ================================================================== elementwise family
BIN_OPS = ["add", "sub", "mul", "div", "maximum", "minimum", "pow", "equal", "not_equal", "greater",
           "greater_equal", "less", "less_equal"]
BCAST = [((7,), (7,)), ((1,), (129, 3)), ((3, 5), (5,)), ((130, 67), (130, 1)), ((4, 1, 6), (1, 5, 1)),
         ((2, 3, 4, 5), (3, 1, 5)), ((1001,), ()), ((2, 1, 3, 1, 2, 1, 3, 2), (1, 3, 1, 2, 1, 2, 3, 1))]


def _bin_inputs(op, sa, sb, rng):
    a = rng.normal(size=sa).astype(np.float32)
    b = rng.normal(size=sb).astype(np.float32)
    if op == "pow":
        a = np.abs(a) + 0.5
    if op in ("equal", "not_equal", "greater_equal", "less_equal") and a.size and b.size:
        a.flat[::3] = 0.25  # some exact ties
        b.flat[::2] = 0.25
    return a, b


@pytest.mark.parametrize("op", BIN_OPS)
@pytest.mark.parametrize("sa,sb", BCAST)
def test_binary_broadcast_vs_cpu(op, sa, sb, rng):
    a, b = _bin_inputs(op, sa, sb, rng)
    want = host(_C.binary(op, cpu(a), cpu(b)))
    shape = np.broadcast_shapes(sa, sb)
    out = poison(shape)
    got = host(_C.binary(op, dev(a), dev(b), out=out))
    close(got, want)
    got2 = host(_C.binary(op, dev(b), dev(a)))  # swapped operands: the other broadcast side
    close(got2, host(_C.binary(op, cpu(b), cpu(a))))


def test_binary_nan_and_alias(rng):
    a = np.array([1.0, np.nan, 3.0, -np.inf], np.float32)
    b = np.array([np.nan, 2.0, 1.0, 0.0], np.float32)
    for op in ("maximum", "minimum"):
        np.testing.assert_array_equal(host(_C.binary(op, dev(a), dev(b))), host(_C.binary(op, cpu(a), cpu(b))))
    x = rng.normal(size=(33, 17)).astype(np.float32)
    r = rng.normal(size=(17,)).astype(np.float32)
    dx = dev(x)
    _C.binary("add", dx, dev(r), out=dx)  # out aliases a exactly
    close(host(dx), x + r)


UN_OPS = ["neg", "exp", "log", "sqrt", "rsqrt", "square", "abs", "sign", "reciprocal", "sin", "cos",
          "floor", "round"]


@pytest.mark.parametrize("op", UN_OPS)
@pytest.mark.parametrize("shape", [(1,), (5,), (3, 7), (1029,), (2, 3, 4, 5)])
def test_unary_vs_cpu(op, shape, rng):
    x = (rng.normal(size=shape) * 3).astype(np.float32)
    if op in ("log", "sqrt", "rsqrt"):
        x = np.abs(x) + 1e-3
    if op == "round":
        x.flat[::4] = 2.5  # half to even
    got = host(_C.unary(op, dev(x), out=poison(shape)))
    close(got, host(_C.unary(op, cpu(x))))


def test_clip_scale_axpy_vs_cpu(rng):
    x = rng.normal(size=(129, 5)).astype(np.float32)
    x[0, 0] = np.nan
    close(host(_C.clip(dev(x), -0.5, 0.7, out=poison(x.shape))), host(_C.clip(cpu(x), -0.5, 0.7)))
    close(host(_C.scale(dev(x), -1.75)), host(_C.scale(cpu(x), -1.75)))
    y = rng.normal(size=x.shape).astype(np.float32)
    gy, cy = dev(y), cpu(y)
    _C.axpy_(gy, 0.3, dev(x))
    _C.axpy_(cy, 0.3, cpu(x))
    close(host(gy), host(cy))
    with pytest.raises(ValueError):
        _C.clip(dev(x), 1.0, 0.0)


RED_CASES = [((7,), None), ((5, 129), [1]), ((5, 129), [0]), ((1000, 3), [0]), ((3, 70000), [1]),
             ((1, 300000), None), ((4, 5000, 6), [1]), ((2, 3, 4, 5), [0, 2]), ((2, 3, 4, 5), [1, 3]),
             ((2, 3, 4, 5), [-1, 0]), ((6, 1, 7), [1]), ((3, 4), []), ((0, 4), [0]), ((4, 0), [1]),
             ((2, 1, 3, 1), [0, 1, 2, 3])]


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min", "prod"])
@pytest.mark.parametrize("shape,axes", RED_CASES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduce_vs_cpu(op, shape, axes, keepdims, rng):
    x = rng.normal(size=shape).astype(np.float32)
    if op == "prod":
        x = (1.0 + 0.001 * x).astype(np.float32)
    try:
        want = host(_C.reduce(op, cpu(x), axes, keepdims))
    except ValueError:
        with pytest.raises(ValueError):
            _C.reduce(op, dev(x), axes, keepdims)
        return
    got = host(_C.reduce(op, dev(x), axes, keepdims))
    assert got.shape == want.shape
    close(got, want, rtol=2e-4, atol=1e-4)
    again = host(_C.reduce(op, dev(x), axes, keepdims))
    np.testing.assert_array_equal(got, again)  # deterministic, bit for bit


def test_reduce_nan_propagation(rng):
    x = rng.normal(size=(4, 300)).astype(np.float32)
    x[2, 123] = np.nan
    for op in ("max", "min", "sum"):
        got = host(_C.reduce(op, dev(x), [1]))
        assert np.isnan(got[2]) and not np.isnan(got[[0, 1, 3]]).any()
        got0 = host(_C.reduce(op, dev(x), [0]))
        assert np.isnan(got0[123]) and np.isnan(got0).sum() == 1


@pytest.mark.parametrize("xs,to", [((5, 3), (3,)), ((5, 3), (5, 1)), ((2, 3, 4), (3, 1)), ((7, 1, 9), (1, 1, 9)),
                                   ((4, 4), ())])
def test_sum_to_shape_vs_cpu(xs, to, rng):
    x = rng.normal(size=xs).astype(np.float32)
    close(host(_C.sum_to_shape(dev(x), list(to))), host(_C.sum_to_shape(cpu(x), list(to))))


@pytest.mark.parametrize("shape,perm", [((3, 5), [1, 0]), ((67, 129), [1, 0]), ((2, 3, 4), [2, 0, 1]),
                                        ((2, 3, 4, 5), [0, 2, 1, 3]), ((5, 1, 7), [2, 1, 0]), ((4, 6), [0, 1]),
                                        ((3, 33, 65), [0, 2, 1])])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
def test_transpose_vs_cpu(shape, perm, dtype, rng):
    x = (rng.normal(size=shape) * 100).astype(dtype)
    np.testing.assert_array_equal(host(_C.transpose(dev(x), perm)), np.transpose(x, perm))


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_concat_slice_vs_numpy(axis, dtype, rng):
    parts = [(rng.normal(size=(3, w, 5)) * 10).astype(dtype) for w in (1, 4, 7)]
    if axis != 1:
        parts = [(rng.normal(size=(3, 4, 5)) * 10).astype(dtype) for _ in range(3)]
    got = host(_C.concat([dev(p) for p in parts], axis))
    want = np.concatenate(parts, axis)
    np.testing.assert_array_equal(got, want)
    for a, b in [(0, 2), (1, -1), (-3, 100), (2, 1)]:
        ax = axis % 3
        sl = [slice(None)] * 3
        sl[ax] = slice(a, b)
        np.testing.assert_array_equal(host(_C.slice_axis(dev(want), axis, a, b)), want[tuple(sl)])


@pytest.mark.parametrize("idt", [np.int32, np.int64])
@pytest.mark.parametrize("xdt,row", [(np.float32, (5,)), (np.float32, (4,)), (np.int64, (3, 2)), (np.float32, ())])
def test_take_rows_vs_numpy(idt, xdt, row, rng):
    x = (rng.normal(size=(11,) + row) * 10).astype(xdt)
    idx = rng.integers(0, 11, size=(3, 7)).astype(idt)
    np.testing.assert_array_equal(host(_C.take_rows(dev(x), dev(idx))), x[idx])
    bad = idx.copy()
    bad[1, 2] = 11
    with pytest.raises(ValueError, match="index 11 at position 9"):
        _C.take_rows(dev(x), dev(bad))
    bad[0, 1] = -1
    with pytest.raises(ValueError, match="index -1 at position 1"):
        _C.take_rows(dev(x), dev(bad))


@pytest.mark.parametrize("idt", [np.int32, np.int64])
@pytest.mark.parametrize("n_rows,row", [(5, (3,)), (1, (129,)), (40, (2, 3)), (7, ())])
def test_scatter_add_rows_matches_cpu_bitwise(idt, n_rows, row, rng):
    idx = rng.integers(0, n_rows, size=(50,)).astype(idt)
    dy = rng.normal(size=(50,) + row).astype(np.float32)
    got = host(_C.scatter_add_rows(dev(dy), dev(idx), n_rows))
    np.testing.assert_array_equal(got, host(_C.scatter_add_rows(cpu(dy), cpu(idx), n_rows)))
    idx[17] = n_rows
    with pytest.raises(ValueError, match="position 17"):
        _C.scatter_add_rows(dev(dy), dev(idx), n_rows)


def test_cast_vs_cpu():
    x = np.array([0.0, -0.0, 1.9, -1.9, 2.5e9, -2.5e9, 1e20, -1e20, np.nan, np.inf, -np.inf, 7.0], np.float32)
    for dt in ("int32", "int64"):
        np.testing.assert_array_equal(host(_C.cast(dev(x), dt)), host(_C.cast(cpu(x), dt)))
    i = np.array([0, 1, -5, 2**40 + 3, -(2**40) - 7], np.int64)
    for dt in ("int32", "float32", "int64"):
        np.testing.assert_array_equal(host(_C.cast(dev(i), dt)), host(_C.cast(cpu(i), dt)))
    j = np.array([3, -4, 2**31 - 1], np.int32)
    for dt in ("int64", "float32"):
        np.testing.assert_array_equal(host(_C.cast(dev(j), dt)), host(_C.cast(cpu(j), dt)))


@pytest.mark.parametrize("shape,axis", [((7, 10), -1), ((3, 1000), 1), ((5, 4, 3), 1), ((1, 1), 0), ((129, 33), 0),
                                        ((2, 70000), -1)])
def test_argmax_vs_numpy(shape, axis, rng):
    x = rng.integers(0, 5, size=shape).astype(np.float32)  # many ties
    np.testing.assert_array_equal(host(_C.argmax(dev(x), axis)), np.argmax(x, axis))
    x.flat[x.size // 2] = np.nan
    x.flat[-1] = np.nan
    np.testing.assert_array_equal(host(_C.argmax(dev(x), axis)), np.argmax(x, axis))


@pytest.mark.parametrize("idt", [np.int32, np.int64])
def test_one_hot_vs_numpy(idt, rng):
    idx = rng.integers(0, 10, size=(4, 33)).astype(idt)
    np.testing.assert_array_equal(host(_C.one_hot(dev(idx), 10)), np.eye(10, dtype=np.float32)[idx])
    idx[2, 5] = 10
    with pytest.raises(ValueError, match="position 71"):
        _C.one_hot(dev(idx), 10)


# ================================================================== conv
CONV_CASES = [  # (N, H, W, C, kh, kw, O, strides, padding, dilation)
    (1, 5, 5, 1, 3, 3, 1, (1, 1), "valid", (1, 1)),
    (3, 28, 28, 1, 3, 3, 32, (1, 1), "valid", (1, 1)),
    (2, 13, 13, 32, 3, 3, 64, (1, 1), "valid", (1, 1)),
    (2, 9, 11, 5, 3, 2, 7, (2, 1), "same", (1, 1)),
    (2, 10, 10, 3, 3, 3, 4, (2, 2), "same", (1, 1)),
    (1, 12, 9, 4, 3, 3, 6, (1, 1), "valid", (2, 2)),
    (4, 6, 7, 33, 1, 1, 17, (1, 1), "valid", (1, 1)),  # pointwise: no im2col
    (2, 8, 8, 3, 1, 1, 5, (2, 2), "valid", (1, 1)),
    (2, 4, 4, 2, 5, 5, 3, (1, 1), "same", (1, 1)),  # kernel larger than the image, 'same'
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("act", ["none", "relu", "tanh"])
def test_conv2d_fwd_bwd_vs_cpu(case, act, rng):
    N, H, W, C, kh, kw, O, st, pad, dil = case
    x = rng.normal(size=(N, H, W, C)).astype(np.float32)
    w = (rng.normal(size=(kh, kw, C, O)) / np.sqrt(kh * kw * C)).astype(np.float32)
    b = rng.normal(size=(O,)).astype(np.float32)
    kw_ = dict(strides=st, padding=pad, dilation=dil, activation=act)
    yc = _C.conv2d_forward(cpu(x), cpu(w), cpu(b), **kw_)
    out = poison(yc.shape)
    yg = _C.conv2d_forward(dev(x), dev(w), dev(b), out=out, **kw_)
    close(host(yg), host(yc), rtol=1e-4, atol=1e-4)
    dy = rng.normal(size=tuple(yc.shape)).astype(np.float32)
    bc = _C.conv2d_backward(cpu(dy), cpu(x), cpu(w), yc, act, st, pad, dil)
    bg = _C.conv2d_backward(dev(dy), dev(x), dev(w), dev(host(yc)), act, st, pad, dil)
    for g_, c_ in zip(bg, bc):
        close(host(g_), host(c_), rtol=2e-4, atol=2e-4)
    bg2 = _C.conv2d_backward(dev(dy), dev(x), dev(w), dev(host(yc)), act, st, pad, dil)
    for g_, g2 in zip(bg, bg2):
        np.testing.assert_array_equal(host(g_), host(g2))  # deterministic


def test_conv2d_backward_no_dx_no_bias(rng):
    x = rng.normal(size=(2, 7, 7, 3)).astype(np.float32)
    w = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
    dy = rng.normal(size=(2, 5, 5, 4)).astype(np.float32)
    dX, dW, db = _C.conv2d_backward(dev(dy), dev(x), dev(w), None, "none", need_dX=False, has_bias=False)
    assert dX is None and db is None
    close(host(dW), host(_C.conv2d_backward(cpu(dy), cpu(x), cpu(w), None, "none")[1]), rtol=2e-4, atol=2e-4)


# ================================================================== depthwise conv
DW_CASES = [  # (N, H, W, C, kh, kw, dm, strides, padding, dilation)
    (1, 1, 1, 1, 1, 1, 1, (1, 1), "valid", (1, 1)),
    (2, 7, 5, 1, 3, 3, 1, (1, 1), "valid", (1, 1)),
    (3, 11, 13, 3, 3, 3, 2, (2, 2), "same", (1, 1)),
    (2, 13, 7, 3, 3, 2, 1, (1, 1), "same", (2, 2)),
    (2, 4, 3, 3, 5, 5, 2, (1, 1), "same", (1, 1)),     # kernel larger than the image, 'same'
    (4, 28, 28, 33, 3, 3, 1, (1, 1), "same", (1, 1)),  # many dW segments, odd channel count
    (2, 9, 10, 5, 3, 3, 3, (2, 1), "valid", (1, 1)),
]


@pytest.mark.parametrize("case", DW_CASES)
@pytest.mark.parametrize("act", ["none", "relu", "sigmoid", "tanh"])
def test_depthwise_conv2d_fwd_bwd_vs_cpu(case, act, rng):
    N, H, W, C, kh, kw, dm, st, pad, dil = case
    x = rng.normal(size=(N, H, W, C)).astype(np.float32)
    w = (rng.normal(size=(kh, kw, C, dm)) / np.sqrt(kh * kw)).astype(np.float32)
    b = rng.normal(size=(C * dm,)).astype(np.float32)
    kw_ = dict(strides=st, padding=pad, dilation=dil, activation=act)
    yc = _C.depthwise_conv2d_forward(cpu(x), cpu(w), cpu(b), **kw_)
    out = poison(yc.shape)
    yg = _C.depthwise_conv2d_forward(dev(x), dev(w), dev(b), out=out, **kw_)
    close(host(yg), host(yc))
    dy = rng.normal(size=tuple(yc.shape)).astype(np.float32)
    bc = _C.depthwise_conv2d_backward(cpu(dy), cpu(x), cpu(w), yc, act, st, pad, dil)
    bg = _C.depthwise_conv2d_backward(dev(dy), dev(x), dev(w), dev(host(yc)), act, st, pad, dil)
    for g_, c_ in zip(bg, bc):
        scale = max(1.0, float(np.abs(host(c_)).max()))
        close(host(g_), host(c_), atol=AT * scale)
    bg2 = _C.depthwise_conv2d_backward(dev(dy), dev(x), dev(w), dev(host(yc)), act, st, pad, dil)
    for g_, g2 in zip(bg, bg2):
        np.testing.assert_array_equal(host(g_), host(g2))  # deterministic: no float atomics


def test_depthwise_conv2d_backward_no_dx_no_bias_and_empty(rng):
    x = rng.normal(size=(2, 7, 7, 3)).astype(np.float32)
    w = rng.normal(size=(3, 3, 3, 2)).astype(np.float32)
    dy = rng.normal(size=(2, 5, 5, 6)).astype(np.float32)
    dX, dW, db = _C.depthwise_conv2d_backward(dev(dy), dev(x), dev(w), None, "none", need_dX=False, has_bias=False)
    assert dX is None and db is None
    want = host(_C.depthwise_conv2d_backward(cpu(dy), cpu(x), cpu(w), None, "none")[1])
    close(host(dW), want, atol=AT * max(1.0, float(np.abs(want).max())))
    e = np.zeros((0, 5, 5, 3), np.float32)
    y = _C.depthwise_conv2d_forward(dev(e), dev(w))
    assert tuple(y.shape) == (0, 3, 3, 6)
    dX, dW, db = _C.depthwise_conv2d_backward(y, dev(e), dev(w))
    assert tuple(dX.shape) == e.shape and not host(dW).any() and not host(db).any()


# ================================================================== pool
POOL_CASES = [((1, 4, 4, 1), (2, 2), None, "valid"), ((3, 26, 26, 32), (2, 2), None, "valid"),
              ((2, 7, 9, 5), (3, 3), (2, 2), "same"), ((2, 5, 5, 3), (2, 3), (1, 1), "valid"),
              ((1, 6, 6, 2), (3, 3), (2, 1), "same"), ((2, 3, 3, 33), (4, 4), (1, 1), "same")]


@pytest.mark.parametrize("shape,pool,strides,pad", POOL_CASES)
def test_max_pool_vs_cpu(shape, pool, strides, pad, rng):
    x = rng.integers(-3, 4, size=shape).astype(np.float32)  # ties: first index must win
    x.flat[::37] = np.nan
    yc, ic = _C.max_pool2d_forward(cpu(x), pool, strides, pad)
    yg, ig = _C.max_pool2d_forward(dev(x), pool, strides, pad)
    np.testing.assert_array_equal(host(yg), host(yc))
    np.testing.assert_array_equal(host(ig), host(ic))
    dy = rng.normal(size=tuple(yc.shape)).astype(np.float32)
    dc = _C.max_pool2d_backward(cpu(dy), ic, list(shape), pool, strides, pad)
    dg = _C.max_pool2d_backward(dev(dy), ig, list(shape), pool, strides, pad)
    close(host(dg), host(dc))
    bad = host(ic)
    bad.flat[3] = shape[1] * shape[2]
    with pytest.raises(ValueError, match="outside"):
        _C.max_pool2d_backward(dev(dy), dev(bad), list(shape), pool, strides, pad)


@pytest.mark.parametrize("act", ["relu", "none"])
def test_conv2d_maxpool_pair_vs_separate_and_cpu(act, rng):
    x = rng.normal(size=(5, 14, 13, 3)).astype(np.float32)
    w = (rng.normal(size=(3, 3, 3, 8)) / 5).astype(np.float32)
    b = rng.normal(size=(8,)).astype(np.float32)
    pg, ig = _C.conv2d_maxpool_forward(dev(x), dev(w), dev(b), activation=act)
    y = _C.conv2d_forward(dev(x), dev(w), dev(b), activation=act)
    ps, is_ = _C.max_pool2d_forward(y, (2, 2))
    np.testing.assert_array_equal(host(pg), host(ps))          # same launchers on the device
    np.testing.assert_array_equal(host(ig), host(is_))
    pc, _ = _C.conv2d_maxpool_forward(cpu(x), cpu(w), cpu(b), activation=act)
    close(host(pg), host(pc))
    dp = rng.normal(size=tuple(pg.shape)).astype(np.float32)
    for need_dx in (False, True):
        gg = _C.conv2d_maxpool_backward(dev(dp), ig, dev(x), dev(w), pg if act == "relu" else None,
                                        need_dX=need_dx)
        # the CPU twin with the device's argmax and pooled output: both scatter the same positions
        gc = _C.conv2d_maxpool_backward(cpu(dp), cpu(host(ig)), cpu(x), cpu(w),
                                        cpu(host(pg)) if act == "relu" else None, need_dX=need_dx)
        for g_, c_ in zip(gg, gc):
            if c_ is None:
                assert g_ is None
            else:
                close(host(g_), host(c_), rtol=2e-4, atol=2e-4)
    bad = host(ig)
    bad.flat[3] = 12 * 11
    with pytest.raises(ValueError, match="outside"):
        _C.conv2d_maxpool_backward(dev(dp), dev(bad), dev(x), dev(w), pg if act == "relu" else None)


@pytest.mark.parametrize("shape,pool,strides,pad", POOL_CASES)
def test_avg_pool_vs_cpu(shape, pool, strides, pad, rng):
    x = rng.normal(size=shape).astype(np.float32)
    yc = _C.avg_pool2d_forward(cpu(x), pool, strides, pad)
    close(host(_C.avg_pool2d_forward(dev(x), pool, strides, pad)), host(yc))
    dy = rng.normal(size=tuple(yc.shape)).astype(np.float32)
    close(host(_C.avg_pool2d_backward(dev(dy), list(shape), pool, strides, pad)),
          host(_C.avg_pool2d_backward(cpu(dy), list(shape), pool, strides, pad)))


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (3, 5, 7, 33), (2, 30, 30, 3), (2, 1, 200, 4)])
def test_global_pool_vs_cpu(shape, rng):
    x = rng.integers(-3, 4, size=shape).astype(np.float32)
    np.testing.assert_array_equal(host(_C.global_avg_pool_forward(dev(x))), host(_C.global_avg_pool_forward(cpu(x))))
    yc, ic = _C.global_max_pool_forward(cpu(x))
    yg, ig = _C.global_max_pool_forward(dev(x))
    np.testing.assert_array_equal(host(yg), host(yc))
    np.testing.assert_array_equal(host(ig), host(ic))
    dy = rng.normal(size=(shape[0], shape[3])).astype(np.float32)
    close(host(_C.global_avg_pool_backward(dev(dy), list(shape))), host(_C.global_avg_pool_backward(cpu(dy), list(shape))))
    np.testing.assert_array_equal(host(_C.global_max_pool_backward(dev(dy), ig, list(shape))),
                                  host(_C.global_max_pool_backward(cpu(dy), ic, list(shape))))
    bad = host(ic)
    bad.flat[0] = -1
    with pytest.raises(ValueError):
        _C.global_max_pool_backward(dev(dy), dev(bad), list(shape))
    with pytest.raises(ValueError, match="different devices"):
        _C.global_max_pool_backward(dev(dy), ic, list(shape))


# ================================================================== norm
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (4097, 5), (2, 13, 13, 32), (3, 129)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_vs_cpu(shape, affine, rng):
    C = shape[-1]
    x = (rng.normal(size=shape) * 3 + 5).astype(np.float32)
    g = rng.normal(size=(C,)).astype(np.float32) if affine else None
    b = rng.normal(size=(C,)).astype(np.float32) if affine else None
    mm, mv = rng.normal(size=(C,)).astype(np.float32), (rng.random(size=(C,)) + 0.5).astype(np.float32)
    cm, cv, gm, gv = cpu(mm), cpu(mv), dev(mm), dev(mv)
    opt = lambda a, d: None if a is None else (dev(a) if d else cpu(a))  # noqa: E731
    rc = _C.batch_norm_forward_train(cpu(x), opt(g, 0), opt(b, 0), cm, cv, 0.9, 1e-3)
    rg = _C.batch_norm_forward_train(dev(x), opt(g, 1), opt(b, 1), gm, gv, 0.9, 1e-3)
    for a_, c_ in zip(rg, rc):
        close(host(a_), host(c_), rtol=2e-4, atol=2e-4)
    close(host(gm), host(cm))
    close(host(gv), host(cv), rtol=2e-4, atol=2e-4)
    close(host(_C.batch_norm_forward_infer(dev(x), opt(g, 1), opt(b, 1), gm, gv, 1e-3)),
          host(_C.batch_norm_forward_infer(cpu(x), opt(g, 0), opt(b, 0), cm, cv, 1e-3)), rtol=2e-4, atol=2e-4)
    dy = rng.normal(size=shape).astype(np.float32)
    for training in (True, False):
        mean_c, inv_c = (rc[1], rc[2]) if training else (cm, cpu(host(cv)))
        bc = _C.batch_norm_backward(cpu(dy), cpu(x), opt(g, 0), rc[1], rc[2], training)
        bg = _C.batch_norm_backward(dev(dy), dev(x), opt(g, 1), dev(host(rc[1])), dev(host(rc[2])), training)
        for a_, c_ in zip(bg, bc):
            close(host(a_), host(c_), rtol=5e-4, atol=5e-4)
        bg2 = _C.batch_norm_backward(dev(dy), dev(x), opt(g, 1), dev(host(rc[1])), dev(host(rc[2])), training)
        for a_, a2 in zip(bg, bg2):
            np.testing.assert_array_equal(host(a_), host(a2))


def test_fold_batchnorm_vs_cpu(rng):
    w = rng.normal(size=(3, 3, 4, 7)).astype(np.float32)
    b = rng.normal(size=(7,)).astype(np.float32)
    g, be, m = (rng.normal(size=(7,)).astype(np.float32) for _ in range(3))
    v = (rng.random(size=(7,)) + 0.1).astype(np.float32)
    rc = _C.fold_batchnorm(cpu(w), cpu(b), cpu(g), cpu(be), cpu(m), cpu(v), 1e-3)
    rg = _C.fold_batchnorm(dev(w), dev(b), dev(g), dev(be), dev(m), dev(v), 1e-3)
    for a_, c_ in zip(rg, rc):
        close(host(a_), host(c_))
    rg = _C.fold_batchnorm(dev(w), None, None, None, dev(m), dev(v), 1e-3)
    rc = _C.fold_batchnorm(cpu(w), None, None, None, cpu(m), cpu(v), 1e-3)
    for a_, c_ in zip(rg, rc):
        close(host(a_), host(c_))


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (33, 129), (2, 3, 1000), (3, 5000)])
@pytest.mark.parametrize("affine", [(True, True), (True, False), (False, True), (False, False)])
def test_layer_norm_vs_cpu(shape, affine, rng):
    D = shape[-1]
    x = (rng.normal(size=shape) * 2 + 1).astype(np.float32)
    g = rng.normal(size=(D,)).astype(np.float32) if affine[0] else None
    b = rng.normal(size=(D,)).astype(np.float32) if affine[1] else None
    opt = lambda a, d: None if a is None else (dev(a) if d else cpu(a))  # noqa: E731
    rc = _C.layer_norm_forward(cpu(x), opt(g, 0), opt(b, 0), 1e-3)
    rg = _C.layer_norm_forward(dev(x), opt(g, 1), opt(b, 1), 1e-3)
    for a_, c_ in zip(rg, rc):
        close(host(a_), host(c_), rtol=2e-4, atol=2e-4)
    dy = rng.normal(size=shape).astype(np.float32)
    bc = _C.layer_norm_backward(cpu(dy), cpu(x), opt(g, 0), rc[1], rc[2])
    bg = _C.layer_norm_backward(dev(dy), dev(x), opt(g, 1), dev(host(rc[1])), dev(host(rc[2])))
    for a_, c_ in zip(bg, bc):
        if c_ is None:
            assert a_ is None
        else:
            close(host(a_), host(c_), rtol=5e-4, atol=5e-4)
