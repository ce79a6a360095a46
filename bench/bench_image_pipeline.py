"""Image pipeline stall: data time per step vs the training step, a small CNN on 64×64 images
read from class folders (issue 11's target: data time < 5% of the step).

Writes ``--files`` PNGs (MNIST digits as RGB when the shared test set is at hand, else seeded
noise; source size ``--src`` so every image goes through the native resize) into a temporary
class-folder tree, then for ``workers`` in (0, 2): iterates ``image_dataset_from_directory``
batches and runs ``train_on_batch`` on each. Per step, *data time* is the time spent waiting for
the batch (``ds[i]``), *step time* the ``train_on_batch`` call. Baseline: the same steps on the
batches already in memory (what contention from the decoding threads costs the step).

Usage: PYTHONPATH=python python3 bench/bench_image_pipeline.py [--files 1024] [--batch 32]
       [--epochs 2] [--src 80]
"""
import argparse
import gzip
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import fusednet as fn
from fusednet import layers


def digits(n):
    for p in Path(__file__).resolve().parents:
        f = p / "shared" / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"
        if f.is_file():
            raw = gzip.decompress(f.read_bytes())
            d = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
            return np.resize(d, (n, 28, 28)), "MNIST digits"
    return np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8), "noise"


def write_tree(root, n, src):
    from PIL import Image
    d, what = digits(n)
    for c in range(10):
        (root / f"class_{c}").mkdir(parents=True)
    for i in range(n):
        img = Image.fromarray(np.stack([d[i], 255 - d[i], d[i] // 2], -1), "RGB").resize((src, src))
        img.save(root / f"class_{i % 10}" / f"{i:05d}.png")
    return what


def model():
    m = fn.Sequential([fn.Input((64, 64, 3)), layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(2),
                       layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                       layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return m


def run(ds, m, epochs):
    data, step = [], []
    for _ in range(epochs):
        for i in range(len(ds)):
            t0 = time.perf_counter()
            x, y = ds[i]
            t1 = time.perf_counter()
            m.train_on_batch(x, y)
            t2 = time.perf_counter()
            data.append(t1 - t0)
            step.append(t2 - t1)
        ds.on_epoch_end()
    return data[len(ds):] or data, step[len(ds):] or step       # drop the first (warm-up) pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--src", type=int, default=80)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        what = write_tree(root, a.files, a.src)
        print(f"{a.files} PNGs ({what}, {a.src}x{a.src} RGB) -> 64x64, batch {a.batch}, "
              f"{fn.get_num_threads()} compute threads")
        m = model()
        for workers in (0, 2):
            ds = fn.data.image_dataset_from_directory(root, image_size=(64, 64), batch_size=a.batch, seed=0,
                                                      workers=workers, verbose=False)
            ds = ds.map(lambda x, y: (x * np.float32(1 / 255.0), y))
            d, s = run(ds, m, a.epochs)
            md, ms = statistics.median(d), statistics.median(s)
            print(f"workers={workers}: data {1e3 * statistics.mean(d):.2f} ms/step (median {1e3 * md:.2f}), "
                  f"step {1e3 * statistics.mean(s):.2f} ms (median {1e3 * ms:.2f}); data/step = "
                  f"{100 * statistics.mean(d) / statistics.mean(s):.1f}% (medians {100 * md / ms:.1f}%)")
        mem = [ds[i] for i in range(len(ds))]
        ds.close()
        s = []
        for _ in range(a.epochs):
            for x, y in mem:
                t = time.perf_counter()
                m.train_on_batch(x, y)
                s.append(time.perf_counter() - t)
        print(f"in-memory baseline: step {1e3 * statistics.mean(s):.2f} ms (median {1e3 * statistics.median(s):.2f})")


if __name__ == "__main__":
    main()
