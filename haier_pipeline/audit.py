"""What the run-failure sensor does: one alert line per failed step, and a `sync_log` row when the
step could not write its own (e.g. a resource failed to start before the step ran)."""

from __future__ import annotations

import logging

import pandas as pd
from dagster import RunFailureSensorContext

from haier_pipeline.haier.redaction import redact, redacting_logger
from haier_pipeline.runner import failure_cause
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.warehouse import Warehouse

alerts = redacting_logger("haier_pipeline.alerts")


def failed_steps(context: RunFailureSensorContext) -> list[tuple[str, str]]:
    """(asset, cause) for each failed step; the run's own failure message when no step failed."""
    steps = []
    for event in context.get_step_failure_events():
        steps.append((event.step_key or "(run)", failure_cause(event.event_specific_data)))
    if not steps:
        steps.append(("(run)", context.failure_event.message or "the run failed before any step started"))
    return steps


def record_run_failure(context: RunFailureSensorContext, warehouse: Warehouse) -> list[str]:
    run_id = context.dagster_run.run_id
    lines = []
    for asset, cause in failed_steps(context):
        cause = redact(" ".join(cause.split()))
        line = f"ALERT haier-pipeline: {asset} failed in run {run_id[:8]} ({context.dagster_run.job_name}): {cause}"
        alerts.log(logging.ERROR, line)
        context.log.error(line)
        lines.append(line)
        logged = warehouse.query(
            "SELECT count(*) AS n FROM {schema}.sync_log WHERE run_id = :run_id AND sync_type = :asset",
            {"run_id": run_id, "asset": asset},
        )
        if int(logged["n"].iloc[0]) == 0:
            at = now_utc()
            row = {
                "run_id": run_id,
                "sync_type": asset,
                "partition_key": context.dagster_run.tags.get("dagster/partition"),
                "status": "failed",
                "total_count": 0,
                "success_count": 0,
                "failed_count": 0,
                "api_calls": 0,
                "retries": 0,
                "throttled": 0,
                "started_at": at,
                "completed_at": at,
                "message": cause[:2000],
            }
            with warehouse.transaction() as tx:
                tx.append("sync_log", pd.DataFrame([row]))
    return lines
