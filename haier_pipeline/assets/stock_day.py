"""Stock is recorded only for the current Asia/Shanghai day: the API answers current stock, never a past day's.

`stock_snapshots` is therefore not partitioned in Dagster: the UI offers no day to pick (so none that is impossible,
and no wrong default), every materialization records today's snapshot, and the warehouse keeps every day recorded
(`stock_snapshots.snapshot_date`). The day a run recorded is its `haier/stock_day` tag. A run that asks for another
day (the tag set beforehand, e.g. a run queued before midnight that starts after it) is refused before any call.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from haier_pipeline import shanghai_time

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
