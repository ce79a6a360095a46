"""fusednet.io: hand-written safetensors, atomic writes, corruption detection, .fnet files."""
import json
import os
import struct
import zipfile

import numpy as np
import pytest

import fusednet.io as fio
from tolerances import TOL

try:
    import safetensors.numpy as stn
except Exception:  # pragma: no cover - optional extra "io"
    stn = None


class FakeWeight:
    def __init__(self, path):
        self.path = path


class FakeModel:
    def __init__(self, shapes, names=None, seed=0):
        rng = np.random.default_rng(seed)
        self._w = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        self._names = names

    @property
    def weights(self):
        return [FakeWeight(n) for n in self._names] if self._names else []

    def get_weights(self):
        return [w.copy() for w in self._w]

    def set_weights(self, ws):
        self._w = [np.array(w, dtype=np.float32) for w in ws]

    def get_config(self):
        return {"shapes": [list(w.shape) for w in self._w], "names": self._names}

    @classmethod
    def from_config(cls, cfg):
        return cls([tuple(s) for s in cfg["shapes"]], cfg["names"], seed=99)


def sample(rng):
    return {"dense/kernel": rng.standard_normal((5, 3)).astype(np.float32),
            "dense/bias": rng.standard_normal(3).astype(np.float32),
            "scalar": np.array(2.5, dtype=np.float32),
            "empty": np.zeros((0, 4), np.float32),
            "steps": np.arange(3, dtype=np.int64)}


def assert_same(a, b):
    assert list(a) == list(b)
    r, t = TOL["exact"]
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
        np.testing.assert_allclose(a[k], b[k], rtol=r, atol=t)


def test_roundtrip_keeps_order_and_bits(tmp_path, rng):
    w = sample(rng)
    p = tmp_path / "m.safetensors"
    fio.save_weights(p, w, metadata={"k": "v"})
    got, meta = fio.load_weights(p, return_metadata=True)
    assert_same(w, got)
    assert meta == {"k": "v"}
    raw = p.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["dense/kernel"] == {"dtype": "F32", "shape": [5, 3], "data_offsets": [0, 60]}
    got["dense/kernel"][0, 0] = 1.0  # writable copy


def test_list_inputs(tmp_path, rng):
    arrs = [rng.standard_normal((2, 2)).astype(np.float32), np.ones(3, np.float32)]
    fio.save_weights(tmp_path / "a.safetensors", arrs)
    assert list(fio.load_weights(tmp_path / "a.safetensors")) == ["0000", "0001"]
    fio.save_weights(tmp_path / "b.safetensors", [("x", arrs[0]), ("y", arrs[1])])
    assert list(fio.load_weights(tmp_path / "b.safetensors")) == ["x", "y"]
    with pytest.raises(ValueError, match="duplicate"):
        fio.save_weights(tmp_path / "c.safetensors", [("x", arrs[0]), ("x", arrs[1])])
    with pytest.raises(TypeError, match="unsupported dtype"):
        fio.save_weights(tmp_path / "d.safetensors", {"c": np.ones(2, np.complex64)})


@pytest.mark.skipif(stn is None, reason="safetensors package not installed (extra 'io')")
def test_interop_with_safetensors_package(tmp_path, rng):
    w = sample(rng)
    fio.save_weights(tmp_path / "ours.safetensors", w)
    theirs = stn.load_file(str(tmp_path / "ours.safetensors"))
    for k in w:
        np.testing.assert_array_equal(theirs[k], w[k])
    stn.save_file(w, str(tmp_path / "theirs.safetensors"))
    got = fio.load_weights(tmp_path / "theirs.safetensors")
    for k in w:
        np.testing.assert_array_equal(got[k], w[k])


def _write(p, b):
    p.write_bytes(b)
    return p


def _hdr(header, data=b""):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


@pytest.mark.parametrize("case", ["empty", "short_len", "truncated_header", "truncated_data", "trailing",
                                  "bad_json", "not_object", "bad_dtype", "bad_shape", "size_mismatch",
                                  "gap", "overlap", "huge_header", "dupe_key", "missing_field"])
def test_corruption_raises_valueerror_naming_file(tmp_path, rng, case):
    good = fio.dumps(sample(rng))
    f32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    blobs = {
        "empty": b"",
        "short_len": b"\x10\x00\x00",
        "truncated_header": good[:20],
        "truncated_data": good[:-7],
        "trailing": good + b"\x00" * 4,
        "bad_json": struct.pack("<Q", 5) + b"{abc}",
        "not_object": _hdr([1, 2]),
        "bad_dtype": _hdr({"a": {"dtype": "X9", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
        "bad_shape": _hdr({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8),
        "size_mismatch": _hdr({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
        "gap": _hdr({"a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12),
        "overlap": _hdr({"a": f32, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12),
        "huge_header": struct.pack("<Q", 1 << 40) + b"{}",
        "dupe_key": (lambda h: struct.pack("<Q", len(h)) + h + b"\0" * 8)(
            b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
            b'"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'),
        "missing_field": _hdr({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8),
    }
    p = _write(tmp_path / f"{case}.safetensors", blobs[case])
    with pytest.raises(ValueError, match=f"{case}.safetensors"):
        fio.load_weights(p)


def test_atomic_write_keeps_old_file_on_failure(tmp_path, rng, monkeypatch):
    p = tmp_path / "w.safetensors"
    fio.save_weights(p, {"a": np.ones(3, np.float32)})
    before = p.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        fio.save_weights(p, {"a": np.zeros(300, np.float32)})
    monkeypatch.undo()
    assert p.read_bytes() == before
    assert [q.name for q in tmp_path.iterdir()] == ["w.safetensors"]  # no temp file left behind


def test_model_weights_by_name_and_position(tmp_path):
    names = ["dense/kernel", "dense/bias"]
    m = FakeModel([(4, 3), (3,)], names)
    p = tmp_path / "sub" / "m.weights.safetensors"
    fio.save_model_weights(m, p)
    assert list(fio.load_weights(p)) == names
    m2 = FakeModel([(4, 3), (3,)], names, seed=5)
    fio.load_model_weights(m2, p)
    for a, b in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)
    anon = FakeModel([(4, 3), (3,)], None, seed=7)  # no names: positional
    fio.load_model_weights(anon, p)
    np.testing.assert_array_equal(anon.get_weights()[0], m.get_weights()[0])
    wrong = FakeModel([(3, 4), (3,)], names)
    with pytest.raises(ValueError, match=r"m.weights.safetensors.*dense/kernel.*\(4, 3\).*\(3, 4\)"):
        fio.load_model_weights(wrong, p)
    fewer = FakeModel([(4, 3)], ["dense/kernel"])
    with pytest.raises(ValueError, match="holds 2 weights but the model has 1"):
        fio.load_model_weights(fewer, p)


def test_fnet_roundtrip_and_corruption(tmp_path):
    m = FakeModel([(2, 2), (2,)], ["k", "b"])
    p = tmp_path / "model.fnet"
    fio.save_model(m, p)
    with zipfile.ZipFile(p) as z:
        assert set(z.namelist()) == {"config.json", "metadata.json", "model.weights.safetensors"}
    cfg, w = fio.read_fnet(p)
    assert cfg["class_name"] == "FakeModel" and list(w) == ["k", "b"]
    m2 = fio.load_model(p, custom_objects={"FakeModel": FakeModel})
    for a, b in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)
    bad = tmp_path / "bad.fnet"
    bad.write_bytes(p.read_bytes()[:-30])
    with pytest.raises(ValueError, match="bad.fnet"):
        fio.read_fnet(bad)
    with pytest.raises(ValueError, match="cannot rebuild"):
        fio.load_model(p)


def test_model_first_signatures_used_by_model_methods(tmp_path):
    m = FakeModel([(2, 3)], ["k"])
    p = tmp_path / "w.safetensors"
    fio.save_weights(m, p)  # Model.save_weights(path) delegates like this
    with pytest.raises(FileExistsError):
        fio.save_weights(m, p, overwrite=False)
    m2 = FakeModel([(2, 3)], ["k"], seed=3)
    fio.load_weights(m2, p)
    np.testing.assert_array_equal(m.get_weights()[0], m2.get_weights()[0])


def test_fnet_with_real_sequential(tmp_path):
    import fusednet
    from fusednet.layers import Dense, Input
    m = fusednet.Sequential([Input(shape=(4,)), Dense(8, activation="relu"), Dense(3, activation="softmax")])
    p = tmp_path / "m.fnet"
    fio.save_model(m, p)
    assert len(fio.read_fnet(p)[1]) == 4
    m2 = fio.load_model(p)
    x = np.random.default_rng(0).random((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(m.predict(x, verbose=0)), np.asarray(m2.predict(x, verbose=0)))
