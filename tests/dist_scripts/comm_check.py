"""Run by tests/test_distribution.py under mpirun -np N: Communicator.allreduce_sum_ on per-rank
random buffers of awkward sizes must give, on every rank, exactly the rank-ordered sum
(b_0 + b_1 + ... + b_{N-1}, float32, left to right) of the buffers gathered here. Exits 1 (and
says which) on any mismatch; rank 0 prints "ok <N>"."""
import sys

import numpy as np

import fusednet as fn

comm = fn.distribution.initialize()
for size in (1, 2, 7, 1031, 4099, 65536 + 5, 300007):      # the last two: both N > 2 paths
    for dtype in (np.float32, np.float64):
        rng = np.random.default_rng(1000 * comm.rank + size)
        mine = (rng.standard_normal(size) * 10.0 ** rng.integers(-3, 4, size)).astype(dtype)
        every = comm.allgather_obj(mine)
        ref = every[0].copy()
        for b in every[1:]:
            ref += b
        got = comm.allreduce_sum_(mine.copy())
        agree = comm.allgather_obj(got.tobytes())
        if not np.array_equal(got, ref) or len(set(agree)) != 1:
            sys.stderr.write(f"rank {comm.rank}: size {size} {np.dtype(dtype).name}: allreduce_sum_ is not the "
                             f"rank-ordered sum or differs between ranks\n")
            sys.exit(1)
if comm.rank == 0:
    print(f"ok {comm.size}")
