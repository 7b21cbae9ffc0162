"""Where a sync's wall time went: API time (every step's first request to its last answer), warehouse time outside
it (schema checks, reads, write transactions), and the rest, placed on the sync's timeline: Python start-up, the
instance, Dagster's run start, each step, Dagster between steps, the run's end, the summary and the exit."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from haier_pipeline_tests.bench.intervals import Interval, clip, length, subtract, union
from haier_pipeline_tests.bench.syncs import SyncRun


@dataclass(frozen=True)
class Segment:
    name: str
    seconds: float
    api: float
    warehouse: float

    @property
    def other(self) -> float:
        return max(0.0, self.seconds - self.api - self.warehouse)

    def as_json(self) -> dict[str, float | str]:
        return {key: round(value, 3) if isinstance(value, float) else value for key, value in asdict(self).items()}


@dataclass(frozen=True)
class Breakdown:
    wall: float
    api: float
    warehouse: float
    after_last_answer: float
    segments: list[Segment]
    events: Counter[str]
    warehouse_operations: int

    @property
    def rest(self) -> float:
        return max(0.0, self.wall - self.api - self.warehouse)

    @property
    def non_api(self) -> float:
        return self.wall - self.api

    def non_api_by_cause(self) -> list[tuple[str, float]]:
        """Non-API seconds by segment, largest first (warehouse and the rest together)."""
        causes = [(segment.name, segment.seconds - segment.api) for segment in self.segments]
        return sorted(((name, value) for name, value in causes if value > 0.0005), key=lambda item: -item[1])

    def as_json(self) -> dict[str, Any]:
        return {
            "wall_seconds": round(self.wall, 3),
            "api_seconds": round(self.api, 3),
            "warehouse_seconds_outside_api": round(self.warehouse, 3),
            "rest_seconds": round(self.rest, 3),
            "after_last_answer_seconds": round(self.after_last_answer, 3),
            "warehouse_operations": self.warehouse_operations,
            "segments": [segment.as_json() for segment in self.segments],
            "event_log": {"events": sum(self.events.values()), "by_type": dict(self.events.most_common())},
        }


def split(run: SyncRun) -> Breakdown:
    timings = run.timings
    if timings is None:
        raise ValueError("the sync wrote no timings")
    api = union((window["first_sent_at"], window["last_answer_at"]) for window in timings["steps"].values())
    warehouse = subtract(((start, end) for start, end, _ in timings["warehouse"]["intervals"]), api)
    steps = sorted(run.step_bounds().items(), key=lambda item: item[1][0])
    marks: list[tuple[str, float, float]] = [
        ("Python start-up and imports", run.launched_at, timings["sync_started_at"]),
        ("settings, instance, dead-run sweep", timings["sync_started_at"], timings["run_started_at"]),
    ]
    first_step = steps[0][1][0] if steps else timings["run_finished_at"]
    marks.append(("Dagster run start (job, run record, planned events)", timings["run_started_at"], first_step))
    gaps: list[Interval] = []
    for index, (step, (start, end)) in enumerate(steps):
        marks.append((f"step {step}", start, end))
        if index + 1 < len(steps):
            gaps.append((end, steps[index + 1][1][0]))
    last_step = steps[-1][1][1] if steps else first_step
    marks.append(("Dagster run end", last_step, timings["run_finished_at"]))
    marks.append(("summary, exit", timings["run_finished_at"], run.exited_at))
    segments = [_segment(name, [(start, end)], api, warehouse) for name, start, end in marks]
    segments.insert(-2, _segment("Dagster between steps (events, next step)", gaps, api, warehouse))
    last_answer = max((end for _, end in api), default=run.launched_at)
    return Breakdown(
        wall=run.wall_seconds,
        api=length(api),
        warehouse=length(clip(warehouse, run.launched_at, run.exited_at)),
        after_last_answer=run.exited_at - last_answer,
        segments=segments,
        events=Counter(event.kind for event in run.events),
        warehouse_operations=int(timings["warehouse"]["operations"]),
    )


def _segment(name: str, spans: list[Interval], api: list[Interval], warehouse: list[Interval]) -> Segment:
    total = sum(max(0.0, end - start) for start, end in spans)
    return Segment(
        name,
        total,
        sum(length(clip(api, start, end)) for start, end in spans),
        sum(length(clip(warehouse, start, end)) for start, end in spans),
    )


def describe(breakdown: Breakdown, top: int = 4) -> str:
    """The largest non-API causes, e.g. "Python start-up and imports 2.7 s; step stock_snapshots 0.6 s; ..."."""
    return "; ".join(f"{name} {value:.1f} s" for name, value in breakdown.non_api_by_cause()[:top])
