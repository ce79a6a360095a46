"""MLP on MNIST: Dense(128, relu) -> Dense(10, softmax), Adam, sparse categorical cross-entropy,
5 epochs, batch 32. Prints the test accuracy.

    python examples/mlp_mnist.py [--data DIR] [--epochs N]

DIR defaults to $FUSEDNET_MNIST_DIR, else ../shared/data/mnist next to the project, else the
download cache. With only the official test set present (the shared data), the project's standard
split is used: the first 8,000 test images train, the last 2,000 test.
"""
import argparse
import os
import time

import numpy as np

import fusednet
from fusednet.datasets import mnist
from fusednet.layers import Dense, Input

HERE = os.path.dirname(os.path.abspath(__file__))


def default_data_dir():
    env = os.environ.get("FUSEDNET_MNIST_DIR")
    if env:
        return env
    shared = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data", "mnist"))
    return shared if os.path.isdir(shared) else None


def load(data_dir):
    try:
        (x_tr, y_tr), (x_te, y_te) = mnist.load_data(data_dir, download=data_dir is None)
    except (OSError, ValueError):
        (x_tr, y_tr), (x_te, y_te) = mnist.load_test_split(data_dir, download=data_dir is None)
    flat = lambda a: a.reshape(len(a), 784).astype(np.float32) / 255.0  # noqa: E731
    return flat(x_tr), y_tr.astype(np.int64), flat(x_te), y_te.astype(np.int64)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=default_data_dir())
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training samples")
    p.add_argument("--verbose", type=int, default=2)
    args = p.parse_args(argv)

    fusednet.random.set_random_seed(0)
    x_train, y_train, x_test, y_test = load(args.data)
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    model = fusednet.Sequential([
        Input(shape=(784,)),
        Dense(128, activation="relu"),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
    seconds = time.perf_counter() - t0
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"train samples {len(x_train)}, test samples {len(x_test)}, training time {seconds:.2f} s")
    print(f"test accuracy: {acc:.4f}")
    return acc


if __name__ == "__main__":
    main()
