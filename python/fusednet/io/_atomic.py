"""Atomic file writes: temp file in the destination directory, fsync, os.replace."""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file next to ``path``; on clean exit fsync it and ``os.replace`` it over
    ``path`` (atomic on POSIX and Windows), then fsync the directory. On error the temp file is
    removed and ``path`` is untouched.

    Example:
        >>> with atomic_write("model.safetensors") as f:
        ...     f.write(b"...")
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory):
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
