"""`stock_snapshots`: for day D, every active procurable product in every configured county, one call each."""

import json
import time
from collections.abc import Iterator

import pandas as pd
from dagster import AssetCheckResult, AssetExecutionContext, MaterializeResult, MetadataValue

from haier_pipeline import frames
from haier_pipeline.assets.common import HAIER_API_POOL, table_asset
from haier_pipeline.assets.prices import ACTIVE_PROCURABLE
from haier_pipeline.assets.step import markdown_table, running_step
from haier_pipeline.assets.stock_day import stock_day
from haier_pipeline.checks.rules import (
    every_pair_answered,
    schema_gate,
    schema_gate_spec,
    stock_non_negative,
    stock_rule_specs,
)
from haier_pipeline.haier import HaierClient
from haier_pipeline.progress import Progress
from haier_pipeline.resources import PipelineSettings
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.validation import StockRaw, split_valid
from haier_pipeline.validation.convert import typed_stock
from haier_pipeline.warehouse import WarehouseResource


@table_asset(
    "stock_snapshots",
    pool=HAIER_API_POOL,
    deps=["products"],
    description="Stock of today (Asia/Shanghai; the API answers current stock only) per product, county and "
    "warehouse. One call per active "
    "procurable product and configured county; a pair with no warehouse is stored as one row with stock 0 and "
    "null sec_code. Re-materializing a day replaces exactly that day.",
    check_specs=[schema_gate_spec("stock_snapshots"), *stock_rule_specs()],
)
def stock_snapshots(
    context: AssetExecutionContext,
    haier: HaierClient,
    warehouse: WarehouseResource,
    pipeline: PipelineSettings,
) -> Iterator[AssetCheckResult | MaterializeResult]:
    day = stock_day(context)
    with running_step(context, warehouse, haier) as step:
        store = step.warehouse
        codes = store.query(ACTIVE_PROCURABLE)["product_code"].tolist()
        counties = pipeline.counties()
        pairs = [(code, county) for code in codes for county in counties]
        context.log.info(f"stock for {day}: {len(codes)} products x {len(counties)} counties = {len(pairs)} calls")
        fetched_at = now_utc()
        started = time.monotonic()
        progress = Progress(f"stock {day}", len(pairs), stats=step.api)
        outcomes = haier.stock_for_pairs(pairs, progress=progress.update)
        progress.finish()
        elapsed = time.monotonic() - started
        answers = []
        for outcome in outcomes:
            if outcome.error is not None:
                product_code, county_code = outcome.item
                step.refuse(
                    f"request failed: {outcome.error}",
                    json.dumps({"product_code": product_code, "county_code": county_code}),
                )
            else:
                answers.append((outcome.item, outcome.value or []))
        unanswered = len(pairs) - len(answers)
        split = split_valid(frames.stock_frame(answers, day, fetched_at), StockRaw)
        step.quarantine(split)
        stock = typed_stock(split.valid)
        checks = [
            schema_gate(split, pipeline.max_rejected_ratio, refused=unanswered),
            stock_non_negative(stock),
            every_pair_answered(len(pairs), unanswered),
        ]
        yield from checks
        step.fail_on_blocking(checks)
        with store.transaction() as tx:
            tx.replace("stock_snapshots", stock, {"snapshot_date": [day]})
            step.close(tx, loaded=len(stock), message=f"{len(pairs)} pairs, {unanswered} unanswered, day {day}")
        day_rows = int(
            store.query("SELECT count(*) AS n FROM {schema}.stock_snapshots WHERE snapshot_date = :day", {"day": day})[
                "n"
            ].iloc[0]
        )
        metadata = step.metadata(len(stock), day_rows)
        metadata.update(
            {
                "pairs": len(pairs),
                "calls_per_second": round(len(pairs) / elapsed, 1) if elapsed else 0.0,
                "stock_by_county": MetadataValue.md(markdown_table(stock_by_county(stock))),
            }
        )
        yield MaterializeResult(metadata=metadata)


def stock_by_county(stock: pd.DataFrame) -> pd.DataFrame:
    if stock.empty:
        return pd.DataFrame(columns=["county_code", "total_stock", "products_in_stock"])
    per_pair = stock.groupby(["county_code", "product_code"], as_index=False)["stock"].sum()
    return (
        per_pair.groupby("county_code")
        .agg(total_stock=("stock", "sum"), products_in_stock=("stock", lambda values: int((values > 0).sum())))
        .reset_index()
    )
