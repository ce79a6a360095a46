"""Data-parallel training over MPI (Keras 3 ``keras.distribution`` shaped).

Launch ``mpirun -np N python train.py``; in the script::

    import fusednet
    fusednet.distribution.initialize()                  # world size 1 without an MPI launch
    fusednet.distribution.set_distribution(fusednet.distribution.DataParallel())
    model.fit(x, y, batch_size=256)                     # 256 = the GLOBAL batch (Keras)

See docs/DISTRIBUTED.md for the semantics (shards, reduction order, logs, what is left).
"""
from .comm import (Communicator, DataParallel, distribution, initialize, rank, set_distribution,
                   world_size)
from .nccl import local_cuda_device

__all__ = ["initialize", "rank", "world_size", "DataParallel", "set_distribution", "distribution",
           "Communicator", "local_cuda_device"]
