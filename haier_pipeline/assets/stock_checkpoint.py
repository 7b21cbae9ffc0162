"""A stock day recorded in two stages: each answer is checkpointed in `stock_answers` as it arrives (short
transactions, so a crash loses at most one chunk and memory holds at most one), then the whole day is committed
to `stock_snapshots` in one transaction that also clears the checkpoint.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pandas as pd

from haier_pipeline.assets.step import Step
from haier_pipeline.records import NO_WAREHOUSE, STOCK_ROW, Parsed, UnusableAnswer
from haier_pipeline.records.record import Refusal
from haier_pipeline.warehouse import Warehouse, WarehouseTransaction

CHECKPOINT_ANSWERS = 500
CHECKPOINT_SECONDS = 2.0
COMMIT_CHUNK = 5000


class Checkpoint:
    """Answers buffered and written to `stock_answers` every CHECKPOINT_ANSWERS answers or CHECKPOINT_SECONDS."""

    def __init__(self, warehouse: Warehouse, day: date) -> None:
        self.warehouse = warehouse
        self.day = day
        self.rows: list[dict[str, Any]] = []
        self.flushed_at = time.monotonic()
        self.written = 0

    def add(self, pair: tuple[str, str], fetched_at: datetime, answer: Any = None, refusal: str | None = None) -> None:
        self.rows.append(
            {
                "snapshot_date": self.day,
                "product_code": pair[0],
                "county_code": pair[1],
                "fetched_at": fetched_at,
                "answer": None if refusal is not None else json.dumps(answer, ensure_ascii=False, default=str),
                "refusal": refusal,
            }
        )
        if len(self.rows) >= CHECKPOINT_ANSWERS or time.monotonic() - self.flushed_at >= CHECKPOINT_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            with self.warehouse.transaction() as tx:
                tx.upsert("stock_answers", pd.DataFrame(self.rows))
            self.written += len(self.rows)
            self.rows = []
        self.flushed_at = time.monotonic()


def staged_chunks(tx: WarehouseTransaction, day: date) -> Iterator[pd.DataFrame]:
    """The day's checkpointed answers in chunks (keyset order), read inside the committing transaction."""
    after = ("", "")
    while True:
        chunk = tx.query(
            "SELECT product_code, county_code, fetched_at, answer, refusal FROM {schema}.stock_answers "
            "WHERE snapshot_date = :day AND (product_code, county_code) > (:product, :county) "
            f"ORDER BY product_code, county_code LIMIT {COMMIT_CHUNK}",
            {"day": day, "product": after[0], "county": after[1]},
        )
        if chunk.empty:
            return
        yield chunk
        after = (chunk["product_code"].iloc[-1], chunk["county_code"].iloc[-1])


def parse_staged(step: Step, chunk: pd.DataFrame, day: date, refused: list[tuple[str, str]]) -> Parsed:
    """Each staged pair's warehouse rows; a refusal the vendor sent for a pair is refused here, once. The pairs
    that yield no row are added to `refused`."""
    parsed = Parsed(STOCK_ROW)
    for row in chunk.itertuples(index=False):
        item = {"product_code": row.product_code, "county_code": row.county_code}
        if row.refusal is not None and not pd.isna(row.refusal):
            step.refuse("refused by the API", item, f": {row.refusal}")
            refused.append((row.product_code, row.county_code))
            continue
        context = {**item, "snapshot_date": day, "fetched_at": pd.Timestamp(row.fetched_at).to_pydatetime()}
        pair = parse_pair(step, json.loads(row.answer), context)
        if not pair.rows:
            refused.append((row.product_code, row.county_code))
        parsed.extend(pair)
    return parsed


def forget(warehouse: Warehouse, day: date, pairs: list[tuple[str, str]]) -> None:
    """Drop checkpointed answers, so that the next run of the day asks those pairs again."""
    if pairs:
        keys = pd.DataFrame(pairs, columns=["product_code", "county_code"]).assign(snapshot_date=day)
        with warehouse.transaction() as tx:
            tx.delete_keys("stock_answers", keys, ["snapshot_date", "product_code", "county_code"])


def parse_pair(step: Step, answer: object, context: dict[str, Any]) -> Parsed:
    """One pair's warehouse rows. The county's quantity is their sum, so a pair with a refused row is refused
    whole: "not checked" is honest, a total missing one warehouse is not."""
    try:
        pair = STOCK_ROW.parse([NO_WAREHOUSE] if answer is None or answer == [] else answer, context)
    except UnusableAnswer as error:
        item = {key: context[key] for key in ("product_code", "county_code")}
        step.refuse("the answer is not rows", item, f": {error}")
        return Parsed(STOCK_ROW)
    if pair.refused and pair.rows:
        rule = f"refused with its pair ({pair.refused[0].rule}): the county's total would be wrong"
        pair.refused += [Refusal(rule, rule, pd.Series(row).to_json(default_handler=str)) for row in pair.rows]
        pair.rows, pair.anomalies = [], []
    return pair


def coverage_rows(stock: pd.DataFrame) -> pd.DataFrame:
    """stock_coverage rows for the pairs a chunk checked: the day, the answer's time, the county's total."""
    pairs = stock.groupby(["product_code", "county_code"], as_index=False, sort=False)
    # Every row of a pair has the pair's day and answer time: "first" stays vectorised, "max" on objects does not.
    return pairs.agg(
        last_checked_day=("snapshot_date", "first"),
        last_checked_at=("fetched_at", "first"),
        last_stock=("stock", "sum"),
    ).astype({"last_stock": "int64"})


BACKFILL_COVERAGE = """
INSERT INTO {schema}.stock_coverage (product_code, county_code, last_checked_day, last_checked_at, last_stock)
SELECT product_code, county_code, snapshot_date, max(fetched_at), sum(stock)
FROM {schema}.stock_snapshots s
WHERE snapshot_date = (SELECT max(snapshot_date) FROM {schema}.stock_snapshots n
                       WHERE n.product_code = s.product_code AND n.county_code = s.county_code)
  AND NOT EXISTS (SELECT 1 FROM {schema}.stock_coverage)
GROUP BY product_code, county_code, snapshot_date
"""
