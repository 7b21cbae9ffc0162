"""The vendor's gateway for the benchmark: the simulator in its own process (it must not share the measured
process's interpreter lock, as a real gateway would not), driven over HTTP through its admin endpoints."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from haier_pipeline.haier.client import HaierClient
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS, simulator_process

# The simulator's command line wants a number; "no limit" is set over /_sim/config right after the start.
UNLIMITED_PLACEHOLDER = 1e9
# The simulator's answers vary by ±20 % of the latency, as its command line sets them, unless a figure says otherwise.
JITTER_SHARE = 0.2
# The first ten counties: about 300 products give a 3,000-call stock workload. All thirty: the real
# catalog, 2,000 products in 30 counties (60,000 stock calls).
COUNTIES = (
    *("110101", "310104", "440106", "510107", "110105", "310115", "440305", "330106", "420106", "610113"),
    *("110102", "110106", "110108", "310101", "310105", "310106", "310110", "440103", "440104", "440304"),
    *("440306", "510104", "510105", "330102", "330105", "420102", "420111", "610103", "320102", "370202"),
)


@dataclass(frozen=True)
class Gateway:
    base_url: str
    scratch: Path  # removed with the gateway

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = requests.request(method, f"{self.base_url}/_sim/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        """Requests by endpoint as they arrived, answers by endpoint and status, the busiest one-second window."""
        return self._admin("GET", "stats")

    def reset(self) -> None:
        """Zero the counters (tokens stay valid)."""
        self._admin("POST", "reset")

    def configure(self, **knobs: Any) -> None:
        self._admin("POST", "config", knobs)

    def set_latency(self, latency_ms: float, jitter: float = JITTER_SHARE) -> None:
        """Answers after `latency_ms`, give or take `jitter` of it (uniformly)."""
        self.configure(latency_ms=latency_ms, latency_jitter_ms=latency_ms * jitter)

    def setup(
        self, products: int, latency_ms: float, rate_limit: float | None, jitter: float = JITTER_SHARE
    ) -> Gateway:
        """`products` in the data set, answers after `latency_ms` ± `jitter` of it, 429 past `rate_limit` per second
        (None: never); counters zeroed."""
        self.configure(products=products, rate_limit=rate_limit)
        self.set_latency(latency_ms, jitter)
        self.reset()
        return self

    def client(self, rate_limit: float) -> HaierClient:
        """A client of its own pacing file, so no other process on the machine shares its budget."""
        pacing = tempfile.mkdtemp(prefix="pacing-", dir=self.scratch)
        return HaierClient(base_url=self.base_url, rate_limit=rate_limit, pacing_dir=pacing, **SIMULATOR_CREDENTIALS)


def answered(stats: dict[str, Any], endpoint: str) -> int:
    """Answers the gateway sent on an endpoint, whatever their status."""
    return sum(stats.get("statuses", {}).get(endpoint, {}).values())


def throttled(stats: dict[str, Any]) -> int:
    """429 answers on every endpoint."""
    return sum(int(per.get("429", 0)) for per in stats.get("statuses", {}).values())


@contextmanager
def gateway() -> Iterator[Gateway]:
    """The simulator, started once per benchmark; each measurement sets it up (`Gateway.setup`)."""
    with simulator_process(120, 0.0, UNLIMITED_PLACEHOLDER) as base_url, tempfile.TemporaryDirectory() as scratch:
        yield Gateway(base_url, Path(scratch))


def stock_pairs(client: HaierClient, counties: tuple[str, ...], count: int) -> list[tuple[str, str]]:
    """`count` (product, county) pairs of the procurable listing, as the stock step would ask them."""
    codes = dict.fromkeys(row["productCode"] for row in client.products() if row.get("isSales") == "1")
    pairs = [(code, county) for code in codes for county in counties][:count]
    if len(pairs) < count:
        raise ValueError(f"only {len(pairs)} pairs in the data set, {count} wanted")
    return pairs


def products_for_pairs(pairs: int, counties: int) -> int:
    """Products the simulator needs to offer `pairs` stock pairs in `counties` counties (about 92 % are
    procurable), with a margin."""
    return int(pairs / counties / 0.85) + 20
