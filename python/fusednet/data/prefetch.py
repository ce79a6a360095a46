"""The background thread behind ``Dataset.prefetch``: a producer filling a bounded queue.

The producer holds no reference to the consuming iterator, so dropping the iterator runs its
``__del__``, which stops and joins the thread; an exception raised upstream travels through the
queue and is re-raised by the consumer (the same exception object, with a note).
"""
import queue
import threading

__all__ = ["PrefetchIterator"]


_END = object()


class _Raised:
    __slots__ = ("exc",)

    def __init__(self, exc):
        self.exc = exc


def _produce(it, q, stop):
    """Producer thread body: holds no reference to the consuming iterator (so dropping the
    iterator runs its ``__del__``, which stops this thread)."""
    def put(item):
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False
    try:
        for e in it:
            if not put(e):
                break
        else:
            put(_END)
    except BaseException as e:   # re-raised in the consumer
        put(_Raised(e))
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # pragma: no cover
                pass


class PrefetchIterator:
    """Consumer side of ``Dataset.prefetch``: a bounded queue filled by one daemon thread.

    Args:
        it: the upstream iterator (consumed in the thread).
        n: queue size (elements produced ahead).

    Returns:
        An iterator over the same elements; ``close()`` stops the thread (also on exhaustion, on
        an upstream exception, and when the iterator is garbage collected).

    Example:
        >>> it = PrefetchIterator(iter(range(10)), 2)
        >>> list(it)
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """

    def __init__(self, it, n):
        self._q = queue.Queue(maxsize=n)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=_produce, args=(it, self._q, self._stop),
                                        name="fusednet-prefetch", daemon=True)
        self._done = False
        self._thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        item = self._q.get()
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, _Raised):
            self.close()
            e = item.exc
            if hasattr(e, "add_note"):
                e.add_note("(raised in the input pipeline, in Dataset.prefetch's background thread)")
            raise e
        return item

    def close(self):
        """Stop the producer thread and wait for it (idempotent)."""
        self._done = True
        self._stop.set()
        while True:                     # unblock a producer waiting on a full queue
            try:
                self._q.get_nowait()
            except queue.Empty:
                break
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass
