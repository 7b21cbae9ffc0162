"""A stock day recorded in two stages. Each answer is checkpointed as it arrives: in short transactions (so a crash
loses at most one chunk and memory holds at most one), the raw answer goes to `stock_answers` and its parsed,
gated rows to `stock_staged_rows`. Parsing while the calls are still out leaves the day's commit a few set-based
statements after the last answer: one transaction moves the staged rows to `stock_snapshots` and clears both.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import pandas as pd

from haier_pipeline.defs.haier_catalog.step import Step
from haier_pipeline.defs.outcomes import INTERRUPTIONS
from haier_pipeline.endpoints.stock_snapshots import NO_WAREHOUSE, STOCK_ROW, coverage_of
from haier_pipeline.haier.answers import parse_json
from haier_pipeline.records import Parsed, UnusableAnswer
from haier_pipeline.records.record import Refusal, json_text
from haier_pipeline.warehouse.warehouse import WarehouseTransaction

CHECKPOINT_ANSWERS = 500
CHECKPOINT_SECONDS = 2.0
COMMIT_CHUNK = 5000
PAIR_KEYS = ["snapshot_date", "product_code", "county_code"]
# A stock day in progress: the raw answers and the rows parsed from them.
CHECKPOINT_TABLES = ("stock_answers", "stock_staged_rows")


class Answer(NamedTuple):
    product_code: str
    county_code: str
    fetched_at: datetime
    answer: Any  # the vendor's rows (None when it refused the pair)
    refusal: str | None


class Checkpoint:
    """Answers buffered, then parsed and written every CHECKPOINT_ANSWERS answers or CHECKPOINT_SECONDS."""

    def __init__(self, step: Step, day: date) -> None:
        self.step = step
        self.day = day
        self.answers: list[Answer] = []
        self.flushed_at = time.monotonic()
        self.flush_failed = False

    def add(self, pair: tuple[str, str], fetched_at: datetime, answer: Any = None, refusal: str | None = None) -> None:
        self.answers.append(Answer(pair[0], pair[1], fetched_at, None if refusal is not None else answer, refusal))
        if len(self.answers) >= CHECKPOINT_ANSWERS or time.monotonic() - self.flushed_at >= CHECKPOINT_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.answers:
            answers = [None if a.refusal is not None else answer_json(a.answer) for a in self.answers]
            raw = pd.DataFrame(self.answers).assign(snapshot_date=self.day, run_id=self.step.run_id, answer=answers)
            rows = self.step.absorb(parse_answers(self.step, self.answers, self.day))
            try:
                with self.step.transaction() as tx:
                    tx.upsert("stock_answers", raw)
                    tx.replace_keys("stock_staged_rows", rows, PAIR_KEYS)
            except BaseException:
                self.flush_failed = True
                raise
            self.answers = []
        self.flushed_at = time.monotonic()

    def save_before_failing(self) -> None:
        """A step interrupted (Ctrl-C, SIGTERM) or failing mid-way keeps the answers it holds, so a rerun does not
        ask them again. Saving them may fail too (the warehouse is what broke, a second Ctrl-C): the first error is
        the one to report, and the answers are only asked again."""
        if self.flush_failed:
            return  # the warehouse just failed this very write (a lock not granted would be waited for again)
        with contextlib.suppress(Exception, *INTERRUPTIONS):
            self.flush()


def answer_json(answer: Any) -> str:
    """The vendor's answer as JSON that reads back as the same answer: its decimals (the client reads every JSON
    fraction as one) as JSON numbers. json.dumps would write them as text, and a run resuming the day would read a
    flag of 1.0 or a delivery date in epoch milliseconds as text, which they are not: NULL and an anomaly where the
    run that asked stored a value."""
    mark = f"\ue000{secrets.token_hex(8)}\ue000"

    def marked(value: Any) -> Any:
        if isinstance(value, Decimal) and value.is_finite():
            return f"{mark}{value}{mark}"
        if isinstance(value, dict):
            return {key: marked(item) for key, item in value.items()}
        if isinstance(value, list):
            return [marked(item) for item in value]
        return value

    text = json.dumps(marked(answer), ensure_ascii=False, default=str)
    return re.sub(f'"{re.escape(mark)}(.*?){re.escape(mark)}"', r"\1", text)


def answer_from_json(text: str) -> Any:
    """An answer `answer_json` wrote, read as the client reads the vendor's (fractions as decimals)."""
    return parse_json(text.encode("utf-8"), parse_float=Decimal)


def earlier_answers(tx: WarehouseTransaction, step: Step, day: date) -> Iterator[list[Answer]]:
    """The day's answers of the step's account another run checkpointed (one that died before committing), in chunks
    (keyset order), read inside the committing transaction."""
    after = ("", "")
    while True:
        chunk = tx.query(
            "SELECT product_code, county_code, fetched_at, answer, refusal FROM {schema}.stock_answers "
            "WHERE account = :account AND snapshot_date = :day AND run_id IS DISTINCT FROM :run "
            "AND (product_code, county_code) > (:product, :county) "
            f"ORDER BY product_code, county_code LIMIT {COMMIT_CHUNK}",
            {"day": day, "run": step.run_id, "product": after[0], "county": after[1]},
        )
        if chunk.empty:
            return
        yield [
            Answer(
                row.product_code,
                row.county_code,
                pd.Timestamp(row.fetched_at).to_pydatetime(),
                None if pd.isna(row.answer) else answer_from_json(row.answer),
                None if pd.isna(row.refusal) else row.refusal,
            )
            for row in chunk.itertuples(index=False)
        ]
        after = (chunk["product_code"].iloc[-1], chunk["county_code"].iloc[-1])


def parse_answers(step: Step, answers: Iterable[Answer], day: date) -> Parsed:
    """Each answered pair's warehouse rows; a refusal the vendor sent for a pair is refused here, once."""
    parsed = Parsed(STOCK_ROW)
    for answer in answers:
        item = {"product_code": answer.product_code, "county_code": answer.county_code}
        if answer.refusal is not None:
            step.refuse("refused by the API", item, f": {answer.refusal}")
            continue
        context = {**item, "snapshot_date": day, "fetched_at": answer.fetched_at}
        parsed.extend(parse_pair(step, answer.answer, context))
    return parsed


def forget_unusable(step: Step, day: date) -> None:
    """Drop the day's checkpointed answers that yielded no row (refused pairs), so that the next run of the day asks
    those pairs again; the usable ones stay."""
    with step.transaction() as tx:
        tx.execute(
            "DELETE FROM {schema}.stock_answers AS a WHERE account = :account AND snapshot_date = :day AND NOT EXISTS "
            "(SELECT 1 FROM {schema}.stock_staged_rows AS r WHERE r.account = a.account AND r.snapshot_date = :day "
            "AND r.product_code = a.product_code AND r.county_code = a.county_code)",
            {"day": day},
        )


def restage_earlier_answers(tx: WarehouseTransaction, step: Step, day: date) -> None:
    """Parse again the answers an earlier run of the day checkpointed, inside the committing transaction: their
    refused rows and anomalies become this step's record (that run died before writing them), and their rows are
    staged anew."""
    for answers in earlier_answers(tx, step, day):
        keys = pd.DataFrame([(day, a.product_code, a.county_code) for a in answers], columns=PAIR_KEYS)
        tx.delete_keys("stock_staged_rows", keys, PAIR_KEYS)
        tx.append("stock_staged_rows", step.absorb(parse_answers(step, answers, day)))


def move_staged_rows(tx: WarehouseTransaction, day: date) -> int:
    """Replace, in stock_snapshots, every pair of the day that has staged rows with those rows, record their
    coverage, and clear the day's checkpoint, for the transaction's account. Returns the rows moved."""
    tx.execute(COVERAGE_OF_STAGED_ROWS, {"day": day})
    moved = tx.replace_keys_from("stock_snapshots", "stock_staged_rows", PAIR_KEYS, {"snapshot_date": day})
    clear_checkpoints(tx, "=", day)
    return moved


def clear_checkpoints(tx: WarehouseTransaction, comparison: str, day: date) -> None:
    """Delete the account's checkpointed answers and staged rows whose day is `comparison` `day` ("=" for the
    committed day, "<" for days that can no longer be committed)."""
    for table in CHECKPOINT_TABLES:
        tx.execute(
            f"DELETE FROM {{schema}}.{table} WHERE account = :account AND snapshot_date {comparison} :day", {"day": day}
        )


# Each staged pair's day, answer time and county total; a budget's skipped_at is left as it was.
COVERAGE_OF_STAGED_ROWS = coverage_of("stock_staged_rows", "snapshot_date = :day") + (
    "ON CONFLICT (account, product_code, county_code) DO UPDATE SET last_checked_day = EXCLUDED.last_checked_day, "
    "last_checked_at = EXCLUDED.last_checked_at, last_stock = EXCLUDED.last_stock"
)


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
        pair.refused += [Refusal(rule, rule, json_text(row)) for row in pair.rows]
        pair.rows, pair.anomalies = [], []
    return pair
