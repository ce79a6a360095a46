"""Smoke suite for one CPU model: import, GEMM, conv/pool/depthwise, activations, one fit each of
an MLP and a CNN. Run natively and under qemu-x86_64 -cpu <model> by tests/test_isa.py (and by
tools/cross_aarch64.sh under qemu-aarch64); prints one JSON line the test compares across runs.
Not collected by pytest (no test_ prefix): it must stay runnable by a bare interpreter.
"""
import json
import sys

import numpy as np

import fusednet
from fusednet import layers

out = {"isa": fusednet._C.cpu_isa()}
rng = np.random.default_rng(7)

# GEMM against float64 at sizes 1, primes and non-multiples of every tile; 160³ runs threaded.
err = 0.0
for m, n, k in [(1, 1, 1), (37, 53, 29), (130, 97, 257), (160, 160, 160)]:
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.asarray(fusednet.ops.matmul(a, b))
    ref = a.astype(np.float64) @ b.astype(np.float64)
    err = max(err, float(np.max(np.abs(c - ref)) / (np.max(np.abs(ref)) + 1e-30)))
out["matmul_rel_err"] = err

fusednet.utils.set_random_seed(0)
x = rng.random((48, 12, 12, 3), dtype=np.float32)
y = rng.integers(0, 4, 48)
cnn = fusednet.Sequential([
    layers.Input(shape=(12, 12, 3)),
    layers.Conv2D(8, 3, activation="relu", padding="same"),   # direct small-K conv
    layers.MaxPooling2D(2),
    layers.DepthwiseConv2D(3, activation="relu"),
    layers.Conv2D(16, 3, activation="gelu"),                  # implicit-GEMM conv
    layers.Flatten(),
    layers.Dense(4, activation="softmax"),
])
cnn.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
h = cnn.fit(x, y, epochs=2, batch_size=16, verbose=0)
out["cnn_loss"] = [float(v) for v in h.history["loss"]]
out["cnn_pred"] = float(np.asarray(cnn.predict(x[:8], verbose=0)).sum(axis=0)[0])

fusednet.utils.set_random_seed(0)
xm = rng.standard_normal((64, 20), dtype=np.float32)
ym = rng.integers(0, 3, 64)
mlp = fusednet.Sequential([layers.Input(shape=(20,)), layers.Dense(33, activation="tanh"),
                           layers.Dense(3, activation="softmax")])
mlp.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
h = mlp.fit(xm, ym, epochs=2, batch_size=8, verbose=0)
out["mlp_loss"] = [float(v) for v in h.history["loss"]]

print(json.dumps(out))
sys.stdout.flush()
