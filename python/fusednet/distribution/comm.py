"""The process group (MPI through mpi4py) and the ``DataParallel`` distribution.

The transport is mpi4py's buffer collectives on NumPy views of the gradient Arrays (no copies
through pickling). mpi4py is an optional dependency, imported lazily: without it (or without an
MPI launch) the world is one process and everything here is a no-op.

Determinism: the gradient sum must be bitwise the same on every rank and run to run. For N = 2 an
MPI SUM is one float add per element, a + b == b + a, so any Allreduce algorithm gives the same
bits. For N > 2 Open MPI may pick algorithms that sum in rank-dependent orders, so from 256 KB
we run a fixed-order reduce-scatter (Alltoallv of N chunks, each summed in rank order 0..N-1 by
its owner) and an Allgatherv of the sums: a ring allreduce's traffic, the same bits everywhere;
smaller buffers take one Allgather and the same rank-ordered sum on every rank (one latency).
"""
import contextlib
import os
import sys
import threading
import time

import numpy as np

__all__ = ["initialize", "rank", "world_size", "Communicator", "DataParallel", "set_distribution",
           "distribution"]

# N > 2, ordered: below this many bytes one Allgather + local rank-ordered sum (one collective's
# latency) beats the reduce-scatter's two; above it the reduce-scatter's 2(N-1)/N traffic wins
# (3 ranks on this 2-core machine: 64 KB 401 vs 602 us, 1 MB 4.8 vs 2.7 ms). Both: the same bits.
_RS_MIN_BYTES = 256 << 10
_MPI_ENV = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")
_STATE = {"comm": None, "dist": None}


def _timeout_s():
    """Collective watchdog limit: FUSEDNET_DIST_TIMEOUT seconds (default 300; 0 disables)."""
    v = os.environ.get("FUSEDNET_DIST_TIMEOUT", "300")
    try:
        t = float(v)
    except ValueError:
        raise ValueError(f"fusednet.distribution: FUSEDNET_DIST_TIMEOUT must be a number of seconds, "
                         f"got {v!r}") from None
    if t < 0:
        raise ValueError(f"fusednet.distribution: FUSEDNET_DIST_TIMEOUT must be >= 0, got {v!r}")
    return t


class _Watchdog:
    """Aborts the MPI job when one collective blocks longer than the limit (a peer died without
    the launcher noticing, or hangs): prints which rank and collective, then MPI_Abort, so no
    rank waits forever. Why a thread: a blocking mpi4py call cannot time out by itself."""

    def __init__(self, comm, limit):
        self.comm, self.limit = comm, limit
        self.what, self.since = None, 0.0
        threading.Thread(target=self._run, name="fusednet-dist-watchdog", daemon=True).start()

    def _run(self):
        while True:
            time.sleep(min(1.0, self.limit / 4))
            what, since = self.what, self.since
            if what is not None and time.monotonic() - since > self.limit:
                sys.stderr.write(f"fusednet.distribution: rank {self.comm.rank}: collective '{what}' did "
                                 f"not complete within {self.limit:g} s (FUSEDNET_DIST_TIMEOUT): a rank "
                                 f"died or hangs; aborting the job\n")
                sys.stderr.flush()
                try:
                    self.comm.mpi.Abort(1)
                finally:
                    os._exit(1)

    def __call__(self, what):
        return _Guard(self, what)


class _Guard:
    def __init__(self, dog, what):
        self.dog, self.what = dog, what

    def __enter__(self):
        self.dog.since = time.monotonic()
        self.dog.what = self.what

    def __exit__(self, *exc):
        self.dog.what = None
        return False


def _noguard(what):
    return contextlib.nullcontext()


def _launched_by_mpi():
    return any(k in os.environ for k in _MPI_ENV)


class Communicator:
    """A process group: ``rank``, ``size`` and the few collectives training needs.

    Args:
        mpi_comm: an mpi4py communicator, or None for the single-process world.

    Shape:
        Buffers are contiguous NumPy arrays (float32 / float64), reduced in place.

    Every blocking collective runs under a watchdog (size > 1): past FUSEDNET_DIST_TIMEOUT
    seconds (default 300, 0 = off) the rank prints which collective hung and aborts the job.

    ``ordered=False`` uses MPI's Allreduce for every N (one call, the algorithm and summation
    order Open MPI's); the ordered path (N > 2) is two calls with the same bytes per rank.

    Example:
        >>> c = fusednet.distribution.initialize()
        >>> buf = np.ones(4, np.float32); c.allreduce_sum_(buf)   # buf == size everywhere
    """

    def __init__(self, mpi_comm=None, ordered=True, watchdog=None):
        self.mpi = mpi_comm
        self.ordered = ordered
        self.rank = 0 if mpi_comm is None else int(mpi_comm.Get_rank())
        self.size = 1 if mpi_comm is None else int(mpi_comm.Get_size())
        if watchdog is None and self.size > 1 and _timeout_s() > 0:
            watchdog = _Watchdog(self, _timeout_s())
        self.guard = watchdog if watchdog is not None else _noguard
        self.thread_multiple = True        # (no MPI: one thread talks to nobody)
        if mpi_comm is not None:
            from mpi4py import MPI
            self._in_place, self._sum = MPI.IN_PLACE, MPI.SUM
            self.thread_multiple = MPI.Query_thread() >= MPI.THREAD_MULTIPLE

    def allreduce_sum_(self, buf):
        """Sum ``buf`` (contiguous NumPy array) over ranks, in place, bitwise identical on every
        rank and run to run (see the module docstring)."""
        if not isinstance(buf, np.ndarray) or not buf.flags.c_contiguous:
            raise TypeError(f"allreduce_sum_: expected a C-contiguous NumPy array, got {type(buf).__name__}")
        if self.size == 1 or buf.size == 0:
            return buf
        if self.size == 2 or not self.ordered:
            # the hot path for small buckets: no context-manager object, MPI constants looked up
            # once (a 4 KB allreduce takes ~3 us; each Python-level extra costs ~0.3 us)
            dog = self.guard if isinstance(self.guard, _Watchdog) else None
            if dog is not None:
                dog.since = time.monotonic()
                dog.what = "allreduce"
            try:
                self.mpi.Allreduce(self._in_place, buf, op=self._sum)
            finally:
                if dog is not None:
                    dog.what = None
            return buf
        if buf.nbytes >= _RS_MIN_BYTES:
            return self._ordered_reduce_scatter_(buf)
        allb = np.empty((self.size,) + buf.shape, buf.dtype)   # small: one latency-bound collective
        with self.guard("allgather"):
            self.mpi.Allgather(buf, allb)
        np.copyto(buf, allb[0])
        for r in range(1, self.size):      # rank order: the same bits as the reduce-scatter
            buf += allb[r]
        return buf

    def _ordered_reduce_scatter_(self, buf):
        """Fixed-order allreduce for N > 2: the buffer is cut into N contiguous chunks (chunk j
        = elements [floor(j m / N), floor((j+1) m / N))); an Alltoallv hands rank r every rank's
        chunk r, which it sums in rank order 0..N-1; an Allgatherv writes the summed chunks back
        into every rank's buffer. Each element is summed once, by one rank, in rank order, so
        every rank (and every run) gets the same bits; the traffic is a ring allreduce's
        2(N-1)/N x the bytes per rank (not the (N-1) x of gathering whole buffers), and the only
        copy is the received chunks."""
        N, r = self.size, self.rank
        flat = buf.reshape(-1)
        m = flat.size
        offs = [(j * m) // N for j in range(N + 1)]
        counts = [offs[j + 1] - offs[j] for j in range(N)]
        c = counts[r]
        recv = np.empty((N, c), buf.dtype)
        with self.guard("alltoall"):
            self.mpi.Alltoallv([flat, (counts, offs[:N])], [recv, ([c] * N, [i * c for i in range(N)])])
        part = np.add(recv[0], recv[1])
        for i in range(2, N):              # rank order: the same bits on every rank
            part += recv[i]
        with self.guard("allgather"):
            self.mpi.Allgatherv(part, [flat, (counts, offs[:N])])
        return buf

    def bcast_(self, buf, root=0):
        """Overwrite ``buf`` (contiguous NumPy array) with rank ``root``'s contents."""
        if self.size > 1 and buf.size:
            with self.guard("bcast"):
                self.mpi.Bcast(buf, root=root)
        return buf

    def bcast_obj(self, obj, root=0):
        """A small picklable object from rank ``root`` (e.g. an RNG key)."""
        if self.size == 1:
            return obj
        with self.guard("bcast"):
            return self.mpi.bcast(obj, root=root)

    def allgather_obj(self, obj):
        """Every rank's ``obj`` (picklable), in rank order."""
        if self.size == 1:
            return [obj]
        with self.guard("allgather"):
            return self.mpi.allgather(obj)

    def barrier(self):
        if self.size > 1:
            with self.guard("barrier"):
                self.mpi.Barrier()


def initialize():
    """Join the MPI world when launched by ``mpirun`` (mpi4py, imported lazily); else a world of
    one process. Idempotent; returns the :class:`Communicator`.

    Args:
        (none; the launch is detected from Open MPI / PMI environment variables)

    Returns:
        The process group.

    Example:
        >>> fusednet.distribution.initialize().size     # 1 without mpirun
        1
    """
    if _STATE["comm"] is not None:
        return _STATE["comm"]
    mpi_comm = None
    if _launched_by_mpi():
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise ImportError("fusednet.distribution: launched under MPI but mpi4py is not installed "
                              "(python3 -m pip install mpi4py)") from e
        mpi_comm = MPI.COMM_WORLD
    _STATE["comm"] = Communicator(mpi_comm)
    return _STATE["comm"]


def rank():
    """This process's rank (0 without MPI).

    Example:
        >>> if fusednet.distribution.rank() == 0: print("I log")
    """
    return initialize().rank


def world_size():
    """The number of processes (1 without MPI).

    Example:
        >>> fusednet.distribution.world_size()
        1
    """
    return initialize().size


class DataParallel:
    """Replicate the model on every rank; ``fit`` splits each global batch across ranks.

    Every rank takes a disjoint contiguous slice of each global batch of the epoch's one Philox
    permutation (the same permutation a single-process ``fit`` uses, its key broadcast from rank
    0); gradients are scaled by local/global batch size and summed over ranks, so every rank
    applies the identical optimizer step of the global batch. Rank 0's weights are broadcast at
    the start of ``fit``. Only rank 0 prints progress; every rank gets the same loss logs.

    Args:
        devices: unused (Keras signature); one process per device / core, launched by mpirun.
        ordered: True (default): gradient sums in rank order for N > 2 (a fixed-order
            reduce-scatter + allgather; bitwise reproducible, ring traffic); False: MPI's Allreduce.
        bucket_mb: gradient bucket size in MB; buckets are allreduced while backward runs.

    Shape:
        ``fit(batch_size=B)``: B is the global batch; rank r gets rows
        ``[floor(r B / N), floor((r+1) B / N))`` of it.

    Example:
        >>> fusednet.distribution.set_distribution(fusednet.distribution.DataParallel())
        >>> model.fit(x, y, batch_size=64, epochs=2)
    """

    def __init__(self, devices=None, ordered=True, bucket_mb=4.0):
        if not float(bucket_mb) > 0:
            raise ValueError(f"DataParallel: bucket_mb must be > 0, got {bucket_mb}")
        self.devices = devices
        self.bucket_bytes = int(float(bucket_mb) * (1 << 20))
        base = initialize()
        self.comm = base if ordered else Communicator(base.mpi, ordered=False, watchdog=base.guard)

    @property
    def rank(self):
        return self.comm.rank

    @property
    def world_size(self):
        return self.comm.size

    def sync_comm(self):
        """The communicator synchronized layers (BatchNormalization(synchronized=True)) reduce
        over: a duplicate of the gradient one (made on first use, collectively), so their
        collectives never interleave with the gradient thread's on one MPI communicator."""
        if self.__dict__.get("_sync") is None:
            self._sync = Communicator(self.comm.mpi.Dup() if self.comm.mpi is not None else None)
        return self._sync

    def nccl(self, device):
        """The NCCL communicator for CUDA ``device`` (made on first use, collectively: every
        rank must call it; see :mod:`fusednet.distribution.nccl`)."""
        cache = self.__dict__.setdefault("_nccl", {})
        if str(device) not in cache:
            from .nccl import NcclCommunicator
            cache[str(device)] = NcclCommunicator(self.comm, device)
        return cache[str(device)]

    def scope(self):
        """Context manager setting this distribution for the block (Keras)."""
        return _Scope(self)

    def __repr__(self):
        return f"DataParallel(rank={self.rank}, world_size={self.world_size})"


class _Scope:
    def __init__(self, dist):
        self.dist, self.prev = dist, None

    def __enter__(self):
        self.prev = _STATE["dist"]
        _STATE["dist"] = self.dist
        return self.dist

    def __exit__(self, *exc):
        _STATE["dist"] = self.prev
        return False


def set_distribution(value):
    """Set the global distribution used by ``fit`` (None: single process).

    Args:
        value: a :class:`DataParallel` or None.

    Example:
        >>> fusednet.distribution.set_distribution(fusednet.distribution.DataParallel())
    """
    if value is not None and not isinstance(value, DataParallel):
        raise TypeError(f"set_distribution: expected a DataParallel or None, got {type(value).__name__}")
    _STATE["dist"] = value


def distribution():
    """The current global distribution (None when unset).

    Example:
        >>> fusednet.distribution.distribution() is None
        True
    """
    return _STATE["dist"]
