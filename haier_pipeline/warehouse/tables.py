"""The warehouse tables, shared by DuckDB and Postgres. Record tables take their columns (type, range and
description) from the record declarations; the rest are the pipeline's own bookkeeping.

DDL is compiled with the Postgres dialect for both backends: DuckDB accepts it for every type used here.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from sqlalchemy import CheckConstraint, Column, Index, MetaData, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.endpoints import Endpoint, endpoints
from haier_pipeline.endpoints.stock_snapshots import STOCK_ROW
from haier_pipeline.records import Record
from haier_pipeline.records.kinds import BIG_COUNT, COUNT, DAY, JSON, MOMENT, TEXT, JsonKind, Kind

DEFAULT_SCHEMA = "haier"

# The pipeline's own tables, after the endpoints' (`haier_pipeline.endpoints`).
BOOKKEEPING_TABLES: tuple[str, ...] = (
    "rejected_rows",
    "field_anomalies",
    "sync_log",
    "stock_lookups",
    "stock_answers",
    "stock_staged_rows",
    "stock_coverage",
    "schema_changes",
)


def table_names() -> tuple[str, ...]:
    """Every table: one per endpoint, in dependency order, then the pipeline's own."""
    return (*(declared.name for declared in endpoints()), *BOOKKEEPING_TABLES)


SYNC_STATUSES = ("success", "partial", "failed")
# Every table but schema_changes belongs to one dealer account: `account` leads its key and its indexes. Rows written
# before accounts existed are the single account's, named DEFAULT_ACCOUNT (an upgrade fills them in: `fill`).
ACCOUNT = "account"
# Indexes of earlier versions, each replaced by one the account leads: an upgrade drops them (index -> its table).
RETIRED_INDEXES = {
    "ix_stock_snapshots_day_product_county": "stock_snapshots",
    "ix_logistics_events_order_code": "logistics_events",
    "ix_stock_lookups_product_county": "stock_lookups",
    "ix_stock_staged_rows_day_product_county": "stock_staged_rows",
}

# Lower-case identifiers only, so names never need quoting or case folding on either backend.
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_DIALECT = postgresql.dialect()


def _column(name: str, kind: Kind, description: str, **options: Any) -> Column:
    info = {"json": True} if isinstance(kind, JsonKind) else {}
    return Column(name, kind.sql_type(), comment=description, info=info, **options)


def _account(*, key: bool) -> Column:
    column = _column(
        ACCOUNT,
        TEXT,
        f"The dealer account the row belongs to (HAIER_ACCOUNTS_FILE); '{DEFAULT_ACCOUNT}' for a single-account setup "
        "and for the rows written before accounts existed.",
        primary_key=key,
        nullable=False,
    )
    column.info["fill"] = DEFAULT_ACCOUNT
    return column


def _record_columns(record: Record, *names: str, primary_key: tuple[str, ...] = ()) -> list[Column]:
    fields = [record.field(name) for name in names] if names else list(record.fields)
    return [
        _column(f.column, f.kind, f.description, primary_key=f.column in primary_key, nullable=not f.required)
        for f in fields
    ]


def check_schema_name(schema: str) -> str:
    if not isinstance(schema, str) or not _SCHEMA_NAME.match(schema):
        raise ValueError(f"schema name must match {_SCHEMA_NAME.pattern}, got {schema!r}")
    return schema


def build_tables(schema: str = DEFAULT_SCHEMA) -> dict[str, Table]:
    """Every table in `schema`, keyed by name, in `table_names()` order."""
    md = MetaData(schema=check_schema_name(schema))
    for declared in endpoints():
        endpoint_table(md, declared)
    Table(
        "rejected_rows",
        md,
        _account(key=False),
        *_step_columns(),
        _column("reason", TEXT, "The rule the input broke, with the value that broke it."),
        _column("payload", JSON, "What the vendor sent (and the item asked for), JSON, secrets removed."),
        _column("rejected_at", MOMENT, "When the step refused it."),
        # Each step deletes its asset's rows older than the retention (assets/step.py).
        Index("ix_rejected_rows_asset_rejected_at", "asset", "rejected_at"),
        comment="One row per refused input (bad key or measure, unanswered item), per run, kept 90 days.",
    )
    Table(
        "field_anomalies",
        md,
        _account(key=False),
        *_step_columns(),
        _column("row_key", TEXT, "The stored row the value belongs to (its key columns joined by /)."),
        _column("field", TEXT, "The column stored as NULL."),
        _column("raw_value", TEXT, "What the vendor sent, JSON, secrets removed, truncated to 200 characters."),
        _column("reason", TEXT, "Why it could not be read."),
        _column("recorded_at", MOMENT, "When the step recorded it."),
        Index("ix_field_anomalies_asset_recorded_at", "asset", "recorded_at"),
        comment="One row per descriptive value stored as NULL because it could not be read (the row was kept), per "
        "run, kept 90 days.",
    )
    Table(
        "sync_log",
        md,
        _account(key=False),
        _column("run_id", TEXT, "The Dagster run."),
        _column("sync_type", TEXT, "The asset (step).", nullable=False),
        _column("partition_key", TEXT, "The stock day, for stock_snapshots."),
        _column("status", TEXT, "success, partial (some input refused or unanswered) or failed.", nullable=False),
        _column("total_count", COUNT, "Inputs the step handled (rows and items)."),
        _column("success_count", COUNT, "Rows loaded."),
        _column("failed_count", COUNT, "Inputs refused (see rejected_rows)."),
        _column("unanswered_count", COUNT, "Items the API left unanswered after every retry."),
        _column("api_calls", COUNT, "HTTP requests sent, retries and token fetches included."),
        _column("retries", COUNT, "Requests that were retries."),
        _column("throttled", COUNT, "Answers that were 429."),
        _column("started_at", MOMENT, "When the step started."),
        _column("completed_at", MOMENT, "When the step ended."),
        _column("message", TEXT, "What happened, in one line."),
        CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in SYNC_STATUSES) + ")", name="ck_sync_log_status"),
        comment="One row per asset step, failed ones too.",
    )
    Table(
        "stock_lookups",
        md,
        _account(key=False),
        *_record_columns(STOCK_ROW),
        Index("ix_stock_lookups_account_product_county", ACCOUNT, "product_code", "county_code"),
        comment="The latest `query stock` answer per product and county: a cache outside the asset tables, "
        "so that only materializations write those.",
    )
    Table(
        "stock_answers",
        md,
        _account(key=True),
        _column("snapshot_date", DAY, "The stock day being recorded.", primary_key=True),
        _column("product_code", TEXT, "The product asked for.", primary_key=True),
        _column("county_code", TEXT, "The county asked for.", primary_key=True),
        _column("fetched_at", MOMENT, "When the answer arrived."),
        _column("answer", JSON, "The vendor's answer (JSON), as it was sent."),
        _column("refusal", TEXT, "The vendor's refusal of this pair, when it refused it instead of answering."),
        _column(
            "run_id",
            TEXT,
            "The run that fetched it. The day's commit parses again the answers of earlier runs, so that their "
            "refused rows and anomalies are recorded.",
        ),
        comment="Checkpoint of a stock day in progress: each answered pair as it arrives, so a rerun after a crash "
        "asks only the rest. Cleared when the day is committed to stock_snapshots.",
    )
    Table(
        "stock_staged_rows",
        md,
        _account(key=False),
        *_record_columns(STOCK_ROW),
        Index(
            "ix_stock_staged_rows_account_day_product_county", ACCOUNT, "snapshot_date", "product_code", "county_code"
        ),
        comment="The stock_snapshots rows of a stock day in progress, parsed and validated from stock_answers as "
        "the answers arrive; moved to stock_snapshots in one statement when the day is committed, then cleared.",
    )
    Table(
        "stock_coverage",
        md,
        _account(key=True),
        _column("product_code", TEXT, "The product.", primary_key=True),
        _column("county_code", TEXT, "The county.", primary_key=True),
        _column("last_checked_day", DAY, "The newest stock day with an answer for this pair."),
        _column("last_checked_at", MOMENT, "When that answer arrived."),
        _column("last_stock", BIG_COUNT, "Units in the county when last checked (all warehouses)."),
        _column("skipped_at", MOMENT, "When a call budget or deadline last left this pair unasked (asked first next)."),
        comment="One row per (product, county) ever planned: when it was last checked, and whether a budget skipped "
        "it. Orders the next stock step and feeds the catalog's per-county totals.",
    )
    Table(
        "schema_changes",
        md,
        _column("table_name", TEXT, "The table an upgrade added a column to.", primary_key=True),
        _column(
            "column_name", TEXT, "The column added (nullable: the rows before have no value for it).", primary_key=True
        ),
        _column("added_at", MOMENT, "When the upgrade added it."),
        _column(
            "settled_at",
            MOMENT,
            "When the step that owns the table adopted the column's first values (price_history: into the open "
            "versions, instead of opening versions that only say the column appeared); null until then.",
        ),
        comment="Columns added to existing tables by additive evolution, so that history tables can tell a value "
        "that was not recorded yet from a value that changed.",
    )
    return {name: md.tables[f"{schema}.{name}"] for name in table_names()}


def endpoint_table(md: MetaData, declared: Endpoint) -> Table:
    """The endpoint's table: its account, then its declared columns; the account leads its key and indexes."""
    spec = declared.table
    return Table(
        declared.name,
        md,
        _account(key=bool(spec.key)),
        *(
            _column(column.name, column.kind, column.description, primary_key=column.name in spec.key)
            if column.name in spec.key
            else _column(column.name, column.kind, column.description, nullable=column.nullable)
            for column in declared.columns
        ),
        *(Index(name, ACCOUNT, *columns) for name, columns in spec.indexes.items()),
        comment=spec.comment,
    )


def _step_columns() -> list[Column]:
    return [
        _column("asset", TEXT, "The asset (step) that recorded it.", nullable=False),
        _column("partition_key", TEXT, "The stock day, for stock_snapshots; null otherwise (as in sync_log)."),
        _column("run_id", TEXT, "The Dagster run."),
    ]


def primary_key(table: Table) -> list[str]:
    return [column.name for column in table.primary_key.columns]


def create_table_sql(table: Table, nullable: Collection[str] = (), *, keyed: bool = True) -> str:
    """The table's CREATE TABLE; the columns in `nullable` without their NOT NULL, and without its primary key unless
    `keyed` (an upgrade rebuilding a table whose old rows hold NULLs there)."""
    if nullable or not keyed:
        table = Table(
            table.name,
            MetaData(schema=table.schema),
            *(
                Column(
                    column.name,
                    column.type,
                    primary_key=column.primary_key and keyed,
                    nullable=column.nullable or column.name in nullable,
                )
                for column in table.columns
            ),
        )
    return str(CreateTable(table, if_not_exists=True).compile(dialect=_DIALECT)).strip()


def create_index_sql(table: Table) -> dict[str, str]:
    """Each index's CREATE INDEX, by index name."""
    return {
        str(index.name): str(CreateIndex(index, if_not_exists=True).compile(dialect=_DIALECT)).strip()
        for index in sorted(table.indexes, key=lambda ix: ix.name or "")
    }


def comments(table: Table) -> dict[str | None, str]:
    """The table's description (key None) and each column's: the same text on DuckDB and Postgres."""
    return {None: table.comment or "", **{column.name: column.comment or "" for column in table.columns}}


def comment_sql(table: Table, column: str | None, text: str) -> str:
    target = f'"{table.schema}"."{table.name}"'
    if column is None:
        return f"COMMENT ON TABLE {target} IS {_literal(text)}"
    return f'COMMENT ON COLUMN {target}."{column}" IS {_literal(text)}'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def column_type_sql(column: Column) -> str:
    return column.type.compile(dialect=_DIALECT)


def add_column_sql(table: Table, column: Column) -> list[str]:
    """An existing table's new column: nullable, since its rows have no value for it; a column with a `fill` (the
    account) gives them that value and is NOT NULL."""
    target = f'"{table.schema}"."{table.name}"'
    add = f'ALTER TABLE {target} ADD COLUMN "{column.name}" {column_type_sql(column)}'
    if (fill := column.info.get("fill")) is None:
        return [add]
    return [
        f"{add} NOT NULL DEFAULT {_literal(fill)}",
        f'ALTER TABLE {target} ALTER COLUMN "{column.name}" DROP DEFAULT',
    ]


def set_not_null_sql(table: Table, column: Column) -> str:
    return f'ALTER TABLE "{table.schema}"."{table.name}" ALTER COLUMN "{column.name}" SET NOT NULL'
