"""`make bench`: how close the client runs to the vendor's rate limit, and how the warehouse loads.

Every figure is measured in this one run and reported as a ratio against a reference measured in the
same run (the limit itself, a one-at-a-time client like the old integration, row-by-row inserts), so the
numbers mean the same on a slower or faster machine. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import requests

from haier_pipeline.haier import HaierClient
from haier_pipeline.warehouse import Warehouse
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS, simulator_process

DEFAULT_OUTPUT = Path("data/bench/bench.json")


def client_for(base_url: str, rate: float) -> HaierClient:
    return HaierClient(base_url=base_url, rate_limit=rate, **SIMULATOR_CREDENTIALS)


def stock_throughput(calls: int, latency_ms: float, rate: float) -> dict[str, Any]:
    """Stock calls through the pooled, paced client against a gateway that throttles past `rate`."""
    counties = ("110101", "310104", "440106", "510107")
    with simulator_process(max(40, calls // 3), latency_ms, rate) as base_url:
        client = client_for(base_url, rate)
        codes = [row["productCode"] for row in client.products() if row.get("isSales") == "1"]
        pairs = [(code, county) for code in dict.fromkeys(codes) for county in counties][:calls]
        requests.post(f"{base_url}/_sim/reset", timeout=5).raise_for_status()
        started = time.monotonic()
        outcomes = client.stock_for_pairs(pairs)
        pooled_seconds = time.monotonic() - started
        pooled = requests.get(f"{base_url}/_sim/stats", timeout=5).json()

        sequential_calls = max(20, calls // 10)
        started = time.monotonic()
        for pair in pairs[:sequential_calls]:
            client.stock(*pair)
        sequential_seconds = time.monotonic() - started
    throttled = int(pooled["statuses"].get("stock", {}).get("429", 0))
    pooled_rate = len(pairs) / pooled_seconds
    sequential_rate = sequential_calls / sequential_seconds
    return {
        "stock_calls": len(pairs),
        "failed": sum(1 for outcome in outcomes if outcome.error is not None),
        "latency_ms": latency_ms,
        "rate_limit": rate,
        "calls_per_second": round(pooled_rate, 1),
        "share_of_limit": round(pooled_rate / rate, 3),
        "throttled": throttled,
        "busiest_second": pooled["busiest_second"],
        "one_at_a_time_calls_per_second": round(sequential_rate, 1),
        "speedup_over_one_at_a_time": round(pooled_rate / sequential_rate, 1),
    }


def stock_frame(rows: int) -> pd.DataFrame:
    now = datetime.now(UTC)
    return pd.DataFrame(
        {
            "snapshot_date": [date(2026, 11, 26)] * rows,
            "product_code": [f"P{index // 40:07d}" for index in range(rows)],
            "county_code": [f"{110000 + index % 40:06d}" for index in range(rows)],
            "sec_code": [f"C{index % 7}" for index in range(rows)],
            "stock": [index % 50 for index in range(rows)],
            "warehouse_grade": ["0"] * rows,
            "cut_time": ["16:00"] * rows,
            "delivery_date": [date(2026, 11, 28)] * rows,
            "delivery_hours": [48] * rows,
            "is_transfer": [False] * rows,
            "fetched_at": [now] * rows,
        }
    )


def warehouse_load(rows: int, row_by_row: int) -> dict[str, Any]:
    """Our bulk path into DuckDB against row-by-row inserts of the same rows (the old way)."""
    with tempfile.TemporaryDirectory() as folder:
        warehouse = Warehouse.from_url(f"duckdb:///{folder}/bench.duckdb")
        warehouse.ensure_schema()
        frame = stock_frame(rows)
        started = time.monotonic()
        with warehouse.transaction() as tx:
            tx.replace("stock_snapshots", frame, {"snapshot_date": [date(2026, 11, 26)]})
        bulk_rate = rows / (time.monotonic() - started)

        connection = duckdb.connect(f"{folder}/rows.duckdb")
        connection.execute(
            "CREATE TABLE s (snapshot_date DATE, product_code TEXT, county_code TEXT, sec_code TEXT, stock INTEGER, "
            "warehouse_grade TEXT, cut_time TEXT, delivery_date DATE, delivery_hours INTEGER, is_transfer BOOLEAN, "
            "fetched_at TIMESTAMPTZ)"
        )
        sample = list(frame.head(row_by_row).itertuples(index=False, name=None))
        started = time.monotonic()
        connection.executemany("INSERT INTO s VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", sample)
        row_rate = row_by_row / (time.monotonic() - started)
        connection.close()
    return {
        "rows": rows,
        "bulk_rows_per_second": round(bulk_rate),
        "row_by_row_rows_per_second": round(row_rate),
        "bulk_speedup": round(bulk_rate / row_rate),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000, help="stock calls in the throughput run")
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--rows", type=int, default=200_000, help="rows in the warehouse load")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()

    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "stock": stock_throughput(args.calls, args.latency_ms, args.rate),
        "warehouse": warehouse_load(args.rows, row_by_row=2000),
    }
    stock, load = report["stock"], report["warehouse"]
    lines = [
        (
            "stock calls/s (paced, pooled)",
            f"{stock['calls_per_second']}",
            f"{stock['share_of_limit']:.1%} of the limit",
        ),
        ("throttled answers (429)", f"{stock['throttled']}", f"of {stock['stock_calls']} calls"),
        ("busiest one-second window", f"{stock['busiest_second']}", f"limit {stock['rate_limit']:.0f}"),
        (
            "one-at-a-time calls/s",
            f"{stock['one_at_a_time_calls_per_second']}",
            f"pooled is {stock['speedup_over_one_at_a_time']}x faster",
        ),
        ("DuckDB bulk rows/s", f"{load['bulk_rows_per_second']:,}", f"{load['bulk_speedup']:,}x row-by-row"),
    ]
    print(f"benchmark ({report['machine']}; simulator latency {stock['latency_ms']:.0f} ms)")
    for name, value, ratio in lines:
        print(f"  {name:<32} {value:>10}   {ratio}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
