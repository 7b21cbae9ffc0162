"""Figures 1, 2 and 8: the client in this process against the gateway in its own: the pooled stock fan-out against
the rate-limit floor, the one-at-a-time pattern at two latencies, and the client's own ceiling."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haier_pipeline.haier.client import HaierClient
from haier_pipeline_tests.bench import client_cpu
from haier_pipeline_tests.bench.gateway import COUNTIES, Gateway, products_for_pairs, stock_pairs, throttled
from haier_pipeline_tests.bench.report import Figure, Row, count, seconds
from haier_pipeline_tests.bench.sizes import Sizes
from haier_pipeline_tests.simulated import stock_for_pairs

ROOT = Path(__file__).resolve().parents[2]
# The threads of the client's former fixed pool: what the slowest gateway's row compares with.
FIXED_POOL = 32
# The most HAIER_RATE_LIMIT accepts: far above what the client reaches, so what is left is the client's own speed.
# (Not higher: the pacer makes a thread that wakes more than half an interval late take a new slot, and at 1e6/s
# half an interval, 0.5 us, is shorter than any wake-up, so the threads would retake slots forever.)
NO_PACING = 10_000.0


@dataclass(frozen=True)
class Pass:
    """One timed pass over stock pairs."""

    pairs: int
    seconds: float
    calls: int  # requests the gateway received (retries included)
    throttled: int
    busiest_second: int
    failed: int
    # The client's first request sent to its last answer (its statistics); None for the one-at-a-time pattern.
    api_seconds: float | None = None

    @property
    def calls_per_second(self) -> float:
        return self.pairs / self.seconds

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "calls_per_second": round(self.calls_per_second, 2)}


def pooled(gate: Gateway, client: HaierClient, pairs: list[tuple[str, str]]) -> Pass:
    gate.reset()
    with client.track() as stats:
        started = time.monotonic()
        outcomes = stock_for_pairs(client, pairs)
        elapsed = time.monotonic() - started
    failed = sum(outcome.error is not None for outcome in outcomes)
    first, last = stats.first_sent_at, stats.last_answer_at
    api = last - first if first is not None and last is not None else None
    return _pass(gate, len(pairs), elapsed, failed, api)


def one_at_a_time(gate: Gateway, client: HaierClient, pairs: list[tuple[str, str]]) -> Pass:
    """The old integration's pattern: each call waits for the previous answer."""
    gate.reset()
    started = time.monotonic()
    for pair in pairs:
        client.stock(*pair)
    return _pass(gate, len(pairs), time.monotonic() - started, 0)


def _pass(gate: Gateway, pairs: int, elapsed: float, failed: int, api_seconds: float | None = None) -> Pass:
    stats = gate.stats()
    return Pass(pairs, elapsed, stats["total_requests"], throttled(stats), stats["busiest_second"], failed, api_seconds)


def fan_out_figures(sizes: Sizes, gate: Gateway) -> tuple[Figure, Figure]:
    """1: the pooled fan-out against the floor; 2: one at a time at two latencies, against the pooled client."""
    limit = sizes.rate_limit
    calls = max(sizes.fan_out_calls, sizes.slow_pooled_calls, sizes.slowest_pooled_calls)
    gate.setup(products_for_pairs(calls, len(COUNTIES)), sizes.latency_ms, limit, sizes.latency_jitter)
    client = gate.client(limit)
    pairs = stock_pairs(client, COUNTIES, calls)
    client.token()
    fast = pooled(gate, client, pairs[: sizes.fan_out_calls])
    fast_single = one_at_a_time(gate, client, pairs[: sizes.one_at_a_time_sample])
    gate.set_latency(sizes.slow_latency_ms)
    slow = pooled(gate, client, pairs[: sizes.slow_pooled_calls])
    slow_single = one_at_a_time(gate, client, pairs[: sizes.slow_one_at_a_time_sample])
    gate.set_latency(sizes.slowest_latency_ms)
    slowest = pooled(gate, client, pairs[: sizes.slowest_pooled_calls])

    floor = fast.calls / limit
    api = fast.api_seconds or fast.seconds
    jitter = sizes.latency_ms * sizes.latency_jitter
    fan_out = Figure(
        "fan_out",
        f"stock fan-out against the floor ({sizes.latency_ms:g} ms ± {jitter:g} ms, {limit:g}/s enforced)",
        rows=[
            Row(
                f"pooled client, {count(fast.pairs)} pairs: API phase (first request sent to last answer)",
                seconds(api),
                f"floor {seconds(floor)} ({count(fast.calls)} calls / {limit:g} per s); whole fan-out "
                f"{seconds(fast.seconds)}",
                round(floor / api, 3),
                ">= 0.95",
                floor / api >= 0.95,
            ),
            Row(
                "throttled answers (429)",
                count(fast.throttled),
                f"of {count(fast.calls)} calls; busiest second {fast.busiest_second}",
                None,
                "0",
                fast.throttled == 0,
            ),
            slowest_row(slowest, sizes.slowest_latency_ms, limit),
        ],
        details={
            "pooled": fast.as_json(),
            "rate_limit": limit,
            "latency_ms": sizes.latency_ms,
            "latency_jitter_ms": jitter,
            "slowest_gateway": {**slowest.as_json(), "latency_ms": sizes.slowest_latency_ms},
        },
    )
    rows = []
    for latency, pooled_pass, single, target in (
        (sizes.latency_ms, fast, fast_single, 3.0),
        (sizes.slow_latency_ms, slow, slow_single, 10.0),
    ):
        speedup = pooled_pass.calls_per_second / single.calls_per_second
        rows.append(
            Row(
                f"pooled vs one at a time, {latency:g} ms",
                f"{pooled_pass.calls_per_second:.1f} calls/s pooled ({count(pooled_pass.pairs)} pairs)",
                f"{single.calls_per_second:.1f} calls/s one at a time ({count(single.pairs)} pairs)",
                round(speedup, 2),
                f">= {target:g}x",
                speedup >= target,
            )
        )
    singles = Figure(
        "one_at_a_time",
        "the same workload one call at a time (the old integration's pattern)",
        rows=rows,
        details={
            "latency_ms": {"fast": sizes.latency_ms, "slow": sizes.slow_latency_ms},
            "pooled_fast": fast.as_json(),
            "one_at_a_time_fast": fast_single.as_json(),
            "pooled_slow": slow.as_json(),
            "one_at_a_time_slow": slow_single.as_json(),
        },
    )
    return fan_out, singles


def slowest_row(slowest: Pass, latency_ms: float, limit: float) -> Row:
    """The fan-out when the limit takes more calls in flight than a fixed pool would have: the senders follow the
    answers' latency (haier.senders); the first answers, and the last latency, cost what they cost."""
    floor = slowest.calls / limit
    fixed_pool = min(1.0, FIXED_POOL / (latency_ms / 1000) / limit)
    return Row(
        f"pooled client, {count(slowest.pairs)} pairs, a gateway answering in {latency_ms:g} ms",
        seconds(slowest.seconds),
        f"floor {seconds(floor)}; {slowest.throttled} throttled; a fixed pool of {FIXED_POOL} threads: at most "
        f"{fixed_pool:.2f} of the floor",
        round(floor / slowest.seconds, 3),
    )


def client_ceiling(sizes: Sizes, gate: Gateway) -> Figure:
    """8: the client's own calls/s with no limit and no latency (the gateway on the same cores)."""
    gate.setup(products_for_pairs(sizes.ceiling_calls, len(COUNTIES)), 0.0, None)
    client = gate.client(NO_PACING)
    pairs = stock_pairs(client, COUNTIES, sizes.ceiling_calls)
    client.token()
    ceiling = pooled(gate, client, pairs)
    return Figure(
        "client_ceiling",
        "the client's own ceiling (no limit, no latency)",
        rows=[
            Row(
                f"pooled client, {count(ceiling.pairs)} pairs",
                f"{ceiling.calls_per_second:,.0f} calls/s",
                f"the vendor's limit, {sizes.rate_limit:g}/s",
                round(ceiling.calls_per_second / sizes.rate_limit, 1),
            )
        ],
        details={"pass": ceiling.as_json(), "failed": ceiling.failed},
    )


def client_cpu_figure(sizes: Sizes, gate: Gateway) -> Figure:
    """11: the client's CPU per call beyond start-up and its calls/s, each run a fresh process of its own (no limit,
    no latency, the gateway on the same cores), so nothing this process did before weighs on it."""
    warm_up = min(client_cpu.WARM_UP_CALLS, sizes.cpu_calls)
    gate.setup(products_for_pairs(sizes.cpu_calls, len(COUNTIES)), 0.0, None)
    runs = [_fresh_client_run(gate, sizes.cpu_calls, warm_up) for _ in range(sizes.cpu_runs)]
    cpu_ms = [run["cpu_ms_per_call"] for run in runs]
    rates = [run["calls_per_second"] for run in runs]
    interval_ms = 1000 / sizes.rate_limit
    spread = f"{len(runs)} fresh processes of {count(sizes.cpu_calls)} calls each"
    return Figure(
        "client_cpu",
        CLIENT_CPU_TITLE,
        rows=[
            Row(
                "process CPU (every thread) per call beyond start-up, median",
                f"{statistics.median(cpu_ms):.2f} ms (runs {min(cpu_ms):.2f} to {max(cpu_ms):.2f}; {spread})",
                f"the interval between calls at the vendor's limit, {interval_ms:g} ms: the share of a core an "
                "account at its limit takes",
                round(statistics.median(cpu_ms) / interval_ms, 3),
            ),
            Row(
                "calls/s ceiling, median",
                f"{statistics.median(rates):,.0f} calls/s (runs {min(rates):,.0f} to {max(rates):,.0f})",
                f"the vendor's limit, {sizes.rate_limit:g}/s",
                round(statistics.median(rates) / sizes.rate_limit, 1),
            ),
        ],
        details={"runs": runs, "warm_up_calls": warm_up},
    )


CLIENT_CPU_TITLE = "the client's CPU per call (fresh processes, no limit, no latency)"


def _fresh_client_run(gate: Gateway, calls: int, warm_up: int) -> dict[str, Any]:
    gate.reset()
    command = [sys.executable, "-m", "haier_pipeline_tests.bench.client_cpu", gate.base_url, "--calls", str(calls)]
    done = subprocess.run(
        [*command, "--warm-up", str(warm_up)], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-2000:]}")
    run: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    stats = gate.stats()
    return {**run, "throttled": throttled(stats), "gateway_requests": stats["total_requests"]}
