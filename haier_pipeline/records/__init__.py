"""The vendor's records, each declared once; everything on the row path derives from these declarations."""

from haier_pipeline.records.declarations import (
    BALANCE_ROW,
    LOGISTICS_RECORD,
    NO_WAREHOUSE,
    PRICE_ROW,
    PRODUCT,
    RECORDS,
    STOCK_ROW,
)
from haier_pipeline.records.record import Anomaly, Field, Parsed, Record, Refusal, Role, UnusableAnswer

__all__ = [
    "BALANCE_ROW",
    "LOGISTICS_RECORD",
    "NO_WAREHOUSE",
    "PRICE_ROW",
    "PRODUCT",
    "RECORDS",
    "STOCK_ROW",
    "Anomaly",
    "Field",
    "Parsed",
    "Record",
    "Refusal",
    "Role",
    "UnusableAnswer",
]
