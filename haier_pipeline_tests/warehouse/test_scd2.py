"""scd2 on price_history: open, leave unchanged, close-and-open, NULL-safe comparison."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pandas as pd
import pytest

from haier_pipeline.warehouse.warehouse import Warehouse

from .helpers import AT

KEY = ["product_code"]
TRACKED = ["supply_price", "invoice_price", "direct_discount", "rebate_money", "is_sales"]


def prices(rows: dict[str, Decimal | None], is_sales: bool = True) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "product_code": list(rows),
            "supply_price": list(rows.values()),
            "invoice_price": [Decimal("10.00")] * len(rows),
            "direct_discount": [Decimal("0.05")] * len(rows),
            "rebate_money": [None] * len(rows),
            "is_sales": [is_sales] * len(rows),
        }
    )


def load(warehouse: Warehouse, frame: pd.DataFrame, hours: int) -> tuple[int, int]:
    with warehouse.transaction() as tx:
        return tx.scd2("price_history", frame, KEY, TRACKED, AT + timedelta(hours=hours))


def history(warehouse: Warehouse) -> pd.DataFrame:
    return warehouse.query(
        "SELECT product_code, supply_price, valid_from, valid_to FROM {schema}.price_history "
        "ORDER BY product_code, valid_from"
    )


def test_scd2_lifecycle(warehouse: Warehouse) -> None:
    first = {"A": Decimal("100.5"), "B": Decimal("200"), "C": None}
    assert load(warehouse, prices(first), 0) == (3, 0)
    assert load(warehouse, prices(first), 1) == (0, 0)  # unchanged (NULL = NULL is not a change)

    changed = {**first, "A": Decimal("99.9")}
    assert load(warehouse, prices(changed), 2) == (1, 1)

    rows = history(warehouse)
    a = rows[rows.product_code == "A"]
    assert a["supply_price"].tolist() == [Decimal("100.5000"), Decimal("99.9000")]
    assert a["valid_from"].tolist() == [AT, AT + timedelta(hours=2)]
    assert a["valid_to"].iloc[0] == AT + timedelta(hours=2)
    assert pd.isna(a["valid_to"].iloc[1])
    open_versions = warehouse.query("SELECT COUNT(*) AS n FROM {schema}.price_history WHERE valid_to IS NULL")
    assert open_versions["n"][0] == 3

    # NULL -> value is a change; a new key is opened; keys absent from the frame are left alone.
    assert load(warehouse, prices({"C": Decimal("5"), "D": Decimal("6")}), 3) == (2, 1)
    # A change in a tracked column other than the price.
    assert load(warehouse, prices({"B": Decimal("200")}, is_sales=False), 4) == (1, 1)
    # value -> NULL is a change too.
    assert load(warehouse, prices({"D": None}), 5) == (1, 1)

    rows = history(warehouse)
    assert len(rows) == 8
    current = rows[rows["valid_to"].isna()].set_index("product_code")["supply_price"].to_dict()
    assert current == {"A": Decimal("99.9000"), "B": Decimal("200.0000"), "C": Decimal("5.0000"), "D": None}


def test_scd2_in_one_transaction_sees_its_own_versions(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        assert tx.scd2("price_history", prices({"A": Decimal("1")}), KEY, TRACKED, AT) == (1, 0)
        assert tx.scd2("price_history", prices({"A": Decimal("2")}), KEY, TRACKED, AT + timedelta(1)) == (
            1,
            1,
        )
    assert len(history(warehouse)) == 2


def test_scd2_refuses_to_go_back_in_time_and_bad_input(warehouse: Warehouse) -> None:
    load(warehouse, prices({"A": Decimal("1")}), 5)
    with warehouse.transaction() as tx, pytest.raises(ValueError, match="start at or after"):
        tx.scd2("price_history", prices({"A": Decimal("2")}), KEY, TRACKED, AT + timedelta(hours=5))
    with warehouse.transaction() as tx, pytest.raises(ValueError, match="more than once"):
        tx.scd2("price_history", prices({"A": Decimal("2")}).iloc[[0, 0]], KEY, TRACKED, AT + timedelta(1))
    with warehouse.transaction() as tx, pytest.raises(ValueError, match="not an SCD2 table"):
        tx.scd2("prices", prices({"A": Decimal("2")}), KEY, TRACKED, AT)
    with warehouse.transaction() as tx, pytest.raises(ValueError, match="naive"):
        tx.scd2("price_history", prices({"A": Decimal("2")}), KEY, TRACKED, AT.replace(tzinfo=None))
    assert len(history(warehouse)) == 1
