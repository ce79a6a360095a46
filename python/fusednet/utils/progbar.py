"""Keras-style progress bar: ``verbose=1`` a live bar with ETA and metrics, ``verbose=2`` one line
per epoch, ``verbose=0`` silent."""
import math
import sys
import time

import numpy as np

__all__ = ["Progbar", "format_value", "format_duration"]


_MAX_LISTED = 4


def _fmt_scalar(v):
    if not math.isfinite(v):
        return f"{v}"
    return f"{v:.4f}" if abs(v) > 1e-3 else f"{v:.4e}"


def _as_numeric(v):
    """``v`` as a float64 NumPy array, or None when it is not numeric (a string, an object)."""
    if hasattr(v, "numpy") and not isinstance(v, np.ndarray):  # fusednet Array / Tensor / torch
        try:
            v = v.numpy()
        except Exception:  # noqa: BLE001 - anything we cannot read is shown as text
            return None
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return a


def format_value(v):
    """Keras formatting of a logged value: 4 decimals, or scientific below 1e-3.

    Array-valued metrics (e.g. ``F1Score(average=None)``, one value per class) are shown as a
    short list when they have at most 4 entries (``[0.9000 0.8000 0.7500]``), otherwise as their
    mean (``0.8123 (mean of 10)``). Non-numeric values are shown as text.
    """
    a = _as_numeric(v)
    if a is None:
        return f" {v}"
    if a.size == 1:
        return " " + _fmt_scalar(float(a.reshape(-1)[0]))
    if a.size == 0:
        return " []"
    if a.size <= _MAX_LISTED:
        return " [" + " ".join(_fmt_scalar(float(x)) for x in a.reshape(-1)) + "]"
    return f" {_fmt_scalar(float(np.mean(a)))} (mean of {a.size})"


def format_duration(seconds):
    """``1:02:03`` / ``2:03`` / ``5s`` like Keras' ETA."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}:{(s % 3600) // 60:02d}:{s % 60:02d}"
    if s >= 60:
        return f"{s // 60}:{s % 60:02d}"
    return f"{s}s"


def _per_unit(seconds, unit):
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


class _Everything:
    def __contains__(self, item):
        return True


class Progbar:
    """Displays progress of a loop of ``target`` steps.

    Args:
        target: total number of steps, or None if unknown.
        width: bar width in characters.
        verbose: 0 silent, 1 live bar (redrawn in place on a terminal; a single final line when
            the stream is not a terminal, to keep logs short), 2 one line when finalized.
        interval: minimum seconds between redraws.
        stateful_metrics: names whose values are shown as given (already running averages);
            other values are averaged over steps like Keras. ``"all"`` makes every value stateful.
        unit_name: unit shown in the per-step time (``"step"``).
        file: output stream (default ``sys.stdout`` at call time).

    Example:
        >>> bar = Progbar(100)
        >>> for i in range(100):
        ...     bar.update(i + 1, [("loss", 0.1)])
    """

    def __init__(self, target, width=30, verbose=1, interval=0.05, stateful_metrics=None, unit_name="step",
                 file=None):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = _Everything() if stateful_metrics == "all" else set(stateful_metrics or ())
        self._file = file
        stream = self.file
        self._dynamic = (hasattr(stream, "isatty") and stream.isatty()) or "ipykernel" in sys.modules
        self._total_width = 0
        self._seen_so_far = 0
        self._values = {}
        self._values_order = []
        self._start = time.time()
        self._last_update = 0.0
        self._time_at_first_step = None
        self._finalized = False

    @property
    def file(self):
        return self._file if self._file is not None else sys.stdout

    def _estimate_step_time(self, current, now):
        if current <= 0:
            return 0.0
        return (now - self._start) / current

    def update(self, current, values=None, finalize=None):
        """Move the bar to step ``current``; ``values`` is a list of ``(name, value)`` pairs.

        Args:
            current: index of the current step (1-based count of completed steps).
            values: list of ``(name, value)``.
            finalize: whether this is the last update (default: ``current >= target``).
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for k, v in values or []:
            if k not in self._values_order:
                self._values_order.append(k)
            a = _as_numeric(v)
            if a is None:  # text: shown as given
                self._values[k] = [v, None]
            elif k not in self.stateful_metrics:
                base = max(current - self._seen_so_far, 1)
                prev = self._values.get(k)
                if (prev is None or prev[1] is None or np.shape(prev[0]) != a.shape):
                    # first value, or the value changed shape (e.g. a per-class metric that saw
                    # a new class): restart the running average instead of broadcasting
                    self._values[k] = [a * base, base]
                else:
                    prev[0] = prev[0] + a * base
                    prev[1] += base
            else:
                self._values[k] = [a, 1]
        self._seen_so_far = current
        now = time.time()
        if self.verbose == 0:
            return
        metrics = "".join(f" - {k}:{format_value(self._mean(k))}" for k in self._values_order)
        elapsed = now - self._start
        per_step = self._estimate_step_time(current, now)
        if self.verbose == 1:
            if not finalize and now - self._last_update < self.interval:
                return
            if not finalize and not self._dynamic:
                return  # not a terminal: only the final line goes to logs
            bar = self._bar(current)
            if finalize:
                info = f" {format_duration(elapsed)} {_per_unit(per_step, self.unit_name)}"
            elif self.target is not None:
                info = f" - ETA: {format_duration(per_step * (self.target - current))}"
            else:
                info = f" {format_duration(elapsed)}"
            line = bar + info + metrics
            out = self.file
            if self._dynamic:
                pad = max(0, self._total_width - len(line))
                out.write("\r" + line + " " * pad)
                self._total_width = len(line)
            else:
                out.write(line)
            if finalize:
                out.write("\n")
            out.flush()
            self._last_update = now
        elif self.verbose == 2 and finalize:
            count = f"{current}/{self.target}" if self.target is not None else f"{current}"
            line = f"{count} - {format_duration(elapsed)} - {_per_unit(per_step, self.unit_name)}{metrics}"
            out = self.file
            out.write(line + "\n")
            out.flush()
        if finalize:
            self._finalized = True

    def _mean(self, k):
        total, count = self._values[k]
        return total if count is None else total / max(1, count)

    def _bar(self, current):
        if self.target is None:
            return f"{current}/Unknown"
        nd = len(str(self.target))
        head = f"{current:{nd}d}/{self.target} ["
        frac = min(1.0, current / self.target) if self.target else 1.0
        done = int(self.width * frac)
        if done > 0:
            body = "=" * (done - 1) + (">" if current < self.target else "=")
        else:
            body = ""
        return head + body + "." * (self.width - len(body)) + "]"

    def add(self, n, values=None):
        """Advance by ``n`` steps."""
        self.update(self._seen_so_far + n, values)
