"""SQL text shared by both backends, and the `:name` / `{schema}` conventions of the public API."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table

# Literals, quoted identifiers and comments are matched whole so a colon or percent sign inside them
# is left alone; `::` is a cast; `:name` preceded by a word character or `]` is a slice (a[1:n]).
_TOKENS = re.compile(
    r"""
      '(?:[^']|'')*'
    | "(?:[^"]|"")*"
    | --[^\n]*
    | /\*.*?\*/
    | ::
    | (?<![\w\]]):(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | %
    """,
    re.VERBOSE | re.DOTALL,
)


def with_schema(sql: str, schema: str) -> str:
    # str.replace, not format(): SQL may contain other braces (JSON, DuckDB structs).
    return sql.replace("{schema}", schema)


def bind(sql: str, params: Mapping[str, Any] | None, style: str) -> tuple[str, dict[str, Any]]:
    """Rewrite `:name` placeholders for the driver: style "duckdb" ($name) or "psycopg" (%(name)s)."""
    params = dict(params or {})
    used: dict[str, Any] = {}

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        token = match.group(0)
        if name is None:
            # psycopg reads % everywhere once parameters are passed, inside literals too.
            return token.replace("%", "%%") if style == "psycopg" else token
        if name not in params:
            raise KeyError(f"SQL parameter :{name} has no value (given: {sorted(params)})")
        used[name] = params[name]
        return f"${name}" if style == "duckdb" else f"%({name})s"

    return _TOKENS.sub(replace, sql), used


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def qualified(table: Table) -> str:
    return f"{ident(table.schema or '')}.{ident(table.name)}"


def column_list(columns: Sequence[str], prefix: str = "") -> str:
    return ", ".join(prefix + ident(c) for c in columns)


def insert_select(table: Table, columns: Sequence[str], source: str) -> str:
    """INSERT the `columns` of every row of `source`, a relation (`ident(stage)`, or `slice_of(...)`)."""
    cols = column_list(columns)
    return f"INSERT INTO {qualified(table)} ({cols}) SELECT {cols} FROM {source} AS src"


def slice_of(table: Table, match: Sequence[str]) -> str:
    """`table`'s rows whose `match` columns equal the `:column` parameters, as a relation."""
    where = " AND ".join(f"{ident(c)} = :{c}" for c in match)
    return f"(SELECT * FROM {qualified(table)} WHERE {where})"


def upsert(table: Table, columns: Sequence[str], key: Sequence[str], source: str) -> str:
    updates = [c for c in columns if c not in key]
    action = (
        "DO UPDATE SET " + ", ".join(f"{ident(c)} = EXCLUDED.{ident(c)}" for c in updates) if updates else "DO NOTHING"
    )
    return f"{insert_select(table, columns, source)} ON CONFLICT ({column_list(key)}) {action}"


def delete_matching(table: Table, match: Mapping[str, tuple[list[Any], bool]]) -> tuple[str, dict[str, Any]]:
    """DELETE rows where every column is in its values; (values, include_null) per column.

    `= ANY(:list)` binds one list parameter on both drivers (an IN list would need one per value)."""
    conditions: list[str] = []
    params: dict[str, Any] = {}
    for i, (column, (values, include_null)) in enumerate(match.items()):
        parts = []
        if values:
            params[f"m{i}"] = values
            parts.append(f"{ident(column)} = ANY(:m{i})")
        if include_null:
            parts.append(f"{ident(column)} IS NULL")
        conditions.append("(" + " OR ".join(parts) + ")")
    return f"DELETE FROM {qualified(table)} WHERE " + " AND ".join(conditions), params


def delete_keys(table: Table, keys: Sequence[str], source: str) -> str:
    """DELETE the target rows whose key columns match a row of `source`, a relation."""
    match = " AND ".join(f"stg.{ident(k)} = tgt.{ident(k)}" for k in keys)
    return f"DELETE FROM {qualified(table)} AS tgt WHERE EXISTS (SELECT 1 FROM {source} AS stg WHERE {match})"


_TSTZ = "TIMESTAMP WITH TIME ZONE"
# Explicit casts: an untyped parameter or NULL in a SELECT list is not always resolved to the column type.
_AT = f"CAST(:at AS {_TSTZ})"


def _join_on_key(key: Sequence[str]) -> str:
    return " AND ".join(f"tgt.{ident(k)} = stg.{ident(k)}" for k in key)


def _differs(tracked: Sequence[str]) -> str:
    return "(" + " OR ".join(f"tgt.{ident(c)} IS DISTINCT FROM stg.{ident(c)}" for c in tracked) + ")"


def scd2_blocked(table: Table, key: Sequence[str], tracked: Sequence[str], source: str) -> str:
    """Open versions that changed but did not start before :at (closing them would go back in time)."""
    return (
        f"SELECT {column_list(key, 'tgt.')}, tgt.valid_from FROM {qualified(table)} AS tgt "
        f"JOIN {ident(source)} AS stg ON {_join_on_key(key)} "
        f"WHERE tgt.valid_to IS NULL AND tgt.valid_from >= {_AT} AND {_differs(tracked)} LIMIT 5"
    )


def scd2_close(table: Table, key: Sequence[str], tracked: Sequence[str], source: str) -> str:
    return (
        f"UPDATE {qualified(table)} AS tgt SET valid_to = {_AT} FROM {ident(source)} AS stg "
        f"WHERE {_join_on_key(key)} AND tgt.valid_to IS NULL AND {_differs(tracked)}"
    )


def scd2_open(table: Table, columns: Sequence[str], key: Sequence[str], source: str) -> str:
    return (
        f"INSERT INTO {qualified(table)} ({column_list(columns)}, valid_from, valid_to) "
        f"SELECT {column_list(columns, 'stg.')}, {_AT}, CAST(NULL AS {_TSTZ}) FROM {ident(source)} AS stg "
        f"WHERE NOT EXISTS (SELECT 1 FROM {qualified(table)} AS tgt "
        f"WHERE {_join_on_key(key)} AND tgt.valid_to IS NULL)"
    )
