"""One LSTM training step, fusednet vs torch.nn.LSTM (CPU), measured side by side in one run.

Shape (issue 12): LSTM(256) on x [32, 100, 128], Keras default return_sequences=False: the step
is the forward over all 100 steps plus the backward through time from a gradient on the last
state, with dX (the input needs a gradient, as behind an Embedding) and dW, dR, db. fusednet runs
it through the layer protocol (LSTM.forward / LSTM.backward: one native call each); torch runs
nn.LSTM(batch_first=True) forward + backward(h_n). Also timed: GRU(256) the same way.
Timings are medians of interleaved repetitions (ours, torch, ours, ...), so drift on the shared
machine hits both sides alike. Target: ours >= 1.5x torch.

Run: PYTHONPATH=python python3 bench/bench_seq.py [--reps 9] [--threads N] [--kind lstm gru] [--cpu-time]
On a loaded machine (load average > cores) 2-thread wall times are dominated by descheduling on
both sides (torch's OpenMP barriers worst of all); --threads 1 --cpu-time is the like-for-like ratio.
"""
import argparse
import os
import platform
import statistics
import subprocess
import time

import numpy as np
import torch

import fusednet
from fusednet.layers import GRU, LSTM
from fusednet.layers.base import Context

CLOCK = time.perf_counter


def machine():
    """'model name' from lscpu and whether the CPU has AVX-512F."""
    name = platform.processor() or "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.lower().startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except (OSError, subprocess.SubprocessError):
        pass
    avx512 = False
    try:
        with open("/proc/cpuinfo") as f:
            avx512 = " avx512f" in f.read()
    except OSError:
        pass
    return name, avx512


def steps(kind, B, T, F, U, rng):
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    dh = rng.standard_normal((B, U)).astype(np.float32)
    layer = (LSTM if kind == "lstm" else GRU)(U)
    layer(x[:1])                                    # build
    xa, dha = fusednet.asarray(x), fusednet.asarray(dh)

    def ours():
        ctx = Context()
        layer.forward(ctx, xa, True)
        return layer.backward(ctx, dha, True)

    m = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(F, U, batch_first=True)
    xt = torch.tensor(x, requires_grad=True)
    dht = torch.tensor(dh)

    def theirs():
        m.zero_grad(set_to_none=True)
        xt.grad = None
        _, state = m(xt)
        h = state[0] if kind == "lstm" else state
        h[0].backward(dht)

    return ours, theirs


def bench_pair(ours, theirs, reps, clock=CLOCK):
    for _ in range(2):          # warm-up: allocator caches, thread pools
        ours(), theirs()
    a, b = [], []
    for _ in range(reps):
        t = clock()
        ours()
        a.append(clock() - t)
        t = clock()
        theirs()
        b.append(clock() - t)
    return statistics.median(a), statistics.median(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--threads", type=int, default=None, help="threads for both libraries (default: ours)")
    ap.add_argument("--kind", nargs="+", default=["lstm", "gru"], choices=["lstm", "gru"])
    ap.add_argument("--cpu-time", action="store_true",
                    help="time process CPU seconds instead of wall time (use with --threads 1 on a loaded machine)")
    ap.add_argument("--shape", type=int, nargs=4, default=[32, 100, 128, 256], metavar=("B", "T", "F", "U"))
    args = ap.parse_args()
    if args.threads:
        fusednet.set_num_threads(args.threads)
    nt = fusednet.get_num_threads()
    torch.set_num_threads(nt)
    name, avx512 = machine()
    print(f"machine: {name}; AVX-512: {'yes' if avx512 else 'no'}; threads: fusednet {nt}, torch "
          f"{torch.get_num_threads()}; torch {torch.__version__}; fusednet ISA {fusednet._C.cpu_isa()}")
    B, T, F, U = args.shape
    rng = np.random.default_rng(0)
    print(f"one training step (forward + backward through time, dX included), x [{B}, {T}, {F}], units {U}, "
          f"median of {args.reps} ({'process CPU time' if args.cpu_time else 'wall time'}); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'layer':<10}{'fusednet ms':>14}{'torch ms':>12}{'ratio':>9}")
    for kind in args.kind:
        ours, theirs = steps(kind, B, T, F, U, rng)
        a, b = bench_pair(ours, theirs, args.reps, time.process_time if args.cpu_time else CLOCK)
        print(f"{kind.upper() + f'({U})':<10}{a * 1e3:>14.2f}{b * 1e3:>12.2f}{b / a:>8.2f}x")


if __name__ == "__main__":
    main()
