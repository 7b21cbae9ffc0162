"""The one definition of the warehouse tables, shared by DuckDB and Postgres.

DDL is compiled with the Postgres dialect for both backends: DuckDB accepts it for every type used here
(TEXT, BOOLEAN, INTEGER, BIGINT, NUMERIC(p, s), DATE, TIMESTAMP WITH TIME ZONE).
"""

from __future__ import annotations

import re

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

DEFAULT_SCHEMA = "haier"

TABLE_NAMES: tuple[str, ...] = (
    "products",
    "prices",
    "price_history",
    "stock_snapshots",
    "catalog",
    "account_balances",
    "logistics_events",
    "rejected_rows",
    "sync_log",
    "stock_lookups",
)

SYNC_STATUSES = ("success", "partial", "failed")

# Lower-case identifiers only, so names never need quoting or case folding on either backend.
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_DIALECT = postgresql.dialect()


def _money(name: str, **kw) -> Column:
    return Column(name, Numeric(18, 4), **kw)


def _timestamp(name: str, **kw) -> Column:
    return Column(name, DateTime(timezone=True), **kw)


def _json(name: str, **kw) -> Column:
    # JSON is stored as TEXT (portable); the flag lets the converter accept lists/dicts and dump them.
    return Column(name, Text, info={"json": True}, **kw)


def check_schema_name(schema: str) -> str:
    if not isinstance(schema, str) or not _SCHEMA_NAME.match(schema):
        raise ValueError(f"schema name must match {_SCHEMA_NAME.pattern}, got {schema!r}")
    return schema


def build_tables(schema: str = DEFAULT_SCHEMA) -> dict[str, Table]:
    """All nine tables in `schema`, keyed by name, in TABLE_NAMES order."""
    md = MetaData(schema=check_schema_name(schema))
    Table(
        "products",
        md,
        Column("product_code", Text, primary_key=True),
        Column("product_model", Text),
        Column("product_group", Text),
        Column("brand", Text),
        Column("image_url", Text),
        _json("leaflet_urls"),
        Column("is_sales", Boolean),
        Column("no_sales_reason", Text),
        Column("is_active", Boolean, nullable=False),
        _timestamp("first_seen_at"),
        _timestamp("last_seen_at"),
    )
    Table(
        "prices",
        md,
        Column("product_code", Text, primary_key=True),
        _money("supply_price"),
        _money("invoice_price"),
        Column("direct_discount", Numeric(12, 6)),
        _money("rebate_money"),
        _money("market_price"),
        Column("is_sales", Boolean),
        Column("reason", Text),
        _timestamp("fetched_at"),
    )
    Table(
        "price_history",
        md,
        Column("product_code", Text, primary_key=True),
        _money("supply_price"),
        _money("invoice_price"),
        Column("direct_discount", Numeric(12, 6)),
        _money("rebate_money"),
        Column("is_sales", Boolean),
        _timestamp("valid_from", primary_key=True),
        _timestamp("valid_to"),
    )
    Table(
        "stock_snapshots",
        md,
        Column("snapshot_date", Date, nullable=False),
        Column("product_code", Text, nullable=False),
        Column("county_code", Text, nullable=False),
        Column("sec_code", Text),
        Column("stock", Integer),
        Column("warehouse_grade", Text),
        Column("cut_time", Text),  # e.g. "16:00", the order cut-off time of day
        Column("delivery_date", Date),
        Column("delivery_hours", Integer),
        Column("is_transfer", Boolean),
        _timestamp("fetched_at"),
        Index("ix_stock_snapshots_day_product_county", "snapshot_date", "product_code", "county_code"),
    )
    Table(
        "catalog",
        md,
        Column("product_code", Text, primary_key=True),
        Column("product_model", Text),
        Column("product_group", Text),
        Column("brand", Text),
        Column("is_sales", Boolean),
        _money("supply_price"),
        _money("invoice_price"),
        Column("total_stock", BigInteger),
        Column("counties_in_stock", Integer),
        Column("counties_checked", Integer),
        Column("stock_snapshot_date", Date),
        Column("best_delivery_hours", Integer),
        _timestamp("updated_at"),
    )
    Table(
        "account_balances",
        md,
        _timestamp("fetched_at", primary_key=True),
        Column("sale_group_code", Text, primary_key=True),
        Column("sale_group_name", Text),
        Column("payer_account_code", Text),
        Column("payer_account_name", Text),
        _money("balance"),
    )
    Table(
        "logistics_events",
        md,
        Column("order_code", Text, nullable=False),
        Column("source_list", Text),
        _json("record"),
        _timestamp("fetched_at"),
        # replace() deletes by order_code on every logistics run.
        Index("ix_logistics_events_order_code", "order_code"),
    )
    Table(
        "rejected_rows",
        md,
        Column("asset", Text, nullable=False),
        Column("partition_key", Text),
        Column("run_id", Text),
        Column("reason", Text),
        _json("payload"),
        _timestamp("rejected_at"),
    )
    Table(
        "sync_log",
        md,
        Column("run_id", Text),
        Column("sync_type", Text, nullable=False),
        Column("partition_key", Text),
        Column("status", Text, nullable=False),
        Column("total_count", Integer),
        Column("success_count", Integer),
        Column("failed_count", Integer),
        Column("api_calls", Integer),
        Column("retries", Integer),
        Column("throttled", Integer),
        _timestamp("started_at"),
        _timestamp("completed_at"),
        Column("message", Text),
        CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in SYNC_STATUSES) + ")", name="ck_sync_log_status"),
    )
    # `query stock` answers: a cache outside the asset tables, so that only materializations write those. The
    # latest answer per (product, county) is kept, with the columns of stock_snapshots.
    Table(
        "stock_lookups",
        md,
        Column("snapshot_date", Date, nullable=False),
        Column("product_code", Text, nullable=False),
        Column("county_code", Text, nullable=False),
        Column("sec_code", Text),
        Column("stock", Integer),
        Column("warehouse_grade", Text),
        Column("cut_time", Text),
        Column("delivery_date", Date),
        Column("delivery_hours", Integer),
        Column("is_transfer", Boolean),
        _timestamp("fetched_at"),
        Index("ix_stock_lookups_product_county", "product_code", "county_code"),
    )
    return {name: md.tables[f"{schema}.{name}"] for name in TABLE_NAMES}


def primary_key(table: Table) -> list[str]:
    return [column.name for column in table.primary_key.columns]


def create_table_sql(table: Table) -> str:
    return str(CreateTable(table, if_not_exists=True).compile(dialect=_DIALECT)).strip()


def create_index_sql(table: Table) -> list[str]:
    return [
        str(CreateIndex(index, if_not_exists=True).compile(dialect=_DIALECT)).strip()
        for index in sorted(table.indexes, key=lambda ix: ix.name or "")
    ]


def column_type_sql(column: Column) -> str:
    return column.type.compile(dialect=_DIALECT)


def add_column_sql(table: Table, column: Column) -> str:
    # Added columns are always nullable: existing rows have no value for them.
    return f'ALTER TABLE "{table.schema}"."{table.name}" ADD COLUMN "{column.name}" {column_type_sql(column)}'
