"""Per-layer forward / backward throughput of the seed CNN's conv and pooling layers, fusednet
(NHWC) vs PyTorch CPU eager (NCHW, its native layout), measured side by side in one run.

Layers: Conv2D(32, 3, relu) on 28x28x1 -> MaxPool 2 -> Conv2D(64, 3, relu) on 13x13x32 -> MaxPool 2.
Forward = conv + bias + relu (fused here; conv2d + relu in PyTorch). Backward = relu' + dW + db
(+ dX for conv2; conv1 is the first layer, so neither library computes dX there). A second table
times each conv + pool as the training step runs it (one conv2d_maxpool call per direction; the
GFLOP/s column counts the full conv, though the pair skips what the pool never reads).
Timings are medians of interleaved repetitions (ours, torch, ours, ...), so drift on the shared
machine hits both sides alike. Run: PYTHONPATH=python python3 bench/bench_conv.py [--batches 32 128] [--threads 1 --cpu-time] [--isa avx2] [--depthwise | --imagenet]
--isa avx2 caps both libraries to their AVX2 kernels (bench/_isa_env.py): on an AVX-512 host an
indicative figure for an AVX2 machine only, label it with the host.
On a loaded machine (load average > cores) 2-thread wall times are dominated by descheduling
at OpenMP barriers on both sides; use --threads 1 --cpu-time there for a like-for-like ratio.
"""
import argparse
import statistics
import time

import _isa_env

ISA = _isa_env.apply()  # before numpy / torch / fusednet load (they read their ISA caps once)

import numpy as np
import torch
import torch.nn.functional as F

import fusednet
from fusednet import _C


CLOCK = time.perf_counter


def timeit(fn, inner):
    t = CLOCK()
    for _ in range(inner):
        fn()
    return (CLOCK() - t) / inner


def bench_pair(ours, theirs, reps, inner):
    ours(), theirs()  # warm-up (allocations, thread pools)
    a, b = [], []
    for _ in range(reps):
        a.append(timeit(ours, inner))
        b.append(timeit(theirs, inner))
    return statistics.median(a), statistics.median(b)


def conv_layer(N, H, W, C, O, need_dx, rng):
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    w = (rng.standard_normal((3, 3, C, O)) * np.sqrt(2 / (9 * C))).astype(np.float32)
    b = np.zeros(O, np.float32)
    xa, wa, ba = _C.asarray(x), _C.asarray(w), _C.asarray(b)
    y = _C.conv2d_forward(xa, wa, ba, activation="relu")
    dy = _C.asarray(rng.standard_normal(y.shape).astype(np.float32))

    xt = torch.tensor(x).permute(0, 3, 1, 2).contiguous().requires_grad_(need_dx)
    wt = torch.tensor(w).permute(3, 2, 0, 1).contiguous().requires_grad_(True)
    bt = torch.tensor(b).requires_grad_(True)
    yt = torch.relu(F.conv2d(xt, wt, bt))
    dyt = torch.tensor(np.asarray(dy)).permute(0, 3, 1, 2).contiguous()

    fwd_ours = lambda: _C.conv2d_forward(xa, wa, ba, activation="relu")
    def fwd_torch():
        with torch.no_grad():
            torch.relu(F.conv2d(xt, wt, bt))
    bwd_ours = lambda: _C.conv2d_backward(dy, xa, wa, y, "relu", 1, "valid", 1, need_dx, True)
    def bwd_torch():
        wt.grad = bt.grad = xt.grad = None
        yt.backward(dyt, retain_graph=True)
    Ho, Wo = H - 2, W - 2
    flops = 2.0 * N * Ho * Wo * 9 * C * O
    return (fwd_ours, fwd_torch, flops), (bwd_ours, bwd_torch, flops * (2 if need_dx else 1))


def general_conv(N, H, W, C, O, k, stride, rng):
    """Conv2D(O, k, strides=stride, padding='same', no activation) fwd and bwd (dX + dW + db)."""
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    w = (rng.standard_normal((k, k, C, O)) * np.sqrt(2 / (k * k * C))).astype(np.float32)
    b = np.zeros(O, np.float32)
    xa, wa, ba = _C.asarray(x), _C.asarray(w), _C.asarray(b)
    y = _C.conv2d_forward(xa, wa, ba, stride, "same", 1, "none")
    dy = _C.asarray(rng.standard_normal(y.shape).astype(np.float32))
    xt = torch.tensor(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    wt = torch.tensor(w).permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    bt = torch.tensor(b).requires_grad_(True)
    yt = F.conv2d(xt, wt, bt, stride=stride, padding=k // 2)
    assert tuple(yt.shape) == (y.shape[0], y.shape[3], y.shape[1], y.shape[2]), (yt.shape, y.shape)
    dyt = torch.tensor(np.asarray(dy)).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)

    fwd_ours = lambda: _C.conv2d_forward(xa, wa, ba, stride, "same", 1, "none")
    def fwd_torch():
        with torch.no_grad():
            F.conv2d(xt, wt, bt, stride=stride, padding=k // 2)
    bwd_ours = lambda: _C.conv2d_backward(dy, xa, wa, y, "none", stride, "same", 1, True, True)
    def bwd_torch():
        wt.grad = bt.grad = xt.grad = None
        yt.backward(dyt, retain_graph=True)
    flops = 2.0 * N * y.shape[1] * y.shape[2] * k * k * C * O
    return (fwd_ours, fwd_torch, flops), (bwd_ours, bwd_torch, 2 * flops)


def depthwise_layer(N, H, C, stride, rng):
    """DepthwiseConv2D(3, strides=stride, padding='same', relu) fwd and bwd (dX + dW + db) vs
    PyTorch's grouped conv2d (groups = C, channels_last) + relu."""
    x = rng.standard_normal((N, H, H, C)).astype(np.float32)
    w = (rng.standard_normal((3, 3, C, 1)) / 3).astype(np.float32)
    b = np.zeros(C, np.float32)
    xa, wa, ba = _C.asarray(x), _C.asarray(w), _C.asarray(b)
    y = _C.depthwise_conv2d_forward(xa, wa, ba, stride, "same", 1, "relu")
    dy = _C.asarray(rng.standard_normal(y.shape).astype(np.float32))
    xt = torch.tensor(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    wt = torch.tensor(w).permute(2, 3, 0, 1).contiguous().requires_grad_(True)   # [C, 1, 3, 3]
    bt = torch.tensor(b).requires_grad_(True)
    yt = torch.relu(F.conv2d(xt, wt, bt, stride=stride, padding=1, groups=C))
    dyt = torch.tensor(np.asarray(dy)).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    fwd_ours = lambda: _C.depthwise_conv2d_forward(xa, wa, ba, stride, "same", 1, "relu")
    def fwd_torch():
        with torch.no_grad():
            torch.relu(F.conv2d(xt, wt, bt, stride=stride, padding=1, groups=C))
    bwd_ours = lambda: _C.depthwise_conv2d_backward(dy, xa, wa, y, "relu", stride, "same", 1, True, True)
    def bwd_torch():
        wt.grad = bt.grad = xt.grad = None
        yt.backward(dyt, retain_graph=True)
    flops = 2.0 * N * y.shape[1] * y.shape[2] * 9 * C
    return (fwd_ours, fwd_torch, flops), (bwd_ours, bwd_torch, 2 * flops)


# MobileNet-like depthwise shapes: (H, C, stride)
DEPTHWISE_SHAPES = [(56, 128, 1), (56, 128, 2), (28, 256, 1), (14, 512, 1), (7, 1024, 1)]

# ResNet-50-like shapes (issue 11): (H, C, O, k, stride)
IMAGENET_SHAPES = [(224, 3, 64, 7, 2), (56, 64, 64, 1, 1), (56, 64, 64, 3, 1), (56, 64, 256, 1, 1),
                   (56, 256, 64, 1, 1), (56, 256, 512, 1, 2), (56, 128, 128, 3, 2), (28, 128, 128, 3, 1),
                   (28, 512, 128, 1, 1), (14, 256, 256, 3, 1), (14, 1024, 256, 1, 1), (7, 512, 512, 3, 1),
                   (7, 512, 2048, 1, 1), (7, 2048, 512, 1, 1)]


def pool_layer(N, H, W, C, rng):
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    xa = _C.asarray(x)
    y, idx = _C.max_pool2d_forward(xa, 2)
    dy = _C.asarray(rng.standard_normal(y.shape).astype(np.float32))
    xt = torch.tensor(x).permute(0, 3, 1, 2).contiguous().requires_grad_(True)
    yt = F.max_pool2d(xt, 2)
    dyt = torch.tensor(np.asarray(dy)).permute(0, 3, 1, 2).contiguous()
    def fwd_torch():
        with torch.no_grad():
            F.max_pool2d(xt, 2)
    def bwd_torch():
        xt.grad = None
        yt.backward(dyt, retain_graph=True)
    fwd_ours = lambda: _C.max_pool2d_forward(xa, 2)
    bwd_ours = lambda: _C.max_pool2d_backward(dy, idx, x.shape, 2)
    elems = float(x.size)  # report input elements per second instead of FLOP/s
    return (fwd_ours, fwd_torch, elems), (bwd_ours, bwd_torch, elems)


def pair_layer(N, H, W, C, O, need_dx, rng):
    """Conv2D(O, 3, relu) -> MaxPooling2D(2) as the training step runs it (one conv2d_maxpool call each
    way) vs PyTorch's conv2d + relu + max_pool2d."""
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    w = (rng.standard_normal((3, 3, C, O)) * np.sqrt(2 / (9 * C))).astype(np.float32)
    b = np.zeros(O, np.float32)
    xa, wa, ba = _C.asarray(x), _C.asarray(w), _C.asarray(b)
    p, idx = _C.conv2d_maxpool_forward(xa, wa, ba)
    dp = _C.asarray(rng.standard_normal(p.shape).astype(np.float32))
    xt = torch.tensor(x).permute(0, 3, 1, 2).contiguous().requires_grad_(need_dx)
    wt = torch.tensor(w).permute(3, 2, 0, 1).contiguous().requires_grad_(True)
    bt = torch.tensor(b).requires_grad_(True)
    pt = F.max_pool2d(torch.relu(F.conv2d(xt, wt, bt)), 2)
    dpt = torch.tensor(np.asarray(dp)).permute(0, 3, 1, 2).contiguous()

    fwd_ours = lambda: _C.conv2d_maxpool_forward(xa, wa, ba)
    def fwd_torch():
        with torch.no_grad():
            F.max_pool2d(torch.relu(F.conv2d(xt, wt, bt)), 2)
    bwd_ours = lambda: _C.conv2d_maxpool_backward(dp, idx, xa, wa, p, need_dX=need_dx)
    def bwd_torch():
        wt.grad = bt.grad = xt.grad = None
        pt.backward(dpt, retain_graph=True)
    flops = 2.0 * N * (H - 2) * (W - 2) * 9 * C * O   # the full conv (ours skips what the pool never reads)
    return (fwd_ours, fwd_torch, flops), (bwd_ours, bwd_torch, flops * (2 if need_dx else 1))


def table(rows, total_label, N, reps):
    """Times each (name, (fwd, bwd), unit) row's passes, ours vs torch interleaved, and prints them
    with a sum line."""
    tot_o = tot_t = 0.0
    for name, passes, unit in rows:
        for pname, (fo, ft, work) in zip(("fwd", "bwd"), passes):
            inner = max(1, int(2e8 / max(work, 1) / (1 if unit == "GFLOP/s" else 50)))
            inner = min(inner, 50)
            to, tt = bench_pair(fo, ft, reps, inner)
            tot_o += to
            tot_t += tt
            print(f"{name:34s} {pname:4s} {to * 1e6:9.1f} {tt * 1e6:9.1f} "
                  f"{work / to / 1e9:7.1f} {work / tt / 1e9:7.1f}  {unit[:1]} {tt / to:5.2f}x")
    print(f"{total_label:34s} {'all':4s} {tot_o * 1e6:9.1f} {tot_t * 1e6:9.1f} "
          f"{'':10s} {'':10s} {tot_t / tot_o:5.2f}x   ({N / tot_o:.0f} vs {N / tot_t:.0f} samples/s for these layers)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--imagenet", action="store_true",
                    help="ResNet-50-like conv shapes (1x1, 3x3 s1/s2, 7x7 s2; 56^2-7^2, 64-2048 channels) at "
                         "--batches (default 8), PyTorch in channels_last")
    ap.add_argument("--depthwise", action="store_true",
                    help="MobileNet-like DepthwiseConv2D(3) shapes at --batches (default 8), PyTorch grouped "
                         "conv in channels_last")
    ap.add_argument("--threads", type=int, default=2)
    _isa_env.add_argument(ap)
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with process CPU time instead of wall time: robust on an oversubscribed "
                         "machine, but only meaningful with --threads 1 (spinning threads count too)")
    args = ap.parse_args()
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    torch.set_num_threads(args.threads)
    fusednet.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(_isa_env.describe())
    print(f"fusednet {_C.cpu_isa()} threads={args.threads} | torch {torch.__version__} threads={torch.get_num_threads()}")
    print(f"{'layer':34s} {'pass':4s} {'ours us':>9s} {'torch us':>9s} {'ours':>10s} {'torch':>10s} {'ratio':>6s}")
    if args.depthwise:
        for N in (args.batches if args.batches != [32, 128] else [8]):
            rows = [(f"dw 3x3 s{st} {H}x{H}x{C} N={N}", depthwise_layer(N, H, C, st, rng), "GFLOP/s")
                    for H, C, st in DEPTHWISE_SHAPES]
            table(rows, "sum of the depthwise layers", N, max(3, args.reps // 3))
        return
    if args.imagenet:
        for N in (args.batches if args.batches != [32, 128] else [8]):
            rows = [(f"{k}x{k} s{st} {H}x{H} {C}->{O} N={N}", general_conv(N, H, H, C, O, k, st, rng), "GFLOP/s")
                    for H, C, O, k, st in IMAGENET_SHAPES]
            table(rows, "sum of the ResNet-50-like convs", N, max(3, args.reps // 3))
        return
    for N in args.batches:
        layers = [
            (f"conv1 32@3x3 28x28x1  N={N}", conv_layer(N, 28, 28, 1, 32, False, rng), "GFLOP/s"),
            (f"pool1 2x2 26x26x32    N={N}", pool_layer(N, 26, 26, 32, rng), "Gelem/s"),
            (f"conv2 64@3x3 13x13x32 N={N}", conv_layer(N, 13, 13, 32, 64, True, rng), "GFLOP/s"),
            (f"pool2 2x2 11x11x64    N={N}", pool_layer(N, 11, 11, 64, rng), "Gelem/s"),
        ]
        table(layers, "sum of the layers above", N, args.reps)
        # the same layers as the training step runs them: each conv+pool as one pair call
        pairs = [(f"conv1+pool1 pair       N={N}", pair_layer(N, 28, 28, 1, 32, False, rng), "GFLOP/s"),
                 (f"conv2+pool2 pair       N={N}", pair_layer(N, 13, 13, 32, 64, True, rng), "GFLOP/s")]
        table(pairs, "sum of the pairs", N, args.reps)


if __name__ == "__main__":
    main()
