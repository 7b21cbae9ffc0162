"""`query stock`: answer from the warehouse while a recorded answer is fresh, else ask the API and record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from haier_pipeline.haier import HaierClient, HaierRequestError
from haier_pipeline.records import NO_WAREHOUSE, STOCK_ROW
from haier_pipeline.shanghai_time import now_utc, today_in_shanghai
from haier_pipeline.warehouse import Warehouse


@dataclass(frozen=True)
class StockAnswer:
    rows: pd.DataFrame
    source: str


def cached_stock(
    client: HaierClient, warehouse_url: str, product_code: str, county_code: str, ttl: float
) -> StockAnswer:
    warehouse = Warehouse.from_url(warehouse_url)
    warehouse.ensure_schema()
    fresh_since = now_utc() - timedelta(seconds=ttl)
    cached = warehouse.query(
        "SELECT * FROM {schema}.stock_snapshots WHERE product_code = :code AND county_code = :county "
        "AND fetched_at = (SELECT max(fetched_at) FROM {schema}.stock_snapshots "
        "WHERE product_code = :code AND county_code = :county) AND fetched_at >= :since "
        "ORDER BY sec_code NULLS FIRST",
        {"code": product_code, "county": county_code, "since": fresh_since},
    )
    if not cached.empty:
        age = (now_utc() - pd.Timestamp(cached["fetched_at"].iloc[0]).to_pydatetime()).total_seconds()
        return StockAnswer(
            cached[STOCK_ROW.columns].reset_index(drop=True), f"from the warehouse, fetched {age:.0f} s ago"
        )

    fetched_at = now_utc()
    day = today_in_shanghai()
    answer = client.stock(product_code, county_code) or [NO_WAREHOUSE]
    context = {"snapshot_date": day, "product_code": product_code, "county_code": county_code, "fetched_at": fetched_at}
    parsed = STOCK_ROW.parse(answer, context)
    if parsed.refused:
        raise HaierRequestError(
            "stock",
            200,
            "rows failed validation: " + "; ".join(refusal.reason for refusal in parsed.refused),
            "Nothing was recorded; the same rows would be quarantined by a sync.",
        )
    rows = parsed.frame()
    with warehouse.transaction() as tx:
        tx.replace(
            "stock_snapshots",
            rows,
            {"snapshot_date": [day], "product_code": [product_code], "county_code": [county_code]},
        )
    return StockAnswer(rows, "from the API, recorded in the warehouse")
