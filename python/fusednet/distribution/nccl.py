"""NCCL for DataParallel on CUDA arrays: libnccl.so.2 loaded at run time, unique id over MPI.

fusednet never links NCCL (the C++ side declares the few prototypes itself and dlopen()s the
library, csrc/cpu/nccl_loader.h). Where the library comes from, in order: the ``nvidia-nccl-cu12``
/ ``-cu13`` wheel's ``nvidia/nccl/lib`` directory (found with ``importlib.util.find_spec``, so
``pip install nvidia-nccl-cu12`` is enough), then the dynamic loader's own search
(``LD_LIBRARY_PATH``, ``ldconfig``). The communicator is made on the model's CUDA device; rank 0
draws the 128-byte unique id and MPI broadcasts it (the MPI world stays the process group: NCCL
only moves the gradients).

Determinism: NCCL's ring allreduce computes each element's sum once and then copies it to every
rank, so all ranks hold the same bits and apply the same optimizer step for any N; run to run it
is reproducible for a fixed algorithm and protocol (pin ``NCCL_ALGO=Ring NCCL_PROTO=Simple`` when
bitwise reproducibility across runs matters: NCCL may otherwise tune its choice by message size).
"""
import importlib.util
import os

from .. import _C

__all__ = ["nccl_candidates", "load_nccl", "NcclCommunicator", "local_cuda_device"]


def nccl_candidates():
    """The libnccl.so.2 files to try before the loader's search: the NCCL wheels' lib dirs.

    Returns:
        A list of paths (possibly empty).

    Example:
        >>> fusednet.distribution.nccl.nccl_candidates()     # [] without the wheel
        []
    """
    out = []
    try:
        spec = importlib.util.find_spec("nvidia.nccl")
    except (ImportError, ValueError):      # no "nvidia" namespace at all
        spec = None
    for d in (getattr(spec, "submodule_search_locations", None) or []):
        p = os.path.join(d, "lib", "libnccl.so.2")
        if os.path.exists(p):
            out.append(p)
    return out


def load_nccl():
    """dlopen libnccl.so.2 (idempotent) and return where it came from.

    Returns:
        The path (or ``"libnccl.so.2"`` for the loader's search) that loaded.

    Raises:
        RuntimeError: no candidate loads; the message lists each one and why.

    Example:
        >>> fusednet.distribution.nccl.load_nccl()        # doctest: +SKIP
        '/usr/lib/python3/site-packages/nvidia/nccl/lib/libnccl.so.2'
    """
    return _C.nccl_load(nccl_candidates())


def _device_index(device):
    d = str(device)
    if not d.startswith("cuda"):
        raise ValueError(f"NcclCommunicator: device must be 'cuda' or 'cuda:<i>', got {device!r}")
    return int(d.split(":", 1)[1]) if ":" in d else 0


def local_cuda_device():
    """The CUDA device for this rank on its node: ``cuda:<local rank mod device count>``.

    Returns:
        A device string, e.g. ``"cuda:1"``; ``"cpu"`` when no CUDA device is available.

    Example:
        >>> model.to(fusednet.distribution.local_cuda_device())     # doctest: +SKIP
    """
    from .. import cuda
    n = cuda.device_count() if cuda.is_available() else 0
    if n == 0:
        return "cpu"
    local = int(os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK", os.environ.get("MPI_LOCALRANKID", "0")))
    return f"cuda:{local % n}"


class NcclCommunicator:
    """An NCCL communicator over the ranks of an MPI :class:`Communicator`, on one CUDA device.

    Args:
        comm: the :class:`fusednet.distribution.Communicator` (MPI) whose ranks take part.
        device: this rank's CUDA device (``"cuda"``, ``"cuda:1"``).

    Shape:
        Collectives take lists of float32 CUDA Arrays on ``device`` and work in place, queued on
        fusednet's stream for the device (ordered with the kernels around them, no host sync).

    Example:
        >>> nc = NcclCommunicator(fusednet.distribution.initialize(), "cuda")   # doctest: +SKIP
        >>> nc.allreduce_sum_(grads)                                           # doctest: +SKIP
    """

    def __init__(self, comm, device):
        self.comm = comm
        self.device = str(device)
        idx = _device_index(device)
        from .. import cuda
        if not cuda.is_available():
            raise ValueError(f"NcclCommunicator: device {device!r} requested but no CUDA device is "
                             f"available (fusednet.cuda.is_available() is False)")
        # every rank loads first, so one rank's missing library fails them all the same way
        # instead of leaving the others blocked in ncclCommInitRank
        try:
            load_nccl()
            ok = 1.0
        except RuntimeError as e:
            err, ok = e, 0.0
        import numpy as np
        flag = comm.allreduce_sum_(np.array([ok], np.float64))
        if ok == 0.0:
            raise err
        if flag[0] < comm.size:
            raise RuntimeError("NcclCommunicator: another rank could not load NCCL (see its error)")
        uid = comm.bcast_obj(_C.nccl_unique_id() if comm.rank == 0 else None)
        _C.cuda_set_device(idx)
        self._c = _C.NcclComm(uid, comm.size, comm.rank)

    @property
    def size(self):
        return self.comm.size

    @property
    def rank(self):
        return self.comm.rank

    def allreduce_sum_(self, arrays):
        """Sum each Array over ranks, in place (one NCCL group)."""
        with self.comm.guard("nccl allreduce"):
            self._c.allreduce_sum_(list(arrays))
        return arrays

    def broadcast_(self, arrays, root=0):
        """Overwrite each Array with rank ``root``'s contents, in place (one NCCL group)."""
        with self.comm.guard("nccl broadcast"):
            self._c.broadcast_(list(arrays), root)
        return arrays

    def abort(self):
        """Abort the communicator (a peer died): later collectives raise ValueError."""
        self._c.abort()
