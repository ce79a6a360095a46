"""Winograd F(4x4,3x3) inference convolution (csrc/cpu/winograd.cpp, trainers/winograd.py).

Checked: winograd_weights against G w Gᵀ in float64; conv2d_winograd_forward against the float64
NumPy conv (test_conv.conv_ref), against the direct conv2d_forward and against the tile-by-tile
double-precision reference hook, on sizes with 1, primes, maps that are not multiples of the 4x4
tile, channel counts that are not multiples of the 8 / 16 lanes, batch 1, 'same' / 'valid',
none / relu, with and without bias; bitwise independence of the thread count; every ISA path
(FUSEDNET_ISA subprocesses); bad input raising ValueError; and inference plans (a residual BN
model and ResNet50) giving the same predictions with Winograd on and off within TOL["winograd"],
with the Winograd steps actually taken.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import fusednet as fn
from fusednet import _C
from test_conv import conv_ref
from test_matmul import _cpu_isa_max
from tolerances import TOL

A = _C.asarray

# N, H, W, C, O, padding, act, bias
CASES = [
    (1, 1, 1, 1, 1, "same", "none", True),        # everything 1 (a 1x1 map in one partial tile)
    (2, 7, 5, 3, 5, "same", "relu", True),        # primes, partial tiles both ways
    (2, 13, 11, 17, 19, "valid", "relu", True),   # valid, C/O not lane multiples
    (1, 3, 3, 2, 3, "valid", "none", False),      # valid 3x3 -> 1x1, no bias
    (3, 9, 10, 64, 48, "same", "relu", True),     # 16-lane body + none, O = 48
    (1, 8, 8, 37, 71, "same", "none", True),      # exact 4x4 tiles, odd channel tails
    (2, 14, 14, 32, 40, "same", "relu", True),    # ResNet 14x14 tiling (4 tiles, last partial)
    (1, 29, 31, 16, 24, "same", "relu", True),    # several chunks of tiles, 8-lane tail of O
]


def _inputs(i, N, H, W, C, O):
    rng = np.random.default_rng(700 + i)
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    w = (rng.standard_normal((3, 3, C, O)) / np.sqrt(9 * C)).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32)
    return x, w, b


def _close(got, ref, key="winograd"):
    rtol, atol = TOL[key]
    scale = max(float(np.abs(ref).max()), 1e-30) if ref.size else 1.0
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol * scale)


def _u_ref(w):
    G = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])
    u = np.einsum("ri,ijco,sj->rsco", G, w.astype(np.float64), G)
    return u.reshape(36, w.shape[2], w.shape[3])


@pytest.mark.parametrize("C,O", [(1, 1), (3, 5), (17, 16), (64, 33)])
def test_weights_vs_float64(C, O):
    w = np.random.default_rng(C * 100 + O).standard_normal((3, 3, C, O)).astype(np.float32)
    u = np.asarray(_C.winograd_weights(A(w)))
    assert u.shape == (36, C, O)
    _close(u, _u_ref(w), "winograd_weights")


@pytest.mark.parametrize("i", range(len(CASES)))
def test_forward_vs_float64_direct_and_ref(i):
    N, H, W, C, O, pad, act, has_b = CASES[i]
    x, w, b = _inputs(i, N, H, W, C, O)
    bb = A(b) if has_b else None
    u = _C.winograd_weights(A(w))
    y = np.asarray(_C.conv2d_winograd_forward(A(x), u, bb, pad, act))
    ref = conv_ref(x, w, b if has_b else None, (1, 1), pad, (1, 1), act)
    assert y.shape == ref.shape
    _close(y, ref)
    direct = np.asarray(_C.conv2d_forward(A(x), A(w), bb, 1, pad, 1, act))
    _close(y, direct.astype(np.float64))
    # the same algorithm with double sums: only the transformed kernel's rounding remains
    yr = np.asarray(_C._winograd_forward_ref(A(x), u, bb, pad, act))
    _close(yr, ref, "conv")
    # out= is written completely (poisoned with NaN first)
    out = A(np.full(ref.shape, np.nan, np.float32))
    _C.conv2d_winograd_forward(A(x), u, bb, pad, act, out=out)
    np.testing.assert_array_equal(np.asarray(out), y)


def test_thread_count_independent_bitwise():
    x, w, b = _inputs(50, 3, 30, 27, 48, 64)
    u = _C.winograd_weights(A(w))
    n0 = _C.get_num_threads()
    outs = []
    try:
        for t in (1, 2, 3):
            _C.set_num_threads(t)
            outs.append((np.asarray(_C.conv2d_winograd_forward(A(x), u, A(b), "same", "relu")),
                         np.asarray(_C.winograd_weights(A(w)))))
    finally:
        _C.set_num_threads(n0)
    for y, uu in outs[1:]:
        np.testing.assert_array_equal(y, outs[0][0])
        np.testing.assert_array_equal(uu, outs[0][1])


def test_nan_spreads_to_its_tiles_only():
    """A NaN input poisons every output that reads it (as the direct conv) and may poison more of
    the 4x4 tiles whose 6x6 window holds it (the transforms mix the tile: a documented difference
    from the direct conv), nothing outside those tiles."""
    x, w, b = _inputs(51, 1, 12, 12, 16, 16)
    x[0, 3, 3, 5] = np.nan      # inside the windows of tile rows / columns 0 and 1 ('same': -1..4, 3..8)
    y = np.asarray(_C.conv2d_winograd_forward(A(x), _C.winograd_weights(A(w)), A(b), "same", "relu"))
    assert np.isnan(y[0, 2:5, 2:5, :]).all()
    assert np.isnan(y[0, :8, :8, :]).sum() > 9 * 16   # more than the direct conv's 3x3 neighbours
    assert np.isfinite(y[0, 8:, :, :]).all() and np.isfinite(y[0, :, 8:, :]).all()


def test_bad_input_raises():
    x = A(np.zeros((1, 5, 5, 4), np.float32))
    u = _C.winograd_weights(A(np.zeros((3, 3, 4, 6), np.float32)))
    with pytest.raises(ValueError, match="winograd_weights.*3, 3, Cin, Cout"):
        _C.winograd_weights(A(np.zeros((5, 5, 4, 6), np.float32)))
    with pytest.raises(ValueError, match=r"conv2d_winograd_forward.*\(36, 3, Cout\)"):
        _C.conv2d_winograd_forward(A(np.zeros((1, 5, 5, 3), np.float32)), u)
    with pytest.raises(ValueError, match="conv2d_winograd_forward.*x must be 4-D"):
        _C.conv2d_winograd_forward(A(np.zeros((5, 5, 4), np.float32)), u)
    with pytest.raises(ValueError, match="conv2d_winograd_forward.*bias must have shape"):
        _C.conv2d_winograd_forward(x, u, A(np.zeros(5, np.float32)))
    with pytest.raises(ValueError, match="conv2d_winograd_forward.*activation"):
        _C.conv2d_winograd_forward(x, u, None, "same", "tanh")
    with pytest.raises(ValueError, match="conv2d_winograd_forward.*padding"):
        _C.conv2d_winograd_forward(x, u, None, "full")
    with pytest.raises(ValueError, match="conv2d_winograd_forward"):   # valid 3x3 on a 2x2 map
        _C.conv2d_winograd_forward(A(np.zeros((1, 2, 2, 4), np.float32)), u, None, "valid")
    with pytest.raises((ValueError, TypeError), match="conv2d_winograd_forward"):
        _C.conv2d_winograd_forward(A(np.zeros((1, 5, 5, 4), np.int32)), u)
    with pytest.raises(ValueError, match="conv2d_winograd_forward.*out"):
        _C.conv2d_winograd_forward(x, u, None, "same", "none", out=A(np.zeros((1, 5, 5, 5), np.float32)))


_ISA_SCRIPT = r"""
import sys, numpy as np
sys.path.insert(0, {tests!r})
from fusednet import _C
import test_winograd as T
out = {{"isa": np.array(_C.cpu_isa())}}
for i, (N, H, W, C, O, pad, act, has_b) in enumerate(T.CASES):
    x, w, b = T._inputs(i, N, H, W, C, O)
    u = _C.winograd_weights(_C.asarray(w))
    out[f"u{{i}}"] = np.asarray(u)
    out[f"y{{i}}"] = np.asarray(_C.conv2d_winograd_forward(_C.asarray(x), u, _C.asarray(b) if has_b else None, pad, act))
np.savez({path!r}, **out)
"""


@pytest.mark.parametrize("isa,level", [("portable", 0), ("avx2", 1), ("avx512", 2)])
def test_every_isa_vs_float64(isa, level, tmp_path):
    if level > _cpu_isa_max():
        pytest.skip(f"this CPU has no {isa}")
    here = os.path.dirname(os.path.abspath(__file__))
    path = str(tmp_path / f"{isa}.npz")
    r = subprocess.run([sys.executable, "-c", _ISA_SCRIPT.format(tests=here, path=path)],
                       env=dict(os.environ, FUSEDNET_ISA=isa), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    res = dict(np.load(path))
    assert str(res["isa"]) == isa
    for i, (N, H, W, C, O, pad, act, has_b) in enumerate(CASES):
        x, w, b = _inputs(i, N, H, W, C, O)
        _close(res[f"u{i}"], _u_ref(w), "winograd_weights")
        _close(res[f"y{i}"], conv_ref(x, w, b if has_b else None, (1, 1), pad, (1, 1), act))


def _bn_residual_model(C=32):
    from fusednet import layers as L
    fn.random.seed(5)
    L.clear_session()
    x = L.Input((11, 13, C))
    h = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(C, 3, padding="same")(x)))
    h = L.BatchNormalization()(L.Conv2D(C, 3, padding="same", use_bias=False)(h))
    h = L.Activation("relu")(L.add([h, x]))
    h = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(C + 8, 3, padding="valid")(h)))
    out = L.Dense(3)(L.GlobalAveragePooling2D()(h))
    m = fn.Model(x, out)
    rng = np.random.default_rng(9)
    for l in m.layers:
        if type(l).__name__ == "BatchNormalization":
            g, be, mm, v = l.get_weights()
            l.set_weights([rng.uniform(.5, 1.5, g.shape), rng.normal(0, .1, be.shape),
                           rng.normal(0, .1, mm.shape), rng.uniform(.5, 2, v.shape)])
    return m


def _wino_steps(m):
    from fusednet.trainers import fusion as tf
    return [s.fwd.__self__ for s in m._infer_plan().steps
            if isinstance(getattr(s.fwd, "__self__", None), tf.FoldedConvStep)]


def test_inference_plan_uses_winograd_and_matches_direct():
    from fusednet.trainers import winograd
    m = _bn_residual_model()
    x = np.random.default_rng(2).standard_normal((3, 11, 13, 32)).astype(np.float32)
    y = m.predict(x, verbose=0)
    steps = _wino_steps(m)
    assert len(steps) == 3 and all(s.u is not None for s in steps)
    with winograd.disabled():
        ref = m.predict(x, verbose=0)
    assert not np.array_equal(y, ref)   # the Winograd path really ran
    _close(y, ref.astype(np.float64))
    winograd.set_enabled(False)
    try:
        m.predict(x, verbose=0)
        assert all(s.u is None for s in _wino_steps(m))   # refolded without transforming
    finally:
        winograd.set_enabled(True)


def test_small_channels_stay_direct():
    m = _bn_residual_model(C=8)
    m.predict(np.zeros((1, 11, 13, 8), np.float32), verbose=0)
    assert all(s.u is None for s in _wino_steps(m))


def test_resnet50_predict_winograd_vs_direct():
    from fusednet.trainers import winograd
    fn.random.seed(0)
    m = fn.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10, classifier_activation=None)
    x = np.random.default_rng(3).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    y = m.predict(x, verbose=0)
    assert sum(s.u is not None for s in _wino_steps(m)) == 16   # every bottleneck's 3x3 conv
    with winograd.disabled():
        ref = m.predict(x, verbose=0)
    _close(y, ref.astype(np.float64))


@pytest.mark.cuda
def test_cuda_vs_cpu():
    rt, at = TOL["cuda_vs_cpu"]
    for i, (N, H, W, C, O, pad, act, has_b) in enumerate(CASES):
        x, w, b = _inputs(i, N, H, W, C, O)
        u = _C.winograd_weights(A(w))
        ud = _C.winograd_weights(A(w).to("cuda"))
        np.testing.assert_allclose(np.asarray(ud.to("cpu")), np.asarray(u), rtol=rt, atol=at)
        bd = A(b).to("cuda") if has_b else None
        yd = _C.conv2d_winograd_forward(A(x).to("cuda"), ud, bd, pad, act)
        y = _C.conv2d_winograd_forward(A(x), u, A(b) if has_b else None, pad, act)
        np.testing.assert_allclose(np.asarray(yd.to("cpu")), np.asarray(y), rtol=rt,
                                   atol=at * max(1.0, float(np.abs(np.asarray(y)).max())))


def test_fingerprint_sees_every_change_and_ignores_threads():
    rng = np.random.default_rng(11)
    a = rng.standard_normal(3 * (1 << 18) + 5).astype(np.float32)   # 3 MiB + a tail: 4 blocks
    base = _C.weights_fingerprint([A(a), None])
    n0 = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        assert _C.weights_fingerprint([A(a), None]) == base
    finally:
        _C.set_num_threads(n0)
    for pos in (0, 7, (1 << 18) + 3, a.size - 1):      # first, inside, second block, the tail
        b = a.copy()
        b.view(np.uint32)[pos] ^= 1                      # one bit
        assert _C.weights_fingerprint([A(b), None]) != base
    assert _C.weights_fingerprint([None, A(a)]) != base                   # order / None matter
    assert _C.weights_fingerprint([A(a.reshape(1, -1)), None]) != base    # so does the shape
    assert _C.weights_fingerprint([A(a[:0])]) != _C.weights_fingerprint([None])


def test_fold_cache_follows_in_place_writes():
    """predict skips refolding unchanged weights (fingerprint), but a write through a NumPy view
    of a kernel (no version bump) is still seen."""
    from fusednet.trainers import fusion as tf
    m = _bn_residual_model()
    x = np.random.default_rng(4).standard_normal((2, 11, 13, 32)).astype(np.float32)
    y0 = m.predict(x, verbose=0)
    s0 = _wino_steps(m)[0]
    w_before, u_before = s0.w, s0.u
    m.predict(x, verbose=0)
    assert s0.w is w_before and s0.u is u_before          # unchanged weights: nothing rebuilt
    conv = s0.conv
    k = np.asarray(conv.kernel.data)
    k *= 0.5                                              # in place, through the buffer
    y1 = m.predict(x, verbose=0)
    assert s0.u is not u_before and not np.allclose(y0, y1)
    with tf.disabled():
        ref = m.predict(x, verbose=0)
    _close(y1, ref.astype(np.float64))
