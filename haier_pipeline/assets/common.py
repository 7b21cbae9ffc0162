"""Definitions every asset shares: group, owners, pools, cadence (automation conditions and freshness policies)
and column schemas from the warehouse."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import dagster as dg

from haier_pipeline.shanghai_time import TIMEZONE_NAME
from haier_pipeline.warehouse.tables import build_tables

GROUP = "haier_catalog"
OWNERS = ["team:dealer-data"]
# The rate limit is per account, not per run: every API-calling step across all runs shares one slot.
HAIER_API_POOL = "haier_api"
# DuckDB has one writer per file; steps that only write queue in this pool instead of hitting the lock.
WAREHOUSE_POOL = "warehouse_writer"

# When each root runs, Asia/Shanghai time.
MORNING = "30 6 * * *"  # products and prices, before the shop opens
STOCK_TIMES = "0 8,11,14,17,20 * * *"
HOURLY = "0 * * * *"
HALF_HOURLY = "*/30 * * * *"


def on_cadence(cron: str) -> dg.AutomationCondition:
    """`on_cron` for an asset whose upstream changes on its own, slower cadence (stock at 11:00 must not wait for
    a products listing that only runs at 06:30): each tick requests it once, unless it is already running."""
    return (
        dg.AutomationCondition.cron_tick_passed(cron, TIMEZONE_NAME).since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.in_progress()
    ).with_label(f"on_cadence({cron}, {TIMEZONE_NAME})")


def follows_parents() -> dg.AutomationCondition:
    """`eager()`, except that a parent's update counts even when the run that made it also targeted this asset:
    eager() leaves that to the run, and a run that died or failed between the two (a SIGKILL during the ten-minute
    stock step, which runs between prices and price_history) left prices updated and price_history never caught up.
    Here a parent's update stays pending until this asset is updated or requested after it."""
    parent_updated = dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.newly_updated() | dg.AutomationCondition.will_be_requested()
    )
    handled = dg.AutomationCondition.newly_updated() | dg.AutomationCondition.newly_requested()
    return (
        parent_updated.since(handled)
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("follows_parents")


# Roots on their cadence; prices wait for the morning's products; the derived tables follow their parents
# (one rebuild per update of the parents, however many partitions or runs the update spanned).
AUTOMATION: dict[str, dg.AutomationCondition] = {
    "products": on_cadence(MORNING),
    "prices": dg.AutomationCondition.on_cron(MORNING, TIMEZONE_NAME),
    "price_history": follows_parents(),
    "stock_snapshots": on_cadence(STOCK_TIMES),
    "catalog": follows_parents(),
    "account_balances": on_cadence(HOURLY),
    "logistics_events": on_cadence(HALF_HOURLY),
}


def within(fail_after: timedelta, warn_after: timedelta) -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.time_window(fail_window=fail_after, warn_window=warn_after)


DAILY = within(timedelta(hours=26), timedelta(hours=24))
# Stock and the catalog are refreshed 08:00-20:00: the night's 12 h gap is normal, 13 h is not.
STOCK_DAY = within(timedelta(hours=13), timedelta(hours=12, minutes=30))
# Every asset that has a cadence; an asset module's own `freshness_policy=` wins.
FRESHNESS: dict[str, dg.FreshnessPolicy] = {
    "products": DAILY,
    "prices": DAILY,
    "price_history": DAILY,
    "stock_snapshots": STOCK_DAY,
    "catalog": STOCK_DAY,
    "account_balances": within(timedelta(hours=2), timedelta(minutes=90)),
    "logistics_events": within(timedelta(hours=1), timedelta(minutes=45)),
}

_TABLES = build_tables()


def column_schema(table: str) -> dg.TableSchema:
    """The warehouse table's columns as the UI shows them, constraints included; a key of several columns is named
    as the table's constraint, since none of its columns is unique alone."""
    columns = _TABLES[table].columns
    key = [column.name for column in columns if column.primary_key]
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=column.name,
                type=str(column.type).lower(),
                description=column.comment or "",
                constraints=dg.TableColumnConstraints(nullable=bool(column.nullable), unique=key == [column.name]),
            )
            for column in columns
        ],
        constraints=dg.TableConstraints(other=[f"primary key ({', '.join(key)})"]) if key else None,
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
    check_specs: Sequence[dg.AssetCheckSpec] = (),
    deps: Sequence[str] = (),
    **options: Any,
) -> Callable[..., dg.AssetsDefinition]:
    """An asset that owns the warehouse table of the same name: the group, owners, kinds, column schema, automation
    condition and freshness policy every asset here shares."""
    if name in FRESHNESS:
        options.setdefault("freshness_policy", FRESHNESS[name])
    if name in AUTOMATION:
        options.setdefault("automation_condition", AUTOMATION[name])
    return dg.asset(
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
