"""Background batch decoding: a small thread pool that builds batches i+1..i+k while the caller
trains on batch i.

Decoding (Pillow) and resizing (``_C.resize_images``) release the GIL, so ``workers`` threads
really run beside the training step. The pool lives only while batches are being read in order:
it starts on the first request, is shut down (threads joined) after the last batch of a pass,
on ``reset()`` (new epoch order) and on ``close()``, so no thread outlives the iteration.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["BatchPrefetcher"]


class BatchPrefetcher:
    """Computes ``load(i)`` for ``i`` in ``range(n)`` ahead of the requests, in threads.

    Args:
        load: function ``i -> batch`` (must be thread-safe and a pure function of ``i`` for the
            current epoch).
        n: number of batches in a pass.
        workers: decoding threads (0 decodes on the calling thread, no pool).
        depth: how many batches to keep in flight ahead of the last request (default
            ``2 * workers``).

    Returns:
        ``get(i)`` returns ``load(i)``; requests in order hit batches already decoded.

    Example:
        >>> pf = BatchPrefetcher(lambda i: i * i, n=10, workers=2)
        >>> [pf.get(i) for i in range(10)][-1]   # 81; the pool is shut down after batch 9
    """

    def __init__(self, load, n, workers=2, depth=None):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ValueError(f"BatchPrefetcher: workers must be an int >= 0, got {workers!r}")
        self._load, self.n, self.workers = load, int(n), workers
        self.depth = max(1, 2 * workers if depth is None else int(depth))
        self._pool = None
        self._futures = {}
        self._next = 0          # next index not yet submitted
        self._lock = threading.Lock()

    def get(self, i):
        """``load(i)``; schedules the following ``depth`` batches in the background."""
        if self.workers == 0:
            return self._load(i)
        with self._lock:
            fut = self._futures.pop(i, None)
            if fut is None:
                # out-of-order request: forget what was in flight, restart the window at i + 1
                self._cancel_locked()
                self._next = i + 1
            self._fill_locked(i + 1)
        try:
            out = fut.result() if fut is not None else self._load(i)
        except BaseException:
            self.close()   # a failed batch (corrupt file, Ctrl-C) leaves no thread behind
            raise
        if i >= self.n - 1:
            self.close()
        return out

    def _fill_locked(self, start):
        if self._next < start:
            self._next = start
        stop = min(self.n, start + self.depth)
        if self._next >= stop:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="fusednet-decode")
        while self._next < stop:
            self._futures[self._next] = self._pool.submit(self._load, self._next)
            self._next += 1

    def _cancel_locked(self):
        for f in self._futures.values():
            f.cancel()
        self._futures.clear()

    def reset(self, n=None):
        """Drop batches in flight (the order changed, e.g. a new epoch) and stop the threads."""
        self.close()
        if n is not None:
            self.n = int(n)

    def close(self):
        """Cancel pending batches and join the threads (safe to call any number of times)."""
        with self._lock:
            self._cancel_locked()
            pool, self._pool = self._pool, None
            self._next = 0
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass
