"""Conv2D -> MaxPooling2D pair kernels (conv2d_maxpool_forward / _backward): bitwise equal to the
separate conv and pool calls (every path: per-image direct, GEMM, whole-batch fallback, pooled dW,
conv output cropped to what 'valid' pooling reads; dX only within TOL when columns are cropped),
float64 NumPy references, thread-count independence, and errors."""
import numpy as np
import pytest

import fusednet
from fusednet import _C
from test_conv import close, conv_grad_ref, conv_ref, rand
from test_pool import pool_ref

CASES = [
    # N, H, W, C, kh, kw, O, strides, padding, dilation, pool, pool_strides, pool_padding, act
    (16, 28, 28, 1, 3, 3, 32, (1, 1), "valid", (1, 1), (2, 2), None, "valid", "relu"),  # seed conv1
    (8, 13, 13, 32, 3, 3, 64, (1, 1), "valid", (1, 1), (2, 2), None, "valid", "relu"),  # seed conv2
    (1, 9, 11, 3, 3, 3, 5, (1, 1), "same", (1, 1), (2, 2), None, "same", "relu"),       # N=1: whole batch
    (3, 11, 13, 3, 3, 3, 17, (2, 1), "same", (1, 1), (3, 3), (2, 2), "same", "none"),   # K=27 direct dW
    (7, 12, 10, 5, 3, 3, 6, (1, 1), "valid", (2, 1), (3, 2), (1, 2), "valid", "relu"),  # K=45: GEMM paths
    (5, 70, 66, 1, 3, 3, 16, (1, 1), "same", (1, 1), (2, 2), None, "valid", "relu"),    # several bands
    (6, 8, 7, 16, 2, 2, 20, (1, 1), "same", (1, 1), (2, 2), None, "same", "none"),      # C % 16 == 0
    (5, 13, 12, 16, 3, 3, 24, (1, 1), "valid", (1, 1), (2, 2), None, "valid", "relu"),  # 11x10: rows cropped
    (5, 12, 13, 16, 3, 3, 24, (1, 1), "valid", (1, 1), (2, 2), None, "valid", "relu"),  # 10x11: columns cropped
    (4, 14, 15, 16, 3, 3, 8, (1, 1), "same", (1, 1), (3, 3), (3, 3), "valid", "none"),  # 14x15 -> 4x5 ('same' conv)
    (9, 11, 11, 4, 3, 3, 7, (1, 1), "valid", (1, 1), (2, 2), None, "valid", "relu"),    # GEMM paths, odd output
]


def _pair(case):
    (N, H, W, C, kh, kw, O, s, pad, d, p, ps, pp, act) = case
    return dict(strides=s, padding=pad, dilation=d, activation=act, pool_size=p, pool_strides=ps,
                pool_padding=pp)


def _inputs(rng, case, bias=True):
    N, H, W, C, kh, kw, O = case[:7]
    x = rand(rng, N, H, W, C)
    w = (rand(rng, kh, kw, C, O) / np.sqrt(kh * kw * C)).astype(np.float32)
    b = rand(rng, O) * 0.1 if bias else None
    return x, w, b


def _separate(x, w, b, case, dp, need_dx, has_bias):
    """The two-call version: conv2d_forward + max_pool2d_forward, then the pool's backward (with the
    ReLU derivative through the pooled output) + conv2d_backward without activation."""
    k = _pair(case)
    ba = None if b is None else _C.asarray(b)
    y = _C.conv2d_forward(_C.asarray(x), _C.asarray(w), ba, k["strides"], k["padding"], k["dilation"],
                          k["activation"])
    p, idx = _C.max_pool2d_forward(y, k["pool_size"], k["pool_strides"], k["pool_padding"])
    relu_y = p if k["activation"] == "relu" else None
    dz = _C.max_pool2d_backward(_C.asarray(dp), idx, list(y.shape), k["pool_size"], k["pool_strides"],
                                k["pool_padding"], relu_y)
    grads = _C.conv2d_backward(dz, _C.asarray(x), _C.asarray(w), None, "none", k["strides"], k["padding"],
                               k["dilation"], need_dx, has_bias)
    return np.asarray(p), np.asarray(idx), [None if g is None else np.asarray(g) for g in grads]


def _fused(x, w, b, case, dp, need_dx, has_bias):
    k = _pair(case)
    p, idx = _C.conv2d_maxpool_forward(_C.asarray(x), _C.asarray(w), None if b is None else _C.asarray(b), **k)
    relu_y = p if k["activation"] == "relu" else None
    grads = _C.conv2d_maxpool_backward(_C.asarray(dp), idx, _C.asarray(x), _C.asarray(w), relu_y, k["strides"],
                                       k["padding"], k["dilation"], k["pool_size"], k["pool_strides"],
                                       k["pool_padding"], need_dx, has_bias)
    return np.asarray(p), np.asarray(idx), [None if g is None else np.asarray(g) for g in grads]


def _pooled_shape(x, w, case):
    k = _pair(case)
    y = _C.conv2d_forward(_C.asarray(x), _C.asarray(w), None, k["strides"], k["padding"], k["dilation"])
    return _C.max_pool2d_forward(y, k["pool_size"], k["pool_strides"], k["pool_padding"])[0].shape


def _cols_cropped(x, w, case):
    """The pair skips conv output columns that no 'valid' pooling window reads."""
    k = _pair(case)
    y = _C.conv2d_forward(_C.asarray(x), _C.asarray(w), None, k["strides"], k["padding"], k["dilation"])
    ps = k["pool_strides"] or k["pool_size"]
    Wo = y.shape[2]
    Wp = (Wo - k["pool_size"][1]) // ps[1] + 1
    return k["pool_padding"] == "valid" and (Wp - 1) * ps[1] + k["pool_size"][1] < Wo


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("need_dx", [False, True])
@pytest.mark.parametrize("has_bias", [True, False])
def test_pair_is_bitwise_the_separate_calls(rng, case, need_dx, has_bias):
    x, w, b = _inputs(rng, case, has_bias)
    dp = rand(rng, *_pooled_shape(x, w, case))
    sp, si, sg = _separate(x, w, b, case, dp, need_dx, has_bias)
    fp, fi, fg = _fused(x, w, b, case, dp, need_dx, has_bias)
    np.testing.assert_array_equal(fp, sp)
    np.testing.assert_array_equal(fi, si)
    for name, f, s in zip(("dX", "dW", "db"), fg, sg):
        if s is None:
            assert f is None
        elif name == "dX" and _cols_cropped(x, w, case):
            close(f, s, "conv")   # same terms, col2im adds them in another order (see conv.h)
        else:
            np.testing.assert_array_equal(f, s)


@pytest.mark.parametrize("case", [CASES[0], CASES[1], CASES[3], CASES[4], CASES[6], CASES[8], CASES[9]])
def test_pair_vs_float64_reference(rng, case):
    x, w, b = _inputs(rng, case)
    k = _pair(case)
    ps = k["pool_strides"] or k["pool_size"]
    p, idx = _C.conv2d_maxpool_forward(_C.asarray(x), _C.asarray(w), _C.asarray(b), **k)
    p, idx = np.asarray(p), np.asarray(idx)
    y64 = conv_ref(x, w, b, k["strides"], k["padding"], k["dilation"], k["activation"])
    pref, _ = pool_ref(y64, k["pool_size"], ps, k["pool_padding"], "max")
    close(p, pref, "conv")
    # backward: dZ = scatter of dP at the kernel's argmax, masked by relu' (pooled output > 0)
    dp = rand(rng, *p.shape)
    N, Ho, Wo, O = y64.shape
    dz = np.zeros((N, Ho * Wo, O))
    live = (p > 0) if k["activation"] == "relu" else np.ones(p.shape, bool)
    for n in range(N):
        for c in range(O):
            np.add.at(dz[n, :, c], idx[n, ..., c].ravel(), np.where(live[n, ..., c], dp[n, ..., c], 0.0).ravel())
    rdx, rdw, rdb = conv_grad_ref(x, w, dz.reshape(N, Ho, Wo, O), k["strides"], k["padding"], k["dilation"])
    dX, dW, db = _C.conv2d_maxpool_backward(_C.asarray(dp), _C.asarray(idx), _C.asarray(x), _C.asarray(w),
                                            _C.asarray(p) if k["activation"] == "relu" else None,
                                            k["strides"], k["padding"], k["dilation"], k["pool_size"],
                                            k["pool_strides"], k["pool_padding"])
    close(dX, rdx, "conv")
    close(dW, rdw, "conv")
    close(db, rdb, "conv")


def test_pair_thread_count_independent(rng):
    case = CASES[0]
    x, w, b = _inputs(rng, case)
    dp = rand(rng, *_pooled_shape(x, w, case))
    n0 = fusednet.get_num_threads()
    res = []
    try:
        for nt in (1, 2, 3, 5):
            fusednet.set_num_threads(nt)
            p, i, g = _fused(x, w, b, case, dp, False, True)
            res.append([p, i] + g[1:])
    finally:
        fusednet.set_num_threads(n0)
    for other in res[1:]:
        for a, c in zip(res[0], other):
            np.testing.assert_array_equal(a, c)


def test_pair_empty_batch(rng):
    x, w = np.zeros((0, 6, 6, 2), np.float32), rand(rng, 3, 3, 2, 4)
    p, idx = _C.conv2d_maxpool_forward(_C.asarray(x), _C.asarray(w))
    assert p.shape == (0, 2, 2, 4) and idx.shape == (0, 2, 2, 4)
    dX, dW, db = _C.conv2d_maxpool_backward(p, idx, _C.asarray(x), _C.asarray(w), p)
    assert dX.shape == x.shape and not np.asarray(dW).any() and not np.asarray(db).any()


def test_pair_errors(rng):
    x, w = rand(rng, 2, 8, 8, 3), rand(rng, 3, 3, 3, 4)
    xa, wa = _C.asarray(x), _C.asarray(w)
    with pytest.raises(ValueError, match=r"conv2d_maxpool_forward: activation must be 'none' or 'relu'"):
        _C.conv2d_maxpool_forward(xa, wa, activation="sigmoid")
    with pytest.raises(ValueError, match=r"conv2d_maxpool_forward.*channels mismatch"):
        _C.conv2d_maxpool_forward(xa, _C.asarray(rand(rng, 3, 3, 2, 4)))
    with pytest.raises(ValueError, match=r"conv2d_maxpool_forward.*pool.*larger than.*conv output \(2, 6, 6, 4\)"):
        _C.conv2d_maxpool_forward(xa, wa, pool_size=(7, 7))
    with pytest.raises(ValueError, match=r"conv2d_maxpool_forward.*pool_size"):
        _C.conv2d_maxpool_forward(xa, wa, pool_size=(0, 2))
    with pytest.raises(ValueError, match=r"conv2d_maxpool_forward.*bias"):
        _C.conv2d_maxpool_forward(xa, wa, _C.asarray(np.zeros(5, np.float32)))
    p, idx = _C.conv2d_maxpool_forward(xa, wa)
    with pytest.raises(ValueError, match=r"conv2d_maxpool_backward: dP must have shape"):
        _C.conv2d_maxpool_backward(_C.asarray(np.zeros((2, 2, 2, 4), np.float32)), idx, xa, wa, p)
    with pytest.raises(TypeError, match="conv2d_maxpool_backward"):
        _C.conv2d_maxpool_backward(p, p, xa, wa, p)             # argmax must be int32
    with pytest.raises(ValueError, match=r"conv2d_maxpool_backward: relu_y must have shape"):
        _C.conv2d_maxpool_backward(p, idx, xa, wa, _C.asarray(np.zeros((2, 3, 3, 5), np.float32)))
    for need_dx in (False, True):                               # pooled dW path and the fallback
        bad = np.asarray(idx).copy()
        bad.flat[5] = 36                                        # conv output is 6x6: 36 is outside
        with pytest.raises(ValueError, match=r"conv2d_maxpool_backward: argmax holds an index outside"):
            _C.conv2d_maxpool_backward(p, _C.asarray(bad), xa, wa, p, need_dX=need_dx)


def test_pair_backward_argmax_outside_the_cropped_block(rng):
    """An argmax inside the conv output but outside the block that 'valid' pooling reads (not made by
    the forward, but a valid position): the pair falls back to the uncropped path and scatters there,
    exactly like max_pool2d_backward."""
    case = CASES[8]                                    # conv output 10x11, pooled 5x5: column 10 unread
    x, w, b = _inputs(rng, case)
    k = _pair(case)
    p, idx = _C.conv2d_maxpool_forward(_C.asarray(x), _C.asarray(w), _C.asarray(b), **k)
    bad = np.asarray(idx).copy()
    bad[0, 0, 0, 0] = 0 * 11 + 10                      # (h=0, w=10) of the 10x11 output
    dp = rand(rng, *p.shape)
    y = _C.conv2d_forward(_C.asarray(x), _C.asarray(w), _C.asarray(b), activation="relu")
    dz = _C.max_pool2d_backward(_C.asarray(dp), _C.asarray(bad), list(y.shape), (2, 2), None, "valid", p)
    assert np.asarray(dz)[0, 0, 10, 0] == dp[0, 0, 0, 0] * (np.asarray(p)[0, 0, 0, 0] > 0)
    want = _C.conv2d_backward(dz, _C.asarray(x), _C.asarray(w), None, "none")
    got = _C.conv2d_maxpool_backward(_C.asarray(dp), _C.asarray(bad), _C.asarray(x), _C.asarray(w), p)
    for g, r in zip(got, want):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(r))
