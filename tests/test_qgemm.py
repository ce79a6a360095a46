"""int8 GEMM / conv kernels (csrc/cpu/qgemm.*): int32 accumulators bitwise against the triple-loop
reference on every ISA path, activation quantization against a NumPy float32 re-evaluation of the
formula, the float epilogue against float64, conv against an im2col reference, errors, CUDA."""
import numpy as np
import pytest

import fusednet
from fusednet import _C
from tolerances import TOL

ISAS = ["portable", "avx2", "avx512-vnni"]
# sizes 1, primes, non-tile multiples (tiles: 64 rows x 256 columns, MR 4/6/8, panels of 16, K by 4)
SHAPES = [(1, 1, 1), (1, 784, 128), (3, 5, 7), (13, 17, 31), (64, 784, 128), (67, 290, 33),
          (129, 9, 257), (8, 4099, 16), (2, 3, 300)]


def rand_wa(rng, M, K, N):
    w = rng.integers(-127, 128, (K, N)).astype(np.int8)
    a = rng.integers(0, 256, (M, K)).astype(np.uint8)
    return w, a


@pytest.mark.parametrize("M,K,N", SHAPES)
def test_qgemm_s32_bitwise_every_isa(M, K, N):
    rng = np.random.default_rng(M * 1000 + K + N)
    w, a = rand_wa(rng, M, K, N)
    ref = a.astype(np.int64) @ w.astype(np.int64)
    np.testing.assert_array_equal(_C.qgemm_s32_ref(a, w), ref)
    W = _C.QWeight(w)
    for isa in ISAS:
        np.testing.assert_array_equal(_C.qgemm_s32(a, W, isa), ref, err_msg=isa)


def test_qgemm_s32_extremes_no_saturation():
    # 255 * 127 * 2 > 32767: the pair sums vpmaddubsw would saturate; every path must stay exact
    M, K, N = 6, 1031, 40
    a = np.full((M, K), 255, np.uint8)
    w = np.where(np.arange(N) % 2 == 0, 127, -127).astype(np.int8)[None, :].repeat(K, 0)
    ref = a.astype(np.int64) @ w.astype(np.int64)
    W = _C.QWeight(w)
    for isa in ISAS:
        np.testing.assert_array_equal(_C.qgemm_s32(a, W, isa), ref, err_msg=isa)


def test_qgemm_isa_names():
    assert _C.qgemm_isa("portable") == "portable"
    assert _C.qgemm_isa() in ISAS
    assert ISAS.index(_C.qgemm_isa("avx2")) <= 1


def ref_quant_params(lo, hi):
    lo, hi = np.float32(min(lo, 0.0)), np.float32(max(hi, 0.0))
    s = np.float32((hi - lo) / np.float32(255))
    if not s > 0:
        s = np.float32(1)
    zp = int(np.clip(np.rint(np.float32(-lo / s)), 0, 255))
    return s, zp


def ref_quantize(x, s, zp):
    t = (x.astype(np.float32) / np.float32(s)).astype(np.float32)
    t = np.where(np.isnan(t), 0, np.clip(t, -512, 512))
    return np.clip(np.rint(t).astype(np.int64) + zp, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("M,K", [(1, 1), (5, 13), (64, 784), (3, 1000)])
def test_quantize_rows_dynamic_matches_formula(M, K):
    rng = np.random.default_rng(K)
    x = (rng.standard_normal((M, K)) * rng.uniform(0.1, 10, (M, 1))).astype(np.float32)
    if M > 1:
        x[1] = np.abs(x[1])  # a relu-like row: zero point 0
    q, s, zp = _C.quantize_rows(fusednet.asarray(x))
    assert q.dtype == np.uint8 and s.shape == (M,) and zp.shape == (M,)
    for i in range(M):
        es, ez = ref_quant_params(x[i].min(), x[i].max())
        assert s[i] == es and zp[i] == ez, i
        np.testing.assert_array_equal(q[i], ref_quantize(x[i], es, ez))
        # dequantization error at most half a step inside the range
        np.testing.assert_array_less(np.abs((q[i].astype(np.float64) - ez) * es - x[i]), es * 0.5001)
    if M > 1:
        assert zp[1] == 0


@pytest.mark.parametrize("M,K", [(1, 1), (3, 7), (5, 8), (4, 17), (9, 100), (2, 1000)])
@pytest.mark.parametrize("scale", [None, 0.07])
def test_quantize_rows_every_isa_bitwise(M, K, scale):
    rng = np.random.default_rng(M + K)
    x = (rng.standard_normal((M, K)) * 5).astype(np.float32)
    x.flat[:: max(K // 3, 1)] = np.nan
    if x.size > 2:
        x.flat[1] = np.inf
    x.flat[-1] = 0.035  # 0.035 / 0.07: a tie (round half to even)
    outs = [_C.quantize_rows(fusednet.asarray(x), scale, 17, isa) for isa in ISAS]
    for q, s, z in outs[1:]:
        np.testing.assert_array_equal(q, outs[0][0])
        np.testing.assert_array_equal(s, outs[0][1])
        np.testing.assert_array_equal(z, outs[0][2])
    q, s, z = outs[0]
    for i in range(M):
        si, zi = (s[i], z[i]) if scale is None else (s[0], z[0])
        np.testing.assert_array_equal(q[i], ref_quantize(x[i], si, zi))


def test_quantize_rows_static_nan_inf_clamp():
    x = np.array([[0.0, 1.0, -1.0, 1e9, -1e9, np.nan, np.inf, -np.inf, 0.05, 0.15]], np.float32)
    q, s, zp = _C.quantize_rows(fusednet.asarray(x), 0.1, 10)
    assert s.tolist() == [np.float32(0.1)] and zp.tolist() == [10]
    assert q[0].tolist() == ref_quantize(x[0], np.float32(0.1), 10).tolist()
    assert q[0].tolist() == [10, 20, 0, 255, 0, 10, 255, 0, 10, 12]  # 0.05/0.1 ties to even (0)
    # dynamic with infinities: finite scale, no crash
    q, s, zp = _C.quantize_rows(fusednet.asarray(x))
    assert np.isfinite(s).all() and 0 <= zp[0] <= 255


def dequant_ref(a, s, zp, w, ws, b, act):
    af = (a.astype(np.float64) - zp.astype(np.float64)[:, None]) * s.astype(np.float64)[:, None]
    y = af @ (w.astype(np.float64) * ws.astype(np.float64))
    if b is not None:
        y = y + b
    return np.maximum(y, 0) if act == "relu" else y


@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (7, 13, 17), (64, 784, 128), (67, 290, 33)])
@pytest.mark.parametrize("per_row", [True, False])
def test_qgemm_f32_vs_float64(M, K, N, per_row):
    rng = np.random.default_rng(N + K)
    w, a = rand_wa(rng, M, K, N)
    ws = rng.uniform(1e-3, 2e-2, N).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    n = M if per_row else 1
    s = rng.uniform(1e-3, 1e-1, n).astype(np.float32)
    zp = rng.integers(0, 256, n).astype(np.int32)
    W = _C.QWeight(w)
    rt, at = TOL["qgemm_epilogue"]
    outs = {}
    for act in ["none", "relu"]:
        ref = dequant_ref(a, np.broadcast_to(s, M), np.broadcast_to(zp, M), w, ws, b, act)
        for isa in ISAS:
            y = np.asarray(_C.qgemm_f32(a, s, zp, W, fusednet.asarray(ws), fusednet.asarray(b), act, isa))
            np.testing.assert_allclose(y, ref, rtol=rt, atol=at * np.abs(ref).max(), err_msg=isa)
            outs[act, isa] = y
        for isa in ISAS:  # shared epilogue: every path gives the same float bits
            np.testing.assert_array_equal(outs[act, isa], outs[act, "portable"])


def test_qdense_is_quantize_then_qgemm_and_close_to_float():
    rng = np.random.default_rng(3)
    M, K, N = 33, 100, 21
    x = rng.standard_normal((M, K)).astype(np.float32)
    wf = rng.standard_normal((K, N)).astype(np.float32) * 0.1
    ws = (np.abs(wf).max(0) / 127).astype(np.float32)
    w = np.clip(np.rint(wf / ws), -127, 127).astype(np.int8)
    b = rng.standard_normal(N).astype(np.float32)
    W = _C.QWeight(w)
    X, WS, B = fusednet.asarray(x), fusednet.asarray(ws), fusednet.asarray(b)
    for scale in [None, 0.03]:
        q, s, zp = _C.quantize_rows(X, scale, 128)
        want = np.asarray(_C.qgemm_f32(q, s, zp, W, WS, B, "relu"))
        for isa in ISAS:
            y = np.asarray(_C.qdense(X, W, WS, B, in_scale=scale, in_zero_point=128, activation="relu", isa=isa))
            np.testing.assert_array_equal(y, want)
    y = np.asarray(_C.qdense(X, W, WS, B))
    yf = x.astype(np.float64) @ wf + b
    # int8 error budget: |x|·|Δw| + |Δx|·|w| summed over K (steps / 2 each)
    bound = (np.abs(x).sum(1, keepdims=True) * ws / 2 * 1.01
             + (np.abs(x).max(1, keepdims=True) * 2 / 255 / 2) * np.abs(wf).sum(0))
    assert (np.abs(y - yf) <= bound + 1e-6).all()


def test_qdense_threads_bitwise():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((200, 300)).astype(np.float32)
    w = rng.integers(-127, 128, (300, 520)).astype(np.int8)
    W, WS = _C.QWeight(w), fusednet.asarray(np.full(520, 0.01, np.float32))
    n0 = fusednet.get_num_threads()
    try:
        fusednet.set_num_threads(1)
        y1 = np.asarray(_C.qdense(fusednet.asarray(x), W, WS))
        fusednet.set_num_threads(2)
        y2 = np.asarray(_C.qdense(fusednet.asarray(x), W, WS))
    finally:
        fusednet.set_num_threads(n0)
    np.testing.assert_array_equal(y1, y2)


def out_and_pad(n, k, s, d, padding):
    eff = (k - 1) * d + 1
    if padding == "same":
        o = -(-n // s)
        total = max((o - 1) * s + eff - n, 0)
        return o, total // 2
    return (n - eff) // s + 1, 0


def qconv_ref(xq, s_img, zp_img, w, ws, b, k, st, padding, d, act):
    """float64 conv of the dequantized input (padding = real 0) with the dequantized kernel."""
    N, H, W, C = xq.shape
    kh, kw = k
    xf = (xq.astype(np.float64) - zp_img[:, None, None, None]) * s_img[:, None, None, None]
    Ho, pt = out_and_pad(H, kh, st[0], d[0], padding)
    Wo, pl = out_and_pad(W, kw, st[1], d[1], padding)
    wf = w.astype(np.float64).reshape(kh, kw, C, -1) * ws
    y = np.zeros((N, Ho, Wo, wf.shape[-1]))
    for i in range(kh):
        for j in range(kw):
            for oh in range(Ho):
                ih = oh * st[0] - pt + i * d[0]
                if not 0 <= ih < H:
                    continue
                iw = np.arange(Wo) * st[1] - pl + j * d[1]
                ok = (iw >= 0) & (iw < W)
                y[:, oh, ok] += xf[:, ih, iw[ok]] @ wf[i, j]
    if b is not None:
        y += b
    return np.maximum(y, 0) if act == "relu" else y


CONVS = [  # (N, H, W, C, O, k, strides, padding, dilation)
    (1, 1, 1, 1, 1, (1, 1), (1, 1), "valid", (1, 1)),
    (2, 7, 9, 3, 5, (3, 3), (1, 1), "same", (1, 1)),
    (3, 11, 11, 32, 64, (3, 3), (1, 1), "valid", (1, 1)),
    (2, 10, 13, 5, 17, (3, 2), (2, 3), "same", (1, 1)),
    (1, 12, 12, 4, 7, (3, 3), (1, 1), "valid", (2, 2)),
    (2, 6, 6, 16, 33, (1, 1), (1, 1), "valid", (1, 1)),
    (3, 7, 6, 8, 130, (3, 3), (1, 1), "same", (1, 1)),   # > 128 outputs: the materialized im2col path
]


@pytest.mark.parametrize("N,H,W,C,O,k,st,padding,d", CONVS)
@pytest.mark.parametrize("dynamic", [True, False])
def test_qconv2d_vs_float64(N, H, W, C, O, k, st, padding, d, dynamic):
    rng = np.random.default_rng(H * W + C + O)
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    K = k[0] * k[1] * C
    w = rng.integers(-127, 128, (K, O)).astype(np.int8)
    ws = rng.uniform(1e-3, 1e-2, O).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32)
    scale, zp = (None, 0) if dynamic else (0.02, 100)
    q, s, z = _C.quantize_rows(fusednet.asarray(x.reshape(N, -1)), scale, zp)
    s_img, z_img = np.broadcast_to(s, N).astype(np.float64), np.broadcast_to(z, N).astype(np.float64)
    ref = qconv_ref(q.reshape(x.shape), s_img, z_img, w, ws, b, k, st, padding, d, "relu")
    W_ = _C.QWeight(w)
    rt, at = TOL["qgemm_epilogue"]
    outs = []
    for isa in ISAS:
        y = np.asarray(_C.qconv2d(fusednet.asarray(x), W_, k, fusednet.asarray(ws), fusednet.asarray(b), st,
                                  padding, d, scale, zp, "relu", isa))
        assert y.shape == ref.shape
        np.testing.assert_allclose(y, ref, rtol=rt, atol=at * max(np.abs(ref).max(), 1e-30), err_msg=isa)
        outs.append(y)
    for y in outs[1:]:
        np.testing.assert_array_equal(y, outs[0])


def test_qweight_properties_and_errors():
    w = np.arange(-6, 6, dtype=np.int8).reshape(3, 4)
    W = _C.QWeight(w)
    assert W.shape == (3, 4)
    np.testing.assert_array_equal(W.w_q, w)
    np.testing.assert_array_equal(W.colsum, w.astype(np.int64).sum(0))
    with pytest.raises(TypeError, match="QWeight: w_q must be an int8"):
        _C.QWeight(w.astype(np.float32))
    with pytest.raises(ValueError, match=r"\[-127, 127\]"):
        _C.QWeight(np.full((2, 2), -128, np.int8))
    with pytest.raises(ValueError, match="2-D"):
        _C.QWeight(np.zeros(3, np.int8))
    with pytest.raises(ValueError, match="K <= 65536"):
        _C.QWeight(np.zeros((70000, 1), np.int8))


def test_qdense_qconv_errors():
    W = _C.QWeight(np.ones((4, 3), np.int8))
    ws = fusednet.asarray(np.ones(3, np.float32))
    x = fusednet.asarray(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"qdense: x \(2, 5\) does not match the weights \(4, 3\)"):
        _C.qdense(fusednet.asarray(np.ones((2, 5), np.float32)), W, ws)
    with pytest.raises(TypeError, match="qdense: x must be float32"):
        _C.qdense(fusednet.asarray(np.ones((2, 4), np.int32)), W, ws)
    with pytest.raises(ValueError, match=r"qdense: w_scale must have shape \(3,\)"):
        _C.qdense(x, W, fusednet.asarray(np.ones(4, np.float32)))
    with pytest.raises(ValueError, match=r"qdense: bias must have shape \(3,\)"):
        _C.qdense(x, W, ws, fusednet.asarray(np.ones(2, np.float32)))
    with pytest.raises(ValueError, match="in_zero_point must be in"):
        _C.qdense(x, W, ws, in_scale=0.1, in_zero_point=300)
    with pytest.raises(ValueError, match="in_scale must be a positive"):
        _C.qdense(x, W, ws, in_scale=0.0)
    with pytest.raises(ValueError, match="activation"):
        _C.qdense(x, W, ws, activation="gelu")
    with pytest.raises(ValueError, match="isa must be"):
        _C.qdense(x, W, ws, isa="sse9")
    with pytest.raises(TypeError, match="uint8"):
        _C.qgemm_s32(np.ones((2, 4), np.int8), W)
    Wc = _C.QWeight(np.ones((9 * 2, 3), np.int8))
    xc = fusednet.asarray(np.ones((1, 5, 5, 2), np.float32))
    with pytest.raises(ValueError, match=r"qconv2d: kernel \(3, 3, 2, 3\) does not match"):
        _C.qconv2d(xc, W, 3, ws)
    with pytest.raises(ValueError, match="qconv2d: x must be 4-D"):
        _C.qconv2d(x, Wc, 3, ws)
    with pytest.raises(ValueError, match="qconv2d"):
        _C.qconv2d(fusednet.asarray(np.ones((1, 2, 2, 2), np.float32)), Wc, 3, ws)  # kernel > input
    with pytest.raises(ValueError, match="padding"):
        _C.qconv2d(xc, Wc, 3, ws, padding="full")
    # empty batch: valid, empty output
    assert np.asarray(_C.qdense(fusednet.asarray(np.ones((0, 4), np.float32)), W, ws)).shape == (0, 3)


@pytest.mark.skipif(not fusednet.cuda.is_available(), reason="no CUDA device")
def test_qdense_qconv_cuda_match_cpu():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((9, 37)).astype(np.float32)
    w = rng.integers(-127, 128, (37, 19)).astype(np.int8)
    ws = rng.uniform(1e-3, 1e-2, 19).astype(np.float32)
    b = rng.standard_normal(19).astype(np.float32)
    W = _C.QWeight(w)
    for scale in [None, 0.05]:
        cpu = np.asarray(_C.qdense(fusednet.asarray(x), W, fusednet.asarray(ws), fusednet.asarray(b), scale, 120, "relu"))
        dev = _C.qdense(_C.asarray(x).to("cuda"), W, _C.asarray(ws).to("cuda"),
                        _C.asarray(b).to("cuda"), scale, 120, "relu")
        np.testing.assert_allclose(dev.to("cpu").numpy(), cpu, *TOL["cuda_vs_cpu"])
    xc = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    Wc = _C.QWeight(rng.integers(-127, 128, (27, 5)).astype(np.int8))
    wsc = rng.uniform(1e-3, 1e-2, 5).astype(np.float32)
    for scale in [None, 0.05]:
        cpu = np.asarray(_C.qconv2d(fusednet.asarray(xc), Wc, 3, fusednet.asarray(wsc), None, 1, "same", 1, scale, 7))
        dev = _C.qconv2d(_C.asarray(xc).to("cuda"), Wc, 3, _C.asarray(wsc).to("cuda"), None, 1,
                         "same", 1, scale, 7)
        np.testing.assert_allclose(dev.to("cpu").numpy(), cpu, *TOL["cuda_vs_cpu"])
