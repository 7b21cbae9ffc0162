"""Stock of one product in one county (haier-api.md §3): one call per active procurable product and county, every
configured county, today only (the API answers current stock)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from haier_pipeline.endpoints.declaration import AccountField, Cron, Endpoint, Freshness, Request, StockDay, Table
from haier_pipeline.endpoints.prices import FETCHED_AT
from haier_pipeline.records import Field, Record, Role
from haier_pipeline.records.kinds import COUNT, COUNTY_CODE, DAY, FLAG, PRODUCT_CODE, TEXT, WAREHOUSE_GRADE

KEY, MEASURE, DESCRIPTIVE = Role.KEY, Role.MEASURE, Role.DESCRIPTIVE

# An answer with no warehouse rows is stored as this one row: "checked, none" differs from "not checked".
NO_WAREHOUSE = {"stock": "0"}


def _stock_rule(row: dict[str, Any], vendor_row: dict[str, Any]) -> str | None:
    """Every warehouse row names its storage location: a row without one cannot be told from another (two such rows
    would both count), and one of stock 0 would pass for "checked, none", which only NO_WAREHOUSE stands for."""
    if row["sec_code"] is None and vendor_row is not NO_WAREHOUSE:
        return "sec_code: is missing"
    return None


STOCK_ROW = Record(
    name="stock warehouse row",
    endpoint="stock",
    key=("product_code", "county_code", "sec_code"),
    rule=_stock_rule,
    fields=(
        Field("snapshot_date", DAY, KEY, "The Asia/Shanghai day the stock was recorded.", required=True),
        Field("product_code", PRODUCT_CODE, KEY, "The product asked for.", required=True),
        Field("county_code", COUNTY_CODE, KEY, "The 6-digit county code asked for.", required=True),
        Field("sec_code", TEXT, KEY, "Storage location (库位) code; null when no warehouse serves.", "secCode"),
        Field("stock", COUNT, MEASURE, "Available quantity in this warehouse.", "stock", required=True),
        Field(
            "warehouse_grade",
            WAREHOUSE_GRADE,
            DESCRIPTIVE,
            '"0" local (本级仓), "1" upper level (上级仓).',
            "warehouseGrade",
        ),
        Field("cut_time", TEXT, DESCRIPTIVE, "Order cut-off time, e.g. 16:00.", "timelinessData.cutTime"),
        Field(
            "delivery_date",
            DAY,
            DESCRIPTIVE,
            "Estimated delivery date to the end customer.",
            "timelinessData.achieveUserOrderCut",
        ),
        Field("delivery_hours", COUNT, DESCRIPTIVE, "Delivery lead time in hours.", "timelinessData.hour"),
        Field("is_transfer", FLAG, DESCRIPTIVE, "Transshipped (isTranfer).", "timelinessData.isTranfer"),
        FETCHED_AT,
    ),
)


def coverage_of(rows: str, where: str) -> str:
    """INSERT into stock_coverage each pair's day, answer time and county total from the :account's rows of `rows` (a
    table of stock rows aliased `s`) filtered by `where`."""
    return f"""
INSERT INTO {{schema}}.stock_coverage
    (account, product_code, county_code, last_checked_day, last_checked_at, last_stock)
SELECT account, product_code, county_code, snapshot_date, max(fetched_at), sum(stock)
FROM {{schema}}.{rows} s
WHERE s.account = :account AND {where}
GROUP BY account, product_code, county_code, snapshot_date
"""


# stock_coverage filled from the newest day of each pair, when it is empty (a warehouse from before it existed).
BACKFILL_COVERAGE = coverage_of(
    "stock_snapshots",
    "snapshot_date = (SELECT max(snapshot_date) FROM {schema}.stock_snapshots n "
    "WHERE n.account = s.account AND n.product_code = s.product_code AND n.county_code = s.county_code) "
    "AND NOT EXISTS (SELECT 1 FROM {schema}.stock_coverage c WHERE c.account = :account)",
)

# Stock and the catalog are refreshed 08:00-20:00: the night's 12 h gap is normal, 13 h is not. No warning: the UI
# says whole hours only, and none lies between the normal 12 h and the 13 h that fails (12 h would warn every morning
# while the 08:00 run is under way).
STOCK_DAY = Freshness(warn_after=None, fail_after=timedelta(hours=13))

stock_snapshots = Endpoint(
    name="stock_snapshots",
    step="stock",
    description="Stock of today (Asia/Shanghai; the API answers current stock only) per product, county and "
    "warehouse. One call per active procurable product and configured county, in priority order under "
    "HAIER_STOCK_CALL_BUDGET / HAIER_STOCK_DEADLINE; answers are checkpointed as they arrive (a rerun asks only the "
    "rest) and the day is committed at once. A pair with no warehouse is stored as one row with stock 0 and null "
    "sec_code.",
    record=STOCK_ROW,
    request=Request(
        path="/yilihuo/jsh-service-stock-mall/api/page/stock/get-available-stock-open",
        body={
            "salesCode": AccountField.CUSTOMER_CODE,
            "senderCode": AccountField.SEND_TO_CODE,
            "source": "JSH-B",
            "sellerPassword": AccountField.SELLER_PASSWORD,
        },
        item={"productCode": "product_code", "countyCode": "county_code"},
    ),
    write=StockDay(),
    table=Table(
        comment='One row per warehouse answered, per day, product and county; "checked, none" is stock 0 and '
        "a null sec_code.",
        indexes={"ix_stock_snapshots_account_day_product_county": ("snapshot_date", "product_code", "county_code")},
    ),
    deps=("products",),
    cadence=Cron("0 8,11,14,17,20 * * *"),
    freshness=STOCK_DAY,
)
