"""Request counters shared between the server thread and whoever inspects it (tests, benchmark)."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

ENDPOINTS = ("token", "products", "prices", "stock", "logistics", "balance")


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls: dict[str, int] = dict.fromkeys(ENDPOINTS, 0)
            self._statuses: dict[str, dict[str, int]] = {}
            self._largest_batch = 0
            self._busiest_second = 0
            self._total = 0
            self._window: deque[float] = deque()
            self._in_flight = 0
            self._most_in_flight = 0

    def record_arrival(self, endpoint: str, now: float) -> None:
        """Count a request as it arrives (at `now`, in seconds), before any throttling decides its fate."""
        with self._lock:
            self._total += 1
            self._calls[endpoint] = self._calls.get(endpoint, 0) + 1
            window = self._window
            window.append(now)
            # Arrivals within the last 1.0 s, the arrival itself included.
            while window and window[0] <= now - 1.0:
                window.popleft()
            self._busiest_second = max(self._busiest_second, len(window))
            self._in_flight += 1
            self._most_in_flight = max(self._most_in_flight, self._in_flight)

    def record_status(self, endpoint: str, status: int) -> None:
        """Count a request's answer (every request gets one status, a hung one included)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            per = self._statuses.setdefault(endpoint, {})
            key = str(status)
            per[key] = per.get(key, 0) + 1

    def record_batch(self, size: int) -> None:
        with self._lock:
            self._largest_batch = max(self._largest_batch, size)

    def calls(self, endpoint: str) -> int:
        with self._lock:
            return self._calls.get(endpoint, 0)

    def statuses(self, endpoint: str) -> dict[str, int]:
        with self._lock:
            return dict(self._statuses.get(endpoint, {}))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total_requests": self._total,
                "calls": dict(self._calls),
                "statuses": {name: dict(per) for name, per in self._statuses.items()},
                "largest_batch": self._largest_batch,
                "busiest_second": self._busiest_second,
                "most_in_flight": self._most_in_flight,  # arrived and not yet answered, at any one moment
            }
