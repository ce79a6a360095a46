"""gemm family: matmul (fused Dense forward) and dense_backward, against float64 NumPy.

Covers odd sizes around the blocking constants (MR/NR/MC/KC of every ISA path), both transposes,
every epilogue, bias, beta and out= rules, thread-count invariance (bitwise), each micro-kernel
(subprocesses with FUSEDNET_ISA), a PyTorch cross-check, error messages, and the Dense backward
against NumPy and float64 finite differences.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fusednet as fn
from fusednet import _C, ops
from conftest import requires_torch
from tolerances import TOL, gemm_tol

ACTS = {
    "none": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
}


def _operands(rng, M, N, K, ta, tb):
    A = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
    B = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
    return A, B


def _ref(A, B, ta, tb, bias=None, act="none", beta=0.0, C0=None):
    """float64 reference and the magnitude |op(A)|·|op(B)| (+|bias|+|beta C0|) it is judged by."""
    a = (A.T if ta else A).astype(np.float64)
    b = (B.T if tb else B).astype(np.float64)
    z = a @ b
    mag = np.abs(a) @ np.abs(b)
    if beta != 0.0:
        z = z + beta * C0.astype(np.float64)
        mag = mag + abs(beta) * np.abs(C0)
    if bias is not None:
        z = z + bias.astype(np.float64)
        mag = mag + np.abs(bias)
    return ACTS[act](z), mag


def _check(C, ref, mag, K):
    rtol, atol = gemm_tol(K)
    C = np.asarray(C)
    assert C.shape == ref.shape and C.dtype == np.float32
    err = np.abs(C.astype(np.float64) - ref)
    bound = atol + rtol * mag  # activations are 1-Lipschitz, so the pre-activation bound holds
    worst = np.unravel_index(np.argmax(err - bound), err.shape) if err.size else None
    assert np.all(err <= bound), f"max excess at {worst}: err {err[worst]:.3g} bound {bound[worst]:.3g}"


# Sizes straddle MR (12/6/6), NR (32/16/8), MC (192/144/120) and KC (384/256/256); primes and 1.
SHAPES = [
    (1, 1, 1), (1, 7, 3), (7, 1, 5), (2, 3, 0), (13, 17, 19), (12, 32, 16), (11, 33, 31),
    (31, 37, 41), (25, 65, 129), (97, 101, 389), (193, 47, 257), (61, 131, 773),
]


@pytest.mark.parametrize("M,N,K", SHAPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_shapes_and_transposes(rng, M, N, K, ta, tb):
    A, B = _operands(rng, M, N, K, ta, tb)
    C = ops.matmul(A, B, trans_a=ta, trans_b=tb)
    ref, mag = _ref(A, B, ta, tb)
    _check(C, ref, mag, K)


@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_matmul_epilogue(rng, act, with_bias, beta):
    # K > KC on every path, N with a short last column panel, M with a short last row panel.
    M, N, K = 29, 45, 530
    A, B = _operands(rng, M, N, K, False, False)
    bias = rng.standard_normal(N).astype(np.float32) if with_bias else None
    C0 = rng.standard_normal((M, N)).astype(np.float32)
    out = C0.copy() if beta != 0.0 else np.full((M, N), np.nan, np.float32)  # beta=0 never reads out
    r = ops.matmul(A, B, bias=bias, activation=act if act != "none" else None, out=out, beta=beta)
    assert r.data_ptr == out.ctypes.data  # written in place and returned
    ref, mag = _ref(A, B, False, False, bias, act, beta, C0)
    _check(out, ref, mag, K)


def test_matmul_k_zero_is_epilogue_only(rng):
    bias = rng.standard_normal(5).astype(np.float32)
    C0 = rng.standard_normal((3, 5)).astype(np.float32)
    out = C0.copy()
    ops.matmul(np.zeros((3, 0), np.float32), np.zeros((0, 5), np.float32), bias=bias,
               activation="tanh", out=out, beta=2.0)
    np.testing.assert_allclose(out, np.tanh(2.0 * C0.astype(np.float64) + bias), *TOL["pointwise"])


@pytest.mark.parametrize("M,N", [(0, 5), (4, 0), (0, 0)])
def test_matmul_empty(M, N):
    C = ops.matmul(np.ones((M, 3), np.float32), np.ones((3, N), np.float32))
    assert np.asarray(C).shape == (M, N)


def test_matmul_large_blocks(rng):
    # Bigger than MC and KC in both directions and an NC-crossing N on the portable path.
    M, N, K = 300, 2100, 800
    A, B = _operands(rng, M, N, K, False, True)
    bias = rng.standard_normal(N).astype(np.float32)
    C = ops.matmul(A, B, trans_b=True, bias=bias, activation="relu")
    ref, mag = _ref(A, B, False, True, bias, "relu")
    _check(C, ref, mag, K)


def test_activation_extremes():
    # Saturated sigmoid/tanh must be exact 0/±1 and finite: no overflow in the vector exp.
    x = np.array([[-200.0, -90.0, -20.0, -1e-6, 0.0, 1e-6, 0.3, 0.7, 20.0, 90.0, 200.0]],
                 np.float32)
    I = np.eye(1, dtype=np.float32)
    for act in ("sigmoid", "tanh", "relu"):
        y = np.asarray(ops.matmul(I, x, activation=act))
        ref = ACTS[act](x.astype(np.float64))
        assert np.all(np.isfinite(y))
        np.testing.assert_allclose(y, ref, *TOL["pointwise"])


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
def test_thread_count_bitwise_invariant(rng, ta, tb):
    shapes = [(32, 128, 784), (784, 128, 64), (300, 257, 530), (5, 300, 100)]
    saved = fn.get_num_threads()
    try:
        for M, N, K in shapes:
            A, B = _operands(rng, M, N, K, ta, tb)
            bias = rng.standard_normal(N).astype(np.float32)
            outs = []
            for t in (1, 2, 3):
                fn.set_num_threads(t)
                outs.append(np.asarray(ops.matmul(A, B, trans_a=ta, trans_b=tb, bias=bias,
                                                  activation="tanh")).copy())
            for o in outs[1:]:
                assert np.array_equal(outs[0], o), (M, N, K)
    finally:
        fn.set_num_threads(saved)


# A non-transposed operand is either packed or read in place by the micro-kernel ("direct",
# chosen by shape: few columns per thread); the bits must not depend on which, and both must be
# right. The hook pins each mode; sizes straddle MR/NR, KC (two K slices) and a short last sliver.
DIRECT = [(1, 32, 1), (12, 32, 16), (13, 33, 31), (61, 131, 773), (97, 64, 389), (128, 128, 784),
          (5, 300, 100), (300, 257, 1024), (37, 2, 64)]


@pytest.mark.parametrize("M,N,K", DIRECT)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("act", ["none", "tanh"])
def test_direct_operands_bitwise_as_packed(rng, M, N, K, ta, tb, act):
    A, B = _operands(rng, M, N, K, ta, tb)
    bias = rng.standard_normal(N).astype(np.float32)
    C0 = rng.standard_normal((M, N)).astype(np.float32)
    outs = {}
    try:
        for mode in ("never", "always", "auto"):
            _C._gemm_set_direct(mode)
            for beta in (0.0, 0.5):
                out = C0.copy()
                ops.matmul(A, B, trans_a=ta, trans_b=tb, bias=bias, activation=act, out=out,
                           beta=beta)
                outs[mode, beta] = out
    finally:
        _C._gemm_set_direct("auto")
    for beta in (0.0, 0.5):
        assert np.array_equal(outs["never", beta], outs["always", beta]), beta
        assert np.array_equal(outs["never", beta], outs["auto", beta]), beta
        ref, mag = _ref(A, B, ta, tb, bias, act, beta, C0)
        _check(outs["always", beta], ref, mag, K)


def test_direct_mode_hook_rejects_unknown():
    with pytest.raises(ValueError, match="_gemm_set_direct"):
        _C._gemm_set_direct("sometimes")


# Narrow results (N <= NR/2, M >= 2 MR) run as Cᵀ = op(B)ᵀ·op(A)ᵀ plus a transposing epilogue
# (classifier heads: [batch,128]·[128,10] and their dW).
NARROW = [(128, 10, 128), (24, 1, 5), (61, 16, 773), (1000, 3, 300), (130, 10, 0)]


@pytest.mark.parametrize("M,N,K", NARROW)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("act", ["none", "relu"])
def test_matmul_narrow_results(rng, M, N, K, ta, tb, act):
    A, B = _operands(rng, M, N, K, ta, tb)
    bias = rng.standard_normal(N).astype(np.float32)
    out = np.full((M, N), np.nan, np.float32)
    ops.matmul(A, B, trans_a=ta, trans_b=tb, bias=bias, activation=act, out=out)
    ref, mag = _ref(A, B, ta, tb, bias, act)
    _check(out, ref, mag, K)
    saved = fn.get_num_threads()
    try:
        outs = []
        for t in (1, 2, 3):
            fn.set_num_threads(t)
            outs.append(np.asarray(ops.matmul(A, B, trans_a=ta, trans_b=tb, bias=bias,
                                              activation=act)).copy())
        for o in outs[1:]:
            assert np.array_equal(outs[0], o)
    finally:
        fn.set_num_threads(saved)


def test_matmul_narrow_relu_nan_and_signed_zero():
    A = np.zeros((30, 2), np.float32)
    A[0, 0] = np.nan
    B = np.ones((2, 4), np.float32)
    B[1] = -1.0
    A[1] = [1.0, 1.0]  # 1 - 1 = +0
    A[2] = [-2.0, 1.0]  # relu(-3) = 0
    y = np.asarray(ops.matmul(A, B, activation="relu"))
    assert np.isnan(y[0]).all()
    assert (y[1] == 0).all() and (y[2] == 0).all() and not np.signbit(y[2]).any()


_ISA_SCRIPT = textwrap.dedent("""
    import sys, numpy as np
    sys.path[:0] = [{py!r}, {tests!r}]
    import fusednet as fn
    from fusednet import _C, ops
    from test_matmul import _operands, _ref, _check
    assert _C._gemm_isa() == {isa!r}, _C._gemm_isa()
    rng = np.random.default_rng(7)
    for M, N, K in [(1, 1, 1), (1, 37, 450), (40, 1, 70), (13, 35, 300), (29, 9, 517), (150, 70, 40)]:
        for ta, tb in [(False, False), (True, True)]:
            for act in ("none", "relu", "sigmoid", "tanh"):
                A, B = _operands(rng, M, N, K, ta, tb)
                bias = rng.standard_normal(N).astype(np.float32)
                C0 = rng.standard_normal((M, N)).astype(np.float32)
                out = C0.copy()
                ops.matmul(A, B, trans_a=ta, trans_b=tb, bias=bias, activation=act, out=out,
                           beta=0.25)
                ref, mag = _ref(A, B, ta, tb, bias, act, 0.25, C0)
                _check(out, ref, mag, K)
    for M, N, K in [(13, 35, 300), (29, 64, 517), (150, 33, 40)]:  # in-place operands, same bits
        A, B = _operands(rng, M, N, K, False, False)
        outs = []
        for mode in ("never", "always"):
            _C._gemm_set_direct(mode)
            outs.append(np.asarray(ops.matmul(A, B, activation="tanh")).copy())
        _C._gemm_set_direct("auto")
        assert np.array_equal(outs[0], outs[1]), (M, N, K)
    A, B = _operands(rng, 200, 100, 300, False, False)
    fn.set_num_threads(1); c1 = np.asarray(ops.matmul(A, B)).copy()
    fn.set_num_threads(2); c2 = np.asarray(ops.matmul(A, B)).copy()
    assert np.array_equal(c1, c2)
    print("ok")
""")


def _cpu_isa_max():
    import platform
    if platform.machine().lower() not in ("x86_64", "amd64", "x64"):
        return 0  # (under qemu-user, /proc/cpuinfo is the x86 host's)
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    if all(f in flags for f in ("avx512f", "avx512vl", "avx512bw", "avx512dq")):
        return 2
    if "avx2" in flags and "fma" in flags:
        return 1
    return 0


@pytest.mark.parametrize("isa,level", [("portable", 0), ("avx2", 1), ("avx512", 2)])
def test_each_micro_kernel(isa, level):
    if level > _cpu_isa_max():
        pytest.skip(f"this CPU has no {isa}")
    here = os.path.dirname(os.path.abspath(__file__))
    py = os.path.dirname(os.path.dirname(fn.__file__))
    env = dict(os.environ, FUSEDNET_ISA=isa)
    script = _ISA_SCRIPT.format(py=py, tests=here, isa=isa)
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr


@requires_torch
def test_matches_torch(rng):
    import torch
    for M, N, K, ta, tb in [(32, 128, 784, False, False), (784, 128, 32, True, False),
                            (32, 784, 128, False, True), (100, 200, 300, True, True)]:
        A, B = _operands(rng, M, N, K, ta, tb)
        bias = rng.standard_normal(N).astype(np.float32)
        tA = torch.from_numpy(A).T if ta else torch.from_numpy(A)
        tB = torch.from_numpy(B).T if tb else torch.from_numpy(B)
        ref = torch.sigmoid(tA @ tB + torch.from_numpy(bias)).numpy()
        C = ops.matmul(A, B, trans_a=ta, trans_b=tb, bias=bias, activation="sigmoid")
        np.testing.assert_allclose(np.asarray(C), ref, *TOL["torch"])


# One-row products (M == 1 with B not transposed; N == 1 with A transposed) stream the matrix
# instead of packing it, with the micro-kernel's exact per-element arithmetic: the result must be
# bitwise the matching row/column of a many-row product, for any thread count.
ONE_ROW = [(1, 1, 1), (1, 17, 5), (1, 1031, 513), (1, 2053, 1), (1, 4100, 800), (1, 33, 0)]


@pytest.mark.parametrize("N,K", [(n, k) for _, n, k in ONE_ROW])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_matmul_one_row_bitwise_as_batch(rng, N, K, ta, act, beta):
    Mb = 37  # the many-row product takes the tiled path
    A, B = _operands(rng, Mb, N, K, ta, False)
    bias = rng.standard_normal(N).astype(np.float32)
    C0 = rng.standard_normal((Mb, N)).astype(np.float32)
    full = C0.copy()
    ops.matmul(A, B, trans_a=ta, bias=bias, activation=act, out=full, beta=beta)
    r = 11
    a1 = np.ascontiguousarray(A[:, r:r + 1] if ta else A[r:r + 1])
    saved = fn.get_num_threads()
    try:
        for t in (1, 2, 3):
            fn.set_num_threads(t)
            one = C0[r:r + 1].copy() if beta != 0.0 else np.full((1, N), np.nan, np.float32)
            ops.matmul(a1, B, trans_a=ta, bias=bias, activation=act, out=one, beta=beta)
            assert np.array_equal(one, full[r:r + 1]), (t, N, K)
    finally:
        fn.set_num_threads(saved)
    ref, mag = _ref(a1, B, ta, False, bias, act, beta, C0[r:r + 1])
    _check(one, ref, mag, K)


@pytest.mark.parametrize("M,K", [(2, 3), (37, 700), (1031, 513), (4100, 20)])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("act", ["none", "relu", "sigmoid"])
def test_matmul_one_column_transposed_a(rng, M, K, tb, act):
    """C[M,1] = Aᵀ·b with A stored [K, M] (a Dense(1)'s dW): streamed, strided output column."""
    A, B = _operands(rng, M, 3, K, True, tb)
    bias = rng.standard_normal(3).astype(np.float32)
    wide = np.asarray(ops.matmul(A, B, trans_a=True, trans_b=tb, bias=bias, activation=act)).copy()
    b1 = np.ascontiguousarray(B[0:1] if tb else B[:, 0:1])
    saved = fn.get_num_threads()
    try:
        for t in (1, 2):
            fn.set_num_threads(t)
            col = np.asarray(ops.matmul(A, b1, trans_a=True, trans_b=tb, bias=bias[:1], activation=act))
            assert np.array_equal(col[:, 0], wide[:, 0]), t
    finally:
        fn.set_num_threads(saved)
    ref, mag = _ref(A, b1, True, tb, bias[:1], act)
    _check(col, ref, mag, K)
    C0 = rng.standard_normal((M, 1)).astype(np.float32)
    out = C0.copy()
    ops.matmul(A, b1, trans_a=True, trans_b=tb, out=out, beta=0.5)
    ref, mag = _ref(A, b1, True, tb, None, "none", 0.5, C0)
    _check(out, ref, mag, K)


@pytest.mark.parametrize("M,K", [(2, 0), (2, 1), (17, 63), (31, 64), (33, 65), (1031, 1000), (4100, 129)])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_matmul_matrix_vector(rng, M, K, tb, act, beta):
    """C[M,1] = A·b with A row-major: row dot products; thread-count invariant, row-count invariant."""
    A, B = _operands(rng, M, 1, K, False, tb)
    bias = rng.standard_normal(1).astype(np.float32)
    C0 = rng.standard_normal((M, 1)).astype(np.float32)
    saved = fn.get_num_threads()
    try:
        outs = []
        for t in (1, 2, 3):
            fn.set_num_threads(t)
            out = C0.copy() if beta != 0.0 else np.full((M, 1), np.nan, np.float32)
            ops.matmul(A, B, trans_b=tb, bias=bias, activation=act, out=out, beta=beta)
            outs.append(out)
        for o in outs[1:]:
            assert np.array_equal(outs[0], o)
        if M > 2:  # a row's result does not depend on how many rows came with it
            two = C0[1:3].copy()
            ops.matmul(np.ascontiguousarray(A[1:3]), B, trans_b=tb, bias=bias, activation=act, out=two, beta=beta)
            assert np.array_equal(two, outs[0][1:3])
    finally:
        fn.set_num_threads(saved)
    ref, mag = _ref(A, B, False, tb, bias, act, beta, C0)
    _check(outs[0], ref, mag, K)


def test_out_rules(rng):
    A, B = _operands(rng, 6, 6, 6, False, False)
    with pytest.raises(ValueError, match=r"matmul: out must have shape \(6, 6\), got \(6, 5\)"):
        ops.matmul(A, B, out=np.empty((6, 5), np.float32))
    with pytest.raises(TypeError, match="matmul"):
        ops.matmul(A, B, out=np.empty((6, 6), np.int32))
    with pytest.raises(ValueError, match=r"matmul: out \(6, 6\) overlaps input a"):
        ops.matmul(A, B, out=A)
    with pytest.raises(ValueError, match="overlaps input b"):
        ops.matmul(A, B, out=B)
    with pytest.raises(ValueError, match="matmul: beta=.* needs out="):
        ops.matmul(A, B, beta=1.0)
    out = np.empty((6, 6), np.float32)
    r = ops.matmul(A, B, out=out)
    assert r.data_ptr == out.ctypes.data
    _check(out, *_ref(A, B, False, False), 6)


def test_bad_inputs_name_op_and_shapes(rng):
    a = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ: a \(3, 4\) @ b \(5, 2\)"):
        ops.matmul(a, np.ones((5, 2), np.float32))
    with pytest.raises(ValueError, match=r"inner dimensions differ: a \(3, 4\)ᵀ @ b \(4, 2\)"):
        ops.matmul(a, np.ones((4, 2), np.float32), trans_a=True)
    with pytest.raises(TypeError, match=r"matmul: a has dtype float64, shape \(3, 4\)"):
        ops.matmul(a.astype(np.float64), np.ones((4, 2), np.float32))
    with pytest.raises(TypeError, match="matmul: b must be float32"):
        _C.matmul(_C.asarray(a), _C.asarray(np.ones((4, 2), np.int64)))
    with pytest.raises(ValueError, match=r"matmul: a must be 2-D, got shape \(2, 3, 4\)"):
        ops.matmul(np.ones((2, 3, 4), np.float32), np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"matmul: a with shape \(4, 3\) is not C-contiguous"):
        ops.matmul(np.ones((3, 4), np.float32).T, np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"matmul: bias must have shape \(2,\) .* got \(3,\)"):
        ops.matmul(a, np.ones((4, 2), np.float32), bias=np.ones(3, np.float32))
    with pytest.raises(ValueError, match="matmul: unknown activation 'gelu'"):
        ops.matmul(a, np.ones((4, 2), np.float32), activation="gelu")
    with pytest.raises(ValueError, match=r"dense_backward: X \(3, 4\) and W \(5, 2\) do not chain"):
        ops.dense_backward(np.ones((3, 2), np.float32), a, np.ones((5, 2), np.float32))
    with pytest.raises(ValueError, match=r"dense_backward: dY must have shape \(3, 2\)"):
        ops.dense_backward(np.ones((3, 3), np.float32), a, np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="dense_backward: activation 'relu' needs the saved output Y"):
        ops.dense_backward(np.ones((3, 2), np.float32), a, np.ones((4, 2), np.float32),
                           activation="relu")


def _dact(act, Y):
    return {"none": lambda y: np.ones_like(y), "relu": lambda y: (y > 0).astype(np.float64),
            "sigmoid": lambda y: y * (1 - y), "tanh": lambda y: 1 - y * y}[act](Y)


@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("M,K,N", [(32, 784, 128), (7, 13, 10), (129, 65, 33)])
def test_dense_backward_vs_numpy(rng, act, M, K, N):
    X = rng.standard_normal((M, K)).astype(np.float32)
    W = (rng.standard_normal((K, N)) / np.sqrt(K)).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32) * 0.1
    Y = np.asarray(ops.matmul(X, W, bias=b, activation=act)).copy()
    dY = rng.standard_normal((M, N)).astype(np.float32)
    dX, dW, db = ops.dense_backward(dY, X, W, Y, act)
    dZ = dY.astype(np.float64) * _dact(act, Y.astype(np.float64))
    X64, W64 = X.astype(np.float64), W.astype(np.float64)
    _check(dW, X64.T @ dZ, np.abs(X64.T) @ np.abs(dZ), M)
    _check(dX, dZ @ W64.T, np.abs(dZ) @ np.abs(W64.T), N)
    _check(db, dZ.sum(0), np.abs(dZ).sum(0), M)
    dX2, dW2, db2 = ops.dense_backward(dY, X, W, Y, act, need_dX=False, has_bias=False)
    assert dX2 is None and db2 is None
    assert np.array_equal(np.asarray(dW2), np.asarray(dW))


@pytest.mark.parametrize("act", list(ACTS))
def test_dense_layer_finite_differences(rng, act):
    # Loss L = Σ G ⊙ act(X W + b), all in float64 for the finite differences; the analytic
    # gradients come from the float32 kernels (forward output Y included).
    M, K, N = 5, 7, 4
    X = rng.standard_normal((M, K))
    W = rng.standard_normal((K, N)) / np.sqrt(K)
    b = rng.standard_normal(N) * 0.1
    if act == "relu":  # keep pre-activations away from the kink so differences are smooth
        Z = X @ W + b
        b = b + np.where(np.abs(Z).min(0) < 0.05, 0.2, 0.0)
    # Differences at the float32-representable point the kernels see: only the kernels' own
    # float32 rounding separates the two gradients.
    X, W, b = (v.astype(np.float32).astype(np.float64) for v in (X, W, b))
    G = rng.standard_normal((M, N)).astype(np.float32).astype(np.float64)
    f = lambda X_, W_, b_: float(np.sum(G * ACTS[act](X_ @ W_ + b_)))
    eps = TOL["fd_eps"]

    def fd(P, which):
        g = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            Pp, Pm = P.copy(), P.copy()
            Pp[idx] += eps
            Pm[idx] -= eps
            args_p = [X, W, b]
            args_m = [X, W, b]
            args_p[which], args_m[which] = Pp, Pm
            g[idx] = (f(*args_p) - f(*args_m)) / (2 * eps)
        return g

    X32, W32, b32 = X.astype(np.float32), W.astype(np.float32), b.astype(np.float32)
    Y = np.asarray(ops.matmul(X32, W32, bias=b32, activation=act)).copy()
    dX, dW, db = ops.dense_backward(G.astype(np.float32), X32, W32, Y, act)
    rtol, atol = TOL["gradcheck"]
    for got, want in ((dX, fd(X, 0)), (dW, fd(W, 1)), (db, fd(b, 2))):
        got = np.asarray(got).astype(np.float64)
        scale = max(np.abs(want).max(), 1.0)
        assert np.abs(got - want).max() <= rtol * scale + atol, (act, got, want)
