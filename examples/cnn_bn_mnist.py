"""A deeper CNN on MNIST using the other CNN layers: three conv blocks with BatchNormalization,
'same' padding, average and global pooling, LayerNormalization and Dropout.

  [Conv2D(32,3,same) - BatchNorm - relu] x2 - MaxPool
  Conv2D(64,3,same) - BatchNorm - relu - AveragePooling2D
  Conv2D(64,3) relu - GlobalAveragePooling2D - LayerNormalization - Dropout(0.2) - Dense(10, softmax)

Adam, batch 32, on the project's offline split of the MNIST test set (8,000 train / 2,000 test).
Run from the project root:  PYTHONPATH=python python3 examples/cnn_bn_mnist.py [--epochs 5] [--data DIR]
"""
import argparse
import time

import numpy as np

import fusednet
from fusednet import layers as L
from fusednet.datasets import mnist

from cnn_mnist import DEFAULT_DATA


def build_model():
    return fusednet.Sequential([
        L.Input((28, 28, 1)),
        L.Conv2D(32, 3, padding="same", use_bias=False), L.BatchNormalization(), L.Activation("relu"),
        L.Conv2D(32, 3, padding="same", use_bias=False), L.BatchNormalization(), L.Activation("relu"),
        L.MaxPooling2D(),
        L.Conv2D(64, 3, padding="same", use_bias=False), L.BatchNormalization(), L.Activation("relu"),
        L.AveragePooling2D(),
        L.Conv2D(64, 3, activation="relu"),
        L.GlobalAveragePooling2D(),
        L.LayerNormalization(),
        L.Dropout(0.2, seed=1),
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
