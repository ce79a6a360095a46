"""Image kernels (csrc/cpu/image.cpp): pad2d / crop2d and their backward, Philox per-image flips,
affine_transform against a float64 NumPy reference (every fill mode, both interpolations, odd
sizes, C = 1 and 3), random_crop; determinism (same seed, 1 vs 2 threads) and error messages."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import _C
from tolerances import TOL


def A(x):
    return _C.asarray(np.ascontiguousarray(x, dtype=np.float32))


def N(a):
    return np.asarray(a)


def with_threads(n, f):
    old = fn.get_num_threads()
    try:
        fn.set_num_threads(n)
        return f()
    finally:
        fn.set_num_threads(old)


# ----------------------------------------------------------------------------- references
def map_index(i, L, mode):
    """Integer index mapping of the fill modes (docs in csrc/cpu/image.h); -1 = fill value."""
    if mode == "constant":
        return np.where((i >= 0) & (i < L), i, -1)
    if mode == "nearest":
        return np.clip(i, 0, L - 1)
    if mode == "wrap":
        return np.mod(i, L)
    if L == 1:
        return np.zeros_like(i)
    r = np.mod(i, 2 * L)
    return np.where(r >= L, 2 * L - 1 - r, r)


def ref_affine(x, params, interpolation, fill_mode, fill_value):
    x = x.astype(np.float64)
    n_img, H, W, C = x.shape
    params = np.asarray(params, np.float32).astype(np.float64).reshape(-1, 8)
    out = np.empty_like(x)
    yo, xo = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    for n in range(n_img):
        a0, a1, a2, b0, b1, b2, c0, c1 = params[0 if len(params) == 1 else n]
        k = c0 * xo + c1 * yo + 1.0
        xs = (a0 * xo + a1 * yo + a2) / k
        ys = (b0 * xo + b1 * yo + b2) / k

        def gather(iy, ix):
            iy, ix = map_index(iy, H, fill_mode), map_index(ix, W, fill_mode)
            bad = (iy < 0) | (ix < 0)
            v = x[n][np.where(bad, 0, iy), np.where(bad, 0, ix)]
            v[bad] = fill_value
            return v

        if interpolation == "nearest":
            out[n] = gather(np.floor(ys + 0.5).astype(np.int64), np.floor(xs + 0.5).astype(np.int64))
            continue
        x0, y0 = np.floor(xs), np.floor(ys)
        wx, wy = (xs - x0)[..., None], (ys - y0)[..., None]
        x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
        out[n] = ((1 - wy) * (1 - wx) * gather(y0, x0) + (1 - wy) * wx * gather(y0, x0 + 1)
                  + wy * (1 - wx) * gather(y0 + 1, x0) + wy * wx * gather(y0 + 1, x0 + 1))
    return out


def random_params(rng, n, H, W, projective=False):
    """Rotation about the centre + zoom + translation (+ a small projective term): samples land
    inside and outside the image, so every fill mode is exercised."""
    th = rng.uniform(-0.6, 0.6, n)
    z = rng.uniform(0.7, 1.4, n)
    tx, ty = rng.uniform(-3, 3, n), rng.uniform(-3, 3, n)
    c, s = np.cos(th) * z, np.sin(th) * z
    cx, cy = (W - 1) / 2, (H - 1) / 2
    p = np.stack([c, -s, cx - c * cx + s * cy + tx, s, c, cy - s * cx - c * cy + ty,
                  np.zeros(n), np.zeros(n)], 1)
    if projective:
        p[:, 6:] = rng.uniform(-0.02, 0.02, (n, 2))
    return p.astype(np.float32)


# ----------------------------------------------------------------------------- pad / crop
@pytest.mark.parametrize("pads", [(1, 1, 1, 1), (2, 0, 0, 3), (0, 0, 0, 0)])
@pytest.mark.parametrize("C", [1, 3])
def test_pad2d_matches_numpy(rng, pads, C):
    t, b, l, r = pads
    x = rng.standard_normal((2, 5, 7, C)).astype(np.float32)
    y = N(_C.pad2d(A(x), t, b, l, r))
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0), (t, b), (l, r), (0, 0))))
    y = N(_C.pad2d(A(x), t, b, l, r, value=-2.5))
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=-2.5))


def test_pad2d_backward_is_adjoint_and_matches_finite_differences(rng):
    t, b, l, r = 1, 2, 3, 0
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    G = rng.standard_normal((2, 7, 8, 3)).astype(np.float32)
    dx = N(_C.pad2d_backward(A(G), t, b, l, r))
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dx, G[:, t:t + 4, l:l + 5, :])

    def loss(xx):
        return float(np.sum(N(_C.pad2d(A(xx), t, b, l, r)).astype(np.float64) * G))
    # pad is linear, so central differences are exact up to float32 rounding of x +- eps; a step
    # of 0.25 keeps that rounding far below the gradcheck tolerance (1e-6 would not, in float32).
    eps = 0.25
    num = np.zeros(x.size)
    for i in rng.choice(x.size, 12, replace=False):
        e = np.zeros(x.size, np.float32)
        e[i] = eps
        e = e.reshape(x.shape)
        num[i] = (loss(x + e) - loss(x - e)) / (2 * eps)
        rt, at = TOL["gradcheck"]
        np.testing.assert_allclose(num[i], dx.reshape(-1)[i], rtol=rt, atol=at * np.abs(dx).max())
    # adjointness <pad(x), G> == <x, pad_backward(G)>
    lhs = np.sum(N(_C.pad2d(A(x), t, b, l, r)).astype(np.float64) * G)
    rhs = np.sum(x.astype(np.float64) * dx)
    np.testing.assert_allclose(lhs, rhs, *TOL["reduce"])


def test_crop2d_and_backward(rng):
    x = rng.standard_normal((3, 9, 8, 2)).astype(np.float32)
    y = N(_C.crop2d(A(x), 1, 2, 3, 0))
    np.testing.assert_array_equal(y, x[:, 1:7, 3:8, :])
    d = N(_C.crop2d_backward(A(y), 1, 2, 3, 0))
    ref = np.zeros_like(x)
    ref[:, 1:7, 3:8, :] = y
    np.testing.assert_array_equal(d, ref)


# ----------------------------------------------------------------------------- flips
@pytest.mark.parametrize("h,v", [(True, False), (False, True), (True, True), (False, False)])
def test_flip_images_follow_philox_lanes(rng, h, v):
    x = rng.standard_normal((16, 5, 7, 3)).astype(np.float32)
    seed, off = 77, 5
    y = N(_C.flip_images(A(x), h, v, seed, off))
    u = N(_C.random_uniform([16, 4], seed, off))
    ref = x.copy()
    for n in range(16):
        if h and u[n, 0] < 0.5:
            ref[n] = ref[n, :, ::-1]
        if v and u[n, 1] < 0.5:
            ref[n] = ref[n, ::-1]
    np.testing.assert_array_equal(y, ref)
    if h:   # a fair coin: some images flipped and some not, in 16 draws (holds for this seed)
        assert 0 < np.sum(u[:, 0] < 0.5) < 16


def test_flip_deterministic_and_thread_independent(rng):
    x = rng.standard_normal((8, 33, 31, 16)).astype(np.float32)   # above the parallel threshold
    f = lambda: N(_C.flip_images(A(x), True, True, 3, 9))         # noqa: E731
    a, b = with_threads(1, f), with_threads(2, f)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, f())
    assert not np.array_equal(a, N(_C.flip_images(A(x), True, True, 4, 9)))


# ----------------------------------------------------------------------------- affine
@pytest.mark.parametrize("fill_mode", ["constant", "reflect", "wrap", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("shape", [(3, 7, 9, 1), (2, 5, 5, 3), (2, 1, 6, 3)])
def test_affine_transform_matches_reference(rng, fill_mode, interpolation, shape):
    n, H, W, C = shape
    x = rng.standard_normal(shape).astype(np.float32)
    p = random_params(rng, n, H, W, projective=(C == 3))
    y = N(_C.affine_transform(A(x), A(p), interpolation, fill_mode, 0.7))
    ref = ref_affine(x, p, interpolation, fill_mode, 0.7)
    np.testing.assert_allclose(y, ref, *TOL["conv"])


def test_affine_shared_params_identity_and_integer_shift(rng):
    x = rng.standard_normal((3, 6, 5, 2)).astype(np.float32)
    eye = np.array([1, 0, 0, 0, 1, 0, 0, 0], np.float32)
    np.testing.assert_array_equal(N(_C.affine_transform(A(x), A(eye))), x)
    np.testing.assert_array_equal(N(_C.affine_transform(A(x), A(eye[None]), "nearest")), x)
    shift = np.array([1, 0, -1, 0, 1, 2, 0, 0], np.float32)   # out(x, y) = in(x - 1, y + 2)
    y = N(_C.affine_transform(A(x), A(shift), "bilinear", "constant", 0.0))
    ref = np.zeros_like(x)
    ref[:, :4, 1:] = x[:, 2:, :4]
    np.testing.assert_array_equal(y, ref)


def test_affine_degenerate_projection_gives_fill_value(rng):
    x = rng.standard_normal((1, 4, 4, 2)).astype(np.float32)
    p = np.array([1, 0, 0, 0, 1, 0, -1, 0], np.float32)      # k = 1 - x = 0 on column 1
    y = N(_C.affine_transform(A(x), A(p), "bilinear", "reflect", 3.0))
    np.testing.assert_array_equal(y[0, :, 1], 3.0)
    assert np.isfinite(y).all()
    big = np.array([1e30, 0, 0, 0, 1, 1e30, 0, 0], np.float32)
    for m in ("constant", "reflect", "wrap", "nearest"):
        assert np.isfinite(N(_C.affine_transform(A(x), A(big), "bilinear", m))).all()


def test_affine_thread_independent(rng):
    x = rng.standard_normal((4, 37, 29, 8)).astype(np.float32)
    p = random_params(rng, 4, 37, 29, projective=True)
    f = lambda: N(_C.affine_transform(A(x), A(p), "bilinear", "reflect"))  # noqa: E731
    np.testing.assert_array_equal(with_threads(1, f), with_threads(2, f))


# ----------------------------------------------------------------------------- random crop
def test_random_crop_offsets_and_center_crop(rng):
    x = rng.standard_normal((10, 9, 11, 3)).astype(np.float32)
    y = N(_C.random_crop(A(x), 5, 4, 21, 2))
    u = N(_C.random_uniform([10, 4], 21, 2)).astype(np.float64)
    oh, ow = np.floor(u[:, 0] * 5).astype(int), np.floor(u[:, 1] * 8).astype(int)
    for n in range(10):
        np.testing.assert_array_equal(y[n], x[n, oh[n]:oh[n] + 5, ow[n]:ow[n] + 4])
    assert len(set(zip(oh, ow))) > 1
    c = N(_C.random_crop(A(x), 5, 4, 21, 2, training=False))
    np.testing.assert_array_equal(c, x[:, 2:7, 3:7])
    np.testing.assert_array_equal(N(_C.random_crop(A(x), 9, 11, 1, 0)), x)


def test_random_crop_thread_independent(rng):
    x = rng.standard_normal((16, 40, 40, 8)).astype(np.float32)
    f = lambda: N(_C.random_crop(A(x), 32, 30, 8, 1))  # noqa: E731
    np.testing.assert_array_equal(with_threads(1, f), with_threads(2, f))


# ----------------------------------------------------------------------------- errors
def test_errors():
    x4 = A(np.zeros((2, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"pad2d: x must be 4-D .* \(4, 4\)"):
        _C.pad2d(A(np.zeros((4, 4))), 1, 1, 1, 1)
    with pytest.raises(ValueError, match="pad2d: padding amounts must be >= 0"):
        _C.pad2d(x4, -1, 0, 0, 0)
    with pytest.raises(ValueError, match="crop2d: cropping .* larger than the input"):
        _C.crop2d(x4, 3, 2, 0, 0)
    with pytest.raises(ValueError, match="random_crop: crop size \\(5, 2\\) is larger than the input"):
        _C.random_crop(x4, 5, 2, 0)
    with pytest.raises(ValueError, match="affine_transform: transforms must be"):
        _C.affine_transform(x4, A(np.zeros((3, 8))))
    with pytest.raises(ValueError, match="fill_mode must be one of"):
        _C.affine_transform(x4, A(np.zeros(8)), "bilinear", "mirror")
    with pytest.raises(ValueError, match="interpolation must be"):
        _C.affine_transform(x4, A(np.zeros(8)), "bicubic")
    with pytest.raises(TypeError, match="flip_images"):
        _C.flip_images(_C.asarray(np.zeros((1, 2, 2, 1), np.int32)))
