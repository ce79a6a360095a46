"""Run by tests/test_distribution.py (under mpirun or alone): a model whose train_step is
overridden (GradientTape, two optimizers for two layer groups, as a GAN step does), fitted with a
global batch, optionally under DataParallel; rank 0 saves the final weights and loss log.

argv: out.npz  global_batch  steps  use_dp(0 | 1)
"""
import sys

import numpy as np

import fusednet as fn

out, gb, steps, use_dp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fn.set_num_threads(1)
comm = fn.distribution.initialize()
if use_dp:
    fn.distribution.set_distribution(fn.distribution.DataParallel())
fn.utils.set_random_seed(99)


class TwoOptimizers(fn.Model):
    def __init__(self):
        super().__init__()
        self.body = fn.layers.Dense(9, activation="tanh")
        self.head = fn.layers.Dense(3)
        self.opt_body = fn.optimizers.SGD(0.1, momentum=0.5)
        self.opt_head = fn.optimizers.Adam(0.01)
        self.loss_fn = fn.losses.SparseCategoricalCrossentropy(from_logits=True)

    def call(self, x, training=None):
        return self.head(self.body(x))

    def train_step(self, data):
        x, y = data
        with fn.GradientTape() as tape:
            loss = self.loss_fn(y, self(x, training=True))
        bv, hv = self.body.trainable_variables, self.head.trainable_variables
        grads = tape.gradient(loss, bv + hv)
        self.opt_body.apply_gradients(zip(grads[:len(bv)], bv))
        self.opt_head.apply_gradients(zip(grads[len(bv):], hv))
        return {"loss": loss}

    def test_step(self, data):                # evaluated in one batch: the batch mean
        x, y = data
        return {"loss": self.loss_fn(y, self(x, training=False)), "scale": fn.ops.mean(fn.ops.abs(self(x)))}

    def predict_step(self, data):
        z = self(data, training=False)
        return {"logits": z, "double": z * 2.0}


rng = np.random.default_rng(3)
n = gb * 6 + 1                      # a last batch of one row: skipped under 2 ranks
x = rng.standard_normal((n, 5)).astype(np.float32)
y = rng.integers(0, 3, n)
m = TwoOptimizers()
m.compile(optimizer="sgd")
m(x[:2])
# one process: the 6 full batches (steps_per_epoch); DataParallel skips the 1-row batch itself
h = m.fit(x, y, batch_size=gb, epochs=steps // 6, verbose=0, shuffle=True, steps_per_epoch=None if use_dp else 6)
ev = m.evaluate(x, y, batch_size=n, verbose=0, return_dict=True)
pr = m.predict(x[:23], batch_size=5, verbose=0)
if comm.rank == 0:
    np.savez(out, *m.get_weights(), loss=np.array(h.history["loss"]), ev_loss=ev["loss"], ev_scale=ev["scale"],
             pr_logits=pr["logits"], pr_double=pr["double"])
