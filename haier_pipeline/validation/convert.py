"""Typed frames from validated raw frames: exact decimals, booleans, whole numbers and dates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from haier_pipeline.validation.parsing import (
    is_missing,
    parse_date,
    parse_decimal,
    parse_discount,
    parse_flag,
    parse_int,
)


def _text(value: Any) -> str | None:
    return None if is_missing(value) else str(value)


def _convert(frame: pd.DataFrame, parsers: dict[str, Callable[[Any], Any]]) -> pd.DataFrame:
    typed = frame.copy()
    for column, parser in parsers.items():
        if column in typed:
            typed[column] = pd.Series([parser(value) for value in typed[column]], index=typed.index, dtype=object)
    return typed


def typed_products(frame: pd.DataFrame) -> pd.DataFrame:
    texts = {column: _text for column in frame.columns if column != "is_sales"}
    return _convert(frame, {**texts, "is_sales": parse_flag})


def typed_prices(frame: pd.DataFrame) -> pd.DataFrame:
    return _convert(
        frame,
        {
            "product_code": _text,
            "supply_price": parse_decimal,
            "invoice_price": parse_decimal,
            "direct_discount": parse_discount,
            "rebate_money": parse_decimal,
            "market_price": parse_decimal,
            "is_sales": parse_flag,
            "reason": _text,
        },
    )


def typed_stock(frame: pd.DataFrame) -> pd.DataFrame:
    return _convert(
        frame,
        {
            "snapshot_date": parse_date,
            "product_code": _text,
            "county_code": _text,
            "sec_code": _text,
            "stock": parse_int,
            "warehouse_grade": _text,
            "cut_time": _text,
            "delivery_date": parse_date,
            "delivery_hours": parse_int,
            "is_transfer": parse_flag,
        },
    )


def typed_balances(frame: pd.DataFrame) -> pd.DataFrame:
    texts = {
        column: _text for column in ("sale_group_code", "sale_group_name", "payer_account_code", "payer_account_name")
    }
    return _convert(frame, {**texts, "balance": parse_decimal})
