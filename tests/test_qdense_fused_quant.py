"""qdense with N <= 128 quantizes each row block inside its GEMM task (csrc/cpu/qgemm.cpp): the same
bits as the unfused path (_C.quantize_rows, then _C.qgemm_f32) on every ISA path and thread count,
dynamic and static, fused activations, sizes 1 / primes / across the 32-row task and 128-column
panel-group edges (N = 129+ takes the unfused branch), rows holding NaN / inf."""
import numpy as np
import pytest

import fusednet
from fusednet import _C

ISAS = ["portable", "avx2", "avx512-vnni"]


def _case(rng, M, K, N):
    x = rng.standard_normal((M, K)).astype(np.float32) * np.float32(2)
    w = rng.integers(-127, 128, (K, N)).astype(np.int8)
    ws = rng.uniform(0.001, 0.02, N).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    return x, _C.QWeight(w), fusednet.asarray(ws), fusednet.asarray(b)


def _unfused(X, W, WS, B, scale, zp, act):
    q, s, z = _C.quantize_rows(X, scale, zp)
    return np.asarray(_C.qgemm_f32(q, s, z, W, WS, B, act))


@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (1, 784, 128), (2, 3, 5), (31, 17, 16), (32, 9, 128),
                                   (33, 784, 128), (64, 784, 128), (67, 128, 10), (97, 1601, 127),
                                   (64, 100, 129), (5, 13, 300)])
@pytest.mark.parametrize("scale", [None, 0.05])
def test_qdense_fused_quantization_is_bitwise_the_unfused_path(M, K, N, scale):
    rng = np.random.default_rng(M * 7 + K + N)
    x, W, WS, B = _case(rng, M, K, N)
    X = fusednet.asarray(x)
    for act in ("none", "relu", "sigmoid"):
        want = _unfused(X, W, WS, B, scale, 117, act)
        for isa in ISAS:
            y = np.asarray(_C.qdense(X, W, WS, B, scale, 117, act, isa))
            np.testing.assert_array_equal(y, want, err_msg=f"{act} {isa}")


def test_qdense_fused_quantization_threads_and_non_finite_rows():
    rng = np.random.default_rng(11)
    x, W, WS, B = _case(rng, 301, 257, 96)
    x[3, 5], x[40, 0], x[299, 256] = np.nan, np.inf, -np.inf
    x[100] = np.nan                                     # a whole NaN row: every code is the zero point
    X = fusednet.asarray(x)
    n0 = fusednet.get_num_threads()
    try:
        for scale in (None, 0.1):
            outs = []
            for t in (1, 2, 3):
                fusednet.set_num_threads(t)
                outs.append(np.asarray(_C.qdense(X, W, WS, B, scale, 3, "relu")))
            fusednet.set_num_threads(n0)
            want = _unfused(X, W, WS, B, scale, 3, "relu")
            for y in outs:
                np.testing.assert_array_equal(y, want)
    finally:
        fusednet.set_num_threads(n0)
