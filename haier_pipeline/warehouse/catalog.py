"""What the database already holds of the warehouse's schema: whether it exists, its tables' columns (with their
types and nullability), its indexes, its views and its comments, and what it lacks of the declared tables and views
(`plan_upgrade`).
`Warehouse.ensure_schema` runs only the DDL that is missing, so a warehouse that is up to date is checked without any
DDL, by a role that may read and write its tables and nothing more (its owner, or a migration, made them); `check`
names what is missing and runs nothing."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Table

from haier_pipeline.warehouse import sql
from haier_pipeline.warehouse.backend import Session
from haier_pipeline.warehouse.errors import DATA_RIGHTS, ENV_VAR, data_grants_advice, owner_upgrade_advice
from haier_pipeline.warehouse.tables import (
    RETIRED_INDEXES,
    add_column_sql,
    column_type_sql,
    comment_sql,
    comments,
    create_index_sql,
    create_table_sql,
    set_not_null_sql,
)
from haier_pipeline.warehouse.views import View, create_view_sql, drop_view_sql, view_comment_sql

_DUCKDB_OURS = "schema_name = :schema AND database_name = current_database()"
# Per backend: the schema's existence (pg_namespace also lists schemas this role may not use, unlike
# information_schema), then every table's and column's comment (with each column's type and nullability), then the
# indexes (name and table), then the primary keys (constraint name and columns).
_QUERIES = {
    "postgres": (
        "SELECT count(*) AS n FROM pg_catalog.pg_namespace WHERE nspname = :schema",
        """
SELECT c.relname AS table_name, a.attname AS column_name, col_description(c.oid, a.attnum) AS comment,
       format_type(a.atttypid, a.atttypmod) AS data_type, NOT a.attnotnull AS is_nullable
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')
UNION ALL
SELECT c.relname, NULL, obj_description(c.oid, 'pg_class'), NULL, NULL
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')
""",
        "SELECT indexname AS name, tablename AS table_name, indexdef AS sql FROM pg_catalog.pg_indexes "
        "WHERE schemaname = :schema",
        """
SELECT c.relname AS table_name, con.conname AS name,
       array_to_string(ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, position)
                             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                             ORDER BY k.position), ',') AS columns
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype = 'p' AND n.nspname = :schema
""",
    ),
    "duckdb": (
        f"SELECT count(*) AS n FROM duckdb_schemas() WHERE {_DUCKDB_OURS}",
        f"SELECT table_name, column_name, comment, data_type, is_nullable FROM duckdb_columns() WHERE {_DUCKDB_OURS} "
        f"AND table_oid IN (SELECT table_oid FROM duckdb_tables() WHERE {_DUCKDB_OURS}) "
        f"UNION ALL SELECT table_name, NULL, comment, NULL, NULL FROM duckdb_tables() WHERE {_DUCKDB_OURS}",
        f"SELECT index_name AS name, table_name, sql FROM duckdb_indexes() WHERE {_DUCKDB_OURS}",
        "SELECT table_name, 'primary key' AS name, array_to_string(constraint_column_names, ',') AS columns "
        f"FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' AND {_DUCKDB_OURS}",
    ),
}
# Per backend: each view's columns in order (with type and comment), and the view's own comment (column NULL).
_VIEW_QUERIES = {
    "postgres": """
SELECT c.relname AS view_name, a.attname AS column_name, col_description(c.oid, a.attnum) AS comment,
       format_type(a.atttypid, a.atttypmod) AS data_type, a.attnum AS position
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = :schema AND c.relkind = 'v'
UNION ALL
SELECT c.relname, NULL, obj_description(c.oid, 'pg_class'), NULL, 0
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relkind = 'v'
ORDER BY 1, 5
""",
    "duckdb": f"""
SELECT v.view_name, c.column_name, c.comment, c.data_type, c.column_index AS position
FROM duckdb_views() v JOIN duckdb_columns() c ON c.table_oid = v.view_oid
WHERE v.schema_name = :schema AND v.database_name = current_database() AND NOT v.internal
UNION ALL
SELECT view_name, NULL, comment, NULL, 0 FROM duckdb_views() WHERE {_DUCKDB_OURS} AND NOT internal
ORDER BY 1, 5
""",
}
# Postgres only: what the current role may do here (the upgrade's DDL, then the steps' reads and writes).
_PG_ROLE = """
SELECT current_user AS role, has_database_privilege(current_database(), 'CREATE') AS create_schema,
       COALESCE(bool_or(has_schema_privilege(n.oid, 'USAGE')), false) AS use_schema,
       COALESCE(bool_or(has_schema_privilege(n.oid, 'CREATE')), false) AS create_table,
       max(pg_get_userbyid(n.nspowner)) AS schema_owner
FROM (SELECT 1) AS one LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = :schema
"""
_PG_TABLES = """
SELECT c.relname AS table_name, pg_get_userbyid(c.relowner) AS owner, pg_has_role(c.relowner, 'USAGE') AS owned,
       has_table_privilege(c.oid, 'SELECT') AS "SELECT", has_table_privilege(c.oid, 'INSERT') AS "INSERT",
       has_table_privilege(c.oid, 'UPDATE') AS "UPDATE", has_table_privilege(c.oid, 'DELETE') AS "DELETE"
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')
"""
# The views' owners: only a view's owner may replace it. The pipeline only creates them, so no data rights are asked.
_PG_VIEWS = """
SELECT c.relname AS view_name, pg_get_userbyid(c.relowner) AS owner, pg_has_role(c.relowner, 'USAGE') AS owned
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relkind = 'v'
"""


@dataclass
class Privileges:
    """What a Postgres role may do in the warehouse's database (DuckDB has no roles)."""

    role: str
    create_schema: bool
    use_schema: bool
    create_table: bool
    schema_owner: str | None
    owners: dict[str, str] = field(default_factory=dict)  # table or view -> its owner
    owned: set[str] = field(
        default_factory=set
    )  # tables and views the role owns (directly or as a member of their owner)
    lacking: dict[str, list[str]] = field(default_factory=dict)  # table -> the data rights the role lacks on it


def _read_privileges(session: Session, schema: str) -> Privileges:
    params = {"schema": schema}
    role, create_schema, use_schema, create_table, schema_owner = session.query(_PG_ROLE, params).iloc[0]
    found = Privileges(str(role), bool(create_schema), bool(use_schema), bool(create_table), schema_owner or None)
    for row in session.query(_PG_TABLES, params).itertuples(index=False):
        found.owners[row.table_name] = row.owner
        if row.owned:
            found.owned.add(row.table_name)
        if lacking := [right for right, held in zip(DATA_RIGHTS, row[3:], strict=True) if not held]:
            found.lacking[row.table_name] = lacking
    for row in session.query(_PG_VIEWS, params).itertuples(index=False):
        found.owners[row.view_name] = row.owner
        if row.owned:
            found.owned.add(row.view_name)
    return found


# Spellings of one type: Postgres's format_type, DuckDB's data_type and the declarations' (tables.column_type_sql).
_TYPE_ALIASES = {"VARCHAR": "TEXT", "DECIMAL": "NUMERIC", "TIMESTAMPTZ": "TIMESTAMPWITHTIMEZONE", "INT4": "INTEGER"}


def _type_key(text: str) -> str:
    compact = re.sub(r"\s+", "", text.upper())
    name, _, rest = compact.partition("(")
    return _TYPE_ALIASES.get(name, name) + (f"({rest}" if rest else "")


@dataclass
class Catalog:
    schema_exists: bool = False
    columns: dict[str, set[str]] = field(default_factory=dict)  # table -> its columns
    comments: dict[tuple[str, str | None], str] = field(default_factory=dict)  # (table, column or None) -> text
    backend: str = ""
    index_tables: dict[str, str] = field(default_factory=dict)  # index -> its table
    index_sql: dict[str, str] = field(default_factory=dict)  # index -> the statement that creates it
    types: dict[tuple[str, str], str] = field(default_factory=dict)  # (table, column) -> its type, as the database says
    nullable: set[tuple[str, str]] = field(default_factory=set)  # (table, column) that accept NULL
    # (table, column) the declarations say are NOT NULL but accept NULL here -> how many rows hold NULL there.
    nulls: dict[tuple[str, str], int] = field(default_factory=dict)
    primary_keys: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # table -> (constraint, columns)
    privileges: Privileges | None = None  # Postgres: what the current role may do
    # view -> its columns in order, each (name, type as the database says); comments are in `comments`.
    views: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def read_catalog(
    session: Session, backend: str, schema: str, tables: Iterable[Table], *, with_privileges: bool = False
) -> Catalog:
    """`with_privileges`: also what the Postgres role may do (for `check`; a sync finds out by doing it)."""
    exists_sql, comments_sql, indexes_sql, keys_sql = _QUERIES[backend]
    params = {"schema": schema}
    privileges = _read_privileges(session, schema) if backend == "postgres" and with_privileges else None
    if not session.query(exists_sql, params)["n"].iloc[0]:
        return Catalog(backend=backend, privileges=privileges)
    catalog = Catalog(schema_exists=True, backend=backend, privileges=privileges)
    for table, column, comment, data_type, is_nullable in session.query(comments_sql, params).itertuples(index=False):
        if column is not None:
            catalog.columns.setdefault(table, set()).add(column)
            catalog.types[(table, column)] = str(data_type)
            if bool(is_nullable):
                catalog.nullable.add((table, column))
        # No comment and an empty one read alike: Postgres stores '' as none.
        catalog.comments[(table, column)] = comment if isinstance(comment, str) else ""
    for name, table, statement in session.query(indexes_sql, params).itertuples(index=False):
        catalog.index_tables[name] = table
        catalog.index_sql[name] = statement
    for table, name, columns in session.query(keys_sql, params).itertuples(index=False):
        catalog.primary_keys[table] = (name, str(columns).split(","))
    for view, column, comment, data_type, _ in session.query(_VIEW_QUERIES[backend], params).itertuples(index=False):
        columns = catalog.views.setdefault(view, [])
        if column is not None:
            columns.append((column, str(data_type)))
        catalog.comments[(view, column)] = comment if isinstance(comment, str) else ""
    _count_nulls(session, catalog, tables, schema)
    return catalog


def _count_nulls(session: Session, catalog: Catalog, tables: Iterable[Table], schema: str) -> None:
    """How many NULLs each column holds that is declared NOT NULL but accepts NULL here (a table an older version
    created): an upgrade may add the constraint only to a column without NULLs. One scan per such table, and only
    until the upgrade added its constraints."""
    privileges = catalog.privileges
    for table in tables:
        wanted = [c.name for c in table.columns if not c.nullable and (table.name, c.name) in catalog.nullable]
        if not wanted:
            continue
        if privileges is None and catalog.backend == "postgres":
            privileges = _read_privileges(session, schema)  # read only when a table of an older version is found
        if privileges and (not privileges.use_schema or "SELECT" in privileges.lacking.get(table.name, [])):
            continue  # unreadable: the privilege problem is what `check` names
        counts = ", ".join(f"count(*) - count({sql.ident(c)}) AS {sql.ident(c)}" for c in wanted)
        row = session.query(f"SELECT {counts} FROM {sql.qualified(table)}").iloc[0]
        for column in wanted:
            catalog.nulls[(table.name, column)] = int(row[column])


@dataclass
class Upgrade:
    """What the database lacks of the declared tables, and the DDL that adds it (in order)."""

    schema_missing: bool = False
    tables: list[str] = field(default_factory=list)  # to create
    columns: list[tuple[str, str]] = field(default_factory=list)  # (table, column) to add to an existing table
    indexes: list[str] = field(default_factory=list)
    retired_indexes: list[str] = field(default_factory=list)  # replaced by an account-led one: dropped
    descriptions: int = 0  # existing tables' and columns' descriptions to mend
    not_null: list[tuple[str, str]] = field(default_factory=list)  # (table, column) to constrain NOT NULL
    rekeyed: list[str] = field(default_factory=list)  # tables gaining the account in their key (every row kept)
    views: list[str] = field(default_factory=list)  # to create
    stale_views: list[str] = field(default_factory=list)  # existing views to replace: their definition changed
    # Not done, only reported: (table, column, NULLs it holds) declared NOT NULL; (table, column, found, declared).
    null_blocked: list[tuple[str, str, int]] = field(default_factory=list)
    retyped: list[tuple[str, str, str, str]] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    schema: str = ""
    # Postgres: why the current role could not run this upgrade, or use the tables after it, and what to do.
    privilege_problem: str | None = None

    def describe(self) -> str:
        """For `check`: what the next sync will create or add, each missing table, column, index and constraint
        named; then what an upgrade does not change (a NOT NULL column holding NULLs, a type unlike the declared
        one), with what to do about it."""
        if self.schema_missing:
            return "it does not exist yet: the first sync creates it"
        named = [
            (self.tables, "table", "to create"),
            ([f"{table}.{column}" for table, column in self.columns], "column", "to add"),
            (self.indexes, "index", "to create"),
            (self.retired_indexes, "index", "to drop, replaced by one led by the account"),
            ([f"{table}.{column}" for table, column in self.not_null], "NOT NULL constraint", "to add"),
            (self.rekeyed, "table", "to key by account, every row kept as account 'default'"),
            (self.views, "view", "to create"),
            (self.stale_views, "view", "to update"),
        ]
        parts = [f"{_count(len(names), noun)} {what} ({', '.join(names)})" for names, noun, what in named if names]
        if self.descriptions:
            parts.append(f"{_count(self.descriptions, 'description')} to update")
        described = "the next sync upgrades it: " + ", ".join(parts) if parts else "up to date"
        return "; ".join([described, *self.warnings()])

    def warnings(self) -> list[str]:
        """What an upgrade leaves as it is, since changing it could change or lose data: each with what to do."""
        found = [
            f"warning: {table}.{column} is declared NOT NULL but holds {_count(n, 'NULL')}, so no sync adds the "
            f"constraint; set a value in those rows or delete them (`SELECT * FROM {self.schema}.{table} WHERE "
            f"{column} IS NULL` lists them), and the next sync adds it"
            for table, column, n in self.null_blocked
        ]
        found += [
            f"warning: {table}.{column} is {found_type}, declared {declared}; no sync changes a column's type: "
            f"convert it yourself if the difference matters (`ALTER TABLE {self.schema}.{table} ALTER COLUMN {column} "
            f"TYPE {declared}`)"
            for table, column, found_type, declared in self.retyped
        ]
        return found


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}{'es' if noun.endswith('x') else 's'}"


def plan_upgrade(catalog: Catalog, tables: Iterable[Table], schema: str, views: Iterable[View] = ()) -> Upgrade:
    """Compare what the database holds with the declared tables and views. Additive only for tables: nothing is
    dropped or retyped, and a NOT NULL constraint is added only to a column holding no NULL (`Upgrade.warnings`
    names the others). A view holds no data: one missing or out of date is created or replaced, after the tables."""
    upgrade = Upgrade(schema_missing=not catalog.schema_exists, schema=schema)
    if upgrade.schema_missing:
        upgrade.statements.append(f"CREATE SCHEMA IF NOT EXISTS {sql.ident(schema)}")
    altered: set[str] = set()  # existing tables the upgrade changes: only their owner may
    for table in tables:
        before = len(upgrade.statements)
        rebuilt: set[str] = set()  # indexes dropped to add a constraint (DuckDB), created again below
        if table.name not in catalog.columns:
            upgrade.tables.append(table.name)
            upgrade.statements.append(create_table_sql(table))
        elif catalog.backend == "duckdb" and (
            _fills(catalog, table) or (_key_changes(catalog, table) and not _key_holding_nulls(catalog, table))
        ):
            rebuilt = _rebuild(catalog, table, upgrade)
        else:
            for column in table.columns:
                if column.name not in catalog.columns[table.name]:
                    upgrade.columns.append((table.name, column.name))
                    upgrade.statements += add_column_sql(table, column)
            _plan_key(catalog, table, upgrade)
            rebuilt = _plan_constraints(catalog, table, upgrade)
        retired = sorted(name for name, on in catalog.index_tables.items() if RETIRED_INDEXES.get(name) == table.name)
        upgrade.retired_indexes += retired
        upgrade.statements += [
            f"DROP INDEX IF EXISTS {sql.ident(table.schema or '')}.{sql.ident(name)}"
            for name in retired
            if name not in rebuilt
        ]
        # A table or column created above comes with its indexes and descriptions: only an existing table's missing
        # index and stale description are named apart.
        for name, statement in create_index_sql(table).items():
            if name in rebuilt:
                upgrade.statements.append(statement)
            elif name not in catalog.index_tables:
                if table.name in catalog.columns:
                    upgrade.indexes.append(name)
                upgrade.statements.append(statement)
        for column_name, text in comments(table).items():
            if table.name in upgrade.rekeyed and catalog.backend == "duckdb":
                upgrade.statements.append(comment_sql(table, column_name, text))  # a new table: none is kept
            elif catalog.comments.get((table.name, column_name)) != text:
                if (table.name, column_name) in catalog.comments:
                    upgrade.descriptions += 1
                upgrade.statements.append(comment_sql(table, column_name, text))
        if table.name in catalog.columns and len(upgrade.statements) > before:
            altered.add(table.name)
    # After the tables: a view is bound to the tables as they are when it is created (DuckDB tracks no view's
    # dependencies, so a table rebuilt under its name above keeps its views working).
    for view in views:
        _plan_view(catalog, view, schema, upgrade)
    altered.update(upgrade.stale_views)
    if catalog.privileges is not None:
        upgrade.privilege_problem = _privilege_problem(catalog.privileges, upgrade, altered, schema)
    return upgrade


def _plan_view(catalog: Catalog, view: View, schema: str, upgrade: Upgrade) -> None:
    """Create a missing view, or replace one whose columns, types or comments (its definition's fingerprint among
    them) differ from the declaration; a view that is as declared is left alone. Postgres replaces a view in place
    (keeping its grants) only when its columns stay a prefix of the new ones, same names and types; otherwise the
    view is dropped and created anew."""
    found = catalog.views.get(view.name)
    declared = [(column.name, view.column_type(column.name)) for column in view.columns]
    if found is not None:
        same_columns = [(name, _type_key(kind)) for name, kind in found] == [
            (name, _type_key(kind)) for name, kind in declared
        ]
        described = all(catalog.comments.get((view.name, column)) == text for column, text in view.comments().items())
        if same_columns and described:
            return
    (upgrade.stale_views if found is not None else upgrade.views).append(view.name)
    if found is not None and catalog.backend == "postgres":
        kept = [(name, _type_key(kind)) for name, kind in found]
        if kept != [(name, _type_key(kind)) for name, kind in declared[: len(kept)]]:
            upgrade.statements.append(drop_view_sql(view, schema))
    upgrade.statements.append(create_view_sql(view, schema))
    upgrade.statements += [view_comment_sql(view, schema, column, text) for column, text in view.comments().items()]


def _privilege_problem(privileges: Privileges, upgrade: Upgrade, altered: set[str], schema: str) -> str | None:
    """What the role lacks to run the upgrade (only an existing table's owner may alter it; CREATE on the schema
    creates tables, CREATE on the database the schema), then to read and write the tables, with what to do."""
    role = privileges.role
    if upgrade.schema_missing:
        if privileges.create_schema:
            return None
        return (
            f"the Postgres role '{role}' may not create the schema {schema} the first sync creates (it lacks CREATE "
            f'on the database). As the database\'s owner or a superuser, run `CREATE SCHEMA "{schema}" '
            f'AUTHORIZATION "{role}"`, or let the owner run the first sync (deploy/README.md); or set {ENV_VAR} to '
            "a role that may"
        )
    if not privileges.use_schema:
        return (
            f"the Postgres role '{role}' may not use the schema {schema} (it lacks USAGE on it). As its owner "
            f'(\'{privileges.schema_owner}\'), run `GRANT USAGE ON SCHEMA "{schema}" TO "{role}"`; or set '
            f"{ENV_VAR} to a role that may"
        )
    needs = []
    stale = set(upgrade.stale_views)
    if not_owned := sorted(altered - privileges.owned):
        owners = sorted({privileges.owners[name] for name in not_owned})
        needs.append(f"only the owner ({', '.join(owners)}) may change {_objects(not_owned, stale)}")
    else:
        owners = []
    if (upgrade.tables or upgrade.views) and not privileges.create_table:
        created = _objects([*upgrade.tables, *upgrade.views], set(upgrade.views))
        needs.append(f"it lacks CREATE on the schema, to create {created}")
        owners = sorted({*owners, privileges.schema_owner or ""} - {""})
    if needs:
        return (
            f"the Postgres role '{role}' cannot run the pending upgrade ({upgrade.describe()}): {'; '.join(needs)}. "
            + owner_upgrade_advice(role, owners, schema)
        )
    if lacking := privileges.lacking:
        named = ", ".join(f"{name} ({', '.join(rights)})" for name, rights in sorted(lacking.items()))
        owner = privileges.owners[sorted(lacking)[0]]
        advice = data_grants_advice(role, owner, schema, f"their owner ('{owner}')")
        return (
            f"the Postgres role '{role}' may not read and write every table of the schema {schema}: it lacks "
            f"privileges on {named}. {advice}; or set {ENV_VAR} to a role that has them"
        )
    return None


def _objects(names: list[str], views: set[str]) -> str:
    """`tables a, b and views c`: the names, tables first."""
    tables = [name for name in names if name not in views]
    named = [
        f"{noun} {', '.join(group)}" for noun, group in (("tables", tables), ("views", sorted(views & set(names))))
    ]
    return " and ".join(part for part, group in zip(named, (tables, views & set(names)), strict=True) if group)


def _fills(catalog: Catalog, table: Table) -> list[str]:
    """The table's missing columns that give existing rows a value (the account)."""
    return [c.name for c in table.columns if "fill" in c.info and c.name not in catalog.columns[table.name]]


def _key_changes(catalog: Catalog, table: Table) -> bool:
    declared = [column.name for column in table.primary_key.columns]
    return declared != catalog.primary_keys.get(table.name, ("", []))[1] and bool(declared)


def _plan_key(catalog: Catalog, table: Table, upgrade: Upgrade) -> None:
    """Postgres: a primary key that gained a column (the account) is dropped and added anew, in place, so the table
    keeps its rows, grants and owner."""
    if _fills(catalog, table) and table.name not in upgrade.rekeyed:
        upgrade.rekeyed.append(table.name)
    if not _key_changes(catalog, table) or _key_holding_nulls(catalog, table):
        return  # a key column holding NULLs is named by the NOT NULL warning; the key waits for it
    target = sql.qualified(table)
    if found := catalog.primary_keys.get(table.name):
        upgrade.statements.append(f"ALTER TABLE {target} DROP CONSTRAINT {sql.ident(found[0])}")
    key = sql.column_list([column.name for column in table.primary_key.columns])
    upgrade.statements.append(f"ALTER TABLE {target} ADD PRIMARY KEY ({key})")


def _key_holding_nulls(catalog: Catalog, table: Table) -> list[str]:
    return [column.name for column in table.primary_key.columns if catalog.nulls.get((table.name, column.name))]


def _rebuild(catalog: Catalog, table: Table, upgrade: Upgrade) -> set[str]:
    """DuckDB changes no table's primary key, nor adds a NOT NULL column to a table with an index: the table is created
    anew under its name, its rows copied (a new column with a `fill`, the account, takes it), the old one dropped, all
    in the upgrade's transaction. A column declared NOT NULL that holds NULLs stays nullable, as an upgrade in place
    leaves it. Returns the indexes to create (all of the table's: the old ones went with it)."""
    existing = catalog.columns[table.name]
    upgrade.rekeyed.append(table.name)
    upgrade.columns += [(table.name, column.name) for column in table.columns if column.name not in existing]
    schema, old = table.schema or "", f"{table.name}__before_upgrade"
    upgrade.statements += [
        f"DROP INDEX {sql.ident(schema)}.{sql.ident(name)}"
        for name, on in sorted(catalog.index_tables.items())
        if on == table.name
    ]
    upgrade.statements.append(f"ALTER TABLE {sql.qualified(table)} RENAME TO {sql.ident(old)}")
    holding_nulls = {column for (name, column), n in catalog.nulls.items() if name == table.name and n}
    upgrade.null_blocked += [(table.name, column, catalog.nulls[(table.name, column)]) for column in holding_nulls]
    # A key column holding NULLs (rows from before it was a key) leaves the table without its key until they are
    # mended: the NOT NULL warning names them, and the next upgrade keys it.
    upgrade.statements.append(
        create_table_sql(table, nullable=holding_nulls, keyed=not _key_holding_nulls(catalog, table))
    )
    kept = [column.name for column in table.columns if column.name in existing]
    filled = {column.name: column.info["fill"] for column in table.columns if "fill" in column.info}
    filled = {name: value for name, value in filled.items() if name not in existing}
    values = [sql.ident(name) for name in kept] + [sql.literal(value) for value in filled.values()]
    upgrade.statements.append(
        f"INSERT INTO {sql.qualified(table)} ({sql.column_list([*kept, *filled])}) "
        f"SELECT {', '.join(values)} FROM {sql.ident(schema)}.{sql.ident(old)}"
    )
    upgrade.statements.append(f"DROP TABLE {sql.ident(schema)}.{sql.ident(old)}")
    ours = create_index_sql(table)
    # Another index (an analyst's) is created again as the database recorded it; a retired one of ours is not.
    upgrade.statements += [
        catalog.index_sql[name]
        for name, on in sorted(catalog.index_tables.items())
        if on == table.name and name not in ours and name not in RETIRED_INDEXES
    ]
    return set(ours) | {name for name, on in catalog.index_tables.items() if on == table.name}


def _plan_constraints(catalog: Catalog, table: Table, upgrade: Upgrade) -> set[str]:
    """An existing table's NOT NULL constraints to add (or report) and its types to report. Returns its declared
    indexes dropped to add a constraint, for the caller to create again: DuckDB alters no table that has an index,
    so its indexes are dropped and created again, in the same transaction."""
    adding: list[str] = []
    for column in table.columns:
        key = (table.name, column.name)
        if key not in catalog.types:
            continue  # added above, as declared
        declared = column_type_sql(column)
        if _type_key(catalog.types[key]) != _type_key(declared):
            upgrade.retyped.append((table.name, column.name, catalog.types[key], declared))
        if column.nullable or key not in catalog.nullable:
            continue
        if nulls := catalog.nulls.get(key, 0):
            upgrade.null_blocked.append((table.name, column.name, nulls))
        else:
            upgrade.not_null.append(key)
            adding.append(set_not_null_sql(table, column))
    if not adding:
        return set()
    dropped = []
    if catalog.backend == "duckdb":
        dropped = sorted(name for name, on in catalog.index_tables.items() if on == table.name)
        upgrade.statements += [f"DROP INDEX {sql.ident(table.schema or '')}.{sql.ident(name)}" for name in dropped]
    upgrade.statements += adding
    # Created again as they were: ours as declared (by the caller), any other as the database recorded it.
    ours = create_index_sql(table)
    upgrade.statements += [
        catalog.index_sql[name] for name in dropped if name not in ours and name not in RETIRED_INDEXES
    ]
    return set(dropped)
