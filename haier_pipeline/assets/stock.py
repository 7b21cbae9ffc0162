"""`stock_snapshots`: for day D, every active procurable product in every configured county, one call each."""

import time
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from haier_pipeline.assets.common import HAIER_API_POOL, table_asset
from haier_pipeline.assets.prices import ACTIVE_PROCURABLE
from haier_pipeline.assets.step import Step, markdown_table, running_step
from haier_pipeline.assets.stock_day import stock_day
from haier_pipeline.checks.rules import every_pair_answered, field_anomalies_spec, schema_gate_spec, stock_rule_specs
from haier_pipeline.haier import HaierClient
from haier_pipeline.progress import Progress
from haier_pipeline.records import NO_WAREHOUSE, STOCK_ROW, Parsed, UnusableAnswer
from haier_pipeline.records.record import Refusal
from haier_pipeline.resources import PipelineSettings
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.warehouse import WarehouseResource


@table_asset(
    "stock_snapshots",
    pool=HAIER_API_POOL,
    deps=["products"],
    description="Stock of today (Asia/Shanghai; the API answers current stock only) per product, county and "
    "warehouse. One call per active "
    "procurable product and configured county; a pair with no warehouse is stored as one row with stock 0 and "
    "null sec_code. Re-materializing a day replaces exactly that day.",
    check_specs=[schema_gate_spec("stock_snapshots"), *stock_rule_specs(), field_anomalies_spec("stock_snapshots")],
)
def stock_snapshots(
    context: dg.AssetExecutionContext,
    haier: HaierClient,
    warehouse: WarehouseResource,
    pipeline: PipelineSettings,
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    day = stock_day(context)
    with running_step(context, warehouse, haier) as step:
        step.partition_key = day.isoformat()  # rejected rows, anomalies and sync_log are kept per stock day
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
        parsed = Parsed(STOCK_ROW)
        for outcome in outcomes:
            product_code, county_code = outcome.item
            item = {"product_code": product_code, "county_code": county_code}
            if outcome.error is not None:
                step.item_failed(item, outcome.error)
                continue
            context_columns = {**item, "snapshot_date": day, "fetched_at": fetched_at}
            parsed.extend(parse_pair(step, outcome.value, context_columns))
        stock = step.absorb(parsed)
        checks = [
            step.gate(pipeline.max_rejected_ratio),
            every_pair_answered(len(pairs), step.unanswered),
            step.anomalies_check(),
        ]
        yield from checks
        step.fail_on_blocking(checks)
        with store.transaction() as tx:
            tx.replace("stock_snapshots", stock, {"snapshot_date": [day]})
            step.close(tx, loaded=len(stock), message=f"{len(pairs)} pairs, day {day}")
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
                "stock_by_county": dg.MetadataValue.md(markdown_table(stock_by_county(stock))),
            }
        )
        yield dg.MaterializeResult(metadata=metadata)


def parse_pair(step: Step, answer: object, context_columns: dict[str, object]) -> Parsed:
    """One pair's warehouse rows. The county's quantity is their sum, so a pair with a refused row is refused
    whole: "not checked" is honest, a total missing one warehouse is not."""
    try:
        pair = STOCK_ROW.parse([NO_WAREHOUSE] if answer is None or answer == [] else answer, context_columns)
    except UnusableAnswer as error:
        item = {key: context_columns[key] for key in ("product_code", "county_code")}
        step.refuse("the answer is not rows", item, f": {error}")
        return Parsed(STOCK_ROW)
    if pair.refused and pair.rows:
        rule = f"refused with its pair ({pair.refused[0].rule}): the county's total would be wrong"
        pair.refused += [Refusal(rule, rule, pd.Series(row).to_json(default_handler=str)) for row in pair.rows]
        pair.rows, pair.anomalies = [], []
    return pair


def stock_by_county(stock: pd.DataFrame) -> pd.DataFrame:
    if stock.empty:
        return pd.DataFrame(columns=["county_code", "total_stock", "products_in_stock"])
    per_pair = stock.groupby(["county_code", "product_code"], as_index=False)["stock"].sum()
    return (
        per_pair.groupby("county_code")
        .agg(total_stock=("stock", "sum"), products_in_stock=("stock", lambda values: int((values > 0).sum())))
        .reset_index()
    )
