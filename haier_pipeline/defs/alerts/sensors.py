"""The sensor that alerts on every failed run, however it was launched: a line on the daemon's stderr, a `sync_log` row
when the step could not write its own, and one POST to HAIER_ALERT_WEBHOOK_URL."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import dagster as dg

from haier_pipeline.defs.alerts import audit
from haier_pipeline.defs.alerts import webhook as alert_webhook
from haier_pipeline.defs.resources import WarehouseResource
from haier_pipeline.instance import mark_dead_runs
from haier_pipeline.shanghai_time import now_utc

RUNS_PER_TICK = 100
# The run status events the sensor reads.
RunEnd = Literal[dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_SUCCESS]


@dataclass(frozen=True)
class AlertCursor:
    """Event storage ids of the last RUN_FAILURE and RUN_SUCCESS events handled: ids only grow, so a run that
    finishes late is never skipped, and each is handled once. `pending`: webhook alerts not delivered yet (their
    bodies, which hold nothing secret), tried again on the next ticks."""

    failure: int | None = None
    success: int | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None) -> AlertCursor:
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def _latest_event_id(instance: dg.DagsterInstance, event_type: RunEnd) -> int:
    records = instance.fetch_run_status_changes(
        dg.RunStatusChangeRecordsFilter(event_type=event_type), limit=1, ascending=False
    ).records
    return records[0].storage_id if records else 0


def _new_events(
    context: dg.SensorEvaluationContext, event_type: RunEnd, after: int | None
) -> tuple[list[dg.EventLogRecord], int | None]:
    """The events after `after` (a storage id); without one (the sensor's first tick, or a cursor an older version
    wrote when it had seen no such event), those since the sensor was started, or since its last tick: a sensor
    just enabled does not replay history. Also returns the id to resume from when there was no new event."""
    instance = context.instance
    since = None
    baseline = after
    if after is None:
        # Read before the events: an event between the two reads is then among them, or after the baseline.
        baseline = _latest_event_id(instance, event_type)
        since = context.last_tick_completion_time if context.cursor else None
        since = since or context.last_sensor_start_time or now_utc().timestamp()
    records_filter = dg.RunStatusChangeRecordsFilter(
        event_type=event_type, after_storage_id=after, after_timestamp=since
    )
    records = list(instance.fetch_run_status_changes(records_filter, limit=RUNS_PER_TICK, ascending=True).records)
    return records, baseline


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
    "sensor, backfill, or `haier-pipeline sync`), and per run that left items unanswered; one POST per such run to "
    "HAIER_ALERT_WEBHOOK_URL when set; records the failure in sync_log when the step could not. Only runs that ended "
    "after the sensor was enabled. First marks failed the runs of this host whose process died.",
)
def run_failure_alert_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    # A run_failure_sensor only sees runs launched from this code location; `sync` runs in-process, with no
    # code location, so it skipped them. This reads the instance's run status events instead.
    cursor = AlertCursor.parse(context.cursor)
    webhook = alert_webhook.webhook_config()
    raised: list[str] = []
    bodies: list[dict[str, Any]] = []
    for run_id in mark_dead_runs(context.instance):  # alerted below, with the others
        context.log.warning(f"run {run_id} had lost its process (killed?): marked failed, its pool slots freed")
    failures, failure_baseline = _new_events(context, dg.DagsterEventType.RUN_FAILURE, cursor.failure)
    for record in failures:
        run = context.instance.get_run_by_id(record.run_id)
        if run is None:
            continue
        alerts = audit.failure_alerts(context.instance, run, record.event_log_entry.message)
        for alert in alerts:
            raised.append(audit.raise_alert(alert))
            audit.record_failed_step(warehouse.get_warehouse(), run, alert)
        bodies.append(audit.webhook_body(run, alerts, webhook.ui_url))
    successes, success_baseline = _new_events(context, dg.DagsterEventType.RUN_SUCCESS, cursor.success)
    for record in successes:
        run = context.instance.get_run_by_id(record.run_id)
        if run is not None and audit.UNANSWERED_TAG in run.tags:
            unanswered = audit.unanswered_alert(run, partial_steps(warehouse, run.run_id))
            if unanswered is not None:
                raised.append(audit.raise_alert(unanswered))
                bodies.append(audit.webhook_body(run, [unanswered], webhook.ui_url))
    # Last, once every alert is raised and recorded: a tick that failed before here is evaluated again, and must not
    # have posted twice. Delivery never raises; what it could not deliver is kept for the next ticks.
    pending = alert_webhook.load_pending(cursor.pending) + [alert_webhook.Pending(body) for body in bodies]
    undelivered = alert_webhook.deliver_all(webhook.url, pending)
    next_cursor = AlertCursor(
        failure=failures[-1].storage_id if failures else failure_baseline,
        success=successes[-1].storage_id if successes else success_baseline,
        pending=alert_webhook.dump_pending(undelivered),
    )
    summary = f"{len(raised)} alert(s) raised" if raised else "no new failed run"
    if undelivered:
        summary += f"; {len(undelivered)} webhook alert(s) not delivered yet, tried again on the next ticks"
    return dg.SensorResult(cursor=next_cursor.dump(), skip_reason=None if raised else summary)
