"""An endpoint's cadence as a Dagster automation condition, and its freshness as a freshness policy: when each asset
runs is declared on the endpoint (Asia/Shanghai time) and evaluated by the automation sensor."""

from __future__ import annotations

from datetime import timedelta

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


# The Dagster UI says a freshness window with moment.js's `duration.humanize()` ("Fails if more than 13 hours since
# last materialization"): the duration rounded to one unit, by these thresholds (moment's defaults). 12 h 30 min
# read as "13 hours", beside a fail window of 13 hours.
_UNITS = (("second", 1), ("minute", 60), ("hour", 3600), ("day", 86400))
_THRESHOLDS = {"second": 45, "minute": 45, "hour": 22, "day": 26}  # "a few seconds" up to 44 s
_ARTICLES = {"minute": "a minute", "hour": "an hour", "day": "a day"}


def ui_reading(window: timedelta) -> str:
    """How the Dagster UI says `window` (moment's `humanize()`, English): "40 minutes", "an hour", "13 hours", "a
    day", "2 days", "a month"."""
    seconds = abs(window.total_seconds())
    rounded = {unit: _round_half_up(seconds / size) for unit, size in _UNITS}
    if rounded["second"] < _THRESHOLDS["second"]:
        return "a few seconds"
    for unit in ("minute", "hour", "day"):
        if rounded[unit] <= 1:
            return _ARTICLES[unit]
        if rounded[unit] < _THRESHOLDS[unit]:
            return f"{rounded[unit]} {unit}s"
    months = _round_half_up(seconds / 86400 * 4800 / 146097)
    if months <= 1:
        return "a month"
    if months < 11:
        return f"{months} months"
    years = _round_half_up(seconds / 86400 / 365.2425)
    return "a year" if years <= 1 else f"{years} years"


def _round_half_up(value: float) -> int:
    return int(value + 0.5)  # JavaScript's Math.round, for the positive values here


def _said_exactly(window: timedelta) -> bool:
    """Whether the UI's words for `window` mean that duration, not a neighbour it rounds to."""
    words = ui_reading(window).split()
    sizes = dict(_UNITS)
    unit = words[-1].rstrip("s")
    if unit not in sizes or words[:2] == ["a", "few"]:
        return False
    count = 1 if words[0] in ("a", "an") else int(words[0])
    return window == timedelta(seconds=count * sizes[unit])


def policy_for(freshness: Freshness | None) -> dg.FreshnessPolicy | None:
    """The time-window policy of a declared freshness, refused (naming the window and what the UI would say) when
    the UI would say a window other than it is, or say the warning and the failure alike."""
    if freshness is None:
        return None
    windows = {"fail_after": freshness.fail_after, "warn_after": freshness.warn_after}
    for name, window in windows.items():
        if window is not None and not _said_exactly(window):
            raise ValueError(
                f"freshness {name}={window} would read as {ui_reading(window)!r} in the Dagster UI: declare a window "
                "it says as it is (whole minutes under 45, an hour, whole hours up to 21, a day, whole days up to 25)"
            )
    if freshness.warn_after is not None and freshness.warn_after >= freshness.fail_after:
        raise ValueError(f"freshness warn_after={freshness.warn_after} must be shorter than fail_after")
    return dg.FreshnessPolicy.time_window(fail_window=freshness.fail_after, warn_window=freshness.warn_after)
