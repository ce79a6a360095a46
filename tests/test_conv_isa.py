"""Conv2D / conv+pool / max-pool / DepthwiseConv2D on every ISA path: FUSEDNET_ISA=portable (GEMM
path, portable loops), avx2 (conv_avx2.cpp, pool_avx2.cpp, depthwise_avx2.cpp) and avx512
(conv_avx512.cpp, pool_avx512.cpp, depthwise_avx512.cpp), each run in its own process (the ISA is
fixed at load). Depthwise: AVX2 bitwise as AVX-512 (both contract to FMAs, depthwise_impl.h),
every ISA against the float64 reference.

Checked: every path against the float64 NumPy reference of test_conv; the AVX2 direct kernels
bitwise against the AVX-512 ones where both promise the same per-element operation order
(forward none/relu, dW, db: see conv_direct.h); max pooling (values, argmax, gradients) bitwise
against the portable loops on every path, NaNs included. Sizes include 1, primes and channel
counts that are not multiples of the 8 / 16 lane vectors (masked tails), so every tile shape and
tail of the AVX2 kernels runs.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from test_conv import conv_grad_ref, conv_ref
from test_depthwise import dw_grad_ref, dw_ref
from test_matmul import _cpu_isa_max
from tolerances import TOL

# N, H, W, C, kh, kw, O, strides, padding, dilation, act
DIRECT = [   # K = kh*kw*C <= 32: direct forward (none/relu) and direct dW / db when dX is not wanted
    (1, 1, 1, 1, 1, 1, 1, (1, 1), "valid", (1, 1), "relu"),      # everything 1
    (3, 28, 28, 1, 3, 3, 32, (1, 1), "valid", (1, 1), "relu"),    # seed CNN conv1
    (2, 7, 5, 3, 3, 3, 1, (1, 1), "same", (1, 1), "none"),        # O = 1
    (2, 9, 11, 2, 3, 3, 13, (2, 1), "same", (1, 1), "relu"),      # O = 13: partial 2-vector tail
    (1, 5, 17, 1, 2, 2, 7, (1, 1), "valid", (1, 1), "none"),      # O = 7: partial 1-vector tail
    (2, 10, 11, 3, 3, 3, 37, (2, 1), "same", (1, 1), "relu"),     # K = 27 (5-row dW steps), O = 16+16+5
    (1, 12, 9, 2, 4, 4, 24, (3, 2), "same", (1, 1), "none"),      # K = 32, O = 16 + full 8-lane tail
    (2, 11, 13, 2, 3, 2, 17, (1, 1), "same", (2, 2), "tanh"),     # dilation; GEMM forward
    (2, 71, 3, 1, 3, 3, 16, (1, 1), "same", (1, 1), "relu"),      # several bands per image
]
FULL = [     # C % 16 == 0: direct full backward (batch dW tiles, fused dX), direct forward
    (3, 13, 13, 32, 3, 3, 64, (1, 1), "valid", (1, 1), "relu"),   # seed CNN conv2
    (2, 9, 10, 16, 3, 3, 40, (2, 1), "same", (1, 1), "tanh"),     # O = 40: full 8-lane tail
    (2, 11, 7, 48, 2, 3, 7, (1, 2), "same", (2, 1), "none"),      # dilation, even kernel, O = 7
    (1, 6, 7, 16, 5, 5, 19, (1, 1), "same", (1, 1), "sigmoid"),   # O = 19
    (2, 5, 3, 16, 1, 1, 1, (1, 1), "valid", (1, 1), "relu"),      # pointwise, O = 1
    (1, 7, 7, 64, 3, 3, 70, (1, 1), "same", (1, 1), "relu"),      # K = 576: blocks-outer forward
]
# conv + max-pool pairs (the training step's fused call): conv1 / conv2 shapes, odd pooled sizes
PAIRS = [(2, 28, 28, 1, 32, False), (2, 13, 13, 32, 64, True), (1, 9, 9, 3, 13, False)]
# N, H, W, C, pool, strides, padding (+ a few NaNs in the input)
POOLS = [(2, 26, 26, 32, 2, None, "valid"), (3, 11, 11, 64, 2, None, "valid"), (1, 1, 1, 1, 1, None, "valid"),
         (2, 7, 5, 7, 2, None, "same"), (1, 9, 13, 13, 3, 2, "valid"), (2, 6, 6, 37, 2, 3, "same"),
         (1, 5, 7, 9, 2, 2, "same")]

# depthwise: N, H, W, C, kh, kw, dm, strides, padding, dilation, act
DEPTHWISE = [(2, 13, 11, 37, 3, 3, 1, (1, 1), "same", (1, 1), "relu"),     # C prime: vector tails
             (1, 9, 8, 16, 5, 5, 1, (2, 2), "same", (1, 1), "none"),
             (2, 7, 9, 5, 3, 2, 3, (1, 2), "valid", (2, 1), "tanh"),       # depth multiplier 3
             (1, 1, 1, 1, 1, 1, 1, (1, 1), "valid", (1, 1), "sigmoid"),
             (2, 14, 14, 64, 3, 3, 1, (2, 2), "same", (1, 1), "relu")]    # MobileNet-like

_SCRIPT = r"""
import sys, numpy as np
sys.path.insert(0, {tests!r})
import fusednet
from fusednet import _C
import test_conv_isa as T
out = {{"isa": np.array(_C.cpu_isa())}}
A = _C.asarray
for i, (N, H, W, C, kh, kw, O, s, pad, d, act) in enumerate(T.DIRECT + T.FULL):
    x, w, b, dyf = T.case_inputs(i, N, H, W, C, kh, kw, O)
    y = np.asarray(_C.conv2d_forward(A(x), A(w), A(b), s, pad, d, act))
    dy = dyf(y.shape)
    dX, dW, db = _C.conv2d_backward(A(dy), A(x), A(w), A(y), act, s, pad, d, False, True)
    out[f"c{{i}}_y"], out[f"c{{i}}_dW"], out[f"c{{i}}_db"] = y, np.asarray(dW), np.asarray(db)
    dX, dW, db = _C.conv2d_backward(A(dy), A(x), A(w), A(y), act, s, pad, d, True, True)
    out[f"c{{i}}_dX2"], out[f"c{{i}}_dW2"], out[f"c{{i}}_db2"] = np.asarray(dX), np.asarray(dW), np.asarray(db)
for i, (N, H, W, C, O, need_dx) in enumerate(T.PAIRS):
    x, w, b, dyf = T.case_inputs(100 + i, N, H, W, C, 3, 3, O)
    p, idx = _C.conv2d_maxpool_forward(A(x), A(w), A(b))
    dp = dyf(np.asarray(p).shape)
    dX, dW, db = _C.conv2d_maxpool_backward(A(dp), idx, A(x), A(w), p, need_dX=need_dx)
    out[f"p{{i}}_p"], out[f"p{{i}}_idx"], out[f"p{{i}}_dW"], out[f"p{{i}}_db"] = (np.asarray(p), np.asarray(idx),
                                                                         np.asarray(dW), np.asarray(db))
    if need_dx:
        out[f"p{{i}}_dX"] = np.asarray(dX)
for i, (N, H, W, C, k, st, pad) in enumerate(T.POOLS):
    x = T.pool_input(i, N, H, W, C)
    y, idx = _C.max_pool2d_forward(A(x), k, st, pad)
    y = np.asarray(y)
    rng = np.random.default_rng(200 + i)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    relu_y = np.where(rng.random(y.shape) < 0.3, 0.0, 1.0).astype(np.float32)
    dx = _C.max_pool2d_backward(A(dy), idx, x.shape, k, st, pad)
    dxr = _C.max_pool2d_backward(A(dy), idx, x.shape, k, st, pad, A(relu_y))
    out[f"m{{i}}_y"], out[f"m{{i}}_idx"] = y, np.asarray(idx)
    out[f"m{{i}}_dx"], out[f"m{{i}}_dxr"] = np.asarray(dx), np.asarray(dxr)
for i, (N, H, W, C, kh, kw, dm, s, pad, d, act) in enumerate(T.DEPTHWISE):
    x, w, b, dyf = T.dw_inputs(i, N, H, W, C, kh, kw, dm)
    y = np.asarray(_C.depthwise_conv2d_forward(A(x), A(w), A(b), s, pad, d, act))
    dX, dW, db = _C.depthwise_conv2d_backward(A(dyf(y.shape)), A(x), A(w), A(y), act, s, pad, d, True, True)
    out[f"d{{i}}_y"], out[f"d{{i}}_dX"], out[f"d{{i}}_dW"], out[f"d{{i}}_db"] = (y, np.asarray(dX), np.asarray(dW),
                                                                         np.asarray(db))
np.savez({path!r}, **out)
"""


def case_inputs(i, N, H, W, C, kh, kw, O):
    """Seeded inputs of case i: x, w, b and a function making dY of a shape."""
    rng = np.random.default_rng(i)
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    w = (rng.standard_normal((kh, kw, C, O)) / np.sqrt(kh * kw * C)).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32)
    return x, w, b, lambda shape: rng.standard_normal(shape).astype(np.float32)


def dw_inputs(i, N, H, W, C, kh, kw, dm):
    """Seeded inputs of depthwise case i: x, w (kh, kw, C, dm), b (C·dm) and a dY maker."""
    rng = np.random.default_rng(400 + i)
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    w = (rng.standard_normal((kh, kw, C, dm)) / np.sqrt(kh * kw)).astype(np.float32)
    b = rng.standard_normal(C * dm).astype(np.float32)
    return x, w, b, lambda shape: rng.standard_normal(shape).astype(np.float32)


def pool_input(i, N, H, W, C):
    """Seeded pool input with ties (values rounded to quarters) and a few NaNs."""
    rng = np.random.default_rng(300 + i)
    x = np.round(rng.standard_normal((N, H, W, C)) * 4) / 4
    x.flat[rng.integers(0, x.size, size=max(1, x.size // 97))] = np.nan
    return x.astype(np.float32)


_LEVEL = {"portable": 0, "avx2": 1, "avx512": 2}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    here = os.path.dirname(os.path.abspath(__file__))
    res = {}
    for isa, level in _LEVEL.items():
        if level > _cpu_isa_max():
            continue
        path = str(tmp_path_factory.mktemp("isa") / f"{isa}.npz")
        env = dict(os.environ, FUSEDNET_ISA=isa)
        r = subprocess.run([sys.executable, "-c", _SCRIPT.format(tests=here, path=path)], env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        res[isa] = dict(np.load(path))
        assert str(res[isa]["isa"]) == isa
    return res


def _isas(runs, need):
    if need not in runs:
        pytest.skip(f"this CPU has no {need}")
    return [k for k in runs]


def _close(a, ref):
    rtol, atol = TOL["conv"]
    scale = max(1.0, float(np.abs(ref).max())) if ref.size else 1.0
    np.testing.assert_allclose(a, ref, rtol=rtol, atol=atol * scale)


def _dz(dy, y, act):
    y = y.astype(np.float64)
    return dy * {"none": 1.0, "relu": (y > 0), "sigmoid": y * (1 - y), "tanh": 1 - y ** 2}[act]


@pytest.mark.parametrize("i", range(len(DIRECT + FULL)))
def test_conv_every_isa_vs_reference(runs, i):
    N, H, W, C, kh, kw, O, s, pad, d, act = (DIRECT + FULL)[i]
    for isa in _isas(runs, "portable"):
        x, w, b, dyf = case_inputs(i, N, H, W, C, kh, kw, O)   # the subprocess's draws, replayed
        r = runs[isa]
        y = r[f"c{i}_y"]
        _close(y, conv_ref(x, w, b, s, pad, d, act))
        dy = dyf(y.shape)
        dx, dw, db = conv_grad_ref(x, w, _dz(dy, y, act), s, pad, d)
        for tag in ("", "2"):
            _close(r[f"c{i}_dW{tag}"], dw)
            _close(r[f"c{i}_db{tag}"], db)
        _close(r[f"c{i}_dX2"], dx)


# sigmoid / tanh forwards run the GEMM, whose AVX2 and AVX-512 micro-kernels may round
# differently, and the gradients then see different Y: bitwise is promised for none / relu only
# (the other activations are checked against the reference above).
@pytest.mark.parametrize("i", [i for i, c in enumerate(DIRECT + FULL) if c[-1] in ("none", "relu")])
def test_conv_avx2_bitwise_as_avx512(runs, i):
    _isas(runs, "avx512")
    N, H, W, C, kh, kw, O, s, pad, d, act = (DIRECT + FULL)[i]
    a, z = runs["avx2"], runs["avx512"]
    K = kh * kw * C
    np.testing.assert_array_equal(a[f"c{i}_y"], z[f"c{i}_y"])     # direct forward on both
    if K <= 32:                          # direct dW / db without dX
        np.testing.assert_array_equal(a[f"c{i}_dW"], z[f"c{i}_dW"])
        np.testing.assert_array_equal(a[f"c{i}_db"], z[f"c{i}_db"])
    if C % 16 == 0:                      # direct full backward: dW / db bitwise, dX to tolerance
        np.testing.assert_array_equal(a[f"c{i}_dW2"], z[f"c{i}_dW2"])
        np.testing.assert_array_equal(a[f"c{i}_db2"], z[f"c{i}_db2"])
        _close(a[f"c{i}_dX2"], z[f"c{i}_dX2"].astype(np.float64))


@pytest.mark.parametrize("i", range(len(PAIRS)))
def test_conv_pool_pair_every_isa(runs, i):
    isas = _isas(runs, "portable")
    base = runs["portable"]
    for isa in isas:
        r = runs[isa]
        _close(r[f"p{i}_p"], base[f"p{i}_p"].astype(np.float64))
        _close(r[f"p{i}_dW"], base[f"p{i}_dW"].astype(np.float64))
        _close(r[f"p{i}_db"], base[f"p{i}_db"].astype(np.float64))
        if f"p{i}_dX" in base:
            _close(r[f"p{i}_dX"], base[f"p{i}_dX"].astype(np.float64))
    if "avx512" in runs:   # direct forward + pool on both: bitwise, and so are the argmax
        for key in ("p", "idx", "dW", "db"):
            np.testing.assert_array_equal(runs["avx2"][f"p{i}_{key}"], runs["avx512"][f"p{i}_{key}"])


@pytest.mark.parametrize("i", range(len(POOLS)))
def test_max_pool_every_isa_bitwise(runs, i):
    base = runs["portable"]
    if i == 0:
        assert np.isnan(base["m0_y"]).any()   # the NaN rule is exercised
    for isa in _isas(runs, "avx2"):
        for key in ("y", "idx", "dx", "dxr"):
            np.testing.assert_array_equal(runs[isa][f"m{i}_{key}"], base[f"m{i}_{key}"], err_msg=f"{isa} {key}")


def test_max_pool_portable_vs_reference(runs):
    """The portable loops the SIMD paths are compared with are right: values = max over the
    window with NaN propagating, argmax pointing at that value."""
    base = runs["portable"]
    N, H, W, C, k, st, pad = POOLS[0]
    x = pool_input(0, N, H, W, C).astype(np.float64)
    ref = x.reshape(N, H // 2, 2, W // 2, 2, C).max(axis=(2, 4))   # NaN propagates in np.max
    np.testing.assert_array_equal(base["m0_y"], ref.astype(np.float32))
    idx = base["m0_idx"].reshape(N, -1, C)
    got = np.take_along_axis(x.reshape(N, H * W, C), idx.reshape(N, -1, C), axis=1)
    np.testing.assert_array_equal(got.reshape(ref.shape), ref)


@pytest.mark.parametrize("i", range(len(DEPTHWISE)))
def test_depthwise_every_isa_vs_reference_avx2_bitwise_as_avx512(runs, i):
    N, H, W, C, kh, kw, dm, s, pad, d, act = DEPTHWISE[i]
    for isa in _isas(runs, "portable"):
        x, w, b, dyf = dw_inputs(i, N, H, W, C, kh, kw, dm)   # the subprocess's draws, replayed
        r = runs[isa]
        y = r[f"d{i}_y"]
        _close(y, dw_ref(x, w, b, s, pad, d, act))
        rdx, rdw, rdb = dw_grad_ref(x, w, _dz(dyf(y.shape), y, act), s, pad, d)
        _close(r[f"d{i}_dX"], rdx)
        _close(r[f"d{i}_dW"], rdw)
        _close(r[f"d{i}_db"], rdb)
    if "avx512" in runs:
        for key in ("y", "dX", "dW", "db"):
            np.testing.assert_array_equal(runs["avx2"][f"d{i}_{key}"], runs["avx512"][f"d{i}_{key}"], err_msg=key)
