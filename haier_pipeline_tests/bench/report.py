"""What a benchmark run reports: figures of rows (a measure, what it was compared to, the ratio, the target), the
machine, printed as a Markdown table and written as JSON of a documented shape (`check_shape`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1
# Every figure a run reports, in the order of the table (issue 10's list).
FIGURE_KEYS = (
    "fan_out",
    "one_at_a_time",
    "sync",
    "sync_2000_products",
    "resume",
    "budget",
    "memory",
    "linear_time",
    "client_ceiling",
    "accounts",
    "client_cpu",
)
MEASURED, NOT_AVAILABLE, FAILED = "measured", "not available", "failed"
STATUSES = (MEASURED, NOT_AVAILABLE, FAILED)
ROW_KEYS = ("measure", "value", "compared_to", "ratio", "target", "met")
TOP_KEYS = ("schema_version", "preset", "command", "sizes", "machine", "duration_seconds", "figures")


@dataclass
class Row:
    measure: str
    value: str
    compared_to: str = ""
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None


@dataclass
class Figure:
    key: str
    title: str
    status: str = MEASURED
    reason: str | None = None
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def not_available(cls, key: str, title: str, reason: str, **details: Any) -> Figure:
        return cls(key, title, NOT_AVAILABLE, reason, details=details)

    @classmethod
    def failed(cls, key: str, title: str, reason: str) -> Figure:
        return cls(key, title, FAILED, reason)

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "rows": [asdict(row) for row in self.rows],
            "details": self.details,
        }


def check_shape(report: dict[str, Any]) -> list[str]:
    """Problems with a report's shape (empty when it is as documented in the README)."""
    problems = [f"missing top-level key {key!r}" for key in TOP_KEYS if key not in report]
    if report.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema_version is {report.get('schema_version')!r}, not {SCHEMA_VERSION}")
    machine = report.get("machine", {})
    problems += [f"machine lacks {key!r}" for key in ("cores", "cpu_model", "python", "date") if key not in machine]
    figures = report.get("figures", {})
    if list(figures) != list(FIGURE_KEYS):
        problems.append(f"figures are {list(figures)}, not {list(FIGURE_KEYS)}")
    for key, figure in figures.items():
        status = figure.get("status")
        if status not in STATUSES:
            problems.append(f"{key}: status {status!r}")
        elif status == MEASURED and not figure.get("rows"):
            problems.append(f"{key}: measured, but no rows")
        elif status != MEASURED and not figure.get("reason"):
            problems.append(f"{key}: {status} without a reason")
        for row in figure.get("rows", []):
            if tuple(row) != ROW_KEYS:
                problems.append(f"{key}: row keys {tuple(row)}")
            elif not isinstance(row["ratio"], int | float | type(None)):
                problems.append(f"{key}: ratio {row['ratio']!r} is not a number")
    return problems


def markdown_table(report: dict[str, Any]) -> str:
    lines = [
        "| # | measure | value | compared to | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for number, figure in enumerate(report["figures"].values(), start=1):
        if figure["status"] != MEASURED:
            lines.append(f"| {number} | {figure['title']} | {figure['status']}: {_cell(figure['reason'])} | | | | |")
            continue
        for index, row in enumerate(figure["rows"]):
            measure = figure["title"] + ": " + row["measure"] if index == 0 else row["measure"]
            ratio = "" if row["ratio"] is None else f"{row['ratio']:.3g}"
            met = {True: "yes", False: "**no**", None: ""}[row["met"]]
            cells = [str(number) if index == 0 else "", measure, row["value"], row["compared_to"], ratio]
            lines.append("| " + " | ".join(_cell(cell) for cell in [*cells, row["target"] or "", met]) + " |")
    return "\n".join(lines)


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def seconds(value: float) -> str:
    return f"{value:,.1f} s"


def count(value: float) -> str:
    return f"{value:,.0f}"


def share(value: float) -> str:
    return f"{value:.1%}"
