"""Bulk paths, not row by row: an upsert of many rows is a handful of statements whatever its size (one staged
load, then set-based SQL), counted on the real backends' sessions; row by row ran about 1k rows/s."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from haier_pipeline.warehouse.duckdb_backend import DuckDBSession
from haier_pipeline.warehouse.postgres_backend import PostgresSession
from haier_pipeline.warehouse.warehouse import Warehouse

ROWS = 20_000
# Statements one upsert may send: staging, the set-based update and insert, bookkeeping. Row by row would be ROWS.
MOST_STATEMENTS = 10


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts each call a session makes to its database, the calls themselves unchanged."""
    counted: Counter[str] = Counter()
    for session in (DuckDBSession, PostgresSession):
        for name in ("execute", "execute_count", "query", "stage"):
            real = getattr(session, name)

            def counting(self: Any, *args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
                counted[_name] += 1
                return _real(self, *args, **kwargs)

            monkeypatch.setattr(session, name, counting)
    yield counted


def prices(n: int, reason: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "product_code": [f"P{i:06d}" for i in range(n)],
            "supply_price": [Decimal(i) / 100 for i in range(n)],
            "invoice_price": [Decimal("1.5")] * n,
            "is_sales": [True] * n,
            "reason": [reason] * n,
            "fetched_at": [pd.Timestamp("2024-05-01", tz="UTC")] * n,
        }
    )


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_an_upsert_of_many_rows_is_a_handful_of_statements(
    backend: str, request: pytest.FixtureRequest, statements: Counter[str]
) -> None:
    warehouse: Warehouse = request.getfixturevalue(f"{backend}_warehouse")
    warehouse.ensure_schema()
    statements.clear()
    with warehouse.transaction() as tx:
        tx.upsert("prices", prices(ROWS, "first"))
    inserted = sum(statements.values())
    statements.clear()
    with warehouse.transaction() as tx:
        tx.upsert("prices", prices(ROWS, "updated"))
    updated = sum(statements.values())
    assert statements["stage"] == 1, "the rows travel in one staged load"
    assert inserted <= MOST_STATEMENTS and updated <= MOST_STATEMENTS, (inserted, updated)
    got = warehouse.query("SELECT COUNT(*) AS n, SUM(supply_price) AS s, MIN(reason) AS r FROM {schema}.prices")
    assert int(got["n"][0]) == ROWS and got["r"][0] == "updated"
    assert Decimal(str(got["s"][0])) == sum(Decimal(i) / 100 for i in range(ROWS))
