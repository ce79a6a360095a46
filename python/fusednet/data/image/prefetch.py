"""Background batch decoding: a small thread pool that builds batches i+1..i+k while the caller
trains on batch i.

Decoding (Pillow) and resizing (``_C.resize_images``) release the GIL, so ``workers`` threads
really run beside the training step. Threads live only while there is work: they are joined
after the last batch of a pass and on ``close()``, and a thread with nothing to do for
``idle_s`` seconds exits by itself (so batches warmed for a pass nobody reads, e.g. after the
last epoch of ``fit``, leave no thread behind).
"""
import queue
import threading
from concurrent.futures import Future

__all__ = ["BatchPrefetcher"]


class _Pool:
    """Up to ``workers`` threads pulling (future, i) items; idle threads exit after idle_s."""

    def __init__(self, fn, workers, idle_s):
        self._fn, self._workers, self._idle = fn, workers, idle_s
        self._q = queue.Queue()
        self._threads = []
        self._lock = threading.Lock()

    def submit(self, i):
        fut = Future()
        with self._lock:
            self._q.put((fut, i))
            if len(self._threads) < self._workers:
                t = threading.Thread(target=self._run, name="fusednet-decode", daemon=True)
                self._threads.append(t)
                t.start()
        return fut

    def _run(self):
        me = threading.current_thread()
        while True:
            try:
                item = self._q.get(timeout=self._idle)
            except queue.Empty:
                with self._lock:
                    if self._q.empty():
                        self._threads.remove(me)
                        return
                continue
            if item is None:
                return
            fut, i = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(self._fn(i))
            except BaseException as e:  # delivered to the caller of get(i)
                fut.set_exception(e)

    def shutdown(self):
        with self._lock:
            threads, self._threads = list(self._threads), []
            while True:                     # drop queued work
                try:
                    fut, _ = self._q.get_nowait()
                except queue.Empty:
                    break
                except TypeError:           # a None sentinel
                    continue
                fut.cancel()
            for _ in threads:
                self._q.put(None)
        for t in threads:
            if t is not threading.current_thread():
                t.join()


class BatchPrefetcher:
    """Computes ``load(i)`` for ``i`` in ``range(n)`` ahead of the requests, in threads.

    Args:
        load: function ``i -> batch`` (thread-safe, a pure function of ``i`` for the current pass).
        n: number of batches in a pass.
        workers: decoding threads (0 decodes on the calling thread, no pool).
        depth: batches kept in flight ahead of the last request (default ``2 * workers``).
        idle_s: seconds after which a thread with no work exits.

    Returns:
        ``get(i)`` returns ``load(i)``; requests in order hit batches already decoded.

    Example:
        >>> pf = BatchPrefetcher(lambda i: i * i, n=10, workers=2)
        >>> [pf.get(i) for i in range(10)][-1]   # 81; the threads are joined after batch 9
    """

    def __init__(self, load, n, workers=2, depth=None, idle_s=1.0):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ValueError(f"BatchPrefetcher: workers must be an int >= 0, got {workers!r}")
        self._load, self.n, self.workers, self.idle_s = load, int(n), workers, float(idle_s)
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
            self._pool = _Pool(self._load, self.workers, self.idle_s)
        while self._next < stop:
            self._futures[self._next] = self._pool.submit(self._next)
            self._next += 1

    def _cancel_locked(self):
        for f in self._futures.values():
            f.cancel()
        self._futures.clear()

    def reset(self, n=None, warm=False):
        """Drop batches in flight (the order changed, e.g. a new pass); with ``warm`` start
        decoding the first ``depth`` batches of the new pass right away."""
        self.close()
        if n is not None:
            self.n = int(n)
        if warm and self.workers:
            with self._lock:
                self._next = 0
                self._fill_locked(0)

    def close(self):
        """Cancel pending batches and join the threads (safe to call any number of times)."""
        with self._lock:
            self._cancel_locked()
            pool, self._pool = self._pool, None
            self._next = 0
        if pool is not None:
            pool.shutdown()

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass
