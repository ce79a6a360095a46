"""Post-training int8 quantization of the seed MLP (784-128-10) and CNN
(conv32-pool-conv64-pool-dense128-dense10) on the project's offline MNIST split (8,000 / 2,000):
train in float32, quantize dynamically and statically (1,000 calibration images), compare test
accuracy, file size on disk and predict time, and export the static model as ONNX QDQ.

Run from the project root:  PYTHONPATH=python python3 examples/quantize_mnist.py [--epochs 5]
"""
import argparse
import os
import tempfile
import time

import numpy as np

import fusednet
from fusednet import layers as L, quantization
from fusednet.datasets import mnist

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data", "mnist")


def build(arch):
    if arch == "mlp":
        return fusednet.Sequential([L.Input((784,)), L.Dense(128, activation="relu"),
                                    L.Dense(10, activation="softmax")])
    return fusednet.Sequential([L.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(),
                                L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
                                L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")])


def accuracy(model, x, y):
    return 100.0 * float(np.mean(np.argmax(model.predict(x, batch_size=64, verbose=0), 1) == y))


def predict_ms(model, x, repeats=5):
    model.predict(x, batch_size=64, verbose=0)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        model.predict(x, batch_size=64, verbose=0)
        ts.append(time.perf_counter() - t)
    return 1e3 * float(np.median(ts))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--data", default=DEFAULT_DATA, help="directory with the MNIST IDX files")
    ap.add_argument("--limit", type=int, default=None, help="train on only the first N samples")
    ap.add_argument("--arch", choices=["mlp", "cnn", "both"], default="both")
    a = ap.parse_args(argv)
    (xt, yt), (xv, yv) = mnist.load_test_split(a.data, download=False)
    if a.limit:
        xt, yt = xt[:a.limit], yt[:a.limit]
    out_dir = tempfile.mkdtemp()
    results = {}
    for arch in (["mlp", "cnn"] if a.arch == "both" else [a.arch]):
        shape = (784,) if arch == "mlp" else (28, 28, 1)
        x_train = (xt.reshape((-1,) + shape) / 255.0).astype(np.float32)
        x_test = (xv.reshape((-1,) + shape) / 255.0).astype(np.float32)
        fusednet.random.set_random_seed(0)
        model = build(arch)
        model.compile(fusednet.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
        model.fit(x_train, yt.astype(np.int64), batch_size=32, epochs=a.epochs, verbose=0)
        models = {"float32": model, "int8 dynamic": quantization.quantize(model),
                  "int8 static": quantization.quantize(model, x_train[:1000], mode="static")}
        for name, m in models.items():
            path = os.path.join(out_dir, f"{arch}_{name.replace(' ', '_')}.keras")
            m.save(path, include_optimizer=False)   # weights only: a fair size comparison
            acc = accuracy(m, x_test, yv)
            results[arch, name] = acc
            print(f"{arch} {name:13s} accuracy {acc:6.2f}%  file {os.path.getsize(path) / 1024:7.1f} KiB  "
                  f"predict 2000 @64 {predict_ms(m, x_test):7.2f} ms", flush=True)
        try:
            from fusednet.io.onnx import export_onnx
            p = export_onnx(models["int8 static"], os.path.join(out_dir, f"{arch}_int8_qdq.onnx"))
            print(f"{arch} ONNX QDQ: {p}")
        except ImportError:
            print("(onnx not installed: no QDQ export)")
    return results


if __name__ == "__main__":
    main()
