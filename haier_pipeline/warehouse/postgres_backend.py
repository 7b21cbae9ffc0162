"""PostgreSQL through psycopg 3: a connection per transaction, bulk loads with COPY."""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd
import psycopg
import pyarrow as pa
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import Table

from haier_pipeline.warehouse import locking
from haier_pipeline.warehouse.convert import Columns, arrow_to_frame, rows
from haier_pipeline.warehouse.errors import (
    UNAVAILABLE,
    WarehouseConfigError,
    WarehouseError,
    WarehouseLockTimeout,
    WarehouseUnavailableError,
    data_grants_advice,
    owner_upgrade_advice,
    storage_error,
)
from haier_pipeline.warehouse.sql import bind, column_list, ident, qualified
from haier_pipeline.warehouse.url import ENV_VAR, WarehouseURL, mask_url

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
        self.statement = ""  # the last one sent: a lock timeout names who holds what it waited for

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self.statement = sql
        self._cursor.execute(*bind(sql, params, "psycopg"))

    def execute_count(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        self.statement = sql
        self._cursor.execute(*bind(sql, params, "psycopg"))
        return max(self._cursor.rowcount, 0)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        self.statement = sql
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


# What libpq and the server say when nobody answers, or the server is there but cannot take us now (restarting, full):
# an operator waits or restarts it; the URL is fine.
_NOT_ANSWERING = re.compile(
    r"(?i)connection refused|timeout expired|timed out|could not connect|no route to host|network is unreachable|"
    r"server closed the connection|connection reset|the database system is (?:starting up|shutting down|in recovery"
    r"|not (?:yet )?accepting connections)|too many (?:clients|connections)|administrator command|"
    r"remaining connection slots"
)


def connection_problem(url: WarehouseURL, error: psycopg.OperationalError) -> WarehouseError:
    """What a failed connect means and what to do about it. The server's refusals (no such role or database, a
    rejected login), a host name that does not resolve and options libpq refuses are configuration errors (exit 2);
    a server that does not answer, or cannot take a connection now, is WarehouseUnavailableError (exit 1)."""
    text = mask_url(" ".join(str(error).split()))
    where = f"{url.host}:{url.port}"
    if match := re.search(r'role "(.*?)" does not exist', text):
        return WarehouseConfigError(
            f"{ENV_VAR}: Postgres at {where} has no role {match.group(1)!r}: create it "
            f"(`createuser -h {url.host} -p {url.port} --pwprompt {match.group(1)}`) or fix the user in the URL "
            f"({url.display})"
        )
    if "does not exist" in text and "database" in text:
        return WarehouseConfigError(
            f"{ENV_VAR}: database {url.database!r} does not exist on {where}: create it "
            f"(`createdb -h {url.host} -p {url.port} {url.database}`) or fix the URL ({url.display})"
        )
    if "password" in text or "authentication" in text or "pg_hba.conf" in text:
        return WarehouseConfigError(
            f"{ENV_VAR}: Postgres at {where} refused the login ({text}); check the user and password in the URL "
            f"({url.display}), or the server's pg_hba.conf"
        )
    # Before the option check below: the host name itself may hold "invalid" (db.invalid).
    if re.search(r"(?i)failed to resolve host|could not translate host name|name or service not known", text):
        return WarehouseConfigError(
            f"{ENV_VAR}: the host name {url.host!r} does not resolve (no such host in DNS or /etc/hosts): fix the "
            f"host in the URL ({url.display}), or this machine's name resolution"
        )
    if re.search(r"(?i)invalid response to SSL negotiation|received invalid response|unexpected response", text):
        return WarehouseConfigError(
            f"{ENV_VAR}: something answers at {where}, but not Postgres ({text}): fix the port in the URL "
            f"({url.display}); Postgres listens on 5432 unless configured otherwise"
        )
    if _NOT_ANSWERING.search(text):
        return WarehouseUnavailableError(
            f"{UNAVAILABLE}: no Postgres answers at {where} ({text}). Check that Postgres is running there and "
            f"accepting connections (`pg_isready -h {url.host} -p {url.port}`; a restart takes a few seconds), that "
            f"this machine reaches it (firewall, VPN), and that the host and port in {ENV_VAR} are right "
            f"({url.display}); then run the command again"
        )
    # libpq checks option values before it dials (`invalid sslmode value: "bogus"`, `invalid integer value "x" for
    # connection option "port"`), the server those in `options` (`invalid value for parameter`, `unrecognized
    # configuration parameter`).
    if re.search(r"(?i)invalid \w+ value|invalid value for|connection option|unrecognized configuration", text):
        return WarehouseConfigError(
            f"{ENV_VAR}: a connection option is not valid ({text}); fix or remove it in the URL ({url.display}); "
            "see https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS"
        )
    if "FATAL" in text:
        # The server answered, in words not recognised above (another language, a new refusal).
        return WarehouseConfigError(
            f"{ENV_VAR}: Postgres at {where} refused the connection ({text}); fix what it names in the URL "
            f"({url.display}) or on the server"
        )
    return WarehouseUnavailableError(
        f"{UNAVAILABLE}: Postgres at {where} could not be reached ({text}). Check that it is running and reachable "
        f"from this machine (`pg_isready -h {url.host} -p {url.port}`), and the host and port in {ENV_VAR} "
        f"({url.display}); then run the command again"
    )


def _lock_timeout_option(seconds: float) -> str:
    # Postgres reads lock_timeout = 0 as "wait forever"; HAIER_WAREHOUSE_LOCK_TIMEOUT=0 means "do not wait".
    return f"-c lock_timeout={max(1, round(seconds * 1000))}"


def schema_lock_name(schema: str) -> str:
    """The advisory lock `Warehouse.ensure_schema` takes (`hashtext` of this), so that two processes starting at
    once do not race on CREATE SCHEMA / TABLE."""
    return f"haier:{schema}"


# Who holds a lock a writer or reader of this schema may wait for: strong locks on its tables (LOCK TABLE, ALTER,
# TRUNCATE, VACUUM FULL), its ensure_schema advisory lock, transactions left open on its tables, which may hold
# row locks, and any lock that conflicts with the one the timed-out statement needed on its table (the upgrade's
# ALTER TABLE waits even for a reader's ACCESS SHARE, which rows and reads do not). Other schemas' sessions cannot
# block it: naming them would invite ending an unrelated session. Read after the wait was given up (Postgres has
# cancelled it, so pg_blocking_pids no longer answers), so it names likely holders, not certain ones.
_HOLDERS = """
SELECT a.pid, COALESCE(NULLIF(a.application_name, ''), a.client_addr::text, 'local') AS client, a.usename,
       a.state, EXTRACT(EPOCH FROM now() - COALESCE(a.xact_start, a.backend_start))::bigint AS seconds,
       string_agg(DISTINCT l.mode || COALESCE(' on ' || n.nspname || '.' || c.relname, ' (advisory)'), ', ')
         AS locks,
       to_char(a.query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS query_start, a.query
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
LEFT JOIN pg_class c ON c.oid = l.relation
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.granted AND l.pid <> pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ((l.locktype = 'advisory' AND l.objsubid = 1
        AND l.objid = (hashtext(%(schema_lock)s)::bigint & 4294967295)::oid)
       OR (l.locktype = 'relation' AND n.nspname = %(schema)s
           AND (l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
                OR a.state LIKE 'idle in transaction%%'
                OR (c.relname = %(table)s AND l.mode = ANY(%(conflicting)s::text[])))))
GROUP BY 1, 2, 3, 4, 5, 7, 8
ORDER BY 5 DESC
LIMIT 3
"""
_LOCK_MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
# The upgrade's DDL (tables.py, catalog.py), the lock each takes on its table, and the modes that lock conflicts
# with (https://www.postgresql.org/docs/current/explicit-locking.html#TABLE-LOCK-COMPATIBILITY).
_DDL_LOCKS = (
    (re.compile(r'^ALTER TABLE "?(\w+)"?\."?(\w+)"?'), _LOCK_MODES),
    (
        re.compile(r'^CREATE (?:UNIQUE )?INDEX (?:IF NOT EXISTS )?\S+ ON "?(\w+)"?\."?(\w+)"?'),
        _LOCK_MODES[2:4] + _LOCK_MODES[5:],
    ),
    (re.compile(r'^COMMENT ON (?:TABLE|COLUMN) "?(\w+)"?\."?(\w+)"?'), _LOCK_MODES[3:]),
)


def _wanted_lock(statement: str, schema: str) -> tuple[str | None, list[str]]:
    """The table of this schema a DDL statement locks, and the lock modes that block it; (None, []) otherwise."""
    for pattern, conflicting in _DDL_LOCKS:
        if (match := pattern.match(statement.strip())) and match.group(1) == schema:
            return match.group(2), list(conflicting)
    return None, []


def _query_text(query: str | None) -> str:
    """A holder's statement, as a hint: on one line, literals blanked (they may hold secrets), at most 100
    characters."""
    text = re.sub(r"'(?:[^']|'')*'", "'…'", " ".join((query or "").split()))
    text = mask_url(text)
    return text if len(text) <= 100 else text[:99] + "…"


def _lock_holders(conn: psycopg.Connection, schema: str, statement: str = "") -> list[tuple[int, str]]:
    """(pid, `pid 4242 (psql, user etl, idle in transaction for 95 s, last query at 2026-01-02 03:04:05 UTC: "LOCK
    TABLE …"; AccessExclusiveLock on haier.prices)`); empty when they cannot be read: the diagnosis must never hide
    the timeout itself."""
    table, conflicting = _wanted_lock(statement, schema)
    try:
        conn.rollback()
        with conn.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '1s'")
            cursor.execute(
                _HOLDERS,
                {
                    "schema": schema,
                    "schema_lock": schema_lock_name(schema),
                    "table": table,
                    "conflicting": conflicting,
                },
            )
            found = cursor.fetchall()
        conn.rollback()
    except psycopg.Error:
        return []
    described = []
    for pid, client, user, state, seconds, locks, query_start, query in found:
        since = f", query started {query_start} UTC" if query_start else ""
        text = f': "{_query_text(query)}"' if query else ""
        described.append(
            (
                pid,
                f"pid {pid} ({client}, user {user}, {state or 'state unknown'} for {seconds} s{since}{text}; {locks})",
            )
        )
    return described


class PostgresBackend:
    name = "postgres"

    def __init__(
        self,
        url: WarehouseURL,
        schema: str,
        *,
        write_timeout: float,
        read_timeout: float,
        connect_timeout: int = 10,
    ) -> None:
        """`schema`: the one the warehouse keeps its tables in; a lock timeout names the sessions holding locks
        there. `write_timeout`/`read_timeout`: seconds a statement waits for a lock another session holds
        (HAIER_WAREHOUSE_LOCK_TIMEOUT), the same names and meaning as DuckDBBackend's."""
        self._url = url
        self._schema = schema
        self._connect_timeout = connect_timeout
        self.write_timeout = write_timeout
        self.read_timeout = read_timeout
        # Kept, not replaced: `options` given in the URL (search_path, statement_timeout) still apply.
        self._options = conninfo_to_dict(url.conninfo).get("options") or ""

    def _where(self) -> str:
        return f"{self._url.host}:{self._url.port}/{self._url.database}"

    def describe(self, schema: str) -> str:
        return f"postgres {self._where()} schema {schema}"

    def _connect(self, lock_timeout: float) -> psycopg.Connection:
        try:
            return psycopg.connect(
                self._url.conninfo,
                connect_timeout=self._connect_timeout,
                options=f"{self._options} -c TimeZone=UTC {_lock_timeout_option(lock_timeout)}".strip(),
                application_name="haier-pipeline",
            )
        except psycopg.OperationalError as exc:
            raise connection_problem(self._url, exc) from None

    def _lock_timeout_error(
        self, conn: psycopg.Connection, waited: float, exclusive: bool, statement: str
    ) -> WarehouseLockTimeout:
        verb = "write to" if exclusive else "read"
        message = f"Timed out after {waited:g} s waiting for a lock to {verb} the warehouse postgres {self._where()}"
        holders = _lock_holders(conn, self._schema, statement)
        if holders:
            message += "; sessions holding locks there: " + "; ".join(text for _, text in holders)
        pid = holders[0][0] if holders else "<pid>"
        message += (
            ". Wait for that session to finish (a sync, a migration, a psql left in an open transaction), or end it "
            f"(`SELECT pg_terminate_backend({pid})`), then retry. {locking.TIMEOUT_ENV_VAR} sets how long a "
            "statement waits for a lock."
        )
        return WarehouseLockTimeout(message)

    def _privilege_error(self, conn: psycopg.Connection, error: psycopg.Error) -> WarehouseConfigError:
        """The role lacks a privilege the warehouse needs: a setting to change, with the statement that grants it,
        or (an upgrade only a table's owner may run) who must run it."""
        role, schema = conn.info.user, self._schema
        text = " ".join((error.diag.message_primary or str(error)).split())
        denied = re.match(r"permission denied for (database|schema|table|relation) ", text)
        owned = re.match(r'must be owner of (?:table|relation|index) "?([^" ]+)"?', text)
        where = f"the warehouse postgres {self._where()} schema {schema}"
        if owned:
            # Upgrades add columns, constraints, indexes and comments, which only a table's owner may.
            owner = self._owner(conn, owned.group(1))
            advice = owner_upgrade_advice(role, [owner] if owner else [], schema)
            return WarehouseConfigError(
                f"the Postgres role '{role}' cannot upgrade {where} ({text}"
                + (f"; its owner is '{owner}'" if owner else "")
                + f"). {advice}"
            )
        if denied and denied.group(1) == "database":
            grants = [
                f'GRANT CREATE ON DATABASE "{self._url.database}" TO "{role}"',
                f'CREATE SCHEMA "{schema}" AUTHORIZATION "{role}"',
            ]
        elif denied and denied.group(1) == "schema":
            grants = [f'GRANT USAGE, CREATE ON SCHEMA "{schema}" TO "{role}"']
        else:
            table = text.removeprefix(denied.group(0)) if denied else ""
            advice = data_grants_advice(
                role, self._owner(conn, table) or "<owner>", schema, "the tables' owner or a superuser"
            )
            return WarehouseConfigError(
                f"the Postgres role '{role}' lacks a privilege {where} needs ({text}). {advice}; or set {ENV_VAR} to "
                "a role that has it"
            )
        return WarehouseConfigError(
            f"the Postgres role '{role}' lacks a privilege {where} needs ({text}). As the owner or a superuser, run "
            + " or ".join(f"`{grant}`" for grant in grants)
            + f"; or set {ENV_VAR} to a role that has it"
        )

    def _owner(self, conn: psycopg.Connection, table: str) -> str | None:
        """The owner of the warehouse's table `table` (or of the schema, when `table` is not one), None when it
        cannot be read: the diagnosis must never hide the error itself."""
        try:
            conn.rollback()
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT COALESCE((SELECT tableowner FROM pg_catalog.pg_tables WHERE schemaname = %(schema)s "
                    "AND tablename = %(table)s), (SELECT pg_get_userbyid(nspowner) FROM pg_catalog.pg_namespace "
                    "WHERE nspname = %(schema)s))",
                    {"schema": self._schema, "table": table},
                )
                row = cursor.fetchone()
            conn.rollback()
        except psycopg.Error:
            return None
        return str(row[0]) if row and row[0] else None

    @contextlib.contextmanager
    def _translated(
        self, conn: psycopg.Connection, timeout: float, exclusive: bool, session: PostgresSession | None = None
    ) -> Iterator[None]:
        try:
            yield
        except psycopg.errors.LockNotAvailable:
            statement = session.statement if session is not None else ""
            raise self._lock_timeout_error(conn, timeout, exclusive, statement) from None
        except psycopg.errors.InsufficientPrivilege as error:
            raise self._privilege_error(conn, error) from None
        except psycopg.Error as error:
            if full := storage_error(f"postgres {self._where()}", error):
                raise full from None
            raise

    @contextlib.contextmanager
    def write_session(self) -> Iterator[PostgresSession]:
        with contextlib.closing(self._connect(self.write_timeout)) as conn:
            session = PostgresSession(conn)
            try:
                with self._translated(conn, self.write_timeout, exclusive=True, session=session):
                    yield session
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
            with self._translated(conn, self.write_timeout, exclusive=True):
                conn.commit()

    @contextlib.contextmanager
    def read_session(self) -> Iterator[PostgresSession]:
        with contextlib.closing(self._connect(self.read_timeout)) as conn:
            conn.read_only = True
            session = PostgresSession(conn)
            try:
                with self._translated(conn, self.read_timeout, exclusive=False, session=session):
                    yield session
            finally:
                with contextlib.suppress(psycopg.Error):
                    conn.rollback()
