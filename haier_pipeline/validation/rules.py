"""The element rules of the raw frames, registered as pandera check methods so a model names each one
on its field (`pa.Field(decimal=())`) and a rejected row says which rule it broke."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pandera.extensions as extensions

from haier_pipeline.validation.parsing import (
    is_missing,
    parse_date,
    parse_decimal,
    parse_discount,
    parse_flag,
    parse_int,
    parses,
)

# rule name -> what the reason in rejected_rows says
RULES: dict[str, str] = {}


def _register(name: str, meaning: str, accepts: Callable[[Any], bool]) -> None:
    def check(values: pd.Series) -> pd.Series:
        return values.map(accepts).astype(bool)

    check.__name__ = name
    extensions.register_check_method(check)
    RULES[name] = meaning


_register("decimal", "must be a decimal", lambda value: parses(parse_decimal, value))
_register("discount", "must be a decimal fraction or a rebate type", lambda value: parses(parse_discount, value))
_register("whole_number", "must be a whole number", lambda value: parses(parse_int, value))
_register("flag", 'must be "1" or "0"', lambda value: parses(parse_flag, value))
_register("iso_date", "must be a date (YYYY-MM-DD)", lambda value: parses(parse_date, value))
_register("present", "must not be empty", lambda value: not is_missing(value))


def describe(check: str) -> str:
    return RULES.get(check, check)
