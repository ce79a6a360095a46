"""``BackupAndRestore`` (Keras 3): resume an interrupted ``fit`` where it stopped.

At every epoch end (``save_freq="epoch"``) one file ``<backup_dir>/backup.npz`` is written
atomically (temp file + fsync + rename, :mod:`fusednet.io._atomic`): the model weights, the
optimizer state (iterations and slots), the global random stream's (seed, offset) — which fixes
every later epoch's shuffle permutation and dropout keys — the seeded layers' streams, and the
epoch. ``on_train_begin`` of a new ``fit`` restores all of it and the epoch loop continues at the
next epoch, so a killed run resumed ends with bitwise the same weights as an uninterrupted one
(tested). Under ``DataParallel`` only rank 0 writes; every rank restores from the same file.
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
        save_freq: ``"epoch"`` (only value supported).
        delete_checkpoint: delete the backup when training ends normally (Keras default True).

    Shape:
        (none; a callback)

    Example:
        >>> cb = fusednet.callbacks.BackupAndRestore("/tmp/backup")
        >>> model.fit(x, y, epochs=10, callbacks=[cb])   # killed at epoch 6? rerun: resumes at 7
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir is required")
        if save_freq != "epoch":
            raise ValueError(f"BackupAndRestore: only save_freq='epoch' is supported, got {save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = bool(delete_checkpoint)
        self.path = os.path.join(self.backup_dir, _FILE)

    def on_train_begin(self, logs=None):
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
        m._resume_epoch = int(state["epoch"]) + 1

    def on_epoch_end(self, epoch, logs=None):
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
        buf = io.BytesIO()
        np.savez(buf, **state)
        with atomic_write(self.path) as f:
            f.write(buf.getvalue())

    def on_train_end(self, logs=None):
        self.model.__dict__.pop("_resume_epoch", None)
        if self.delete_checkpoint and _rank() == 0 and os.path.exists(self.path):
            os.remove(self.path)
