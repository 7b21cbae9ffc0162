"""Progress of long fan-outs on a terminal (items, calls/s, throttled, ETA); silent when not a TTY, so
logs and CI output stay clean."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from haier_pipeline.haier.stats import CallStats

REDRAW_SECONDS = 0.5


class Progress:
    def __init__(self, label: str, total: int, stats: CallStats | None = None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.stats = stats
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._started = time.monotonic()
        self._drawn = 0.0
        self._lock = threading.Lock()

    def line(self, done: int) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = done / elapsed
        remaining = (self.total - done) / rate if rate > 0 else float("inf")
        eta = f"{remaining:.0f}s" if remaining != float("inf") else "?"
        throttled = self.stats.total("throttled") if self.stats else 0
        return f"{self.label}: {done}/{self.total}  {rate:.0f} calls/s  throttled {throttled}  ETA {eta}"

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            now = time.monotonic()
            if now - self._drawn < REDRAW_SECONDS and done < total:
                return
            self._drawn = now
            self.stream.write("\r\033[K" + self.line(done))
            self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K" + self.line(self.total) + "\n")
            self.stream.flush()
