"""Binary classifier: Dense(64) + Activation('relu') -> Dense(1) + Activation('sigmoid'),
binary cross-entropy, Adam.

Task: scikit-learn's breast-cancer dataset (569 tumours, 30 features; extra ``demo``) when
scikit-learn is installed, otherwise MNIST "is it a zero?" (digit 0 vs rest) on the test-set split.

    python examples/binary_classifier.py [--task cancer|mnist0] [--data DIR] [--epochs N]
"""
import argparse
import os
import time

import numpy as np

import fusednet
from fusednet import metrics
from fusednet.data import train_test_split
from fusednet.layers import Activation, Dense, Input

HERE = os.path.dirname(os.path.abspath(__file__))


def load_cancer():
    from sklearn.datasets import load_breast_cancer
    d = load_breast_cancer()
    x, y = d.data.astype(np.float32), d.target.astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, stratify=y, random_state=0)
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6  # standardise with training statistics only
    return (x_tr - mu) / sd, y_tr[:, None], (x_te - mu) / sd, y_te[:, None], "breast cancer (sklearn)"


def load_mnist0(data_dir):
    from fusednet.datasets import mnist
    (x_tr, y_tr), (x_te, y_te) = mnist.load_test_split(data_dir, download=data_dir is None)
    flat = lambda a: a.reshape(len(a), 784).astype(np.float32) / 255.0  # noqa: E731
    return (flat(x_tr), (y_tr == 0).astype(np.float32)[:, None], flat(x_te),
            (y_te == 0).astype(np.float32)[:, None], "MNIST digit 0 vs rest (test-set split 8k/2k)")


def main(argv=None):
    shared = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data", "mnist"))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=["cancer", "mnist0"], default=None)
    p.add_argument("--data", default=os.environ.get("FUSEDNET_MNIST_DIR") or
                   (shared if os.path.isdir(shared) else None))
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--verbose", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="train on only the first N training samples")
    args = p.parse_args(argv)
    task = args.task
    if task is None:
        try:
            import sklearn  # noqa: F401
            task = "cancer"
        except ImportError:
            task = "mnist0"

    fusednet.random.set_random_seed(0)
    x_tr, y_tr, x_te, y_te, desc = load_cancer() if task == "cancer" else load_mnist0(args.data)
    if args.limit:
        x_tr, y_tr = x_tr[:args.limit], y_tr[:args.limit]
    model = fusednet.Sequential([
        Input(shape=(x_tr.shape[1],)),
        Dense(64), Activation("relu"),
        Dense(1), Activation("sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy", metrics.AUC(), metrics.Precision(), metrics.Recall()])
    t0 = time.perf_counter()
    model.fit(x_tr, y_tr, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
    seconds = time.perf_counter() - t0
    res = model.evaluate(x_te, y_te, verbose=0, return_dict=True)
    print(f"{desc}: {len(x_tr)} train / {len(x_te)} test, training time {seconds:.2f} s")
    print("test " + ", ".join(f"{k}: {v:.4f}" for k, v in res.items()))
    print(f"test accuracy: {res['accuracy']:.4f}")
    return res


if __name__ == "__main__":
    main()
