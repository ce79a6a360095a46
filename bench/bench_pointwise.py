"""Pointwise kernels: effective memory bandwidth (GB/s of bytes read + written) for
relu/sigmoid/gelu forward+backward, broadcasting add and a full sum, vs NumPy and PyTorch CPU.

    PYTHONPATH=python python3 bench/bench_pointwise.py [--n 4194304] [--reps 20]

Absolute numbers drift on shared machines; the ratios (fusednet / other, >1 = faster) measured
side by side in one run are what to compare.
"""
import argparse
import time

import numpy as np

import fusednet as fn
from fusednet import _C

try:
    import torch
    import torch.nn.functional as F
except Exception:  # pragma: no cover
    torch = None


def best_time(f, reps):
    f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return min(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1 << 22)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="0 = fusednet's default")
    args = ap.parse_args()
    if args.threads:
        fn.set_num_threads(args.threads)
    n, reps = args.n, args.reps
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n).astype(np.float32)
    dy = rng.standard_normal(n).astype(np.float32)
    out = np.empty_like(x)
    xa, dya, oa = fn.asarray(x), fn.asarray(dy), fn.asarray(out)
    rows = 1024
    m2 = x.reshape(rows, n // rows)
    bias = rng.standard_normal(n // rows).astype(np.float32)
    m2a, ba, o2a = fn.asarray(m2), fn.asarray(bias), fn.asarray(out.reshape(rows, n // rows))

    if torch is not None:
        torch.set_num_threads(fn.get_num_threads())
        tx, tdy, tout = torch.from_numpy(x), torch.from_numpy(dy), torch.from_numpy(out)
        tm2, tb, to2 = torch.from_numpy(m2), torch.from_numpy(bias), torch.from_numpy(out.reshape(rows, -1))

    cases = []  # (name, bytes moved, fusednet fn, numpy fn or None, torch fn or None)
    B = 4 * n
    y_relu = _C.activation_forward(xa, "relu")
    y_sig = _C.activation_forward(xa, "sigmoid")
    y_sig_np = np.asarray(y_sig)
    cases.append(("relu fwd", 2 * B, lambda: _C.activation_forward(xa, "relu", out=oa),
                  lambda: np.maximum(x, 0, out=out),
                  torch and (lambda: torch.relu(tx))))
    cases.append(("relu bwd", 3 * B, lambda: _C.activation_backward(dya, xa, y_relu, "relu", out=oa),
                  lambda: np.multiply(dy, x > 0, out=out),
                  torch and (lambda: torch.ops.aten.threshold_backward(tdy, tx, 0.0))))
    cases.append(("sigmoid fwd", 2 * B, lambda: _C.activation_forward(xa, "sigmoid", out=oa),
                  lambda: np.divide(1.0, 1.0 + np.exp(-x), out=out),
                  torch and (lambda: torch.sigmoid(tx, out=tout))))
    ts = torch and torch.sigmoid(tx)
    cases.append(("sigmoid bwd", 3 * B, lambda: _C.activation_backward(dya, xa, y_sig, "sigmoid", out=oa),
                  lambda: np.multiply(dy, y_sig_np * (1 - y_sig_np), out=out),
                  torch and (lambda: torch.ops.aten.sigmoid_backward(tdy, ts))))
    # NumPy has no erf, so gelu is compared with PyTorch only
    cases.append(("gelu fwd", 2 * B, lambda: _C.activation_forward(xa, "gelu", out=oa), None,
                  torch and (lambda: F.gelu(tx))))
    cases.append(("gelu bwd", 3 * B, lambda: _C.activation_backward(dya, xa, None, "gelu", out=oa), None,
                  torch and (lambda: torch.ops.aten.gelu_backward(tdy, tx))))
    cases.append(("add [M,N]+[N]", 2 * B, lambda: _C.binary("add", m2a, ba, out=o2a),
                  lambda: np.add(m2, bias, out=out.reshape(rows, -1)),
                  torch and (lambda: torch.add(tm2, tb, out=to2))))
    cases.append(("add same-shape", 3 * B, lambda: _C.binary("add", xa, dya, out=oa),
                  lambda: np.add(x, dy, out=out), torch and (lambda: torch.add(tx, tdy, out=tout))))
    cases.append(("sum all", B, lambda: _C.reduce("sum", xa, [], False), lambda: x.sum(),
                  torch and (lambda: tx.sum())))
    cases.append(("sum axis 0 [M,N]", B, lambda: _C.reduce("sum", m2a, [0], False), lambda: m2.sum(0),
                  torch and (lambda: tm2.sum(0))))

    print(f"n = {n} float32, threads = {fn.get_num_threads()}, isa = {_C.cpu_isa()}")
    print(f"{'op':<20}{'fusednet GB/s':>14}{'NumPy GB/s':>12}{'torch GB/s':>12}{'vs NumPy':>10}{'vs torch':>10}")
    for name, nbytes, ff, fnp, ft in cases:
        t_fn = best_time(ff, reps)
        t_np = best_time(fnp, reps) if fnp else None
        t_t = best_time(ft, reps) if ft else None
        g = lambda t: f"{nbytes / t / 1e9:12.1f}" if t else f"{'-':>12}"
        r = lambda t: f"{t / t_fn:10.2f}" if t else f"{'-':>10}"
        print(f"{name:<20}{nbytes / t_fn / 1e9:14.1f}{g(t_np)}{g(t_t)}{r(t_np)}{r(t_t)}")


if __name__ == "__main__":
    main()
