"""Rows for people (an aligned table) or for scripts (a JSON array keyed by warehouse column names)."""

from __future__ import annotations

import json
import math
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO

import pandas as pd

MAX_CELL = 48


def json_value(value: Any) -> Any:
    """Money stays exact in JSON: decimals are written as strings."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def rows_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{column: json_value(value) for column, value in row.items()} for row in frame.to_dict("records")]


def write_json(frame: pd.DataFrame, out: TextIO) -> None:
    json.dump(rows_of(frame), out, ensure_ascii=False, indent=2)
    out.write("\n")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _cell(value: Any) -> str:
    shown = json_value(value)
    text = "" if shown is None else str(shown)
    text = " ".join(text.split())
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def write_table(frame: pd.DataFrame, out: TextIO) -> None:
    if frame.empty:
        out.write("(no rows)\n")
        return
    columns = list(frame.columns)
    cells = [[_cell(value) for value in row] for row in frame.itertuples(index=False)]
    widths = [max(_width(column), *(_width(row[i]) for row in cells)) for i, column in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(value + " " * (width - _width(value)) for value, width in zip(values, widths, strict=True))

    out.write(line(columns).rstrip() + "\n")
    out.write(line(["-" * width for width in widths]).rstrip() + "\n")
    for row in cells:
        out.write(line(row).rstrip() + "\n")
    out.write(f"({len(cells)} rows)\n")
