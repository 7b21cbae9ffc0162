"""The dealer's business day is the Asia/Shanghai calendar day, wherever the pipeline runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
TIMEZONE_NAME = "Asia/Shanghai"


def now_utc() -> datetime:
    return datetime.now(UTC)


def today_in_shanghai() -> date:
    return datetime.now(SHANGHAI).date()


def seconds_until_the_day_ends(day: date, now: datetime | None = None) -> float:
    """Seconds from `now` to midnight in Shanghai after `day` (0 once it has passed)."""
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=SHANGHAI)
    return max(0.0, (end - (now or now_utc())).total_seconds())
