"""API rows → raw frames under the warehouse's column names, values exactly as the vendor sent them.

Nothing is parsed or dropped here: validation decides what loads and what is quarantined.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import pandas as pd

PRODUCT_FIELDS = {
    "productCode": "product_code",
    "productModel": "product_model",
    "productGroupNamd": "product_group",
    "productBrandName": "brand",
    "productImageUrl": "image_url",
    "productLageUrls": "leaflet_urls",
    "isSales": "is_sales",
    "noSalesReason": "no_sales_reason",
}
PRICE_FIELDS = {
    "productCode": "product_code",
    "supplyPrice": "supply_price",
    "invoicePrice": "invoice_price",
    "stockRebatePolicy": "direct_discount",
    "rebateMoney": "rebate_money",
    "marketPrice": "market_price",
    "isSales": "is_sales",
    "reason": "reason",
}
BALANCE_FIELDS = {
    "saleGroupCode": "sale_group_code",
    "saleGroupName": "sale_group_name",
    "payerAccountCode": "payer_account_code",
    "payerAccountName": "payer_account_name",
    "payerAccountBalance": "balance",
}
STOCK_COLUMNS = [
    "snapshot_date",
    "product_code",
    "county_code",
    "sec_code",
    "stock",
    "warehouse_grade",
    "cut_time",
    "delivery_date",
    "delivery_hours",
    "is_transfer",
    "fetched_at",
]


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns, dtype=object)


def products_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    shaped = []
    for row in rows:
        record = {column: row.get(field) for field, column in PRODUCT_FIELDS.items()}
        leaflets = record["leaflet_urls"]
        if isinstance(leaflets, list):
            record["leaflet_urls"] = json.dumps(leaflets, ensure_ascii=False)
        shaped.append(record)
    return _frame(shaped, list(PRODUCT_FIELDS.values()))


def distinct_products(frame: pd.DataFrame) -> pd.DataFrame:
    """The listing repeats some products: keep the last row per code. Rows without a code are not
    duplicates of each other, so each stays (and is quarantined on its own)."""
    keep = frame["product_code"].isna() | ~frame.duplicated("product_code", keep="last")
    return frame[keep].reset_index(drop=True)


def prices_frame(rows: list[dict[str, Any]], fetched_at: datetime) -> pd.DataFrame:
    shaped = [{column: row.get(field) for field, column in PRICE_FIELDS.items()} for row in rows]
    for record in shaped:
        record["fetched_at"] = fetched_at
    return _frame(shaped, [*PRICE_FIELDS.values(), "fetched_at"])


def stock_frame(
    answers: list[tuple[tuple[str, str], list[dict[str, Any]]]], snapshot_date: date, fetched_at: datetime
) -> pd.DataFrame:
    """One row per warehouse answered; a pair answered with no warehouse is one row of stock 0 and no
    sec_code, so "checked, none available" differs from "not checked"."""
    shaped: list[dict[str, Any]] = []
    for (product_code, county_code), rows in answers:
        pair = {"snapshot_date": snapshot_date, "product_code": product_code, "county_code": county_code}
        if not rows:
            shaped.append({**pair, "stock": "0", "fetched_at": fetched_at})
            continue
        for row in rows:
            timeliness = row.get("timelinessData") or {}
            shaped.append(
                {
                    **pair,
                    "sec_code": row.get("secCode"),
                    "stock": row.get("stock"),
                    "warehouse_grade": row.get("warehouseGrade"),
                    "cut_time": timeliness.get("cutTime"),
                    "delivery_date": timeliness.get("achieveUserOrderCut"),
                    "delivery_hours": timeliness.get("hour"),
                    "is_transfer": timeliness.get("isTranfer"),
                    "fetched_at": fetched_at,
                }
            )
    return _frame(shaped, STOCK_COLUMNS)


def balances_frame(rows: list[dict[str, Any]], fetched_at: datetime) -> pd.DataFrame:
    shaped = [{column: row.get(field) for field, column in BALANCE_FIELDS.items()} for row in rows]
    for record in shaped:
        record["fetched_at"] = fetched_at
    return _frame(shaped, ["fetched_at", *BALANCE_FIELDS.values()])


def logistics_frame(order_code: str, lists: dict[str, list[dict[str, Any]]], fetched_at: datetime) -> pd.DataFrame:
    shaped = [
        {
            "order_code": order_code,
            "source_list": source_list,
            "record": json.dumps(record, ensure_ascii=False, sort_keys=True, default=str),
            "fetched_at": fetched_at,
        }
        for source_list, records in lists.items()
        for record in records
    ]
    return _frame(shaped, ["order_code", "source_list", "record", "fetched_at"])
