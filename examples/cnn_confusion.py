"""Train the seed CNN on the offline MNIST split (8,000 / 2,000 of the official test set) and save a
confusion-matrix PNG and a training-curve PNG.

Needs matplotlib (the `plot` extra: pip install "fusednet[plot]"); without it the script says so
and exits 0.

Run from the project root:
    PYTHONPATH=python python3 examples/cnn_confusion.py [--epochs 5] [--limit N] [--out DIR]
"""
import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data", "mnist")


def build_model():
    import fusednet
    from fusednet import layers as L
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


def plot_confusion(cm, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax)
    k = cm.shape[0]
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(title)
    thresh = cm.max() / 2 if cm.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > thresh else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_history(history, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    h = history.history
    epochs = np.arange(1, len(h["loss"]) + 1)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(epochs, h["loss"], "o-", label="train")
    if "val_loss" in h:
        a1.plot(epochs, h["val_loss"], "o-", label="test")
    a1.set_xlabel("epoch")
    a1.set_ylabel("loss")
    a1.legend()
    if "accuracy" in h:
        a2.plot(epochs, h["accuracy"], "o-", label="train")
    if "val_accuracy" in h:
        a2.plot(epochs, h["val_accuracy"], "o-", label="test")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy")
    a2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--limit", type=int, default=None,
                    help="use only the first LIMIT training images (and LIMIT//4 test images)")
    ap.add_argument("--data", default=DEFAULT_DATA, help="directory with the MNIST IDX files")
    ap.add_argument("--out", default="cnn_confusion_out", help="directory for the PNG files")
    ap.add_argument("--seed", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("cnn_confusion: matplotlib is not installed; install the plot extra "
              "(pip install 'fusednet[plot]' or pip install matplotlib) to draw the figures.")
        return 0

    import fusednet
    from fusednet.datasets import mnist
    from fusednet.metrics import confusion_matrix

    (x_train, y_train), (x_test, y_test) = mnist.load_test_split(args.data)
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
        x_test, y_test = x_test[:max(1, args.limit // 4)], y_test[:max(1, args.limit // 4)]
    x_train = (x_train.astype(np.float32) / 255.0)[..., None]
    x_test = (x_test.astype(np.float32) / 255.0)[..., None]

    fusednet.random.set_random_seed(args.seed)
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                        validation_data=(x_test, y_test), verbose=2)
    dt = time.perf_counter() - t
    probs = model.predict(x_test, verbose=0)
    cm = confusion_matrix(y_test, probs, num_classes=10)
    acc = np.trace(cm) / max(cm.sum(), 1)

    os.makedirs(args.out, exist_ok=True)
    cm_path = os.path.join(args.out, "confusion_matrix.png")
    curve_path = os.path.join(args.out, "training_curves.png")
    plot_confusion(cm, cm_path, f"seed CNN, {len(x_test)} test digits, accuracy {acc * 100:.2f}%")
    plot_history(history, curve_path)
    print(f"test accuracy {acc * 100:.2f}% after {args.epochs} epochs ({dt:.1f} s training)")
    print(f"wrote {cm_path}")
    print(f"wrote {curve_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
