"""`prices` (current, one row per product) and `price_history` (SCD2 versions of them)."""

import json
from collections.abc import Iterator
from datetime import timedelta

import pandas as pd
from dagster import AssetCheckResult, AssetExecutionContext, FreshnessPolicy, MaterializeResult

from haier_pipeline import frames
from haier_pipeline.assets.common import HAIER_API_POOL, WAREHOUSE_POOL, table_asset
from haier_pipeline.assets.step import running_step
from haier_pipeline.checks.rules import (
    invoice_not_above_supply,
    one_open_version,
    one_open_version_spec,
    price_jump,
    price_rule_specs,
    schema_gate,
    schema_gate_spec,
)
from haier_pipeline.haier import HaierClient
from haier_pipeline.resources import PipelineSettings
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.validation import PricesRaw, split_valid
from haier_pipeline.validation.convert import typed_prices
from haier_pipeline.warehouse import WarehouseResource

DAILY = FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=24))
TRACKED = ["supply_price", "invoice_price", "direct_discount", "rebate_money", "is_sales"]
ACTIVE_PROCURABLE = "SELECT product_code FROM {schema}.products WHERE is_active AND is_sales ORDER BY product_code"


@table_asset(
    "prices",
    pool=HAIER_API_POOL,
    deps=["products"],
    freshness_policy=DAILY,
    description="Dealer price (type PT) of every active procurable product, 20 codes a call over the client's "
    "pool and limiter; exact decimals; rows with a reason (not procurable, price not in effect) kept, flagged.",
    check_specs=[schema_gate_spec("prices"), *price_rule_specs()],
)
def prices(
    context: AssetExecutionContext,
    haier: HaierClient,
    warehouse: WarehouseResource,
    pipeline: PipelineSettings,
) -> Iterator[AssetCheckResult | MaterializeResult]:
    with running_step(context, warehouse, haier) as step:
        store = step.warehouse
        codes = store.query(ACTIVE_PROCURABLE)["product_code"].tolist()
        fetched_at = now_utc()
        rows = []
        for outcome in haier.prices(codes):
            if outcome.error is not None:
                for code in outcome.item:
                    step.refuse(f"request failed: {outcome.error}", json.dumps({"product_code": code}))
                continue
            answered = outcome.value or []
            rows.extend(answered)
            for code in sorted(set(outcome.item) - {row.get("productCode") for row in answered}):
                step.refuse("asked, but the API answered no price row", json.dumps({"product_code": code}))
        split = split_valid(frames.prices_frame(rows, fetched_at), PricesRaw)
        step.quarantine(split)
        current = typed_prices(split.valid)
        previous = store.query("SELECT product_code, supply_price FROM {schema}.prices")
        checks = [
            schema_gate(split, pipeline.max_rejected_ratio, refused=step.total - split.total),
            invoice_not_above_supply(current),
            price_jump(current[["product_code", "supply_price"]], previous),
        ]
        yield from checks
        step.fail_on_blocking(checks)
        with store.transaction() as tx:
            tx.upsert("prices", current)
            step.close(tx, loaded=len(current), message=f"{len(current)} prices for {len(codes)} products")
        metadata = step.metadata(
            len(current),
            step.table_rows("prices"),
            current[["product_code", "supply_price", "invoice_price", "is_sales", "reason"]],
        )
        metadata["products_asked"] = len(codes)
        yield MaterializeResult(metadata=metadata)


@table_asset(
    "price_history",
    pool=WAREHOUSE_POOL,
    deps=["prices"],
    description="Slowly changing dimension (type 2) of prices: a new version when supply price, invoice price, "
    "direct discount, rebate or procurability changes; the open version has valid_to null. No API calls.",
    check_specs=[one_open_version_spec()],
)
def price_history(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> Iterator[AssetCheckResult | MaterializeResult]:
    with running_step(context, warehouse) as step:
        store = step.warehouse
        current = store.query("SELECT product_code, " + ", ".join(TRACKED) + ", fetched_at FROM {schema}.prices")
        step.total = len(current)
        observed_at = pd.Timestamp(current["fetched_at"].max()).to_pydatetime() if len(current) else now_utc()
        with store.transaction() as tx:
            opened, closed = tx.scd2(
                "price_history",
                current[["product_code", *TRACKED]],
                key=["product_code"],
                tracked=TRACKED,
                at=observed_at,
            )
            open_versions = tx.query(
                "SELECT p.product_code, count(h.product_code) AS open_versions FROM {schema}.prices p "
                "LEFT JOIN {schema}.price_history h ON h.product_code = p.product_code AND h.valid_to IS NULL "
                "GROUP BY p.product_code"
            )
            step.close(tx, loaded=opened, message=f"{opened} versions opened, {closed} closed")
        yield one_open_version(open_versions)
        metadata = step.metadata(opened, step.table_rows("price_history"))
        metadata.update({"versions_opened": opened, "versions_closed": closed})
        yield MaterializeResult(metadata=metadata)
