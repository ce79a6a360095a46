"""recurrent_dropout cost: one LSTM / GRU training step with recurrent_dropout = 0 and > 0,
fusednet vs torch.nn.LSTM / nn.GRU (CPU, no recurrent dropout: torch has none), side by side.

Shape: units 128 on x [32, 50, 64], return_sequences=False; the step is the forward over all
steps plus the backward through time with dX, dW, dR, db, through the layer protocol (one native
call each way), as bench/bench_seq.py. Reported: medians over interleaved repetitions (ours with
rate 0, ours with rate r, torch, ...) and the ratios; rate 0 against torch is the figure that must
not move (the rate-0 schedule is the one bench_seq.py measures), rate r / rate 0 is the price of
the per-gate recurrent GEMMs.

Run: PYTHONPATH=python python3 bench/bench_rnn_dropout.py [--reps 9] [--rate 0.25] [--kind lstm gru]
        [--threads 1] [--baseline /path/to/other/checkout/python]
--baseline: also time the rate-0 step of another build (e.g. main before recurrent dropout) in
alternating child processes (ours, baseline, ours, ...), each reporting its own median of 5 steps.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

import fusednet
from fusednet import _C
from fusednet.layers import GRU, LSTM
from fusednet.layers.base import Context

CLOCK = time.perf_counter


def ours_step(layer, x, dh):
    ctx = Context()
    layer.forward(ctx, x, True)
    layer.backward(ctx, dh, True)


CHILD = r"""
import statistics, time, numpy as np, fusednet
from fusednet import _C
from fusednet.layers import GRU, LSTM
from fusednet.layers.base import Context
fusednet.set_num_threads({threads}) if {threads} else None
rng = np.random.default_rng(0)
xn = rng.standard_normal((32, 50, 64)).astype(np.float32)
x, dh = _C.asarray(xn), _C.asarray(rng.standard_normal((32, 128)).astype(np.float32))
l = {cls}(128, seed=1); l(xn)
ts = []
for _ in range(6):
    t0 = time.perf_counter(); ctx = Context(); l.forward(ctx, x, True); l.backward(ctx, dh, True)
    ts.append(time.perf_counter() - t0)
print(statistics.median(ts[1:]) * 1e3)
"""


def baseline(kind, path, reps, threads):
    """Medians (ms) of the rate-0 step: ours vs the build at ``path``, alternating processes."""
    src = CHILD.format(threads=threads, cls="LSTM" if kind == "lstm" else "GRU")
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
    out = {"ours": [], "baseline": []}
    for _ in range(reps):
        for k, pp in (("ours", here), ("baseline", path)):
            env = dict(os.environ, PYTHONPATH=pp)
            r = subprocess.run([sys.executable, "-c", src], env=env, capture_output=True, text=True, check=True)
            out[k].append(float(r.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(v) for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--rate", type=float, default=0.25)
    ap.add_argument("--kind", nargs="+", default=["lstm", "gru"])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--baseline", default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
        fusednet.set_num_threads(a.threads) if hasattr(fusednet, "set_num_threads") else None
    B, T, F, U = 32, 50, 64, 128
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((B, T, F)).astype(np.float32)
    x = _C.asarray(xn)
    dh = _C.asarray(rng.standard_normal((B, U)).astype(np.float32))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine: noisy)")
    for kind in a.kind:
        cls, tcls = (LSTM, torch.nn.LSTM) if kind == "lstm" else (GRU, torch.nn.GRU)
        l0, lr = cls(U, seed=1), cls(U, recurrent_dropout=a.rate, seed=1)
        l0(xn)
        lr(xn)
        lr.set_weights(l0.get_weights())
        tl = tcls(F, U, batch_first=True)
        xt = torch.from_numpy(xn).requires_grad_(True)

        def torch_step():
            _, h = tl(xt)
            h = h[0] if kind == "lstm" else h
            h[-1].backward(torch.from_numpy(dh.numpy()))
        runs = {"rate0": lambda: ours_step(l0, x, dh), f"rate{a.rate}": lambda: ours_step(lr, x, dh),
                "torch": torch_step}
        for f in runs.values():
            f()
        times = {k: [] for k in runs}
        for _ in range(a.reps):
            for k, f in runs.items():
                t0 = CLOCK()
                f()
                times[k].append(CLOCK() - t0)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        r = f"rate{a.rate}"
        print(f"{kind.upper()}({U}) x[{B},{T},{F}] train step, median of {a.reps}: rate 0 {med['rate0']:.2f} ms, "
              f"{r} {med[r]:.2f} ms, torch {med['torch']:.2f} ms | torch/rate0 {med['torch'] / med['rate0']:.2f}x, "
              f"torch/{r} {med['torch'] / med[r]:.2f}x, {r}/rate0 {med[r] / med['rate0']:.2f}x")
        if a.baseline:
            b = baseline(kind, a.baseline, a.reps, a.threads)
            print(f"  rate 0 vs baseline build ({a.baseline}): ours {b['ours']:.2f} ms, baseline "
                  f"{b['baseline']:.2f} ms, baseline/ours {b['baseline'] / b['ours']:.2f}x")


if __name__ == "__main__":
    main()
