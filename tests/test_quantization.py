"""fusednet.quantization: weight / activation quantization formulas, quantize() on Sequential and
functional models (layer replacement, BN folding, static calibration, original untouched),
inference-only errors, int8 saving (4x smaller), and the MNIST accuracy target (issue 13)."""
import glob
import os
import zipfile

import numpy as np
import pytest

import fusednet as fn
from fusednet import _C, layers as L, quantization as Q
from fusednet.quantization import QuantizedConv2D, QuantizedDense
from tolerances import TOL

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- formulas
def test_quantize_weights_per_channel_and_per_tensor():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 3, 4, 7)).astype(np.float32)
    w[..., 2] = 0.0   # an all-zero channel: scale 1, codes 0
    q, s = Q.quantize_weights(w)
    w2 = w.reshape(-1, 7)
    amax = np.abs(w2).max(0)
    want_s = np.where(amax > 0, amax / np.float32(127), 1).astype(np.float32)
    np.testing.assert_array_equal(s, want_s)
    np.testing.assert_array_equal(q.reshape(-1, 7), np.clip(np.rint(w2 / want_s), -127, 127).astype(np.int8))
    assert q.dtype == np.int8 and q.shape == w.shape and np.abs(q).max() == 127 and not q[..., 2].any()
    assert np.all(np.abs(q * s - w) <= s * 0.5 + 1e-7)  # half a step
    qt, st = Q.quantize_weights(w, per_channel=False)
    assert np.all(st == np.abs(w).max() / np.float32(127))
    with pytest.raises(ValueError, match="NaN or inf"):
        Q.quantize_weights(np.array([[np.nan]], np.float32))


def test_activation_qparams_equal_the_native_dynamic_ones():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 50)).astype(np.float32) * np.float32(3)
    x[2] = np.abs(x[2])
    x[3] = -np.abs(x[3])
    _, s, zp = _C.quantize_rows(fn.asarray(x))
    for i in range(6):
        assert Q.activation_qparams(x[i].min(), x[i].max()) == (float(s[i]), int(zp[i]))
    assert Q.activation_qparams(0.0, 0.0) == (1.0, 0)


# ---------------------------------------------------------------- models
def _cnn_bn(seed=0):
    fn.random.set_random_seed(seed)
    m = fn.Sequential([L.Input((12, 12, 3)), L.Conv2D(8, 3, padding="same"), L.BatchNormalization(), L.ReLU(),
                       L.MaxPooling2D(), L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
                       L.Dense(20, activation="relu"), L.Dense(5, activation="softmax")])
    rng = np.random.default_rng(seed)
    bn = m.layers[1]
    # non-trivial BN statistics, so folding matters
    bn.set_weights([rng.uniform(0.5, 2, 8), rng.standard_normal(8), rng.standard_normal(8) * 0.3,
                    rng.uniform(0.2, 3, 8)])
    return m


def _x(n=40, seed=3, shape=(12, 12, 3)):
    return np.random.default_rng(seed).standard_normal((n,) + shape).astype(np.float32)


def _rel_err(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_quantize_sequential_cnn_replaces_folds_and_stays_close(mode):
    m = _cnn_bn()
    x = _x()
    before = m.get_weights()
    yf = m.predict(x, verbose=0)
    q = Q.quantize(m, x if mode == "static" else None, mode=mode)
    assert [type(l).__name__ for l in q.layers] == ["QuantizedConv2D", "Identity", "ReLU", "MaxPooling2D",
                                                    "QuantizedConv2D", "MaxPooling2D", "Flatten",
                                                    "QuantizedDense", "QuantizedDense"]
    assert [l.name for l in q.layers] == [l.name for l in m.layers]
    # the original is untouched
    assert [type(l).__name__ for l in m.layers][:2] == ["Conv2D", "BatchNormalization"]
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(m.predict(x, verbose=0), yf)
    yq = q.predict(x, verbose=0)
    assert yq.shape == yf.shape
    assert np.abs(yq - yf).max() < 0.02, np.abs(yq - yf).max()   # softmax probabilities
    for l in q.layers:
        if isinstance(l, (QuantizedDense, QuantizedConv2D)):
            assert l.mode == mode and l.w_q.dtype == np.int8 and l.w_scale.dtype == np.float32
            assert (l.in_scale is None) == (mode == "dynamic")
            assert l.activation in ("linear", "relu", "softmax") and l.bias.dtype == np.float32


def test_bn_folding_matches_float_conv_bn():
    m = _cnn_bn(1)
    x = _x(8, 5)
    q = Q.quantize(m)
    conv, bn = m.layers[0], m.layers[1]
    qc = q.layers[0]
    g = bn.gamma.numpy() / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    wf = conv.kernel.numpy() * g
    np.testing.assert_allclose(qc.w_q * qc.w_scale, wf, atol=float(np.abs(wf).max() / 127 * 0.5 + 1e-6))
    np.testing.assert_allclose(qc.bias, (conv.bias.numpy() - bn.moving_mean.numpy()) * g + bn.beta.numpy(),
                               rtol=1e-5, atol=1e-6)
    # first block output: float Conv->BN vs the folded int8 conv
    sub_f = fn.Sequential([L.Input((12, 12, 3)), L.Conv2D(8, 3, padding="same"), L.BatchNormalization()])
    sub_f.set_weights(m.get_weights()[:6])
    ref = sub_f.predict(x, verbose=0)
    got = np.asarray(qc(x).numpy())
    assert _rel_err(got, ref) < 0.03


def test_functional_model_fold_only_single_consumer_and_static_scales():
    fn.random.set_random_seed(2)
    inp = L.Input((10, 10, 2))
    a = L.Conv2D(4, 3, padding="same")(inp)
    b = L.BatchNormalization()(a)              # a feeds BN only: folded
    c = L.Conv2D(4, 3, padding="same")(L.ReLU()(b))
    d = L.BatchNormalization()(c)              # c also feeds the Add: not folded
    e = L.Add()([c, d])
    out = L.Dense(3)(L.Flatten()(e))
    m = fn.Model(inp, out)
    x = _x(30, 7, (10, 10, 2))
    q = Q.quantize(m, x, mode="static")
    kinds = {l.name: type(l).__name__ for l in q.layers}
    assert kinds[b.layer.name] == "Identity" and kinds[d.layer.name] == "BatchNormalization"
    assert kinds[a.layer.name] == kinds[c.layer.name] == "QuantizedConv2D"
    # the first conv's calibrated input range is the data's
    assert (q.get_layer(a.layer.name).in_scale, q.get_layer(a.layer.name).in_zero_point) == \
        Q.activation_qparams(x.min(), x.max())
    yf, yq = m.predict(x, verbose=0), q.predict(x, verbose=0)
    assert _rel_err(yq, yf) < 0.05


def test_percentile_calibration_and_iterable_batches():
    fn.random.set_random_seed(4)
    m = fn.Sequential([L.Input((30,)), L.Dense(8, activation="relu"), L.Dense(2)])
    x = np.random.default_rng(0).standard_normal((64, 30)).astype(np.float32)
    q = Q.quantize(m, [x[:32], (x[32:], None)], mode="static", calibration="percentile", percentile=99.0)
    p0, p1 = np.percentile(x[:32], [1.0, 99.0]), np.percentile(x[32:], [1.0, 99.0])
    lo, hi = np.mean([float(p0[0]), float(p1[0])]), np.mean([float(p0[1]), float(p1[1])])
    assert (q.layers[0].in_scale, q.layers[0].in_zero_point) == Q.activation_qparams(lo, hi)
    q2 = Q.quantize(m, x, mode="static", batch_size=16)
    assert (q2.layers[0].in_scale, q2.layers[0].in_zero_point) == Q.activation_qparams(x.min(), x.max())


def test_every_isa_gives_the_same_predictions():
    m = _cnn_bn(2)
    x = _x(9, 1)
    for mode in ["dynamic", "static"]:
        q = Q.quantize(m, x if mode == "static" else None, mode=mode)
        outs = []
        for isa in ["portable", "avx2", "avx512-vnni"]:
            for l in q.layers:
                if isinstance(l, (QuantizedDense, QuantizedConv2D)):
                    l.isa = isa
            outs.append(q.predict(x, verbose=0))
        for o in outs[1:]:
            np.testing.assert_array_equal(o, outs[0])


def test_quantized_dense_rank3_and_direct_call():
    fn.random.set_random_seed(5)
    m = fn.Sequential([L.Input((4, 6)), L.Dense(5, activation="tanh")])
    q = Q.quantize(m, min_depth=1)
    x = _x(3, 2, (4, 6))
    y = q.predict(x, verbose=0)
    assert y.shape == (3, 4, 5)
    l = q.layers[0]
    want = np.asarray(_C.qdense(fn.asarray(x.reshape(12, 6)), _C.QWeight(l.w_q), fn.asarray(l.w_scale),
                                fn.asarray(l.bias), None, 0, "tanh")).reshape(3, 4, 5)
    np.testing.assert_array_equal(y, want)
    assert _rel_err(y, m.predict(x, verbose=0)) < 0.05


def test_inference_only_and_bad_arguments():
    fn.random.set_random_seed(6)
    m = fn.Sequential([L.Input((5,)), L.Dense(4), L.Dense(2)])
    q = Q.quantize(m, min_depth=1)
    with pytest.raises(RuntimeError, match="quantized layers are inference-only"):
        q.layers[0].backward(None, None, True)
    assert q.trainable_weights == []
    # a trainable float layer in front of a quantized one needs its backward: fit fails clearly
    mixed = fn.Sequential([L.Input((5,)), L.Dense(4), L.Dense(2)])
    qm = Q.quantize(fn.Sequential([L.Input((4,)), L.Dense(2)]), min_depth=1)
    mixed2 = fn.Sequential([L.Input((5,)), mixed.layers[0], qm.layers[0]])
    mixed2.compile("sgd", "mse")
    with pytest.raises(ValueError, match=f"layer '{qm.layers[0].name}'.*inference-only"):
        mixed2.fit(np.ones((4, 5), np.float32), np.ones((4, 2), np.float32), verbose=0)
    with pytest.raises(ValueError, match="mode must be"):
        Q.quantize(m, mode="int4", min_depth=1)
    with pytest.raises(ValueError, match="needs calibration_data"):
        Q.quantize(m, mode="static", min_depth=1)
    with pytest.raises(ValueError, match="calibration must be"):
        Q.quantize(m, np.ones((2, 5), np.float32), mode="static", calibration="kl", min_depth=1)
    with pytest.raises(ValueError, match="no Dense or Conv2D"):
        Q.quantize(fn.Sequential([L.Input((5,)), L.ReLU()]))
    with pytest.raises(ValueError, match="min_depth=16"):
        Q.quantize(m)   # both kernels have depth < 16: nothing worth quantizing
    with pytest.raises(ValueError, match="not built"):
        Q.quantize(fn.Sequential([L.Dense(3)]))
    with pytest.raises(TypeError, match="Sequential or functional"):
        Q.quantize(np.zeros(3))
    with pytest.raises(ValueError, match=r"\[-127, 127\]"):
        q.layers[0].set_weights([np.full((5, 4), 200), np.ones(4), np.zeros(4)])
    with pytest.raises(ValueError, match="integers"):
        q.layers[0].set_weights([np.full((5, 4), 0.5), np.ones(4), np.zeros(4)])
    with pytest.raises(ValueError, match="in_zero_point"):
        QuantizedDense(3, in_scale=0.1, in_zero_point=256)


# ---------------------------------------------------------------- saving
@pytest.mark.parametrize("ext", [".keras", ".fnet"])
def test_save_load_int8_round_trip_and_4x_smaller(tmp_path, ext):
    fn.random.set_random_seed(7)
    m = fn.Sequential([L.Input((784,)), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")])
    x = np.random.default_rng(0).uniform(0, 1, (50, 784)).astype(np.float32)
    for mode in ["dynamic", "static"]:
        q = Q.quantize(m, x if mode == "static" else None, mode=mode)
        ff, fq = str(tmp_path / ("f" + ext)), str(tmp_path / (mode + ext))
        m.save(ff)
        q.save(fq)
        from fusednet.io.fnet import read_archive
        w = read_archive(fq)["weights"]
        for l in m.layers:
            assert w[f"{l.name}/kernel"].dtype == np.int8 and w[f"{l.name}/kernel_scale"].dtype == np.float32
        ratio = os.path.getsize(ff) / os.path.getsize(fq)
        assert ratio > 3.8, ratio
        back = fn.models.load_model(fq)
        assert [type(l) for l in back.layers] == [QuantizedDense, QuantizedDense]
        for a, b in zip(back.layers, q.layers):
            np.testing.assert_array_equal(a.w_q, b.w_q)
            assert (a.in_scale, a.in_zero_point) == (b.in_scale, b.in_zero_point)
        np.testing.assert_array_equal(back.predict(x, verbose=0), q.predict(x, verbose=0))
        with zipfile.ZipFile(fq) as z:
            assert "model.weights.safetensors" in z.namelist()


# ---------------------------------------------------------------- MNIST accuracy (issue 13 target)
def _mnist_dir():
    for d in [os.environ.get("FUSEDNET_MNIST", ""), os.path.join(HERE, "..", "..", "shared", "data", "mnist"),
              os.path.join(HERE, "..", "..", "..", "..", "shared", "data", "mnist")]:
        if d and glob.glob(os.path.join(d, "t10k-images*")):
            return d
    pytest.skip("MNIST files (shared/data/mnist) not found")


def _mnist():
    from fusednet.datasets import mnist
    return mnist.load_test_split(_mnist_dir(), download=False)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_mnist_int8_accuracy_within_half_a_point(arch):
    (xt, yt), (xv, yv) = _mnist()
    shape = (784,) if arch == "mlp" else (28, 28, 1)
    xt = (xt.reshape((-1,) + shape) / 255.0).astype(np.float32)
    xv = (xv.reshape((-1,) + shape) / 255.0).astype(np.float32)
    fn.random.set_random_seed(0)
    if arch == "mlp":
        m = fn.Sequential([L.Input(shape), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")])
        epochs, bs = 3, 32
    else:
        m = fn.Sequential([L.Input(shape), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(),
                           L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
                           L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")])
        epochs, bs = 1, 64
    m.compile(fn.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    m.fit(xt, yt.astype(np.int64), batch_size=bs, epochs=epochs, verbose=0)
    acc_f = 100 * float(np.mean(np.argmax(m.predict(xv, verbose=0), 1) == yv))
    assert acc_f > 93
    for mode in ["dynamic", "static"]:
        q = Q.quantize(m, xt[:1000] if mode == "static" else None, mode=mode)
        kinds = [type(l).__name__ for l in q.layers]
        assert kinds.count("QuantizedDense") == 2 and kinds.count("QuantizedConv2D") == (1 if arch == "cnn" else 0)
        acc_q = 100 * float(np.mean(np.argmax(q.predict(xv, verbose=0), 1) == yv))
        print(arch, mode, "float32", acc_f, "int8", acc_q)
        assert acc_q >= acc_f - TOL["quant_accuracy_points"], (arch, mode, acc_f, acc_q)


def test_quantize_example_runs():
    import importlib.util
    data = _mnist_dir()   # skips without the data
    spec = importlib.util.spec_from_file_location("quantize_mnist", os.path.join(HERE, "..", "examples",
                                                                                 "quantize_mnist.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(["--epochs", "1", "--limit", "2000", "--arch", "mlp", "--data", data])
    assert res["mlp", "float32"] > 80
    assert abs(res["mlp", "int8 static"] - res["mlp", "float32"]) < 2
