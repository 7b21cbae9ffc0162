"""The orders file is outside Dagster's view: a sensor requests the steps that track its orders when it changes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg

from haier_pipeline.defs.resources import PipelineSettings
from haier_pipeline.endpoints import endpoints
from haier_pipeline.endpoints.declaration import FromOrdersFile


def file_version(path: Path) -> str | None:
    if not path.exists():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def orders_file_sensor() -> dg.SensorDefinition:
    """Requests a run of every endpoint whose items are the orders when HAIER_ORDERS_FILE changes."""
    tracking = [endpoint.name for endpoint in endpoints() if isinstance(endpoint.items, FromOrdersFile)]

    @dg.sensor(
        name="orders_file_sensor",
        target=dg.AssetSelection.assets(*tracking),
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Requests a run of {', '.join(tracking)} when HAIER_ORDERS_FILE changes: once per version of "
        "the file.",
    )
    def sensor(context: dg.SensorEvaluationContext, pipeline: PipelineSettings) -> dg.SensorResult:
        return orders_changed(context, pipeline)

    return sensor


def orders_changed(context: dg.SensorEvaluationContext, pipeline: PipelineSettings) -> dg.SensorResult:
    path = Path(pipeline.orders_file)
    version = file_version(path)
    if version is None:
        return dg.SensorResult(skip_reason=f"{path} does not exist (HAIER_ORDERS_FILE)")
    seen, _, changes = (context.cursor or "").partition("/")
    if version == seen:
        return dg.SensorResult(skip_reason=f"{path} unchanged (version {version})")
    # The run key names the change, not the version: Dagster never runs a key twice, so a file put back as it was
    # (a bad edit undone) ran nothing.
    change = int(changes or 0) + 1
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"orders-{change}-{version}")], cursor=f"{version}/{change}"
    )
