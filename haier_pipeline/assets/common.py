"""Definitions every asset shares: group, owners, pools, partitions and column schemas from the warehouse."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from dagster import (
    AssetCheckSpec,
    AssetsDefinition,
    DailyPartitionsDefinition,
    TableColumn,
    TableSchema,
    asset,
)

from haier_pipeline.shanghai_time import TIMEZONE_NAME
from haier_pipeline.warehouse.tables import build_tables

GROUP = "haier_catalog"
OWNERS = ["team:dealer-data"]
# The rate limit is per account, not per run: every API-calling step across all runs shares one slot.
HAIER_API_POOL = "haier_api"
# DuckDB has one writer per file; steps that only write queue in this pool instead of hitting the lock.
WAREHOUSE_POOL = "warehouse_writer"
STOCK_START_DATE = "2026-01-01"

stock_partitions = DailyPartitionsDefinition(
    start_date=STOCK_START_DATE,
    timezone=TIMEZONE_NAME,
    end_offset=1,  # today's (Asia/Shanghai) partition exists while the day is still running
)

_TABLES = build_tables()


def column_schema(table: str) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(
                name=column.name,
                type=str(column.type).lower(),
                description=column.comment or "",
            )
            for column in _TABLES[table].columns
        ]
    )


def table_metadata(table: str) -> dict[str, Any]:
    return {"dagster/column_schema": column_schema(table), "dagster/table_name": f"haier.{table}"}


def warehouse_kind() -> str:
    """The UI's storage icon follows the configured backend."""
    return "postgres" if os.environ.get("HAIER_WAREHOUSE_URL", "").startswith("postgres") else "duckdb"


def table_asset(
    name: str,
    *,
    description: str,
    pool: str,
    check_specs: Sequence[AssetCheckSpec] = (),
    deps: Sequence[str] = (),
    **options: Any,
) -> Callable[..., AssetsDefinition]:
    """An asset that owns the warehouse table of the same name: the group, owners, kinds and column schema
    every asset here shares."""
    return asset(
        name=name,
        group_name=GROUP,
        owners=OWNERS,
        kinds={"python", "pandas", warehouse_kind()},
        pool=pool,
        deps=list(deps),
        description=description,
        metadata=table_metadata(name),
        check_specs=list(check_specs),
        **options,
    )
