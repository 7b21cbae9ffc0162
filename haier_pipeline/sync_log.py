"""The one `sync_log` row of an asset step, built the same way whether the step writes it or, when the step could not
(its process was killed, a resource failed before it ran), the alert sensor does."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from haier_pipeline.redaction import excerpt

MESSAGE_CHARS = 2000


def sync_log_row(
    *,
    account: str,
    run_id: str,
    sync_type: str,
    partition_key: str | None,
    status: str,
    started_at: datetime,
    completed_at: datetime,
    message: str,
    total_count: int = 0,
    success_count: int = 0,
    failed_count: int = 0,
    unanswered_count: int = 0,
    api_calls: int = 0,
    retries: int = 0,
    throttled: int = 0,
) -> pd.DataFrame:
    """The row to append to `sync_log`. The counts default to 0: a step that never ran counted nothing. The message
    is masked before it is cut, so a secret the cut would split is still masked."""
    return pd.DataFrame(
        [
            {
                "account": account,
                "run_id": run_id,
                "sync_type": sync_type,
                "partition_key": partition_key,
                "status": status,
                "total_count": total_count,
                "success_count": success_count,
                "failed_count": failed_count,
                "unanswered_count": unanswered_count,
                "api_calls": api_calls,
                "retries": retries,
                "throttled": throttled,
                "started_at": started_at,
                "completed_at": completed_at,
                "message": excerpt(message, MESSAGE_CHARS),
            }
        ]
    )
