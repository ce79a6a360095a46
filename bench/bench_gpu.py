"""GPU benchmarks for fusednet's CUDA kernels (run on a machine with a CUDA device).

Measures, with CUDA events on fusednet's own stream (torch timings on torch's stream), after
warm-up, the median of N repetitions:
  * SGEMM 4096^3: fusednet FP32 vs torch.matmul with TF32 off; fusednet TF32 ('high') vs torch
    with TF32 on.  GFLOP/s = 2*M*N*K / t.
  * activation forward/backward (relu, gelu) over 64M floats, and Adam over 100M parameters, as
    GB/s of compulsory traffic, next to a measured device-to-device copy bandwidth (read+write).
  * the MNIST CNN's conv layers (3x3 1->32 on 28x28, 3x3 32->64 on 13x13, batch 128): forward and
    backward (dX, dW, db) ms vs torch.nn.functional.conv2d (cuDNN, NCHW) on the same GPU.
  * MLP 784-128-10 (relu, softmax + sparse CE, Adam) training at batch 128: fusednet Model.fit on
    the device vs a PyTorch eager loop (same model, same optimizer, GPU-resident data, shuffled
    batches) in samples/s; issue 5's target is fusednet >= 2x torch eager.
Prints a table; with --json PATH also writes the numbers. Timing uses fusednet.cuda.synchronize()
around host-timed loops when torch is absent (events need torch's CUDA API).
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np

import fusednet as fn
from fusednet import _C

try:
    import torch
    HAVE_TORCH = torch.cuda.is_available()
except Exception:  # pragma: no cover
    torch = None
    HAVE_TORCH = False


def timed(fn_call, reps, warmup=3):
    """Median seconds per call. fusednet kernels run on fusednet's stream, so we synchronise that
    stream around each call and time on the host: robust, and the calls here are >= ~100 us."""
    for _ in range(warmup):
        fn_call()
    fn.cuda.synchronize()
    ts = []
    for _ in range(reps):
        fn.cuda.synchronize()
        t0 = time.perf_counter()
        fn_call()
        fn.cuda.synchronize()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def timed_torch(fn_call, reps, warmup=3):
    """Median seconds per call with CUDA events on torch's current stream."""
    for _ in range(warmup):
        fn_call()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn_call()
        e.record()
        e.synchronize()
        ts.append(s.elapsed_time(e) / 1e3)
    return statistics.median(ts)


def dev_randn(shape, seed=0):
    rng = np.random.default_rng(seed)
    return _C.asarray(rng.standard_normal(shape, dtype=np.float32)).to("cuda")


def bench_sgemm(n, reps, rows):
    a, b = dev_randn((n, n), 1), dev_randn((n, n), 2)
    c = _C.empty([n, n], "float32", "cuda")
    flop = 2.0 * n * n * n
    _C.set_matmul_precision("highest")
    t = timed(lambda: _C.matmul(a, b, out=c), reps)
    rows.append(("sgemm %d^3 fp32" % n, "fusednet", flop / t / 1e9, "GFLOP/s"))
    _C.set_matmul_precision("high")
    t = timed(lambda: _C.matmul(a, b, out=c), reps)
    rows.append(("sgemm %d^3 tf32" % n, "fusednet", flop / t / 1e9, "GFLOP/s"))
    _C.set_matmul_precision("highest")
    if HAVE_TORCH:
        ta = torch.randn(n, n, device="cuda")
        tb = torch.randn(n, n, device="cuda")
        tc = torch.empty(n, n, device="cuda")
        old = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = False
        t = timed_torch(lambda: torch.matmul(ta, tb, out=tc), reps)
        rows.append(("sgemm %d^3 fp32" % n, "torch", flop / t / 1e9, "GFLOP/s"))
        torch.backends.cuda.matmul.allow_tf32 = True
        t = timed_torch(lambda: torch.matmul(ta, tb, out=tc), reps)
        rows.append(("sgemm %d^3 tf32" % n, "torch", flop / t / 1e9, "GFLOP/s"))
        torch.backends.cuda.matmul.allow_tf32 = old


def bench_copy(nfloat, reps, rows):
    src = _C.zeros([nfloat], "float32", "cuda")
    dst = _C.empty([nfloat], "float32", "cuda")
    t = timed(lambda: dst.copy_(src), reps)
    bw = 2 * 4 * nfloat / t / 1e9
    rows.append(("d2d copy %dM floats" % (nfloat // 2**20), "fusednet", bw, "GB/s"))
    return bw


def bench_activation(nfloat, reps, rows, copy_bw):
    x = dev_randn((nfloat,), 3)
    dy = dev_randn((nfloat,), 4)
    y = _C.empty([nfloat], "float32", "cuda")
    dx = _C.empty([nfloat], "float32", "cuda")
    for kind in ["relu", "gelu"]:
        t = timed(lambda: _C.activation_forward(x, kind, out=y), reps)
        bw = 2 * 4 * nfloat / t / 1e9
        rows.append(("act fwd %s" % kind, "fusednet", bw, "GB/s (%.0f%% of copy)" % (100 * bw / copy_bw)))
        # backward reads dy, x (and y for some kinds; counted as dy + x + write dx)
        t = timed(lambda: _C.activation_backward(dy, x, y, kind, out=dx), reps)
        bw = 3 * 4 * nfloat / t / 1e9
        rows.append(("act bwd %s" % kind, "fusednet", bw, "GB/s (%.0f%% of copy)" % (100 * bw / copy_bw)))


def bench_adam(nparam, reps, rows, copy_bw):
    # A realistic mix: a few big tensors plus many small (bias-like) ones.
    sizes = [nparam // 4] * 3 + [4096] * 64
    sizes.append(nparam - sum(sizes))
    ps = [_C.zeros([s], "float32", "cuda") for s in sizes]
    gs = [_C.full([s], 0.01, "float32", "cuda") for s in sizes]
    ms = [_C.zeros([s], "float32", "cuda") for s in sizes]
    vs = [_C.zeros([s], "float32", "cuda") for s in sizes]
    step = [0]

    def run():
        step[0] += 1
        _C.adam_step(ps, gs, ms, vs, 1e-3, 0.9, 0.999, 1e-7, step[0], 0.0, None)

    t = timed(run, reps)
    bw = 7 * 4 * nparam / t / 1e9  # read p, g, m, v; write p, m, v
    rows.append(("adam %dM params" % (nparam // 10**6), "fusednet", bw,
                 "GB/s (%.0f%% of copy; goal >= 75%%)" % (100 * bw / copy_bw)))
    if HAVE_TORCH:
        tp = [torch.zeros(s, device="cuda", requires_grad=True) for s in sizes]
        for p in tp:
            p.grad = torch.full_like(p, 0.01)
        opt = torch.optim.Adam(tp, lr=1e-3, eps=1e-7, fused=True)
        t = timed_torch(opt.step, reps)
        bw = 7 * 4 * nparam / t / 1e9
        rows.append(("adam %dM params" % (nparam // 10**6), "torch fused", bw, "GB/s"))


def bench_conv(reps, rows):
    """The CNN's conv layers at batch 128 (fusednet NHWC vs torch NCHW/cuDNN, FP32, TF32 off)."""
    cases = [("conv 3x3 1->32 28x28 b128", (128, 28, 28, 1, 32)),
             ("conv 3x3 32->64 13x13 b128", (128, 13, 13, 32, 64))]
    for name, (N, H, W, C, O) in cases:
        x = dev_randn((N, H, W, C), 5)
        w = dev_randn((3, 3, C, O), 6)
        b = dev_randn((O,), 7)
        y = _C.conv2d_forward(x, w, b, activation="relu")
        dy = dev_randn(tuple(y.shape), 8)
        t_f = timed(lambda: _C.conv2d_forward(x, w, b, activation="relu", out=y), reps)
        t_b = timed(lambda: _C.conv2d_backward(dy, x, w, y, "relu"), reps)
        rows.append((name + " fwd", "fusednet", t_f * 1e3, "ms"))
        rows.append((name + " bwd", "fusednet", t_b * 1e3, "ms"))
        if HAVE_TORCH:
            old = torch.backends.cudnn.allow_tf32
            torch.backends.cudnn.allow_tf32 = False
            tx = torch.randn(N, C, H, W, device="cuda", requires_grad=True)
            tw = torch.randn(O, C, 3, 3, device="cuda", requires_grad=True)
            tb = torch.randn(O, device="cuda", requires_grad=True)
            F = torch.nn.functional
            t_tf = timed_torch(lambda: F.relu(F.conv2d(tx, tw, tb)), reps)
            ty = F.relu(F.conv2d(tx, tw, tb))
            tdy = torch.randn_like(ty)
            t_tb = timed_torch(lambda: torch.autograd.grad(ty, (tx, tw, tb), tdy, retain_graph=True), reps)
            torch.backends.cudnn.allow_tf32 = old
            rows.append((name + " fwd", "torch", t_tf * 1e3, "ms (fusednet %.2fx)" % (t_tf / t_f)))
            rows.append((name + " bwd", "torch", t_tb * 1e3, "ms (fusednet %.2fx)" % (t_tb / t_b)))


def bench_mlp_train(n, epochs, rows, batch=128):
    """Samples/s of MLP 784-128-10 training at `batch`, fusednet fit on CUDA vs torch eager."""
    rng = np.random.default_rng(0)
    x = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, size=n).astype(np.int64)
    from fusednet.layers import Dense, Input
    fn.random.set_random_seed(0)
    m = fn.Sequential([Input((784,)), Dense(128, activation="relu"), Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", device="cuda")
    m.fit(x, y, epochs=1, batch_size=batch, verbose=0)  # warm-up: plan, allocator, kernels
    fn.cuda.synchronize()
    t0 = time.perf_counter()
    m.fit(x, y, epochs=epochs, batch_size=batch, verbose=0)
    fn.cuda.synchronize()
    sps = n * epochs / (time.perf_counter() - t0)
    rows.append(("mlp train b%d" % batch, "fusednet", sps, "samples/s"))
    if not HAVE_TORCH:
        return
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)).cuda()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    lossf = torch.nn.CrossEntropyLoss()
    tx = torch.from_numpy(x).cuda()
    ty = torch.from_numpy(y).cuda()

    def epoch():
        perm = torch.randperm(n, device="cuda")
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            opt.zero_grad(set_to_none=True)
            loss = lossf(net(tx[idx]), ty[idx])
            loss.backward()
            opt.step()

    epoch()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(epochs):
        epoch()
    torch.cuda.synchronize()
    tsps = n * epochs / (time.perf_counter() - t0)
    rows.append(("mlp train b%d" % batch, "torch eager", tsps,
                 "samples/s (fusednet %.2fx; target >= 2x)" % (sps / tsps)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gemm", type=int, default=4096)
    ap.add_argument("--act-mfloats", type=int, default=64)
    ap.add_argument("--adam-mparams", type=int, default=100)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--mlp-samples", type=int, default=60000)
    ap.add_argument("--mlp-epochs", type=int, default=3)
    ap.add_argument("--only", default=None, help="comma list of: sgemm,act,adam,conv,mlp")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if not fn.cuda.is_available():
        print("bench_gpu: no CUDA device; nothing to measure")
        return 0
    print("device:", _C.cuda_device_name(0), "| torch:", torch.__version__ if HAVE_TORCH else "absent")
    rows = []
    want = set((args.only or "sgemm,act,adam,conv,mlp").split(","))

    def section(name, f, *a):
        # one failing section must not hide the others' numbers
        if name not in want:
            return None
        try:
            return f(*a)
        except Exception as e:  # noqa: BLE001 - reported in the table
            rows.append((name, "ERROR", float("nan"), "%s: %s" % (type(e).__name__, e)))
            return None

    section("sgemm", bench_sgemm, args.gemm, args.reps, rows)
    copy_bw = None
    if want & {"act", "adam"}:
        copy_bw = bench_copy(args.act_mfloats * 2**20, args.reps, rows)
    section("act", bench_activation, args.act_mfloats * 2**20, args.reps, rows, copy_bw)
    section("adam", bench_adam, args.adam_mparams * 10**6, max(5, args.reps // 2), rows, copy_bw)
    section("conv", bench_conv, args.reps, rows)
    section("mlp", bench_mlp_train, args.mlp_samples, args.mlp_epochs, rows)
    print()
    print("%-28s %-12s %12s  %s" % ("benchmark", "impl", "value", "unit"))
    for name, impl, val, unit in rows:
        print("%-28s %-12s %12.1f  %s" % (name, impl, val, unit))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([dict(name=n, impl=i, value=v, unit=u) for n, i, v, u in rows], f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
