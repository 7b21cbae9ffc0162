"""`haier-pipeline sync --timings FILE`: where a sync's time went, as `make bench` reads it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from haier_pipeline.cli.main import main
from haier_pipeline.simulator import RunningSimulator


def test_timings_place_each_step_s_api_phase_and_every_warehouse_operation_inside_the_sync(
    cli_env: dict[str, str], simulator: RunningSimulator, tmp_path: Path
) -> None:
    path = tmp_path / "sync.json"
    before = time.time()
    assert main(["sync", "--only", "products,prices,stock", "--timings", str(path)]) == 0
    after = time.time()
    timings = json.loads(path.read_text(encoding="utf-8"))

    assert timings["exit_code"] == 0 and timings["run_id"]
    instants = [timings[name] for name in ("sync_started_at", "run_started_at", "run_finished_at", "finished_at")]
    assert [before, *instants, after] == sorted([before, *instants, after])
    assert timings["process_started_at"] <= before, "this test's own process started before the sync"

    steps = timings["steps"]
    assert set(steps) == {"products", "prices", "stock_snapshots"}, "price_history calls no API"
    for window in steps.values():
        assert timings["run_started_at"] <= window["first_sent_at"] <= window["last_answer_at"]
        assert window["last_answer_at"] <= timings["run_finished_at"]
    counters = simulator.counters.snapshot()["calls"]
    assert steps["stock_snapshots"]["api_calls"] == counters["stock"]

    warehouse = timings["warehouse"]
    assert warehouse["operations"] == len(warehouse["intervals"]) > 0
    assert {kind for _, _, kind in warehouse["intervals"]} <= {"schema", "query", "transaction"}
    assert abs(sum(end - start for start, end, _ in warehouse["intervals"]) - warehouse["seconds"]) < 0.01
    assert all(
        timings["sync_started_at"] <= start <= end <= timings["finished_at"] for start, end, _ in warehouse["intervals"]
    )


def test_a_command_freezes_the_heap_before_the_interpreter_exits() -> None:
    # The probe is registered first, so it runs after the freeze (exit handlers run last-in, first-out).
    probe = (
        "import atexit, gc; atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0)); "
        "from haier_pipeline.cli.startup import freeze_heap_at_exit; freeze_heap_at_exit(); freeze_heap_at_exit()"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["frozen", "True"]
