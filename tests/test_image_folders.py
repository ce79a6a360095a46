"""Images from folders: image_dataset_from_directory, ImageDataGenerator.flow_from_directory /
flow, load_img & co., background decoding — against real Keras 3 (file order, class names,
validation splits, image values) and Pillow, on a class-folder tree of real PNG/JPEG files
(MNIST digits as RGB when the shared test set is at hand, seeded noise images otherwise)."""
import gzip
import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest

import fusednet
from fusednet.data.image import BatchPrefetcher
from fusednet.preprocessing.image import ImageDataGenerator, array_to_img, img_to_array, load_img, save_img
from tolerances import TOL

Image = pytest.importorskip("PIL.Image")

CLASSES = ["class_10", "class_2", "class_a"]      # string order, not natural order
COUNTS = [7, 5, 6]


def _mnist_digits(n):
    for p in Path(__file__).resolve().parents:
        f = p / "shared" / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"
        if f.is_file():
            raw = gzip.decompress(f.read_bytes())
            return np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    return np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def _decode_threads():
    """Live background decoding threads (named by BatchPrefetcher)."""
    return [t for t in threading.enumerate() if t.name.startswith("fusednet-decode")]


def _settle():
    """Collect datasets of earlier tests left half-read (their pools close when collected)."""
    import gc
    gc.collect()
    for t in _decode_threads():
        t.join(timeout=5)
    assert _decode_threads() == []
    return threading.active_count()


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("Keras reference needs KERAS_BACKEND=torch")
    return keras


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """root/<class>/*.png (28x28 RGB digits, a few resized to odd sizes, one JPEG, one file in a
    nested folder, one non-image file)."""
    root = tmp_path_factory.mktemp("folders") / "data"
    digits = _mnist_digits(sum(COUNTS))
    k = 0
    for c, n in zip(CLASSES, COUNTS):
        (root / c).mkdir(parents=True)
        for i in range(n):
            img = Image.fromarray(np.stack([digits[k], 255 - digits[k], digits[k] // 2], -1), "RGB")
            if i == 1:
                img = img.resize((31, 23), Image.Resampling.BICUBIC)
            if i == 2:
                img = img.resize((17, 40), Image.Resampling.BICUBIC)
            ext = ".jpg" if (i == 3 and c == "class_2") else ".png"
            img.save(root / c / f"img_{i:02d}{ext}")
            k += 1
    (root / "class_a" / "nested").mkdir()
    Image.fromarray(digits[0]).save(root / "class_a" / "nested" / "deep.png")   # grayscale file
    (root / "class_2" / "notes.txt").write_text("not an image")
    return root


N_FILES = sum(COUNTS) + 1


def _all(ds):
    xs, ys = zip(*[ds[i] for i in range(len(ds))])
    return np.concatenate(xs), np.concatenate(ys)


# ---------------------------------------------------------------------------- image_dataset_from_directory
def test_counts_class_names_and_file_order_match_keras(tree):
    keras = _keras()
    from keras.src.utils import dataset_utils
    for shuffle in (False, True):
        ds = fusednet.data.image_dataset_from_directory(tree, image_size=(28, 28), batch_size=4, shuffle=shuffle,
                                                        seed=11, verbose=False)
        kp, kl, kn = dataset_utils.index_directory(str(tree), "inferred", (".bmp", ".gif", ".jpeg", ".jpg", ".png"),
                                                   shuffle=shuffle, seed=11, verbose=False)
        assert ds.class_names == kn == CLASSES
        assert [os.fspath(p) for p in ds.file_paths] == [os.fspath(p) for p in kp]
        np.testing.assert_array_equal(ds.labels, kl)
        assert len(ds.file_paths) == N_FILES and len(ds) == (N_FILES + 3) // 4
        _, y = _all(ds)                    # pass 0 follows file_paths
        np.testing.assert_array_equal(y, kl)
    assert keras.utils.image_dataset_from_directory  # the reference exists


@pytest.mark.parametrize("subset", ["training", "validation"])
def test_validation_split_same_files_as_keras(tree, subset):
    _keras()
    from keras.src.utils import dataset_utils
    ds = fusednet.data.image_dataset_from_directory(tree, image_size=(8, 8), validation_split=0.3, subset=subset,
                                                    seed=5, verbose=False)
    kp, kl, _ = dataset_utils.index_directory(str(tree), "inferred", (".bmp", ".gif", ".jpeg", ".jpg", ".png"),
                                              shuffle=True, seed=5, verbose=False)
    sp, sl = dataset_utils.get_training_or_validation_split(kp, kl, 0.3, subset)
    assert [os.fspath(p) for p in ds.file_paths] == list(sp)
    np.testing.assert_array_equal(ds.labels, sl)


def test_subset_both_is_disjoint_and_complete(tree):
    tr, va = fusednet.data.image_dataset_from_directory(tree, image_size=(8, 8), validation_split=0.25, subset="both",
                                                        seed=3, verbose=False)
    assert len(va.file_paths) == int(0.25 * N_FILES) and len(tr.file_paths) == N_FILES - int(0.25 * N_FILES)
    assert not set(tr.file_paths) & set(va.file_paths)
    assert sorted(map(str, tr.file_paths + va.file_paths)) == sorted(
        str(p) for p in tree.rglob("*") if p.suffix in (".png", ".jpg"))
    assert tr.class_names == va.class_names == CLASSES
    assert va.shuffle is False
    same = fusednet.data.image_dataset_from_directory(tree, image_size=(8, 8), validation_split=0.25,
                                                      subset="validation", seed=3, verbose=False)
    assert same.file_paths == va.file_paths


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("color_mode", ["rgb", "grayscale", "rgba"])
@pytest.mark.parametrize("crop", [False, True])
def test_image_values_match_keras_loader(tree, interpolation, color_mode, crop):
    _keras()
    from keras.src.utils import image_dataset_utils as idu
    ds = fusednet.data.image_dataset_from_directory(tree, image_size=(20, 13), color_mode=color_mode, shuffle=False,
                                                    batch_size=8, interpolation=interpolation,
                                                    crop_to_aspect_ratio=crop, verbose=False)
    x, _ = _all(ds)
    ch = {"rgb": 3, "grayscale": 1, "rgba": 4}[color_mode]
    assert x.shape == (N_FILES, 20, 13, ch) and x.dtype == np.float32
    ref = np.stack([np.asarray(idu._load_image_grain(str(p), (20, 13), ch, interpolation, "channels_last",
                                                     crop_to_aspect_ratio=crop)) for p in ds.file_paths])
    np.testing.assert_allclose(x, ref, *TOL["resample"])
    if interpolation != "bicubic":                       # cubic overshoots, as Keras'
        assert 0 <= x.min() and x.max() <= 255


def test_native_size_images_equal_pillow_pixels(tree):
    ds = fusednet.data.image_dataset_from_directory(tree, image_size=(28, 28), shuffle=False, batch_size=None,
                                                    label_mode=None, verbose=False)
    for i, p in enumerate(ds.file_paths):
        img = Image.open(p).convert("RGB")
        if img.size == (28, 28):
            np.testing.assert_array_equal(ds[i], np.asarray(img, np.float32))
    assert ds[0].shape == (28, 28, 3)                # batch_size=None: one image per item


def test_label_modes(tree):
    base = dict(image_size=(8, 8), shuffle=False, batch_size=5, verbose=False)
    x, y = fusednet.data.image_dataset_from_directory(tree, label_mode="int", **base)[0]
    assert y.dtype == np.int32 and y.shape == (5,) and x.shape == (5, 8, 8, 3)
    ds = fusednet.data.image_dataset_from_directory(tree, label_mode="categorical", **base)
    _, yc = _all(ds)
    assert yc.dtype == np.float32 and yc.shape == (N_FILES, 3)
    np.testing.assert_array_equal(yc.argmax(1), ds.labels)
    np.testing.assert_array_equal(yc.sum(1), 1)
    db = fusednet.data.image_dataset_from_directory(tree, label_mode="binary", class_names=["class_a", "class_10"],
                                                    **base)
    _, yb = _all(db)
    assert yb.shape == (sum(COUNTS[i] for i in (2, 0)) + 1, 1) and yb.dtype == np.float32
    assert db.class_names == ["class_a", "class_10"]
    np.testing.assert_array_equal(yb[:, 0], db.labels)      # class_a (first given) is 0
    assert int((yb == 0).sum()) == COUNTS[2] + 1
    xn = fusednet.data.image_dataset_from_directory(tree, label_mode=None, **base)[0]
    assert isinstance(xn, np.ndarray) and xn.shape == (5, 8, 8, 3)
    with pytest.raises(ValueError, match="exactly 2 class_names"):
        fusednet.data.image_dataset_from_directory(tree, label_mode="binary", **base)
    paths = fusednet.data.image_dataset_from_directory(tree, labels=None, **base).file_paths
    explicit = list(range(len(paths)))
    de = fusednet.data.image_dataset_from_directory(tree, labels=[v % 2 for v in explicit], **base)
    assert de.class_names == ["0", "1"]
    np.testing.assert_array_equal(_all(de)[1], [v % 2 for v in explicit])


def test_reshuffles_each_pass_reproducibly(tree):
    mk = lambda: fusednet.data.image_dataset_from_directory(tree, image_size=(8, 8), batch_size=4, seed=9,
                                                            verbose=False)
    a, b = mk(), mk()
    ya0 = _all(a)[1]
    a.on_epoch_end()
    ya1 = _all(a)[1]
    xb0, yb0 = _all(b)
    b.on_epoch_end()
    xb1, yb1 = _all(b)
    np.testing.assert_array_equal(ya0, yb0)
    np.testing.assert_array_equal(ya1, yb1)
    assert sorted(ya0) == sorted(ya1) and not np.array_equal(ya0, ya1)
    # iteration is one pass; the next iteration is the next (reshuffled) pass
    c = mk()
    first = np.concatenate([y for _, y in c])
    second = np.concatenate([y for _, y in c])
    np.testing.assert_array_equal(first, ya0)
    np.testing.assert_array_equal(second, ya1)


def test_map_prefetch_cache_chain(tree):
    ds = fusednet.data.image_dataset_from_directory(tree, image_size=(8, 8), batch_size=6, shuffle=False,
                                                    verbose=False)
    x0, y0 = ds[1]
    m = ds.map(lambda x, y: (x / 255.0, y + 1)).prefetch(fusednet.data.AUTOTUNE).cache()
    x1, y1 = m[1]
    np.testing.assert_allclose(x1, x0 / 255.0, *TOL["pointwise"])
    np.testing.assert_array_equal(y1, y0 + 1)
    assert m.class_names == ds.class_names and m.file_paths == ds.file_paths and len(m) == len(ds)
    np.testing.assert_array_equal(m[1][0], x1)               # served from the cache, same values
    assert len(m._cache) > 0


def test_argument_errors(tree, tmp_path):
    f = fusednet.data.image_dataset_from_directory
    with pytest.raises(ValueError, match="label_mode"):
        f(tree, label_mode="sparse")
    with pytest.raises(ValueError, match="validation_split must be set"):
        f(tree, subset="training")
    with pytest.raises(ValueError, match="box"):
        f(tree, interpolation="box")
    with pytest.raises(ValueError, match="color_mode"):
        f(tree, color_mode="cmyk")
    with pytest.raises(ValueError, match="does not exist"):
        f(tmp_path / "missing")
    with pytest.raises(ValueError, match="class_names passed did not match"):
        f(tree, class_names=["nope"])
    with pytest.raises(ValueError, match="No images found|no images found"):
        (tmp_path / "empty" / "a").mkdir(parents=True)
        f(tmp_path / "empty", verbose=False)


# ---------------------------------------------------------------------------- ImageDataGenerator
def test_flow_from_directory_matches_keras_directory_iterator(tree):
    _keras()
    from keras.src.legacy.preprocessing.image import ImageDataGenerator as KerasIDG
    for subset in (None, "training", "validation"):
        # (24, 16): no exact half-pixel ties for these source sizes, where Pillow's accumulated
        # coordinate can pick the previous pixel (docs/DECISIONS.md, images from folders)
        kw = dict(target_size=(24, 16), batch_size=5, shuffle=False, subset=subset, class_mode="categorical")
        ours = ImageDataGenerator(rescale=1 / 255, validation_split=0.4).flow_from_directory(str(tree), **kw)
        ref = KerasIDG(rescale=1 / 255, validation_split=0.4).flow_from_directory(str(tree), **kw)
        assert ours.samples == ref.samples and ours.filenames == ref.filenames
        assert ours.class_indices == ref.class_indices and list(ours.class_indices) == CLASSES
        np.testing.assert_array_equal(ours.classes, ref.classes)
        assert len(ours) == len(ref) and ours.batch_size == 5
        for i in range(len(ours)):
            (xo, yo), (xr, yr) = ours[i], ref[i]
            np.testing.assert_allclose(xo, xr, *TOL["pointwise"])     # PIL nearest == native nearest
            np.testing.assert_array_equal(yo, yr)
    tr = ImageDataGenerator(validation_split=0.4).flow_from_directory(str(tree), (8, 8), subset="training")
    va = ImageDataGenerator(validation_split=0.4).flow_from_directory(str(tree), (8, 8), subset="validation")
    assert not set(tr.filenames) & set(va.filenames) and tr.samples + va.samples == N_FILES


@pytest.mark.parametrize("class_mode", ["binary", "sparse", "input", None])
def test_flow_from_directory_class_modes(tree, class_mode):
    it = ImageDataGenerator().flow_from_directory(str(tree), (8, 8), classes=["class_2", "class_a"],
                                                  class_mode=class_mode, batch_size=4, shuffle=False)
    assert it.class_indices == {"class_2": 0, "class_a": 1} and it.samples == COUNTS[1] + COUNTS[2] + 1
    item = it[0]
    if class_mode is None:
        assert item.shape == (4, 8, 8, 3)
    elif class_mode == "input":
        np.testing.assert_array_equal(item[0], item[1])
    else:
        np.testing.assert_array_equal(item[1], it.classes[:4].astype(np.float32))


def test_flow_from_directory_shuffle_next_and_reset(tree):
    it = ImageDataGenerator().flow_from_directory(str(tree), (8, 8), batch_size=4, seed=1, class_mode="sparse")
    it2 = ImageDataGenerator().flow_from_directory(str(tree), (8, 8), batch_size=4, seed=1, class_mode="sparse")
    ys = [next(it)[1] for _ in range(len(it))]
    assert sorted(np.concatenate(ys)) == sorted(it.classes.astype(np.float32))
    assert not np.array_equal(np.concatenate(ys), it.classes)          # the first pass is shuffled too
    np.testing.assert_array_equal(np.concatenate([it2[i][1] for i in range(len(it2))]), np.concatenate(ys))
    nxt = next(it)                                                      # cycles into pass 1
    assert it.epoch == 1 and it.batch_index == 1
    it.reset()
    np.testing.assert_array_equal(next(it)[1], nxt[1])


def test_augmentation_identity_when_ranges_are_zero(tree):
    kw = dict(target_size=(16, 16), batch_size=6, shuffle=False)
    plain = ImageDataGenerator().flow_from_directory(str(tree), **kw)
    zero = ImageDataGenerator(rotation_range=0, width_shift_range=0.0, height_shift_range=0, shear_range=0,
                              zoom_range=0.0, horizontal_flip=False, vertical_flip=False,
                              fill_mode="nearest").flow_from_directory(str(tree), **kw)
    ident = ImageDataGenerator(zoom_range=[1.0, 1.0]).flow_from_directory(str(tree), **kw)
    for i in range(len(plain)):
        np.testing.assert_array_equal(zero[i][0], plain[i][0])
        np.testing.assert_array_equal(ident[i][0], plain[i][0])


@pytest.mark.parametrize("params", [
    {"theta": 17.0}, {"tx": 2.5, "ty": -3.0}, {"zx": 0.8, "zy": 1.25}, {"shear": 12.0},
    {"theta": -33.0, "tx": 1.0, "ty": 2.0, "shear": 5.0, "zx": 1.1, "zy": 0.9},
    {"flip_horizontal": True}, {"flip_vertical": True, "theta": 90.0}])
@pytest.mark.parametrize("fill_mode", ["nearest", "reflect", "constant"])
def test_apply_transform_matches_keras(params, fill_mode):
    _keras()
    pytest.importorskip("scipy")
    from keras.src.legacy.preprocessing.image import ImageDataGenerator as KerasIDG
    x = np.random.default_rng(0).uniform(0, 255, (19, 23, 3)).astype(np.float32)
    ours = ImageDataGenerator(fill_mode=fill_mode, cval=7.0).apply_transform(x, params)
    ref = KerasIDG(fill_mode=fill_mode, cval=7.0).apply_transform(x.astype(np.float64), params)
    if fill_mode != "constant":
        np.testing.assert_allclose(ours, ref, *TOL["resample"])
        return
    # scipy's 'constant' gives cval for any source point outside the image; fusednet blends the
    # in-image neighbours with cval there (per-neighbour fill, as TF). Equal inside, and beyond
    # one pixel outside.
    p = ImageDataGenerator()._params_for(params, *x.shape[:2])
    yy, xx = np.mgrid[0:x.shape[0], 0:x.shape[1]].astype(np.float64)
    sx, sy = p[0] * xx + p[1] * yy + p[2], p[3] * xx + p[4] * yy + p[5]
    h, w = x.shape[:2]
    inside = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
    far = (sx < -1) | (sx > w) | (sy < -1) | (sy > h)
    assert inside.sum() > 0.4 * inside.size
    np.testing.assert_allclose(ours[inside], ref[inside], *TOL["resample"])
    np.testing.assert_allclose(ours[far], 7.0, *TOL["resample"])
    np.testing.assert_array_equal(ref[far], 7.0)


def test_random_augmentation_is_seeded_and_does_something(tree):
    gen = ImageDataGenerator(rotation_range=30, width_shift_range=0.2, height_shift_range=3, zoom_range=0.2,
                             shear_range=10, horizontal_flip=True, vertical_flip=True, rescale=1 / 255.0)
    kw = dict(target_size=(16, 16), batch_size=8, shuffle=False, seed=4)
    a, b = gen.flow_from_directory(str(tree), **kw), gen.flow_from_directory(str(tree), **kw)
    plain = ImageDataGenerator(rescale=1 / 255.0).flow_from_directory(str(tree), **kw)
    xa, xb, xp = a[0][0], b[0][0], plain[0][0]
    np.testing.assert_array_equal(xa, xb)
    assert xa.shape == xp.shape and np.isfinite(xa).all() and 0 <= xa.min() and xa.max() <= 1.0 + 1e-6
    assert all(not np.array_equal(xa[k], xp[k]) for k in range(len(xa)))
    a.on_epoch_end()
    assert not np.array_equal(a[0][0], xa)      # a new pass draws new transforms


def test_flips_only_mirror(tree):
    it = ImageDataGenerator(horizontal_flip=True).flow_from_directory(str(tree), (16, 16), batch_size=N_FILES,
                                                                      shuffle=False, seed=2)
    plain = ImageDataGenerator().flow_from_directory(str(tree), (16, 16), batch_size=N_FILES, shuffle=False)
    xf, xp = it[0][0], plain[0][0]
    flipped = [np.array_equal(xf[k], xp[k, :, ::-1]) for k in range(N_FILES)]
    same = [np.array_equal(xf[k], xp[k]) for k in range(N_FILES)]
    assert all(f or s for f, s in zip(flipped, same)) and any(flipped) and any(same)


def test_preprocessing_function_then_rescale(tree):
    seen = []
    def pf(img):
        seen.append(img.shape)
        return img - 100.0
    x = ImageDataGenerator(preprocessing_function=pf, rescale=0.5).flow_from_directory(
        str(tree), (8, 8), batch_size=3, shuffle=False)[0][0]
    x0 = ImageDataGenerator().flow_from_directory(str(tree), (8, 8), batch_size=3, shuffle=False)[0][0]
    np.testing.assert_allclose(x, (x0 - 100.0) * 0.5, *TOL["pointwise"])
    assert set(seen) == {(8, 8, 3)}


def test_flow_arrays():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 1, (11, 6, 5, 2)).astype(np.float32), np.arange(11)
    it = ImageDataGenerator(validation_split=0.3).flow(x, y, batch_size=4, shuffle=False, subset="training")
    xb, yb = it[0]
    np.testing.assert_array_equal(yb, [3, 4, 5, 6]) and np.testing.assert_array_equal(xb, x[3:7])
    assert len(it) == 2
    va = ImageDataGenerator(validation_split=0.3).flow(x, y, batch_size=4, shuffle=False, subset="validation")
    np.testing.assert_array_equal(va[0][1], [0, 1, 2])
    sh = ImageDataGenerator().flow(x, y, batch_size=11, seed=3)
    xs, ys = sh[0]
    np.testing.assert_array_equal(xs, x[ys])
    with pytest.raises(ValueError, match="rank 4"):
        ImageDataGenerator().flow(x[0], y)


def test_generator_argument_errors():
    with pytest.raises(ValueError, match="brightness_range should be tuple or list of two floats"):
        ImageDataGenerator(brightness_range=(1.0,))
    with pytest.raises(ValueError, match="fill_mode"):
        ImageDataGenerator(fill_mode="mirror")
    with pytest.raises(ValueError, match="zoom_range"):
        ImageDataGenerator(zoom_range="big")
    with pytest.raises(ValueError, match="class_mode"):
        ImageDataGenerator().flow_from_directory(".", class_mode="onehot")


# ---------------------------------------------------------------------------- load_img & co.
@pytest.mark.parametrize("kw", [{}, {"target_size": (20, 30)}, {"target_size": (20, 30), "interpolation": "bilinear"},
                                {"target_size": (9, 9), "keep_aspect_ratio": True}, {"color_mode": "grayscale"},
                                {"color_mode": "rgba", "target_size": (5, 7), "interpolation": "bicubic"}])
def test_load_img_img_to_array_match_keras(tree, kw):
    keras = _keras()
    p = tree / "class_10" / "img_01.png"
    ours = img_to_array(load_img(p, **kw))
    ref = keras.utils.img_to_array(keras.utils.load_img(p, **kw))
    np.testing.assert_array_equal(ours, ref)
    assert ours.dtype == np.float32
    assert img_to_array(load_img(io.BytesIO(p.read_bytes()), **kw)).shape == ours.shape
    assert fusednet.utils.load_img is load_img and fusednet.utils.img_to_array is img_to_array


def test_array_to_img_and_save_img_roundtrip(tmp_path):
    keras = _keras()
    x = np.random.default_rng(0).uniform(-1, 3, (6, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(array_to_img(x)), np.asarray(keras.utils.array_to_img(x)))
    g = np.random.default_rng(1).integers(0, 255, (4, 4, 1)).astype(np.float32)
    assert array_to_img(g, scale=False).mode == "L"
    save_img(tmp_path / "a.png", g, scale=False)
    np.testing.assert_array_equal(img_to_array(load_img(tmp_path / "a.png", color_mode="grayscale")), g)
    save_img(tmp_path / "b.jpg", np.concatenate([x, x[..., :1]], -1))     # RGBA -> RGB for JPEG
    assert load_img(tmp_path / "b.jpg").size == (5, 6)
    with pytest.raises(ValueError, match="rank 3"):
        array_to_img(np.zeros((2, 2)))


def test_missing_pillow_names_the_extra(monkeypatch):
    import sys
    from fusednet.data.image import _decode
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"pip install fusednet\[image\].*pillow"):
        _decode.require_pil("load_img")


# ---------------------------------------------------------------------------- corrupt files, threads, training
def test_corrupt_image_file_error_names_the_file(tree, tmp_path):
    import shutil
    root = tmp_path / "bad"
    shutil.copytree(tree, root)
    (root / "class_2" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage garbage")
    start = _settle()
    ds = fusednet.data.image_dataset_from_directory(root, image_size=(8, 8), batch_size=4, shuffle=False,
                                                    verbose=False)
    with pytest.raises(ValueError, match=r"broken\.png"):
        for _ in ds:
            pass
    it = ImageDataGenerator().flow_from_directory(str(root), (8, 8), batch_size=4, shuffle=False)
    with pytest.raises(ValueError, match=r"cannot decode image file .*broken\.png"):
        [it[i] for i in range(len(it))]
    with pytest.raises(ValueError, match=r"broken\.png"):
        load_img(root / "class_2" / "broken.png")
    assert threading.active_count() == start


def _wait_idle_exit():
    for t in _decode_threads():       # idle threads exit by themselves (idle_s = 1 s)
        t.join(timeout=20)


def test_decoding_threads_run_ahead_and_stop(tree):
    start = _settle()
    ds = fusednet.data.image_dataset_from_directory(tree, image_size=(16, 16), batch_size=2, workers=2,
                                                    verbose=False)
    n = len(ds)
    ds[0]
    assert set(ds._pf._futures) == {(0, 1), (0, 2), (0, 3), (0, 4)}   # batches 1..4 decoding behind
    live = len(_decode_threads())            # 1 or 2: a thread is added per queued item up to workers
    assert 1 <= live <= 2 and threading.active_count() == start + live
    for i in range(1, n):
        ds[i]
    assert set(ds._pf._futures) == {(1, 0), (1, 1), (1, 2), (1, 3)}   # the window crossed into pass 1
    ds.on_epoch_end()
    assert set(ds._pf._futures) == {(1, 0), (1, 1), (1, 2), (1, 3)}   # ...and is kept for it
    x1, y1 = ds[0]
    np.testing.assert_array_equal(y1, ds._load(0, 1)[1])
    np.testing.assert_array_equal(x1, ds._load(0, 1)[0])
    _wait_idle_exit()
    assert threading.active_count() == start            # nothing left to decode: the threads are gone
    for _ in ds:                                         # iteration, then an early stop + close()
        break
    ds.close()
    assert threading.active_count() == start and ds._pf._futures == {}
    it = ImageDataGenerator().flow_from_directory(str(tree), (8, 8), batch_size=3)
    for _ in range(len(it)):
        next(it)
    assert it.batch_index == 0 and it.epoch == 1
    it.close()
    assert threading.active_count() == start
    serial = fusednet.data.image_dataset_from_directory(tree, image_size=(16, 16), batch_size=2, workers=0,
                                                        seed=ds.seed, verbose=False)
    threaded = fusednet.data.image_dataset_from_directory(tree, image_size=(16, 16), batch_size=2, workers=2,
                                                          seed=ds.seed, verbose=False)
    for e in range(2):
        for i in range(len(serial)):
            np.testing.assert_array_equal(serial[i][0], threaded[i][0])
            np.testing.assert_array_equal(serial[i][1], threaded[i][1])
        serial.on_epoch_end()
        threaded.on_epoch_end()
    _wait_idle_exit()
    assert threading.active_count() == start


def test_prefetcher_out_of_order_and_errors():
    start = _settle()
    calls = []
    pf = BatchPrefetcher(lambda k: calls.append(k) or k[0] * 100 + k[1] * 10, n=8, workers=2)
    assert [pf.get(0, i) for i in (0, 1, 5, 2, 7)] == [0, 10, 50, 20, 70]
    assert pf.get(1, 0) == 100 and pf.get(1, 1) == 110
    pf.close()
    assert threading.active_count() == start
    assert BatchPrefetcher(lambda k: k, 3, workers=0).get(2, 1) == (2, 1)
    with pytest.raises(ValueError, match="workers"):
        BatchPrefetcher(lambda i: i, 3, workers=-1)


def test_training_on_folder_batches(tree):
    fusednet.random.set_random_seed(0)
    tr, va = fusednet.data.image_dataset_from_directory(tree, image_size=(16, 16), batch_size=4, label_mode="int",
                                                        validation_split=0.25, subset="both", seed=1,
                                                        verbose=False)
    m = fusednet.Sequential([fusednet.Input((16, 16, 3)), fusednet.layers.Conv2D(4, 3, activation="relu"),
                             fusednet.layers.MaxPooling2D(2), fusednet.layers.Flatten(),
                             fusednet.layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    losses = []
    for _ in range(2):
        for x, y in tr:
            out = m.train_on_batch(x / 255.0, y)
            losses.append(float(out[0] if isinstance(out, (list, tuple)) else out))
    assert np.all(np.isfinite(losses)) and len(losses) == 2 * len(tr)
    xv, yv = _all(va)
    assert m.predict(xv / 255.0, verbose=0).shape == (len(yv), 3)
    gen = ImageDataGenerator(rescale=1 / 255.0, horizontal_flip=True).flow_from_directory(
        str(tree), (16, 16), batch_size=4, class_mode="sparse", seed=0)
    for _ in range(len(gen)):
        x, y = next(gen)
        m.train_on_batch(x, y.astype(np.int64))


def test_public_names_keras_shaped():
    assert fusednet.utils.image_dataset_from_directory is fusednet.data.image_dataset_from_directory
    for name in ("load_img", "img_to_array", "array_to_img", "save_img"):
        assert getattr(fusednet.utils, name) is getattr(fusednet.preprocessing.image, name)
        assert getattr(fusednet.utils, name).__doc__
    assert fusednet.preprocessing.image.ImageDataGenerator is ImageDataGenerator
    assert fusednet.layers.Resizing.__doc__ and "Example" in fusednet.layers.Resizing.__doc__
    for obj in (fusednet.data.image_dataset_from_directory, ImageDataGenerator.flow_from_directory,
                ImageDataGenerator.flow, fusednet.preprocessing.image.DirectoryIterator, BatchPrefetcher):
        assert "Example" in obj.__doc__ and ("Args" in obj.__doc__)
