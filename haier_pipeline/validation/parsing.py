"""Strict parsers for the vendor's loosely typed values. Each returns the parsed value or raises
ValueError; validation uses the same functions as its checks, so what passes always converts."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd

# True and False hash like 1 and 0, so booleans are accepted too.
FLAG_VALUES: dict[object, bool] = {"1": True, "0": False, 1: True, 0: False}
REBATE_TYPE = re.compile(r"^[A-Z]{2,6}$")


def is_missing(value: Any) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def parse_decimal(value: Any) -> Decimal | None:
    if is_missing(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a decimal")
    if isinstance(value, float):
        value = repr(value)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite decimal")
    return number


def parse_discount(value: Any) -> Decimal | None:
    """`stockRebatePolicy` carries the direct discount, but the vendor also files the rebate type
    (COM, FHQ, ...) under that key: a type code means "no discount figure here", not a bad row."""
    if isinstance(value, str) and REBATE_TYPE.match(value.strip()):
        return None
    return parse_decimal(value)


def parse_int(value: Any) -> int | None:
    number = parse_decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


def parse_flag(value: Any) -> bool | None:
    if is_missing(value):
        return None
    key = value.strip() if isinstance(value, str) else value
    if not isinstance(key, str | int) or key not in FLAG_VALUES:
        raise ValueError(f'{value!r} is not a flag ("1" or "0")')
    return FLAG_VALUES[key]


def parse_date(value: Any) -> date | None:
    if is_missing(value):
        return None
    if isinstance(value, date):
        return value
    text = str(value).strip()[:10]
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def parses(parser: Any, value: Any) -> bool:
    try:
        parser(value)
    except ValueError:
        return False
    return True
