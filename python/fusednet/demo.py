"""``python -m fusednet.demo``: train a small MLP end to end and print test accuracy and time.

Datasets:
  digits (default)  scikit-learn's bundled 8x8 digits (1,797 images; offline) — install the extra
                    ``pip install "fusednet[demo]"``. Without scikit-learn a synthetic 10-class
                    dataset drawn with the Philox RNG is used instead (and the demo says so).
  mnist             MNIST from ``--data DIR`` (IDX files). When DIR holds only the official test
                    set, the project's standard split is used: first 8,000 test images to train,
                    last 2,000 to test. Without --data: the download cache (see fusednet.datasets.mnist).
"""
import argparse
import sys
import time

import numpy as np


def _synthetic(seed=0, n=1800, d=64, classes=10):
    """Gaussian class clusters in 64-d drawn with Philox (fusednet._C.random_normal when available)."""
    from fusednet.data._rng import permutation  # noqa: F401  (ensures the package imports)
    try:
        from fusednet import _C
        centers = np.asarray(_C.random_normal([classes, d], seed, 0))
        noise = np.asarray(_C.random_normal([n, d], seed, 1))
    except (ImportError, AttributeError, TypeError):
        gen = np.random.Generator(np.random.Philox(key=[seed, 0]))
        centers = gen.standard_normal((classes, d))
        noise = gen.standard_normal((n, d))
    y = np.arange(n) % classes
    x = (1.5 * centers[y] + noise).astype(np.float32)
    return x, y.astype(np.int64)


def load_dataset(name, data_dir=None, seed=0):
    """Return ``(x_train, y_train, x_test, y_test, description)`` as float32 features / int labels."""
    from fusednet.data import train_test_split
    if name == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            x, y = _synthetic(seed)
            desc = ("synthetic 10-class Gaussian clusters, 64 features (scikit-learn not installed: "
                    "pip install 'fusednet[demo]' for the real digits)")
        else:
            d = load_digits()
            x, y = (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)
            desc = "scikit-learn digits (8x8 images, 1,797 samples)"
        x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
        return x_tr, y_tr, x_te, y_te, desc + f", stratified split {len(x_tr)}/{len(x_te)}"
    if name == "mnist":
        from fusednet.datasets import mnist
        try:
            (x_tr, y_tr), (x_te, y_te) = mnist.load_data(data_dir, download=data_dir is None)
            desc = "MNIST (official train/test)"
        except (OSError, ValueError):
            (x_tr, y_tr), (x_te, y_te) = mnist.load_test_split(data_dir, download=data_dir is None)
            desc = "MNIST test set, standard split: first 8,000 train / last 2,000 test"
        f = lambda a: (a.reshape(len(a), -1).astype(np.float32) / 255.0)  # noqa: E731
        return f(x_tr), y_tr.astype(np.int64), f(x_te), y_te.astype(np.int64), desc
    raise ValueError(f"unknown dataset {name!r}; choose digits or mnist")


def build_model(n_features, n_classes, hidden=128):
    import fusednet
    from fusednet.layers import Dense, Input
    model = fusednet.Sequential([Input(shape=(n_features,)), Dense(hidden, activation="relu"),
                                 Dense(n_classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m fusednet.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=["digits", "mnist"], default="digits")
    p.add_argument("--data", default=None, help="directory with MNIST IDX files (for --dataset mnist)")
    p.add_argument("--epochs", type=int, default=None, help="default: 30 for digits, 5 for mnist")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="train on only the first N training samples")
    p.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2])
    args = p.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else (30 if args.dataset == "digits" else 5)

    import fusednet
    from fusednet import metrics
    fusednet.random.set_random_seed(args.seed)
    try:
        x_tr, y_tr, x_te, y_te, desc = load_dataset(args.dataset, args.data, args.seed)
    except (OSError, ValueError) as e:  # missing / corrupt files, no network: a message, not a traceback
        p.error(f"cannot load the {args.dataset} dataset: {e}\n"
                f"(pass --data DIR with the MNIST IDX files, or use the default --dataset digits)")
    if args.limit:
        x_tr, y_tr = x_tr[:args.limit], y_tr[:args.limit]
        desc += f" (training on the first {len(x_tr)})"
    n_classes = int(max(y_tr.max(), y_te.max()) + 1)
    cuda = fusednet.cuda.is_available() if hasattr(fusednet.cuda, "is_available") else False
    print(f"fusednet {fusednet.__version__} demo — {desc}")
    print(f"device: {'cuda' if cuda else 'cpu'}; model: Dense(128, relu) -> Dense({n_classes}, softmax), "
          f"Adam, sparse categorical cross-entropy; {epochs} epochs, batch {args.batch_size}")
    model = build_model(x_tr.shape[1], n_classes)
    t0 = time.perf_counter()
    model.fit(x_tr, y_tr, epochs=epochs, batch_size=args.batch_size, verbose=args.verbose)
    train_s = time.perf_counter() - t0
    result = model.evaluate(x_te, y_te, batch_size=256, verbose=0, return_dict=True)
    pred = np.asarray(model.predict(x_te, batch_size=256, verbose=0))
    acc = float(np.mean(pred.argmax(1) == y_te))
    print(f"test accuracy: {acc:.4f}  (test loss {result['loss']:.4f}, {len(y_te)} samples)")
    print(f"training time: {train_s:.2f} s  ({epochs * len(y_tr) / max(train_s, 1e-9):,.0f} samples/s)")
    if args.verbose:
        print(metrics.classification_report(y_te, pred, digits=3))
    return acc


if __name__ == "__main__":
    main()
    sys.exit(0)
