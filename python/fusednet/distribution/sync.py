"""The process group that synchronized layers reduce over during one DataParallel step.

``fit`` under :class:`DataParallel` opens :func:`step` around each training step with its
synchronization communicator (a duplicate of the gradient one: BatchNorm's collectives run on the
main thread while the gradient buckets' thread is inside its own allreduce, and two threads must
never interleave collectives on one MPI communicator) and the rank's loss scale ``n_r / nb``.
Outside a step (single process, evaluate, predict) :func:`current` is None and synchronized
layers behave exactly as unsynchronized ones.
"""
import contextlib
import threading

__all__ = ["step", "current"]

# per thread: the step belongs to the thread running the plan (the gradient thread only sums)
_local = threading.local()


def _state():
    st = _local.__dict__
    if "comm" not in st:
        st.update(comm=None, scale=1.0)
    return st


@contextlib.contextmanager
def step(comm, scale):
    """Within the block, synchronized layers reduce over ``comm``.

    Args:
        comm: a :class:`fusednet.distribution.Communicator` (size > 1), or None.
        scale: this rank's share of the global batch, ``n_r / nb`` (> 0): its loss is the local
            mean, so its gradients are 1/scale times its share of the global-batch gradient.

    Example:
        >>> with step(comm, 0.5): plan.train_step(...)        # doctest: +SKIP
    """
    st = _state()
    prev = dict(st)
    st["comm"], st["scale"] = comm, float(scale)
    try:
        yield
    finally:
        st.update(prev)


def current():
    """(comm, scale) of the step open on this thread, or None outside one (or for a world of one).

    Example:
        >>> current() is None
        True
    """
    st = _state()
    c = st["comm"]
    if c is None or c.size == 1:
        return None
    return c, st["scale"]
