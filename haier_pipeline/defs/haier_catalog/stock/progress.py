"""Progress of long fan-outs (items, calls/s, retries, throttled, ETA): redrawn on a terminal (silent when not a
TTY, so CI output stays clean), and, given a `log`, one line in the run's log at each tenth done or every 30 s, so
a ten-minute stock step does not look dead in the UI."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from haier_pipeline.haier.stats import CallStats

REDRAW_SECONDS = 0.5
LOG_SECONDS = 30.0


class Progress:
    def __init__(
        self,
        label: str,
        total: int,
        stats: CallStats | None = None,
        stream: TextIO | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.stats = stats
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.log = log
        self._started = time.monotonic()
        self._drawn = 0.0
        self._logged = (0, self._started)  # the tenth done and the time of the last line logged
        self._lock = threading.Lock()

    def line(self, done: int) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = done / elapsed
        remaining = (self.total - done) / rate if rate > 0 else float("inf")
        eta = f"{remaining:.0f}s" if remaining != float("inf") else "?"
        retries, throttled = (self.stats.total("retries"), self.stats.total("throttled")) if self.stats else (0, 0)
        counts = f"{rate:.0f} calls/s  retries {retries}  throttled {throttled}"
        return f"{self.label}: {done}/{self.total}  {counts}  ETA {eta}"

    def update(self, done: int, total: int) -> None:
        self._log(done)
        if not self.enabled:
            return
        with self._lock:
            now = time.monotonic()
            if now - self._drawn < REDRAW_SECONDS and done < total:
                return
            self._drawn = now
            self.stream.write("\r\033[K" + self.line(done))
            self.stream.flush()

    def _log(self, done: int) -> None:
        if self.log is None or done >= self.total:  # the step's own summary says how it ended
            return
        with self._lock:
            tenth, now = done * 10 // max(self.total, 1), time.monotonic()
            if tenth <= self._logged[0] and now - self._logged[1] < LOG_SECONDS:
                return
            self._logged = (tenth, now)
            line = self.line(done)
        self.log(line)

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K" + self.line(self.total) + "\n")
            self.stream.flush()
