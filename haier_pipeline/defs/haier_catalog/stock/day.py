"""The step of a stock day (`StockDay`): today's stock of every active procurable product in every configured county,
one call each, checkpointed as the answers arrive and committed as one day.

Stock is recorded only for the current Asia/Shanghai day: the API answers current stock, never a past day's. The asset
is therefore not partitioned in Dagster: the UI offers no day to pick (so none that is impossible, and no wrong
default), every materialization records today's snapshot, and the warehouse keeps every day recorded
(`stock_snapshots.snapshot_date`). The day a run recorded is its `haier/stock_day` tag. A run that asks for another
day (the tag set beforehand, e.g. a run queued before midnight that starts after it) is refused before any call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from datetime import date
from typing import Any

import dagster as dg
import pandas as pd

from haier_pipeline import shanghai_time
from haier_pipeline.defs.haier_catalog.checks import coverage_check, every_pair_answered
from haier_pipeline.defs.haier_catalog.step import Step, StepFailed, StepResources, metadata_table, running_step
from haier_pipeline.defs.haier_catalog.stock.checkpoint import (
    Checkpoint,
    clear_checkpoints,
    forget_unusable,
    move_staged_rows,
    restage_earlier_answers,
)
from haier_pipeline.defs.haier_catalog.stock.plan import Plan, plan_day
from haier_pipeline.defs.haier_catalog.stock.progress import Progress
from haier_pipeline.endpoints.declaration import Endpoint
from haier_pipeline.endpoints.stock_snapshots import BACKFILL_COVERAGE
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.haier.stats import CallStats
from haier_pipeline.shanghai_time import now_utc

STOCK_DAY_TAG = "haier/stock_day"


class StockDayRefused(dg.Failure):
    """A stock snapshot was requested for a day other than today (Asia/Shanghai); nothing was written."""


def refusal(requested: str, today: date) -> str:
    return (
        f"stock can be recorded only for today ({today.isoformat()}, Asia/Shanghai): the API answers current "
        f"stock only, so a snapshot taken now cannot stand for {requested}. Nothing was written; past days stay "
        "in stock_snapshots as they were recorded. Materialize stock_snapshots again to record today."
    )


def stock_day(context: dg.AssetExecutionContext) -> date:
    """Today's Asia/Shanghai day, recorded on the run as `haier/stock_day`; refuses a run that asked for another."""
    today = shanghai_time.today_in_shanghai()
    requested = context.run.tags.get(STOCK_DAY_TAG)
    if requested is None:
        context.instance.add_run_tags(context.run.run_id, {STOCK_DAY_TAG: today.isoformat()})
    elif requested != today.isoformat():
        raise StockDayRefused(description=refusal(requested, today))
    return today


def write_stock_day(context: dg.AssetExecutionContext, endpoint: Endpoint, given: StepResources) -> Iterator[Any]:
    pipeline, haier = given.pipeline, given.client
    day = stock_day(context)
    with running_step(context, endpoint.name, given.warehouse, haier, given.account) as step:
        step.partition_key = day.isoformat()  # rejected rows, anomalies and sync_log are kept per stock day
        store = step.warehouse
        with step.transaction() as tx:
            # Checkpoints of an earlier day can no longer be committed: the API answers today's stock only.
            clear_checkpoints(tx, "<", day)
        plan = plan_day(store, step.account, day, pipeline.counties())
        context.log.info(
            f"stock for {day}: {plan.total} pairs, {plan.resumed} already answered by an unfinished run today, "
            f"{len(plan.ordered)} to ask"
        )
        started = time.monotonic()
        stop = stop_when(plan, step.api, pipeline.stock_call_budget, pipeline.stock_deadline, day)
        ask_and_checkpoint(haier, step, plan, day, stop, context.log.info)
        elapsed = time.monotonic() - started
        if shanghai_time.today_in_shanghai() != day and plan.skipped():
            context.log.warning(
                f"the Shanghai day {day} ended while stock was asked: {len(plan.skipped())} pairs were not asked "
                "(an answer now is the next day's stock); they are recorded as skipped and asked first next time"
            )
        loaded, covered = yield from commit_day(step, day, plan, pipeline.max_rejected_ratio)
        day_rows = store.query(
            "SELECT county_code, product_code, stock FROM {schema}.stock_snapshots "
            "WHERE account = :account AND snapshot_date = :day",
            {**step.bound, "day": day},
        )
        metadata = step.metadata(loaded, len(day_rows))
        per_pair = day_rows.groupby(["county_code", "product_code"])["stock"].sum()
        metadata.update(
            {
                "pairs": plan.total,
                "pairs_asked": plan.handed_out,
                "pairs_resumed": plan.resumed,
                "pairs_skipped": len(plan.skipped()),
                "coverage": round(covered / plan.total, 4) if plan.total else 1.0,
                # The headline numbers, plotted over time by the UI: floats and ints every time.
                "coverage_pct": round(100.0 * covered / plan.total, 2) if plan.total else 100.0,
                "total_stock": int(per_pair.sum()),
                "pairs_in_stock": int((per_pair > 0).sum()),
                "calls_per_second": round(plan.handed_out / elapsed, 1) if elapsed else 0.0,
                "stock_by_county": metadata_table(stock_by_county(day_rows), BY_COUNTY_COLUMNS),
            }
        )
        yield dg.MaterializeResult(metadata=metadata)


def ask_and_checkpoint(
    haier: HaierClient,
    step: Step,
    plan: Plan,
    day: date,
    stop: Callable[[], bool] | None,
    log: Callable[[str], None] | None = None,
) -> None:
    """Ask the plan's pairs in order until it ends or `stop` says so, checkpointing (and parsing) every answer as
    it arrives; what stays unanswered after every retry is not checkpointed, so a rerun asks it again."""
    progress = Progress(f"stock {day}", len(plan.ordered), stats=step.api, log=log)
    checkpoint = Checkpoint(step, day)
    try:
        for outcome in haier.stream_stock(plan.pending(), progress.update, stop):
            if outcome.error is not None and outcome.unanswered:
                step.item_failed({"product_code": outcome.item[0], "county_code": outcome.item[1]}, outcome.error)
            else:
                refusal = None if outcome.error is None else str(outcome.error)
                checkpoint.add(outcome.item, now_utc(), outcome.value, refusal)
    except BaseException:
        checkpoint.save_before_failing()
        raise
    checkpoint.flush()
    progress.finish()


def commit_day(
    step: Step, day: date, plan: Plan, max_rejected_ratio: float
) -> Generator[dg.AssetCheckResult, None, tuple[int, int]]:
    """Move the day's staged rows to stock_snapshots and record the coverage and the step's records, in one
    transaction that also clears the checkpoint; yields the checks. Returns the rows written and the pairs the day
    covers."""
    pairs, skipped = plan.total, plan.skipped()
    try:
        with step.transaction() as tx:
            tx.execute(BACKFILL_COVERAGE)
            restage_earlier_answers(tx, step, day)
            loaded = move_staged_rows(tx, day)
            if skipped:
                skipped_at = pd.DataFrame(skipped, columns=["product_code", "county_code"]).assign(skipped_at=now_utc())
                tx.upsert("stock_coverage", skipped_at)
            covered = min(pairs, int(tx.query(DAY_PAIRS, {"day": day})["n"].iloc[0]))
            yield from step.checked(
                max_rejected_ratio,
                every_pair_answered(pairs, step.unanswered),
                coverage_check(pairs, covered, len(skipped)),
            )
            counts = f"{plan.handed_out} asked, {plan.resumed} resumed, {len(skipped)} skipped"
            step.close(tx, loaded=loaded, message=f"{pairs} pairs, day {day}: {counts}")
    except StepFailed:
        # The answers that could not be used are forgotten, so a rerun asks those pairs again; the rest stay.
        forget_unusable(step, day)
        raise
    return loaded, covered


DAY_PAIRS = (
    "SELECT count(*) AS n FROM (SELECT DISTINCT product_code, county_code FROM {schema}.stock_snapshots "
    "WHERE account = :account AND snapshot_date = :day) AS pairs"
)


def stop_when(plan: Plan, api: CallStats, budget: int | None, deadline: float | None, day: date) -> Callable[[], bool]:
    """Stops a stock step from asking new pairs once its calls (pairs asked, and the retries they took) reach
    `budget`, once it has called for `deadline` seconds, or once the Shanghai day is no longer `day`: an answer after
    midnight is the next day's stock, not this day's. The calls in flight end."""
    started = time.monotonic()
    return lambda: (
        shanghai_time.today_in_shanghai() != day
        or (budget is not None and plan.handed_out + api.total("retries") >= budget)
        or (deadline is not None and time.monotonic() - started >= deadline)
    )


BY_COUNTY_COLUMNS = {
    "county_code": "The county.",
    "total_stock": "Units over its warehouses and products that day.",
    "products_in_stock": "Products with stock there that day.",
    "products_checked": "Products answered there that day.",
}


def stock_by_county(stock: pd.DataFrame) -> pd.DataFrame:
    """The day's stock per county (the step's `stock_by_county` table), the best-stocked county first."""
    if stock.empty:
        return pd.DataFrame(columns=list(BY_COUNTY_COLUMNS))
    per_pair = stock.groupby(["county_code", "product_code"], as_index=False)["stock"].sum()
    return (
        per_pair.groupby("county_code")
        .agg(
            total_stock=("stock", "sum"),
            products_in_stock=("stock", lambda values: int((values > 0).sum())),
            products_checked=("product_code", "count"),
        )
        .reset_index()
        .sort_values(["total_stock", "county_code"], ascending=[False, True], ignore_index=True)
    )
