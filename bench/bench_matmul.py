"""SGEMM throughput: fusednet vs NumPy (OpenBLAS) vs PyTorch CPU, same process, 2 threads.

    PYTHONPATH=python python3 bench/bench_matmul.py [--quick] [--threads 2] [--repeats 7] [--only train,dW]

For every shape the three libraries are timed in interleaved rounds (fusednet, numpy, torch,
fusednet, ...); each round times a block of calls sized to ~0.1 s of work and the table reports
the median round in GFLOP/s, the ratios fusednet/torch and fusednet/numpy, and fusednet's
fraction of the machine's FP32 FMA peak (measured by `_C._fma_peak_gflops`: independent vector
FMA chains on every thread). A short pause precedes each round: OpenBLAS and OpenMP pool threads
spin after a call, and without the pause they steal the cores from whichever library runs next.
The dev machines are shared: run it a few times and compare ratios, not absolute figures.
"""
import argparse
import os
import sys
import time

_ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
_ap.add_argument("--quick", action="store_true", help="fewer shapes and repeats")
_ap.add_argument("--threads", type=int, default=2)
_ap.add_argument("--repeats", type=int, default=None, help="rounds per shape (default 5, quick 3)")
_ap.add_argument("--pause", type=float, default=0.1, help="seconds of idle before each round (OpenBLAS threads spin ~70 ms)")
_ap.add_argument("--only", default=None, help="comma-separated substrings: run only shapes whose label contains one")
_ap.add_argument("--target", type=float, default=0.1, help="seconds of work per timed round")
ARGS = _ap.parse_args()

# OpenBLAS reads its thread count at load time.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, str(ARGS.threads))

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import fusednet as fn  # noqa: E402
from fusednet import _C  # noqa: E402

try:
    import torch
    torch.set_num_threads(ARGS.threads)
except Exception:  # PyTorch is optional
    torch = None

SQUARE = [256, 512, 1024, 2048, 4096]
# (label, M, N, K, trans_a, trans_b)
SHAPES = [(f"{n}³", n, n, n, False, False) for n in SQUARE] + [
    ("train 32×784·784×128", 32, 128, 784, False, False),
    ("train 128×784·784×128", 128, 128, 784, False, False),
    ("train 256×784·784×128", 256, 128, 784, False, False),
    ("train 128×128·128×10", 128, 10, 128, False, False),
    ("dW Xᵀ·dZ 784×128, batch 32", 784, 128, 32, True, False),
    ("dW Xᵀ·dZ 784×128, batch 128", 784, 128, 128, True, False),
    ("dX dZ·Wᵀ 32×784, K 128", 32, 784, 128, False, True),
    ("dX dZ·Wᵀ 128×784, K 128", 128, 784, 128, False, True),
    ("predict 1×784·784×128", 1, 128, 784, False, False),
    ("vector·matrix 1×4096·4096²", 1, 4096, 4096, False, False),
    ("matrix·vector 4096²·4096×1", 4096, 1, 4096, False, False),
]
QUICK = {"1024³", "2048³", "train 32×784·784×128", "train 128×784·784×128",
         "dW Xᵀ·dZ 784×128, batch 32", "dX dZ·Wᵀ 32×784, K 128"}


def make(M, N, K, ta, tb, rng):
    A = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
    B = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
    fa, fb = _C.asarray(A), _C.asarray(B)
    fout = _C.asarray(np.empty((M, N), np.float32))
    nA, nB = (A.T if ta else A), (B.T if tb else B)
    nout = np.empty((M, N), np.float32)
    fns = {
        "fusednet": lambda: _C.matmul(fa, fb, ta, tb, None, "none", fout),
        "numpy": lambda: np.matmul(nA, nB, out=nout),
    }
    if torch is not None:
        tA = torch.from_numpy(A).T if ta else torch.from_numpy(A)
        tB = torch.from_numpy(B).T if tb else torch.from_numpy(B)
        tout = torch.empty(M, N)
        fns["torch"] = lambda: torch.matmul(tA, tB, out=tout)
    return fns


def bench_shape(M, N, K, ta, tb, repeats, rng):
    fns = make(M, N, K, ta, tb, rng)
    flops = 2.0 * M * N * K
    # calls per round: ~ARGS.target seconds at ~100 GFLOP/s
    n = max(1, int(ARGS.target * 1e11 / flops))
    times = {k: [] for k in fns}
    for f in fns.values():
        f()
    for _ in range(repeats):
        for name, f in fns.items():
            time.sleep(ARGS.pause)
            f()
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            times[name].append((time.perf_counter() - t0) / n)
    return {k: flops / np.median(v) / 1e9 for k, v in times.items()}


def main():
    repeats = ARGS.repeats or (3 if ARGS.quick else 5)
    fn.set_num_threads(ARGS.threads)
    rng = np.random.default_rng(0)
    peak = max(_C._fma_peak_gflops(ARGS.threads, 0.3) for _ in range(3))
    print(f"# fusednet SGEMM benchmark — {ARGS.threads} threads, median of {repeats} interleaved "
          f"rounds, isa={_C._gemm_isa()}")
    print(f"# numpy {np.__version__}, torch {torch.__version__ if torch else 'not installed'}; "
          f"measured FP32 FMA peak {peak:.0f} GFLOP/s")
    have_t = torch is not None
    hdr = "| shape | fusednet | numpy | " + ("torch | fn/torch | " if have_t else "") + "fn/numpy | % peak |"
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    for label, M, N, K, ta, tb in SHAPES:
        if ARGS.quick and label not in QUICK:
            continue
        if ARGS.only and not any(w in label for w in ARGS.only.split(",")):
            continue
        r = bench_shape(M, N, K, ta, tb, repeats, rng)
        row = f"| {label} | {r['fusednet']:.1f} | {r['numpy']:.1f} | "
        if have_t:
            row += f"{r['torch']:.1f} | {r['fusednet'] / r['torch']:.2f} | "
        row += f"{r['fusednet'] / r['numpy']:.2f} | {100 * r['fusednet'] / peak:.0f}% |"
        print(row, flush=True)
    # A shared host can take a core away mid-run (the 2-thread peak then reads ~half): say so.
    end_peak = max(_C._fma_peak_gflops(ARGS.threads, 0.3) for _ in range(3))
    print(f"# FMA peak re-measured after the run: {end_peak:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
