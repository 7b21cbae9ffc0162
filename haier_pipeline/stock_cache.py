"""`query stock`: answer from the warehouse while a recorded answer is fresh, else ask the API.

A fresh row may come from a materialization (`stock_snapshots`) or from an earlier lookup (`stock_lookups`). An
answer from the API is cached in `stock_lookups` only: an ad-hoc lookup never writes an asset table, which only
materializations write (with their checks, gate and sync_log row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.endpoints.stock_snapshots import NO_WAREHOUSE, STOCK_ROW
from haier_pipeline.haier import HaierRequestError
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.shanghai_time import now_utc, today_in_shanghai
from haier_pipeline.warehouse.errors import WarehouseLockTimeout, WarehouseStorageError
from haier_pipeline.warehouse.warehouse import Warehouse

CACHE_TABLE = "stock_lookups"
NEWEST_ANSWER = (
    "SELECT * FROM {{schema}}.{table} WHERE account = :account AND product_code = :code AND county_code = :county "
    "AND fetched_at = (SELECT max(fetched_at) FROM {{schema}}.{table} "
    "WHERE account = :account AND product_code = :code AND county_code = :county) AND fetched_at >= :since"
)


@dataclass(frozen=True)
class StockAnswer:
    rows: pd.DataFrame
    source: str


def fresh_answer(
    warehouse: Warehouse, product_code: str, county_code: str, ttl: float, account: str = DEFAULT_ACCOUNT
) -> StockAnswer | None:
    """The account's newest recorded answer for the pair younger than `ttl` seconds, from either table."""
    since = now_utc() - timedelta(seconds=ttl)
    newest: StockAnswer | None = None
    newest_at = None
    for table, where in (("stock_snapshots", "a sync"), (CACHE_TABLE, "an earlier lookup")):
        rows = warehouse.query(
            NEWEST_ANSWER.format(table=table),
            {"account": account, "code": product_code, "county": county_code, "since": since},
        )
        if rows.empty:
            continue
        fetched_at = pd.Timestamp(rows["fetched_at"].iloc[0]).to_pydatetime()
        if newest_at is None or fetched_at > newest_at:
            age = (now_utc() - fetched_at).total_seconds()
            ordered = rows.sort_values("sec_code", na_position="first")[STOCK_ROW.columns].reset_index(drop=True)
            newest, newest_at = (
                StockAnswer(ordered, f"from the warehouse ({where}), fetched {age:.0f} s ago"),
                fetched_at,
            )
    return newest


def cached_stock(
    client: HaierClient,
    warehouse: Warehouse,
    product_code: str,
    county_code: str,
    ttl: float,
    account: str = DEFAULT_ACCOUNT,
) -> StockAnswer:
    """The warehouse's fresh answer, else the API's (cached). A warehouse another program holds (a DuckDB shell left
    open on the file) is a cache out of reach, not a failed lookup: the API answers, uncached."""
    try:
        warehouse.ensure_schema()
        cached = fresh_answer(warehouse, product_code, county_code, ttl, account)
    except WarehouseLockTimeout as busy:
        rows = _ask(client, product_code, county_code)
        return StockAnswer(rows, f"from the API; the warehouse was not read nor written: {busy}")
    if cached is not None:
        return cached
    rows = _ask(client, product_code, county_code)
    try:
        with warehouse.transaction() as tx:
            match = {"account": [account], "product_code": [product_code], "county_code": [county_code]}
            tx.replace(CACHE_TABLE, rows.assign(account=account), match)
    except (WarehouseStorageError, WarehouseLockTimeout) as error:
        # The answer is what was asked for: a disk that cannot hold the cache, or a busy file, must not lose it.
        return StockAnswer(rows, f"from the API; not cached: {error}")
    return StockAnswer(rows, f"from the API, cached in {CACHE_TABLE}")


def _ask(client: HaierClient, product_code: str, county_code: str) -> pd.DataFrame:
    """The API's answer for the pair as the rows a sync would load; refused rows fail the lookup."""
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
    return parsed.frame()[STOCK_ROW.columns]
