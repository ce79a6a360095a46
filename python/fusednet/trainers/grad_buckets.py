"""Gradient buckets allreduced while backward still runs (DataParallel, issue 14).

The flat float32 gradient buffer is laid out in the order backward finishes the parameters
(param j is final after the earliest plan step that uses it: backward walks the steps in
reverse), and cut into fixed buckets of ~``bucket_bytes`` (the same cut on every rank: bucket
boundaries never depend on the data, so an empty shard still sends the same collectives). The
plan calls :meth:`GradBuckets.ready` after each backward step; every bucket whose parameters are
all final is copied in (scaled by n_r / nb) and handed to a communication thread that runs the
blocking mpi4py Allreduce while the native backward kernels (which release the GIL) go on. Only
that thread talks MPI between :meth:`begin` and :meth:`finish`, so MPI_THREAD_SERIALIZED would do.
Each element's sum is the same as the unbucketed path's (elementwise), so bits do not change.
"""
import queue
import threading

import numpy as np

from .. import _C

__all__ = ["GradBuckets"]


class GradBuckets:
    """Bucketed, overlapped gradient sum over ranks for one compiled plan.

    Args:
        plan: the compiled training plan (its ``steps[i].widx`` name the params of each step).
        params: the parameter Arrays (plan order).
        comm: the :class:`fusednet.distribution.Communicator`.
        bucket_bytes: target bucket size (default 4 MB).

    Shape:
        ``finish()`` returns one float32 Array per parameter, shaped like it.

    Example:
        >>> gb = GradBuckets(plan, params, comm); gb.begin(0.5)
        >>> plan.grad_hook = gb.ready; ...backward...; grads = gb.finish(pg)
    """

    def __init__(self, plan, params, comm, bucket_bytes=4 << 20):
        self.comm, self.params = comm, params
        nsteps = len(plan.steps)
        final_at = {}
        for i, st in enumerate(plan.steps):
            for j in st.widx:
                final_at[j] = min(final_at.get(j, nsteps), i)
        # params never touched by a step come last (zeros, sent after backward)
        order = sorted(range(len(params)), key=lambda j: (-final_at.get(j, -1), j))
        self.by_step = {}
        for j in order:
            self.by_step.setdefault(final_at.get(j, -1), []).append(j)
        sizes = [int(np.prod(params[j].shape)) for j in range(len(params))]
        self.off = {}
        pos = 0
        for j in order:
            self.off[j] = (pos, pos + sizes[j])
            pos += sizes[j]
        self.flat = np.zeros(pos, np.float32)
        cap = max(1, int(bucket_bytes) // 4)
        self.buckets, lo = [], 0          # (lo, hi, params in it)
        cur = []
        for j in order:
            cur.append(j)
            if self.off[j][1] - lo >= cap:
                self.buckets.append((lo, self.off[j][1], cur))
                lo, cur = self.off[j][1], []
        if cur or not self.buckets:
            self.buckets.append((lo, pos, cur))
        self.q = queue.Queue()
        self.err = None
        self.thread = threading.Thread(target=self._run, name="fusednet-allreduce", daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            item = self.q.get()
            if item is None:
                self.q.task_done()
                return
            try:
                if self.err is None:
                    lo, hi = item
                    self.comm.allreduce_sum_(self.flat[lo:hi])
            except BaseException as e:      # re-raised on the main thread in finish()
                self.err = e
            self.q.task_done()

    def begin(self, scale):
        """Start a step: gradients will be scaled by ``scale`` (n_r / nb) as they are copied in."""
        self.scale = np.float32(scale)
        self.done = set()
        self.next_bucket = 0

    def _put(self, j, g):
        lo, hi = self.off[j]
        dst = self.flat[lo:hi]
        if g is None:
            dst[:] = 0.0
        else:
            np.multiply(g.numpy().reshape(-1), self.scale, out=dst)
        self.done.add(j)

    def _send_ready(self):
        while self.next_bucket < len(self.buckets) and all(j in self.done for j in self.buckets[self.next_bucket][2]):
            lo, hi, _ = self.buckets[self.next_bucket]
            self.q.put((lo, hi))
            self.next_bucket += 1

    def ready(self, i, pg):
        """Plan hook: backward finished step ``i``; ``pg`` the parameter gradients so far."""
        for j in self.by_step.get(i, ()):
            self._put(j, pg[j])
        self._send_ready()

    def finish(self, pg=None):
        """Copy what is left (all of it when ``pg`` is None: an empty shard sends zeros), wait
        for the thread, and return the summed gradients as Arrays in param order."""
        for j in range(len(self.params)):
            if j not in self.done:
                self._put(j, None if pg is None else pg[j])
        self._send_ready()
        self.q.join()
        if self.err is not None:
            raise self.err
        return [_C.asarray(self.flat[self.off[j][0]:self.off[j][1]].reshape(tuple(p.shape)))
                for j, p in enumerate(self.params)]

    def close(self):
        self.q.put(None)
        self.thread.join()


class NcclGrads:
    """The CUDA twin of :class:`GradBuckets`: the same begin / ready / finish / close protocol,
    gradients summed in place on the device by one grouped NCCL allreduce after backward (NCCL
    fuses the group into one launch on fusednet's stream, so it overlaps with nothing on the
    host and needs no bucket thread; overlapping with backward would need a second stream: a gap).

    Args:
        params: the parameter Arrays (plan order, on the CUDA device).
        nccl: the :class:`fusednet.distribution.nccl.NcclCommunicator`.

    Shape:
        ``finish()`` returns one float32 Array per parameter, shaped like it.

    Example:
        >>> ng = NcclGrads(params, nc); ng.begin(0.5); ...backward...; grads = ng.finish(pg)
    """

    def __init__(self, params, nccl):
        self.params, self.nccl = params, nccl
        self.device = str(params[0].device) if params else "cuda"

    def begin(self, scale):
        self.scale = float(scale)

    def ready(self, i, pg):
        pass

    def finish(self, pg=None):
        if pg is None:                       # an empty shard: zeros, the same collective
            grads = [_C.zeros(list(p.shape), "float32", self.device) for p in self.params]
        else:
            grads = [_C.scale(g, self.scale) for g in pg]   # fresh: the plan may reuse its buffers
        self.nccl.allreduce_sum_(grads)
        return grads

    def close(self):
        pass
