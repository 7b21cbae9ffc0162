"""Which (product, county) pairs a stock step asks, in which order, when a call budget or a deadline may stop it
before the end.

Priority, highest first (pairs already answered today, by an earlier run that died, are not asked again):
1. pairs never checked, or skipped by a budget since they were last checked;
2. products in stock in that county when last checked, or whose price changed in the last 7 days;
3. counties by their weight (the `weight` column of data/counties.csv, default 1);
4. the pair checked longest ago first; then product and county code, so the order is stable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from haier_pipeline.endpoints.products import ACTIVE_PROCURABLE
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.warehouse.warehouse import Warehouse

RECENT_PRICE_CHANGE = timedelta(days=7)


@dataclass
class Plan:
    """The day's pairs: how many in all, how many an earlier run of the day already answered, and the rest in
    priority order. Iterating `pending()` counts what was handed out, so `skipped()` is what a stop left."""

    total: int
    resumed: int
    ordered: list[tuple[str, str]]
    handed_out: int = field(default=0, init=False)

    def pending(self) -> Iterator[tuple[str, str]]:
        for pair in self.ordered:
            self.handed_out += 1
            yield pair

    def skipped(self) -> list[tuple[str, str]]:
        return self.ordered[self.handed_out :]


def plan_day(warehouse: Warehouse, account: str, day: date, counties: dict[str, float]) -> Plan:
    """The account's pairs for the day, in priority order."""
    bound = {"account": account}
    codes = warehouse.query(ACTIVE_PROCURABLE, bound)["product_code"]
    pairs = pd.DataFrame(
        [(code, county) for code in codes for county in counties], columns=["product_code", "county_code"]
    )
    coverage = warehouse.query(
        "SELECT product_code, county_code, last_checked_at, last_stock, skipped_at FROM {schema}.stock_coverage "
        "WHERE account = :account",
        bound,
    )
    staged = warehouse.query(
        "SELECT product_code, county_code, TRUE AS staged FROM {schema}.stock_answers "
        "WHERE account = :account AND snapshot_date = :day",
        {**bound, "day": day},
    )
    changed = warehouse.query(
        "SELECT DISTINCT product_code FROM {schema}.price_history WHERE account = :account AND valid_from >= :since",
        {**bound, "since": now_utc() - RECENT_PRICE_CHANGE},
    )["product_code"]
    pairs = pairs.merge(coverage, how="left").merge(staged, how="left")
    answered = pairs["staged"].notna()
    todo = pairs[~answered].copy()
    last_checked, skipped_at = todo["last_checked_at"], todo["skipped_at"]
    todo["first"] = last_checked.isna() | (skipped_at > last_checked)
    todo["lively"] = (todo["last_stock"].fillna(0) > 0) | todo["product_code"].isin(set(changed))
    todo["weight"] = todo["county_code"].map(counties)
    todo = todo.sort_values(
        ["first", "lively", "weight", "last_checked_at", "product_code", "county_code"],
        ascending=[False, False, False, True, True, True],
        na_position="first",
        kind="stable",
    )
    return Plan(
        total=len(pairs),
        resumed=int(answered.sum()),
        ordered=list(zip(todo["product_code"], todo["county_code"], strict=True)),
    )
