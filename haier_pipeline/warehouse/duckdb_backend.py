"""DuckDB: a file opened per transaction (so it is free between steps), guarded by locking.py."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from sqlalchemy import Table

from haier_pipeline.warehouse import locking
from haier_pipeline.warehouse.convert import Columns, arrow_to_frame, to_arrow
from haier_pipeline.warehouse.errors import WarehouseConfigError, WarehouseError, storage_error, storage_fault
from haier_pipeline.warehouse.sql import bind

# Write connections open in this process, by file. A read in the same process while a write is open
# (e.g. wh.query() inside `with wh.transaction()`) must not wait for our own flock (it would wait for
# itself), nor open the file in a second DuckDB instance (DuckDB's file lock is per process, so nothing
# would stop that instance reading a file mid-write). It reads through the writer's database instance
# instead, on a separate connection, so it sees committed data only.
_writers: dict[Path, duckdb.DuckDBPyConnection] = {}
# Cursors of a writer's instance that readers hold right now, by file.
_borrowed: dict[Path, int] = {}
_writers_guard = threading.Lock()
_held = threading.local()

_stage_ids = itertools.count(1)


# The file is attached under this name rather than opened directly: DuckDB names a directly opened
# file's catalog after the file, and data/haier.duckdb next to schema "haier" makes every `haier.t`
# ambiguous ("Ambiguous reference to catalog or schema").
CATALOG = "warehouse_db"


class _Hosts:
    """Idle in-memory DuckDB instances of this process. Creating one costs about 30 ms (DuckDB 2.0), attaching a
    file to an idle one about 3 ms, and a sync opens the file a few dozen times. Each session still attaches the
    file for itself alone and detaches it at its end (which checkpoints it and releases DuckDB's lock), so the file
    stays free between transactions; only the empty instance is kept. An instance whose session failed is closed,
    not kept. Idle instances are closed before `os.fork()` (a child must not inherit DuckDB's threads' state)."""

    MAX_IDLE = 2

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[duckdb.DuckDBPyConnection] = []
        self._pid = os.getpid()
        self._inherited: list[duckdb.DuckDBPyConnection] = []

    def _mine(self) -> list[duckdb.DuckDBPyConnection]:
        if self._pid != os.getpid():
            # Forked anyway (close_idle did not run): the parent's instances are neither used nor closed here.
            self._inherited += self._idle
            self._idle, self._pid = [], os.getpid()
        return self._idle

    def close_idle(self) -> None:
        with self._lock:
            idle = self._mine()
            self._idle = []
        for con in idle:
            con.close()

    def take(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            idle = self._mine()
            if idle:
                return idle.pop()
        return duckdb.connect()

    def release(self, con: duckdb.DuckDBPyConnection, *, reusable: bool) -> None:
        """Detach the file and keep the instance for the next session; close it instead when the session did not
        end cleanly or the detach fails."""
        if reusable:
            try:
                con.execute("USE memory")
                con.execute(f"DETACH {CATALOG}")
            except duckdb.Error:
                reusable = False
        if reusable:
            self.give_back(con)
        else:
            con.close()

    def give_back(self, con: duckdb.DuckDBPyConnection) -> None:
        """Keep an instance with nothing attached (or close it when enough are idle)."""
        with self._lock:
            idle = self._mine()
            if len(idle) < self.MAX_IDLE:
                idle.append(con)
                return
        con.close()


_hosts = _Hosts()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_hosts.close_idle)


def _open_file(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    con = _hosts.take()
    try:
        literal = "'" + str(path).replace("'", "''") + "'"
        con.execute(f"ATTACH {literal} AS {CATALOG}" + (" (READ_ONLY)" if read_only else ""))
    except duckdb.IOException:
        # The file is held by another process (the caller retries): nothing was attached, keep the instance.
        _hosts.give_back(con)
        raise
    except BaseException:
        con.close()
        raise
    return con


def _open_error(path: Path, error: duckdb.Error, *, writing: bool) -> WarehouseError:
    """DuckDB's refusal to open or write the file, with what to do: these end a step or a command, and the raw
    `IO Error: Cannot open file` would name neither the setting nor a way out."""
    if (full := storage_error(f"file {path}", error)) is not None:
        return full
    text = " ".join(str(error).split())
    if "permission denied" in text.lower():
        if not writing:
            return WarehouseConfigError(
                f"cannot read the DuckDB warehouse {path} (permission denied); make it readable by this user "
                f"(e.g. `chmod u+r {path}`), or choose another HAIER_WAREHOUSE_URL"
            )
        # The file itself, or the journal DuckDB writes next to it when committing (<file>.wal).
        named = re.search(r'Cannot open file "([^"]+)"', text)
        what = Path(named.group(1)) if named else path
        return locking.unwritable_error(path, what, "permission denied")
    return WarehouseConfigError(
        f"cannot open the DuckDB warehouse {path} ({text}); restore or move the file aside, or choose another "
        "HAIER_WAREHOUSE_URL"
    )


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
        # None for a statement that returns no rows (the stubs say otherwise).
        relation: duckdb.DuckDBPyRelation | None = self._con.sql(text, params=used)
        if relation is None:
            return pd.DataFrame()
        return arrow_to_frame(relation.to_arrow_table())

    def stage(self, table: Table, columns: Columns) -> str:
        name = f"_haier_stage_{next(_stage_ids)}"
        self._con.register(name, to_arrow(columns))
        return name

    def unstage(self, name: str) -> None:
        self._con.unregister(name)


def _write_refusal(path: Path, error: BaseException) -> WarehouseError | None:
    """DuckDB's failure to write the file as the user's to fix (the file's permissions, its disk), or None when
    it is something else."""
    if isinstance(error, duckdb.Error) and (storage_fault(error) or "permission denied" in str(error).lower()):
        return _open_error(path, error, writing=True)
    return None


class DuckDBBackend:
    name = "duckdb"

    def __init__(
        self,
        path: Path | None,
        write_timeout: float,
        read_timeout: float,
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
            except BaseException as error:
                # Closing the connection discards the transaction anyway; keep the original error.
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                if self.path is not None and (refusal := _write_refusal(self.path, error)):
                    raise refusal from None
                raise
            try:
                con.execute("COMMIT")
            except duckdb.Error as error:
                # A writable file in a folder we cannot write attaches fine and fails here, on its journal; so does
                # a full disk.
                if self.path is not None and (refusal := _write_refusal(self.path, error)):
                    raise refusal from None
                raise

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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise WarehouseConfigError(
                f"cannot create the folder of the DuckDB warehouse {path} ({error.strerror}: {error.filename}); "
                "create it, writable by this user, or choose another HAIER_WAREHOUSE_URL"
            ) from None
        held.add(path)
        try:
            with locking.file_lock(path, exclusive=True, timeout=self.write_timeout) as poller:
                try:
                    con = locking.retry_conflicts(
                        lambda: _open_file(path, read_only=False), poller, path, True, duckdb.IOException
                    )
                except duckdb.IOException as error:
                    raise _open_error(path, error, writing=True) from None
                with _writers_guard:
                    _writers[path] = con
                clean = False
                try:
                    yield con
                    clean = True
                finally:
                    with _writers_guard:
                        _writers.pop(path, None)
                        # A reader still holding a cursor of this instance must not see it serve another session.
                        reusable = clean and not _borrowed.pop(path, 0)
                        _hosts.release(con, reusable=reusable)
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
            borrowed = writer.cursor() if writer is not None else None
            if borrowed is not None:
                _borrowed[path] = _borrowed.get(path, 0) + 1
        if borrowed is not None:
            try:
                with contextlib.closing(borrowed):
                    yield borrowed
            finally:
                with _writers_guard:
                    if _writers.get(path) is writer:
                        _borrowed[path] -= 1
            return
        if not path.exists():
            raise WarehouseError(
                f"the DuckDB warehouse {path} does not exist yet: run a sync first "
                "(`haier-pipeline sync`, or `make demo`), or check HAIER_WAREHOUSE_URL"
            )
        with locking.file_lock(path, exclusive=False, timeout=self.read_timeout) as poller:
            try:
                con = locking.retry_conflicts(
                    lambda: _open_file(path, read_only=True), poller, path, False, duckdb.IOException
                )
            except duckdb.IOException as error:
                raise _open_error(path, error, writing=False) from None
            clean = False
            try:
                yield con
                clean = True
            finally:
                _hosts.release(con, reusable=clean)
