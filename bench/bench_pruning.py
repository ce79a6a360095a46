"""Pruning target and cost: the seed CNN (conv32-pool-conv64-pool-dense128-dense10) on the MNIST
8k/2k split, dense vs magnitude-pruned to 80% (PolynomialDecay 0 -> 0.8), same seed, same epochs.

Reports test accuracy of both (target: pruned within 0.5 points of dense) and the median seconds
per training epoch of each (pruned vs dense: the cost of pruning: masks inside the fused optimizer
step, the per-step schedule check, the native mask updates), measured in one run with the dense and
pruned epochs interleaved across repeats.

Usage: PYTHONPATH=python python3 bench/bench_pruning.py [--data ../shared/data/mnist] [--epochs 5]
       [--repeats 1] [--sparsity 0.8]
"""
import argparse
import statistics
import time

import numpy as np

import fusednet as fn
from fusednet import layers, pruning
from fusednet.datasets import mnist


def seed_cnn(seed):
    fn.random.set_random_seed(seed)
    m = fn.Sequential([fn.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
                       layers.MaxPooling2D(), layers.Conv2D(64, 3, activation="relu"),
                       layers.MaxPooling2D(), layers.Flatten(), layers.Dense(128, activation="relu"),
                       layers.Dense(10, activation="softmax")])
    return m


class EpochTimer(fn.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.t)


def train(model, x, y, epochs, callbacks):
    model.compile(fn.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    timer = EpochTimer()
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=callbacks + [timer])
    return timer.times


def step_cost(model, repeats=7, steps=400):
    """Median microseconds of one fused Adam step over the model's params, dense (masks=None) vs
    with 80%-sparse masks on the kernels, interleaved: the in-kernel mask's own cost."""
    params = [w.data for w in model.trainable_weights]
    rng = np.random.default_rng(0)
    grads = [fn.asarray(rng.normal(size=tuple(p.shape)).astype(np.float32)) for p in params]
    m = [fn._C.zeros(list(p.shape)) for p in params]
    v = [fn._C.zeros(list(p.shape)) for p in params]
    masks = [fn.asarray((rng.random(tuple(p.shape)) > 0.8).astype(np.float32)) if len(p.shape) > 1 else None
             for p in params]
    out = {"dense": [], "masked": []}
    t_step = 1
    for _ in range(repeats):
        for name, mk in (("dense", None), ("masked", masks)):
            t = time.perf_counter()
            for _ in range(steps):
                fn._C.adam_step(params, grads, m, v, 1e-3, 0.9, 0.999, 1e-7, t_step, 0.0, None, mk)
                t_step += 1
            out[name].append((time.perf_counter() - t) / steps * 1e6)
    return statistics.median(out["dense"]), statistics.median(out["masked"])


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/mnist")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--sparsity", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    (xt, yt), (xv, yv) = mnist.load_test_split(a.data, download=False)
    xt = xt.reshape(-1, 28, 28, 1).astype(np.float32) / 255.0
    xv = xv.reshape(-1, 28, 28, 1).astype(np.float32) / 255.0
    yt = yt.astype(np.int64)
    steps = int(np.ceil(len(xt) / 32)) * a.epochs
    end = int(0.7 * steps)             # reach the final sparsity with 30% of training left to recover
    res = {"dense": [], "pruned": []}
    times = {"dense": [], "pruned": []}
    for r in range(a.repeats):
        dense = seed_cnn(a.seed + r)
        times["dense"] += train(dense, xt, yt, a.epochs, [])
        res["dense"].append(float(np.mean(np.argmax(dense.predict(xv, verbose=0), 1) == yv)))
        sched = pruning.PolynomialDecay(0.0, a.sparsity, begin_step=0, end_step=end, frequency=50)
        pr = pruning.prune_low_magnitude(seed_cnn(a.seed + r), pruning_schedule=sched)
        times["pruned"] += train(pr, xt, yt, a.epochs, [pruning.UpdatePruningStep()])
        res["pruned"].append(float(np.mean(np.argmax(pr.predict(xv, verbose=0), 1) == yv)))
        sp = pruning.get_sparsity(pr)
        print(f"repeat {r}: dense {res['dense'][-1]:.4f}  pruned {res['pruned'][-1]:.4f}  "
              f"(drop {100 * (res['dense'][-1] - res['pruned'][-1]):.2f} points)  sparsity "
              + ", ".join(f"{k}={v:.3f}" for k, v in sp.items()), flush=True)
    md, mp = statistics.median(times["dense"]), statistics.median(times["pruned"])
    sd, sm = step_cost(seed_cnn(a.seed))
    print(f"seed CNN, MNIST 8k/2k, {a.epochs} epochs Adam b32, final sparsity {a.sparsity} (PolynomialDecay "
          f"0->{a.sparsity}, steps 0..{end}, every 50)")
    print(f"accuracy dense median {statistics.median(res['dense']):.4f}, pruned median "
          f"{statistics.median(res['pruned']):.4f}")
    print(f"epoch seconds: dense median {md:.2f}, pruned median {mp:.2f} (pruned/dense {mp / md:.3f}); "
          f"epoch times dense {['%.2f' % t for t in times['dense']]} pruned {['%.2f' % t for t in times['pruned']]}")
    print(f"fused Adam step over the seed CNN's params: dense {sd:.1f} us, with masks {sm:.1f} us "
          f"(masked/dense {sm / sd:.3f})")


if __name__ == "__main__":
    main()
