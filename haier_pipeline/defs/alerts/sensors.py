"""The sensor that alerts on every failed run, however it was launched."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import timedelta

import dagster as dg

from haier_pipeline.defs.alerts import audit
from haier_pipeline.defs.resources import WarehouseResource
from haier_pipeline.instance import mark_dead_runs
from haier_pipeline.shanghai_time import now_utc

# How far back a sensor that has never run looks for failed runs (a new deployment does not re-alert history).
FIRST_LOOKBACK = timedelta(days=1)
RUNS_PER_TICK = 100


@dataclass(frozen=True)
class AlertCursor:
    """Event storage ids of the last RUN_FAILURE and RUN_SUCCESS events handled: ids only grow, so a run that
    finishes late is never skipped, and each is handled once."""

    failure: int | None = None
    success: int | None = None

    @classmethod
    def parse(cls, text: str | None) -> AlertCursor:
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self))


def _new_events(
    instance: dg.DagsterInstance, event_type: dg.DagsterEventType, after: int | None
) -> list[dg.EventLogRecord]:
    since = None if after is not None else (now_utc() - FIRST_LOOKBACK).timestamp()
    records_filter = dg.RunStatusChangeRecordsFilter(
        event_type=event_type, after_storage_id=after, after_timestamp=since
    )
    return list(instance.fetch_run_status_changes(records_filter, limit=RUNS_PER_TICK, ascending=True).records)


def partial_steps(warehouse: WarehouseResource, run_id: str) -> list[str]:
    rows = warehouse.get_warehouse().query(
        "SELECT DISTINCT sync_type FROM {schema}.sync_log WHERE run_id = :run_id AND status = 'partial'",
        {"run_id": run_id},
    )
    return sorted(rows["sync_type"].tolist())


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="One ALERT line per failed step of every failed run, however it was launched (UI, automation, "
    "sensor, backfill, or `haier-pipeline sync`), and per run that left items unanswered; records the failure in "
    "sync_log when the step could not. First marks failed the runs of this host whose process died.",
)
def run_failure_alert_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    # A run_failure_sensor only sees runs launched from this code location; `sync` runs in-process, with no
    # code location, so it skipped them. This reads the instance's run status events instead.
    cursor = AlertCursor.parse(context.cursor)
    raised: list[str] = []
    for run_id in mark_dead_runs(context.instance):  # alerted below, with the others
        context.log.warning(f"run {run_id} had lost its process (killed?): marked failed, its pool slots freed")
    failures = _new_events(context.instance, dg.DagsterEventType.RUN_FAILURE, cursor.failure)
    for record in failures:
        run = context.instance.get_run_by_id(record.run_id)
        if run is None:
            continue
        for alert in audit.failure_alerts(context.instance, run, record.event_log_entry.message):
            raised.append(audit.raise_alert(alert))
            audit.record_failed_step(warehouse.get_warehouse(), run, alert)
    successes = _new_events(context.instance, dg.DagsterEventType.RUN_SUCCESS, cursor.success)
    for record in successes:
        run = context.instance.get_run_by_id(record.run_id)
        if run is not None and audit.UNANSWERED_TAG in run.tags:
            alert = audit.unanswered_alert(run, partial_steps(warehouse, run.run_id))
            if alert is not None:
                raised.append(audit.raise_alert(alert))
    next_cursor = AlertCursor(
        failure=failures[-1].storage_id if failures else cursor.failure,
        success=successes[-1].storage_id if successes else cursor.success,
    )
    summary = f"{len(raised)} alert(s) raised" if raised else "no new failed run"
    return dg.SensorResult(cursor=next_cursor.dump(), skip_reason=None if raised else summary)
