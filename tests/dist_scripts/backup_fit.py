"""Run by tests/test_distribution.py: fit 6 epochs with BackupAndRestore (Adam, Dropout,
shuffling); rank 1 (or the single process) os._exit(1)s at the end of epoch ``die`` after the
backup is written. Saves the final weights (rank 0) to argv[1].

argv: out.npz  backup_dir  die_epoch(-1: never)  use_dp(0|1)  [save_freq: epoch (default) | int n:
back up every n batches, and die at batch 5 of epoch ``die`` instead of at its end]
"""
import os
import sys

import numpy as np

import fusednet as fn

out, bdir, die, use_dp = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
freq = sys.argv[5] if len(sys.argv) > 5 else "epoch"
freq = freq if freq == "epoch" else int(freq)
fn.set_num_threads(1)
comm = fn.distribution.initialize()
if use_dp:
    fn.distribution.set_distribution(fn.distribution.DataParallel())
fn.utils.set_random_seed(99)
rng = np.random.default_rng(5)
x = rng.standard_normal((60, 9)).astype(np.float32)
y = rng.integers(0, 4, 60)
model = fn.Sequential([fn.Input((9,)), fn.layers.Dense(16, activation="relu"), fn.layers.Dropout(0.3),
                       fn.layers.Dense(4)])
model.compile(optimizer=fn.optimizers.Adam(0.01), loss=fn.losses.SparseCategoricalCrossentropy(from_logits=True))


class Die(fn.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == die and comm.rank == comm.size - 1:
            os._exit(1)


class DieMidEpoch(fn.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == die and batch == 5 and comm.rank == comm.size - 1:
            if comm.size > 1:
                __import__("time").sleep(0.5)    # rank 0 finishes its backup, then waits for us
            os._exit(1)


model.fit(x, y, batch_size=8, epochs=6, verbose=0,
          callbacks=[fn.callbacks.BackupAndRestore(bdir, save_freq=freq),
                     Die() if freq == "epoch" else DieMidEpoch()])
if comm.rank == 0:
    np.savez(out, *model.get_weights())
