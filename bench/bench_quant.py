"""int8 inference vs float32 fusednet (issue 13 targets: Dense/conv >= 2x float32 at batch 64,
weights 4x smaller on disk), side by side in one run.

Kernels (one native call each, bias + relu fused on both sides):
  dense  batch 64: 784->128 (seed MLP layer 1), 1024->1024; batch 1024: 1024->1024
  conv   seed CNN conv2 (batch 64, 13x13x32 -> 3x3x64 valid); 3x3 56x56x64 -> 64 'same' (batch 4)
  conv+pool seed CNN conv2 + 2x2 max pool: _C.conv2d_maxpool_forward vs _C.qconv2d_maxpool
  float32: _C.matmul / _C.conv2d_forward;  int8: _C.qdense / _C.qconv2d, dynamic (per-sample
  scales computed in the call) and static (calibrated scale)
Models: seed MLP (784-128-10) and seed CNN (conv32-pool-conv64-pool-dense128-dense10) predict,
one batch of 64 and 2048 samples at batch 64; float32 model vs quantize(mode=dynamic/static).
Disk: .keras size of the float32 and int8 models.

Every figure is the median over --repeats of the mean time of --iters calls; float32 and int8
timings alternate within each repeat. Ratios > 1 mean int8 is faster. The machine is shared and
noisy: compare ratios from one run, not absolute times across runs.

--cpu-time runs everything on one thread timed by that thread's CPU time (time.thread_time):
on a host shared with other jobs, wall-clock medians swing by 10x while CPU time does not.
--calls adds predict(x) vs the direct call model(x) vs the inference plan alone (64 samples).
--steps adds the per-step profile of the seed models' inference plans at batch 64 (median time
of each plan step called directly, e.g. ConvPoolStep / QConvPoolStep / QuantizedDense, and the
predict overhead beyond the steps); --threads sets fusednet's thread count; --models skips the
single-kernel cases.

Usage: PYTHONPATH=python python3 bench/bench_quant.py [--repeats 7] [--iters 20] [--threads N]
       [--models] [--steps] [--calls] [--cpu-time]
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np

import fusednet as fn
from fusednet import _C, layers, quantization


CLOCK = [time.perf_counter]   # --cpu-time: time.thread_time (with one thread: immune to other jobs)


def timeit(f, iters):
    f()
    clock = CLOCK[0]
    t = clock()
    for _ in range(iters):
        f()
    return (clock() - t) / iters


def race(fns, repeats, iters):
    """{name: median seconds} with the candidates interleaved in every repeat."""
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            times[k].append(timeit(f, iters))
    return {k: statistics.median(v) for k, v in times.items()}


def report(title, med, ref="float32"):
    base = med[ref]
    parts = [f"{k} {v * 1e3:8.3f} ms" + ("" if k == ref else f" ({base / v:4.2f}x)") for k, v in med.items()]
    print(f"{title:44s} " + " | ".join(parts), flush=True)


def dense_case(M, K, N, rng, repeats, iters):
    x = fn.asarray(rng.standard_normal((M, K)).astype(np.float32))
    w = rng.standard_normal((K, N)).astype(np.float32) * 0.05
    b = fn.asarray(rng.standard_normal(N).astype(np.float32))
    wq, ws = quantization.quantize_weights(w)
    W, WS, Wf = _C.QWeight(wq), fn.asarray(ws), fn.asarray(w)
    s, z = quantization.activation_qparams(-4.0, 4.0)
    med = race({"float32": lambda: _C.matmul(x, Wf, False, False, b, "relu"),
                "int8 dynamic": lambda: _C.qdense(x, W, WS, b, None, 0, "relu"),
                "int8 static": lambda: _C.qdense(x, W, WS, b, s, z, "relu")}, repeats, iters)
    report(f"dense {M}x{K} -> {N} relu", med)
    return med


def conv_case(N, H, C, O, padding, rng, repeats, iters):
    x = fn.asarray(rng.standard_normal((N, H, H, C)).astype(np.float32))
    w = rng.standard_normal((3, 3, C, O)).astype(np.float32) * 0.05
    b = fn.asarray(rng.standard_normal(O).astype(np.float32))
    wq, ws = quantization.quantize_weights(w)
    W, WS, Wf = _C.QWeight(wq.reshape(-1, O)), fn.asarray(ws), fn.asarray(w)
    s, z = quantization.activation_qparams(-4.0, 4.0)
    med = race({"float32": lambda: _C.conv2d_forward(x, Wf, b, 1, padding, 1, "relu"),
                "int8 dynamic": lambda: _C.qconv2d(x, W, 3, WS, b, 1, padding, 1, None, 0, "relu"),
                "int8 static": lambda: _C.qconv2d(x, W, 3, WS, b, 1, padding, 1, s, z, "relu")},
               repeats, iters)
    report(f"conv {N}x{H}x{H}x{C} 3x3 -> {O} {padding} relu", med)
    return med


def conv_pool_case(N, H, C, O, rng, repeats, iters):
    """Conv(relu) + 2x2 max pool in one call each side (the seed CNN's conv2 step)."""
    x = fn.asarray(rng.standard_normal((N, H, H, C)).astype(np.float32))
    w = rng.standard_normal((3, 3, C, O)).astype(np.float32) * 0.05
    b = fn.asarray(rng.standard_normal(O).astype(np.float32))
    wq, ws = quantization.quantize_weights(w)
    W, WS, Wf = _C.QWeight(wq.reshape(-1, O)), fn.asarray(ws), fn.asarray(w)
    s, z = quantization.activation_qparams(-4.0, 4.0)
    med = race({"float32": lambda: _C.conv2d_maxpool_forward(x, Wf, b, 1, "valid", 1, "relu"),
                "int8 dynamic": lambda: _C.qconv2d_maxpool(x, W, 3, WS, b, 1, "valid", 1, None, 0, "relu"),
                "int8 static": lambda: _C.qconv2d_maxpool(x, W, 3, WS, b, 1, "valid", 1, s, z, "relu")},
               repeats, iters)
    report(f"conv+pool {N}x{H}x{H}x{C} 3x3 -> {O} relu, 2x2", med)
    return med


def seed_models():
    fn.random.set_random_seed(0)
    mlp = fn.Sequential([fn.Input(shape=(784,)), layers.Dense(128, activation="relu"),
                         layers.Dense(10, activation="softmax")])
    cnn = fn.Sequential([fn.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
                         layers.MaxPooling2D(), layers.Conv2D(64, 3, activation="relu"),
                         layers.MaxPooling2D(), layers.Flatten(), layers.Dense(128, activation="relu"),
                         layers.Dense(10, activation="softmax")])
    return {"mlp": mlp, "cnn": cnn}


def model_cases(rng, repeats, iters):
    tmp = tempfile.mkdtemp()
    for name, m in seed_models().items():
        shape = (784,) if name == "mlp" else (28, 28, 1)
        calib = rng.uniform(0, 1, (256,) + shape).astype(np.float32)
        qd = quantization.quantize(m)
        qs = quantization.quantize(m, calib, mode="static")
        for n in (64, 2048):
            x = rng.uniform(0, 1, (n,) + shape).astype(np.float32)
            it = max(1, iters // (n // 64)) if name == "mlp" else max(1, iters // (4 * (n // 64)))
            med = race({"float32": lambda: m.predict(x, batch_size=64, verbose=0),
                        "int8 dynamic": lambda: qd.predict(x, batch_size=64, verbose=0),
                        "int8 static": lambda: qs.predict(x, batch_size=64, verbose=0)}, repeats, it)
            report(f"seed {name} predict {n} samples, batch 64", med)
        f32, i8 = os.path.join(tmp, name + "_f32.keras"), os.path.join(tmp, name + "_int8.keras")
        m.save(f32)
        qs.save(i8)
        a, b = os.path.getsize(f32), os.path.getsize(i8)
        print(f"seed {name} .keras on disk: float32 {a / 1024:8.1f} KiB | int8 {b / 1024:8.1f} KiB "
              f"({a / b:4.2f}x smaller)", flush=True)


def step_profile(rng, repeats, iters):
    """Per-step medians of each seed model's inference plan (float32 / int8 dynamic / static)."""
    from fusednet.layers.base import Context
    for name, m in seed_models().items():
        shape = (784,) if name == "mlp" else (28, 28, 1)
        calib = rng.uniform(0, 1, (256,) + shape).astype(np.float32)
        x = rng.uniform(0, 1, (64,) + shape).astype(np.float32)
        X = fn.asarray(x)
        models = {"float32": m, "int8 dynamic": quantization.quantize(m),
                  "int8 static": quantization.quantize(m, calib, mode="static")}
        for tag, mm in models.items():
            mm.predict(x, batch_size=64, verbose=0)
            plan = mm._infer_plan()
            fns, h = {}, X
            for i, st in enumerate(plan.steps):
                kind = type(getattr(st.fwd, "__self__", st.fwd)).__name__
                fns[f"{i}:{kind}"] = (lambda st=st, h=h: st.fwd(Context(), h, False, False))
                h = st.fwd(Context(), h, False, False)
            fns["predict"] = lambda: mm.predict(x, batch_size=64, verbose=0)
            med = race(fns, repeats, iters)
            steps = sum(v for k, v in med.items() if k != "predict")
            print(f"seed {name} {tag:12s} steps: " + " | ".join(f"{k} {v * 1e3:.3f}" for k, v in med.items()
                                                                 if k != "predict") +
                  f" || sum {steps * 1e3:.3f} ms, predict {med['predict'] * 1e3:.3f} ms "
                  f"(overhead {(med['predict'] - steps) * 1e3:.3f})", flush=True)


def call_cases(rng, repeats, iters):
    """predict(x) vs the direct call model(x) vs the inference plan alone, 64 samples (one batch)."""
    for name, m in seed_models().items():
        shape = (784,) if name == "mlp" else (28, 28, 1)
        calib = rng.uniform(0, 1, (256,) + shape).astype(np.float32)
        x = rng.uniform(0, 1, (64,) + shape).astype(np.float32)
        X = fn.asarray(x)
        it = iters if name == "mlp" else max(1, iters // 4)
        for tag, mm in {"float32": m, "int8 dynamic": quantization.quantize(m),
                        "int8 static": quantization.quantize(m, calib, mode="static")}.items():
            mm.predict(x, batch_size=64, verbose=0)
            plan = mm._infer_plan()
            med = race({"predict": lambda: mm.predict(x, batch_size=64, verbose=0), "model(x)": lambda: mm(x),
                        "plan": lambda: plan.forward([X], False, record=False)}, repeats, it)
            print(f"seed {name} {tag:12s} 64 samples: " + " | ".join(f"{k} {v * 1e3:.3f} ms" for k, v in med.items())
                  + f" (predict overhead {(med['predict'] - med['plan']) * 1e3:.3f} ms)", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--models", action="store_true", help="only the whole-model cases")
    ap.add_argument("--steps", action="store_true", help="also profile the inference plans per step")
    ap.add_argument("--cpu-time", action="store_true", help="one thread, timed by its CPU time (loaded host)")
    ap.add_argument("--calls", action="store_true", help="also time predict vs model(x) vs the plan alone")
    a = ap.parse_args(argv)
    if a.cpu_time:    # CPU time of this thread only: run every kernel on it
        a.threads = 1
        CLOCK[0] = time.thread_time
    if a.threads:
        fn.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    print(f"fusednet int8 vs float32; qgemm path {_C.qgemm_isa()}, sgemm threads {fn.get_num_threads()}; "
          f"median of {a.repeats} x {a.iters} calls, {'thread CPU time' if a.cpu_time else 'wall clock'} "
          f"(shared machine: noisy)", flush=True)
    if not a.models:
        dense_case(64, 784, 128, rng, a.repeats, a.iters)
        dense_case(64, 1024, 1024, rng, a.repeats, a.iters)
        dense_case(1024, 1024, 1024, rng, a.repeats, max(1, a.iters // 4))
        conv_case(64, 13, 32, 64, "valid", rng, a.repeats, max(1, a.iters // 4))
        conv_pool_case(64, 13, 32, 64, rng, a.repeats, max(1, a.iters // 4))
        conv_case(4, 56, 64, 64, "same", rng, a.repeats, max(1, a.iters // 4))
    model_cases(rng, a.repeats, a.iters)
    if a.calls:
        call_cases(rng, a.repeats, a.iters)
    if a.steps:
        step_profile(rng, a.repeats, a.iters)


if __name__ == "__main__":
    main()
