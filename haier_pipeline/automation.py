"""Jobs, schedules and sensors: how the pipeline runs itself. Times are Asia/Shanghai."""

import hashlib
from datetime import datetime
from pathlib import Path

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    EventLogEntry,
    RunFailureSensorContext,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset_sensor,
    define_asset_job,
    run_failure_sensor,
    schedule,
    sensor,
)

from haier_pipeline.assets.common import stock_partitions
from haier_pipeline.audit import record_run_failure
from haier_pipeline.resources import PipelineSettings
from haier_pipeline.shanghai_time import SHANGHAI, TIMEZONE_NAME
from haier_pipeline.warehouse import WarehouseResource

morning_catalog_job = define_asset_job(
    "morning_catalog_job",
    selection=AssetSelection.assets("products", "prices", "price_history", "catalog"),
    description="Products, prices, price history and the catalog, before the shop opens.",
)
stock_job = define_asset_job(
    "stock_job",
    selection=AssetSelection.assets("stock_snapshots"),
    partitions_def=stock_partitions,
    description="Stock of one day (Asia/Shanghai); the catalog follows through catalog_after_stock_sensor.",
)
catalog_job = define_asset_job(
    "catalog_job",
    selection=AssetSelection.assets("catalog"),
    description="Rebuild the catalog from the warehouse.",
)
balance_job = define_asset_job("balance_job", selection=AssetSelection.assets("account_balances"))
logistics_job = define_asset_job("logistics_job", selection=AssetSelection.assets("logistics_events"))

JOBS = [morning_catalog_job, stock_job, catalog_job, balance_job, logistics_job]


@schedule(
    job=morning_catalog_job,
    cron_schedule="30 6 * * *",
    execution_timezone=TIMEZONE_NAME,
    default_status=DefaultScheduleStatus.RUNNING,
    description="06:30 every morning: products, prices, price history, catalog.",
)
def morning_catalog_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    return RunRequest(run_key=f"morning-{context.scheduled_execution_time:%Y-%m-%d}")


@schedule(
    job=stock_job,
    cron_schedule="0 8,11,14,17,20 * * *",
    execution_timezone=TIMEZONE_NAME,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Today's stock partition five times a day (08, 11, 14, 17, 20 h).",
)
def stock_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    scheduled = context.scheduled_execution_time or datetime.now(SHANGHAI)
    day = scheduled.astimezone(SHANGHAI).date().isoformat()
    return RunRequest(run_key=f"stock-{scheduled.astimezone(SHANGHAI):%Y-%m-%dT%H}", partition_key=day)


@schedule(
    job=balance_job,
    cron_schedule="0 * * * *",
    execution_timezone=TIMEZONE_NAME,
    default_status=DefaultScheduleStatus.RUNNING,
    description="The account balance every hour.",
)
def balance_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    return RunRequest(run_key=f"balance-{context.scheduled_execution_time:%Y-%m-%dT%H}")


@schedule(
    job=logistics_job,
    cron_schedule="*/30 * * * *",
    execution_timezone=TIMEZONE_NAME,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Logistics of the tracked orders every 30 minutes.",
)
def logistics_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    return RunRequest(run_key=f"logistics-{context.scheduled_execution_time:%Y-%m-%dT%H%M}")


SCHEDULES = [morning_catalog_schedule, stock_schedule, balance_schedule, logistics_schedule]


def file_version(path: Path) -> str | None:
    if not path.exists():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@sensor(
    job=logistics_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Requests a logistics run when HAIER_ORDERS_FILE changes: once per version of the file.",
)
def orders_file_sensor(context: SensorEvaluationContext, pipeline: PipelineSettings) -> SensorResult | SkipReason:
    path = Path(pipeline.orders_file)
    version = file_version(path)
    if version is None:
        return SkipReason(f"{path} does not exist (HAIER_ORDERS_FILE)")
    if version == context.cursor:
        return SkipReason(f"{path} unchanged (version {version})")
    return SensorResult(run_requests=[RunRequest(run_key=f"orders-{version}")], cursor=version)


@asset_sensor(
    asset_key=AssetKey("stock_snapshots"),
    job=catalog_job,
    default_status=DefaultSensorStatus.RUNNING,
    description="Rebuilds the catalog whenever a stock partition lands (schedule, backfill or CLI).",
)
def catalog_after_stock_sensor(context: SensorEvaluationContext, asset_event: EventLogEntry) -> RunRequest:
    return RunRequest(run_key=f"catalog-after-{asset_event.run_id}-{asset_event.timestamp}")


@run_failure_sensor(
    default_status=DefaultSensorStatus.RUNNING,
    description="Records the failed step in sync_log (when the step could not) and logs one alert line.",
)
def run_failure_alert_sensor(context: RunFailureSensorContext, warehouse: WarehouseResource) -> None:
    record_run_failure(context, warehouse.get_warehouse())


SENSORS = [orders_file_sensor, catalog_after_stock_sensor, run_failure_alert_sensor]
