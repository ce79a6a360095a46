"""The seed CNN on MNIST: Conv2D(32,3,relu) - MaxPool - Conv2D(64,3,relu) - MaxPool - Flatten -
Dense(128,relu) - Dense(10,softmax), Adam, batch 32, 5 epochs, on the project's offline split of the
MNIST test set (first 8,000 images to train, last 2,000 to test). PyTorch reaches about 98.4% here.

Run from the project root:  PYTHONPATH=python python3 examples/cnn_mnist.py [--epochs 5] [--data DIR]
"""
import argparse
import os
import time

import numpy as np

import fusednet
from fusednet import layers as L
from fusednet.datasets import mnist

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data", "mnist")


def build_model():
    return fusednet.Sequential([
        L.Input((28, 28, 1)),
        L.Conv2D(32, 3, activation="relu"),
        L.MaxPooling2D(),
        L.Conv2D(64, 3, activation="relu"),
        L.MaxPooling2D(),
        L.Flatten(),
        L.Dense(128, activation="relu"),
        L.Dense(10, activation="softmax"),
    ])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--data", default=DEFAULT_DATA, help="directory with the MNIST IDX files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="train on only the first N samples")
    args = ap.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = mnist.load_test_split(args.data)
    x_train = (x_train.astype(np.float32) / 255.0)[..., None]
    x_test = (x_test.astype(np.float32) / 255.0)[..., None]
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]

    fusednet.random.set_random_seed(args.seed)
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    t = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=2)
    dt = time.perf_counter() - t
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {loss:.4f}  test accuracy {acc * 100:.2f}%  "
          f"({args.epochs * len(x_train) / dt:.0f} training samples/s, {fusednet.get_num_threads()} threads)")
    return acc


if __name__ == "__main__":
    main()
