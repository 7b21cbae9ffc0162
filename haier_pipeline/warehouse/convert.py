"""Exact conversion between pandas frames of Python objects and the warehouse column types.

Values are checked against the SQLAlchemy column type (never inferred from the frame's dtype), so a
Decimal never passes through float and a naive datetime never gets silently reinterpreted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, Integer, Numeric, Table, Text

# Wide enough that quantize() never fails on precision before our own range check does.
_DECIMAL_CONTEXT = Context(prec=60, rounding=ROUND_HALF_UP)
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)

Columns = dict[str, list[Any]]


class _Reject(Exception):
    """Raised by a converter; turned into a ValueError naming table, column and value."""


@dataclass(frozen=True)
class ColumnCodec:
    type_sql: str
    arrow_type: pa.DataType
    convert: Callable[[Any], Any]  # non-null value -> Python value of the column type


def is_null(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return isinstance(value, np.datetime64) and np.isnat(value)


def _decimal_converter(precision: int, scale: int) -> Callable[[Any], Decimal]:
    quantum = Decimal(1).scaleb(-scale)
    limit = Decimal(10) ** (precision - scale)

    def convert(value: Any) -> Decimal:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, bool | np.bool_):
            raise _Reject("a boolean is not an amount")
        elif isinstance(value, int | np.integer):
            number = Decimal(int(value))
        elif isinstance(value, float | np.floating):
            # repr() is the shortest round-tripping text: 0.1 becomes Decimal("0.1"), not its binary value.
            number = Decimal(repr(float(value)))
        elif isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                raise _Reject("not a number") from None
        else:
            raise _Reject(f"unsupported type {type(value).__name__}")
        if not number.is_finite():
            raise _Reject("not a finite number")
        quantized = number.quantize(quantum, context=_DECIMAL_CONTEXT)
        if abs(quantized) >= limit:
            raise _Reject(f"out of range for NUMERIC({precision}, {scale})")
        return quantized

    return convert


def _integer_converter(bounds: tuple[int, int]) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool | np.bool_):
            raise _Reject("a boolean is not an integer")
        if isinstance(value, int | np.integer):
            number = int(value)
        elif isinstance(value, float | np.floating) and float(value).is_integer():
            # pandas turns an int column with a missing value into float64; whole floats are exact.
            number = int(value)
        elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
            number = int(value)
        else:
            raise _Reject("not an integer")
        if not bounds[0] <= number <= bounds[1]:
            raise _Reject("out of range")
        return number

    return convert


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer) and value in (0, 1):
        return bool(value)
    raise _Reject("not a boolean")


def _to_timestamp(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise _Reject("not a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise _Reject("naive datetime: a timezone is required")
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime(warn=False)
    return value.astimezone(UTC)


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        # A naive midnight is what pandas makes of a date column; anything else would lose information.
        if value.tzinfo is None and value.time() == datetime.min.time():
            return date(value.year, value.month, value.day)
        raise _Reject("a datetime is not a date")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _Reject("not an ISO date") from None
    raise _Reject("not a date")


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return str(value)
    raise _Reject("not a string")


def _to_json_text(value: Any) -> str:
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    raise _Reject("not JSON text, a list or a dict")


def codec_for(column: Column) -> ColumnCodec:
    kind = column.type
    type_sql = str(kind)
    # Order matters: BigInteger is an Integer subclass.
    if isinstance(kind, Numeric) and not isinstance(kind, Integer):
        precision, scale = kind.precision or 18, kind.scale or 0
        return ColumnCodec(type_sql, pa.decimal128(precision, scale), _decimal_converter(precision, scale))
    if isinstance(kind, BigInteger):
        return ColumnCodec(type_sql, pa.int64(), _integer_converter(_INT64))
    if isinstance(kind, Integer):
        return ColumnCodec(type_sql, pa.int32(), _integer_converter(_INT32))
    if isinstance(kind, Boolean):
        return ColumnCodec(type_sql, pa.bool_(), _to_bool)
    if isinstance(kind, DateTime):
        return ColumnCodec(type_sql, pa.timestamp("us", tz="UTC"), _to_timestamp)
    if isinstance(kind, Date):
        return ColumnCodec(type_sql, pa.date32(), _to_date)
    if isinstance(kind, Text):
        return ColumnCodec(type_sql, pa.string(), _to_json_text if column.info.get("json") else _to_text)
    raise TypeError(f"no codec for column {column.name} of type {type_sql}")


def convert_values(table: Table, column_name: str, values: Iterable[Any]) -> list[Any]:
    """Values converted to the column's Python type, nulls as None; ValueError on anything else."""
    codec = codec_for(table.c[column_name])
    convert = codec.convert
    out: list[Any] = []
    append = out.append
    for value in values:
        if is_null(value):
            append(None)
            continue
        try:
            append(convert(value))
        except _Reject as why:
            shown = repr(value)
            if len(shown) > 200:
                shown = shown[:200] + "..."
            raise ValueError(f"{table.name}.{column_name} ({codec.type_sql}): cannot store {shown}: {why}") from None
    return out


def check_columns(table: Table, frame: pd.DataFrame) -> list[str]:
    """The frame's column names, after checking each is a column of the table."""
    names = list(frame.columns)
    unknown = [name for name in names if not isinstance(name, str) or name not in table.c]
    if unknown:
        raise ValueError(
            f"{table.name}: frame has columns that are not in the table: {unknown} "
            f"(table columns: {[c.name for c in table.columns]})"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"{table.name}: frame has duplicate column names: {names}")
    return names


def convert_frame(table: Table, frame: pd.DataFrame) -> Columns:
    return {name: convert_values(table, name, frame[name].tolist()) for name in check_columns(table, frame)}


def to_arrow(table: Table, columns: Columns) -> pa.Table:
    arrays = [pa.array(values, type=codec_for(table.c[name]).arrow_type) for name, values in columns.items()]
    return pa.Table.from_arrays(arrays, names=list(columns))


def rows(columns: Columns) -> Iterable[tuple[Any, ...]]:
    return zip(*columns.values(), strict=True)


def _pandas_type(arrow_type: pa.DataType) -> Any:
    # Nullable dtypes keep integers integers (a NULL would otherwise turn the column into float).
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype()
    return None


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """Query results, identically typed on both backends: Decimal objects for NUMERIC, Int64 and
    boolean (nullable) for integers and flags, datetime64[UTC] for timestamps, date objects for dates."""
    return table.to_pandas(types_mapper=_pandas_type)
