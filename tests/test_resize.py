"""_C.resize_images (csrc/cpu/resize.cpp) and layers.Resizing: nearest / bilinear with half-pixel
centres (and torch's bicubic) vs a float64 NumPy reference and torch.nn.functional.interpolate (align_corners=False,
antialias=False), sizes 1, primes, up and down, uint8 input, crop_to_aspect_ratio, errors."""
import os

import numpy as np
import pytest

import fusednet
from fusednet import _C
from tolerances import TOL

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # pragma: no cover
    torch = None


def _taps(n_in, n_out, mode):
    s = n_in / n_out
    o = np.arange(n_out, dtype=np.float64)
    if mode == "nearest":
        i = np.minimum(np.floor((o + 0.5) * s), n_in - 1).astype(np.int64)
        return i, i, np.zeros(n_out)
    u = np.maximum((o + 0.5) * s - 0.5, 0.0)
    i0 = np.minimum(np.floor(u), n_in - 1).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, u - i0


def _cubic_matrix(n_in, n_out, A=-0.75):
    """[n_out, n_in] float64 interpolation matrix of torch's bicubic (clamped border taps)."""
    s = n_in / n_out
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        u = (o + 0.5) * s - 0.5
        i0 = int(np.floor(u))
        t = u - i0
        def k(d):
            d = abs(d)
            return ((A + 2) * d - (A + 3)) * d * d + 1 if d <= 1 else ((A * d - 5 * A) * d + 8 * A) * d - 4 * A
        for j, d in zip(range(i0 - 1, i0 + 3), (t + 1, t, 1 - t, 2 - t)):
            m[o, min(max(j, 0), n_in - 1)] += k(d)
    return m


def ref_resize(x, h, w, mode, box=None):
    """float64 reference: x [N, H, W, C] -> [N, h, w, C] (box = (top, left, ch, cw) window)."""
    x = np.asarray(x, np.float64)
    if box is not None:
        t, l, ch, cw = box
        x = x[:, t:t + ch, l:l + cw]
    if mode == "bicubic":
        return np.einsum("ai,bj,nijc->nabc", _cubic_matrix(x.shape[1], h), _cubic_matrix(x.shape[2], w), x)
    r0, r1, ly = _taps(x.shape[1], h, mode)
    c0, c1, lx = _taps(x.shape[2], w, mode)
    ly, lx = ly[None, :, None, None], lx[None, None, :, None]
    a, b = x[:, r0][:, :, c0], x[:, r0][:, :, c1]
    c, d = x[:, r1][:, :, c0], x[:, r1][:, :, c1]
    return (1 - ly) * ((1 - lx) * a + lx * b) + ly * ((1 - lx) * c + lx * d)


SIZES = [((1, 1), (1, 1)), ((1, 1), (5, 3)), ((7, 5), (1, 1)), ((13, 17), (7, 5)), ((5, 7), (13, 31)),
         ((31, 29), (31, 29)), ((64, 48), (23, 97)), ((2, 3), (3, 2))]


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("src,dst", SIZES)
def test_float_vs_numpy_reference(mode, src, dst):
    rng = np.random.default_rng(hash((mode, src, dst)) % 2 ** 32)
    for c in (1, 3, 5):
        x = rng.uniform(-3, 3, (2, *src, c)).astype(np.float32) * (85 if mode == "bicubic" else 1)
        y = np.asarray(_C.resize_images(_C.asarray(x), dst[0], dst[1], mode))
        assert y.shape == (2, *dst, c) and y.dtype == np.float32
        np.testing.assert_allclose(y, ref_resize(x, *dst, mode), *TOL["pointwise" if mode != "bicubic" else "resample"])


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
@pytest.mark.parametrize("src,dst", SIZES)
@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_vs_torch_interpolate(mode, src, dst):
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 255, (3, *src, 4)).astype(np.float32)
    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    if mode in ("bilinear", "bicubic"):
        r = TF.interpolate(t, size=dst, mode=mode, align_corners=False, antialias=False)
    else:
        r = TF.interpolate(t, size=dst, mode="nearest-exact")
    r = r.permute(0, 2, 3, 1).numpy()
    y = np.asarray(_C.resize_images(_C.asarray(x), dst[0], dst[1], mode))
    if mode == "nearest":
        np.testing.assert_array_equal(y, r)
    else:
        np.testing.assert_allclose(y, r, *TOL["resample"])


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_uint8_input_matches_float_input(mode):
    rng = np.random.default_rng(3)
    x8 = rng.integers(0, 256, (11, 19, 3), dtype=np.uint8)
    y8 = np.asarray(_C.resize_images(x8, 7, 23, mode))
    yf = np.asarray(_C.resize_images(_C.asarray(x8[None].astype(np.float32)), 7, 23, mode))[0]
    assert y8.shape == (7, 23, 3) and y8.dtype == np.float32
    np.testing.assert_array_equal(y8, yf)
    yb = np.asarray(_C.resize_images(np.stack([x8, x8[::-1].copy()]), 7, 23, mode))
    np.testing.assert_array_equal(yb[0], yf)
    np.testing.assert_array_equal(yb[1], np.asarray(_C.resize_images(x8[::-1].copy(), 7, 23, mode)))


def test_same_size_bilinear_is_exact_copy():
    x = np.random.default_rng(0).uniform(0, 255, (2, 9, 13, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(_C.resize_images(_C.asarray(x), 9, 13)), x)


def _keras_crop(H, W, h, w):
    ch = max(min(H, int(float(W * h) / w)), 1)
    cw = max(min(W, int(float(H * w) / h)), 1)
    return int(float(H - ch) / 2), int(float(W - cw) / 2), ch, cw


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("src,dst", [((30, 50), (16, 16)), ((50, 30), (10, 20)), ((7, 7), (3, 11)), ((1, 9), (2, 2))])
def test_crop_to_aspect_ratio(mode, src, dst):
    x = np.random.default_rng(1).uniform(0, 1, (2, *src, 2)).astype(np.float32)
    y = np.asarray(_C.resize_images(_C.asarray(x), dst[0], dst[1], mode, True))
    np.testing.assert_allclose(y, ref_resize(x, *dst, mode, _keras_crop(*src, *dst)), *TOL["resample"])


def test_crop_to_aspect_ratio_matches_keras_ops_resize():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("needs KERAS_BACKEND=torch")
    x = np.random.default_rng(2).uniform(0, 255, (2, 30, 47, 3)).astype(np.float32)
    for mode in ("bilinear", "nearest", "bicubic"):
        for crop in (False, True):
            r = np.asarray(keras.ops.image.resize(x, (17, 13), interpolation=mode, crop_to_aspect_ratio=crop))
            y = np.asarray(_C.resize_images(_C.asarray(x), 17, 13, mode, crop))
            np.testing.assert_allclose(y, r, *TOL["resample"])


def test_thread_count_independent():
    x = np.random.default_rng(5).uniform(0, 1, (4, 67, 71, 8)).astype(np.float32)
    old = fusednet.get_num_threads()
    try:
        fusednet.set_num_threads(1)
        a = np.asarray(_C.resize_images(_C.asarray(x), 131, 89))
        fusednet.set_num_threads(2)
        b = np.asarray(_C.resize_images(_C.asarray(x), 131, 89))
    finally:
        fusednet.set_num_threads(old)
    np.testing.assert_array_equal(a, b)


def test_errors_name_the_op_and_shapes():
    x = _C.asarray(np.zeros((1, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match=r"resize_images: interpolation must be one of 'bilinear', 'nearest', 'bicubic'.*'box'"):
        _C.resize_images(x, 2, 2, "box")
    with pytest.raises(ValueError, match=r"resize_images: height and width must be positive.*\(1, 4, 4, 1\)"):
        _C.resize_images(x, 0, 2)
    with pytest.raises(ValueError, match=r"resize_images: x must be 4-D.*\(4, 4\)"):
        _C.resize_images(_C.asarray(np.zeros((4, 4), np.float32)), 2, 2)
    with pytest.raises(ValueError, match=r"resize_images: images must have positive height and width.*\(1, 0, 4, 1\)"):
        _C.resize_images(_C.asarray(np.zeros((1, 0, 4, 1), np.float32)), 2, 2)
    with pytest.raises(ValueError, match=r"resize_images: uint8 images must be 3-D"):
        _C.resize_images(np.zeros((4, 4), np.uint8), 2, 2)
    with pytest.raises(TypeError):
        _C.resize_images(_C.asarray(np.zeros((1, 4, 4, 1), np.int32)), 2, 2)
    with pytest.raises(ValueError, match=r"resize_images: output size \(1099511627776, 1099511627776\) is too large"):
        _C.resize_images(x, 2 ** 40, 2 ** 40)
    with pytest.raises(ValueError, match=r"too large"):
        _C.resize_images(np.zeros((4, 4, 3), np.uint8), 2 ** 21, 2 ** 20)


# ---------------------------------------------------------------------------- Resizing layer
def test_resizing_layer_batched_and_unbatched():
    x = np.random.default_rng(4).uniform(0, 255, (3, 20, 30, 3)).astype(np.float32)
    layer = fusednet.layers.Resizing(11, 7)
    y = np.asarray(layer(x).numpy())
    np.testing.assert_allclose(y, ref_resize(x, 11, 7, "bilinear"), *TOL["pointwise"])
    y1 = np.asarray(layer(x[0]).numpy())
    assert y1.shape == (11, 7, 3)
    np.testing.assert_array_equal(y1, y[0])
    lc = fusednet.layers.Resizing(8, 8, interpolation="nearest", crop_to_aspect_ratio=True)
    np.testing.assert_allclose(np.asarray(lc(x).numpy()), ref_resize(x, 8, 8, "nearest", _keras_crop(20, 30, 8, 8)),
                               *TOL["pointwise"])
    assert lc.compute_output_shape((None, 20, 30, 3)) == (None, 8, 8, 3)
    cfg = lc.get_config()
    assert cfg["height"] == 8 and cfg["interpolation"] == "nearest" and cfg["crop_to_aspect_ratio"] is True
    assert type(fusednet.layers.deserialize(fusednet.layers.serialize(lc))) is fusednet.layers.Resizing


def test_resizing_layer_in_a_model_trains_the_rest():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (16, 12, 12, 1)).astype(np.float32)
    y = rng.integers(0, 2, 16)
    inp = fusednet.Input((12, 12, 1))
    h = fusednet.layers.Resizing(6, 6)(inp)
    h = fusednet.layers.Flatten()(h)
    out = fusednet.layers.Dense(2, activation="softmax")(h)
    m = fusednet.Model(inp, out)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    hist = m.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    p = m.predict(x, verbose=0)
    assert p.shape == (16, 2)


def test_resizing_layer_bad_arguments():
    with pytest.raises(ValueError, match="interpolation must be one of"):
        fusednet.layers.Resizing(4, 4, interpolation="box")
    with pytest.raises(ValueError, match="height must be a positive int"):
        fusednet.layers.Resizing(0, 4)
    with pytest.raises(ValueError, match="expects images"):
        fusednet.layers.Resizing(4, 4)(np.zeros((4, 4), np.float32))


@pytest.mark.cuda
@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("crop", [False, True])
def test_cuda_matches_cpu(mode, crop):
    x = np.random.default_rng(6).uniform(0, 255, (3, 37, 53, 5)).astype(np.float32)
    for h, w in ((1, 1), (17, 29), (64, 101)):
        c = np.asarray(_C.resize_images(_C.asarray(x), h, w, mode, crop))
        g = _C.resize_images(_C.asarray(x).to("cuda"), h, w, mode, crop)
        assert g.device != "cpu"
        np.testing.assert_allclose(np.asarray(g.to("cpu").numpy()), c, *TOL["cuda_vs_cpu"])
