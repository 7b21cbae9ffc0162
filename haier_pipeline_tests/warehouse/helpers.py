"""Small helpers shared by the warehouse tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd

from haier_pipeline.warehouse.tables import table_names
from haier_pipeline.warehouse.warehouse import Warehouse

AT = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
DAY = date(2024, 5, 1)


def snapshot(warehouse: Warehouse) -> dict[str, pd.DataFrame]:
    """Every table's full contents, in a stable order, for before/after comparisons."""
    out = {}
    for name in table_names():
        columns = list(warehouse.tables[name].columns.keys())
        order = ", ".join(f'"{c}"' for c in columns)
        out[name] = warehouse.query(f"SELECT * FROM {{schema}}.{name} ORDER BY {order}")
    return out


def assert_same_contents(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> None:
    assert before.keys() == after.keys()
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)


def product_frame(codes: list[str], active: bool = True, model: str = "M") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "product_code": codes,
            "product_model": [f"{model}-{c}" for c in codes],
            "brand": ["Haier"] * len(codes),
            "is_active": [active] * len(codes),
            "first_seen_at": [AT] * len(codes),
        }
    )


def price_frame(prices: dict[str, Decimal | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "product_code": list(prices),
            "supply_price": list(prices.values()),
            "invoice_price": [Decimal("1.5")] * len(prices),
            "is_sales": [True] * len(prices),
        }
    )


def stock_frame(day: date, codes: list[str], stock: int = 5) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "snapshot_date": [day] * len(codes),
            "product_code": codes,
            "county_code": ["110101"] * len(codes),
            "sec_code": ["WH1"] * len(codes),
            "stock": [stock] * len(codes),
            "fetched_at": [AT] * len(codes),
        }
    )


def journal_on_a_full_disk(path: Path) -> Path:
    """DuckDB's journal of `path` (`<file>.wal`, written by every commit) pointed at /dev/full, which refuses every
    write with ENOSPC as a full disk does, while the file itself still reads. Returns the journal: unlink it to
    free the disk."""
    journal = path.with_name(f"{path.name}.wal")
    journal.symlink_to("/dev/full")
    return journal
