"""`make bench`: every figure of issue 10 measured in one run, each against a reference measured in the same run
(the rate-limit floor, the one-at-a-time pattern, an uninterrupted run, the smallest catalog), so the ratios hold on
a slower or faster machine. Real parts only: the simulator in its own process over HTTP, the real client, the real
`haier-pipeline sync` process with a DAGSTER_HOME and a DuckDB file of its own.

    python -m haier_pipeline_tests.bench [--quick] [--only sync,resume] [--output data/bench/bench.json]
"""

from __future__ import annotations

import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from haier_pipeline_tests.bench import machine
from haier_pipeline_tests.bench.accounts import ACCOUNTS_TITLE, accounts_figure
from haier_pipeline_tests.bench.client_figures import (
    CLIENT_CPU_TITLE,
    client_ceiling,
    client_cpu_figure,
    fan_out_figures,
)
from haier_pipeline_tests.bench.gateway import Gateway, gateway
from haier_pipeline_tests.bench.report import FIGURE_KEYS, SCHEMA_VERSION, Figure
from haier_pipeline_tests.bench.scale import LINEAR_TITLE, MEMORY_TITLE, linear_figure, measure_sizes, memory_figure
from haier_pipeline_tests.bench.sizes import Sizes
from haier_pipeline_tests.bench.sync_figures import sync_figures

SHARED_MEMORY = Path("/dev/shm")
TITLES = {
    "fan_out": "stock fan-out against the floor",
    "one_at_a_time": "the same workload one call at a time (the old integration's pattern)",
    "client_ceiling": "the client's own ceiling (no limit, no latency)",
    "memory": MEMORY_TITLE,
    "linear_time": LINEAR_TITLE,
    "accounts": ACCOUNTS_TITLE,
    "client_cpu": CLIENT_CPU_TITLE,
}


class Bench:
    """One run: measures the groups of figures in turn; a group that fails is reported failed, the rest go on."""

    def __init__(self, sizes: Sizes, only: set[str] | None, root: Path, gate: Gateway) -> None:
        self.sizes = sizes
        self.only = only
        self.root = root
        self.gate = gate
        self.figures: dict[str, Figure] = {}
        self.seconds_by_group: dict[str, float] = {}

    def wanted(self, *keys: str) -> bool:
        return self.only is None or bool(self.only & set(keys))

    def guard(self, key: str, title: str, measure: Callable[[], Figure]) -> Figure:
        try:
            return measure()
        except Exception as error:  # one broken figure must not hide the others
            figure = Figure.failed(key, title, f"{type(error).__name__}: {error}")
            figure.details["traceback"] = traceback.format_exc()
            return figure

    def group(self, keys: tuple[str, ...], measure: Callable[[], list[Figure]]) -> None:
        if not self.wanted(*keys):
            return
        started = time.monotonic()
        try:
            for figure in measure():
                self.figures[figure.key] = figure
        except Exception as error:
            for key in keys:
                figure = Figure.failed(key, TITLES.get(key, key), f"{type(error).__name__}: {error}")
                figure.details["traceback"] = traceback.format_exc()
                self.figures.setdefault(key, figure)
        self.seconds_by_group[",".join(keys)] = round(time.monotonic() - started, 1)

    def run(self) -> None:
        sizes, gate, root = self.sizes, self.gate, self.root
        self.group(("fan_out", "one_at_a_time"), lambda: list(fan_out_figures(sizes, gate)))
        self.group(
            ("sync", "sync_2000_products", "resume", "budget"), lambda: sync_figures(sizes, gate, root, self.guard)
        )
        self.group(("memory", "linear_time"), lambda: self._scale())
        self.group(("client_ceiling",), lambda: [client_ceiling(sizes, gate)])
        self.group(("accounts",), lambda: [accounts_figure(sizes, root)])
        self.group(("client_cpu",), lambda: [client_cpu_figure(sizes, gate)])

    def _scale(self) -> list[Figure]:
        measured = measure_sizes(self.sizes, self.gate, self.root)
        return [memory_figure(measured), linear_figure(measured)]

    def ordered(self) -> dict[str, Figure]:
        return {
            key: self.figures.get(key)
            or Figure.not_available(key, TITLES.get(key, key), f"not run (--only {','.join(sorted(self.only or ()))})")
            for key in FIGURE_KEYS
        }


def run_bench(sizes: Sizes, only: set[str] | None = None, command: str = "make bench") -> dict[str, Any]:
    """Measure every figure (or those in `only`); the report as documented in the README."""
    unknown = sorted((only or set()) - set(FIGURE_KEYS))
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; choose from {','.join(FIGURE_KEYS)}")
    started = time.monotonic()
    described = machine.describe()
    # The smoke test's syncs write to memory when they can: its timings mean nothing, its duration matters.
    scratch = SHARED_MEMORY if sizes.fork_syncs and SHARED_MEMORY.is_dir() else None
    with tempfile.TemporaryDirectory(prefix="haier-bench-", dir=scratch) as folder, gateway() as gate:
        bench = Bench(sizes, only, Path(folder), gate)
        bench.run()
    described["load_average_at_end"] = machine.load_average()
    return {
        "schema_version": SCHEMA_VERSION,
        "preset": sizes.preset,
        "command": command,
        "sizes": sizes.as_json(),
        "machine": described,
        "duration_seconds": round(time.monotonic() - started, 1),
        "seconds_by_group": bench.seconds_by_group,
        "figures": {key: figure.as_json() for key, figure in bench.ordered().items()},
    }
