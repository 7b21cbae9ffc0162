"""What the database already holds of the warehouse's schema: whether it exists, its tables' columns, its indexes and
its comments, and what it lacks of the declared tables (`plan_upgrade`). `Warehouse.ensure_schema` runs only the DDL
that is missing, so a warehouse that is up to date is checked without any DDL, by a role that may read and write its
tables and nothing more (its owner, or a migration, made them); `check` names what is missing and runs nothing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Table

from haier_pipeline.warehouse import sql
from haier_pipeline.warehouse.backend import Session
from haier_pipeline.warehouse.tables import add_column_sql, comment_sql, comments, create_index_sql, create_table_sql

_DUCKDB_OURS = "schema_name = :schema AND database_name = current_database()"
# Per backend: the schema's existence (pg_namespace also lists schemas this role may not use, unlike
# information_schema), then every table's and column's comment, then the index names.
_QUERIES = {
    "postgres": (
        "SELECT count(*) AS n FROM pg_catalog.pg_namespace WHERE nspname = :schema",
        """
SELECT c.relname AS table_name, a.attname AS column_name, col_description(c.oid, a.attnum) AS comment
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')
UNION ALL
SELECT c.relname, NULL, obj_description(c.oid, 'pg_class')
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')
""",
        "SELECT indexname AS name FROM pg_catalog.pg_indexes WHERE schemaname = :schema",
    ),
    "duckdb": (
        f"SELECT count(*) AS n FROM duckdb_schemas() WHERE {_DUCKDB_OURS}",
        f"SELECT table_name, column_name, comment FROM duckdb_columns() WHERE {_DUCKDB_OURS} "
        f"UNION ALL SELECT table_name, NULL, comment FROM duckdb_tables() WHERE {_DUCKDB_OURS}",
        f"SELECT index_name AS name FROM duckdb_indexes() WHERE {_DUCKDB_OURS}",
    ),
}


@dataclass
class Catalog:
    schema_exists: bool = False
    columns: dict[str, set[str]] = field(default_factory=dict)  # table -> its columns
    comments: dict[tuple[str, str | None], str] = field(default_factory=dict)  # (table, column or None) -> text
    indexes: set[str] = field(default_factory=set)


def read_catalog(session: Session, backend: str, schema: str) -> Catalog:
    exists_sql, comments_sql, indexes_sql = _QUERIES[backend]
    params = {"schema": schema}
    if not session.query(exists_sql, params)["n"].iloc[0]:
        return Catalog()
    catalog = Catalog(schema_exists=True)
    for table, column, comment in session.query(comments_sql, params).itertuples(index=False):
        if column is not None:
            catalog.columns.setdefault(table, set()).add(column)
        # No comment and an empty one read alike: Postgres stores '' as none.
        catalog.comments[(table, column)] = comment if isinstance(comment, str) else ""
    catalog.indexes = set(session.query(indexes_sql, params)["name"])
    return catalog


@dataclass
class Upgrade:
    """What the database lacks of the declared tables, and the DDL that adds it (in order)."""

    schema_missing: bool = False
    tables: list[str] = field(default_factory=list)  # to create
    columns: list[tuple[str, str]] = field(default_factory=list)  # (table, column) to add to an existing table
    indexes: list[str] = field(default_factory=list)
    descriptions: int = 0  # existing tables' and columns' descriptions to mend
    statements: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """For `check`: what the next sync will create or add, each missing table, column and index named."""
        if self.schema_missing:
            return "it does not exist yet: the first sync creates it"
        named = [
            (self.tables, "table", "to create"),
            ([f"{table}.{column}" for table, column in self.columns], "column", "to add"),
            (self.indexes, "index", "to create"),
        ]
        parts = [f"{_count(len(names), noun)} {what} ({', '.join(names)})" for names, noun, what in named if names]
        if self.descriptions:
            parts.append(f"{_count(self.descriptions, 'description')} to update")
        return "the next sync upgrades it: " + ", ".join(parts) if parts else "up to date"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}{'es' if noun.endswith('x') else 's'}"


def plan_upgrade(catalog: Catalog, tables: Iterable[Table], schema: str) -> Upgrade:
    """Compare what the database holds with the declared tables. Additive only: nothing is dropped or retyped."""
    upgrade = Upgrade(schema_missing=not catalog.schema_exists)
    if upgrade.schema_missing:
        upgrade.statements.append(f"CREATE SCHEMA IF NOT EXISTS {sql.ident(schema)}")
    for table in tables:
        if table.name not in catalog.columns:
            upgrade.tables.append(table.name)
            upgrade.statements.append(create_table_sql(table))
        else:
            for column in table.columns:
                if column.name not in catalog.columns[table.name]:
                    upgrade.columns.append((table.name, column.name))
                    upgrade.statements.append(add_column_sql(table, column))
        # A table or column created above comes with its indexes and descriptions: only an existing table's missing
        # index and stale description are named apart.
        for name, statement in create_index_sql(table).items():
            if name not in catalog.indexes:
                if table.name in catalog.columns:
                    upgrade.indexes.append(name)
                upgrade.statements.append(statement)
        for column_name, text in comments(table).items():
            if catalog.comments.get((table.name, column_name)) != text:
                if (table.name, column_name) in catalog.comments:
                    upgrade.descriptions += 1
                upgrade.statements.append(comment_sql(table, column_name, text))
    return upgrade
