"""DuckDB: a file opened per transaction (so it is free between steps), guarded by locking.py."""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from sqlalchemy import Table

from haier_pipeline.warehouse import locking
from haier_pipeline.warehouse.convert import Columns, arrow_to_frame, to_arrow
from haier_pipeline.warehouse.errors import WarehouseError
from haier_pipeline.warehouse.sql import bind

# Write connections open in this process, by file. A read in the same process while a write is open
# (e.g. wh.query() inside `with wh.transaction()`) must not wait for our own flock (it would wait for
# itself), nor open the file in a second DuckDB instance (DuckDB's file lock is per process, so nothing
# would stop that instance reading a file mid-write). It reads through the writer's database instance
# instead, on a separate connection, so it sees committed data only.
_writers: dict[Path, duckdb.DuckDBPyConnection] = {}
_writers_guard = threading.Lock()
_held = threading.local()

_stage_ids = itertools.count(1)


# The file is attached under this name rather than opened directly: DuckDB names a directly opened
# file's catalog after the file, and data/haier.duckdb next to schema "haier" makes every `haier.t`
# ambiguous ("Ambiguous reference to catalog or schema").
CATALOG = "warehouse_db"


def _open_file(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    try:
        literal = "'" + str(path).replace("'", "''") + "'"
        con.execute(f"ATTACH {literal} AS {CATALOG}" + (" (READ_ONLY)" if read_only else ""))
    except BaseException:
        con.close()
        raise
    return con


class DuckDBSession:
    def __init__(self, con: duckdb.DuckDBPyConnection, attached: bool) -> None:
        self._con = con
        if attached:
            con.execute(f"USE {CATALOG}")
        # Timestamps come back in UTC and casts to DATE are deterministic, whatever the machine's zone.
        con.execute("SET TimeZone = 'UTC'")

    def _bind(self, sql: str, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any] | None]:
        text, used = bind(sql, params, "duckdb")
        return text, (used or None)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._con.execute(*self._bind(sql, params))

    def execute_count(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        row = self._con.execute(*self._bind(sql, params)).fetchone()
        return int(row[0]) if row else 0

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        text, used = self._bind(sql, params)
        relation = self._con.sql(text, params=used)
        if relation is None:
            return pd.DataFrame()
        return arrow_to_frame(relation.to_arrow_table())

    def stage(self, table: Table, columns: Columns) -> str:
        name = f"_haier_stage_{next(_stage_ids)}"
        self._con.register(name, to_arrow(table, columns))
        return name

    def unstage(self, name: str) -> None:
        self._con.unregister(name)


class DuckDBBackend:
    name = "duckdb"

    def __init__(
        self,
        path: Path | None,
        write_timeout: float = locking.DEFAULT_WRITE_TIMEOUT,
        read_timeout: float = locking.DEFAULT_READ_TIMEOUT,
    ) -> None:
        self.path = path
        self.write_timeout = write_timeout
        self.read_timeout = read_timeout
        # :memory: lives as long as its connection, so that one stays open; sessions are its cursors.
        self._memory = duckdb.connect(":memory:") if path is None else None

    def describe(self, schema: str) -> str:
        where = "in memory" if self.path is None else f"file {self.path}"
        return f"duckdb {where} schema {schema}"

    @contextlib.contextmanager
    def write_session(self) -> Iterator[DuckDBSession]:
        with self._write_connection() as con:
            session = DuckDBSession(con, attached=self.path is not None)
            con.execute("BEGIN TRANSACTION")
            try:
                yield session
            except BaseException:
                # Closing the connection discards the transaction anyway; keep the original error.
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    @contextlib.contextmanager
    def read_session(self) -> Iterator[DuckDBSession]:
        with self._read_connection() as con:
            yield DuckDBSession(con, attached=self.path is not None)

    @contextlib.contextmanager
    def _write_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._memory is not None:
            with contextlib.closing(self._memory.cursor()) as cursor:
                yield cursor
            return
        path = self.path
        assert path is not None
        held: set[Path] = _held.__dict__.setdefault("paths", set())
        if path in held:
            raise WarehouseError(
                f"nested write transaction on {path}: DuckDB allows one writer; "
                "do all the writes of a step in one `with warehouse.transaction()`"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        held.add(path)
        try:
            with locking.file_lock(path, exclusive=True, timeout=self.write_timeout) as poller:
                con = locking.retry_conflicts(
                    lambda: _open_file(path, read_only=False), poller, path, True, duckdb.IOException
                )
                with _writers_guard:
                    _writers[path] = con
                try:
                    yield con
                finally:
                    with _writers_guard:
                        _writers.pop(path, None)
                        con.close()
        finally:
            held.discard(path)

    @contextlib.contextmanager
    def _read_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._memory is not None:
            with contextlib.closing(self._memory.cursor()) as cursor:
                yield cursor
            return
        path = self.path
        assert path is not None
        with _writers_guard:
            writer = _writers.get(path)
            cursor = writer.cursor() if writer is not None else None
        if cursor is not None:
            with contextlib.closing(cursor):
                yield cursor
            return
        if not path.exists():
            raise WarehouseError(
                f"the DuckDB warehouse {path} does not exist yet: run a sync first "
                "(`haier-pipeline sync`, or `make demo`), or check HAIER_WAREHOUSE_URL"
            )
        with locking.file_lock(path, exclusive=False, timeout=self.read_timeout) as poller:
            con = locking.retry_conflicts(
                lambda: _open_file(path, read_only=True), poller, path, False, duckdb.IOException
            )
            with contextlib.closing(con):
                yield con
