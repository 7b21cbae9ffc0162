"""The dealer's business day is the Asia/Shanghai calendar day, wherever the pipeline runs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
TIMEZONE_NAME = "Asia/Shanghai"


def now_utc() -> datetime:
    return datetime.now(UTC)


def today_in_shanghai() -> date:
    return datetime.now(SHANGHAI).date()
