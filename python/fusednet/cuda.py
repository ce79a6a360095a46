"""CUDA device queries. All of them work (and report no device) on a build or machine without CUDA."""
from . import _C


def is_available():
    """True when the build has CUDA kernels and a usable device and driver are present."""
    return bool(_C.cuda_is_available())


def device_count():
    """Number of visible CUDA devices (0 without a driver or without CUDA support)."""
    return int(_C.cuda_device_count())


def synchronize():
    """Wait for all queued fusednet work on the current device (no-op without CUDA)."""
    _C.cuda_synchronize()


def built_with_cuda():
    """True when this build of fusednet compiled its CUDA kernels."""
    return bool(_C.built_with_cuda)
