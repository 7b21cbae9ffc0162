"""What the database already holds of the warehouse's schema: whether it exists, its tables' columns, its indexes and
its comments. `Warehouse.ensure_schema` compares it with the declared tables and runs only the DDL that is missing,
so a warehouse that is up to date is checked without any DDL, by a role that may read and write its tables and
nothing more (its owner, or a migration, made them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from haier_pipeline.warehouse.backend import Session

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
