"""Per-endpoint call statistics, ready to become Dagster asset metadata."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import dagster as dg


class LatencyHistogram:
    """Latencies counted in buckets 1 % wide on a log scale: a step of millions of calls (a day's limit is 8.64
    million) holds a few hundred counters instead of a float per call, and a percentile is within 1 % of exact."""

    GROWTH = 1.01
    SMALLEST_MS = 0.001

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        self.total = 0

    def add(self, latency_ms: float) -> None:
        self.counts[math.floor(math.log(max(latency_ms, self.SMALLEST_MS), self.GROWTH))] += 1
        self.total += 1

    def percentile(self, percent: float) -> float:
        """The nearest-rank percentile, as the middle of its bucket (0.0 when nothing was counted)."""
        if not self.total:
            return 0.0
        rank, seen = max(1, math.ceil(self.total * percent / 100)), 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                break
        return float(self.GROWTH ** (bucket + 0.5))


@dataclass
class EndpointStats:
    calls: int = 0
    retries: int = 0
    throttled: int = 0
    failures: int = 0
    latencies: LatencyHistogram = field(default_factory=LatencyHistogram)

    def summary(self) -> dict[str, float | int]:
        return {
            "calls": self.calls,
            "retries": self.retries,
            "throttled": self.throttled,
            "failures": self.failures,
            "p50_ms": round(self.latencies.percentile(50), 1),
            "p95_ms": round(self.latencies.percentile(95), 1),
        }


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
            stats.latencies.add(latency_ms)

    def record_senders(self, peak: int) -> None:
        with self._lock:
            self.peak_senders = max(self.peak_senders, peak)

    def by_endpoint(self) -> dict[str, dict[str, float | int]]:
        with self._lock:
            return {name: stats.summary() for name, stats in sorted(self._endpoints.items())}

    def total(self, counter: str) -> int:
        with self._lock:
            return sum(getattr(stats, counter) for stats in self._endpoints.values())

    def as_metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "api_calls": self.total("calls"),
            "api_retries": self.total("retries"),
            "api_throttled": self.total("throttled"),
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
