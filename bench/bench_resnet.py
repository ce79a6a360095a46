"""ResNet throughput, fusednet vs PyTorch eager in one process (issue 11 targets):

* ResNet50 inference, batch 8, 224x224x3: ``model.predict`` vs ``torch.no_grad`` forward in
  eval mode, NCHW and channels_last (the faster counts); target >= 1.3x.
* ResNet18 training, 32x32x3, batch 64, Adam, sparse CE: samples/s of ``fit`` vs a PyTorch loop,
  NCHW and channels_last; target >= 2x.

The PyTorch models are the same architectures written here (torchvision is not a dependency):
ResNet50 in Keras's v1 layout (stride on the first 1x1 conv, conv biases, as
``fusednet.applications.ResNet50``), ResNet18 in torchvision's. Repeats are interleaved and
medians reported; the machine is printed with the figures.

Usage: PYTHONPATH=python python3 bench/bench_resnet.py [--repeats 5] [--only r50|r18]
       [--train-samples 1024] [--threads N]
"""
import argparse
import platform
import statistics
import time

import numpy as np

import fusednet as fn


def machine():
    model = platform.processor() or "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        flags = open("/proc/cpuinfo").read()
        isa = "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "no AVX2")
    except OSError:
        isa = "?"
    return f"{model}, {isa}, {fn.get_num_threads()} threads, fusednet ISA {fn._C.cpu_isa()}"


def torch_models(torch):
    nn = torch.nn

    class Bottleneck(nn.Module):
        def __init__(self, cin, filters, stride, shortcut):
            super().__init__()
            self.c1 = nn.Conv2d(cin, filters, 1, stride)
            self.b1 = nn.BatchNorm2d(filters, eps=1.001e-5)
            self.c2 = nn.Conv2d(filters, filters, 3, 1, 1)
            self.b2 = nn.BatchNorm2d(filters, eps=1.001e-5)
            self.c3 = nn.Conv2d(filters, 4 * filters, 1)
            self.b3 = nn.BatchNorm2d(4 * filters, eps=1.001e-5)
            self.sc = nn.Sequential(nn.Conv2d(cin, 4 * filters, 1, stride), nn.BatchNorm2d(4 * filters, eps=1.001e-5)) \
                if shortcut else None

        def forward(self, x):
            y = torch.relu(self.b1(self.c1(x)))
            y = torch.relu(self.b2(self.c2(y)))
            y = self.b3(self.c3(y))
            return torch.relu(y + (x if self.sc is None else self.sc(x)))

    class ResNet50(nn.Module):
        def __init__(self, classes=1000):
            super().__init__()
            self.stem = nn.Sequential(nn.ZeroPad2d(3), nn.Conv2d(3, 64, 7, 2), nn.BatchNorm2d(64, eps=1.001e-5),
                                      nn.ReLU(), nn.ZeroPad2d(1), nn.MaxPool2d(3, 2))
            blocks, cin = [], 64
            for filters, n, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                for i in range(n):
                    blocks.append(Bottleneck(cin, filters, stride if i == 0 else 1, i == 0))
                    cin = 4 * filters
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(2048, classes)

        def forward(self, x):
            x = self.blocks(self.stem(x))
            return torch.softmax(self.fc(x.mean((2, 3))), 1)

    class Basic(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) \
                if stride != 1 or cin != cout else None

        def forward(self, x):
            y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return torch.relu(y + (x if self.downsample is None else self.downsample(x)))

    class ResNet18(nn.Module):
        def __init__(self, classes=10):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                      nn.MaxPool2d(3, 2, 1))
            layers, cin = [], 64
            for i, c in enumerate((64, 128, 256, 512)):
                layers += [Basic(cin, c, 1 if i == 0 else 2), Basic(c, c, 1)]
                cin = c
            self.layers = nn.Sequential(*layers)
            self.fc = nn.Linear(512, classes)

        def forward(self, x):
            return self.fc(self.layers(self.stem(x)).mean((2, 3)))

    return ResNet50, ResNet18


def bench_r50(torch, args):
    x = np.random.default_rng(0).uniform(-100, 100, (8, 224, 224, 3)).astype(np.float32)
    fm = fn.applications.ResNet50(weights=None)
    fm.predict(x, batch_size=8, verbose=0)
    res = {"fusednet": []}
    if torch is not None:
        R50, _ = torch_models(torch)
        tm = R50().eval()
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        tm_cl = R50().eval().to(memory_format=torch.channels_last)
        xt_cl = xt.contiguous(memory_format=torch.channels_last)
        res.update({"torch": [], "torch_cl": []})
        with torch.no_grad():
            tm(xt), tm_cl(xt_cl)
    for _ in range(args.repeats):
        t = time.perf_counter()
        fm.predict(x, batch_size=8, verbose=0)
        res["fusednet"].append(8 / (time.perf_counter() - t))
        if torch is not None:
            with torch.no_grad():
                t = time.perf_counter()
                tm(xt)
                res["torch"].append(8 / (time.perf_counter() - t))
                t = time.perf_counter()
                tm_cl(xt_cl)
                res["torch_cl"].append(8 / (time.perf_counter() - t))
    med = {k: statistics.median(v) for k, v in res.items()}
    best = max(med.get("torch", 0), med.get("torch_cl", 0)) or float("nan")
    ratio = med["fusednet"] / best
    print(f"ResNet50 inference, batch 8, 224x224: fusednet {med['fusednet']:.1f} img/s, torch NCHW "
          f"{med.get('torch', float('nan')):.1f}, torch channels_last {med.get('torch_cl', float('nan')):.1f} "
          f"-> {ratio:.2f}x (target >= 1.3x {'OK' if ratio >= 1.3 else 'MISSED'})")
    return ratio


def bench_r18(torch, args):
    n, bs = args.train_samples, 64
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, n)
    fn.random.seed(0)
    fm = fn.applications.ResNet18(input_shape=(32, 32, 3), classes=10, weights=None)
    fm.compile(fn.optimizers.Adam(1e-3, epsilon=1e-7), "sparse_categorical_crossentropy")
    fm.fit(x[:128], y[:128], batch_size=bs, epochs=1, verbose=0)
    res = {"fusednet": []}
    if torch is not None:
        _, R18 = torch_models(torch)
        setups = {}
        for key, cl in (("torch", False), ("torch_cl", True)):
            m = R18()
            xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            if cl:
                m = m.to(memory_format=torch.channels_last)
                xt = xt.contiguous(memory_format=torch.channels_last)
            setups[key] = (m, torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-7), xt, torch.from_numpy(y))
            res[key] = []

        def torch_epoch(key, limit=None):
            m, opt, xt, yt = setups[key]
            total = n if limit is None else limit
            t = time.perf_counter()
            for s in range(0, total, bs):
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.cross_entropy(m(xt[s:s + bs]), yt[s:s + bs])
                loss.backward()
                opt.step()
            return total / (time.perf_counter() - t)
        for key in setups:
            torch_epoch(key, 128)
    for _ in range(args.repeats):
        t = time.perf_counter()
        fm.fit(x, y, batch_size=bs, epochs=1, verbose=0, shuffle=False)
        res["fusednet"].append(n / (time.perf_counter() - t))
        if torch is not None:
            for key in setups:
                res[key].append(torch_epoch(key))
    med = {k: statistics.median(v) for k, v in res.items()}
    best = max(med.get("torch", 0), med.get("torch_cl", 0)) or float("nan")
    ratio = med["fusednet"] / best
    print(f"ResNet18 training, 32x32x3, batch 64, Adam: fusednet {med['fusednet']:.0f} samples/s, torch NCHW "
          f"{med.get('torch', float('nan')):.0f}, torch channels_last {med.get('torch_cl', float('nan')):.0f} "
          f"-> {ratio:.2f}x (target >= 2x {'OK' if ratio >= 2 else 'MISSED'})")
    return ratio


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--only", choices=["r50", "r18"], default=None)
    p.add_argument("--train-samples", type=int, default=1024)
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    try:
        import torch
        if a.threads:
            torch.set_num_threads(a.threads)
    except ImportError:
        torch = None
    if a.threads:
        fn.set_num_threads(a.threads)
    print(f"machine: {machine()}; torch {torch.__version__ if torch else 'not installed'} "
          f"({torch.get_num_threads() if torch else '-'} threads)")
    if a.only in (None, "r50"):
        bench_r50(torch, a)
    if a.only in (None, "r18"):
        bench_r18(torch, a)


if __name__ == "__main__":
    main()
