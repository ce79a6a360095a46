"""Background batch decoding: a small thread pool that builds batches i+1..i+k while the caller
trains on batch i.

Decoding (Pillow) and resizing (``_C.resize_images``) release the GIL, so ``workers`` threads
really run beside the training step, and the window runs on into the next pass so its first
batch is ready too. Threads live only while there is work: a thread with nothing to do for
``idle_s`` seconds (1 s) exits by itself -- at most ``depth`` batches after the data stopped
being read -- and ``close()`` (or an error) joins them at once.
"""
import queue
import threading
from concurrent.futures import CancelledError, Future

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
    """Computes ``load((pass, i))`` ahead of the requests, in threads, across pass boundaries.

    Batch ``i`` of pass ``e`` is the key ``(e, i)``; requests of pass ``e`` in order keep the
    next ``depth`` keys in flight, continuing into ``(e + 1, 0), (e + 1, 1), ...`` at the end of
    a pass (the next pass's order is a pure function of its number), so the first batch of a pass
    is ready too. ``set_pass`` drops what belongs to other passes.

    Args:
        load: function ``(pass, i) -> batch`` (thread-safe and pure).
        n: number of batches in a pass.
        workers: decoding threads (0 decodes on the calling thread, no pool).
        depth: batches kept in flight ahead of the last request (default ``2 * workers``).
        idle_s: seconds after which a thread with no work exits.

    Returns:
        ``get(e, i)`` returns ``load((e, i))``; requests in order hit batches already decoded.

    Example:
        >>> pf = BatchPrefetcher(lambda k: k[1] ** 2, n=10, workers=2)
        >>> [pf.get(0, i) for i in range(10)][-1]   # 81; threads exit 1 s after the work ends
    """

    def __init__(self, load, n, workers=2, depth=None, idle_s=1.0):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ValueError(f"BatchPrefetcher: workers must be an int >= 0, got {workers!r}")
        self._load, self.n, self.workers, self.idle_s = load, int(n), workers, float(idle_s)
        self.depth = max(1, 2 * workers if depth is None else int(depth))
        self._pool = None
        self._futures = {}
        self._next = None       # next key not yet submitted
        self._lock = threading.Lock()

    def _after(self, key):
        e, i = key
        return (e, i + 1) if i + 1 < self.n else (e + 1, 0)

    def get(self, e, i):
        """``load((e, i))``; schedules the following ``depth`` batches in the background."""
        key = (e, i)
        if self.workers == 0:
            return self._load(key)
        with self._lock:
            fut = self._futures.pop(key, None)
            if fut is None:
                # out-of-order request: forget what was in flight, restart the window after key
                self._cancel_locked()
                self._next = None
            self._fill_locked(self._after(key))
        try:
            if fut is not None:
                try:
                    return fut.result()
                except CancelledError:      # dropped by a concurrent close(): decode it here
                    pass
            return self._load(key)
        except BaseException:
            self.close()   # a failed batch (corrupt file, Ctrl-C) leaves no thread behind
            raise

    def _fill_locked(self, start):
        if self.n <= 0:
            return
        if self._next is None or self._next < start:
            self._next = start
        stop = start
        for _ in range(self.depth):
            stop = self._after(stop)
        if stop[0] > start[0] + 1:          # never look further than the next pass
            stop = (start[0] + 1, self.n)
        if self._next >= stop:
            return
        if self._pool is None:
            self._pool = _Pool(self._load, self.workers, self.idle_s)
        while self._next < stop:
            self._futures[self._next] = self._pool.submit(self._next)
            self._next = self._after(self._next)

    def _cancel_locked(self, keep=None):
        for k in list(self._futures):
            if keep is None or k[0] != keep:
                self._futures.pop(k).cancel()

    def set_pass(self, e, n=None, warm=True):
        """Pass ``e`` starts: batches of other passes are dropped; with ``warm`` its first
        ``depth`` batches are (or keep being) decoded in the background."""
        with self._lock:
            if n is not None and int(n) != self.n:
                self._cancel_locked()
                self.n = int(n)
            self._cancel_locked(keep=e)
            self._next = max(self._futures) if self._futures else None
            if self._next is not None:
                self._next = self._after(self._next)
            if warm and self.workers:
                self._fill_locked((e, 0))

    def close(self):
        """Cancel pending batches and join the threads (safe to call any number of times)."""
        with self._lock:
            self._cancel_locked()
            pool, self._pool = self._pool, None
            self._next = None
        if pool is not None:
            pool.shutdown()

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass
