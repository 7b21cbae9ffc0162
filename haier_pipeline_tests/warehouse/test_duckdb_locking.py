"""DuckDB's one-writer-per-file rule: runs queue on the lock, readers wait, timeouts say what to do."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from haier_pipeline.warehouse.errors import WarehouseError, WarehouseLockTimeout
from haier_pipeline.warehouse.locking import file_lock
from haier_pipeline.warehouse.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "haier_pipeline_tests.warehouse._workers", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdout is not None
    got = process.stdout.readline().strip()
    if got != line:
        process.kill()
        raise AssertionError(f"worker said {got!r}, stderr: {process.communicate()[1]}")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_two_writer_processes_queue_on_the_lock(
    duckdb_warehouse: Warehouse, processes: list[subprocess.Popen[str]]
) -> None:
    url = f"duckdb:///{duckdb_warehouse.path}"
    processes += [_start("write", url, name, "4", "0.15") for name in ("a", "b")]
    spans = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        spans += json.loads(out)
    spans.sort()
    assert len(spans) == 8
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, "two transactions held the DuckDB file at once"
    assert duckdb_warehouse.table_counts()["sync_log"] == 8


def test_reader_waits_for_a_writer_in_another_process(
    duckdb_warehouse: Warehouse, processes: list[subprocess.Popen[str]]
) -> None:
    processes.append(_start("hold_write", f"duckdb:///{duckdb_warehouse.path}", "50", "1.0"))
    _wait_for(processes[0], "ready")
    started = time.monotonic()
    counts = duckdb_warehouse.table_counts()
    assert time.monotonic() - started > 0.3, "the read did not wait for the writer"
    assert counts["products"] == 50  # it read after the commit


def test_writer_lock_timeout_says_which_file_and_what_to_do(duckdb_path: Path) -> None:
    import threading

    warehouse = Warehouse.from_url(f"duckdb:///{duckdb_path}", lock_timeout=0.3)
    warehouse.ensure_schema()
    # The flock another thread takes here stands for another run's transaction (one this thread held itself would
    # be a session an interrupt left open: not waited for, see below).
    taken, done = threading.Event(), threading.Event()

    def hold() -> None:
        with file_lock(duckdb_path, exclusive=True, timeout=1):
            taken.set()
            done.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(10)
    try:
        with pytest.raises(WarehouseLockTimeout) as caught, warehouse.transaction():
            pass
    finally:
        done.set()
        holder.join(10)
    message = str(caught.value)
    assert str(duckdb_path) in message and "Wait for the running sync" in message and "dagster dev" in message
    with warehouse.transaction() as tx:  # free again
        tx.upsert("products", pd.DataFrame({"product_code": ["A"], "is_active": [True]}))


def test_foreign_process_holding_the_file(duckdb_path: Path, processes: list[subprocess.Popen[str]]) -> None:
    """A process outside our lock (a DuckDB shell): readers and writers retry, then time out clearly."""
    Warehouse.from_url(f"duckdb:///{duckdb_path}").ensure_schema()
    processes.append(_start("hold_raw", str(duckdb_path), "1.5"))
    _wait_for(processes[0], "ready")
    impatient = Warehouse.from_url(f"duckdb:///{duckdb_path}", read_timeout=0.2, lock_timeout=0.2)
    with pytest.raises(WarehouseLockTimeout, match="waiting to read") as caught:
        impatient.table_counts()
    assert "dagster dev" in str(caught.value) and "Conflicting lock" in str(caught.value)
    with pytest.raises(WarehouseLockTimeout, match="waiting to write"), impatient.transaction():
        pass
    patient = Warehouse.from_url(f"duckdb:///{duckdb_path}", read_timeout=30, lock_timeout=30)
    assert patient.table_counts()["products"] == 0
    with patient.transaction() as tx:
        tx.upsert("products", pd.DataFrame({"product_code": ["A"], "is_active": [True]}))


def test_nested_write_transaction_fails_fast(duckdb_warehouse: Warehouse) -> None:
    with (
        duckdb_warehouse.transaction(),
        pytest.raises(WarehouseError, match="nested"),
        duckdb_warehouse.transaction(),
    ):
        pass


def test_file_is_free_between_transactions(duckdb_warehouse: Warehouse) -> None:
    import duckdb

    with duckdb_warehouse.transaction() as tx:
        tx.upsert("products", pd.DataFrame({"product_code": ["A"], "is_active": [True]}))
    # Another process (here: a plain connection) can open it as soon as the transaction is over.
    con = duckdb.connect(str(duckdb_warehouse.path), read_only=True)
    assert con.execute("SELECT COUNT(*) FROM haier.haier.products").fetchone() == (1,)
    con.close()


def test_reading_a_missing_file_explains(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="does not exist yet"):
        Warehouse.from_url(f"duckdb:///{tmp_path}/nope.duckdb").table_counts()


def test_memory_warehouse(tmp_path: Path) -> None:
    warehouse = Warehouse.from_url("duckdb:///:memory:")
    warehouse.ensure_schema()
    with warehouse.transaction() as tx:
        tx.upsert("products", pd.DataFrame({"product_code": ["A"], "is_active": [True]}))
    assert warehouse.table_counts()["products"] == 1
    assert warehouse.describe() == "duckdb in memory schema haier"


def test_a_session_an_interrupt_left_open_fails_its_thread_s_next_write_at_once(
    duckdb_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C landing as a `with warehouse.query()` block ended, before its context manager's exit ran, left the read
    session's flock held until the traceback went; the step's `failed` row, written meanwhile, waited the whole
    HAIER_WAREHOUSE_LOCK_TIMEOUT (60 s) for this thread's own lock."""
    from haier_pipeline.warehouse import locking

    warehouse = Warehouse.from_url(f"duckdb:///{duckdb_path}", lock_timeout=30)
    warehouse.ensure_schema()
    leaked = warehouse._backend.read_session()
    leaked.__enter__()  # as the interrupt leaves it: entered, its exit never run
    try:

        def never(poller: object) -> bool:
            raise AssertionError("waited for a lock this thread holds itself")

        monkeypatch.setattr(locking._Poller, "wait", never)
        with pytest.raises(WarehouseLockTimeout, match="still locked by this thread itself"), warehouse.transaction():
            pass
    finally:
        monkeypatch.undo()
        leaked.__exit__(None, None, None)
    with warehouse.transaction() as tx:  # free again
        tx.upsert("products", pd.DataFrame({"product_code": ["A"], "is_active": [True]}))


def test_another_thread_s_session_is_still_waited_for(duckdb_path: Path) -> None:
    import threading

    warehouse = Warehouse.from_url(f"duckdb:///{duckdb_path}", lock_timeout=30)
    warehouse.ensure_schema()
    entered, release = threading.Event(), threading.Event()

    def read_a_while() -> None:
        with warehouse._backend.read_session():
            entered.set()
            release.wait(10)

    reader = threading.Thread(target=read_a_while)
    reader.start()
    assert entered.wait(10)
    threading.Timer(0.5, release.set).start()
    with warehouse.transaction() as tx:  # waits for the reader, then writes
        tx.upsert("products", pd.DataFrame({"product_code": ["A"], "is_active": [True]}))
    reader.join(10)
    assert release.is_set(), "the write did not wait for the other thread's read"
