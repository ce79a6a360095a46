"""The device model end to end: the same seeded MLP trained on the CPU and on CUDA.

Every test is marked ``cuda`` and skips itself without a device (conftest.py). Checks:
* identical initial weights (Philox init on the host, then moved) and identical dropout masks
  (Philox on the device gives the CPU's bits, DESIGN invariant 6);
* the seed MLP (784-128-10, Adam, batch 32) reaches the same accuracy on both devices, within
  0.3 points, on the project's 8k/2k MNIST split (synthetic digits-like data when the shared
  MNIST files are absent);
* mixing devices in one op is a ValueError naming both devices;
* DLPack exchange with torch CUDA tensors shares memory (no copies), both directions.
"""
import os

import numpy as np
import pytest

import fusednet as fn
from fusednet import _C
from fusednet.layers import Dense, Dropout, Input

pytestmark = pytest.mark.cuda

HERE = os.path.dirname(os.path.abspath(__file__))
MNIST_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data", "mnist"))


def _data():
    """(x_train, y_train, x_test, y_test): MNIST test set split 8k/2k, or a synthetic stand-in."""
    try:
        from fusednet.datasets import mnist
        (x_tr, y_tr), (x_te, y_te) = mnist.load_test_split(MNIST_DIR, download=False)
        flat = lambda a: a.reshape(len(a), 784).astype(np.float32) / 255.0  # noqa: E731
        return flat(x_tr), y_tr.astype(np.int64), flat(x_te), y_te.astype(np.int64)
    except Exception:
        r = np.random.default_rng(0)
        centers = r.normal(size=(10, 784)).astype(np.float32)
        y = r.integers(0, 10, size=10000)
        x = (centers[y] + 1.5 * r.normal(size=(10000, 784))).astype(np.float32)
        return x[:8000], y[:8000].astype(np.int64), x[8000:], y[8000:].astype(np.int64)


def _mlp(dropout=0.0):
    fn.clear_session()
    fn.random.set_random_seed(0)
    layers = [Input((784,)), Dense(128, activation="relu")]
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(Dense(10, activation="softmax"))
    return fn.Sequential(layers)


def _weights(model):
    return [np.array(w, copy=True) for w in model.get_weights()]


def test_identical_initial_weights():
    a = _weights(_mlp())
    m = _mlp()
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", device="cuda")
    assert all(w.data.device.startswith("cuda") for w in m.weights)
    b = _weights(m)
    assert len(a) == len(b)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)


def test_identical_dropout_masks():
    x = np.random.default_rng(3).normal(size=(37, 129)).astype(np.float32)
    out = {}
    for dev in ("cpu", "cuda"):
        fn.random.seed(11)
        arr = _C.asarray(x) if dev == "cpu" else _C.asarray(x).to("cuda")
        y = Dropout(0.3)(fn.Tensor(arr), training=True)
        out[dev] = np.array(y.data.to("cpu").numpy(), copy=True)
    np.testing.assert_array_equal(out["cpu"], out["cuda"])
    assert 0.2 < float(np.mean(out["cpu"] == 0)) < 0.4


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_mlp_cpu_vs_cuda_accuracy(dropout):
    x_tr, y_tr, x_te, y_te = _data()
    acc = {}
    for dev in ("cpu", "cuda"):
        m = _mlp(dropout)
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  device=dev)
        fn.random.seed(5)  # same shuffles and dropout masks on both devices
        m.fit(x_tr, y_tr, epochs=2, batch_size=32, verbose=0)
        res = m.evaluate(x_te, y_te, verbose=0)
        acc[dev] = float(res[-1] if isinstance(res, (list, tuple)) else res)
    assert acc["cpu"] > 0.8, acc
    assert abs(acc["cpu"] - acc["cuda"]) <= 0.003, acc


def test_predict_on_cuda_model_matches_cpu():
    x_tr, y_tr, x_te, _ = _data()
    m = _mlp()
    p_cpu = np.asarray(m.predict(x_te[:257], verbose=0))
    m.to("cuda")
    p_gpu = np.asarray(m.predict(x_te[:257], verbose=0))
    np.testing.assert_allclose(p_gpu, p_cpu, rtol=1e-4, atol=1e-5)


def test_mixed_device_op_is_value_error():
    a = _C.asarray(np.ones((3, 4), np.float32))
    b = a.to("cuda")
    with pytest.raises(ValueError, match="different devices"):
        _C.binary("add", a, b)
    with pytest.raises(ValueError, match="different devices"):
        _C.matmul(a, _C.asarray(np.ones((4, 2), np.float32)).to("cuda"))
    with pytest.raises(ValueError):
        fn.Tensor(a) + fn.Tensor(b)
    idx = _C.asarray(np.array([0, 1], np.int64))
    with pytest.raises(ValueError, match="different devices"):
        _C.take_rows(b, idx)


def test_dlpack_torch_cuda_zero_copy():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    t = torch.arange(12, dtype=torch.float32, device="cuda").reshape(3, 4)
    a = fn.from_dlpack(t)
    assert a.device.startswith("cuda")
    assert a.data_ptr == t.data_ptr()  # no copy in
    torch.cuda.synchronize()
    b = _C.scale(a, 2.0)
    fn.cuda.synchronize()
    t2 = torch.from_dlpack(b)
    assert t2.data_ptr() == b.data_ptr  # no copy out
    assert torch.equal(t2, 2 * t)
    t.add_(1.0)  # a mutation through torch is visible through the shared buffer
    torch.cuda.synchronize()
    np.testing.assert_array_equal(a.to("cpu").numpy(), (t.cpu()).numpy())
