"""fusednet.distribution.nccl: libnccl.so.2 loaded at run time (no NCCL headers or link).

On CPU machines: the loader's errors (absent library, a library without NCCL's symbols, the
wheel's lib dir searched first), the communicator's argument checks. With CUDA devices (skipped
otherwise): a one-rank communicator's collectives, and 2 ranks x b on 2 GPUs against one rank of
the global batch (tests/dist_scripts/dp_fit.py, DP_DEVICE=cuda)."""
import ctypes.util
import importlib
import os
import sys

import numpy as np
import pytest

import fusednet as fn
from fusednet import _C
from fusednet.distribution import nccl as fnccl

SYSTEM_NCCL = ctypes.util.find_library("nccl") is not None or bool(fnccl.nccl_candidates())


def _libm():
    p = ctypes.util.find_library("m")
    assert p, "libm not found"
    return p


def test_absent_or_wrong_library_raises_a_clear_error():
    cands = ["/nonexistent/dir/libnccl.so.2", _libm()]
    if SYSTEM_NCCL:            # a real NCCL on this machine: the fallback search must find it
        where = _C.nccl_load(cands + fnccl.nccl_candidates())
        assert "nccl" in where and _C.nccl_version() >= 20000
        assert len(_C.nccl_unique_id()) == 128        # works without a GPU (bootstrap id only)
        return
    with pytest.raises(RuntimeError) as ei:
        _C.nccl_load(cands)
    msg = str(ei.value)
    assert "cannot load NCCL" in msg and "nvidia-nccl-cu12" in msg, msg
    assert "/nonexistent/dir/libnccl.so.2:" in msg                        # each candidate named
    assert "lacks ncclGetVersion" in msg                                  # libm: not NCCL
    assert "libnccl.so.2: " in msg.split("lacks")[-1]                     # then the loader's search
    assert not _C.nccl_loaded()
    with pytest.raises(RuntimeError, match="not loaded"):
        _C.nccl_unique_id()


def test_the_wheel_lib_dir_is_tried_first(tmp_path, monkeypatch):
    lib = tmp_path / "nvidia" / "nccl" / "lib"
    lib.mkdir(parents=True)
    (lib / "libnccl.so.2").write_bytes(b"not an ELF file")
    monkeypatch.syspath_prepend(str(tmp_path))
    for k in [k for k in sys.modules if k == "nvidia" or k.startswith("nvidia.")]:
        monkeypatch.delitem(sys.modules, k)
    importlib.invalidate_caches()
    assert fnccl.nccl_candidates()[0] == str(lib / "libnccl.so.2")
    if SYSTEM_NCCL:
        return
    with pytest.raises(RuntimeError) as ei:
        fnccl.load_nccl()
    first = str(ei.value).split("Tried:")[1].strip().splitlines()[0]
    assert first.startswith(str(lib / "libnccl.so.2") + ":"), str(ei.value)


def test_communicator_argument_checks():
    with pytest.raises(ValueError, match="unique_id must be 128 bytes"):
        _C.NcclComm(b"x" * 5, 2, 0)
    with pytest.raises(ValueError, match="0 <= rank < nranks"):
        _C.NcclComm(b"x" * 128, 2, 2)
    if not fn.cuda.built_with_cuda():
        with pytest.raises(TypeError, match="no CUDA support"):
            _C.NcclComm(b"x" * 128, 2, 0)
    with pytest.raises(ValueError, match="device must be"):
        fnccl._device_index("cpu")
    assert fnccl._device_index("cuda:3") == 3 and fnccl._device_index("cuda") == 0
    if not fn.cuda.is_available():
        assert fn.distribution.local_cuda_device() == "cpu"
        with pytest.raises(ValueError, match="no CUDA device"):
            fnccl.NcclCommunicator(fn.distribution.initialize(), "cuda")


def _need_gpu_nccl(ngpus=1):
    if not fn.cuda.is_available() or fn.cuda.device_count() < ngpus:
        pytest.skip(f"needs {ngpus} CUDA device(s)")
    try:
        fnccl.load_nccl()
    except RuntimeError as e:
        pytest.skip(f"NCCL not installed: {e}")


def test_one_rank_collectives_on_the_device():
    _need_gpu_nccl()
    from fusednet.distribution.comm import Communicator
    nc = fnccl.NcclCommunicator(Communicator(None), "cuda:0")
    rng = np.random.default_rng(0)
    hs = [rng.standard_normal(s).astype(np.float32) for s in ((1,), (7, 13), (0,), (1031,))]
    ds = [fn.asarray(h).to("cuda:0") for h in hs]
    nc.allreduce_sum_(ds)
    nc.broadcast_(ds, 0)
    for h, d in zip(hs, ds):
        assert np.array_equal(d.to("cpu").numpy(), h)          # a world of one: the identity
    with pytest.raises(ValueError, match="cuda:0"):
        nc.allreduce_sum_([fn.asarray(hs[1])])                 # a CPU array
    with pytest.raises(TypeError):
        nc.allreduce_sum_([fn._C.zeros([3], "int32", "cuda:0")])
    with pytest.raises(ValueError, match="root"):
        nc.broadcast_(ds, 1)
    nc.abort()
    with pytest.raises(ValueError, match="aborted"):
        nc.allreduce_sum_(ds)


def test_two_gpus_match_one_rank_of_the_global_batch(tmp_path):
    _need_gpu_nccl(2)
    from test_distribution import _need_mpi, _rel, _run
    from tolerances import TOL
    _need_mpi()
    env = {"DP_DEVICE": "cuda", "NCCL_ALGO": "Ring", "NCCL_PROTO": "Simple"}
    one = _run(tmp_path / "one.npz", "mlp", 8, 100, extra_env=env)
    a = _run(tmp_path / "a.npz", "mlp", 8, 100, np_=2, extra_env=env)
    b = _run(tmp_path / "b.npz", "mlp", 8, 100, np_=2, extra_env=env)
    for k in [k for k in one.files if k.startswith("arr_")]:
        assert _rel(one[k], a[k]) <= TOL["data_parallel"], k
        assert np.array_equal(a[k], b[k]), k                   # bitwise run to run
