"""DuckDB sessions borrow an idle in-memory instance and attach the file for themselves alone: no new DuckDB instance
(about 30 ms each) per transaction or read, yet the file is detached, checkpointed and free after every session."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from haier_pipeline.warehouse import duckdb_backend
from haier_pipeline.warehouse.warehouse import Warehouse

ROW = pd.DataFrame({"product_code": ["A"], "is_active": [True]})


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the DuckDB instances the backend creates."""
    created: list[int] = []
    real = duckdb.connect

    def counting(*args: object, **kwargs: object) -> duckdb.DuckDBPyConnection:
        created.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(duckdb_backend.duckdb, "connect", counting)
    return created


def test_sessions_reuse_an_idle_instance_and_leave_the_file_free(
    duckdb_warehouse: Warehouse, duckdb_path: Path, connects: list[int]
) -> None:
    duckdb_warehouse.query("SELECT 1 AS warm")
    before = len(connects)
    for _ in range(5):
        with duckdb_warehouse.transaction() as tx:
            tx.upsert("products", ROW)
            duckdb_warehouse.query("SELECT count(*) AS n FROM {schema}.products")  # through the writer
        assert duckdb_warehouse.query("SELECT count(*) AS n FROM {schema}.products")["n"].iloc[0] == 1
    assert len(connects) == before, "no new DuckDB instance per session"
    assert not duckdb_path.with_name(duckdb_path.name + ".wal").exists(), "checkpointed when detached"
    # Another instance (as another process would) opens the file for writing at once.
    other = duckdb.connect(str(duckdb_path))
    assert other.execute("SELECT count(*) FROM haier.haier.products").fetchone() == (1,)
    other.close()


def test_an_instance_whose_transaction_failed_is_closed_not_reused(
    duckdb_warehouse: Warehouse, connects: list[int]
) -> None:
    duckdb_warehouse.query("SELECT 1 AS warm")
    idle_before = list(duckdb_backend._hosts._idle)
    with pytest.raises(RuntimeError), duckdb_warehouse.transaction() as tx:
        tx.upsert("products", ROW)
        raise RuntimeError("the step failed")
    assert not [con for con in duckdb_backend._hosts._idle if con not in idle_before]
    assert duckdb_warehouse.table_counts()["products"] == 0, "rolled back"


def test_a_forked_child_inherits_no_idle_instance_and_opens_its_own(duckdb_warehouse: Warehouse) -> None:
    duckdb_warehouse.query("SELECT 1 AS warm")
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code, never return into pytest
        code = 1
        try:
            inherited = len(duckdb_backend._hosts._idle)
            with duckdb_warehouse.transaction() as tx:
                tx.upsert("products", ROW)
            code = 0 if inherited == 0 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "2: the child inherited idle instances; 1: it failed to write"
    assert duckdb_warehouse.table_counts()["products"] == 1
