"""``BackupAndRestore`` (Keras 3): resume an interrupted ``fit`` where it stopped.

One file ``<backup_dir>/backup.npz`` is written atomically (temp file + fsync + rename,
:mod:`fusednet.io._atomic`) at every epoch end (``save_freq="epoch"``) or every ``save_freq``
batches (an int): the model weights, the optimizer state (iterations and slots), the global
random stream's (seed, offset) — which fixes every later shuffle permutation and dropout key —
the seeded layers' streams, the epoch, and for a mid-epoch backup the step and the stream as it
was at the epoch's start. ``on_train_begin`` of a new ``fit`` restores all of it: after an epoch
backup the loop continues at the next epoch; after a mid-epoch one it re-enters the epoch with
the same permutation, drops the batches already trained on
(:func:`fusednet.trainers.epoch_iterator.resumed`) and continues with the next. A killed run
resumed ends with bitwise the same weights as an uninterrupted one (tested, both modes, one
process and 2 ranks). The resumed epoch's logged loss / metrics cover only its remaining
batches. Under ``DataParallel`` only rank 0 writes; every rank restores from the same file.
"""
import io
import os

import numpy as np

from .base import Callback

__all__ = ["BackupAndRestore"]

_FILE = "backup.npz"


def _rank():
    from ..distribution import distribution
    d = distribution()
    return d.rank if d is not None else 0


class BackupAndRestore(Callback):
    """Back up the training state every epoch; restore it when ``fit`` starts again.

    Args:
        backup_dir: directory of the backup (created as needed).
        save_freq: ``"epoch"`` or an int n >= 1: back up after every n batches (counted across
            epochs, as Keras does).
        delete_checkpoint: delete the backup when training ends normally (Keras default True).

    Shape:
        (none; a callback)

    Example:
        >>> cb = fusednet.callbacks.BackupAndRestore("/tmp/backup")
        >>> model.fit(x, y, epochs=10, callbacks=[cb])   # killed at epoch 6? rerun: resumes at 7
    """

    def __new__(cls, backup_dir=None, save_freq="epoch", delete_checkpoint=True):
        # per-batch backups need the batch hook; epoch backups must not declare one (it would
        # make every fit build per-batch logs), so an int save_freq picks a subclass with it
        if cls is BackupAndRestore and not isinstance(save_freq, str):
            cls = _BatchBackupAndRestore
        return super().__new__(cls)

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir is required")
        bad = isinstance(save_freq, bool) or not isinstance(save_freq, (int, np.integer)) or save_freq < 1
        if save_freq != "epoch" and bad:
            raise ValueError(f"BackupAndRestore: save_freq must be 'epoch' or an int >= 1 (batches), "
                             f"got {save_freq!r}")
        self._seen = 0
        self._epoch = 0
        self._epoch_start = (0, 0)
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq if save_freq == "epoch" else int(save_freq)
        self.delete_checkpoint = bool(delete_checkpoint)
        self.path = os.path.join(self.backup_dir, _FILE)

    def _stream_state(self):
        from .. import random as _random
        return int(_random._stream.seed), int(_random._stream.offset)

    def on_train_begin(self, logs=None):
        self._seen = 0
        self._epoch_start = self._stream_state()
        if not os.path.exists(self.path):
            return
        from .. import random as _random
        from ..saving.saving_lib import _restore_optimizer, _restore_rng, _seeded_layers
        with np.load(self.path) as z:
            state = {k: z[k] for k in z.files}
        m = self.model
        nw = int(state["n_weights"])
        m.set_weights([state[f"w/{i:04d}"] for i in range(nw)])
        _restore_optimizer(m, {k[4:]: v for k, v in state.items() if k.startswith("opt/")}, self.path)
        _random.seed(int(state["rng_seed"]))
        _random._stream.offset = int(state["rng_offset"])
        layers = _seeded_layers(m)
        if layers:
            _restore_rng(m, {"layers": [{"name": l.name, "seed": int(s), "offset": int(o)} for l, s, o in
                                        zip(layers, state["layer_seeds"], state["layer_offsets"])]}, self.path)
        step = int(state["step"]) if "step" in state else -1
        if step < 0:
            m._resume_epoch = int(state["epoch"]) + 1
        else:        # mid-epoch: replay the epoch's start, skip the done batches, then jump
            m._resume_epoch = int(state["epoch"])
            m._resume_step = (step + 1, int(state["rng_seed"]), int(state["rng_offset"]))
            _random.seed(int(state["rng0_seed"]))
            _random._stream.offset = int(state["rng0_offset"])
        self._epoch_start = self._stream_state()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self._epoch_start = self._stream_state()     # nothing draws before the next epoch's shuffle
        if self.save_freq == "epoch":
            self._save(epoch, -1)

    def _save(self, epoch, step):
        if _rank() != 0:
            return
        from .. import random as _random
        from ..io._atomic import atomic_write
        from ..saving.saving_lib import _optimizer_state, _seeded_layers
        m = self.model
        ws = m.get_weights()
        state = {f"w/{i:04d}": np.asarray(w) for i, w in enumerate(ws)}
        state["n_weights"] = np.array(len(ws))
        for k, v in _optimizer_state(m) or []:
            state["opt/" + k] = v
        state["rng_seed"] = np.array(_random._stream.seed, np.uint64)
        state["rng_offset"] = np.array(_random._stream.offset, np.uint64)
        layers = _seeded_layers(m)
        state["layer_seeds"] = np.array([l._stream.seed for l in layers], np.uint64)
        state["layer_offsets"] = np.array([l._stream.offset for l in layers], np.uint64)
        state["epoch"] = np.array(epoch)
        state["step"] = np.array(step)
        state["rng0_seed"] = np.array(self._epoch_start[0], np.uint64)
        state["rng0_offset"] = np.array(self._epoch_start[1], np.uint64)
        buf = io.BytesIO()
        np.savez(buf, **state)
        with atomic_write(self.path) as f:
            f.write(buf.getvalue())

    def on_train_end(self, logs=None):
        self.model.__dict__.pop("_resume_epoch", None)
        self.model.__dict__.pop("_resume_step", None)
        if self.delete_checkpoint and _rank() == 0 and os.path.exists(self.path):
            os.remove(self.path)


class _BatchBackupAndRestore(BackupAndRestore):
    """:class:`BackupAndRestore` with an int ``save_freq``: backs up every ``save_freq`` batches."""

    def on_train_batch_end(self, batch, logs=None):
        self._seen += 1
        if self._seen % self.save_freq:
            return
        steps = (self.params or {}).get("steps") if hasattr(self, "params") else None
        if steps is not None and batch + 1 >= steps:
            self._save(self._epoch, -1)       # the epoch's last batch: resume at the next epoch
        else:
            self._save(self._epoch, batch)

