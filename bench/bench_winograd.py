"""Winograd F(4x4,3x3) vs the direct conv vs PyTorch (channels_last), forward only (inference).

The 3x3 stride-1 shapes of ResNet-50 at batch 8 (and any given with --shapes): per shape the
direct ``conv2d_forward`` (what training and unfolded steps run), ``conv2d_winograd_forward`` (what
a folded inference step runs, trainers/winograd.py) and torch ``conv2d`` + relu on channels_last
tensors, timed interleaved in one process, median of --reps repeats each. The kernel transform is
timed separately (once per predict call in an inference plan).
Run: PYTHONPATH=python python3 bench/bench_winograd.py [--reps 7] [--batch 8] [--threads 2]
"""
import _isa_env

ISA = _isa_env.apply()  # before numpy / torch / fusednet load (they read their ISA caps once)

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import fusednet  # noqa: E402
from fusednet import _C  # noqa: E402

SHAPES = [(56, 64, 64), (28, 128, 128), (14, 256, 256), (7, 512, 512)]   # H = W, Cin, Cout


def _median_time(fns, reps):
    """Median seconds of each function, the functions alternating within every repeat."""
    for f in fns:
        f()
    ts = [[] for _ in fns]
    for _ in range(reps):
        for i, f in enumerate(fns):
            t = time.perf_counter()
            f()
            ts[i].append(time.perf_counter() - t)
    return [statistics.median(t) for t in ts]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    _isa_env.add_argument(ap)
    args = ap.parse_args()
    try:
        import torch
        import torch.nn.functional as F
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    fusednet.set_num_threads(args.threads)
    print(_isa_env.describe() if torch is not None else f"isa: fusednet {_C.cpu_isa()}")
    print(f"fusednet {_C.cpu_isa()} threads={args.threads} | torch "
          f"{torch.__version__ if torch else 'absent'}; batch {args.batch}, median of {args.reps}")
    print(f"{'3x3 s1 same + relu':28s} {'direct ms':>10s} {'wino ms':>8s} {'torch ms':>9s} {'wino/direct':>11s} "
          f"{'torch/wino':>10s} {'u ms':>6s}")
    rng = np.random.default_rng(0)
    tot = [0.0, 0.0, 0.0]
    for H, C, O in SHAPES:
        x = rng.standard_normal((args.batch, H, H, C)).astype(np.float32)
        w = (rng.standard_normal((3, 3, C, O)) * np.sqrt(2 / (9 * C))).astype(np.float32)
        b = np.zeros(O, np.float32)
        xa, wa, ba = _C.asarray(x), _C.asarray(w), _C.asarray(b)
        u = _C.winograd_weights(wa)
        fns = [lambda: _C.conv2d_forward(xa, wa, ba, 1, "same", 1, "relu"),
               lambda: _C.conv2d_winograd_forward(xa, u, ba, "same", "relu")]
        if torch is not None:
            xt = torch.from_numpy(x).permute(0, 3, 1, 2)           # NHWC memory = channels_last
            wt = torch.from_numpy(w).permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)
            bt = torch.from_numpy(b)

            def tf():
                with torch.no_grad():
                    torch.relu(F.conv2d(xt, wt, bt, padding=1))
            fns.append(tf)
        ts = _median_time(fns, args.reps)
        tu = _median_time([lambda: _C.winograd_weights(wa)], args.reps)[0]
        tt = ts[2] if torch is not None else float("nan")
        for i, t in enumerate(ts + ([] if torch is not None else [float("nan")])):
            tot[i] += t
        print(f"{H}x{H} {C}->{O:<18d} {ts[0] * 1e3:10.2f} {ts[1] * 1e3:8.2f} {tt * 1e3:9.2f} "
              f"{ts[0] / ts[1]:10.2f}x {tt / ts[1]:9.2f}x {tu * 1e3:6.2f}")
    print(f"{'sum':28s} {tot[0] * 1e3:10.2f} {tot[1] * 1e3:8.2f} {tot[2] * 1e3:9.2f} {tot[0] / tot[1]:10.2f}x "
          f"{tot[2] / tot[1]:9.2f}x")


if __name__ == "__main__":
    main()
