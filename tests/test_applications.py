"""fusednet.applications against the real thing: ResNet50 / MobileNetV2 built in Keras 3 (torch
backend), saved in Keras's formats, loaded by name into fusednet, predictions compared; ResNet18
against a PyTorch model with torchvision's module names, loaded from its state dict."""
import os

import numpy as np
import pytest

import fusednet
from fusednet import applications as apps
from fusednet.io.keras_h5 import load_keras_weights
from fusednet.io.torch_state import load_torch_state_dict
from conftest import requires_torch
from tolerances import TOL


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("h5py")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras reference runs on its torch backend")
    return keras


def _random_bn(keras, model, rng):
    """Non-trivial BatchNormalization statistics so the comparison exercises them."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.1, b.shape),
                               rng.normal(0, 0.1, m.shape), rng.uniform(0.5, 2.0, v.shape)])


def _rel(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())


@pytest.fixture(scope="module")
def keras_resnet50(tmp_path_factory):
    keras = _keras()
    rng = np.random.default_rng(0)
    km = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=7)
    _random_bn(keras, km, rng)
    d = tmp_path_factory.mktemp("r50")
    paths = {"weights.h5": str(d / "m.weights.h5"), "keras": str(d / "m.keras"), "legacy": str(d / "m.h5")}
    km.save_weights(paths["weights.h5"])
    km.save(paths["keras"])
    km.save(paths["legacy"])
    x = rng.uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    y = np.asarray(km.predict(keras.applications.resnet50.preprocess_input(x.copy()), verbose=0))
    return keras, km, paths, x, y


@pytest.mark.parametrize("fmt", ["weights.h5", "keras", "legacy"])
def test_resnet50_loads_keras_weights_and_matches(keras_resnet50, fmt):
    keras, km, paths, x, y = keras_resnet50
    fm = apps.ResNet50(weights=paths[fmt], input_shape=(64, 64, 3), classes=7)
    assert [l.name for l in fm.layers if l.weights] == [l.name for l in km.layers if l.weights]
    assert fm.count_params() == km.count_params()
    xp = apps.resnet50.preprocess_input(x)
    np.testing.assert_array_equal(xp, np.asarray(keras.applications.resnet50.preprocess_input(x.copy())))
    rtol, _ = TOL["torch"]
    assert _rel(fm.predict(xp, verbose=0), y) < rtol


def test_resnet50_notop_pooling_shapes():
    m = apps.ResNet50(include_top=False, weights=None, input_shape=(64, 64, 3))
    assert m.output_shape == (None, 2, 2, 2048)
    m = apps.ResNet50(include_top=False, weights=None, input_shape=(64, 64, 3), pooling="avg")
    assert m.output_shape == (None, 2048)
    assert apps.resnet50.ResNet50 is apps.ResNet50


def test_mobilenet_v2_matches_keras(tmp_path):
    keras = _keras()
    rng = np.random.default_rng(1)
    km = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35, classes=5)
    _random_bn(keras, km, rng)
    km.save_weights(str(tmp_path / "mb.weights.h5"))
    fm = apps.MobileNetV2(weights=str(tmp_path / "mb.weights.h5"), input_shape=(96, 96, 3), alpha=0.35, classes=5)
    assert fm.count_params() == km.count_params()
    x = rng.uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)
    y = np.asarray(km.predict(keras.applications.mobilenet_v2.preprocess_input(x.copy()), verbose=0))
    rtol, _ = TOL["torch"]
    assert _rel(fm.predict(apps.mobilenet_v2.preprocess_input(x), verbose=0), y) < rtol


def _torch_resnet18(classes):
    """ResNet18 written with torchvision's module names (conv1, bn1, layer1.0.conv1, ..., fc)."""
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return self.relu(y + (x if self.downsample is None else self.downsample(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin = 64
            for i, c in enumerate((64, 128, 256, 512), start=1):
                setattr(self, f"layer{i}", nn.Sequential(Block(cin, c, 1 if i == 1 else 2), Block(c, c, 1)))
                cin = c
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            for i in range(1, 5):
                x = getattr(self, f"layer{i}")(x)
            return self.fc(self.avgpool(x).flatten(1))
    return Net()


@requires_torch
@pytest.mark.parametrize("source", ["dict", "safetensors", "pt"])
def test_resnet18_matches_torch_state_dict(tmp_path, source):
    import torch
    torch.manual_seed(0)
    tm = _torch_resnet18(10).eval()
    with torch.no_grad():
        for mod in tm.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.1, 0.1)
    sd = tm.state_dict()
    if source == "dict":
        weights = None
    elif source == "safetensors":
        weights = str(tmp_path / "r18.safetensors")
        fusednet.io.weights.save_weights(weights, {k: v.numpy() for k, v in sd.items()})
    else:
        weights = str(tmp_path / "r18.pt")
        torch.save(sd, weights)
    fm = apps.ResNet18(input_shape=(33, 47, 3), classes=10, weights=weights, classifier_activation=None)
    if source == "dict":
        load_torch_state_dict(fm, sd)
    x = np.random.default_rng(2).normal(size=(2, 33, 47, 3)).astype(np.float32)
    with torch.no_grad():
        ref = tm(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    rtol, _ = TOL["torch"]
    assert _rel(fm.predict(x, verbose=0), ref) < rtol


def test_resnet18_trains_on_small_images():
    fusednet.random.seed(0)
    m = apps.ResNet18(input_shape=(32, 32, 3), classes=3, weights=None)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 48)
    x = rng.normal(size=(48, 32, 32, 3)).astype(np.float32)
    x[..., 0] += y[:, None, None] - 1.0          # a learnable signal in channel 0
    m.compile(fusednet.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    before = m.evaluate(x, y, verbose=0)
    m.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert m.evaluate(x, y, verbose=0) < before


def test_weight_errors_are_clear(tmp_path, keras_resnet50):
    keras, km, paths, x, y = keras_resnet50
    with pytest.raises(FileNotFoundError, match="fusednet does not download"):
        apps.ResNet50(weights="imagenet")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        apps.ResNet50(weights=str(tmp_path / "nope.h5"))
    small = apps.ResNet50(weights=None, input_shape=(64, 64, 3), classes=3)
    with pytest.raises(ValueError, match=r"predictions.*\(2048, 3\).*\(2048, 7\)"):
        load_keras_weights(small, paths["weights.h5"])
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(ValueError, match="bad.h5"):
        load_keras_weights(small, str(bad))
    with pytest.raises(ValueError, match="at least 32x32"):
        apps.ResNet50(weights=None, input_shape=(16, 16, 3), include_top=False)


def test_layer_order_is_keras_order():
    """model.layers (and so get_weights) in Keras's order: by depth, InputLayers included."""
    keras = _keras()

    def build(L, M):
        i = L.Input((8, 8, 3), name="inp")
        i2 = L.Input((5,), name="aux")
        a = L.Conv2D(4, 3, padding="same", name="c1")(i)
        b = L.Conv2D(4, 1, name="sc")(i)
        a = L.Conv2D(4, 3, padding="same", name="c2")(a)
        x = L.Add(name="add")([b, a])
        shared = L.Dense(5, name="shared")
        y = L.Dense(5, name="d1")(L.Flatten(name="fl")(x))
        return M([i, i2], L.Add(name="add2")([shared(y), shared(i2)]))
    assert [l.name for l in build(fusednet.layers, fusednet.Model).layers] == \
        [l.name for l in build(keras.layers, keras.Model).layers]
    k = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35)
    f = apps.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35)
    assert [type(l).__name__ == "InputLayer" for l in f.layers] == \
        [isinstance(l, keras.layers.InputLayer) for l in k.layers]
    assert [l.name for l in f.layers][1:] == [l.name for l in k.layers][1:]


def test_freezing_a_base_model_freezes_its_layers_and_bn_statistics():
    """Keras 3: base.trainable = False sets every layer; frozen BN runs in inference mode in fit,
    so neither the base's weights nor its moving statistics change while the head trains."""
    fusednet.random.seed(0)
    base = apps.ResNet18(include_top=False, weights=None, input_shape=(32, 32, 3))
    base.trainable = False
    assert all(not l.trainable for l in base.layers)
    x = fusednet.layers.GlobalAveragePooling2D()(base.output)
    model = fusednet.Model(base.input, fusednet.layers.Dense(2, activation="softmax")(x))
    before = [w.copy() for w in base.get_weights()]
    rng = np.random.default_rng(0)
    model.compile("adam", "sparse_categorical_crossentropy")
    head0 = model.layers[-1].get_weights()[0].copy()
    model.fit(rng.normal(size=(16, 32, 32, 3)).astype(np.float32), rng.integers(0, 2, 16), epochs=1,
              batch_size=8, verbose=0)
    for a, b in zip(before, base.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(head0, model.layers[-1].get_weights()[0])
    base.trainable = True
    for layer in base.layers[:-5]:
        layer.trainable = False
    assert [l.trainable for l in base.layers[-5:]] == [True] * 5 and not base.layers[3].trainable


def test_application_takes_fusednet_weight_files(tmp_path):
    fusednet.random.seed(4)
    a = apps.ResNet18(include_top=False, weights=None, input_shape=(32, 32, 3))
    a.save_weights(str(tmp_path / "r18.weights.safetensors"))
    b = apps.ResNet18(include_top=False, weights=str(tmp_path / "r18.weights.safetensors"),
                      input_shape=(32, 32, 3))
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
