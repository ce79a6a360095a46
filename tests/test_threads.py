"""The kernel thread pool (csrc/cpu/parallel.cpp): same bits on any thread count, concurrent
callers from several Python threads, a forked child, and no OpenMP runtime in the module."""
import concurrent.futures
import multiprocessing
import subprocess

import numpy as np
import pytest

import fusednet as fn
from fusednet import _C


def _work(seed):
    r = np.random.default_rng(seed)
    a = r.standard_normal((257, 301), dtype=np.float32)
    b = r.standard_normal((301, 263), dtype=np.float32)
    x = r.standard_normal((4, 17, 19, 8), dtype=np.float32)
    w = r.standard_normal((3, 3, 8, 16), dtype=np.float32)
    c = np.asarray(_C.matmul(_C.asarray(a), _C.asarray(b)))
    y = np.asarray(_C.conv2d_forward(_C.asarray(x), _C.asarray(w), None, strides=(1, 1), padding="same",
                                     dilation=(1, 1), activation="relu"))
    s = np.asarray(_C.reduce("sum", _C.asarray(np.tile(a, (64, 1))), [0], False))
    return c, y, s


def test_bits_do_not_depend_on_thread_count():
    old = fn.get_num_threads()
    try:
        fn.set_num_threads(1)
        ref = _work(1)
        for n in (2, 3, 5):
            fn.set_num_threads(n)
            for a, b in zip(ref, _work(1)):
                assert np.array_equal(a, b)
    finally:
        fn.set_num_threads(old)


def test_concurrent_python_threads():
    ref = [_work(s) for s in range(6)]
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        got = list(ex.map(_work, list(range(6)) * 3))
    for i, g in enumerate(got):
        for a, b in zip(ref[i % 6], g):
            assert np.array_equal(a, b)


def _child(q):
    q.put([float(np.asarray(v).sum()) for v in _work(2)])


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this OS")
def test_forked_child_uses_kernels():
    _work(2)                               # the parent's pool is running
    ref = [float(np.asarray(v).sum()) for v in _work(2)]
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    got = q.get(timeout=60)
    p.join(timeout=60)
    assert p.exitcode == 0 and got == ref


def test_module_links_no_openmp_runtime():
    out = subprocess.run(["ldd", _C.__file__], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("ldd not available")
    assert "gomp" not in out.stdout and "libomp" not in out.stdout and "iomp" not in out.stdout
