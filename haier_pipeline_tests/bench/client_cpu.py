"""The client's CPU per call, in a fresh process of its own: the bench runs this file as a child and reads one line of
JSON from it. Nothing of the bench is imported, only the client, so the same file measures an older checkout too
(`PYTHONPATH=<checkout> python haier_pipeline_tests/bench/client_cpu.py ...`).

Start-up (Python, the imports, the client, its token, the listing, a warm-up fan-out that opens the connections and
starts the senders) is left out: process CPU time (every thread's) is read just before and just after the measured
fan-out. `--profile FILE` writes a cProfile of every thread of the measured fan-out, merged (pstats format)."""

from __future__ import annotations

import argparse
import cProfile
import json
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from haier_pipeline.haier.client import HaierClient
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS

# Calls before the measured ones: the first answers open the pool's connections and start the senders.
WARM_UP_CALLS = 100


def stock_pairs(client: HaierClient, counties: list[str], count: int) -> list[tuple[str, str]]:
    """`count` pairs of the listing, the first ones again when the listing has fewer (the gateway answers alike)."""
    codes = dict.fromkeys(row["productCode"] for row in client.products() if row.get("isSales") == "1")
    pairs = [(code, county) for code in codes for county in counties]
    return (pairs * (count // len(pairs) + 1))[:count]


@contextmanager
def profiled(path: str | None) -> Iterator[None]:
    """cProfile sees one thread: each thread started inside the block gets a profile of its own, merged at the end. Each
    counts its own thread's CPU time (thread_time), not the wall time a thread spends waiting."""
    if path is None:
        yield
        return
    profiles = [cProfile.Profile(time.thread_time)]
    run = threading.Thread.run

    def profiled_run(thread: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)
        profiles.append(profile)
        profile.runcall(run, thread)

    threading.Thread.run = profiled_run  # type: ignore[method-assign]
    profiles[0].enable()
    try:
        yield
    finally:
        profiles[0].disable()
        threading.Thread.run = run  # type: ignore[method-assign]
        import pstats

        merged = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            merged.add(profile)
        merged.dump_stats(path)


def measure(
    base_url: str, calls: int, warm_up: int, rate_limit: float, counties: list[str], profile: str | None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pacing-") as pacing:
        client = HaierClient(base_url=base_url, rate_limit=rate_limit, pacing_dir=pacing, **SIMULATOR_CREDENTIALS)
        client.token()
        pairs = stock_pairs(client, counties, warm_up + calls)
        call: Callable[[tuple[str, str]], Any] = lambda pair: client.stock(*pair)  # noqa: E731
        client.fan_out(call, pairs[:warm_up])
        with client.track() as stats, profiled(profile):
            before = resource.getrusage(resource.RUSAGE_SELF)
            cpu_started, started = time.process_time(), time.monotonic()
            outcomes = client.fan_out(call, pairs[warm_up:])
            cpu, wall = time.process_time() - cpu_started, time.monotonic() - started
            after = resource.getrusage(resource.RUSAGE_SELF)
        first, last = stats.first_sent_at, stats.last_answer_at
    return {
        "calls": calls,
        "failed": sum(outcome.error is not None for outcome in outcomes),
        "cpu_seconds": cpu,
        "user_seconds": after.ru_utime - before.ru_utime,
        "system_seconds": after.ru_stime - before.ru_stime,
        "wall_seconds": wall,
        "api_seconds": (last - first) if first is not None and last is not None else None,
        "start_up_cpu_seconds": cpu_started,
        "cpu_ms_per_call": cpu / calls * 1000,
        "calls_per_second": calls / wall,
    }


def main(argv: list[str] | None = None) -> int:
    parse = argparse.ArgumentParser(description=__doc__)
    parse.add_argument("base_url")
    parse.add_argument("--calls", type=int, default=3000)
    parse.add_argument("--warm-up", type=int, default=WARM_UP_CALLS, help="calls before the measured ones")
    parse.add_argument("--rate-limit", type=float, default=10_000.0)
    parse.add_argument("--counties", default="110101,310104,440106,510107,110105,310115,440305,330106,420106,610113")
    parse.add_argument("--profile", help="write a cProfile of the measured calls (every thread) here")
    args = parse.parse_args(argv)
    result = measure(args.base_url, args.calls, args.warm_up, args.rate_limit, args.counties.split(","), args.profile)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
