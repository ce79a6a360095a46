"""GPU benchmarks for fusednet's CUDA kernels (run on a machine with a CUDA device).

Measures, with CUDA events on fusednet's own stream (torch timings on torch's stream), after
warm-up, the median of N repetitions:
  * SGEMM 4096^3: fusednet FP32 vs torch.matmul with TF32 off; fusednet TF32 ('high') vs torch
    with TF32 on.  GFLOP/s = 2*M*N*K / t.
  * activation forward/backward (relu, gelu) over 64M floats, and Adam over 100M parameters, as
    GB/s of compulsory traffic, next to a measured device-to-device copy bandwidth (read+write).
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gemm", type=int, default=4096)
    ap.add_argument("--act-mfloats", type=int, default=64)
    ap.add_argument("--adam-mparams", type=int, default=100)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if not fn.cuda.is_available():
        print("bench_gpu: no CUDA device; nothing to measure")
        return 0
    print("device:", _C.cuda_device_name(0), "| torch:", torch.__version__ if HAVE_TORCH else "absent")
    rows = []
    bench_sgemm(args.gemm, args.reps, rows)
    copy_bw = bench_copy(args.act_mfloats * 2**20, args.reps, rows)
    bench_activation(args.act_mfloats * 2**20, args.reps, rows, copy_bw)
    bench_adam(args.adam_mparams * 10**6, max(5, args.reps // 2), rows, copy_bw)
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
