"""PostgreSQL through psycopg 3: a connection per transaction, bulk loads with COPY."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd
import psycopg
import pyarrow as pa
from sqlalchemy import Table

from haier_pipeline.warehouse.convert import Columns, arrow_to_frame, rows
from haier_pipeline.warehouse.errors import WarehouseError
from haier_pipeline.warehouse.sql import bind, column_list, ident, qualified
from haier_pipeline.warehouse.url import WarehouseURL, mask_url

_stage_ids = itertools.count(1)

# Result column types by type OID, so both backends hand back identically typed frames (and an empty
# result still has typed columns). Anything else is left to Arrow's inference.
_ARROW_BY_OID: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int64(),
    23: pa.int64(),
    25: pa.string(),
    1043: pa.string(),
    18: pa.string(),
    19: pa.string(),
    700: pa.float64(),
    701: pa.float64(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}
_NUMERIC_OID = 1700


def _result_frame(cursor: psycopg.Cursor) -> pd.DataFrame:
    if cursor.description is None:
        return pd.DataFrame()
    records = cursor.fetchall()
    series: list[pd.Series] = []
    for i, column in enumerate(cursor.description):
        values = [record[i] for record in records]
        arrow_type = _ARROW_BY_OID.get(column.type_code)
        if column.type_code == _NUMERIC_OID and column.precision is not None:
            arrow_type = pa.decimal128(column.precision, column.scale or 0)
        try:
            array = pa.array(values, type=arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            # e.g. an unconstrained NUMERIC wider than 38 digits: keep the Python objects.
            series.append(pd.Series(values, dtype=object))
            continue
        series.append(arrow_to_frame(pa.Table.from_arrays([array], names=["_"]))["_"])
    frame = pd.concat(series, axis=1, ignore_index=True) if series else pd.DataFrame()
    frame.columns = [column.name for column in cursor.description]
    return frame


class PostgresSession:
    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._cursor = conn.cursor()

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._cursor.execute(*bind(sql, params, "psycopg"))

    def execute_count(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        self._cursor.execute(*bind(sql, params, "psycopg"))
        return max(self._cursor.rowcount, 0)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        self._cursor.execute(*bind(sql, params, "psycopg"))
        return _result_frame(self._cursor)

    def stage(self, table: Table, columns: Columns) -> str:
        name = f"_haier_stage_{next(_stage_ids)}"
        cols = column_list(list(columns))
        # Typed like the target columns but without its constraints: a partial frame (an upsert of some
        # columns) must not trip NOT NULL on columns it does not carry.
        self._cursor.execute(
            f"CREATE TEMP TABLE {ident(name)} ON COMMIT DROP AS SELECT {cols} FROM {qualified(table)} WITH NO DATA"
        )
        with self._cursor.copy(f"COPY {ident(name)} ({cols}) FROM STDIN") as copy:
            for row in rows(columns):
                copy.write_row(row)
        self._cursor.execute(f"ANALYZE {ident(name)}")
        return name

    def unstage(self, name: str) -> None:
        self._cursor.execute(f"DROP TABLE IF EXISTS {ident(name)}")


class PostgresBackend:
    name = "postgres"

    def __init__(self, url: WarehouseURL, connect_timeout: int = 10) -> None:
        self._url = url
        self._connect_timeout = connect_timeout

    def _where(self) -> str:
        return f"{self._url.host}:{self._url.port}/{self._url.database}"

    def describe(self, schema: str) -> str:
        return f"postgres {self._where()} schema {schema}"

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(
                self._url.conninfo,
                connect_timeout=self._connect_timeout,
                options="-c TimeZone=UTC",
                application_name="haier-pipeline",
            )
        except psycopg.OperationalError as exc:
            raise WarehouseError(
                f"cannot connect to the warehouse postgres {self._where()} "
                f"(HAIER_WAREHOUSE_URL={self._url.display}): {mask_url(str(exc)).strip()}"
            ) from None

    @contextlib.contextmanager
    def write_session(self) -> Iterator[PostgresSession]:
        with contextlib.closing(self._connect()) as conn:
            try:
                yield PostgresSession(conn)
            except BaseException as error:
                with contextlib.suppress(psycopg.Error):
                    conn.rollback()
                if isinstance(error, psycopg.OperationalError) and conn.broken:
                    # The server ended the connection (restarted, killed the backend, network gone) before COMMIT
                    # was sent: Postgres discards the open transaction.
                    raise WarehouseError(
                        f"lost its connection to the warehouse postgres {self._where()} in the middle of a "
                        f"transaction ({type(error).__name__}: {mask_url(str(error)).strip()}); Postgres rolled "
                        "the transaction back, nothing of it was written"
                    ) from error
                raise
            conn.commit()

    @contextlib.contextmanager
    def read_session(self) -> Iterator[PostgresSession]:
        with contextlib.closing(self._connect()) as conn:
            conn.read_only = True
            try:
                yield PostgresSession(conn)
            finally:
                with contextlib.suppress(psycopg.Error):
                    conn.rollback()
