"""TensorBoard callback: TFRecord framing with CRC-32C and Event protobufs, read back by an
independent decoder written here from the format's definition."""
import glob
import os
import struct

import numpy as np
import pytest

import fusednet
from fusednet import layers
from fusednet.callbacks.tensorboard import crc32c


def test_crc32c_reference_vectors():
    # RFC 3720 (iSCSI) check value and test patterns
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E


def _unmask(m):
    r = (m - 0xA282EAD8) & 0xFFFFFFFF
    return ((r >> 17) | (r << 15)) & 0xFFFFFFFF


def _read_records(path):
    data = open(path, "rb").read()
    out, i = [], 0
    while i < len(data):
        header = data[i:i + 8]
        (n,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", data[i + 8:i + 12])
        assert _unmask(hcrc) == crc32c(header)
        payload = data[i + 12:i + 12 + n]
        (pcrc,) = struct.unpack("<I", data[i + 12 + n:i + 16 + n])
        assert _unmask(pcrc) == crc32c(payload)
        out.append(payload)
        i += 16 + n
    return out


def _fields(buf):
    """Decode one protobuf message into [(field, wiretype, value)]."""
    out, i = [], 0

    def varint():
        nonlocal i
        v = shift = 0
        while True:
            b = buf[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v
    while i < len(buf):
        key = varint()
        f, wt = key >> 3, key & 7
        if wt == 0:
            out.append((f, wt, varint()))
        elif wt == 1:
            out.append((f, wt, struct.unpack("<d", buf[i:i + 8])[0]))
            i += 8
        elif wt == 5:
            out.append((f, wt, struct.unpack("<f", buf[i:i + 4])[0]))
            i += 4
        elif wt == 2:
            n = varint()
            out.append((f, wt, buf[i:i + n]))
            i += n
        else:
            raise AssertionError(f"unexpected wire type {wt}")
    return out


def _scalars(logdir):
    files = glob.glob(os.path.join(logdir, "events.out.tfevents.*"))
    assert len(files) == 1, files
    recs = [_fields(r) for r in _read_records(files[0])]
    assert (3, 2, b"brain.Event:2") in recs[0]
    got = {}
    for rec in recs[1:]:
        step = next(v for f, _, v in rec if f == 2)
        summary = next(v for f, _, v in rec if f == 5)
        for f, _, val in _fields(summary):
            assert f == 1
            vf = dict((ff, vv) for ff, _, vv in _fields(val))
            got.setdefault(vf[1].decode(), []).append((step, vf[2]))
    return got


@pytest.mark.parametrize("update_freq", ["epoch", 2])
def test_tensorboard_writes_train_and_validation_scalars(tmp_path, update_freq):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(53, 4)).astype(np.float32)
    y = rng.integers(0, 3, 53)
    fusednet.random.seed(0)
    m = fusednet.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    cb = fusednet.callbacks.TensorBoard(log_dir=tmp_path / "logs", update_freq=update_freq)
    hist = m.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0, callbacks=[cb])
    train = _scalars(tmp_path / "logs" / "train")
    val = _scalars(tmp_path / "logs" / "validation")
    for key in ("loss", "accuracy"):
        steps, vals = zip(*train["epoch_" + key])
        assert steps == (0, 1, 2)
        np.testing.assert_allclose(vals, hist.history[key], rtol=1e-6)
        steps, vals = zip(*val["epoch_" + key])
        np.testing.assert_allclose(vals, hist.history["val_" + key], rtol=1e-6)
    assert not any(k.startswith("epoch_val_") for k in train)
    if update_freq == "epoch":
        assert not any(k.startswith("batch_") for k in train)
    else:
        n_batches = 3 * int(np.ceil(40 / 8))       # 40 training rows after the 25% split
        steps = [s for s, _ in train["batch_loss"]]
        assert steps == list(range(2, n_batches + 1, 2))


def test_tensorboard_bad_update_freq():
    with pytest.raises(ValueError, match="update_freq"):
        fusednet.callbacks.TensorBoard(update_freq=0)


def test_tensorboard_files_read_by_tensorboard(tmp_path):
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = rng.normal(size=(40, 1)).astype(np.float32)
    m = fusednet.Sequential([layers.Input((3,)), layers.Dense(1)])
    m.compile("sgd", "mse", metrics=["mae"])
    hist = m.fit(x, y, epochs=4, batch_size=10, validation_split=0.25, verbose=0,
                 callbacks=[fusednet.callbacks.TensorBoard(log_dir=tmp_path)])
    for sub, prefix in (("train", ""), ("validation", "val_")):
        acc = ea_mod.EventAccumulator(str(tmp_path / sub))
        acc.Reload()
        assert set(acc.Tags()["scalars"]) == {"epoch_loss", "epoch_mae"}
        for key in ("loss", "mae"):
            ev = acc.Scalars("epoch_" + key)
            assert [e.step for e in ev] == [0, 1, 2, 3]
            np.testing.assert_allclose([e.value for e in ev], hist.history[prefix + key], rtol=1e-6)
