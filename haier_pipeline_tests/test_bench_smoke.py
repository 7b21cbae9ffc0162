"""`make bench` at tiny sizes, so the benchmark cannot rot: every figure is produced (or "not available" with its
reason), none failed, and the JSON has the documented shape. No speed is asserted: the figures are meaningless at
these sizes (the syncs run in forks of this process, on tmpfs)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from haier_pipeline_tests.bench.__main__ import main
from haier_pipeline_tests.bench.report import FIGURE_KEYS, MEASURED, NOT_AVAILABLE, check_shape


def test_the_benchmark_produces_every_figure_in_the_documented_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "bench.json"
    started = time.monotonic()
    exit_code = main(["--preset", "smoke", "--output", str(output)])
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    assert exit_code == 0, captured.err

    report = json.loads(output.read_text(encoding="utf-8"))
    assert check_shape(report) == []
    assert report["preset"] == "smoke" and report["machine"]["cores"] >= 1
    figures = report["figures"]
    assert list(figures) == list(FIGURE_KEYS)
    for key, figure in figures.items():
        assert figure["status"] in (MEASURED, NOT_AVAILABLE), f"{key}: {figure['reason']}"
        if figure["status"] == NOT_AVAILABLE:
            assert "has not landed" in figure["reason"], f"{key} is not available for another reason: {figure}"
    # The figures that need nothing unmerged are measured, with a reference and a ratio.
    measured = (
        "fan_out",
        "one_at_a_time",
        "sync",
        "sync_2000_products",
        "memory",
        "linear_time",
        "client_ceiling",
        "client_cpu",
    )
    for key in (*measured, "accounts"):
        assert figures[key]["status"] == MEASURED, f"{key}: {figures[key]['reason']}"
        assert any(row["ratio"] is not None and row["compared_to"] for row in figures[key]["rows"]), key
    split = figures["sync"]["details"]["breakdown"]
    assert split["api_seconds"] > 0 and split["wall_seconds"] > split["api_seconds"]
    assert {segment["name"] for segment in split["segments"]} >= {"Python start-up and imports", "step stock_snapshots"}
    fixed = figures["sync"]["details"]["fixed_cost_run"]
    assert fixed["exit_code"] == 0 and fixed["calls_by_endpoint"]["stock"] > 0, "the tiny catalog's sync ran every step"
    assert fixed["calls_by_endpoint"]["stock"] < figures["sync"]["details"]["calls_by_endpoint"]["stock"]
    ceiling = [row for row in figures["sync"]["rows"] if row["measure"].startswith("the best whole-process ratio that")]
    assert len(ceiling) == 1 and 0 < ceiling[0]["ratio"] < 1
    # Dagster alone, then with the libraries the steps load: each a fresh process, each a bound below 1.
    bare = [row for row in figures["sync"]["rows"] if row["measure"].startswith("the best whole-process ratio any")]
    assert len(bare) == 2 and all(0 < row["ratio"] < 1 for row in bare)

    # Several accounts side by side: each account's own gateway and stock phase, the process tree's CPU.
    side_by_side = figures["accounts"]["details"]["runs"]
    assert [run["accounts"] for run in side_by_side][:2] == [1, 2]
    assert all(len(run["per_account"]) == run["accounts"] and run["sync_cpu_seconds"] > 0 for run in side_by_side)
    assert all(account["stock_calls"] > 0 for run in side_by_side for account in run["per_account"])

    table = captured.out
    assert table.count("\n| ") >= len(FIGURE_KEYS) + 1, "a header and at least one row per figure"
    print(f"smoke benchmark: {elapsed:.1f} s, by group {report['seconds_by_group']}")
