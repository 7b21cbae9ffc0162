"""Ctrl-C and SIGTERM at moments no step owns: inside a library's finalizer, or logged by a library that re-raises
them. Each case runs in a process of its own, set up as the console script sets itself up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SETUP = "from haier_pipeline.cli.interrupts import handle_interrupts_everywhere; handle_interrupts_everywhere()\n"

# A finalizer that Ctrl-C lands in (as Python or, inside a step, as Dagster raises it), then ordinary work blocked in
# a system call, which the interrupt must cut short.
FINALIZER = """
import time
{source}

class Closing:
    def __del__(self):
        raise {interrupt}

Closing()
started = time.monotonic()
try:
    time.sleep({seconds})
except KeyboardInterrupt:
    raise SystemExit(130 if time.monotonic() - started < {seconds} / 2 else 1)  # cut short, not waited out
raise SystemExit(0)
"""

# SQLAlchemy's pool logs the interrupt it catches while closing a connection, then re-raises it.
LOGGED = """
import logging
try:
    raise KeyboardInterrupt
except KeyboardInterrupt:
    logging.getLogger("sqlalchemy.pool.impl.NullPool").error("Exception closing connection", exc_info=True)
logging.getLogger("haier_pipeline").warning("an ordinary warning still shows")
"""


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_without_the_handling_python_ignores_an_interrupt_that_lands_in_a_finalizer() -> None:
    """The premise of the next test."""
    ignored = run(FINALIZER.format(source="", interrupt="KeyboardInterrupt", seconds=0.5))
    assert ignored.returncode == 0 and "Exception ignored" in ignored.stderr, ignored.stderr


@pytest.mark.parametrize(
    ("interrupt", "source"),
    [
        ("KeyboardInterrupt", ""),
        ("DagsterExecutionInterruptedError", "from dagster import DagsterExecutionInterruptedError"),
    ],
)
def test_an_interrupt_that_lands_in_a_finalizer_still_stops_the_command_without_a_traceback(
    interrupt: str, source: str
) -> None:
    handled = run(SETUP + FINALIZER.format(source=source, interrupt=interrupt, seconds=30))
    assert handled.returncode == 130, handled.stderr
    assert handled.stderr == ""


@pytest.mark.parametrize("setup", ["", SETUP])
def test_a_library_s_log_of_an_interrupt_prints_no_traceback(setup: str) -> None:
    printed = run(setup + LOGGED).stderr
    assert "an ordinary warning still shows" in printed
    assert ("Traceback" in printed) == (setup == ""), printed


# `haier-pipeline sync --only prices` (prices, then price_history) as the console script runs it, where Ctrl-C reaches
# the process group just before the prices step commits, and something on the way swallows it: DuckDB, for one, turns
# an interrupt during a query into `RuntimeError("Query interrupted")`, which any `except Exception` drops. The stand-in
# here catches what the signal raises.
SWALLOWED = """
import os, signal, sys, time
from haier_pipeline.cli import console
from haier_pipeline.defs.haier_catalog import step as step_module

real_close = step_module.Step.close

def close_then_swallow_an_interrupt(self, tx, loaded, message):
    real_close(self, tx, loaded, message)
    if self.asset == "prices":
        try:
            os.killpg(os.getpgid(0), signal.SIGINT)
            time.sleep(5)
        except BaseException as error:
            print(f"swallowed: {type(error).__name__}", file=sys.stderr, flush=True)

step_module.Step.close = close_then_swallow_an_interrupt
sys.argv = ["haier-pipeline", "sync", "--only", "prices"]
sys.exit(console())
"""


def sync_interrupted_by(script: str, cli_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`script` (a sync that interrupts itself) in a session of its own, after a sync of the products: the project's
    instance, without log capture, so the process is alone in its group."""
    import os

    from haier_pipeline.cli.main import main
    from haier_pipeline_tests.ui.conftest import write_instance_config

    home = Path(cli_env["DAGSTER_HOME"])
    home.mkdir(parents=True)
    write_instance_config(home)
    assert main(["sync", "--only", "products"]) == 0
    return subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **cli_env},
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )


def price_steps_logged(cli_env: dict[str, str]) -> list[list[str]]:
    from haier_pipeline.warehouse.warehouse import Warehouse

    return (
        Warehouse.from_url(cli_env["HAIER_WAREHOUSE_URL"])
        .query("SELECT sync_type, status FROM {schema}.sync_log WHERE sync_type LIKE 'price%' ORDER BY completed_at")
        .values.tolist()
    )


def test_no_step_starts_after_an_interrupt_even_one_something_swallowed(cli_env: dict[str, str]) -> None:
    """In 1 of 4 interrupts sent to a sync's process group, price_history started 0.1 s after SIGINT and committed."""
    import dagster as dg

    done = sync_interrupted_by(SWALLOWED, cli_env)
    assert "swallowed: DagsterExecutionInterruptedError" in done.stderr, done.stderr
    assert done.returncode == 130, done.stdout + done.stderr
    # One step, not "those steps"; and no advice about stock, which was not interrupted.
    assert done.stderr.endswith(
        "haier-pipeline sync: interrupted during price_history; what that step did was not written. Run the sync "
        "again.\n"
    ), done.stderr
    assert price_steps_logged(cli_env) == [["prices", "success"]], "price_history wrote nothing, not even a row"
    with dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        (run,) = instance.get_runs(limit=1)
        materialized = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    assert [record.step_key for record in materialized] == ["prices"]


# The same sync, where Ctrl-C reaches the prices step after its transaction committed, while it reads its metadata.
AFTER_COMMIT = """
import os, signal, sys, time
from haier_pipeline.cli import console
from haier_pipeline.defs.haier_catalog import step as step_module

real_metadata = step_module.Step.metadata

def interrupted_while_reading_metadata(self, *args, **kwargs):
    if self.asset == "prices":
        os.killpg(os.getpgid(0), signal.SIGINT)
        time.sleep(5)
    return real_metadata(self, *args, **kwargs)

step_module.Step.metadata = interrupted_while_reading_metadata
sys.argv = ["haier-pipeline", "sync", "--only", "prices"]
sys.exit(console())
"""


def test_a_step_interrupted_after_its_commit_keeps_its_success_row_alone(cli_env: dict[str, str]) -> None:
    """3 of 30 real interrupts: the committed step got a second sync_log row, failed, saying nothing was written."""
    done = sync_interrupted_by(AFTER_COMMIT, cli_env)
    assert done.returncode == 130, done.stdout + done.stderr
    assert "prices had already written its data" in done.stderr, done.stderr
    assert price_steps_logged(cli_env) == [["prices", "success"]]


@pytest.mark.parametrize(
    ("interrupted", "written", "said"),
    [
        (
            ["logistics_events"],
            set(),
            "interrupted during logistics_events; what that step did was not written. Run the sync again.",
        ),
        (
            ["stock_snapshots"],
            set(),
            "interrupted during stock_snapshots; what that step did was not written. Run "
            "the sync again: stock asks only the pairs whose answers were not saved yet today.",
        ),
        (
            ["prices", "stock_snapshots"],
            set(),
            "interrupted during prices, stock_snapshots; what those steps did was "
            "not written. Run the sync again: stock asks only",
        ),
        (
            ["price_history"],
            {"price_history"},
            "interrupted during price_history; price_history had already written its data. Run the sync again.",
        ),
        (
            ["prices", "stock_snapshots"],
            {"prices"},
            "interrupted during prices, stock_snapshots; what stock_snapshots "
            "did was not written; prices had already written its data. Run the sync again: stock asks",
        ),
        ([], set(), "interrupted after its steps had finished; what they did was written."),
    ],
)
def test_the_interruption_line_says_what_each_interrupted_step_lost(
    interrupted: list[str], written: set[str], said: str
) -> None:
    """After one step it spoke of "those steps", an interrupted logistics step was told about stock, a step that had
    committed before the interrupt was said to have written nothing, and one after the last step was exit 1, silent."""
    from haier_pipeline.cli.sync import interruption_message

    line = interruption_message("sync", interrupted, written)
    assert line.startswith(f"haier-pipeline sync: {said}"), line
    assert ("stock asks" in line) == ("stock_snapshots" in interrupted and "stock_snapshots" not in written)


def test_an_interrupt_after_the_last_step_is_exit_130_not_a_silent_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C between the last step's end and the run's: Dagster fails the run, no step failed, and sync exited 1
    without a word."""
    from types import SimpleNamespace

    import dagster as dg

    from haier_pipeline.cli.exit_codes import EXIT_INTERRUPTED
    from haier_pipeline.cli.sync import outcome

    run_failure = SimpleNamespace(
        event_type=dg.DagsterEventType.RUN_FAILURE,
        message='Execution of run for "__ephemeral_asset_job__" failed. Execution was interrupted unexpectedly.',
    )
    result = SimpleNamespace(success=False, all_events=[run_failure], run_id="r1")
    code = outcome(None, result, ["prices", "price_history"], "", command="sync", written={"prices", "price_history"})  # type: ignore[arg-type]
    assert code == EXIT_INTERRUPTED
    assert capsys.readouterr().err == (
        "haier-pipeline sync: interrupted after its steps had finished; what they did was written.\n"
    )
