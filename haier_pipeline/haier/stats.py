"""Per-endpoint call statistics, ready to become Dagster asset metadata."""

from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import dagster as dg


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
        # Wall-clock (epoch) bounds of the API phase: when the first request went out, when the last one ended.
        self.first_sent_at: float | None = None
        self.last_answer_at: float | None = None
        # The most threads one fan-out sent with at once (0: no fan-out).
        self.peak_senders = 0

    def record(self, endpoint: str, latency_ms: float, *, retry: bool, throttled: bool, failed: bool) -> None:
        answered_at = time.time()
        sent_at = answered_at - latency_ms / 1000
        with self._lock:
            if self.first_sent_at is None or sent_at < self.first_sent_at:
                self.first_sent_at = sent_at
            if self.last_answer_at is None or answered_at > self.last_answer_at:
                self.last_answer_at = answered_at
            stats = self._endpoints[endpoint]
            stats.calls += 1
            stats.retries += int(retry)
            stats.throttled += int(throttled)
            stats.failures += int(failed)
            stats.latencies_ms.append(latency_ms)

    def record_senders(self, peak: int) -> None:
        with self._lock:
            self.peak_senders = max(self.peak_senders, peak)

    def record_warning(self, endpoint: str) -> None:
        with self._lock:
            self._endpoints[endpoint].warnings += 1

    def by_endpoint(self) -> dict[str, dict[str, float | int]]:
        with self._lock:
            return {name: stats.summary() for name, stats in sorted(self._endpoints.items())}

    def total(self, counter: str) -> int:
        with self._lock:
            return sum(getattr(stats, counter) for stats in self._endpoints.values())

    def api_seconds(self) -> float:
        """From the first request sent to the last answer (0 when nothing was sent)."""
        with self._lock:
            if self.first_sent_at is None or self.last_answer_at is None:
                return 0.0
            return self.last_answer_at - self.first_sent_at

    def as_metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "api_calls": self.total("calls"),
            "api_retries": self.total("retries"),
            "api_throttled": self.total("throttled"),
            "api_warnings": self.total("warnings"),
            "api_by_endpoint": self.by_endpoint(),
        }
        with self._lock:
            first, last = self.first_sent_at, self.last_answer_at
            if self.peak_senders:
                # How many calls the answers' latency needed in flight (see haier.senders).
                metadata["api_peak_senders"] = self.peak_senders
        if first is not None and last is not None:
            # The step's API phase; the rest of the step's time is parsing, checks and writing.
            metadata["api_seconds"] = round(last - first, 3)
            metadata["api_first_sent_at"] = dg.MetadataValue.timestamp(first)
            metadata["api_last_answer_at"] = dg.MetadataValue.timestamp(last)
        return metadata
