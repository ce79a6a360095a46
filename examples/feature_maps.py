"""Show what the seed CNN's first convolution sees: train it briefly on the offline MNIST split
(or load saved weights) and save the first Conv2D layer's feature maps for one test digit as a
PNG grid.

Needs matplotlib (the `plot` extra); without it the script says so and exits 0.

Run from the project root:
    PYTHONPATH=python python3 examples/feature_maps.py [--epochs 1] [--limit 2000] [--index 0]
        [--weights model.weights.fnet] [--out DIR]
"""
import argparse
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data", "mnist")
sys.path.insert(0, HERE)


def save_grid(image, maps, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    k = maps.shape[-1]
    cols = 8
    rows = math.ceil(k / cols) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.4))
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(image, cmap="gray")
    axes[0, 0].set_title("input", fontsize=8)
    for c in range(k):
        ax = axes[1 + c // cols, c % cols]
        ax.imshow(maps[..., c], cmap="viridis")
        ax.set_title(f"filter {c}", fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=2000, help="training images used (first LIMIT of the 8,000)")
    ap.add_argument("--index", type=int, default=0, help="which test digit to show")
    ap.add_argument("--weights", default=None, help="load these weights instead of training")
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--out", default="feature_maps_out")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("feature_maps: matplotlib is not installed; install the plot extra "
              "(pip install 'fusednet[plot]' or pip install matplotlib) to draw the feature maps.")
        return 0

    import fusednet
    from fusednet.datasets import mnist
    from cnn_confusion import build_model

    (x_train, y_train), (x_test, y_test) = mnist.load_test_split(args.data)
    x_train = (x_train[:args.limit].astype(np.float32) / 255.0)[..., None]
    y_train = y_train[:args.limit]
    x_test = (x_test.astype(np.float32) / 255.0)[..., None]

    fusednet.random.set_random_seed(args.seed)
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if args.weights:
        model.load_weights(args.weights)
    elif args.epochs > 0:
        model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, verbose=2)

    first_conv = next(l for l in model.layers if isinstance(l, fusednet.layers.Conv2D))
    digit = x_test[args.index:args.index + 1]
    maps = model.intermediate(digit, first_conv.name)[0]          # [26, 26, 32]
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{first_conv.name}_feature_maps.png")
    save_grid(digit[0, ..., 0], maps, path,
              f"'{first_conv.name}' feature maps (ReLU) for a test '{int(y_test[args.index])}'")
    print(f"feature maps {maps.shape} -> wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
