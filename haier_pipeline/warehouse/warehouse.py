"""The public API: Warehouse (open, evolve, read) and WarehouseTransaction (bulk writes)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import Table

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.settings import default
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.warehouse import sql
from haier_pipeline.warehouse.backend import Backend, Session
from haier_pipeline.warehouse.catalog import Upgrade, plan_upgrade, read_catalog
from haier_pipeline.warehouse.convert import Columns, convert_frame, convert_values, python_values
from haier_pipeline.warehouse.duckdb_backend import DuckDBBackend
from haier_pipeline.warehouse.errors import WarehouseError
from haier_pipeline.warehouse.tables import ACCOUNT, DEFAULT_SCHEMA, build_tables, primary_key, table_names
from haier_pipeline.warehouse.url import WarehouseURL, parse_warehouse_url
from haier_pipeline.warehouse.views import VIEWS, View

_SHOW_KEYS = 5
_TEXT = pd.ArrowDtype(pa.string())


class BusyClock:
    """Wall time this process spent in the warehouse (schema checks, reads, write transactions from open to
    commit), so a run can be split into API time, warehouse time and the rest (`haier-pipeline sync --timings`).
    A read inside a transaction counts once. The intervals themselves (epoch start, end, kind) are kept only
    between `restart(keep_intervals=True)` and the next restart, so a long-lived process does not pile them up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = threading.local()
        self.seconds = 0.0
        self.operations = 0
        self.intervals: list[tuple[float, float, str]] | None = None

    def restart(self, *, keep_intervals: bool) -> None:
        with self._lock:
            self.seconds = 0.0
            self.operations = 0
            self.intervals = [] if keep_intervals else None

    @contextlib.contextmanager
    def measure(self, kind: str) -> Iterator[None]:
        depth = getattr(self._depth, "value", 0)
        self._depth.value = depth + 1
        started = time.time()
        try:
            yield
        finally:
            ended = time.time()
            self._depth.value = depth
            if depth == 0:
                with self._lock:
                    self.seconds += ended - started
                    self.operations += 1
                    if self.intervals is not None:
                        self.intervals.append((started, ended, kind))


WAREHOUSE_CLOCK = BusyClock()


class Warehouse:
    """The SQL warehouse (DuckDB file or Postgres schema) behind HAIER_WAREHOUSE_URL."""

    def __init__(self, url: WarehouseURL, backend: Backend, schema: str = DEFAULT_SCHEMA) -> None:
        self.url = url
        self._backend = backend
        self.tables: dict[str, Table] = build_tables(schema)
        self.views: tuple[View, ...] = VIEWS
        self.schema = schema

    @classmethod
    def from_url(
        cls,
        url: str,
        schema: str = DEFAULT_SCHEMA,
        *,
        lock_timeout: float = default("warehouse_lock_timeout"),
        read_timeout: float = default("warehouse_lock_timeout"),
    ) -> Warehouse:
        """`lock_timeout`/`read_timeout`: how long a writer/reader waits for another process (DuckDB: the file;
        Postgres: each lock another session holds)."""
        parsed = parse_warehouse_url(url, allow_memory=True)
        backend: Backend
        if parsed.backend == "duckdb":
            backend = DuckDBBackend(parsed.path, write_timeout=lock_timeout, read_timeout=read_timeout)
        else:
            # Imported here: psycopg costs every DuckDB user's start-up 0.05 s otherwise.
            from haier_pipeline.warehouse.postgres_backend import PostgresBackend

            backend = PostgresBackend(parsed, schema, write_timeout=lock_timeout, read_timeout=read_timeout)
        return cls(parsed, backend, schema)

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def path(self) -> Path | None:
        """The DuckDB file (None for Postgres and :memory:)."""
        return self.url.path

    def describe(self) -> str:
        return self._backend.describe(self.schema)

    def __repr__(self) -> str:
        return f"Warehouse({self.describe()})"

    def ensure_schema(self) -> None:
        """Create the schema, tables and indexes if missing, add missing columns, describe every column (COMMENT ON),
        then create the analysts' views, or replace those out of date (`views.py`). Idempotent, and runs only the DDL
        that is missing: an up-to-date warehouse is only read, so a role that may read and write its tables and
        nothing more can use it.

        Evolution is additive only for tables: columns are never dropped or retyped, and added ones are nullable."""
        with WAREHOUSE_CLOCK.measure("schema"), self._backend.write_session() as session:
            if self.backend == "postgres":
                # Imported here for the same reason as PostgresBackend above.
                from haier_pipeline.warehouse.postgres_backend import schema_lock_name

                lock_name = schema_lock_name(self.schema)
                session.execute("SELECT pg_advisory_xact_lock(hashtext(:name))", {"name": lock_name})
            catalog = read_catalog(session, self.backend, self.schema, self.tables.values())
            upgrade = plan_upgrade(catalog, self.tables.values(), self.schema, self.views)
            for statement in upgrade.statements:
                session.execute(statement)
            for table_name, column_name in upgrade.columns:
                # A column added before can be missing again (its table restored from a backup taken before the
                # upgrade): it is empty again in every row, so the record says when it was last added and that no
                # step has adopted its values since (price_history adopts them once more).
                session.execute(
                    f"INSERT INTO {sql.ident(self.schema)}.schema_changes (table_name, column_name, added_at) "
                    "VALUES (:table, :column, :at) ON CONFLICT (table_name, column_name) "
                    "DO UPDATE SET added_at = EXCLUDED.added_at, settled_at = NULL",
                    # The pipeline's clock, as the fetched_at it is compared with: a database server's clock
                    # running ahead would make every price fetched after the upgrade look older than it.
                    {"table": table_name, "column": column_name, "at": now_utc()},
                )

    def pending_upgrade(self) -> Upgrade:
        """What `ensure_schema` would create or add, read in a read-only session: nothing is created or changed,
        and a DuckDB file that does not exist is not created (that raises, naming it)."""
        with WAREHOUSE_CLOCK.measure("schema"), self._backend.read_session() as session:
            catalog = read_catalog(session, self.backend, self.schema, self.tables.values(), with_privileges=True)
            return plan_upgrade(catalog, self.tables.values(), self.schema, self.views)

    @contextlib.contextmanager
    def transaction(self, account: str = DEFAULT_ACCOUNT) -> Iterator[WarehouseTransaction]:
        """One database transaction: commit on normal exit, rollback (and re-raise) on exception. Its writes are the
        `account`'s rows (see WarehouseTransaction).

        On DuckDB it holds the file's writer lock from start to end; keep it to one step's writes."""
        with WAREHOUSE_CLOCK.measure("transaction"), self._backend.write_session() as session:
            tx = WarehouseTransaction(session, self.tables, self.schema, account)
            try:
                yield tx
            finally:
                tx._closed = True

    def query(self, sql_text: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Read-only query; `:name` parameters and `{schema}` work on both backends."""
        with WAREHOUSE_CLOCK.measure("query"), self._backend.read_session() as session:
            return session.query(sql.with_schema(sql_text, self.schema), params)

    def table_counts(self) -> dict[str, int]:
        names = table_names()
        union = " UNION ALL ".join(
            f"SELECT '{name}' AS table_name, COUNT(*) AS n FROM {sql.qualified(self.tables[name])}" for name in names
        )
        counts = self.query(union)
        found = {str(name): int(n) for name, n in counts.itertuples(index=False)}
        return {name: found[name] for name in names}


class WarehouseTransaction:
    """Bulk writes inside one transaction, as one account's: a frame without the `account` column is that account's
    rows, the keys and slices written by lead with it, and a statement's `:account` is bound to it. Frames hold typed
    columns or Python objects; see convert.py for what is accepted."""

    def __init__(self, session: Session, tables: dict[str, Table], schema: str, account: str) -> None:
        self._session = session
        self._tables = tables
        self._schema = schema
        self._closed = False
        self.account = account

    # -- helpers -------------------------------------------------------------------------------------
    def _accounted(self, target: Table, frame: pd.DataFrame) -> pd.DataFrame:
        if ACCOUNT not in target.c or ACCOUNT in frame.columns:
            return frame
        return frame.assign(**{ACCOUNT: pd.Series(self.account, index=frame.index, dtype=_TEXT)})

    @staticmethod
    def _with_account(target: Table, keys: list[str]) -> list[str]:
        return [ACCOUNT, *keys] if ACCOUNT in target.c and ACCOUNT not in keys else keys

    def _bound(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        return {ACCOUNT: self.account, **(params or {})}

    def _table(self, name: str) -> Table:
        self._check_open()
        try:
            return self._tables[name]
        except KeyError:
            raise ValueError(f"unknown table {name!r}; tables: {list(self._tables)}") from None

    @contextlib.contextmanager
    def _staged(self, table: Table, columns: Columns) -> Iterator[str]:
        name = self._session.stage(table, columns)
        yield name
        # Not in a finally: after a failed statement the transaction is aborted (cleaning up would only
        # hide the real error) and the rollback discards the stage anyway.
        self._session.unstage(name)

    @staticmethod
    def _check_unique(table: Table, columns: Columns, key: list[str]) -> None:
        missing = [k for k in key if k not in columns]
        if missing:
            raise ValueError(f"{table.name}: frame lacks key column(s) {missing}")
        keys = list(zip(*(python_values(columns, k) for k in key), strict=True))
        null_keys = [k for k in keys if any(part is None for part in k)]
        if null_keys:
            raise ValueError(f"{table.name}: null in key {key}: {null_keys[:_SHOW_KEYS]}")
        duplicates = [k for k, n in Counter(keys).items() if n > 1]
        if duplicates:
            shown = [k[0] if len(k) == 1 else k for k in duplicates[:_SHOW_KEYS]]
            raise ValueError(
                f"{table.name}: {len(duplicates)} key(s) {key} appear more than once in the frame: {shown}"
            )

    def _insert(self, table: Table, columns: Columns) -> int:
        if not columns or not len(next(iter(columns.values()))):
            return 0
        with self._staged(table, columns) as stage:
            self._session.execute(sql.insert_select(table, list(columns), sql.ident(stage)))
        return len(next(iter(columns.values())))

    # -- public API ----------------------------------------------------------------------------------
    def primary_key(self, table: str) -> list[str]:
        return primary_key(self._table(table))

    def upsert(self, table: str, frame: pd.DataFrame) -> int:
        """INSERT ... ON CONFLICT (primary key) DO UPDATE every non-key column the frame carries.

        Rows not in the frame are kept. Returns the number of rows written."""
        target = self._table(table)
        key = primary_key(target)
        if not key:
            raise ValueError(f"{table} has no primary key; use append() or replace()")
        columns = convert_frame(target, self._accounted(target, frame))
        if len(frame) == 0:
            return 0
        self._check_unique(target, columns, key)
        with self._staged(target, columns) as stage:
            self._session.execute(sql.upsert(target, list(columns), key, sql.ident(stage)))
        return len(frame)

    def append(self, table: str, frame: pd.DataFrame) -> int:
        target = self._table(table)
        return self._insert(target, convert_frame(target, self._accounted(target, frame)))

    def replace(self, table: str, frame: pd.DataFrame, match: Mapping[str, Any]) -> int:
        """Delete the rows whose columns are each in `match`'s values, then insert `frame`.

        Every frame row must fall inside `match`, so running the same replace twice changes nothing.
        A None among the values matches NULL. Returns the number of rows inserted."""
        target = self._table(table)
        if not match:
            raise ValueError(f"replace on {table} needs a non-empty match")
        if ACCOUNT in target.c and ACCOUNT not in match:
            match = {ACCOUNT: [self.account], **match}
        columns = convert_frame(target, self._accounted(target, frame))
        matched: dict[str, tuple[list[Any], bool]] = {}
        for column, values in match.items():
            if column not in target.c:
                raise ValueError(f"{table}: match column {column!r} is not in the table")
            if isinstance(values, str) or not hasattr(values, "__iter__"):
                raise ValueError(f"{table}: match[{column!r}] must be a list of values, got {values!r}")
            converted = convert_values(target, column, values)
            non_null = list(dict.fromkeys(v for v in converted if v is not None))
            matched[column] = (non_null, any(v is None for v in converted))
        if len(frame):
            for column, (values, include_null) in matched.items():
                if column not in columns:
                    raise ValueError(f"{table}: frame lacks the match column {column!r}")
                allowed = set(values)
                outside = [
                    v for v in python_values(columns, column) if not (v in allowed or (v is None and include_null))
                ]
                if outside:
                    raise ValueError(
                        f"{table}: frame rows outside the replaced slice, {column} = {outside[:_SHOW_KEYS]}"
                    )
        if all(values or include_null for values, include_null in matched.values()):
            statement, params = sql.delete_matching(target, matched)
            self._session.execute(statement, params)
        return self._insert(target, columns)

    def replace_keys(self, table: str, frame: pd.DataFrame, keys: list[str]) -> int:
        """Delete the rows whose `keys` columns equal those of some frame row, then insert `frame`: a grain
        coarser than the table's rows (e.g. every warehouse row of one product, county and day) is replaced
        whole, and everything else is kept. Returns the number of rows inserted."""
        target = self._table(table)
        columns = convert_frame(target, self._accounted(target, frame))
        self._delete_keys(target, columns, self._with_account(target, keys))
        return self._insert(target, columns)

    def replace_keys_from(self, table: str, source: str, keys: list[str], match: Mapping[str, Any]) -> int:
        """`replace_keys` with the rows of another table: those of `source` whose columns equal `match`'s values
        (e.g. one day of a staging table). Returns the number of rows inserted."""
        target = self._table(table)
        if ACCOUNT in target.c and ACCOUNT not in match:
            match = {ACCOUNT: self.account, **match}
        rows, keys = sql.slice_of(self._table(source), list(match)), self._with_account(target, keys)
        self._session.execute(sql.delete_keys(target, keys, rows), match)
        return self._session.execute_count(sql.insert_select(target, [c.name for c in target.columns], rows), match)

    def delete_keys(self, table: str, frame: pd.DataFrame, keys: list[str]) -> None:
        """Delete the rows whose `keys` columns equal those of some frame row."""
        target = self._table(table)
        keys = self._with_account(target, keys)
        self._delete_keys(target, convert_frame(target, self._accounted(target, frame)[keys]), keys)

    def _delete_keys(self, target: Table, columns: Columns, keys: list[str]) -> None:
        if columns and len(next(iter(columns.values()))):
            with self._staged(target, {key: columns[key] for key in keys}) as stage:
                self._session.execute(sql.delete_keys(target, keys, sql.ident(stage)))

    def scd2(
        self, table: str, frame: pd.DataFrame, key: list[str], tracked: list[str], at: datetime
    ) -> tuple[int, int]:
        """Slowly changing dimension, type 2, on a table with valid_from / valid_to.

        Per key: no open version (valid_to IS NULL) -> open one from `at`; open version differs in a
        tracked column (NULL-safe) -> close it at `at` and open a new one; unchanged -> nothing.
        Returns (opened, closed). `at` must be later than the valid_from of the versions it closes."""
        target = self._table(table)
        for needed in ("valid_from", "valid_to"):
            if needed not in target.c:
                raise ValueError(f"{table} has no {needed} column, it is not an SCD2 table")
        if not key or not tracked:
            raise ValueError("scd2 needs at least one key and one tracked column")
        if {"valid_from", "valid_to"} & set(frame.columns):
            raise ValueError("scd2 sets valid_from / valid_to itself; leave them out of the frame")
        absent = [c for c in [*key, *tracked] if c not in frame.columns]
        if absent:
            raise ValueError(f"{table}: frame lacks key/tracked column(s) {absent}")
        (at_utc,) = convert_values(target, "valid_from", [at])
        if at_utc is None:
            raise ValueError("scd2 needs a timezone-aware `at`")
        frame, key = self._accounted(target, frame), self._with_account(target, key)
        columns = convert_frame(target, frame)
        self._check_unique(target, columns, key)
        if len(frame) == 0:
            return 0, 0
        params = {"at": at_utc}
        with self._staged(target, columns) as stage:
            blocked = self._session.query(sql.scd2_blocked(target, key, tracked, stage), params)
            if len(blocked):
                raise ValueError(
                    f"{table}: scd2 at {at_utc.isoformat()} would close versions that start at or after it: "
                    f"{blocked.to_dict('records')}"
                )
            closed = self._session.execute_count(sql.scd2_close(target, key, tracked, stage), params)
            opened = self._session.execute_count(sql.scd2_open(target, list(columns), key, stage), params)
        return opened, closed

    def execute(self, sql_text: str, params: Mapping[str, Any] | None = None) -> None:
        self._check_open()
        self._session.execute(sql.with_schema(sql_text, self._schema), self._bound(params))

    def execute_count(self, sql_text: str, params: Mapping[str, Any] | None = None) -> int:
        """Rows the statement changed."""
        self._check_open()
        return self._session.execute_count(sql.with_schema(sql_text, self._schema), self._bound(params))

    def query(self, sql_text: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Read inside the transaction (sees its own uncommitted writes)."""
        self._check_open()
        return self._session.query(sql.with_schema(sql_text, self._schema), self._bound(params))

    def _check_open(self) -> None:
        if self._closed:
            raise WarehouseError("this transaction has ended; open a new one with warehouse.transaction()")


_cache: dict[tuple[str, str], Warehouse] = {}
_cache_guard = threading.Lock()


def shared_warehouse(url: str, schema: str, lock_timeout: float) -> Warehouse:
    """The process-wide Warehouse for (url, schema), schema ensured on first use, waiting at most `lock_timeout`
    (DuckDB) for a file another process holds.

    Warehouse objects hold no connection (a configured URL is never DuckDB :memory:), so sharing one across
    threads and keeping it after a fork is safe."""
    parsed = parse_warehouse_url(url)
    # Keyed by what the URL points at: a relative DuckDB path means another file after a chdir.
    cache_key = (str(parsed.path) if parsed.backend == "duckdb" else parsed.conninfo, schema)
    with _cache_guard:
        warehouse = _cache.get(cache_key)
        if warehouse is None:
            warehouse = Warehouse.from_url(url, schema, lock_timeout=lock_timeout)
            if warehouse.path is not None:
                warehouse.path.parent.mkdir(parents=True, exist_ok=True)
            warehouse.ensure_schema()
            _cache[cache_key] = warehouse
        return warehouse
