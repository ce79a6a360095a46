"""MNIST handwritten digits (IDX files), Keras-shaped.

``load_data(path=None)`` returns ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays of shapes
``(60000, 28, 28)``, ``(60000,)``, ``(10000, 28, 28)``, ``(10000,)``.

Where the files come from:

- ``path`` a directory: the four official IDX files are read from it, gzipped
  (``train-images-idx3-ubyte.gz``, ...) or raw (same names without ``.gz``). Files missing there are
  looked up in, or downloaded to, the cache directory.
- ``path`` a ``.npz`` file: read like Keras' ``mnist.npz`` (keys ``x_train``, ``y_train``,
  ``x_test``, ``y_test``).
- ``path=None``: the cache directory ``~/.fusednet/datasets/mnist``; the environment variable
  ``FUSEDNET_DATA_DIR`` replaces ``~/.fusednet/datasets`` (files then live in
  ``$FUSEDNET_DATA_DIR/mnist``).

Missing files are downloaded from :data:`MIRRORS` (or only from ``$FUSEDNET_MNIST_URL`` when set),
verified against the official MD5 checksums in :data:`MD5` and written atomically into the cache.

Only the test set at hand (e.g. the project's shared data directory holds just
``t10k-*``): use :func:`load_test` for the 10,000 test digits, or :func:`load_test_split` for the
project's standard split (first 8,000 test images to train on, last 2,000 to test on). Neither
needs the training files or the network.

All parsing is strict: a wrong magic number, wrong dimensions, a size that does not match the
header, a bad gzip stream, or mismatched image/label counts raise ``ValueError`` naming the file.
"""
import gzip
import hashlib
import os
import shutil
import struct
import tempfile
import urllib.request
import zlib

import numpy as np

__all__ = ["load_data", "load_test", "load_test_split", "read_idx", "cache_dir", "MIRRORS", "MD5", "FILES",
           "download"]

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

#: Official MD5 checksums of the gzipped files.
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

#: Base URLs tried in order (a file's URL is base + file name). ``FUSEDNET_MNIST_URL`` overrides.
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]

#: Seconds allowed for each connection / read during a download.
TIMEOUT = 30.0

_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def cache_dir():
    """Directory where downloaded MNIST files are cached (``$FUSEDNET_DATA_DIR/mnist`` or
    ``~/.fusednet/datasets/mnist``)."""
    base = os.environ.get("FUSEDNET_DATA_DIR")
    if not base:
        base = os.path.join(os.path.expanduser("~"), ".fusednet", "datasets")
    return os.path.join(base, "mnist")


def _mirrors():
    env = os.environ.get("FUSEDNET_MNIST_URL")
    bases = [env] if env else list(MIRRORS)
    return [b if b.endswith("/") else b + "/" for b in bases]


def read_idx(path, expect_ndim=None):
    """Read one IDX file (gzipped if the name ends in ``.gz`` or the data starts with the gzip magic).

    Args:
        path: file path.
        expect_ndim: required number of dimensions (3 for images, 1 for labels), or None.

    Returns:
        ndarray with the file's dtype (uint8 for MNIST) and shape.

    Raises:
        ValueError: naming the file, on a bad gzip stream, magic number, dimension count or size.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({e})") from None
    if len(raw) < 4:
        raise ValueError(f"{path}: not an IDX file (only {len(raw)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in _IDX_TYPES or ndim == 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number 0x{raw[:4].hex()})")
    if expect_ndim is not None and ndim != expect_ndim:
        raise ValueError(f"{path}: expected an IDX file with {expect_ndim} dimensions, got {ndim}")
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise ValueError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:head])
    dtype = _IDX_TYPES[code]
    need = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    have = len(raw) - head
    if have != need:
        what = "truncated" if have < need else "has trailing bytes"
        raise ValueError(f"{path}: IDX data {what}: header {dims} needs {need} bytes, file has {have}")
    arr = np.frombuffer(raw, dtype=dtype, count=need // dtype.itemsize, offset=head).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(fname, directory=None, mirrors=None, timeout=None):
    """Download one official file into ``directory`` (default :func:`cache_dir`), verifying its MD5.

    The file is streamed into a temporary file in ``directory``, checked, fsynced and moved into
    place with ``os.replace``, so a partial or corrupt download never appears under the real name.
    Mirrors are tried in order.

    Returns:
        The path of the downloaded file.

    Raises:
        OSError: when every mirror fails; the message lists each URL and why (network error, HTTP
            status, or "md5 mismatch").
    """
    directory = directory or cache_dir()
    os.makedirs(directory, exist_ok=True)
    dest = os.path.join(directory, fname)
    errors = []
    for base in (mirrors or _mirrors()):
        url = base + fname
        fd, tmp = tempfile.mkstemp(prefix="." + fname + ".", suffix=".part", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                with urllib.request.urlopen(url, timeout=timeout or TIMEOUT) as resp:
                    shutil.copyfileobj(resp, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            digest = _md5(tmp)
            expected = MD5.get(fname)
            if expected and digest != expected:
                errors.append(f"{url}: md5 mismatch (got {digest}, expected {expected})")
                continue
            os.replace(tmp, dest)
            tmp = None
            return dest
        except (OSError, ValueError) as e:  # URLError/HTTPError/timeouts are OSErrors
            errors.append(f"{url}: {e}")
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
    raise OSError(f"could not download MNIST file {fname}:\n  " + "\n  ".join(errors))


def _find(fname, directories):
    for d in directories:
        for cand in (fname, fname[:-3] if fname.endswith(".gz") else fname + ".gz"):
            p = os.path.join(d, cand)
            if os.path.isfile(p):
                return p
    return None


def _resolve(keys, path, download_missing):
    dirs = []
    if path is not None:
        if not os.path.isdir(path):
            raise FileNotFoundError(f"MNIST directory {path!r} does not exist")
        dirs.append(os.fspath(path))
    cache = cache_dir()
    if cache not in dirs:
        dirs.append(cache)
    found = {}
    for key in keys:
        fname = FILES[key]
        p = _find(fname, dirs)
        if p is None:
            if not download_missing:
                raise FileNotFoundError(f"MNIST file {fname} not found in {', '.join(dirs)} (download=False)")
            try:
                p = download(fname, cache)
            except OSError as e:
                hint = ""
                if key.startswith("train") and path is not None and _find(FILES["test_images"], dirs):
                    hint = ("\nOnly the test set is available there: use fusednet.datasets.mnist.load_test(path) "
                            "or load_test_split(path) (8,000 / 2,000 split of the test set).")
                raise OSError(f"MNIST file {fname} is not in {', '.join(dirs)} and downloading it failed: "
                              f"{e}{hint}") from None
        found[key] = p
    return found


def _load_pair(found, prefix):
    x = read_idx(found[prefix + "_images"], expect_ndim=3)
    y = read_idx(found[prefix + "_labels"], expect_ndim=1)
    if x.dtype != np.uint8 or y.dtype != np.uint8:
        raise ValueError(f"{found[prefix + '_images']}: MNIST files must hold unsigned bytes")
    if x.shape[1:] != (28, 28):
        raise ValueError(f"{found[prefix + '_images']}: expected 28x28 images, got {x.shape[1:]}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{found[prefix + '_labels']}: {y.shape[0]} labels for {x.shape[0]} images in "
                         f"{found[prefix + '_images']}")
    if y.size and y.max() > 9:
        raise ValueError(f"{found[prefix + '_labels']}: label {int(y.max())} out of range 0..9")
    return x, y


def _load_npz(path):
    try:
        with np.load(path, allow_pickle=False) as f:
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    except (KeyError, ValueError, OSError) as e:
        raise ValueError(f"{path}: not a valid MNIST .npz file ({e})") from None


def load_data(path=None, download=True):
    """Load MNIST as ``((x_train, y_train), (x_test, y_test))`` uint8 arrays, like Keras.

    Args:
        path: directory holding the IDX files, a Keras-style ``mnist.npz`` file, or None for the
            cache directory (see the module doc).
        download: fetch missing files from the mirrors (MD5-verified) into the cache directory.

    Returns:
        ``(x_train [60000,28,28], y_train [60000]), (x_test [10000,28,28], y_test [10000])``.

    Raises:
        OSError: a file is missing and could not be downloaded (the message suggests
            :func:`load_test_split` when only the test set is present).
        ValueError: a file is corrupt (named in the message).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = fusednet.datasets.mnist.load_data()
    """
    if path is not None and str(path).endswith(".npz") and os.path.isfile(path):
        return _load_npz(path)
    found = _resolve(list(FILES), path, download)
    return _load_pair(found, "train"), _load_pair(found, "test")


def load_test(path=None, download=True):
    """Load only the official test set ``(x_test [10000,28,28], y_test [10000])`` (uint8).

    Works with a directory that holds just ``t10k-images-idx3-ubyte(.gz)`` and
    ``t10k-labels-idx1-ubyte(.gz)``; nothing else is read or downloaded unless missing.

    Example:
        >>> x, y = load_test("../shared/data/mnist")
    """
    found = _resolve(["test_images", "test_labels"], path, download)
    return _load_pair(found, "test")


def load_test_split(path=None, n_train=8000, download=True):
    """The project's standard offline split of the MNIST *test* set: the first ``n_train`` (8,000)
    images to train on and the rest (2,000) to evaluate on.

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` uint8, shaped like :func:`load_data`'s.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_test_split("../shared/data/mnist")
        >>> x_train.shape, x_test.shape
        ((8000, 28, 28), (2000, 28, 28))
    """
    x, y = load_test(path, download)
    if not 0 < n_train < len(x):
        raise ValueError(f"load_test_split: n_train must be in 1..{len(x) - 1}, got {n_train}")
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
