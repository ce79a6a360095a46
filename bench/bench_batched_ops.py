"""Batched GEMM and the new native ops vs PyTorch CPU / NumPy, same process, interleaved rounds.

    PYTHONPATH=python python3 bench/bench_batched_ops.py [--threads 2] [--repeats 7] [--quick]

Rows: ``_C.bmm`` (one native call) against the per-matrix loop of 2-D ``_C.matmul`` calls it
replaced in ``ops.matmul`` / ``Dot``, ``torch.matmul`` and ``np.matmul``, on attention-like,
many-small and broadcast shapes; then sort / top_k / cumsum / erf against torch and NumPy.
Each library is timed in interleaved rounds (fusednet, loop, torch, numpy, fusednet, ...), each
round a block of calls sized to ~0.05 s; the table gives the median round in microseconds per
call and the ratios. The dev machines are shared and noisy: compare ratios, not absolute times.
"""
import argparse
import os
import sys
import time

_ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
_ap.add_argument("--threads", type=int, default=2)
_ap.add_argument("--repeats", type=int, default=7)
_ap.add_argument("--quick", action="store_true")
_ap.add_argument("--target", type=float, default=0.05, help="seconds of work per timed round")
ARGS = _ap.parse_args()
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, str(ARGS.threads))

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import fusednet as fn  # noqa: E402
from fusednet import _C, ops  # noqa: E402

try:
    import torch
    torch.set_num_threads(ARGS.threads)
except Exception:  # PyTorch is optional
    torch = None


def timed(f, target):
    f()
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < 0.01:
        f()
        n += 1
    reps = max(1, int(n * target / max(time.perf_counter() - t0, 1e-9)))
    t0 = time.perf_counter()
    for _ in range(reps):
        f()
    return (time.perf_counter() - t0) / reps * 1e6


def compare(label, fns):
    """fns: list of (name, callable or None). Prints the median µs per call and ratios."""
    times = {nm: [] for nm, f in fns if f is not None}
    for _ in range(ARGS.repeats):
        for nm, f in fns:
            if f is not None:
                time.sleep(0.02)
                times[nm].append(timed(f, ARGS.target))
    med = {nm: float(np.median(v)) for nm, v in times.items()}
    base = med[fns[0][0]]
    parts = [f"{nm} {med[nm]:9.1f} us ({med[nm] / base:4.2f}x)" for nm, _ in fns if nm in med]
    print(f"{label:<36} " + " | ".join(parts), flush=True)


def bmm_rows(rng):
    shapes = [  # (label, a shape, b shape)
        ("attention 64x(32x64.64x32)", (64, 32, 64), (64, 64, 32)),
        ("attention 32x(128x64.64x128)", (32, 128, 64), (32, 64, 128)),
        ("many small 1024x(8x8.8x8)", (1024, 8, 8), (1024, 8, 8)),
        ("broadcast (16,1)x(2,..) 64x96.96x64", (16, 1, 64, 96), (2, 96, 64)),
        ("big 8x(256x256.256x256)", (8, 256, 256), (8, 256, 256)),
    ]
    if ARGS.quick:
        shapes = shapes[:3]
    print("== batched GEMM: _C.bmm vs the per-matrix 2-D loop, torch.matmul, np.matmul "
          "(times relative to fusednet bmm; >1x = slower than fusednet)")
    for label, sa, sb in shapes:
        a = rng.standard_normal(sa).astype(np.float32)
        b = rng.standard_normal(sb).astype(np.float32)
        A, B = _C.asarray(a), _C.asarray(b)
        batch = np.broadcast_shapes(sa[:-2], sb[:-2])
        ae = [_C.asarray(np.ascontiguousarray(m)) for m in np.broadcast_to(a, batch + sa[-2:]).reshape(-1, *sa[-2:])]
        be = [_C.asarray(np.ascontiguousarray(m)) for m in np.broadcast_to(b, batch + sb[-2:]).reshape(-1, *sb[-2:])]
        ta, tb = (torch.from_numpy(a), torch.from_numpy(b)) if torch is not None else (None, None)
        compare(label, [("bmm", lambda: _C.bmm(A, B)),
                        ("2-D loop", lambda: [_C.matmul(x, y) for x, y in zip(ae, be)]),
                        ("torch", (lambda: torch.matmul(ta, tb)) if torch is not None else None),
                        ("numpy", lambda: np.matmul(a, b))])


def op_rows(rng):
    print("== sort / top_k / cumsum / erf: fusednet ops vs torch vs NumPy (relative to fusednet)")
    x = rng.standard_normal((256, 1000)).astype(np.float32)
    X = fn.Tensor(x)
    tx = torch.from_numpy(x) if torch is not None else None
    rows = [
        ("sort 256x1000 (last axis)", lambda: ops.sort(X), (lambda: torch.sort(tx, -1)) if tx is not None else None,
         lambda: np.sort(x, -1)),
        ("top_k k=10 of 256x1000", lambda: ops.top_k(X, 10), (lambda: torch.topk(tx, 10)) if tx is not None else None,
         lambda: np.argpartition(-x, 10, -1)),
        ("cumsum 256x1000 axis 1", lambda: ops.cumsum(X, axis=1), (lambda: torch.cumsum(tx, 1)) if tx is not None else None,
         lambda: np.cumsum(x, 1)),
        ("cumsum 256x1000 axis 0", lambda: ops.cumsum(X, axis=0), (lambda: torch.cumsum(tx, 0)) if tx is not None else None,
         lambda: np.cumsum(x, 0)),
        ("erf 256x1000", lambda: ops.erf(X), (lambda: torch.erf(tx)) if tx is not None else None, None),
    ]
    for label, f, t, n in rows:
        compare(label, [("fusednet", f), ("torch", t), ("numpy", n)])


def main():
    fn.set_num_threads(ARGS.threads)
    print(f"fusednet {_C._gemm_isa()} threads={ARGS.threads} repeats={ARGS.repeats} "
          f"(load: {open('/proc/loadavg').read().split()[:3]})")
    rng = np.random.default_rng(0)
    bmm_rows(rng)
    op_rows(rng)


if __name__ == "__main__":
    main()
