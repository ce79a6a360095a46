"""Separable-filter resizing (area, lanczos3, antialiased bilinear / bicubic) and the
ImageDataGenerator intensity kernels vs the references that define them, side by side in one run:
torch interpolate (antialias=True / mode="area", channels-last tensors, same thread count),
Pillow's LANCZOS resize (uint8, one image at a time, as a decoding pipeline does), and Keras'
legacy per-image channel shift / brightness (NumPy + PIL).

    PYTHONPATH=python python3 bench/bench_resize_filters.py [--reps 7]

Prints median milliseconds of >= 5 repeats and the ratio other / fusednet (> 1 = fusednet faster).
Absolute numbers drift on shared machines; compare the ratios measured in the same run.
"""
import argparse
import os
import time

import numpy as np

import fusednet as fn
from fusednet import _C


def median_ms(f, reps):
    f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return 1e3 * float(np.median(ts))


def row(name, ours, other, other_name, reps):
    a, b = median_ms(ours, reps), median_ms(other, reps)
    print(f"{name:<44} fusednet {a:8.2f} ms   {other_name:<16} {b:8.2f} ms   ratio {b / a:5.2f}x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    reps = max(5, args.reps)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (8, 256, 256, 3)).astype(np.float32)
    xa = _C.asarray(x)
    print(f"threads: fusednet {fn.get_num_threads()}; batch {x.shape}")
    try:
        import torch
        import torch.nn.functional as F
        torch.set_num_threads(fn.get_num_threads())
        tx = torch.from_numpy(x).permute(0, 3, 1, 2)            # NHWC memory = channels_last
        for mode, (h, w) in (("bilinear", (224, 224)), ("bilinear", (64, 64)), ("bicubic", (224, 224)),
                             ("bicubic", (64, 64))):
            row(f"{mode} antialias 256->{h}", lambda: _C.resize_images(xa, h, w, mode, False, True),
                lambda: F.interpolate(tx, size=(h, w), mode=mode, align_corners=False, antialias=True),
                "torch", reps)
        row("area 256->64", lambda: _C.resize_images(xa, 64, 64, "area"),
            lambda: F.interpolate(tx, size=(64, 64), mode="area"), "torch", reps)
    except ImportError:
        print("torch not installed: torch rows skipped")
    try:
        from PIL import Image
        u8 = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
        im = Image.fromarray(u8)
        row("lanczos3 antialias uint8 512->224 (1 image)", lambda: _C.resize_images(u8, 224, 224, "lanczos3", False,
                                                                                     True),
            lambda: np.asarray(im.resize((224, 224), Image.Resampling.LANCZOS), np.float32), "Pillow", reps)
    except ImportError:
        print("Pillow not installed: Pillow row skipped")
    try:
        os.environ.setdefault("KERAS_BACKEND", "torch")
        from keras.src.legacy.preprocessing.image import apply_brightness_shift, apply_channel_shift
        xs = x[:, :64, :64].copy()
        s, b = rng.uniform(-20, 20, len(xs)).astype(np.float32), rng.uniform(0.5, 1.5, len(xs)).astype(np.float32)
        xsa, sa, ba = _C.asarray(xs), _C.asarray(s), _C.asarray(b)

        def keras_path():
            return np.stack([apply_brightness_shift(apply_channel_shift(img, float(si), 2), float(bi), False)
                             for img, si, bi in zip(xs, s, b)])
        row("channel shift + brightness 8x64x64x3", lambda: _C.image_intensity(xsa, sa, ba), keras_path,
            "Keras (NumPy+PIL)", reps)
    except ImportError:
        print("keras not installed: Keras row skipped")


if __name__ == "__main__":
    main()
