"""Every failed run alerted exactly once, however launched: here the hardest case, `haier-pipeline sync` (in-process,
no code location), a run that left items unanswered, and a CLI run whose process was SIGKILLed. The sensor is
evaluated with `build_sensor_context` against the same instance the CLI wrote (`DAGSTER_HOME`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from haier_pipeline.cli import sync as sync_command
from haier_pipeline.cli.main import main
from haier_pipeline.defs.alerts.sensors import run_failure_alert_sensor
from haier_pipeline.defs.outcomes import UNANSWERED_TAG
from haier_pipeline.defs.resources import WarehouseResource
from haier_pipeline.instance import PID_TAG
from haier_pipeline.simulator import RunningSimulator, start_simulator
from haier_pipeline.warehouse.warehouse import Warehouse
from haier_pipeline_tests.simulated import simulator_config


def evaluate_alerts(env: dict[str, str], cursor: str | None, enabled_at: float | None = None) -> dg.SensorResult:
    """One tick of the sensor; `enabled_at`: when it was started (its first tick alerts only what ended since)."""
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        context = dg.build_sensor_context(
            instance=instance,
            cursor=cursor,
            resources={"warehouse": WarehouseResource(url=env["HAIER_WAREHOUSE_URL"])},
            last_sensor_start_time=enabled_at,
        )
        result = run_failure_alert_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def alert_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("ALERT haier-pipeline [")]


def last_run_id(out: str) -> str:
    return next(line.split()[1] for line in reversed(out.splitlines()) if line.startswith("run "))


def test_a_failing_cli_sync_is_alerted_exactly_once(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    enabled_at = time.time()  # the sensor was enabled before the failure
    assert main(["sync", "--only", "products"]) == 0
    simulator.config.empty_listing = True
    assert main(["sync", "--only", "products"]) == 1
    run_id = last_run_id(capsys.readouterr().out)
    # The step wrote its own failed row; drop it to see the sensor write the row the step could not.
    warehouse = Warehouse.from_url(cli_env["HAIER_WAREHOUSE_URL"])
    with warehouse.transaction() as tx:
        tx.execute("DELETE FROM {schema}.sync_log WHERE run_id = :run_id", {"run_id": run_id})

    first = evaluate_alerts(cli_env, None, enabled_at)
    (line,) = alert_lines(capsys.readouterr().err)
    assert line.startswith(f"ALERT haier-pipeline [default]: products failed in run {run_id}: ")
    assert "deactivation_guard" in line
    assert "demo-secret" not in line

    again = evaluate_alerts(cli_env, first.cursor)
    assert alert_lines(capsys.readouterr().err) == [], "a second evaluation alerts nothing"
    assert again.cursor == first.cursor
    logged = warehouse.query(
        "SELECT sync_type, status, message FROM {schema}.sync_log WHERE run_id = :r", {"r": run_id}
    )
    assert logged[["sync_type", "status"]].values.tolist() == [["products", "failed"]]
    assert "deactivation_guard" in logged["message"].iloc[0]


def test_a_run_that_left_items_unanswered_exits_3_and_is_alerted_once(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_run_assets = sync_command.run_assets

    def run_that_leaves_three_unanswered(*args: object, **kwargs: object) -> dg.ExecuteInProcessResult:
        # What the asset step does when items stay unanswered after every retry (issue 8): tag the run.
        result = real_run_assets(*args, **kwargs)
        kwargs["instance"].add_run_tags(result.run_id, {UNANSWERED_TAG: "3"})
        return result

    monkeypatch.setattr(sync_command, "run_assets", run_that_leaves_three_unanswered)
    enabled_at = time.time()
    assert main(["sync", "--only", "balance"]) == 3
    captured = capsys.readouterr()
    assert "finished, but 3 items went unanswered; see rejected_rows" in captured.err
    run_id = last_run_id(captured.out)

    first = evaluate_alerts(cli_env, None, enabled_at)
    (line,) = alert_lines(capsys.readouterr().err)
    assert line.startswith("ALERT haier-pipeline [default]: ") and f"in run {run_id}: " in line
    assert "3 items went unanswered" in line
    evaluate_alerts(cli_env, first.cursor)
    assert alert_lines(capsys.readouterr().err) == []


def test_a_killed_cli_sync_is_marked_failed_by_the_next_sync_and_alerted_once(
    cli_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = [sys.executable, "-m", "haier_pipeline.cli.main", "sync", "--only", "products,stock"]
    enabled_at = time.time()
    run, _ = killed_in_its_first_step(command, cli_env, tmp_path)
    with dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED, "nobody noticed, yet"

    assert main(["sync", "--only", "balance"]) == 0
    assert f"run {run.run_id} had lost its process" in capsys.readouterr().err
    with dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    # No daemon runs here: the next sync writes the killed step's sync_log row, as the failure sensor would.
    logged = Warehouse.from_url(cli_env["HAIER_WAREHOUSE_URL"]).query(
        "SELECT sync_type, status, message FROM {schema}.sync_log WHERE run_id = :run", {"run": run.run_id}
    )
    assert logged[["sync_type", "status"]].values.tolist() == [["products", "failed"]]
    assert "is gone (killed, or the machine restarted)" in logged["message"].iloc[0]

    first = evaluate_alerts(cli_env, None, enabled_at)
    (line,) = alert_lines(capsys.readouterr().err)
    assert line.startswith(f"ALERT haier-pipeline [default]: products failed in run {run.run_id}: the process that ran")
    evaluate_alerts(cli_env, first.cursor)
    assert alert_lines(capsys.readouterr().err) == []
    assert main(["sync", "--only", "balance"]) == 0
    assert "lost its process" not in capsys.readouterr().err, "marked once"


def killed_in_its_first_step(command: list[str], cli_env: dict[str, str], cwd: Path) -> tuple[dg.DagsterRun, int]:
    """Start `command` against a slow API (1 s an answer, which keeps it inside its step), SIGKILL it once its run
    started a step: the run, and the pid of the process killed."""
    Path(cli_env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    with dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        instance.get_runs()  # create the instance's storage before two processes race to
    with start_simulator(simulator_config(products=20, latency_ms=1000)) as slow:
        env = {**os.environ, **cli_env, "HAIER_BASE_URL": slow.base_url}
        victim = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            run = wait_for_started_step(cli_env["DAGSTER_HOME"], victim)
        finally:
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
    return run, victim.pid


def wait_for_started_step(home: str, process: subprocess.Popen[bytes], timeout: float = 60) -> dg.DagsterRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        with dg.DagsterInstance.from_config(home) as instance:
            for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
                # Its step has begun and recorded the process running it (a launched run's step writes that tag just
                # after STEP_START: killed in between, it would be a run nobody can tell is dead).
                if PID_TAG in run.tags and instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START):
                    return run
        time.sleep(0.2)
    raise AssertionError("the sync never started its first step")


def test_the_alert_for_a_run_whose_process_was_killed_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The alert said only "This run has been marked as failed from outside the execution context." """
    home = tmp_path / "dagster_home"
    home.mkdir()
    warehouse_url = f"duckdb:///{tmp_path}/w.duckdb"
    Warehouse.from_url(warehouse_url).ensure_schema()
    enabled_at = time.time()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.add_run(dg.DagsterRun(job_name="__ephemeral_asset_job__", status=dg.DagsterRunStatus.STARTED))
        instance.report_engine_event(
            f"Run execution process for {run.run_id} was terminated by signal 9 (SIGKILL). This usually indicates "
            "that the process was killed by the operating system due to running out of memory.",
            run,
        )
        instance.report_run_failed(run)
    evaluate_alerts({"DAGSTER_HOME": str(home), "HAIER_WAREHOUSE_URL": warehouse_url}, None, enabled_at)
    (line,) = alert_lines(capsys.readouterr().err)
    assert "its process was terminated by signal 9 (SIGKILL)." in line, line
    assert "marked as failed from outside the execution context" in line


# A run the UI or the daemon launched, as its run worker executes it: no CLI tags, the definitions' resources.
RUN_WORKER = """
import dagster as dg
from haier_pipeline.defs.resources import resources_from_settings
from haier_pipeline.cli.runs import run_assets
from haier_pipeline.settings import load_settings

with dg.DagsterInstance.get() as instance:
    run_assets(["products", "stock_snapshots"], resources_from_settings(load_settings()), instance=instance)
"""


def test_a_launched_run_whose_process_was_killed_is_marked_failed_by_the_alert_sensor_and_frees_its_slot(
    cli_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dagster's run monitoring skips runs of the default run launcher: a UI run whose `dg dev` was killed stayed
    STARTED, its haier_api slot held, through restarts, and every later API step waited for it."""
    enabled_at = time.time()
    run, pid = killed_in_its_first_step([sys.executable, "-c", RUN_WORKER], cli_env, tmp_path)
    with dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        run = instance.get_run_by_id(run.run_id)
        assert run.status == dg.DagsterRunStatus.STARTED and run.tags["haier/pid"] == str(pid), (
            "its first step recorded the process executing it"
        )

    evaluate_alerts(cli_env, None, enabled_at)
    (line,) = alert_lines(capsys.readouterr().err)
    assert line.startswith(f"ALERT haier-pipeline [default]: products failed in run {run.run_id}: the process that ran")
    with dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        holders = instance.event_log_storage.get_concurrency_info("haier_api").claimed_slots
        assert [slot.run_id for slot in holders] == [], "its haier_api slot was freed"
