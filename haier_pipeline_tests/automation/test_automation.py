"""Schedules and sensors, evaluated with Dagster's test contexts against real files and instances."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import (
    AssetMaterialization,
    DagsterEventType,
    DagsterInstance,
    RunRequest,
    SensorResult,
    SkipReason,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
)

from haier_pipeline.automation import (
    balance_schedule,
    catalog_after_stock_sensor,
    logistics_schedule,
    morning_catalog_schedule,
    orders_file_sensor,
    run_failure_alert_sensor,
    stock_schedule,
)
from haier_pipeline.definitions import defs
from haier_pipeline.resources import PipelineSettings
from haier_pipeline.shanghai_time import SHANGHAI
from haier_pipeline_tests.pipelines import Pipeline


def test_definitions_load_with_every_job_schedule_and_sensor() -> None:
    repository = defs.get_repository_def()
    assert {job.name for job in repository.get_all_jobs()} >= {
        "morning_catalog_job",
        "stock_job",
        "catalog_job",
        "balance_job",
        "logistics_job",
    }
    assert {schedule.name for schedule in repository.schedule_defs} == {
        "morning_catalog_schedule",
        "stock_schedule",
        "balance_schedule",
        "logistics_schedule",
    }
    assert {sensor.name for sensor in repository.sensor_defs} == {
        "orders_file_sensor",
        "catalog_after_stock_sensor",
        "run_failure_alert_sensor",
    }


def test_schedules_run_in_shanghai_time() -> None:
    assert morning_catalog_schedule.execution_timezone == "Asia/Shanghai"
    assert morning_catalog_schedule.cron_schedule == "30 6 * * *"
    assert balance_schedule.cron_schedule == "0 * * * *"
    assert logistics_schedule.cron_schedule == "*/30 * * * *"
    assert stock_schedule.cron_schedule == "0 8,11,14,17,20 * * *"


def test_stock_schedule_asks_for_the_shanghai_day_partition() -> None:
    # 16:30 UTC on the 25th is 00:30 on the 26th in Shanghai.
    context = build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 25, 16, 30, tzinfo=UTC), repository_def=defs.get_repository_def()
    )
    request = stock_schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2026-11-26"
    morning = build_schedule_context(scheduled_execution_time=datetime(2026, 11, 26, 6, 30, tzinfo=SHANGHAI))
    assert morning_catalog_schedule.evaluate_tick(morning).run_requests[0].run_key == "morning-2026-11-26"


def evaluate_orders_sensor(orders: Path, cursor: str | None) -> SensorResult | SkipReason:
    context = build_sensor_context(cursor=cursor, resources={"pipeline": PipelineSettings(orders_file=str(orders))})
    return orders_file_sensor(context)


def test_orders_sensor_fires_once_per_version_of_the_file(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    assert isinstance(evaluate_orders_sensor(orders, None), SkipReason), "no file, no run"

    orders.write_text("order_code\nSO.20190106.000003\n")
    first = evaluate_orders_sensor(orders, None)
    assert isinstance(first, SensorResult)
    (request,) = first.run_requests
    assert request.run_key.startswith("orders-")
    assert isinstance(evaluate_orders_sensor(orders, first.cursor), SkipReason), "same version: no second run"

    orders.write_text("order_code\nSO.20190106.000003\nSO.20250612.004217\n")
    second = evaluate_orders_sensor(orders, first.cursor)
    assert isinstance(second, SensorResult)
    assert second.run_requests[0].run_key != request.run_key
    assert isinstance(evaluate_orders_sensor(orders, second.cursor), SkipReason)


def test_catalog_is_rebuilt_when_a_stock_partition_lands() -> None:
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, definitions=defs)
        before = list(catalog_after_stock_sensor(context))
        assert not [request for request in before if isinstance(request, RunRequest)], "nothing landed yet"
        instance.report_runless_asset_event(AssetMaterialization("stock_snapshots", partition="2026-11-26"))
        context = build_sensor_context(instance=instance, definitions=defs)
        requests = [request for request in catalog_after_stock_sensor(context) if isinstance(request, RunRequest)]
        assert len(requests) == 1
        assert catalog_after_stock_sensor.job_name == "catalog_job"


def test_run_failure_sensor_records_the_step_and_logs_one_alert(
    duckdb_pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = duckdb_pipeline
    with DagsterInstance.ephemeral() as instance:
        assert pipeline.run().success
        pipeline.simulator.config.empty_listing = True
        from haier_pipeline.runner import run_assets, selected_assets

        result = run_assets(selected_assets(["products"]), pipeline.resources(), None, instance=instance)
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        failure_event = next(event for event in result.all_events if event.event_type == DagsterEventType.RUN_FAILURE)
        # The step wrote its own failed row; drop it to see the sensor write the row the step could not.
        with pipeline.warehouse.transaction() as tx:
            tx.execute("DELETE FROM {schema}.sync_log WHERE run_id = :run_id", {"run_id": result.run_id})
        context = build_run_status_sensor_context(
            sensor_name="run_failure_alert_sensor",
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=failure_event,
            resources={"warehouse": pipeline.resource},
        ).for_run_failure()
        caplog.set_level(logging.ERROR, logger="haier_pipeline.alerts")
        run_failure_alert_sensor(context)
        run_failure_alert_sensor(context)  # a second evaluation adds nothing

    alerts = [record.getMessage() for record in caplog.records if record.name == "haier_pipeline.alerts"]
    assert len(alerts) == 2 and alerts[0] == alerts[1]
    assert alerts[0].startswith("ALERT haier-pipeline: products failed in run ")
    assert "deactivation_guard" in alerts[0]
    logged = pipeline.warehouse.query(
        "SELECT sync_type, status, message FROM {schema}.sync_log WHERE run_id = :run_id", {"run_id": result.run_id}
    )
    assert logged["sync_type"].tolist() == ["products"]
    assert logged["status"].tolist() == ["failed"]
    assert "deactivation_guard" in logged["message"].iloc[0]
