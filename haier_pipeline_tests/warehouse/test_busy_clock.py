"""The warehouse's busy clock: how long a process spent in the warehouse, for `sync --timings` and `make bench`."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from haier_pipeline.warehouse.warehouse import WAREHOUSE_CLOCK, BusyClock, Warehouse


def test_a_read_inside_a_transaction_counts_once() -> None:
    clock = BusyClock()
    clock.restart(keep_intervals=True)
    with clock.measure("transaction"):
        time.sleep(0.02)
        with clock.measure("query"):
            time.sleep(0.02)
    assert clock.operations == 1
    assert clock.intervals is not None and [kind for _, _, kind in clock.intervals] == ["transaction"]
    start, end, _ = clock.intervals[0]
    assert 0.04 <= end - start == clock.seconds


def test_intervals_are_kept_only_when_asked_and_a_restart_zeroes_the_clock() -> None:
    clock = BusyClock()
    with clock.measure("query"):
        pass
    assert clock.operations == 1 and clock.intervals is None
    clock.restart(keep_intervals=False)
    assert (clock.operations, clock.seconds, clock.intervals) == (0, 0.0, None)


def test_schema_checks_reads_and_transactions_are_timed(tmp_path: Path) -> None:
    warehouse = Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb")
    WAREHOUSE_CLOCK.restart(keep_intervals=True)
    try:
        warehouse.ensure_schema()
        with warehouse.transaction() as tx:
            tx.upsert("products", pd.DataFrame({"product_code": ["A"], "is_active": [True]}))
            warehouse.query("SELECT count(*) AS n FROM {schema}.products")  # inside: counted with the transaction
        warehouse.query("SELECT count(*) AS n FROM {schema}.products")
        assert [kind for _, _, kind in WAREHOUSE_CLOCK.intervals or []] == ["schema", "transaction", "query"]
        assert WAREHOUSE_CLOCK.operations == 3
    finally:
        WAREHOUSE_CLOCK.restart(keep_intervals=False)
