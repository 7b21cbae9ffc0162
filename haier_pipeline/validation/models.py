"""pandera models of the raw frames (warehouse column names, vendor values). One rule, one check, so
a rejected row says exactly which rule it broke."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from haier_pipeline.validation.parsing import (
    is_missing,
    parse_date,
    parse_decimal,
    parse_discount,
    parse_flag,
    parse_int,
    parses,
)

PRODUCT_CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"
COUNTY_CODE = r"^\d{6}$"


def _each(parser: Any, values: pd.Series) -> pd.Series:
    return values.map(lambda value: parses(parser, value)).astype(bool)


def _present(values: pd.Series) -> pd.Series:
    return ~values.map(is_missing).astype(bool)


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
    is_sales: Series[object] = pa.Field(nullable=False)
    no_sales_reason: Series[object] = pa.Field(nullable=True)

    @pa.check("is_sales", error='is_sales must be "1" or "0"')
    def is_sales_is_flag(cls, values: pd.Series) -> pd.Series:
        return _each(parse_flag, values) & _present(values)


class PricesRaw(RawModel):
    product_code: Series[object] = pa.Field(nullable=False, str_matches=PRODUCT_CODE, unique=True)
    supply_price: Series[object] = pa.Field(nullable=True)
    invoice_price: Series[object] = pa.Field(nullable=True)
    direct_discount: Series[object] = pa.Field(nullable=True)
    rebate_money: Series[object] = pa.Field(nullable=True)
    market_price: Series[object] = pa.Field(nullable=True)
    is_sales: Series[object] = pa.Field(nullable=True)
    reason: Series[object] = pa.Field(nullable=True)

    @pa.check("supply_price", error="supply_price must be a decimal")
    def supply_price_is_decimal(cls, values: pd.Series) -> pd.Series:
        return _each(parse_decimal, values)

    @pa.check("invoice_price", error="invoice_price must be a decimal")
    def invoice_price_is_decimal(cls, values: pd.Series) -> pd.Series:
        return _each(parse_decimal, values)

    @pa.check("direct_discount", error="direct_discount must be a decimal fraction or a rebate type")
    def direct_discount_is_decimal(cls, values: pd.Series) -> pd.Series:
        return _each(parse_discount, values)

    @pa.check("rebate_money", error="rebate_money must be a decimal")
    def rebate_money_is_decimal(cls, values: pd.Series) -> pd.Series:
        return _each(parse_decimal, values)

    @pa.check("market_price", error="market_price must be a decimal")
    def market_price_is_decimal(cls, values: pd.Series) -> pd.Series:
        return _each(parse_decimal, values)

    @pa.check("is_sales", error='is_sales must be "1" or "0"')
    def is_sales_is_flag(cls, values: pd.Series) -> pd.Series:
        return _each(parse_flag, values)


class StockRaw(RawModel):
    snapshot_date: Series[object] = pa.Field(nullable=False)
    product_code: Series[object] = pa.Field(nullable=False, str_matches=PRODUCT_CODE)
    county_code: Series[object] = pa.Field(nullable=False, str_matches=COUNTY_CODE)
    sec_code: Series[object] = pa.Field(nullable=True)
    stock: Series[object] = pa.Field(nullable=False)
    warehouse_grade: Series[object] = pa.Field(nullable=True)
    cut_time: Series[object] = pa.Field(nullable=True)
    delivery_date: Series[object] = pa.Field(nullable=True)
    delivery_hours: Series[object] = pa.Field(nullable=True)
    is_transfer: Series[object] = pa.Field(nullable=True)

    @pa.check("stock", error="stock must be a whole number")
    def stock_is_whole_number(cls, values: pd.Series) -> pd.Series:
        return _each(parse_int, values) & _present(values)

    @pa.check("delivery_date", error="delivery_date must be a date")
    def delivery_date_is_date(cls, values: pd.Series) -> pd.Series:
        return _each(parse_date, values)

    @pa.check("delivery_hours", error="delivery_hours must be a whole number")
    def delivery_hours_is_whole_number(cls, values: pd.Series) -> pd.Series:
        return _each(parse_int, values)

    @pa.check("is_transfer", error='is_transfer must be "1" or "0"')
    def is_transfer_is_flag(cls, values: pd.Series) -> pd.Series:
        return _each(parse_flag, values)

    @pa.dataframe_check(error="one warehouse row per (product, county, sec_code)")
    def warehouse_rows_unique(cls, frame: pd.DataFrame) -> pd.Series:
        keys = frame[["product_code", "county_code", "sec_code"]].astype(str)
        return ~keys.duplicated(keep="first")


class BalancesRaw(RawModel):
    sale_group_code: Series[object] = pa.Field(nullable=False, unique=True)
    sale_group_name: Series[object] = pa.Field(nullable=True)
    payer_account_code: Series[object] = pa.Field(nullable=True)
    payer_account_name: Series[object] = pa.Field(nullable=True)
    balance: Series[object] = pa.Field(nullable=False)

    @pa.check("balance", error="balance must be a decimal")
    def balance_is_decimal(cls, values: pd.Series) -> pd.Series:
        return _each(parse_decimal, values) & _present(values)


class LogisticsRaw(RawModel):
    order_code: Series[object] = pa.Field(nullable=False)
    source_list: Series[object] = pa.Field(nullable=False)
    record: Series[object] = pa.Field(nullable=False)
