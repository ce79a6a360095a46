"""_C.resize_images "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic" and antialiased "bilinear" / "bicubic"
(csrc/cpu/resize_filter.cpp): vs Keras' own ``ops.image.scale_and_translate`` in float64 (torch
backend; what Keras' NumPy / JAX / TF backends call for lanczos resizing) for lanczos, vs torch interpolate(antialias=True) for bilinear /
bicubic, vs a float64 exact-overlap reference (TF's ResizeArea) and torch's area pooling for area;
sizes 1, primes, up and down, uint8 input, crop window, thread-count independence, errors."""
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

SIZES = [((1, 1), (3, 2)), ((7, 5), (1, 1)), ((13, 17), (5, 7)), ((8, 8), (4, 4)), ((5, 11), (12, 23)),
         ((31, 29), (10, 9)), ((6, 9), (6, 3))]


def _keras_resize(x, dst, method, antialias):
    """Keras' resize for lanczos / antialiased linear (backend/numpy/image.py ``_resize``): one
    ``scale_and_translate`` over the spatial axes, scale = out / in, no translation (float64)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras reference runs on its torch backend")
    n, h, w, c = x.shape
    y = keras.ops.image.scale_and_translate(x, (n,) + tuple(dst) + (c,), np.array([dst[0] / h, dst[1] / w]),
                                            np.zeros(2), spatial_dims=(1, 2), method=method, antialias=antialias)
    return keras.ops.convert_to_numpy(y)


def _area_matrix(n_in, n_out):
    """[n_out, n_in] float64: output o averages [o·s, (o+1)·s) (TF's ResizeArea weights)."""
    s = n_in / n_out
    lo, hi = np.arange(n_out)[:, None] * s, (np.arange(n_out)[:, None] + 1) * s
    j = np.arange(n_in)[None, :]
    return np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0, None) / s


def _rel_close(got, ref, tol_name):
    rtol, atol = TOL[tol_name]
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape
    err = np.abs(got - ref).max(initial=0.0)
    assert err <= atol + rtol * np.abs(ref).max(initial=0.0), err


@pytest.mark.parametrize("src,dst", SIZES)
@pytest.mark.parametrize("mode", ["lanczos3", "lanczos5"])
@pytest.mark.parametrize("antialias", [False, True])
def test_lanczos_matches_keras_numpy_backend(src, dst, mode, antialias):
    x = np.random.default_rng(src[0] * 100 + dst[1]).uniform(0, 255, (2,) + src + (3,))
    ref = _keras_resize(x, dst, mode, antialias)
    got = _C.resize_images(_C.asarray(x.astype(np.float32)), dst[0], dst[1], mode, False, antialias)
    _rel_close(got, ref, "resample")


def _tf_kernel(mode, x):
    """TF's sampling kernels (tensorflow/core/kernels/image/sampling_kernels.h) in float64."""
    x = np.abs(x)
    if mode == "gaussian":                        # radius 1.5, sigma = radius / 3
        return np.where(x < 1.5, np.exp(-x * x / (2 * 0.5 ** 2)), 0.0)
    if mode == "mitchellcubic":                   # Mitchell-Netravali B = C = 1/3, radius 2
        near = ((7 / 6 * x - 2) * x) * x + 8 / 9
        far = ((-7 / 18 * x + 2) * x - 10 / 3) * x + 16 / 9
        return np.where(x < 1, near, np.where(x < 2, far, 0.0))
    r = 3.0 if mode == "lanczos3" else 5.0
    safe = np.where(x <= 1e-3, 1.0, x)
    v = r * np.sin(np.pi * safe) * np.sin(np.pi * safe / r) / (np.pi ** 2 * safe ** 2)
    return np.where(x <= 1e-3, 1.0, np.where(x > r, 0.0, v))


_RADIUS = {"gaussian": 1.5, "mitchellcubic": 2.0, "lanczos3": 3.0, "lanczos5": 5.0}


def _scale_translate_matrix(n_in, n_out, mode, antialias):
    """[n_out, n_in] float64 weights of TF's scale_and_translate (no translation): sample
    u = (o + 0.5)·s - 0.5, kernel scale max(s, 1) with antialias, taps within the radius,
    normalised (0 when the sum is below 1000·eps_f32)."""
    s = n_in / n_out
    ks = max(s, 1.0) if antialias else 1.0
    u = (np.arange(n_out) + 0.5) * s - 0.5
    j = np.arange(n_in)
    d = np.abs(u[:, None] - j[None, :])
    w = np.where(d <= _RADIUS[mode] * ks, _tf_kernel(mode, d / ks), 0.0)
    tot = w.sum(1, keepdims=True)
    return np.where(np.abs(tot) > 1000 * np.finfo(np.float32).eps, w / np.where(tot == 0, 1, tot), 0.0)


def _tf_resize(x, dst, mode, antialias):
    a, b = _scale_translate_matrix(x.shape[1], dst[0], mode, antialias), \
        _scale_translate_matrix(x.shape[2], dst[1], mode, antialias)
    return np.einsum("oh,nhwc,pw->nopc", a, np.asarray(x, np.float64), b)


@pytest.mark.parametrize("antialias", [False, True])
def test_float64_reference_agrees_with_keras_on_lanczos(antialias):
    """The reference below is checked on lanczos against Keras's own scale_and_translate first."""
    x = np.random.default_rng(11).uniform(0, 255, (1, 13, 17, 2))
    for dst in ((5, 7), (20, 31)):
        _rel_close(_tf_resize(x, dst, "lanczos3", antialias), _keras_resize(x, dst, "lanczos3", antialias),
                   "resample")       # Keras's torch backend computes its weights in float32


@pytest.mark.parametrize("src,dst", SIZES)
@pytest.mark.parametrize("mode", ["gaussian", "mitchellcubic"])
@pytest.mark.parametrize("antialias", [False, True])
def test_tf_gaussian_and_mitchellcubic_vs_float64(src, dst, mode, antialias):
    x = np.random.default_rng(src[1] * 7 + dst[0]).uniform(0, 255, (2,) + src + (3,))
    got = _C.resize_images(_C.asarray(x.astype(np.float32)), dst[0], dst[1], mode, False, antialias)
    _rel_close(got, _tf_resize(x, dst, mode, antialias), "resample")
    u8 = np.round(x).astype(np.uint8)
    got8 = _C.resize_images(u8, dst[0], dst[1], mode, False, antialias)
    _rel_close(got8, _tf_resize(u8.astype(np.float64), dst, mode, antialias), "resample")


@pytest.mark.skipif(torch is None, reason="needs torch")
@pytest.mark.parametrize("src,dst", SIZES)
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_antialias_matches_torch(src, dst, mode):
    x = np.random.default_rng(3).uniform(0, 255, (2,) + src + (4,)).astype(np.float32)
    t = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    ref = TF.interpolate(t, size=dst, mode=mode, align_corners=False, antialias=True).numpy().transpose(0, 2, 3, 1)
    got = _C.resize_images(_C.asarray(x), dst[0], dst[1], mode, False, True)
    _rel_close(got, ref, "resample_torch_aa")


def test_antialias_bilinear_matches_keras_triangle():
    x = np.random.default_rng(4).uniform(0, 255, (1, 23, 19, 2))
    ref = _keras_resize(x, (7, 5), "linear", True)
    _rel_close(_C.resize_images(_C.asarray(x.astype(np.float32)), 7, 5, "bilinear", False, True), ref, "resample")


@pytest.mark.parametrize("src,dst", SIZES)
def test_area_matches_exact_overlap_reference(src, dst):
    x = np.random.default_rng(5).uniform(0, 255, (3,) + src + (2,))
    ref = np.einsum("ai,bj,nijc->nabc", _area_matrix(src[0], dst[0]), _area_matrix(src[1], dst[1]), x)
    for aa in (False, True):                    # antialias is irrelevant for area
        _rel_close(_C.resize_images(_C.asarray(x.astype(np.float32)), dst[0], dst[1], "area", False, aa), ref,
                   "resample")


@pytest.mark.skipif(torch is None, reason="needs torch")
@pytest.mark.parametrize("src,f", [((12, 18), (3, 2)), ((7, 7), (7, 1)), ((10, 4), (1, 1))])
def test_area_integer_factors_match_torch(src, f):
    x = np.random.default_rng(6).uniform(0, 255, (2,) + src + (3,)).astype(np.float32)
    dst = (src[0] // f[0], src[1] // f[1])
    ref = TF.interpolate(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), size=dst, mode="area")
    _rel_close(_C.resize_images(_C.asarray(x), dst[0], dst[1], "area"), ref.numpy().transpose(0, 2, 3, 1), "resample")


@pytest.mark.parametrize("mode,aa", [("area", False), ("lanczos3", True), ("bilinear", True), ("bicubic", True)])
def test_uint8_crop_and_threads(mode, aa):
    rng = np.random.default_rng(7)
    u8 = rng.integers(0, 256, (3, 41, 23, 3), dtype=np.uint8)
    f = _C.resize_images(_C.asarray(u8.astype(np.float32)), 16, 16, mode, True, aa)
    np.testing.assert_array_equal(np.asarray(_C.resize_images(u8, 16, 16, mode, True, aa)), np.asarray(f))
    np.testing.assert_array_equal(np.asarray(_C.resize_images(np.ascontiguousarray(u8[0]), 16, 16, mode, True, aa)),
                                  np.asarray(f)[0])
    # crop_to_aspect_ratio = resize of Keras' centred window
    ch, top = 23, (41 - 23) // 2
    win = np.ascontiguousarray(u8[:, top:top + ch].astype(np.float32))
    np.testing.assert_array_equal(np.asarray(f), np.asarray(_C.resize_images(_C.asarray(win), 16, 16, mode, False, aa)))
    big = rng.uniform(0, 1, (4, 97, 89, 8)).astype(np.float32)     # above the parallel threshold
    old = fusednet.get_num_threads() if hasattr(fusednet, "get_num_threads") else None
    a = np.asarray(_C.resize_images(_C.asarray(big), 45, 31, mode, False, aa))
    if old is not None:
        fusednet.set_num_threads(1)
        try:
            b = np.asarray(_C.resize_images(_C.asarray(big), 45, 31, mode, False, aa))
        finally:
            fusednet.set_num_threads(old)
        np.testing.assert_array_equal(a, b)


def test_constant_image_is_preserved_and_nearest_ignores_antialias():
    x = np.full((1, 9, 14, 2), 7.25, np.float32)
    for mode in ("area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic"):
        for h, w in ((4, 5), (20, 33), (1, 1)):
            np.testing.assert_allclose(np.asarray(_C.resize_images(_C.asarray(x), h, w, mode, False, True)), 7.25,
                                       rtol=1e-6)
    r = np.random.default_rng(8).uniform(size=(1, 9, 14, 2)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(_C.resize_images(_C.asarray(r), 4, 5, "nearest", False, True)),
                                  np.asarray(_C.resize_images(_C.asarray(r), 4, 5, "nearest")))


def test_resizing_layer_modes_and_errors():
    x = np.random.default_rng(9).uniform(0, 255, (2, 19, 13, 3)).astype(np.float32)
    for mode in ("area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic"):
        layer = fusednet.layers.Resizing(6, 4, interpolation=mode, antialias=True)
        np.testing.assert_array_equal(np.asarray(layer(x)),
                                      np.asarray(_C.resize_images(_C.asarray(x), 6, 4, mode, False, True)))
        assert layer.get_config()["antialias"] is True
    with pytest.raises(ValueError, match="interpolation must be one of.*area.*mitchellcubic"):
        fusednet.layers.Resizing(4, 4, interpolation="box")
    with pytest.raises(ValueError, match=r"resize_images: interpolation must be one of .*'area', 'lanczos3'.*'box'"):
        _C.resize_images(_C.asarray(x), 2, 2, "box")
    with pytest.raises(ValueError, match=r"resize_images: height and width must be positive.*\(2, 19, 13, 3\)"):
        _C.resize_images(_C.asarray(x), 0, 2, "lanczos3", False, True)
