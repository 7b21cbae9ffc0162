"""An endpoint's cadence as a Dagster automation condition, and its freshness as a freshness policy: when each asset
runs is declared on the endpoint (Asia/Shanghai time) and evaluated by the automation sensor."""

from __future__ import annotations

import dagster as dg

from haier_pipeline.endpoints.declaration import AfterParents, Cadence, Cron, Freshness
from haier_pipeline.shanghai_time import TIMEZONE_NAME


def on_cadence(cron: str) -> dg.AutomationCondition:
    """`on_cron` for an asset whose upstream changes on its own, slower cadence (stock at 11:00 must not wait for
    a products listing that only runs at 06:30): each tick requests it once, unless it is already running."""
    # Annotated: Dagster types a tick as a condition on assets, and `since_last_handled` as one on assets or checks.
    tick: dg.AutomationCondition = dg.AutomationCondition.cron_tick_passed(cron, TIMEZONE_NAME)
    return (
        tick.since_last_handled() & ~dg.AutomationCondition.any_deps_missing() & ~dg.AutomationCondition.in_progress()
    ).with_label(f"on_cadence({cron}, {TIMEZONE_NAME})")


def follows_parents() -> dg.AutomationCondition:
    """`eager()`, except that a parent's update counts even when the run that made it also targeted this asset:
    eager() leaves that to the run, and a run that died or failed between the two (a SIGKILL during the ten-minute
    stock step, which runs between prices and price_history) left prices updated and price_history never caught up.
    Here a parent's update stays pending until this asset is updated or requested after it."""
    parent_updated = dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.newly_updated() | dg.AutomationCondition.will_be_requested()
    )
    handled = dg.AutomationCondition.newly_updated() | dg.AutomationCondition.newly_requested()
    return (
        parent_updated.since(handled)
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("follows_parents")


def condition_for(cadence: Cadence | None) -> dg.AutomationCondition | None:
    if isinstance(cadence, Cron):
        return (
            dg.AutomationCondition.on_cron(cadence.schedule, TIMEZONE_NAME)
            if cadence.with_parents
            else on_cadence(cadence.schedule)
        )
    if isinstance(cadence, AfterParents):
        return follows_parents()
    return None


def policy_for(freshness: Freshness | None) -> dg.FreshnessPolicy | None:
    if freshness is None:
        return None
    return dg.FreshnessPolicy.time_window(fail_window=freshness.fail_after, warn_window=freshness.warn_after)
