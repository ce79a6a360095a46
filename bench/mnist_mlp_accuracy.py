"""Accuracy check: the seed MLP on the project's MNIST split (first 8,000 / last 2,000 of the
official test set, /255): Dense(128, relu) -> Dense(10, softmax), Adam, sparse CE, 5 epochs,
batch 32. Target: test accuracy >= 94.5%.

Usage: PYTHONPATH=python python3 bench/mnist_mlp_accuracy.py [--seeds 0 1 2] [--data ../shared/data/mnist]
"""
import argparse
import os
import time

import numpy as np

import fusednet as fn
from fusednet import layers
from fusednet.datasets import mnist


def run(seed, data):
    (xtr, ytr), (xte, yte) = mnist.load_test_split(data, download=False)
    xtr = xtr.reshape(len(xtr), -1).astype(np.float32) / 255.0
    xte = xte.reshape(len(xte), -1).astype(np.float32) / 255.0
    fn.clear_session()
    fn.random.seed(seed)
    model = fn.Sequential([fn.Input(shape=(784,)), layers.Dense(128, activation="relu"),
                           layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t = time.perf_counter()
    model.fit(xtr, ytr, epochs=5, batch_size=32, verbose=0)
    dt = time.perf_counter() - t
    loss, acc = model.evaluate(xte, yte, verbose=0)
    return acc, loss, dt


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "shared", "data", "mnist"))
    args = ap.parse_args()
    if not os.path.isdir(args.data):
        args.data = "/work/shared/data/mnist"
    accs = []
    for s in args.seeds:
        acc, loss, dt = run(s, args.data)
        accs.append(acc)
        print(f"seed {s}: test accuracy {acc * 100:.2f}%  loss {loss:.4f}  (fit {dt:.1f} s)")
    print(f"mean {np.mean(accs) * 100:.2f}%  min {np.min(accs) * 100:.2f}%  target >= 94.5%")


if __name__ == "__main__":
    main()
