"""Processes the DuckDB locking tests start: `python -m haier_pipeline_tests.warehouse._workers ...`."""

from __future__ import annotations

import json
import sys
import time

import pandas as pd


def write(url: str, worker: str, transactions: int, hold: float) -> None:
    """Several short write transactions; prints when each held the writer lock."""
    from haier_pipeline.warehouse.warehouse import Warehouse

    warehouse = Warehouse.from_url(url, lock_timeout=60)
    spans = []
    for i in range(transactions):
        with warehouse.transaction() as tx:
            started = time.time()
            tx.append(
                "sync_log",
                pd.DataFrame({"run_id": [f"{worker}-{i}"], "sync_type": ["t"], "status": ["success"]}),
            )
            time.sleep(hold)
            spans.append((started, time.time()))
    print(json.dumps(spans), flush=True)


def hold_write(url: str, rows: int, hold: float) -> None:
    """Write `rows` products, say "ready", keep the transaction (and the lock) open for `hold` s."""
    from haier_pipeline.warehouse.warehouse import Warehouse

    warehouse = Warehouse.from_url(url)
    with warehouse.transaction() as tx:
        codes = [f"P{i}" for i in range(rows)]
        tx.upsert("products", pd.DataFrame({"product_code": codes, "is_active": [True] * rows}))
        print("ready", flush=True)
        time.sleep(hold)
    print("committed", flush=True)


def hold_raw(path: str, hold: float) -> None:
    """A process that ignores our flock (like a DuckDB shell): open the file read-write and sit on it."""
    import duckdb

    con = duckdb.connect(path)
    print("ready", flush=True)
    time.sleep(hold)
    con.close()


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "write":
        write(args[0], args[1], int(args[2]), float(args[3]))
    elif command == "hold_write":
        hold_write(args[0], int(args[1]), float(args[2]))
    elif command == "hold_raw":
        hold_raw(args[0], float(args[1]))
    else:
        raise SystemExit(f"unknown command {command}")
