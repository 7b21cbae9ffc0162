"""The command line at the edges of its process: signals to `ui`, a busy simulator port, a held DuckDB file, a reader
that leaves early, an error nobody foresaw."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from haier_pipeline.cli import query
from haier_pipeline.cli.main import main
from haier_pipeline.redaction import register_secret
from haier_pipeline_tests.ui.conftest import alive, descendants

# A stand-in for dg dev: a parent that starts a child which starts a grandchild, all sleeping. Like dg dev's
# webserver, daemon and code server, the children are processes of their own that the parent must not orphan.
TREE = """
import subprocess, sys, time
depth = int(sys.argv[1])
if depth:
    subprocess.Popen([sys.executable, __file__, str(depth - 1)])
time.sleep(300)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ui_supervisor_stops_every_descendant_on_sigterm_and_sigint(sig: signal.Signals, tmp_path: Path) -> None:
    tree = tmp_path / "tree.py"
    tree.write_text(TREE)
    supervisor = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from haier_pipeline.cli.ui import supervise; "
            f"sys.exit(supervise([sys.executable, {str(tree)!r}, '2'], {{}}))",
        ],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(descendants(supervisor.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        tree_pids = descendants(supervisor.pid)
        assert len(tree_pids) == 3, tree_pids
        supervisor.send_signal(sig)
        assert supervisor.wait(timeout=30) == 0
        time.sleep(0.2)
        assert not [pid for pid in tree_pids if alive(pid)], "a child outlived the supervisor"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(supervisor.pid, signal.SIGKILL)


def test_simulator_on_a_busy_port_says_which_and_how_to_choose_another(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["simulator", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is already in use" in err
    assert f"--port {port + 1}" in err and "--port 0" in err
    assert "Traceback" not in err


@contextlib.contextmanager
def held_by_another_program(warehouse_url: str) -> Iterator[int]:
    """The DuckDB file held open for writing by another program (a DuckDB shell, a notebook); yields its pid."""
    warehouse_file = warehouse_url.removeprefix("duckdb:///")
    duckdb.connect(warehouse_file).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({warehouse_file!r}); print(1, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline()
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_a_held_duckdb_file_fails_the_step_after_the_lock_timeout_naming_the_holder(
    api_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("HAIER_WAREHOUSE_LOCK_TIMEOUT", "1")
    with held_by_another_program(api_env["HAIER_WAREHOUSE_URL"]) as holder:
        started = time.monotonic()
        assert main(["sync", "--only", "balance"]) == 1
        waited = time.monotonic() - started
    err = capsys.readouterr().err
    assert "step account_balances failed" in err, err
    assert "Timed out after 1 s" in err and f"PID {holder}" in err, err
    assert "HAIER_WAREHOUSE_LOCK_TIMEOUT" in err and "Traceback" not in err
    assert waited < 30, "waited the configured timeout, not the old 600 s"


def test_a_held_duckdb_file_ends_a_whole_sync_after_one_lock_timeout_with_the_cause_in_the_run(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each step, and the summary, waited HAIER_WAREHOUSE_LOCK_TIMEOUT in turn: 243 s at the default 60 s. The waits
    are counted, not timed: a wait is a poller that slept at least once."""
    import dagster as dg

    from haier_pipeline.warehouse import locking

    timeout = 3.0
    monkeypatch.setenv("HAIER_WAREHOUSE_LOCK_TIMEOUT", str(timeout))
    slept: dict[int, float] = {}
    real_wait = locking._Poller.wait

    def counted_wait(poller: locking._Poller) -> bool:
        waiting = real_wait(poller)
        if waiting:
            slept[id(poller)] = poller.waited
        return waiting

    monkeypatch.setattr(locking._Poller, "wait", counted_wait)
    with held_by_another_program(cli_env["HAIER_WAREHOUSE_URL"]) as holder:
        assert main(["sync"]) == 1
    captured = capsys.readouterr()
    assert len(slept) == 1, f"the held file was waited for {len(slept)} times"
    assert sum(slept.values()) < 2 * timeout
    failed = [line for line in captured.err.splitlines() if " failed: WarehouseLockTimeout: " in line]
    assert len(failed) == 3, captured.err  # the steps that start first: products, balance, logistics
    assert sum(f"Timed out after {timeout:.0f} s" in line for line in failed) == 1
    assert all(
        "Gave up waiting" in line and "not waited for again" in line for line in failed if "Timed out" not in line
    )
    assert all(f"PID {holder}" in line for line in failed), "each names the holder"

    run_id = next(line.split()[1] for line in captured.out.splitlines() if line.startswith("run "))
    with dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        causes = [
            record.dagster_event.step_failure_data.error.to_string()
            for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        ]
    assert len(causes) == 3 and all(f"PID {holder}" in cause for cause in causes), "the cause is in the run's log"


def test_query_stock_answers_from_the_api_when_another_program_holds_the_warehouse_file(
    api_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The warehouse is only the lookup's cache: an analyst's DuckDB shell left open on it must not fail the lookup."""
    monkeypatch.setenv("HAIER_WAREHOUSE_LOCK_TIMEOUT", "1")
    with held_by_another_program(api_env["HAIER_WAREHOUSE_URL"]) as holder:
        assert main(["query", "stock", "GA0SZC00U", "110101", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out), "the API's answer is printed"
    assert "from the API; the warehouse was not read nor written" in captured.err
    assert f"PID {holder}" in captured.err and "Traceback" not in captured.err


@pytest.mark.parametrize("argv", [["query", "products"], ["query", "products", "--json"], ["--help"]])
def test_a_reader_that_leaves_early_ends_the_command_quietly_with_exit_0(
    cli_env: dict[str, str], argv: list[str]
) -> None:
    """`haier-pipeline query products | head -1`: the reader is gone before the command writes (its end of the pipe
    closed at once), so every write, buffered or not, meets a broken pipe."""
    command = subprocess.Popen(
        [str(Path(sys.executable).with_name("haier-pipeline")), *argv],
        env={**os.environ, **cli_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert command.stdout is not None and command.stderr is not None
    command.stdout.close()
    err = command.stderr.read().decode()
    assert command.wait(timeout=120) == 0, err
    assert err == ""


def command_failing_with(error: Exception) -> Callable[[argparse.Namespace], int]:
    """A stand-in for a defect: a command that fails in a way no handler foresaw."""

    def run(args: argparse.Namespace) -> int:
        raise error

    return run


@pytest.fixture
def temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_an_error_nobody_foresaw_is_one_line_and_its_traceback_a_file_with_secrets_masked(
    temporary_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "unforeseen-secret-4711"
    register_secret(secret)
    defect = RuntimeError(f"cannot use {secret} with postgresql://analyst:pa55word@db.example/haier\nnext line")
    monkeypatch.setattr(query, "run", command_failing_with(defect))
    assert main(["query", "balance"]) == 1
    err = capsys.readouterr().err
    (line,) = err.splitlines()
    assert line.startswith("haier-pipeline query: unexpected error: RuntimeError: cannot use ")
    assert "Traceback" not in err and "next line" not in err
    (saved,) = temporary_folder.glob("haier-pipeline-query-*.traceback.txt")
    assert f"its traceback is in {saved}. Please report it" in line
    traceback = saved.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in traceback and "raise error" in traceback
    for text in (line, traceback):
        assert secret not in text and "pa55word" not in text and "analyst:***@db.example" in text


def test_an_unforeseen_full_disk_names_the_disk_of_the_dagster_instance(
    temporary_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SQLite (the instance's storage) words ENOSPC its own way; the real error, from a database capped at 2 pages."""
    database = sqlite3.connect(":memory:")
    database.execute("PRAGMA max_page_count = 2")
    database.execute("CREATE TABLE t (x BLOB)")
    with pytest.raises(sqlite3.OperationalError) as caught:
        database.execute("INSERT INTO t VALUES (zeroblob(100000))")
    monkeypatch.setenv("DAGSTER_HOME", str(temporary_folder / "home"))
    monkeypatch.setattr(query, "run", command_failing_with(caught.value))
    assert main(["query", "balance"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("haier-pipeline query: could not write to disk: disk is full (OperationalError: database")
    assert f"DAGSTER_HOME {temporary_folder / 'home'}" in line and "Free space on that disk" in line
    assert "unexpected" not in line and list(temporary_folder.glob("*.traceback.txt"))
