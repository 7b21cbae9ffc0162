"""Alerts: one line per failed step of a failed run (and per run that left items unanswered), and a `sync_log` row
when the step could not write its own (e.g. a resource failed before the step ran, or its process was killed)."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import dagster as dg

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.defs.alerts import webhook as alert_webhook
from haier_pipeline.defs.outcomes import (
    UNANSWERED_TAG,
    account_of,
    asset_of,
    failure_cause,
    interrupted_message,
    was_interrupted,
)
from haier_pipeline.redaction import redact, redacting_logger
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.sync_log import sync_log_row
from haier_pipeline.warehouse.warehouse import Warehouse


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when the alert is raised (the daemon's log, a test's capture)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def _alert_logger() -> logging.Logger:
    logger = redacting_logger("haier_pipeline.alerts")
    if not any(isinstance(handler, _StderrHandler) for handler in logger.handlers):
        logger.addHandler(_StderrHandler())
    # Exactly one line per alert: not also through the parent loggers Dagster captures into the tick's log.
    logger.propagate = False
    return logger


alerts = _alert_logger()


@dataclass(frozen=True)
class Alert:
    run_id: str
    asset: str
    cause: str
    failed: bool = True  # False: the run finished, but left items unanswered
    account: str = DEFAULT_ACCOUNT

    @property
    def line(self) -> str:
        return f"ALERT haier-pipeline [{self.account}]: {self.asset} failed in run {self.run_id}: {self.cause}"


def clean(text: str) -> str:
    return redact(" ".join(text.split()))


def unfinished_steps(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Steps that started and never ended: what a killed process was doing."""
    events = instance.all_logs(
        run_id,
        of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE},
    )
    started = [record.step_key for record in events if record.dagster_event_type == dg.DagsterEventType.STEP_START]
    ended = {record.step_key for record in events if record.dagster_event_type != dg.DagsterEventType.STEP_START}
    return [step for step in started if step and step not in ended]


def failure_alerts(instance: dg.DagsterInstance, run: dg.DagsterRun, run_message: str | None) -> list[Alert]:
    """One alert per failed step; for a run that failed outside its steps (a killed process, a resource that
    did not start), the steps it left unfinished (or the run itself) with the run's failure message."""
    found = [
        Alert(
            run.run_id,
            record.step_key or "(run)",
            clean(step_failure_cause(record.dagster_event.event_specific_data, record.step_key or "")),
            account=account_of(run.tags, record.step_key),
        )
        for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        if record.dagster_event is not None
    ]
    if found:
        return found
    cause = clean(why_the_run_ended(instance, run.run_id, run_message))
    return [
        Alert(run.run_id, step, cause, account=account_of(run.tags, step))
        for step in unfinished_steps(instance, run.run_id) or ["(run)"]
    ]


def step_failure_cause(failure_data: Any, step: str = "") -> str:
    """An interruption says so and what to do (Dagster's own error for it has no message: the alert read only
    `dagster._core.errors.DagsterExecutionInterruptedError`)."""
    return interrupted_message(step) if was_interrupted(failure_data) else failure_cause(failure_data)


# Dagster's words for a run marked failed by whoever noticed its process was gone, which say nothing of why.
MARKED_FROM_OUTSIDE = "marked as failed from outside the execution context"
# How Dagster's engine events say why a run's process ended (dagster._utils.get_run_crash_explanation).
PROCESS_ENDED = re.compile(r"(?:was terminated by signal \d+ \(\w+\)|unexpectedly exited with code -?\d+)\.")


def why_the_run_ended(instance: dg.DagsterInstance, run_id: str, run_message: str | None) -> str:
    """The run's failure message; when it only says the run was marked failed, the engine's account of how its
    process ended (`terminated by signal 9 (SIGKILL)`), which is what an operator needs."""
    message = run_message or "the run failed before any step started"
    if run_message and MARKED_FROM_OUTSIDE not in run_message:
        return message
    for record in reversed(instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)):
        said = record.dagster_event.message if record.dagster_event is not None else None
        if said and (ended := PROCESS_ENDED.search(said)):
            return f"its process {ended.group(0)} ({message.rstrip('.')})"
    return message


def unanswered_alert(run: dg.DagsterRun, assets: Sequence[str]) -> Alert | None:
    count = run.tags.get(UNANSWERED_TAG)
    if not count:
        return None
    asset = ",".join(assets) or "(run)"
    cause = f"finished, but {count} items went unanswered after every retry; see rejected_rows"
    return Alert(run.run_id, asset, cause, failed=False, account=account_of(run.tags, assets[0] if assets else None))


def webhook_body(run: dg.DagsterRun, alerts: Sequence[Alert], ui_url: str) -> dict[str, Any]:
    """The one webhook body for a run's alerts (alert_webhook.py): its failed steps and their (redacted) causes."""
    return alert_webhook.alert_body(
        run_id=run.run_id,
        tags=dict(run.tags),
        failures=[(alert.asset, alert.cause) for alert in alerts],
        failed=any(alert.failed for alert in alerts),
        ui_url=ui_url,
    )


def raise_alert(alert: Alert) -> str:
    alerts.error(alert.line)
    return alert.line


def record_failed_step(warehouse: Warehouse, run: dg.DagsterRun, alert: Alert) -> None:
    """The step's own `sync_log` row is the record; write one only when the step could not."""
    logged = warehouse.query(
        "SELECT count(*) AS n FROM {schema}.sync_log WHERE run_id = :run_id AND sync_type = :asset",
        {"run_id": alert.run_id, "asset": asset_of(alert.asset)},
    )
    if int(logged["n"].iloc[0]):
        return
    at = now_utc()
    row = sync_log_row(
        account=alert.account,
        run_id=alert.run_id,
        sync_type=asset_of(alert.asset),
        partition_key=run.tags.get("dagster/partition"),
        status="failed",
        started_at=at,
        completed_at=at,
        message=alert.cause,
    )
    with warehouse.transaction() as tx:
        tx.append("sync_log", row)


def record_dead_runs(instance: dg.DagsterInstance, warehouse: Warehouse, run_ids: Sequence[str]) -> None:
    """`sync_log` rows for the steps that runs marked failed after their process died left unfinished, as the failure
    sensor writes them where a daemon runs: without one, a killed step had no row at all. `warehouse` has its schema
    ensured (WarehouseResource.get_warehouse)."""
    for run in filter(None, map(instance.get_run_by_id, run_ids)):
        failures = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        for alert in failure_alerts(instance, run, failures[-1].message if failures else None):
            record_failed_step(warehouse, run, alert)
