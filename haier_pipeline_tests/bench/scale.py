"""Figures 6 and 7: products, prices, stock and catalog at growing catalog sizes (one county, no latency, a raised
limit), each a `haier-pipeline sync` process of its own: its peak RSS, and its time per call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haier_pipeline_tests.bench.gateway import COUNTIES, Gateway
from haier_pipeline_tests.bench.report import Figure, Row, count, seconds
from haier_pipeline_tests.bench.sizes import Sizes
from haier_pipeline_tests.bench.sync_figures import checked
from haier_pipeline_tests.bench.syncs import SyncRun, Workspace, run_sync

GIB = 2**30
MIB = 2**20
STEPS = ["products", "prices", "stock", "catalog"]
MEMORY_TITLE = "peak memory of products, prices, stock and catalog"
LINEAR_TITLE = "time per call as the catalog grows (linear time)"
# Per-call time at the largest size within this factor of the smallest's counts as linear.
LINEAR_TOLERANCE = 1.2


@dataclass(frozen=True)
class Size:
    products: int
    run: SyncRun

    @property
    def steps_seconds(self) -> float:
        """First step's start to last step's end: the fixed start-up of Python and Dagster left out."""
        bounds = self.run.step_bounds().values()
        return max(end for _, end in bounds) - min(start for start, _ in bounds)

    @property
    def ms_per_call(self) -> float:
        return self.steps_seconds / self.run.calls * 1000

    def as_json(self) -> dict[str, Any]:
        return {
            "products": self.products,
            "calls": self.run.calls,
            "wall_seconds": round(self.run.wall_seconds, 2),
            "steps_seconds": round(self.steps_seconds, 2),
            "ms_per_call": round(self.ms_per_call, 3),
            "whole_process_ms_per_call": round(self.run.wall_seconds / self.run.calls * 1000, 3),
            "peak_rss_mib": round(self.run.peak_rss_bytes / MIB, 1),
            "calls_by_endpoint": self.run.gateway_stats["calls"],
        }


def measure_sizes(sizes: Sizes, gate: Gateway, root: Path) -> list[Size]:
    measured = []
    for products in sorted(sizes.scale_products):
        gate.setup(products, 0.0, sizes.scale_rate_limit * 2)
        name = f"scale-{products}"
        workspace = Workspace.create(root, name, gate.base_url, COUNTIES[:1], sizes.scale_rate_limit, sizes.fork_syncs)
        run = checked(run_sync(workspace, gate, only=STEPS), f"sync at {products} products")
        measured.append(Size(products, run))
    return measured


def memory_figure(measured: list[Size]) -> Figure:
    largest = measured[-1]
    rows = [
        Row(
            f"peak RSS at {count(size.products)} products ({count(size.run.calls)} calls)",
            f"{size.run.peak_rss_bytes / MIB:,.0f} MiB",
            "1 GiB",
            round(size.run.peak_rss_bytes / GIB, 3),
            "< 1 GiB" if size is largest else None,
            size.run.peak_rss_bytes < GIB if size is largest else None,
        )
        for size in measured
    ]
    if len(measured) > 1:
        smallest = measured[0]
        growth = (largest.run.peak_rss_bytes - smallest.run.peak_rss_bytes) / (largest.products - smallest.products)
        rows.append(
            Row(
                "growth per 1,000 products",
                f"{growth * 1000 / MIB:,.1f} MiB",
                f"from {count(smallest.products)} to {count(largest.products)} products",
            )
        )
    return Figure("memory", MEMORY_TITLE, rows=rows, details={"sizes": [size.as_json() for size in measured]})


def linear_figure(measured: list[Size]) -> Figure:
    smallest, largest = measured[0], measured[-1]
    rows = []
    for size in measured:
        ratio = size.ms_per_call / smallest.ms_per_call
        rows.append(
            Row(
                f"{count(size.products)} products, {count(size.run.calls)} calls",
                f"{size.ms_per_call:.2f} ms/call ({seconds(size.steps_seconds)} of steps)",
                f"{smallest.ms_per_call:.2f} ms/call at {count(smallest.products)} products",
                round(ratio, 3),
                f"<= {LINEAR_TOLERANCE:g}" if size is largest and size is not smallest else None,
                ratio <= LINEAR_TOLERANCE if size is largest and size is not smallest else None,
            )
        )
    return Figure("linear_time", LINEAR_TITLE, rows=rows, details={"sizes": [size.as_json() for size in measured]})
