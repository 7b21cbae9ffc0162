"""pandera models of the raw frames (warehouse column names, vendor values). One rule, one check, so
a rejected row says exactly which rule it broke (the rules are in `validation.rules`)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

import haier_pipeline.validation.rules  # noqa: F401  (registers the check methods used below)

PRODUCT_CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"
COUNTY_CODE = r"^\d{6}$"


class RawModel(pa.DataFrameModel):
    class Config:
        strict = False
        coerce = False


class ProductsRaw(RawModel):
    product_code: Series[object] = pa.Field(nullable=False, str_matches=PRODUCT_CODE)
    product_model: Series[object] = pa.Field(nullable=True)
    product_group: Series[object] = pa.Field(nullable=True)
    brand: Series[object] = pa.Field(nullable=True)
    image_url: Series[object] = pa.Field(nullable=True)
    leaflet_urls: Series[object] = pa.Field(nullable=True)
    is_sales: Series[object] = pa.Field(nullable=False, flag=(), present=())
    no_sales_reason: Series[object] = pa.Field(nullable=True)


class PricesRaw(RawModel):
    product_code: Series[object] = pa.Field(nullable=False, str_matches=PRODUCT_CODE, unique=True)
    supply_price: Series[object] = pa.Field(nullable=True, decimal=())
    invoice_price: Series[object] = pa.Field(nullable=True, decimal=())
    direct_discount: Series[object] = pa.Field(nullable=True, discount=())
    rebate_money: Series[object] = pa.Field(nullable=True, decimal=())
    market_price: Series[object] = pa.Field(nullable=True, decimal=())
    is_sales: Series[object] = pa.Field(nullable=True, flag=())
    reason: Series[object] = pa.Field(nullable=True)


class StockRaw(RawModel):
    snapshot_date: Series[object] = pa.Field(nullable=False)
    product_code: Series[object] = pa.Field(nullable=False, str_matches=PRODUCT_CODE)
    county_code: Series[object] = pa.Field(nullable=False, str_matches=COUNTY_CODE)
    sec_code: Series[object] = pa.Field(nullable=True)
    stock: Series[object] = pa.Field(nullable=False, whole_number=(), present=())
    warehouse_grade: Series[object] = pa.Field(nullable=True)
    cut_time: Series[object] = pa.Field(nullable=True)
    delivery_date: Series[object] = pa.Field(nullable=True, iso_date=())
    delivery_hours: Series[object] = pa.Field(nullable=True, whole_number=())
    is_transfer: Series[object] = pa.Field(nullable=True, flag=())

    @pa.dataframe_check(error="one warehouse row per (product, county, sec_code)")
    def warehouse_rows_unique(cls, frame: pd.DataFrame) -> pd.Series:
        keys = frame[["product_code", "county_code", "sec_code"]].astype(str)
        return ~keys.duplicated(keep="first")


class BalancesRaw(RawModel):
    sale_group_code: Series[object] = pa.Field(nullable=False, unique=True)
    sale_group_name: Series[object] = pa.Field(nullable=True)
    payer_account_code: Series[object] = pa.Field(nullable=True)
    payer_account_name: Series[object] = pa.Field(nullable=True)
    balance: Series[object] = pa.Field(nullable=False, decimal=(), present=())


class LogisticsRaw(RawModel):
    order_code: Series[object] = pa.Field(nullable=False)
    source_list: Series[object] = pa.Field(nullable=False)
    record: Series[object] = pa.Field(nullable=False)
