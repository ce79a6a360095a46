"""Run by tests/test_distribution.py (under mpirun or alone): fit an MLP / small CNN with a
global batch, optionally under DataParallel, and save the final weights (rank 0) to argv[1].

argv: out.npz  model(mlp|cnn|bn)  global_batch  steps  use_dp(0 | 1 | 2: unordered Allreduce)
"""
import sys

import numpy as np

import fusednet as fn

out, kind, gb, steps, use_dp = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
fn.set_num_threads(1)
comm = fn.distribution.initialize()
if use_dp:
    fn.distribution.set_distribution(fn.distribution.DataParallel(
        ordered=use_dp == 1, bucket_mb=float(__import__("os").environ.get("DP_BUCKET_MB", "4"))))
fn.utils.set_random_seed(1234)    # same seed on every rank (rank 0 weights are broadcast anyway)
rng = np.random.default_rng(7)
n = gb * 10
if kind == "mlp":
    x = rng.standard_normal((n, 13)).astype(np.float32)
    y = rng.integers(0, 5, n)
    model = fn.Sequential([fn.Input((13,)), fn.layers.Dense(17, activation="relu"), fn.layers.Dense(5)])
elif kind == "bn":       # BatchNormalization(synchronized=DP_SYNC) after a conv and a dense layer
    sync = __import__("os").environ.get("DP_SYNC", "1") == "1"
    x = (rng.standard_normal((n, 6, 6, 2)) * 2 + 1).astype(np.float32)
    y = rng.integers(0, 3, n)
    model = fn.Sequential([fn.Input((6, 6, 2)), fn.layers.Conv2D(4, 3, use_bias=False),
                           fn.layers.BatchNormalization(synchronized=sync, momentum=0.9),
                           fn.layers.Activation("relu"), fn.layers.Flatten(), fn.layers.Dense(6, use_bias=False),
                           fn.layers.BatchNormalization(synchronized=sync, momentum=0.9), fn.layers.Dense(3)])
else:
    x = rng.standard_normal((n, 8, 8, 2)).astype(np.float32)
    y = rng.integers(0, 3, n)
    model = fn.Sequential([fn.Input((8, 8, 2)), fn.layers.Conv2D(4, 3, activation="relu"),
                           fn.layers.Flatten(), fn.layers.Dense(3)])
if __import__("os").environ.get("DP_DEVICE") == "cuda":     # NCCL: one GPU per rank
    model.to(fn.distribution.local_cuda_device())
model.compile(optimizer=fn.optimizers.SGD(0.05, momentum=0.9),
              loss=fn.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
epochs = steps // 10
cbs = []
die = int(__import__("os").environ.get("DP_DIE_AT_STEP", "-1"))
if die >= 0 and comm.rank == 1:      # the fault test: rank 1 dies mid-fit
    class Die(fn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == die:
                if __import__("os").environ.get("DP_HANG"):
                    __import__("time").sleep(600)    # hangs: only the peers' watchdog ends the job
                __import__("os")._exit(1)
    cbs.append(Die())
h = model.fit(x, y, batch_size=gb, epochs=epochs, verbose=0, shuffle=True, callbacks=cbs)
if comm.rank == 0:
    np.savez(out, *model.get_weights(), loss=np.array(h.history["loss"]),
             accuracy=np.array(h.history["accuracy"]))
