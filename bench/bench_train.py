"""Training throughput: fusednet vs PyTorch eager, same process, interleaved repeats, medians.

MLP 784-128-10 (Adam, sparse CE), the seed CNN and a residual CNN (see their sections below).

60,000 MNIST-shaped random samples, one epoch per measurement, batch 32 and 128. PyTorch is
measured with and without ``torch.set_flush_denormal(True)``; repeats are interleaved
(fusednet, torch, torch+FTZ, fusednet, ...) and medians reported, with the ratio of fusednet
against the faster PyTorch variant. Also times one Adam step over the model's 101,770 params.

Usage: PYTHONPATH=python python3 bench/bench_train.py [--repeats 3] [--samples 60000] [--quick]
       [--models mlp cnn resnet] [--cnn-samples 8192] [--batch 32 128] [--threads N] [--isa avx2]
--isa avx2 caps both libraries to their AVX2 kernels (bench/_isa_env.py): on an AVX-512 host an
indicative figure for an AVX2 machine only, label it with the host.
"""
import argparse
import statistics
import time

import _isa_env

ISA = _isa_env.apply()  # before numpy / torch / fusednet load (they read their ISA caps once)

import numpy as np

import fusednet as fn
from fusednet import layers


def make_data(n, seed=0):
    r = np.random.default_rng(seed)
    x = r.random((n, 784), dtype=np.float32)
    y = r.integers(0, 10, n).astype(np.int64)
    return x, y


def fusednet_model():
    m = fn.Sequential([fn.Input(shape=(784,)), layers.Dense(128, activation="relu"),
                       layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return m


def time_fusednet(model, x, y, bs):
    t = time.perf_counter()
    model.fit(x, y, batch_size=bs, epochs=1, verbose=0, shuffle=True)
    return x.shape[0] / (time.perf_counter() - t)


def torch_setup(torch):
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    return model, opt


def time_torch(torch, model, opt, xt, yt, bs, ftz):
    torch.set_flush_denormal(ftz)
    lossf = torch.nn.functional.cross_entropy
    n = xt.shape[0]
    t = time.perf_counter()
    perm = torch.randperm(n)
    for s in range(0, n, bs):
        idx = perm[s:s + bs]
        xb, yb = xt[idx], yt[idx]
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(xb), yb)
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t
    torch.set_flush_denormal(False)
    return n / dt


def adam_step_us(reps=2000):
    m = fusednet_model()
    opt = m.optimizer
    params = [w.data for w in m.trainable_weights]
    grads = [fn.asarray(np.random.default_rng(1).standard_normal(p.shape).astype(np.float32) * 1e-3)
             for p in params]
    opt._check_match(params)
    n = sum(p.size for p in params)
    for _ in range(50):
        opt._apply_arrays(params, grads)
    ts = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps):
            opt._apply_arrays(params, grads)
        ts.append((time.perf_counter() - t) / reps * 1e6)
    return n, statistics.median(ts)


def torch_adam_step_us(torch, reps=2000):
    model, opt = torch_setup(torch)
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    for _ in range(50):
        opt.step()
    ts = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps):
            opt.step()
        ts.append((time.perf_counter() - t) / reps * 1e6)
    return statistics.median(ts)


# ---------------------------------------------------------------------------- CNN section
# conv32(3x3,relu)-maxpool2-conv64(3x3,relu)-maxpool2-flatten-dense128(relu)-dense10(softmax),
# Adam, sparse CE, MNIST-shaped random data 28x28x1. fusednet is NHWC (Keras), PyTorch NCHW (its
# native layout); the same architecture and optimizer settings on both sides.
CNN_TARGET = 2.5


def make_cnn_data(n, seed=1):
    r = np.random.default_rng(seed)
    x = r.random((n, 28, 28, 1), dtype=np.float32)
    y = r.integers(0, 10, n).astype(np.int64)
    return x, y


def fusednet_cnn():
    m = fn.Sequential([fn.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
                       layers.MaxPooling2D(), layers.Conv2D(64, 3, activation="relu"),
                       layers.MaxPooling2D(), layers.Flatten(), layers.Dense(128, activation="relu"),
                       layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return m


def torch_cnn(torch):
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    return model, opt


def run_cnn(torch, args):
    n = args.cnn_samples
    x, y = make_cnn_data(n)
    print(f"CNN conv32-pool-conv64-pool-dense128-dense10, Adam, sparse CE, {n} samples/epoch, "
          f"{args.repeats} interleaved repeats (medians)")
    print(f"{'batch':>5} {'fusednet':>12} {'torch':>12} {'torch+FTZ':>12} {'ratio':>7}   (samples/s; ratio vs faster torch)")
    ok = True
    for bs in args.batch:
        fm = fusednet_cnn()
        fm.fit(x[:1024], y[:1024], batch_size=bs, epochs=1, verbose=0)  # warm-up
        res = {"fusednet": [], "torch": [], "torch_ftz": []}
        if torch is not None:
            xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            yt = torch.from_numpy(y)
            tm, topt = torch_cnn(torch)
            time_torch(torch, tm, topt, xt[:1024], yt[:1024], bs, False)
        for _ in range(args.repeats):
            res["fusednet"].append(time_fusednet(fm, x, y, bs))
            if torch is not None:
                res["torch"].append(time_torch(torch, tm, topt, xt, yt, bs, False))
                res["torch_ftz"].append(time_torch(torch, tm, topt, xt, yt, bs, True))
        med = {k: statistics.median(v) if v else float("nan") for k, v in res.items()}
        best_t = max(med["torch"], med["torch_ftz"]) if torch is not None else float("nan")
        ratio = med["fusednet"] / best_t
        flag = f"  target >= {CNN_TARGET}x " + ("OK" if ratio >= CNN_TARGET else "MISSED")
        if not ratio >= CNN_TARGET:
            ok = False
        print(f"{bs:>5} {med['fusednet']:>12,.0f} {med['torch']:>12,.0f} {med['torch_ftz']:>12,.0f} {ratio:>6.2f}x{flag}")
    return ok


# ---------------------------------------------------------------------------- residual CNN section
# stem conv16(3x3,same,relu), 3 blocks [conv16-BN-relu-conv16-BN, Add, relu], global average
# pool, dense10(softmax); Adam, sparse CE, 28x28x1 random data. Conv bias off before BN on both
# sides. Also the training-step peak memory: each library alone in a fresh subprocess, the growth
# of the resident set's high-water mark over 5 steps (VmHWM - VmRSS before the first step).
RESNET_TARGET = 2.0


def fusednet_resnet():
    x = fn.Input(shape=(28, 28, 1))
    h = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    for _ in range(3):
        y = layers.Conv2D(16, 3, padding="same", use_bias=False)(h)
        y = layers.Activation("relu")(layers.BatchNormalization()(y))
        y = layers.BatchNormalization()(layers.Conv2D(16, 3, padding="same", use_bias=False)(y))
        h = layers.Activation("relu")(layers.add([h, y]))
    out = layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling2D()(h))
    m = fn.Model(x, out)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return m


def torch_resnet(torch):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16, momentum=0.01, eps=1e-3)
            self.c2, self.b2 = nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16, momentum=0.01, eps=1e-3)

        def forward(self, h):
            return torch.relu(h + self.b2(self.c2(torch.relu(self.b1(self.c1(h))))))

    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), Block(), Block(), Block(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    return model, opt


def _rss_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def resnet_peak_mem(which, bs):
    """Run in a fresh process: KiB the resident high-water mark grows over 5 training steps."""
    x, y = make_cnn_data(bs * 5)
    if which == "fusednet":
        m = fusednet_resnet()
        m.fit(x[:bs], y[:bs], batch_size=bs, epochs=1, verbose=0, shuffle=False)   # builds the plan
        before = _rss_kb("VmRSS")
        m.fit(x, y, batch_size=bs, epochs=1, verbose=0, shuffle=False)
    else:
        import torch
        model, opt = torch_resnet(torch)
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        yt = torch.from_numpy(y)
        time_torch(torch, model, opt, xt[:bs], yt[:bs], bs, False)
        before = _rss_kb("VmRSS")
        time_torch(torch, model, opt, xt, yt, bs, False)
    return _rss_kb("VmHWM") - before


def run_resnet(torch, args):
    import subprocess
    import sys
    n = args.cnn_samples // 2
    x, y = make_cnn_data(n)
    bs = 64
    print(f"Residual CNN (stem + 3 x [conv-BN-relu-conv-BN + Add, relu], GAP, dense10), Adam, sparse CE, "
          f"batch {bs}, {n} samples/epoch, {args.repeats} interleaved repeats (medians)")
    fm = fusednet_resnet()
    assert not fm._get_plan().tape_layers, "the residual CNN must run entirely on the compiled plan"
    fm.fit(x[:512], y[:512], batch_size=bs, epochs=1, verbose=0)
    res = {"fusednet": [], "torch": [], "torch_ftz": []}
    if torch is not None:
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        yt = torch.from_numpy(y)
        tm, topt = torch_resnet(torch)
        time_torch(torch, tm, topt, xt[:512], yt[:512], bs, False)
    for _ in range(args.repeats):
        res["fusednet"].append(time_fusednet(fm, x, y, bs))
        if torch is not None:
            res["torch"].append(time_torch(torch, tm, topt, xt, yt, bs, False))
            res["torch_ftz"].append(time_torch(torch, tm, topt, xt, yt, bs, True))
    med = {k: statistics.median(v) if v else float("nan") for k, v in res.items()}
    best_t = max(med["torch"], med["torch_ftz"]) if torch is not None else float("nan")
    ratio = med["fusednet"] / best_t
    ok = ratio >= RESNET_TARGET
    print(f"{'batch':>5} {'fusednet':>12} {'torch':>12} {'torch+FTZ':>12} {'ratio':>7}")
    print(f"{bs:>5} {med['fusednet']:>12,.0f} {med['torch']:>12,.0f} {med['torch_ftz']:>12,.0f} {ratio:>6.2f}x"
          f"  target >= {RESNET_TARGET}x " + ("OK" if ok else "MISSED"))
    mem = {}
    for which in ("fusednet", "torch") if torch is not None else ("fusednet",):
        out = subprocess.run([sys.executable, __file__, "--_peak-mem", which], capture_output=True, text=True,
                             env=dict(__import__("os").environ))
        mem[which] = int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else float("nan")
    line = f"training-step peak memory growth: fusednet {mem['fusednet'] / 1024:.1f} MiB"
    if "torch" in mem:
        line += f", torch {mem['torch'] / 1024:.1f} MiB" + ("  (target <=: OK)" if mem["fusednet"] <= mem["torch"]
                                                              else "  (target <=: MISSED)")
        ok = ok and mem["fusednet"] <= mem["torch"]
    print(line)
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--samples", type=int, default=60000)
    ap.add_argument("--quick", action="store_true", help="12,000 samples, 2 repeats")
    ap.add_argument("--batch", type=int, nargs="*", default=[32, 128])
    ap.add_argument("--threads", type=int, default=0,
                    help="threads for both libraries (0 = their defaults); 1 gives a load-robust proxy")
    ap.add_argument("--models", nargs="+", choices=["mlp", "cnn", "resnet"], default=["mlp", "cnn", "resnet"])
    ap.add_argument("--_peak-mem", dest="peak_mem", choices=["fusednet", "torch"], help=argparse.SUPPRESS)
    ap.add_argument("--cnn-samples", type=int, default=8192, help="CNN samples per timed epoch")
    _isa_env.add_argument(ap)
    args = ap.parse_args()
    if args.peak_mem:
        print(resnet_peak_mem(args.peak_mem, 64))
        return 0
    if args.quick:
        args.samples, args.repeats, args.cnn_samples = 12000, 2, 2048
    fn.random.seed(0)
    x, y = make_data(args.samples)
    try:
        import torch
    except ImportError:
        torch = None
    if args.threads:
        fn.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)
    if torch is not None:
        print(_isa_env.describe())
    print(f"fusednet {fn.__version__}, {fn.get_num_threads()} threads, ISA {fn._C.cpu_isa()}; "
          f"torch {torch.__version__ if torch else 'n/a'}, {torch.get_num_threads() if torch else 0} threads")
    if "mlp" not in args.models:
        ok = True
        if "cnn" in args.models:
            ok = run_cnn(torch, args) and ok
        if "resnet" in args.models:
            ok = run_resnet(torch, args) and ok
        return 0 if ok else 1
    print(f"MLP 784-128-10, Adam, sparse CE, {args.samples} samples/epoch, {args.repeats} interleaved repeats (medians)")
    print(f"load average {' '.join(open('/proc/loadavg').read().split()[:3])} (prefer < 1.5 for figures you report)"
          if __import__('os').path.exists('/proc/loadavg') else "")
    print(f"{'batch':>5} {'fusednet':>12} {'torch':>12} {'torch+FTZ':>12} {'ratio':>7}   (samples/s; ratio vs faster torch)")
    ok = True
    targets = {32: 3.0, 128: 2.0}
    for bs in args.batch:
        fm = fusednet_model()
        fm.fit(x[:2048], y[:2048], batch_size=bs, epochs=1, verbose=0)  # warm-up
        res = {"fusednet": [], "torch": [], "torch_ftz": []}
        if torch is not None:
            xt, yt = torch.from_numpy(x), torch.from_numpy(y)
            tm, topt = torch_setup(torch)
            time_torch(torch, tm, topt, xt[:2048], yt[:2048], bs, False)
        for _ in range(args.repeats):
            res["fusednet"].append(time_fusednet(fm, x, y, bs))
            if torch is not None:
                res["torch"].append(time_torch(torch, tm, topt, xt, yt, bs, False))
                res["torch_ftz"].append(time_torch(torch, tm, topt, xt, yt, bs, True))
        med = {k: statistics.median(v) if v else float("nan") for k, v in res.items()}
        best_t = max(med["torch"], med["torch_ftz"]) if torch is not None else float("nan")
        ratio = med["fusednet"] / best_t
        tgt = targets.get(bs)
        flag = "" if tgt is None else (f"  target >= {tgt:.0f}x " + ("OK" if ratio >= tgt else "MISSED"))
        if tgt is not None and not ratio >= tgt:
            ok = False
        print(f"{bs:>5} {med['fusednet']:>12,.0f} {med['torch']:>12,.0f} {med['torch_ftz']:>12,.0f} {ratio:>6.2f}x{flag}")
    n, us = adam_step_us()
    line = f"Adam step over {n:,} params: fusednet {us:.1f} us (target <= 30 us)"
    if torch is not None:
        line += f"; torch.optim.Adam {torch_adam_step_us(torch):.1f} us"
    print(line)
    if "cnn" in args.models:
        ok = run_cnn(torch, args) and ok
    if "resnet" in args.models:
        ok = run_resnet(torch, args) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
