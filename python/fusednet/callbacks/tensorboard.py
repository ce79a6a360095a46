"""TensorBoard: scalar logs in TensorBoard's event-file format, written without TensorFlow.

An event file is a TFRecord stream: per record a little-endian uint64 length, its masked
CRC-32C, the payload, the payload's masked CRC-32C. Each payload is a serialized ``Event``
protobuf (``wall_time`` = 1: double, ``step`` = 2: int64, ``file_version`` = 3: string,
``summary`` = 5: ``Summary{value = 1: Value{tag = 1: string, simple_value = 2: float}}``). The
few fields needed are encoded here by hand, so the callback needs no protobuf or TensorFlow;
TensorBoard itself reads the files.
"""
import os
import socket
import struct
import time
import warnings

from .base import Callback
from ._monitor import _float

__all__ = ["TensorBoard", "crc32c"]


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli) of ``data`` (bytes), as TFRecord files use it."""
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _masked_crc(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(v):
    out = bytearray()
    v &= (1 << 64) - 1  # negative int64s are ten-byte two's complement varints
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field_bytes(num, payload):
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time, step=None, file_version=None, scalars=None):
    msg = _varint(1 << 3 | 1) + struct.pack("<d", wall_time)
    if step is not None:
        msg += _varint(2 << 3 | 0) + _varint(int(step))
    if file_version is not None:
        msg += _field_bytes(3, file_version.encode())
    if scalars:
        summary = b"".join(
            _field_bytes(1, _field_bytes(1, tag.encode()) + _varint(2 << 3 | 5) + struct.pack("<f", value))
            for tag, value in scalars)
        msg += _field_bytes(5, summary)
    return msg


class _EventWriter:
    """One ``events.out.tfevents.*`` file in ``logdir`` (created on first write)."""

    _count = 0

    def __init__(self, logdir):
        self.logdir = logdir
        self.f = None

    def _open(self):
        os.makedirs(self.logdir, exist_ok=True)
        _EventWriter._count += 1
        name = (f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}."
                f"{os.getpid()}.{_EventWriter._count}.v2")
        self.f = open(os.path.join(self.logdir, name), "wb")
        self._record(_event(time.time(), file_version="brain.Event:2"))

    def _record(self, payload):
        header = struct.pack("<Q", len(payload))
        self.f.write(header + struct.pack("<I", _masked_crc(header)) + payload +
                     struct.pack("<I", _masked_crc(payload)))

    def scalars(self, step, values):
        if not values:
            return
        if self.f is None:
            self._open()
        self._record(_event(time.time(), step=step, scalars=values))
        self.f.flush()

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None


class TensorBoard(Callback):
    """Write the training and validation logs as TensorBoard scalars (Keras 3 layout).

    Epoch results go to ``<log_dir>/train`` and ``<log_dir>/validation`` as ``epoch_<name>``
    (validation entries without their ``val_`` prefix); with ``update_freq="batch"`` or an integer
    N, batch results also go to ``<log_dir>/train`` as ``batch_<name>`` every N batches (step =
    global batch index). View with ``tensorboard --logdir <log_dir>``.

    Args:
        log_dir: directory for the event files (default ``"logs"``).
        histogram_freq: weight histograms are not written (a non-zero value warns once).
        write_graph, write_images, write_steps_per_second, profile_batch, embeddings_freq,
            embeddings_metadata: accepted for Keras compatibility; graphs, images, profiles and
            embeddings are not written.
        update_freq: ``"epoch"`` (default), ``"batch"`` or an integer number of batches.

    Example:
        >>> model.fit(x, y, epochs=5, validation_split=0.1,
        ...           callbacks=[fusednet.callbacks.TensorBoard(log_dir="./logs")])
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        self.log_dir = os.fspath(log_dir)
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, int)
                                       or update_freq < 1):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive integer, "
                             f"got {update_freq!r}")
        self.update_freq = update_freq
        if histogram_freq:
            warnings.warn("TensorBoard: histogram_freq is not supported by fusednet; only scalars are written",
                          stacklevel=2)
        self._train = _EventWriter(os.path.join(self.log_dir, "train"))
        self._val = _EventWriter(os.path.join(self.log_dir, "validation"))
        self._global_batch = 0
        if self.update_freq != "epoch":
            # only then a per-batch hook exists: fit skips building per-batch logs without one
            self.__class__ = _BatchTensorBoard

    @staticmethod
    def _scalars(logs, prefix, strip_val):
        out = []
        for k, v in (logs or {}).items():
            if strip_val != k.startswith("val_"):
                continue
            f = _float(v)
            if f is not None:
                out.append((prefix + (k[4:] if strip_val else k), f))
        return out

    def on_epoch_end(self, epoch, logs=None):
        self._train.scalars(epoch, self._scalars(logs, "epoch_", False))
        self._val.scalars(epoch, self._scalars(logs, "epoch_", True))

    def on_train_end(self, logs=None):
        self._train.close()
        self._val.close()


class _BatchTensorBoard(TensorBoard):
    """TensorBoard with ``update_freq`` in batches (the instance's class is switched in __init__)."""

    def on_train_batch_end(self, batch, logs=None):
        self._global_batch += 1
        if self._global_batch % self.update_freq == 0:
            self._train.scalars(self._global_batch, self._scalars(logs, "batch_", False))
