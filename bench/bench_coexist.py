"""fusednet beside PyTorch and beside a competing process: does either side starve the other?

Two situations users hit when fusednet is one stage of a pipeline:

1. **Interleaved in one process.** Each step trains one fusednet batch (``train_on_batch``) and
   then one PyTorch batch of the same MLP. Two OpenMP runtimes (fusednet's libgomp, PyTorch's
   bundled one) then share the cores; a runtime whose idle threads spin keeps the cores from the
   other. Reported: each side's samples/s counting only its own time, against the same loop
   without the other side (solo), and the ratio interleaved/solo (target: fusednet >= 0.9).
2. **Beside a competing 2-thread process** (NumPy/OpenBLAS matmuls in a subprocess, 2 threads):
   the seed MLP and CNN trained with ``fit`` by fusednet and by PyTorch, each with and without the
   load; the slowdown solo/loaded of fusednet against PyTorch's (target: no worse).

Repeats are interleaved; medians. Usage:
    PYTHONPATH=python python3 bench/bench_coexist.py [--repeats 5] [--steps 400] [--quick]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import fusednet as fn
from fusednet import layers

LOAD = r"""
import os, sys, numpy as np
a = np.random.default_rng(0).random((384, 384), dtype=np.float32)
sys.stdout.write("ready\n"); sys.stdout.flush()
while True:
    a = (a @ a) * np.float32(1e-3) + np.float32(0.5)
"""


def start_load():
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2")
    p = subprocess.Popen([sys.executable, "-c", LOAD], stdout=subprocess.PIPE, env=env, text=True)
    p.stdout.readline()
    time.sleep(0.3)
    return p


def fn_mlp():
    m = fn.Sequential([fn.Input(shape=(784,)), layers.Dense(128, activation="relu"),
                       layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return m


def fn_cnn():
    m = fn.Sequential([fn.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
                       layers.MaxPooling2D(), layers.Conv2D(64, 3, activation="relu"),
                       layers.MaxPooling2D(), layers.Flatten(), layers.Dense(128, activation="relu"),
                       layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return m


def torch_mlp(torch):
    nn = torch.nn
    m = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    return m, torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-7)


def torch_cnn(torch):
    nn = torch.nn
    m = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    return m, torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-7)


def torch_step(torch, model, opt, xb, yb):
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(xb), yb)
    loss.backward()
    opt.step()


def interleaved(torch, steps, bs, mode):
    """mode: 'fn' (fusednet only), 'torch' (torch only), 'both' (alternating). Samples/s per side."""
    r = np.random.default_rng(0)
    x = r.random((steps * bs, 784), dtype=np.float32)
    y = r.integers(0, 10, steps * bs).astype(np.int64)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    fm = fn_mlp()
    tm, topt = torch_mlp(torch)
    for i in range(5):  # warm-up both sides (plan build, allocator, thread pools)
        fm.train_on_batch(x[:bs], y[:bs])
        torch_step(torch, tm, topt, xt[:bs], yt[:bs])
    t_fn = t_torch = 0.0
    for i in range(steps):
        s = slice(i * bs, (i + 1) * bs)
        if mode in ("fn", "both"):
            t = time.perf_counter()
            fm.train_on_batch(x[s], y[s])
            t_fn += time.perf_counter() - t
        if mode in ("torch", "both"):
            t = time.perf_counter()
            torch_step(torch, tm, topt, xt[s], yt[s])
            t_torch += time.perf_counter() - t
    n = steps * bs
    return (n / t_fn if t_fn else None), (n / t_torch if t_torch else None)


def fit_rate(torch, which, side, n, bs):
    r = np.random.default_rng(1)
    shape = (n, 784) if which == "mlp" else (n, 28, 28, 1)
    x = r.random(shape, dtype=np.float32)
    y = r.integers(0, 10, n).astype(np.int64)
    if side == "fn":
        m = fn_mlp() if which == "mlp" else fn_cnn()
        m.fit(x[:bs * 4], y[:bs * 4], batch_size=bs, epochs=1, verbose=0)
        t = time.perf_counter()
        m.fit(x, y, batch_size=bs, epochs=1, verbose=0, shuffle=True)
        return n / (time.perf_counter() - t)
    m, opt = torch_mlp(torch) if which == "mlp" else torch_cnn(torch)
    xt = torch.from_numpy(x if which == "mlp" else np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y)
    t = time.perf_counter()
    perm = torch.randperm(n)
    for s in range(0, n, bs):
        idx = perm[s:s + bs]
        torch_step(torch, m, opt, xt[idx], yt[idx])
    return n / (time.perf_counter() - t)


def med(v):
    return statistics.median(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-load", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.steps = 2, 100
    import torch
    print(f"fusednet {fn.__version__} threads={fn.get_num_threads()} isa={fn._C.cpu_isa()} | "
          f"torch {torch.__version__} threads={torch.get_num_threads()} | "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT')} OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")

    print(f"\n1. MLP 784-128-10 b32, train_on_batch, {args.steps} steps, {args.repeats} repeats (samples/s)")
    res = {"fn": [], "torch": [], "both_fn": [], "both_torch": []}
    for _ in range(args.repeats):
        res["fn"].append(interleaved(torch, args.steps, 32, "fn")[0])
        res["torch"].append(interleaved(torch, args.steps, 32, "torch")[1])
        a, b = interleaved(torch, args.steps, 32, "both")
        res["both_fn"].append(a)
        res["both_torch"].append(b)
    f_solo, f_both = med(res["fn"]), med(res["both_fn"])
    t_solo, t_both = med(res["torch"]), med(res["both_torch"])
    print(f"   fusednet solo {f_solo:10.0f}  interleaved {f_both:10.0f}  ratio {f_both / f_solo:5.2f} (target >= 0.90)")
    print(f"   torch    solo {t_solo:10.0f}  interleaved {t_both:10.0f}  ratio {t_both / t_solo:5.2f}")

    if args.skip_load:
        return
    n = {"mlp": 2048 * 8 if not args.quick else 4096, "cnn": 2048 if not args.quick else 512}
    for which, bs in (("mlp", 32), ("cnn", 128)):
        print(f"\n2. {which.upper()} b{bs} fit, {n[which]} samples, beside a 2-thread NumPy matmul "
              f"process, {args.repeats} repeats (samples/s)")
        rates = {(s, l): [] for s in ("fn", "torch") for l in (0, 1)}
        for _ in range(args.repeats):
            for loaded in (0, 1):
                p = start_load() if loaded else None
                try:
                    for side in ("fn", "torch"):
                        rates[(side, loaded)].append(fit_rate(torch, which, side, n[which], bs))
                finally:
                    if p:
                        p.kill()
                        p.wait()
        for side in ("fn", "torch"):
            solo, loaded = med(rates[(side, 0)]), med(rates[(side, 1)])
            print(f"   {side:8s} solo {solo:10.0f}  loaded {loaded:10.0f}  slowdown {solo / loaded:5.2f}x")
        sf = med(rates[("fn", 0)]) / med(rates[("fn", 1)])
        st = med(rates[("torch", 0)]) / med(rates[("torch", 1)])
        print(f"   fusednet slowdown / torch slowdown = {sf / st:4.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
