"""Pooling kernels (NHWC): max / average / global, forward and backward, vs float64 NumPy loops,
finite differences and PyTorch CPU; tie-breaking, Keras 'same' averaging, errors."""
import numpy as np
import pytest

from fusednet import _C
from conftest import requires_torch
from tolerances import TOL
from test_conv import close, fd_close, out_and_pad


def windows(H, W, p, s, padding):
    Ho, pt, _ = out_and_pad(H, p[0], s[0], 1, padding)
    Wo, pl, _ = out_and_pad(W, p[1], s[1], 1, padding)
    for oh in range(Ho):
        for ow in range(Wo):
            h0, w0 = oh * s[0] - pt, ow * s[1] - pl
            yield oh, ow, range(max(h0, 0), min(h0 + p[0], H)), range(max(w0, 0), min(w0 + p[1], W))


def pool_ref(x, p, s, padding, kind):
    N, H, W, C = x.shape
    Ho, _, _ = out_and_pad(H, p[0], s[0], 1, padding)
    Wo, _, _ = out_and_pad(W, p[1], s[1], 1, padding)
    y = np.zeros((N, Ho, Wo, C))
    idx = np.zeros((N, Ho, Wo, C), np.int64)
    x64 = x.astype(np.float64)
    for oh, ow, hr, wr in windows(H, W, p, s, padding):
        win = x64[:, hr.start:hr.stop, wr.start:wr.stop, :].reshape(N, -1, C)
        if kind == "max":
            k = win.argmax(axis=1)  # first occurrence on ties
            y[:, oh, ow] = win.max(axis=1)
            wl = wr.stop - wr.start
            idx[:, oh, ow] = (hr.start + k // wl) * W + wr.start + k % wl
        else:
            y[:, oh, ow] = win.mean(axis=1)
    return y, idx


def avg_bwd_ref(dy, xshape, p, s, padding):
    N, H, W, C = xshape
    dx = np.zeros(xshape)
    for oh, ow, hr, wr in windows(H, W, p, s, padding):
        cnt = len(hr) * len(wr)
        dx[:, hr.start:hr.stop, wr.start:wr.stop, :] += dy[:, oh, ow][:, None, None, :] / cnt
    return dx


CASES = [
    # N, H, W, C, pool, strides, padding
    (2, 8, 8, 3, (2, 2), None, "valid"),
    (1, 7, 9, 1, (2, 2), None, "valid"),       # odd sizes: last row/col dropped
    (2, 7, 9, 4, (2, 2), None, "same"),        # odd sizes: partial windows at the end
    (3, 11, 13, 5, (3, 3), (2, 2), "same"),    # overlapping windows
    (2, 10, 9, 3, (3, 2), (1, 1), "valid"),
    (1, 6, 6, 2, (3, 3), (3, 1), "same"),
    (2, 26, 26, 32, (2, 2), None, "valid"),    # seed CNN pool1
    (2, 11, 11, 40, (2, 2), None, "valid"),    # seed CNN pool2 shape, channel tail (vector + 8)
]


def st(case):
    return case[5] if case[5] is not None else case[4]


@pytest.mark.parametrize("case", CASES)
def test_max_pool(rng, case):
    N, H, W, C, p, s, pad = case
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    y, idx = _C.max_pool2d_forward(_C.asarray(x), p, s, pad)
    ry, ridx = pool_ref(x, p, st(case), pad, "max")
    np.testing.assert_array_equal(np.asarray(y), ry.astype(np.float32))
    assert idx.dtype == "int32"
    np.testing.assert_array_equal(np.asarray(idx), ridx)
    dy = rng.standard_normal(ry.shape).astype(np.float32)
    dx = np.asarray(_C.max_pool2d_backward(_C.asarray(dy), idx, x.shape, p, s, pad))
    ref = np.zeros((N, H * W, C))
    for n in range(N):
        for c in range(C):
            np.add.at(ref[n, :, c], ridx[n, ..., c].ravel(), dy[n, ..., c].ravel())
    close(dx, ref.reshape(x.shape), "conv")


@pytest.mark.parametrize("case", CASES)
def test_avg_pool(rng, case):
    N, H, W, C, p, s, pad = case
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    y = np.asarray(_C.avg_pool2d_forward(_C.asarray(x), p, s, pad))
    ry, _ = pool_ref(x, p, st(case), pad, "avg")
    close(y, ry, "conv")
    dy = rng.standard_normal(ry.shape).astype(np.float32)
    dx = np.asarray(_C.avg_pool2d_backward(_C.asarray(dy), x.shape, p, s, pad))
    close(dx, avg_bwd_ref(dy.astype(np.float64), x.shape, p, st(case), pad), "conv")


def test_avg_pool_fd(rng):
    x = rng.standard_normal((1, 5, 4, 2))
    p, s, pad = (2, 3), (2, 2), "same"
    R = rng.standard_normal(pool_ref(x, p, s, pad, "avg")[0].shape)
    dx = np.asarray(_C.avg_pool2d_backward(_C.asarray(R.astype(np.float32)), x.shape, p, s, pad))
    eps, fd = TOL["fd_eps"], np.zeros_like(x)
    for k in range(x.size):
        xp, xm = x.copy().reshape(-1), x.copy().reshape(-1)
        xp[k] += eps
        xm[k] -= eps
        fd.reshape(-1)[k] = ((pool_ref(xp.reshape(x.shape), p, s, pad, "avg")[0] * R).sum()
                             - (pool_ref(xm.reshape(x.shape), p, s, pad, "avg")[0] * R).sum()) / (2 * eps)
    fd_close(dx, fd)


def test_max_pool_ties_first_index():
    x = np.ones((1, 4, 4, 2), np.float32)
    y, idx = _C.max_pool2d_forward(_C.asarray(x), 2, None, "valid")
    np.testing.assert_array_equal(np.asarray(idx)[0, :, :, 0], [[0, 2], [8, 10]])
    dx = np.asarray(_C.max_pool2d_backward(_C.asarray(np.ones((1, 2, 2, 2), np.float32)), idx, x.shape, 2))
    assert dx.sum() == 8 and dx[0, 0, 0, 0] == 1 and dx[0, 1, 1, 0] == 0


def test_max_pool_nan_propagates():
    x = np.zeros((1, 2, 2, 1), np.float32)
    x[0, 1, 0, 0] = np.nan
    y, idx = _C.max_pool2d_forward(_C.asarray(x), 2)
    assert np.isnan(np.asarray(y)).all() and np.asarray(idx).item() == 2


@requires_torch
@pytest.mark.parametrize("case", [c for c in CASES if c[6] == "valid"])
def test_vs_torch(rng, case):
    import torch
    import torch.nn.functional as F
    N, H, W, C, p, s, pad = case
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    for kind in ("max", "avg"):
        xt = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_(True)
        fn = F.max_pool2d if kind == "max" else F.avg_pool2d
        yt = fn(xt, p, st(case)).permute(0, 2, 3, 1)
        dy = rng.standard_normal(yt.shape).astype(np.float32)
        yt.backward(torch.tensor(dy))
        if kind == "max":
            y, idx = _C.max_pool2d_forward(_C.asarray(x), p, s, pad)
            dx = _C.max_pool2d_backward(_C.asarray(dy), idx, x.shape, p, s, pad)
        else:
            y = _C.avg_pool2d_forward(_C.asarray(x), p, s, pad)
            dx = _C.avg_pool2d_backward(_C.asarray(dy), x.shape, p, s, pad)
        close(y, yt.detach().numpy(), "torch")
        close(dx, xt.grad.permute(0, 2, 3, 1).numpy(), "torch")


@pytest.mark.parametrize("shape", [(2, 5, 7, 3), (1, 1, 1, 1), (3, 13, 11, 33)])
def test_global_pools(rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    N, H, W, C = shape
    y = np.asarray(_C.global_avg_pool_forward(_C.asarray(x)))
    close(y, x.astype(np.float64).mean(axis=(1, 2)), "reduce")
    dy = rng.standard_normal((N, C)).astype(np.float32)
    dx = np.asarray(_C.global_avg_pool_backward(_C.asarray(dy), shape))
    close(dx, np.broadcast_to(dy[:, None, None, :] / (H * W), shape), "reduce")
    ym, idx = _C.global_max_pool_forward(_C.asarray(x))
    flat = x.reshape(N, H * W, C)
    np.testing.assert_array_equal(np.asarray(ym), flat.max(axis=1))
    np.testing.assert_array_equal(np.asarray(idx), flat.argmax(axis=1))
    dxm = np.asarray(_C.global_max_pool_backward(_C.asarray(dy), idx, shape)).reshape(N, H * W, C)
    ref = np.zeros_like(flat)
    for n in range(N):
        ref[n, flat[n].argmax(axis=0), np.arange(C)] = dy[n]
    np.testing.assert_array_equal(dxm, ref)


def test_max_pool_backward_foreign_index(rng):
    """An in-range argmax that is not in its own window (not made by the forward) still adds
    the gradient where it points (the vectorised tiled path falls back to the scatter)."""
    x = rng.standard_normal((1, 4, 4, 17)).astype(np.float32)
    y, idx = _C.max_pool2d_forward(_C.asarray(x), 2)
    bad = np.asarray(idx).copy()
    bad[0, 0, 0, 16] = 15   # window (0,0) pointing at pixel (3,3)
    dy = rng.standard_normal(np.asarray(y).shape).astype(np.float32)
    dx = np.asarray(_C.max_pool2d_backward(_C.asarray(dy), _C.asarray(bad), x.shape, 2))
    ref = np.zeros((16, 17))
    for c in range(17):
        np.add.at(ref[:, c], bad[0, ..., c].ravel(), dy[0, ..., c].ravel())
    np.testing.assert_array_equal(dx.reshape(16, 17), ref.astype(np.float32))


def test_errors(rng):
    x = _C.asarray(np.zeros((2, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match="max_pool2d_forward: pool_size"):
        _C.max_pool2d_forward(x, (0, 2))
    with pytest.raises(ValueError, match="avg_pool2d_forward: strides"):
        _C.avg_pool2d_forward(x, 2, (2, 0))
    with pytest.raises(ValueError, match="padding"):
        _C.max_pool2d_forward(x, 2, None, "causal")
    with pytest.raises(ValueError, match="larger than the input"):
        _C.max_pool2d_forward(x, 6)
    with pytest.raises(ValueError, match="4-D"):
        _C.avg_pool2d_forward(_C.asarray(np.zeros((5, 5, 3), np.float32)), 2)
    with pytest.raises(ValueError, match="4-D"):
        _C.global_avg_pool_forward(_C.asarray(np.zeros((5, 5, 3), np.float32)))
    y, idx = _C.max_pool2d_forward(x, 2)
    bad = np.asarray(idx).copy()
    bad[0, 0, 0, 0] = 25
    with pytest.raises(ValueError, match="outside"):
        _C.max_pool2d_backward(y, _C.asarray(bad), (2, 5, 5, 3), 2)
    with pytest.raises(ValueError, match="dY must have shape"):
        _C.max_pool2d_backward(y, idx, (2, 7, 7, 3), 2)
    with pytest.raises(TypeError):
        _C.max_pool2d_backward(y, y, (2, 5, 5, 3), 2)
    gy, gidx = _C.global_max_pool_forward(x)
    bad = np.asarray(gidx).copy()
    bad[1, 2] = -1
    with pytest.raises(ValueError, match="outside"):
        _C.global_max_pool_backward(gy, _C.asarray(bad), (2, 5, 5, 3))
