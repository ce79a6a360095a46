"""ImageDataGenerator normalisation (fit / standardize: featurewise, samplewise, ZCA), channel
shift, brightness (native _C.image_intensity / _C.image_standardize) against Keras 3's legacy
ImageDataGenerator, generator statistics and determinism, save_to_dir (atomic files), errors."""
import os
import warnings

import numpy as np
import pytest

from fusednet import _C
from fusednet.preprocessing.image import ImageDataGenerator
from tolerances import TOL


def _keras_idg():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras")
    from keras.src.legacy.preprocessing.image import ImageDataGenerator as K
    return K


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


FLAGS = [dict(featurewise_center=True), dict(featurewise_center=True, featurewise_std_normalization=True),
         dict(samplewise_center=True), dict(samplewise_center=True, samplewise_std_normalization=True),
         dict(featurewise_center=True, featurewise_std_normalization=True, samplewise_center=True,
              samplewise_std_normalization=True, rescale=1 / 255.)]


@pytest.mark.parametrize("kw", FLAGS)
def test_fit_and_standardize_match_keras(kw):
    K = _keras_idg()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (13, 7, 5, 3)).astype(np.float32) * np.array([1, .5, .2], np.float32)
    k, f = _quiet(K, **kw), _quiet(ImageDataGenerator, **kw)
    k.fit(x)
    f.fit(x)
    rtol, atol = TOL["image_stats"]
    for name in ("mean", "std"):
        kv, fv = getattr(k, name), getattr(f, name)
        assert (kv is None) == (fv is None)
        if kv is not None:
            np.testing.assert_allclose(fv, kv, rtol=rtol, atol=atol)
    test = rng.uniform(0, 255, (4, 7, 5, 3)).astype(np.float32)
    ref = np.stack([k.standardize(img.copy()) for img in test])
    np.testing.assert_allclose(f.standardize(test), ref, rtol=rtol, atol=atol * max(1.0, np.abs(ref).max()))


def test_zca_matches_keras():
    K = _keras_idg()
    rng = np.random.default_rng(1)
    x = rng.normal(100, 30, (80, 4, 3, 2)).astype(np.float32)        # N > D: well conditioned
    k, f = _quiet(K, zca_whitening=True, zca_epsilon=1e-2), _quiet(ImageDataGenerator, zca_whitening=True,
                                                                     zca_epsilon=1e-2)
    assert f.featurewise_center and not f.featurewise_std_normalization
    k.fit(x)
    f.fit(x)
    rtol, atol = TOL["zca_vs_keras"]
    np.testing.assert_allclose(f.zca_whitening_matrix, k.zca_whitening_matrix, rtol=rtol,
                               atol=atol * np.abs(k.zca_whitening_matrix).max())
    test = x[:5]
    ref = np.stack([k.standardize(img.copy()) for img in test])
    np.testing.assert_allclose(f.standardize(test), ref, rtol=rtol, atol=atol * np.abs(ref).max())
    # whitened training data: identity covariance up to epsilon
    w = f.standardize(x).reshape(80, -1).astype(np.float64)
    cov = w.T @ w / 80
    np.testing.assert_allclose(np.diag(cov), 1.0, atol=0.05)


@pytest.mark.parametrize("shape,lo,hi", [((6, 5, 3), 10, 200), ((9, 4, 1), -50, 300), ((3, 7, 4), 0, 255),
                                         ((1, 1, 3), 3, 3)])
@pytest.mark.parametrize("amount", [-30.5, 0.0, 17.25])
def test_channel_shift_and_brightness_match_keras(shape, lo, hi, amount):
    K = _keras_idg()
    rng = np.random.default_rng(abs(int(amount * 4)) + shape[2])
    x = rng.uniform(lo, hi, shape).astype(np.float32)
    k, f = K(), ImageDataGenerator()
    ref = k.apply_transform(x.copy(), {"channel_shift_intensity": amount})
    np.testing.assert_array_equal(f.apply_transform(x, {"channel_shift_intensity": amount}), ref)
    for b in (0.3, 1.0, 1.7):
        ref = k.apply_transform(x.copy(), {"brightness": b, "channel_shift_intensity": amount})
        got = f.apply_transform(x, {"brightness": b, "channel_shift_intensity": amount})
        rtol, atol = TOL["brightness_vs_keras"]
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol * (1 + np.abs(ref).max()))


def test_random_intensity_statistics_and_determinism():
    rng = np.random.default_rng(2)
    x = rng.uniform(60, 190, (400, 4, 4, 3)).astype(np.float32)
    x[:, 0, 0, :] = 0.0
    x[:, 0, 1, :] = 255.0                             # image range [0, 255]: shifts never clip inside
    gen = ImageDataGenerator(channel_shift_range=40)
    b = gen.flow(x, batch_size=400, shuffle=False, seed=5)[0]
    d = (b - x)[:, 1:, :, :].reshape(400, -1)
    np.testing.assert_allclose(d, d[:, :1].repeat(d.shape[1], 1), atol=1e-4)   # one shift per image
    s = d[:, 0]
    assert np.abs(s).max() < 40 and s.min() < -30 and s.max() > 30 and abs(s.mean()) < 5
    np.testing.assert_array_equal(b[s > 0, 0, 1], 255.0)                       # clipped to the image's max
    np.testing.assert_array_equal(b[s < 0, 0, 0], 0.0)                         # ... and min
    again = ImageDataGenerator(channel_shift_range=40).flow(x, batch_size=400, shuffle=False, seed=5)[0]
    np.testing.assert_array_equal(b, again)
    other = ImageDataGenerator(channel_shift_range=40).flow(x, batch_size=400, shuffle=False, seed=6)[0]
    assert not np.array_equal(b, other)
    g2 = ImageDataGenerator(brightness_range=(0.5, 1.5))
    bb = g2.flow(np.full((300, 2, 2, 3), 100.0, np.float32), batch_size=300, shuffle=False, seed=1)[0]
    v = bb[:, 0, 0, 0]
    np.testing.assert_array_equal(v, np.floor(v))                              # uint8 round trip
    assert 50 <= v.min() < 60 and 140 < v.max() <= 150 and (bb == v[:, None, None, None]).all()


def test_fit_with_augment_and_rescale():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 255, (20, 6, 6, 3)).astype(np.float32)
    g = ImageDataGenerator(featurewise_center=True, rescale=0.5)
    g.fit(x)
    np.testing.assert_allclose(g.mean.reshape(-1), (x * 0.5).mean(axis=(0, 1, 2)), rtol=1e-6)
    assert g.mean.shape == (1, 1, 3)
    a = ImageDataGenerator(featurewise_center=True, channel_shift_range=50)
    a.fit(x, augment=True, rounds=3, seed=4)
    b = ImageDataGenerator(featurewise_center=True, channel_shift_range=50)
    b.fit(x, augment=True, rounds=3, seed=4)
    np.testing.assert_array_equal(a.mean, b.mean)
    assert not np.allclose(a.mean.reshape(-1), x.mean(axis=(0, 1, 2)), atol=1e-3)
    # the iterator applies the fitted statistics
    it = g.flow(x, batch_size=20, shuffle=False)
    np.testing.assert_allclose(it[0], x * 0.5 - g.mean, rtol=1e-5, atol=1e-4)


def test_unfitted_featurewise_warns_and_passes_through():
    g = ImageDataGenerator(featurewise_std_normalization=True)
    assert g.featurewise_center
    x = np.ones((2, 3, 3, 1), np.float32)
    with pytest.warns(UserWarning, match="hasn't been fit"):
        np.testing.assert_array_equal(g.standardize(x), x)


def _listing(d):
    return sorted(os.listdir(d))


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_flow_save_to_dir(tmp_path, fmt):
    pytest.importorskip("PIL")
    from PIL import Image
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 255, (5, 8, 6, 3)).astype(np.float32)
    out = tmp_path / "aug"
    out.mkdir()
    it = ImageDataGenerator(horizontal_flip=True).flow(x, np.arange(5), batch_size=3, shuffle=False, seed=1,
                                                        save_to_dir=str(out), save_prefix="aug", save_format=fmt)
    xb, _ = it[0]
    names = _listing(out)
    assert len(names) == 3 and all(n.startswith(f"aug_{i}_") and n.endswith("." + fmt)
                                   for n, i in zip(sorted(names, key=lambda n: int(n.split("_")[1])), range(3)))
    it[1]
    assert len(_listing(out)) == 5 and not any(n.startswith(".") for n in _listing(out))   # no temp files
    if fmt == "png":
        first = sorted(_listing(out), key=lambda n: int(n.split("_")[1]))[0]
        got = np.asarray(Image.open(out / first), np.float32)
        v = xb[0] - xb[0].min()
        np.testing.assert_array_equal(got, (v / v.max() * 255).astype(np.uint8))


def test_flow_from_directory_save_to_dir(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image
    root = tmp_path / "data"
    rng = np.random.default_rng(6)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    out = tmp_path / "saved"
    it = ImageDataGenerator(rescale=1 / 255.).flow_from_directory(
        str(root), target_size=(9, 7), batch_size=4, shuffle=False, save_to_dir=str(out), save_prefix="p",
        workers=0)
    xb, yb = it[0]
    assert len(_listing(out)) == 4 and all(n.startswith("p_") and n.endswith(".png") for n in _listing(out))


def test_generator_argument_errors_new():
    with pytest.raises(ValueError, match="brightness_range"):
        ImageDataGenerator(brightness_range=0.5)
    with pytest.raises(ValueError, match="channel_shift_range"):
        ImageDataGenerator(channel_shift_range=-1)
    with pytest.raises(ValueError, match="zca_epsilon"):
        ImageDataGenerator(zca_epsilon=0)
    g = ImageDataGenerator(featurewise_center=True)
    with pytest.raises(ValueError, match=r"rank 4.*\(3, 3\)"):
        g.fit(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="rounds"):
        g.fit(np.zeros((2, 3, 3, 1)), augment=True, rounds=0)
    z = _quiet(ImageDataGenerator, zca_whitening=True)
    z.fit(np.random.default_rng(0).uniform(size=(10, 2, 2, 1)))
    with pytest.raises(ValueError, match="ZCA matrix"):
        z.standardize(np.zeros((1, 3, 3, 1), np.float32))
    with pytest.raises(ValueError, match=r"image_intensity: brightness needs 1, 3 or 4 channels.*\(1, 2, 2, 2\)"):
        _C.image_intensity(_C.asarray(np.zeros((1, 2, 2, 2), np.float32)), None,
                           _C.asarray(np.ones(1, np.float32)))
    with pytest.raises(ValueError, match=r"image_intensity: channel_shift must be \[2\]"):
        _C.image_intensity(_C.asarray(np.zeros((2, 2, 2, 3), np.float32)), _C.asarray(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match=r"image_standardize: mean must be \[3\]"):
        _C.image_standardize(_C.asarray(np.zeros((2, 2, 2, 3), np.float32)), 0.0, False, False,
                             _C.asarray(np.ones(2, np.float32)))
    with pytest.raises(ValueError, match="image_standardize: x must be 4-D"):
        _C.image_standardize(_C.asarray(np.zeros((2, 2), np.float32)))
    with pytest.raises(TypeError, match="save_to_dir"):
        ImageDataGenerator().flow(np.zeros((2, 2, 2, 3)), save_to_dir=3)


def test_standardize_kernel_vs_numpy_float64():
    rng = np.random.default_rng(7)
    for shape in ((1, 1, 1, 1), (3, 5, 7, 3), (2, 13, 11, 4)):
        x = rng.normal(5, 3, shape).astype(np.float32)
        mean, std = rng.normal(size=shape[-1]).astype(np.float32), rng.uniform(0.5, 2, shape[-1]).astype(np.float32)
        got = np.asarray(_C.image_standardize(_C.asarray(x), 0.5, True, True, _C.asarray(mean), _C.asarray(std)))
        y = x.astype(np.float64) * 0.5
        y = y - y.mean(axis=(1, 2, 3), keepdims=True)
        y = y / (y.std(axis=(1, 2, 3), keepdims=True) + 1e-6)
        y = (y - mean) / (std.astype(np.float64) + 1e-6)
        rtol, atol = TOL["image_stats"]
        np.testing.assert_allclose(got, y, rtol=rtol, atol=atol * max(1, np.abs(y).max()))


@pytest.mark.parametrize("interp", ["area", "lanczos3", "lanczos5"])
def test_image_dataset_from_directory_new_modes(tmp_path, interp):
    pytest.importorskip("PIL")
    from PIL import Image
    import fusednet
    rng = np.random.default_rng(8)
    imgs = [rng.integers(0, 256, (23, 17, 3), dtype=np.uint8) for _ in range(3)]
    (tmp_path / "c").mkdir()
    for i, a in enumerate(imgs):
        Image.fromarray(a).save(tmp_path / "c" / f"{i}.png")
    ds = fusednet.data.image_dataset_from_directory(str(tmp_path), labels=None, image_size=(8, 11),
                                                    interpolation=interp, shuffle=False, batch_size=3)
    x = ds[0]
    want = np.asarray(_C.resize_images(np.stack(imgs), 8, 11, interp))
    np.testing.assert_allclose(x, want, rtol=1e-6, atol=1e-4)
