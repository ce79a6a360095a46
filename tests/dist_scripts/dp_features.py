"""Run by tests/test_dist_features.py (under mpirun or alone): DataParallel fit with
validation_split, class_weight + sample_weight and an L2 kernel regularizer; then sharded
evaluate / predict on arrays and on a fusednet Dataset; then a fit on a Dataset with a Dataset as
validation_data; then a fit on a generator of (x, y, sample_weight) batches. Rank 0 saves
everything to argv[1].

argv: out.npz  use_dp(0|1)
"""
import sys

import numpy as np

import fusednet as fn

out, use_dp = sys.argv[1], int(sys.argv[2])
fn.set_num_threads(1)
comm = fn.distribution.initialize()
if use_dp:
    fn.distribution.set_distribution(fn.distribution.DataParallel())
fn.utils.set_random_seed(77)
rng = np.random.default_rng(5)
n = 83                                   # prime: uneven shards and a short last batch
x = rng.standard_normal((n, 9)).astype(np.float32)
y = rng.integers(0, 4, n)
sw = rng.uniform(0.5, 2.0, n).astype(np.float32)


def make():
    m = fn.Sequential([fn.Input((9,)),
                       fn.layers.Dense(11, activation="tanh", kernel_regularizer=fn.regularizers.L2(0.01)),
                       fn.layers.Dense(4)])
    m.compile(optimizer=fn.optimizers.SGD(0.05, momentum=0.9),
              loss=fn.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return m


res = {}
m = make()
h = m.fit(x, y, batch_size=10, epochs=6, verbose=0, validation_split=0.2, class_weight={0: 2.0, 3: 0.5},
          sample_weight=sw, shuffle=True)
for k, v in h.history.items():
    res["h1_" + k] = np.array(v)
for i, w in enumerate(m.get_weights()):
    res[f"w1_{i}"] = w
res["ev_arrays"] = np.array(m.evaluate(x, y, sample_weight=sw, batch_size=7, verbose=0))
res["pr_arrays"] = m.predict(x, batch_size=13, verbose=0)
ds = fn.data.Dataset.from_tensor_slices((x, y)).batch(9)
res["ev_ds"] = np.array(m.evaluate(ds, verbose=0))
res["pr_ds"] = m.predict(fn.data.Dataset.from_tensor_slices(x).batch(12), verbose=0)

m2 = make()
tr = fn.data.Dataset.from_tensor_slices((x[:64], y[:64])).batch(8)
va = fn.data.Dataset.from_tensor_slices((x[64:], y[64:])).batch(5)
h2 = m2.fit(tr, epochs=5, verbose=0, validation_data=va)
for k, v in h2.history.items():
    res["h2_" + k] = np.array(v)
for i, w in enumerate(m2.get_weights()):
    res[f"w2_{i}"] = w


def gen():                               # a one-pass generator: every rank builds the same one
    for i in range(0, 80, 10):
        yield x[i:i + 10], y[i:i + 10], sw[i:i + 10]


m3 = make()
h3 = m3.fit(gen(), epochs=1, verbose=0)
res["h3_loss"] = np.array(h3.history["loss"])
for i, w in enumerate(m3.get_weights()):
    res[f"w3_{i}"] = w
if comm.rank == 0:
    np.savez(out, **res)
