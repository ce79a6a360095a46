"""fusednet.datasets.mnist: strict IDX parsing, local files, the test-set split, and downloading
(MD5-checked, atomic) from a loopback HTTP server."""
import gzip
import http.server
import os
import shutil
import struct
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from fusednet.datasets import mnist

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
HAVE_SHARED = (SHARED / "t10k-images-idx3-ubyte.gz").is_file()
requires_shared = pytest.mark.skipif(not HAVE_SHARED, reason=f"MNIST test files not found in {SHARED}")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Never touch ~/.fusednet or the network: cache under tmp, mirrors unroutable by default."""
    monkeypatch.setenv("FUSEDNET_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FUSEDNET_MNIST_URL", "http://127.0.0.1:9/")  # discard port: refused at once
    monkeypatch.setattr(mnist, "TIMEOUT", 5.0)


def idx_bytes(arr):
    arr = np.asarray(arr, np.uint8)
    return struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_set(d, prefix, x, y, gz=True):
    d.mkdir(parents=True, exist_ok=True)
    for kind, arr in (("images-idx3", x), ("labels-idx1", y)):
        name = f"{prefix}-{kind}-ubyte"
        data = idx_bytes(arr)
        if gz:
            (d / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (d / name).write_bytes(data)


def fake(n, rng):
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def test_load_data_from_local_dir_gz_and_raw(tmp_path, rng):
    xtr, ytr = fake(12, rng)
    xte, yte = fake(5, rng)
    write_set(tmp_path / "d", "train", xtr, ytr, gz=False)
    write_set(tmp_path / "d", "t10k", xte, yte, gz=True)
    (a, b), (c, d) = mnist.load_data(tmp_path / "d")
    np.testing.assert_array_equal(a, xtr)
    np.testing.assert_array_equal(b, ytr)
    np.testing.assert_array_equal(c, xte)
    np.testing.assert_array_equal(d, yte)
    assert a.dtype == np.uint8 and b.dtype == np.uint8


def test_npz_path(tmp_path, rng):
    xtr, ytr = fake(3, rng)
    np.savez(tmp_path / "mnist.npz", x_train=xtr, y_train=ytr, x_test=xtr, y_test=ytr)
    (a, _), _ = mnist.load_data(str(tmp_path / "mnist.npz"))
    np.testing.assert_array_equal(a, xtr)


@pytest.mark.parametrize("case", ["magic", "ndim", "truncated", "trailing", "badgzip", "count", "label"])
def test_corrupt_files_raise_valueerror_naming_file(tmp_path, rng, case):
    x, y = fake(4, rng)
    write_set(tmp_path, "t10k", x, y, gz=False)
    img = tmp_path / "t10k-images-idx3-ubyte"
    lab = tmp_path / "t10k-labels-idx1-ubyte"
    target = img
    if case == "magic":
        img.write_bytes(b"\x00\x00\x07\x03" + img.read_bytes()[4:])
    elif case == "ndim":
        img.write_bytes(idx_bytes(x.reshape(4, 784)))
    elif case == "truncated":
        img.write_bytes(img.read_bytes()[:-1])
    elif case == "trailing":
        img.write_bytes(img.read_bytes() + b"\0")
    elif case == "badgzip":
        img.unlink()
        target = tmp_path / "t10k-images-idx3-ubyte.gz"
        target.write_bytes(gzip.compress(idx_bytes(x))[:-10])
    elif case == "count":
        lab.write_bytes(idx_bytes(y[:3]))
        target = lab
    elif case == "label":
        lab.write_bytes(idx_bytes(np.array([1, 2, 3, 11])))
        target = lab
    with pytest.raises(ValueError, match=target.name):
        mnist.load_test(tmp_path)


@requires_shared
def test_shared_test_set_and_standard_split():
    x, y = mnist.load_test(SHARED)
    assert x.shape == (10000, 28, 28) and y.shape == (10000,) and x.dtype == np.uint8
    assert np.bincount(y, minlength=10).min() > 800 and int(x.max()) == 255
    (xa, ya), (xb, yb) = mnist.load_test_split(SHARED)
    assert xa.shape == (8000, 28, 28) and xb.shape == (2000, 28, 28)
    np.testing.assert_array_equal(xb, x[8000:])
    np.testing.assert_array_equal(ya, y[:8000])


@requires_shared
def test_load_data_with_only_test_files_explains(tmp_path):
    with pytest.raises(OSError, match="load_test_split"):
        mnist.load_data(SHARED)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


@pytest.fixture
def server(tmp_path):
    """Loopback HTTP server on a random port serving tmp_path/www; stopped after the test."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    httpd.timeout = 5
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(5)


@requires_shared
def test_download_from_loopback_mirror(server, tmp_path, monkeypatch):
    root, url = server
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(SHARED / name, root / name)
    monkeypatch.setenv("FUSEDNET_MNIST_URL", url)
    x, y = mnist.load_test()  # nothing local: fetched into $FUSEDNET_DATA_DIR/mnist
    assert x.shape == (10000, 28, 28)
    cache = Path(mnist.cache_dir())
    assert cache == tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    # second call reads the cache even with the server gone
    monkeypatch.setenv("FUSEDNET_MNIST_URL", "http://127.0.0.1:9/")
    x2, _ = mnist.load_test()
    np.testing.assert_array_equal(x, x2)


def test_download_checksum_mismatch_and_missing(server, tmp_path, monkeypatch, rng):
    root, url = server
    x, y = fake(3, rng)
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(y)))  # wrong md5
    monkeypatch.setenv("FUSEDNET_MNIST_URL", url)
    with pytest.raises(OSError, match="md5 mismatch"):
        mnist.download("t10k-labels-idx1-ubyte.gz")
    with pytest.raises(OSError, match="404"):
        mnist.download("t10k-images-idx3-ubyte.gz")
    cache = Path(mnist.cache_dir())
    assert list(cache.iterdir()) == []  # no partial or unverified file left behind
    # mirrors are tried in order: a bad one, then a good one
    monkeypatch.setattr(mnist, "MD5", dict(mnist.MD5, **{"t10k-labels-idx1-ubyte.gz": mnist._md5(
        root / "t10k-labels-idx1-ubyte.gz")}))
    p = mnist.download("t10k-labels-idx1-ubyte.gz", mirrors=["http://127.0.0.1:9/", url])
    assert os.path.basename(p) == "t10k-labels-idx1-ubyte.gz"


def test_missing_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=False"):
        mnist.load_test(tmp_path, download=False)
    with pytest.raises(OSError, match="127.0.0.1:9"):
        mnist.load_test(tmp_path)
