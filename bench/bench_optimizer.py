"""Time one optimizer step: fusednet's multi-tensor Adam vs torch.optim.Adam (foreach, and fused
where this PyTorch build supports it on CPU), measured side by side in one run.

Cases: the MNIST MLP's parameters (784x128, 128, 128x10, 10 = 101,770 floats) and 10M floats
(4 tensors). Each figure is the median over repeats of the mean time per step of a batch of steps.
Run: PYTHONPATH=python python3 bench/bench_optimizer.py [--threads N] [--repeats R]
"""
import argparse
import statistics
import time

import numpy as np

import fusednet as fn

C_ = fn._C


def timeit(step, n_inner, repeats):
    for _ in range(max(3, n_inner // 10)):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n_inner):
            step()
        times.append((time.perf_counter() - t0) / n_inner)
    return statistics.median(times)


def fusednet_adam(shapes, rng):
    ps = [fn.asarray(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    gs = [fn.asarray(rng.standard_normal(s).astype(np.float32) * 1e-2) for s in shapes]
    m = [fn.asarray(np.zeros(s, np.float32)) for s in shapes]
    v = [fn.asarray(np.zeros(s, np.float32)) for s in shapes]
    it = [0]

    def step():
        it[0] += 1
        C_.adam_step(ps, gs, m, v, 1e-3, 0.9, 0.999, 1e-7, it[0])

    return step


def torch_adam(shapes, rng, **kw):
    import torch
    ps = [torch.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in shapes]
    for p in ps:
        p.grad = torch.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 1e-2)
    opt = torch.optim.Adam(ps, lr=1e-3, eps=1e-7, **kw)

    def step():
        opt.step()

    step()  # allocates state
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    if args.threads:
        fn.set_num_threads(args.threads)
    try:
        import torch
        if args.threads:
            torch.set_num_threads(args.threads)
    except ImportError:
        torch = None

    cases = {
        "MLP 101,770 params (4 tensors)": ([(784, 128), (128,), (128, 10), (10,)], 2000),
        "10M params (4 tensors)": ([(2500, 1000), (2500, 1000), (2500, 1000), (2500, 1000)], 20),
    }
    print(f"fusednet threads={fn.get_num_threads()} isa={C_.cpu_isa()}"
          + (f"; torch {torch.__version__} threads={torch.get_num_threads()}" if torch else ""))
    for name, (shapes, n_inner) in cases.items():
        n = sum(int(np.prod(s)) for s in shapes)
        rng = np.random.default_rng(0)
        res = {"fusednet adam_step": timeit(fusednet_adam(shapes, rng), n_inner, args.repeats)}
        if torch:
            res["torch Adam foreach"] = timeit(torch_adam(shapes, rng, foreach=True), n_inner, args.repeats)
            try:
                res["torch Adam fused"] = timeit(torch_adam(shapes, rng, fused=True), n_inner, args.repeats)
            except (RuntimeError, TypeError, ValueError) as e:  # fused may be unsupported on CPU
                print(f"  (torch fused Adam unavailable: {e})")
        base = res["fusednet adam_step"]
        print(f"{name}: {n:,} floats, {7 * 4 * n / 1e6:.1f} MB moved per step")
        for k, t in res.items():
            gbs = 7 * 4 * n / t / 1e9
            ratio = "" if k.startswith("fusednet") else f"  (fusednet is {t / base:.2f}x faster)"
            print(f"  {k:22s} {t * 1e6:10.1f} us/step  {gbs:6.1f} GB/s{ratio}")


if __name__ == "__main__":
    main()
