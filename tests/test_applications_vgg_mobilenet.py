"""VGG16 / VGG19 / MobileNet v1 / ResNet101 against Keras 3 (torch backend): the same definition
built in Keras, saved as .weights.h5 / legacy .h5, loaded by name into fusednet, predictions
compared (small inputs keep CI fast); decode_predictions and preprocess_input against Keras."""
import json
import os

import numpy as np
import pytest

from fusednet import applications as apps
from tolerances import TOL


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("h5py")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras reference runs on its torch backend")
    return keras


def _random_bn(keras, model, rng):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.1, b.shape),
                               rng.normal(0, 0.1, m.shape), rng.uniform(0.5, 2.0, v.shape)])


def _rel(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())


def _compare(keras, km, fm_fn, x, tmp_path, fmt, kprep, fprep):
    path = str(tmp_path / ("m.weights.h5" if fmt == "weights.h5" else "m.h5"))
    km.save_weights(path) if fmt == "weights.h5" else km.save(path)
    fm = fm_fn(path)
    assert [l.name for l in fm.layers if l.weights] == [l.name for l in km.layers if l.weights]
    assert fm.count_params() == km.count_params()
    xp = fprep(x)
    np.testing.assert_array_equal(xp, np.asarray(kprep(x.copy())))
    y = np.asarray(km.predict(kprep(x.copy()), verbose=0))
    assert fm.output_shape == tuple(km.output_shape)
    rtol, _ = TOL["torch"]
    assert _rel(fm.predict(xp, verbose=0), y) < rtol
    return fm


# (each test builds one model per library, so auto-named layers keep equal counters in both)
@pytest.mark.parametrize("fmt", ["weights.h5"])      # legacy .h5 loading is covered by the ResNet50 tests
def test_vgg16_with_top_matches_keras(tmp_path, fmt):
    keras = _keras()
    km = keras.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=5)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    _compare(keras, km, lambda p: apps.VGG16(weights=p, input_shape=(32, 32, 3), classes=5), x, tmp_path, fmt,
             keras.applications.vgg16.preprocess_input, apps.vgg16.preprocess_input)


@pytest.mark.parametrize("pooling", [None, "max"])
def test_vgg19_notop_matches_keras(tmp_path, pooling):
    keras = _keras()
    km = keras.applications.VGG19(weights=None, include_top=False, input_shape=(37, 43, 3), pooling=pooling)
    x = np.random.default_rng(1).uniform(0, 255, (3, 37, 43, 3)).astype(np.float32)
    _compare(keras, km, lambda p: apps.VGG19(weights=p, include_top=False, input_shape=(37, 43, 3),
                                             pooling=pooling), x, tmp_path, "weights.h5",
             keras.applications.vgg19.preprocess_input, apps.vgg19.preprocess_input)


@pytest.mark.parametrize("alpha,shape,top", [(0.25, (64, 64, 3), True), (0.5, (47, 33, 3), False)])
def test_mobilenet_matches_keras(tmp_path, alpha, shape, top):
    keras = _keras()
    rng = np.random.default_rng(2)
    km = keras.applications.MobileNet(weights=None, input_shape=shape, alpha=alpha, classes=7, include_top=top,
                                      pooling=None if top else "avg")
    _random_bn(keras, km, rng)
    x = rng.uniform(0, 255, (2,) + shape).astype(np.float32)
    fm = _compare(keras, km, lambda p: apps.MobileNet(weights=p, input_shape=shape, alpha=alpha, classes=7,
                                                 include_top=top, pooling=None if top else "avg"),
             x, tmp_path, "weights.h5", keras.applications.mobilenet.preprocess_input,
             apps.mobilenet.preprocess_input)
    assert fm.name == km.name


def test_resnet101_matches_keras(tmp_path):
    keras = _keras()
    rng = np.random.default_rng(3)
    km = keras.applications.ResNet101(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    _random_bn(keras, km, rng)
    x = rng.uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)
    _compare(keras, km, lambda p: apps.ResNet101(weights=p, include_top=False, input_shape=(32, 32, 3),
                                                 pooling="avg"), x, tmp_path, "weights.h5",
             keras.applications.resnet.preprocess_input, apps.resnet.preprocess_input)


def test_resnet152_structure_matches_keras():
    keras = _keras()
    km = keras.applications.ResNet152(weights=None, include_top=False, input_shape=(32, 32, 3))
    fm = apps.ResNet152(weights=None, include_top=False, input_shape=(32, 32, 3))
    assert [l.name for l in fm.layers][1:] == [l.name for l in km.layers][1:]   # input names are counters
    assert fm.count_params() == km.count_params()


def _index(n):
    return {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(n)}


def _keras_decode(keras, preds, top, idx):
    from keras.src.applications import imagenet_utils as kiu
    old = kiu.CLASS_INDEX
    kiu.CLASS_INDEX = idx
    try:
        return kiu.decode_predictions(preds, top=top)
    finally:
        kiu.CLASS_INDEX = old


@pytest.mark.parametrize("top", [1, 5, 7])
def test_decode_predictions_matches_keras(tmp_path, monkeypatch, top):
    keras = _keras()
    idx = _index(1000)
    rng = np.random.default_rng(top)
    preds = rng.random((3, 1000)).astype(np.float32)
    preds[1, 17] = preds[1, 400] = 2.0                      # a tie
    ref = _keras_decode(keras, preds, top, idx)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "imagenet_class_index.json").write_text(json.dumps(idx))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    got = apps.decode_predictions(preds, top=top)            # from the Keras cache dir
    assert got == ref
    assert apps.vgg16.decode_predictions(preds, top=top, class_index=str(tmp_path / "models" /
                                                                          "imagenet_class_index.json")) == ref
    assert [len(r) for r in got] == [top] * 3 and got[1][0][2] == 2.0


def test_decode_predictions_custom_index_and_errors(tmp_path, monkeypatch):
    preds = np.array([[0.1, 0.7, 0.2]], np.float32)
    got = apps.decode_predictions(preds, top=2, class_index=_index(3))
    assert [(t[1], float(t[2])) for t in got[0]] == [("class_1", pytest.approx(0.7)), ("class_2", pytest.approx(0.2))]
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="does not download"):
        apps.decode_predictions(np.zeros((1, 1000), np.float32))
    with pytest.raises(ValueError, match=r"shape \(samples, 3\).*\(3,\)"):
        apps.decode_predictions(np.zeros(3), class_index=_index(3))
    with pytest.raises(ValueError, match="top must be"):
        apps.decode_predictions(preds, top=0, class_index=_index(3))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        apps.decode_predictions(preds, class_index=str(bad))


@pytest.mark.parametrize("family,mode", [("vgg16", "caffe"), ("vgg19", "caffe"), ("mobilenet", "tf"),
                                         ("resnet", "caffe"), ("mobilenet_v2", "tf")])
def test_preprocess_input_per_family_matches_keras(family, mode):
    keras = _keras()
    import importlib
    kmod = importlib.import_module(f"keras.src.applications.{family}")
    x = np.random.default_rng(4).uniform(0, 255, (2, 5, 7, 3)).astype(np.float32)
    got = getattr(apps, family).preprocess_input(x)
    np.testing.assert_allclose(got, np.asarray(kmod.preprocess_input(x.copy())), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(got, apps.imagenet_utils.preprocess_input(x, mode=mode), rtol=0, atol=0)


def test_application_argument_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="vgg16_weights_tf_dim_ordering_tf_kernels.h5"):
        apps.VGG16()
    with pytest.raises(FileNotFoundError, match="mobilenet_2_5_128_tf_no_top.h5"):
        apps.MobileNet(alpha=0.25, input_shape=(128, 128, 3), include_top=False)
    with pytest.raises(ValueError, match="VGG19: pooling"):
        apps.VGG19(weights=None, include_top=False, pooling="sum")
    with pytest.raises(ValueError, match="alpha"):
        apps.MobileNet(alpha=0.3)
    with pytest.raises(ValueError, match="classes=1000"):
        apps.VGG16(classes=10)
    with pytest.raises(ValueError, match="at least 32x32"):
        apps.MobileNet(weights=None, input_shape=(16, 16, 3), include_top=False)


@pytest.mark.parametrize("top,shape", [(True, (71, 71, 3)), (False, (79, 75, 3))])
def test_xception_matches_keras(tmp_path, top, shape):
    keras = _keras()
    rng = np.random.default_rng(5)
    km = keras.applications.Xception(weights=None, include_top=top, input_shape=shape, classes=4,
                                     pooling=None if top else "max")
    _random_bn(keras, km, rng)
    x = rng.uniform(0, 255, (2,) + shape).astype(np.float32)
    fm = _compare(keras, km, lambda p: apps.Xception(weights=p, include_top=top, input_shape=shape, classes=4,
                                                    pooling=None if top else "max"),
                  x, tmp_path, "weights.h5", keras.applications.xception.preprocess_input,
                  apps.xception.preprocess_input)
    assert fm.name == km.name and len(fm.layers) == len(km.layers)
