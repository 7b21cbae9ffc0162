"""Exact conversion between pandas frames and the warehouse column types, as Arrow columns.

A column typed by the record parse (an Arrow column of exactly the warehouse column's type: its values were read by
their kind and checked by the gate) is taken as it is, without reading a value again. Any other column (frames of
Python objects the steps build) is checked value by value against the SQLAlchemy column type (never inferred from the
frame's dtype), so a Decimal never passes through float, an amount is never rounded, and a naive datetime never gets
silently reinterpreted; numbers and text are checked by the same kinds the record parse uses.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, Integer, Numeric, Table, Text

from haier_pipeline.records.kinds import DAY, FLAG, MOMENT, DecimalKind, IntegerKind, Invalid, Kind, storable_text

Columns = dict[str, pa.ChunkedArray]


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


def _checked_by(kind: Kind) -> Callable[[Any], Any]:
    """The column's range, checked by the same kind the record parse uses."""

    def convert(value: Any) -> Any:
        try:
            return kind.read(value)
        except Invalid as why:
            raise _Reject(str(why)) from None

    return convert


def _to_text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Reject("not a string")
    try:
        return storable_text(str(value))
    except Invalid as why:
        raise _Reject(str(why)) from None


def _to_json_text(value: Any) -> str:
    if isinstance(value, list | tuple | dict):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return _to_text(value)


def codec_for(column: Column) -> ColumnCodec:
    kind = column.type
    type_sql = str(kind)
    # Order matters: BigInteger is an Integer subclass.
    if isinstance(kind, Numeric) and not isinstance(kind, Integer):
        precision, scale = kind.precision or 18, kind.scale or 0
        return ColumnCodec(
            type_sql, pa.decimal128(precision, scale), _checked_by(DecimalKind("amount", precision, scale))
        )
    if isinstance(kind, BigInteger):
        return ColumnCodec(type_sql, pa.int64(), _checked_by(IntegerKind("integer", -(2**63), 2**63 - 1)))
    if isinstance(kind, Integer):
        return ColumnCodec(type_sql, pa.int32(), _checked_by(IntegerKind("integer", -(2**31), 2**31 - 1)))
    if isinstance(kind, Boolean):
        return ColumnCodec(type_sql, pa.bool_(), _checked_by(FLAG))
    if isinstance(kind, DateTime):
        return ColumnCodec(type_sql, pa.timestamp("us", tz="UTC"), _checked_by(MOMENT))
    if isinstance(kind, Date):
        return ColumnCodec(type_sql, pa.date32(), _checked_by(DAY))
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
    return {name: convert_column(table, name, frame[name]) for name in check_columns(table, frame)}


def convert_column(table: Table, name: str, column: pd.Series) -> pa.ChunkedArray:
    arrow_type = codec_for(table.c[name]).arrow_type
    if isinstance(column.dtype, pd.ArrowDtype) and column.dtype.pyarrow_dtype == arrow_type:
        return pa.chunked_array(column.array.__arrow_array__())
    return pa.chunked_array([pa.array(convert_values(table, name, column.tolist()), type=arrow_type)], arrow_type)


def python_values(columns: Columns, name: str) -> list[Any]:
    """One column's values as Python objects (None for NULL)."""
    return columns[name].to_pylist()


def to_arrow(columns: Columns) -> pa.Table:
    return pa.Table.from_arrays(list(columns.values()), names=list(columns))


def rows(columns: Columns) -> Iterable[tuple[Any, ...]]:
    return zip(*(column.to_pylist() for column in columns.values()), strict=True)


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
