"""`haier-pipeline sync --timings FILE`: where a sync's time went, as JSON, for `make bench` and for anyone asking
why a sync took longer than its calls.

Every instant is wall-clock epoch seconds, so another process (the benchmark) can line them up with its own clock
and with the Dagster event log: the process start (from /proc), entering `sync`, the run's start and end, each
step's API phase (first request sent, last answer, from the step's metadata) and every warehouse operation.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from haier_pipeline.warehouse.warehouse import WAREHOUSE_CLOCK


def process_started_at() -> float | None:
    """This process's start as epoch seconds (Linux: boot time plus the start in clock ticks), else None."""
    try:
        stat = Path("/proc/self/stat").read_text()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
    except (OSError, StopIteration):
        return None
    ticks = int(stat.rsplit(")", 1)[1].split()[19])
    return int(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")


def api_windows(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, float | int]]:
    """Each materialized step's API phase, read from the metadata its CallStats wrote."""
    windows: dict[str, dict[str, float | int]] = {}
    for event in result.all_events:
        if event.event_type != dg.DagsterEventType.ASSET_MATERIALIZATION:
            continue
        materialization = event.step_materialization_data.materialization
        metadata = materialization.metadata
        first, last = metadata.get("api_first_sent_at"), metadata.get("api_last_answer_at")
        calls = metadata.get("api_calls")
        if first is None or last is None:
            continue
        windows[materialization.asset_key.to_user_string()] = {
            "first_sent_at": float(first.value),  # type: ignore[arg-type]
            "last_answer_at": float(last.value),  # type: ignore[arg-type]
            "api_calls": int(calls.value) if calls is not None else 0,  # type: ignore[arg-type]
        }
    return windows


@dataclass
class SyncTimings:
    """Instants of one `sync`, written to `path` at its end (nothing is kept when no path was given)."""

    path: Path | None
    sync_started_at: float = field(default_factory=time.time)
    marks: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.path is not None:
            WAREHOUSE_CLOCK.restart(keep_intervals=True)

    def mark(self, name: str) -> None:
        self.marks[name] = time.time()

    def write(self, run_id: str, exit_code: int, result: dg.ExecuteInProcessResult | None) -> None:
        if self.path is None:
            return
        finished_at = time.time()
        report: dict[str, Any] = {
            "run_id": run_id,
            "exit_code": exit_code,
            "process_started_at": process_started_at(),
            "sync_started_at": self.sync_started_at,
            **{f"{name}_at": at for name, at in self.marks.items()},
            "finished_at": finished_at,
            "steps": api_windows(result) if result is not None else {},
            "warehouse": {
                "seconds": round(WAREHOUSE_CLOCK.seconds, 4),
                "operations": WAREHOUSE_CLOCK.operations,
                "intervals": [list(interval) for interval in WAREHOUSE_CLOCK.intervals or []],
            },
        }
        WAREHOUSE_CLOCK.restart(keep_intervals=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
