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
def _has(name):
    return hasattr(_C, name)


@pytest.mark.parametrize("n", [1, 3, 4, 5, 1023, 4096 + 3])
def test_random_bitwise_identical(n):
    if not _has("random_uniform"):
        pytest.skip("random bindings not merged yet")
    seed, off = 1234567890123, 42
    for name, extra in [("random_uniform", (-2.0, 3.0)), ("random_normal", (0.5, 2.0)),
                        ("random_truncated_normal", (0.0, 1.0))]:
        f = getattr(_C, name)
        c = host(f([n], seed, off, *extra))
        d = host(f([n], seed, off, *extra, device="cuda"))
        assert np.array_equal(c.view(np.uint32), d.view(np.uint32)), name


def test_dropout_bitwise_identical(rng):
    if not _has("dropout_forward"):
        pytest.skip("random bindings not merged yet")
    x = rng.standard_normal((33, 65)).astype(np.float32)
    yc, mc = _C.dropout_forward(cpu(x), 0.3, 99, 7)
    yd, md = _C.dropout_forward(dev(x), 0.3, 99, 7)
    assert np.array_equal(host(mc), host(md))
    assert np.array_equal(host(yc).view(np.uint32), host(yd).view(np.uint32))
