"""Augmentation layers (RandomFlip / RandomRotation / RandomTranslation / RandomZoom / RandomCrop)
and ZeroPadding2D / Cropping2D: Keras semantics of the parameters, identity at inference,
training through fit (compiled fast path and the tape), determinism, error messages."""
import math

import numpy as np
import pytest

import fusednet as fn
from fusednet import _C
from fusednet import layers as L
from fusednet.tensor import Tensor
from test_image import ref_affine
from tolerances import TOL


def A(x):
    return _C.asarray(np.ascontiguousarray(x, dtype=np.float32))


def lanes(seed, offset, n):
    return np.asarray(_C.random_uniform([n, 4], seed, offset)).astype(np.float64)


@pytest.fixture
def imgs(rng):
    return rng.standard_normal((6, 9, 7, 3)).astype(np.float32)


# ----------------------------------------------------------------------------- inference identity
@pytest.mark.parametrize("make", [
    lambda: L.RandomFlip(seed=1), lambda: L.RandomRotation(0.2, seed=1),
    lambda: L.RandomTranslation(0.2, (-0.1, 0.3), seed=1), lambda: L.RandomZoom(0.3, seed=1),
    lambda: L.RandomZoom((-0.2, 0.1), (0.0, 0.4), fill_mode="constant", interpolation="nearest")])
def test_identity_at_inference_and_active_in_training(imgs, make):
    layer = make()
    np.testing.assert_array_equal(layer(imgs).numpy(), imgs)
    np.testing.assert_array_equal(layer(imgs, training=False).numpy(), imgs)
    y = layer(imgs, training=True).numpy()
    assert y.shape == imgs.shape and not np.array_equal(y, imgs)


def test_random_crop_center_at_inference(imgs):
    layer = L.RandomCrop(5, 4, seed=3)
    np.testing.assert_array_equal(layer(imgs).numpy(), imgs[:, 2:7, 1:5])
    y = layer(imgs, training=True).numpy()
    u = lanes(3, 0, 6)
    oh, ow = np.floor(u[:, 0] * 5).astype(int), np.floor(u[:, 1] * 4).astype(int)
    for n in range(6):
        np.testing.assert_array_equal(y[n], imgs[n, oh[n]:oh[n] + 5, ow[n]:ow[n] + 4])


# ----------------------------------------------------------------------------- Keras semantics
def test_flip_uses_its_seed_stream(imgs):
    layer = L.RandomFlip("horizontal", seed=11)
    y0 = layer(imgs, training=True).numpy()
    y1 = layer(imgs, training=True).numpy()
    np.testing.assert_array_equal(y0, np.asarray(_C.flip_images(A(imgs), True, False, 11, 0)))
    np.testing.assert_array_equal(y1, np.asarray(_C.flip_images(A(imgs), True, False, 11, 1)))
    # same seed, fresh layer -> same decisions
    np.testing.assert_array_equal(L.RandomFlip("horizontal", seed=11)(imgs, training=True).numpy(), y0)


def test_rotation_matches_keras_matrix(imgs):
    layer = L.RandomRotation((-0.1, 0.2), fill_mode="wrap", seed=4)
    y = layer(imgs, training=True).numpy()
    u = lanes(4, 0, 6)[:, 0]
    ang = -0.1 * 2 * math.pi + (0.3 * 2 * math.pi) * u
    H, W = 9, 7
    c, s = np.cos(ang), np.sin(ang)
    xo = ((W - 1) - (c * (W - 1) - s * (H - 1))) / 2
    yo = ((H - 1) - (s * (W - 1) + c * (H - 1))) / 2
    p = np.stack([c, -s, xo, s, c, yo, 0 * c, 0 * c], 1)
    np.testing.assert_allclose(y, ref_affine(imgs, p, "bilinear", "wrap", 0.0), *TOL["conv"])


def test_rotation_quarter_turn_is_counter_clockwise(rng):
    x = rng.standard_normal((2, 6, 6, 2)).astype(np.float32)
    y = L.RandomRotation((0.25, 0.25), interpolation="nearest")(x, training=True).numpy()
    np.testing.assert_array_equal(y, np.rot90(x, 1, axes=(1, 2)))
    y = L.RandomRotation((0.25, 0.25))(x, training=True).numpy()
    np.testing.assert_allclose(y, np.rot90(x, 1, axes=(1, 2)), *TOL["conv"])


def test_translation_shifts_down_and_right(rng):
    x = rng.standard_normal((2, 8, 8, 1)).astype(np.float32)
    y = L.RandomTranslation((0.25, 0.25), (0.125, 0.125), fill_mode="constant", fill_value=-1.0)(
        x, training=True).numpy()
    ref = np.full_like(x, -1.0)
    ref[:, 2:, 1:] = x[:, :6, :7]
    np.testing.assert_array_equal(y, ref)


def test_zoom_matches_keras_matrix_and_direction(imgs):
    layer = L.RandomZoom((-0.3, 0.4), (0.1, 0.2), fill_mode="nearest", seed=9)
    y = layer(imgs, training=True).numpy()
    u = lanes(9, 0, 6)
    zy, zx = 1 + (-0.3 + 0.7 * u[:, 0]), 1 + (0.1 + 0.1 * u[:, 1])
    H, W = 9, 7
    z = 0 * zx
    p = np.stack([zx, z, (W - 1) / 2 * (1 - zx), z, zy, (H - 1) / 2 * (1 - zy), z, z], 1)
    np.testing.assert_allclose(y, ref_affine(imgs, p, "bilinear", "nearest", 0.0), *TOL["conv"])
    # a positive factor zooms out: with constant fill the border becomes fill_value
    ones = np.ones((1, 9, 9, 1), np.float32)
    out = L.RandomZoom((0.5, 0.5), fill_mode="constant")(ones, training=True).numpy()
    assert out[0, 0, 0, 0] == 0.0 and out[0, 4, 4, 0] == 1.0
    # width_factor=None: the same zoom on both axes
    sq = np.random.default_rng(0).standard_normal((3, 8, 8, 1)).astype(np.float32)
    a = L.RandomZoom(0.3, seed=2)(sq, training=True).numpy()
    b = L.RandomZoom(0.3, seed=2)(np.swapaxes(sq, 1, 2).copy(), training=True).numpy()
    np.testing.assert_allclose(np.swapaxes(a, 1, 2), b, *TOL["conv"])


# ----------------------------------------------------------------------------- fit
def _cnn(aug, seed=0):
    fn.random.seed(seed)
    return fn.Sequential([L.Input((10, 10, 1))] + aug + [
        L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(), L.Dense(3, activation="softmax")])


def _data(n=64):
    rng = np.random.default_rng(5)
    x = rng.random((n, 10, 10, 1)).astype(np.float32)
    y = (x[:, :5].mean(axis=(1, 2, 3)) > x[:, 5:].mean(axis=(1, 2, 3))).astype(np.int64) + \
        (x.mean(axis=(1, 2, 3)) > 0.5)
    return x, y


def _aug_layers():
    return [L.RandomFlip("horizontal", seed=1), L.RandomRotation(0.05, seed=2), L.RandomTranslation(0.1, 0.1, seed=3),
            L.RandomZoom(0.1, seed=4)]


def test_fit_with_augmentation_uses_fast_path_and_is_deterministic():
    x, y = _data()
    weights = []
    for _ in range(2):
        m = _cnn(_aug_layers())
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        h = m.fit(x, y, epochs=2, batch_size=16, verbose=0)
        assert not m._get_plan().tape_layers
        assert all(np.isfinite(h.history["loss"]))
        weights.append(m.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    # augmentation actually changed training: differs from the same model without it
    m2 = _cnn([])
    m2.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    m2.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=True)
    assert not np.array_equal(m2.get_weights()[0], weights[0][0])


def test_predict_and_evaluate_ignore_augmentation():
    x, y = _data(20)
    m = _cnn(_aug_layers() + [L.RandomCrop(10, 10)])
    plain = _cnn([])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    plain.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    plain.set_weights(m.get_weights())
    np.testing.assert_array_equal(m.predict(x, verbose=0), plain.predict(x, verbose=0))
    assert m.evaluate(x, y, verbose=0) == plain.evaluate(x, y, verbose=0)


def test_fit_with_random_crop_and_zero_padding():
    x, y = _data()
    fn.random.seed(0)
    m = fn.Sequential([L.Input((10, 10, 1)), L.ZeroPadding2D(2), L.RandomCrop(10, 10, seed=1),
                       L.Conv2D(4, 3, activation="relu"), L.ZeroPadding2D(((1, 0), (0, 1))),
                       L.Conv2D(2, 3), L.Cropping2D(1), L.Flatten(), L.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    h = m.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert not m._get_plan().tape_layers
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert m.predict(x[:3], verbose=0).shape == (3, 3)


class _Scale(L.Layer):      # a custom (tape-only) layer forces the generic tape path
    def build(self, input_shape):
        self.w = self.add_weight((1,), initializer="ones")

    def call(self, x, training=None):
        return x * self.w


def test_fit_tape_path_with_augmentation_and_error_mid_network():
    x, y = _data(32)
    m = _cnn([L.RandomFlip(seed=1), L.RandomRotation(0.05, seed=2), _Scale()])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert m._get_plan().tape_layers
    # augmentation after a trainable layer: gradients would have to cross it -> clear error
    bad = _cnn([_Scale(), L.RandomRotation(0.05)])
    bad.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="cannot backpropagate through a random augmentation"):
        bad.fit(x, y, epochs=1, batch_size=16, verbose=0)
    bad2 = _cnn([L.Conv2D(1, 1, padding="same"), L.RandomFlip()])
    bad2.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="cannot backpropagate"):
        bad2.fit(x, y, epochs=1, batch_size=16, verbose=0)


# ----------------------------------------------------------------------------- padding layers
def test_zero_padding_and_cropping_layers_gradients(rng):
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    for layer, fwd in [(L.ZeroPadding2D(((1, 2), (0, 3))), lambda a: np.pad(a, ((0, 0), (1, 2), (0, 3), (0, 0)))),
                       (L.ZeroPadding2D(1), lambda a: np.pad(a, ((0, 0), (1, 1), (1, 1), (0, 0)))),
                       (L.ZeroPadding2D((2, 0)), lambda a: np.pad(a, ((0, 0), (2, 2), (0, 0), (0, 0)))),
                       (L.Cropping2D(((1, 0), (2, 1))), lambda a: a[:, 1:, 2:4])]:
        xt = Tensor(x, requires_grad=True)
        out = layer(xt)
        np.testing.assert_array_equal(out.numpy(), fwd(x))
        assert layer.compute_output_shape((None,) + x.shape[1:]) == (None,) + out.shape[1:]
        G = rng.standard_normal(out.shape).astype(np.float32)
        out.backward(Tensor(G))
        # d/dx sum(G * f(x)) = f^T G; for both ops f^T G == the adjoint, checked via inner products
        np.testing.assert_allclose(np.sum(xt.grad.numpy().astype(np.float64) * x),
                                   np.sum(G.astype(np.float64) * fwd(x)), *TOL["reduce"])


def test_config_round_trip():
    for layer in [L.RandomFlip("vertical", seed=3), L.RandomRotation((-0.1, 0.2), fill_mode="constant", fill_value=1.0),
                  L.RandomTranslation(0.1, 0.2, interpolation="nearest"), L.RandomZoom(0.2, (0.1, 0.3)),
                  L.RandomCrop(4, 5, seed=1), L.ZeroPadding2D(((1, 2), (3, 4))), L.Cropping2D(2)]:
        cfg = L.serialize(layer)
        again = L.deserialize(cfg)
        assert type(again) is type(layer)
        c1, c2 = layer.get_config(), again.get_config()
        c1.pop("name"), c2.pop("name")
        assert c1 == c2


# ----------------------------------------------------------------------------- errors
def test_errors(imgs):
    with pytest.raises(ValueError, match="expects a 4-D batch of images"):
        L.RandomFlip()(imgs[0], training=True)
    with pytest.raises(ValueError, match="expects a 4-D batch"):
        L.RandomRotation(0.1)(imgs[0])
    with pytest.raises(ValueError, match=r"factor must be within \[-1.0, 1.0\]"):
        L.RandomRotation(1.5)
    with pytest.raises(ValueError, match="factor cannot be negative"):
        L.RandomRotation(-0.1)
    with pytest.raises(ValueError, match="lower bound 0.3 is greater than the upper bound 0.1"):
        L.RandomTranslation((0.3, 0.1), 0.1)
    with pytest.raises(ValueError, match=r"width_factor must be within"):
        L.RandomTranslation(0.1, (0.0, 1.2))
    with pytest.raises(ValueError, match="height_factor must be >= -1.0"):
        L.RandomZoom((-1.5, 0.2))
    with pytest.raises(ValueError, match="fill_mode must be one of"):
        L.RandomRotation(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="interpolation must be one of"):
        L.RandomZoom(0.1, interpolation="bicubic")
    with pytest.raises(ValueError, match="mode must be one of"):
        L.RandomFlip("diagonal")
    with pytest.raises(ValueError, match=r"crop size \(12, 4\) is larger than the input images"):
        L.RandomCrop(12, 4)(imgs, training=True)
    with pytest.raises(ValueError, match="crop size"):
        fn.Sequential([L.Input((8, 8, 1)), L.RandomCrop(9, 9)])
    with pytest.raises(ValueError, match="height must be a positive integer"):
        L.RandomCrop(0, 3)
    with pytest.raises(ValueError, match="padding must be an int"):
        L.ZeroPadding2D((1, 2, 3))
    with pytest.raises(ValueError, match="leaves nothing"):
        L.Cropping2D(5)(imgs)
