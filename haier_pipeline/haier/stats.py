"""Per-endpoint call statistics, ready to become Dagster asset metadata."""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class EndpointStats:
    calls: int = 0
    retries: int = 0
    throttled: int = 0
    failures: int = 0
    # Answers read as success despite an unrecognised envelope code (see envelopes.py).
    warnings: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float | int]:
        return {
            "calls": self.calls,
            "retries": self.retries,
            "throttled": self.throttled,
            "failures": self.failures,
            "warnings": self.warnings,
            "p50_ms": round(_percentile(self.latencies_ms, 50), 1),
            "p95_ms": round(_percentile(self.latencies_ms, 95), 1),
        }


def _percentile(values: list[float], percent: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


class CallStats:
    """Thread-safe counters; `calls` counts HTTP requests sent, retries and token fetches included."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._endpoints: dict[str, EndpointStats] = defaultdict(EndpointStats)

    def record(self, endpoint: str, latency_ms: float, *, retry: bool, throttled: bool, failed: bool) -> None:
        with self._lock:
            stats = self._endpoints[endpoint]
            stats.calls += 1
            stats.retries += int(retry)
            stats.throttled += int(throttled)
            stats.failures += int(failed)
            stats.latencies_ms.append(latency_ms)

    def record_warning(self, endpoint: str) -> None:
        with self._lock:
            self._endpoints[endpoint].warnings += 1

    def by_endpoint(self) -> dict[str, dict[str, float | int]]:
        with self._lock:
            return {name: stats.summary() for name, stats in sorted(self._endpoints.items())}

    def total(self, counter: str) -> int:
        with self._lock:
            return sum(getattr(stats, counter) for stats in self._endpoints.values())

    def as_metadata(self) -> dict[str, int | dict[str, dict[str, float | int]]]:
        return {
            "api_calls": self.total("calls"),
            "api_retries": self.total("retries"),
            "api_throttled": self.total("throttled"),
            "api_warnings": self.total("warnings"),
            "api_by_endpoint": self.by_endpoint(),
        }
