"""Array: zero-copy NumPy interop, DLPack round trips, conversion rules, errors."""
import numpy as np
import pytest

import fusednet as fn
from conftest import requires_torch


def test_asarray_wraps_float32_without_copy(rng):
    x = rng.standard_normal((5, 7)).astype(np.float32)
    a = fn.asarray(x)
    assert a.data_ptr == x.ctypes.data
    assert a.shape == (5, 7) and a.dtype == "float32" and a.device == "cpu"
    y = np.asarray(a)
    assert y.ctypes.data == x.ctypes.data
    x[2, 3] = 42.0
    assert np.asarray(a)[2, 3] == 42.0


@pytest.mark.parametrize("dtype,expect", [(np.int32, "int32"), (np.int64, "int64")])
def test_int_dtypes_zero_copy(dtype, expect):
    x = np.arange(11, dtype=dtype)
    a = fn.asarray(x)
    assert a.dtype == expect and a.data_ptr == x.ctypes.data
    np.testing.assert_array_equal(np.asarray(a), x)


def test_conversions_copy_explicitly():
    x64 = np.linspace(0, 1, 6).reshape(2, 3)
    a = fn.asarray(x64)
    assert a.dtype == "float32" and a.data_ptr != x64.ctypes.data
    np.testing.assert_allclose(np.asarray(a), x64.astype(np.float32))
    xt = np.arange(12, dtype=np.float32).reshape(3, 4).T  # non-contiguous
    b = fn.asarray(xt)
    np.testing.assert_array_equal(np.asarray(b), xt)
    assert fn.asarray([True, False]).dtype == "int64"
    with pytest.raises(ValueError, match="copy=False"):
        fn.asarray(xt, copy=False)
    with pytest.raises(TypeError, match="complex64"):
        fn.asarray(np.ones(3, dtype=np.complex64))
    with pytest.raises(TypeError, match="dtype"):
        fn.asarray(np.ones(3, dtype=np.float32), dtype="float16")


def test_host_arrays_are_64_byte_aligned():
    for n in (1, 3, 17, 1000):
        assert fn._C.empty([n]).data_ptr % 64 == 0


def test_reshape_is_a_view_and_checks_size():
    a = fn.asarray(np.arange(12, dtype=np.float32))
    v = a.reshape(3, -1)
    assert v.shape == (3, 4) and v.data_ptr == a.data_ptr
    assert a.reshape((2, 6)).shape == (2, 6)
    with pytest.raises(ValueError, match=r"\(12,\).*\(5, 2\)"):
        a.reshape(5, 2)
    with pytest.raises(ValueError, match="only one"):
        a.reshape(-1, -1)


def test_empty_and_zero_size():
    z = fn.asarray(np.zeros((0, 4), np.float32))
    assert z.shape == (0, 4) and z.size == 0
    assert np.asarray(z).shape == (0, 4)
    assert np.asarray(fn._C.zeros([2, 3])).sum() == 0


def test_readonly_numpy_stays_readonly():
    x = np.ones(4, np.float32)
    x.setflags(write=False)
    a = fn.asarray(x)
    assert a.readonly
    with pytest.raises(ValueError, match="read-only"):
        a.fill_(2.0)
    assert not np.asarray(a).flags.writeable


def test_array_outlives_numpy_source():
    x = np.arange(1000, dtype=np.float32)
    a = fn.asarray(x)
    del x
    assert np.asarray(a)[999] == 999.0


def test_numpy_from_dlpack_zero_copy():
    a = fn.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    y = np.from_dlpack(a)
    assert y.ctypes.data == a.data_ptr
    b = fn.from_dlpack(np.arange(4, dtype=np.int64))
    assert b.dtype == "int64" and np.asarray(b)[3] == 3


@requires_torch
def test_torch_dlpack_round_trip_without_copy():
    import torch
    t = torch.randn(4, 5)
    a = fn.from_dlpack(t)
    assert a.data_ptr == t.data_ptr() and a.shape == (4, 5)
    t2 = torch.from_dlpack(a)
    assert t2.data_ptr() == t.data_ptr()
    t2[0, 0] = 7.0
    assert t[0, 0].item() == 7.0
    # fusednet-owned memory seen by torch, alive after the Array handle is dropped
    own = fn._C.full([3], 2.5)
    t3 = torch.from_dlpack(own)
    ptr = own.data_ptr
    del own
    assert t3.data_ptr() == ptr and t3.sum().item() == 7.5
    # non-contiguous torch input: rejected by from_dlpack, copied by asarray
    with pytest.raises(ValueError, match="contiguous"):
        fn.from_dlpack(t.T)
    np.testing.assert_array_equal(np.asarray(fn.asarray(t.T)), t.T.numpy())


def test_device_errors():
    with pytest.raises(ValueError, match="unknown device"):
        fn._C.empty([2], "float32", "tpu")
    if not fn.cuda.is_available():
        assert fn.cuda.device_count() == 0
        with pytest.raises((TypeError, ValueError, RuntimeError)):
            fn._C.empty([2], "float32", "cuda")


def test_threads_setting():
    n = fn.get_num_threads()
    fn.set_num_threads(1)
    assert fn.get_num_threads() == 1
    fn.set_num_threads(n)
    with pytest.raises(ValueError):
        fn.set_num_threads(0)


def test_large_host_blocks_are_recycled():
    """Training loops allocate the same big shapes every step: the freed block must come back
    instead of a fresh (page-faulting) mmap, and the cache must be releasable."""
    fn._C.cpu_empty_cache()
    assert fn._C.cpu_cached_bytes() == 0
    a = fn._C.empty([512, 1024])  # 2 MiB
    ptr = a.data_ptr
    del a
    assert fn._C.cpu_cached_bytes() >= 2 * 1024 * 1024
    b = fn._C.empty([1024, 512])  # same size, other shape
    assert b.data_ptr == ptr and b.data_ptr % 64 == 0
    assert fn._C.cpu_cached_bytes() == 0
    c = fn._C.empty([16, 16])  # small blocks bypass the cache
    del b, c
    fn._C.cpu_empty_cache()
    assert fn._C.cpu_cached_bytes() == 0
