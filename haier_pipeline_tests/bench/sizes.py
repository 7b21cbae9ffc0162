"""How big each measurement is: the full benchmark (about 8 minutes on 2 busy cores), `--quick` (about 3), and the
smoke test's tiny sizes (figures meaningless, shape complete)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Sizes:
    preset: str = "full"
    # The vendor's gateway: its limit (the client paces 3 % under it) and its latency.
    rate_limit: float = 100.0
    latency_ms: float = 30.0
    # Figures 1-2 at latency_ms: the answers' latency varies by this share of it either way (30 ms +-50 %: 15 to 45 ms).
    latency_jitter: float = 0.5
    slow_latency_ms: float = 150.0  # a real gateway across the internet
    # 1-2: the stock fan-out (pooled) and the one-at-a-time pattern on the same pairs.
    fan_out_calls: int = 3000
    one_at_a_time_sample: int = 200
    slow_one_at_a_time_sample: int = 80
    slow_pooled_calls: int = 1500
    # 1: the fan-out against a gateway slow enough that 100 calls/s take more calls in flight than a fixed pool had.
    slowest_latency_ms: float = 600.0
    slowest_pooled_calls: int = 1200
    # 3: a whole `haier-pipeline sync` (products x counties stock calls, plus prices, products, balance, logistics).
    sync_products: int = 325
    sync_counties: int = 10
    # The same sync on a catalog this small (one county, about 25 calls) measures what any run costs besides its calls.
    fixed_cost_products: int = 20
    # The real catalog: 2,000 products in 30 counties, 60,000 stock calls (10 minutes at the limit).
    share_products: int = 2000
    share_counties: int = 30
    # 4-5: resume after a kill, and a call budget, on the sync's warehouse.
    resume_counties: int = 4
    kill_at: float = 0.8
    budget_calls: int = 1000
    # 6-7: memory and time per call with no latency and a raised limit, one county.
    scale_products: tuple[int, ...] = (5000, 50000)
    scale_rate_limit: float = 10000.0
    # 8: the client alone, no limit, no latency.
    ceiling_calls: int = 3000
    # 11: the client's CPU per call beyond start-up, each run a fresh process (no limit, no latency).
    cpu_calls: int = 3000
    cpu_runs: int = 5
    # The smoke test forks this process to run each sync (no start-up, meaningless timings); the benchmark never.
    fork_syncs: bool = False

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Sizes:
        return dataclasses.replace(self, **{name: value for name, value in changes.items() if value is not None})


FULL = Sizes()
QUICK = Sizes(
    preset="quick",
    fan_out_calls=1000,
    one_at_a_time_sample=100,
    slow_one_at_a_time_sample=30,
    slow_pooled_calls=1000,
    slowest_pooled_calls=600,
    sync_products=110,
    share_products=500,
    share_counties=4,
    budget_calls=300,
    scale_products=(2000, 10000),
    ceiling_calls=1000,
    cpu_calls=1000,
    cpu_runs=3,
)
SMOKE = Sizes(
    preset="smoke",
    latency_ms=2.0,
    slow_latency_ms=10.0,
    fan_out_calls=40,
    one_at_a_time_sample=10,
    slow_one_at_a_time_sample=5,
    slow_pooled_calls=40,
    slowest_latency_ms=20.0,
    slowest_pooled_calls=40,
    sync_products=12,
    sync_counties=2,
    share_products=20,
    share_counties=2,
    resume_counties=2,
    budget_calls=8,
    scale_products=(20, 60),
    ceiling_calls=60,
    cpu_calls=40,
    cpu_runs=1,
    fork_syncs=True,
)
PRESETS = {sizes.preset: sizes for sizes in (FULL, QUICK, SMOKE)}
