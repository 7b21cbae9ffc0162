"""deploy/dagster.yaml and deploy/workspace.yaml against the real Postgres. The instance lives in a fresh database
(dropped after): its settings match the local instance's, an in-process run lands in it and a new DagsterInstance
from the same file sees it, and a run queued by the CLI is launched by a separate daemon through a separate code
server, the processes sharing nothing but Postgres and gRPC."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from dagster import AssetKey, DagsterEventType, DagsterRunStatus, QueuedRunCoordinator
from psycopg import sql

from haier_pipeline.cli.runs import run_assets, selected_assets
from haier_pipeline.defs.outcomes import step_failures
from haier_pipeline.defs.resources import PipelineSettings, WarehouseResource
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.instance import InstanceConfigurationError, bound_warehouse, home_for_warehouse
from haier_pipeline.simulator import SimulatorConfig, start_simulator
from haier_pipeline.warehouse.url import warehouse_label
from haier_pipeline_tests.deploy.processes import (
    BIN,
    DEPLOY_WORKSPACE,
    DEPLOY_YAML,
    LOCAL_YAML,
    DeployedInstance,
    database_url,
    deployed_instance,
    free_port,
    process_env,
    start,
    stop,
    tails,
    wait_for_code_server,
)
from haier_pipeline_tests.postgres import POSTGRES_URL

MATERIALIZED = ("products", "prices", "price_history", "catalog")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployedInstance]:
    """deploy/dagster.yaml, unchanged, in a temp DAGSTER_HOME; its env vars point at a fresh database."""
    with deployed_instance(tmp_path_factory) as instance, pytest.MonkeyPatch.context() as patch:
        for name, value in instance.env.items():
            patch.setenv(name, value)
        yield instance


def test_instance_settings_match_the_local_instance(deployed: DeployedInstance) -> None:
    deploy_config = yaml.safe_load(DEPLOY_YAML.read_text())
    local_config = yaml.safe_load(LOCAL_YAML.read_text())
    for section in ("concurrency", "run_monitoring", "freshness", "retention", "python_logs", "telemetry", "nux"):
        assert deploy_config[section] == local_config[section], section

    with deployed.load() as instance:
        # The psycopg2 driver: a plain postgresql:// URL would pick psycopg 3, on which dagster-postgres fails.
        assert instance.run_storage.postgres_url.startswith("postgresql+psycopg2://")
        assert instance.run_storage.postgres_url.endswith(f"/{deployed.database}")
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        assert not instance.telemetry_enabled
        # A run whose process died is marked failed (and so alerted); the default launcher cannot resume runs.
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_resume_run_attempts == 0
        # ...and the pool slots it held are freed, or every later API run would queue behind it for ever.
        assert instance.run_monitoring_settings.get("free_slots_after_run_end_seconds", 0) > 0

        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == local_config["concurrency"]["pools"]["default_limit"] == 1
        assert concurrency.run_queue_config is not None
        assert (
            concurrency.run_queue_config.max_concurrent_runs
            == local_config["concurrency"]["runs"]["max_concurrent_runs"]
        )
        # One queued run per account in progress: each value of the tag is limited by itself.
        assert concurrency.run_queue_config.tag_concurrency_limits == [
            {"key": "haier/account", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
        ]
        assert str(instance.root_directory) == deployed.env["DAGSTER_ARTIFACT_DIR"]


def test_pipeline_run_is_stored_in_the_postgres_instance(deployed: DeployedInstance) -> None:
    with start_simulator(SimulatorConfig(products=20)) as sim, deployed.load() as instance:
        resources = {
            "haier": HaierClient(
                base_url=sim.base_url,
                client_id="demo-client",
                client_secret="demo-secret",
                customer_code="8800633175",
                password="demo-password",
            ),
            # The warehouse takes a plain postgresql:// URL (psycopg 3); only the instance needs psycopg2. Schema
            # `haier` of the instance's database: the warehouse whose runs this instance records (the daemon's run
            # below writes there too; one instance records one warehouse's runs).
            "warehouse": WarehouseResource(url=database_url(deployed.database)),
            "pipeline": PipelineSettings(county_weights={"110101": 1.0, "310104": 1.0}),
        }
        result = run_assets(selected_assets(["products", "prices", "catalog"]), resources, instance=instance)
        assert result.success, step_failures(result)
        run_id = result.run_id

    # A new instance from the same file, as the webserver on another machine would build it.
    with deployed.load() as other:
        run = other.get_run_by_id(run_id)
        assert run is not None
        assert run.status == DagsterRunStatus.SUCCESS
        for name in MATERIALIZED:
            event = other.get_latest_materialization_event(AssetKey(name))
            assert event is not None, name
            assert event.run_id == run_id
        # The API steps took their slot from the shared instance: the pool now exists there, with the
        # default limit of 1 (before any run, slot_count is 0), and the slot is free again.
        pool = other.event_log_storage.get_concurrency_info("haier_api")
        assert (pool.slot_count, pool.limit, pool.claimed_slots) == (1, 1, [])

    # The instance's tables really are in that database.
    with psycopg.connect(database_url(deployed.database)) as conn:
        status = conn.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,)).fetchone()
        assert status == ("SUCCESS",)
        materialized = conn.execute(
            "SELECT DISTINCT asset_key FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
            (run_id, "ASSET_MATERIALIZATION"),
        ).fetchall()
        assert {AssetKey.from_db_string(key).path[-1] for (key,) in materialized} == set(MATERIALIZED)
        pools = conn.execute('SELECT concurrency_key, "limit" FROM concurrency_limits').fetchall()
        assert set(pools) == {("haier_api", 1), ("warehouse_writer", 1)}

    # And the pipeline's data is in the warehouse schema.
    with psycopg.connect(database_url(deployed.database)) as conn:
        for table in MATERIALIZED:
            (count,) = conn.execute(sql.SQL("SELECT count(*) FROM haier.{}").format(sql.Identifier(table))).fetchone()
            assert count > 0, table

    # The instance records that warehouse's runs; its storage is a database, so no instance of another warehouse can
    # be made beside it: a sync against another warehouse is refused, naming both.
    with deployed.load() as instance:
        assert bound_warehouse(instance) == warehouse_label(database_url(deployed.database))
    with pytest.raises(InstanceConfigurationError, match=r"Its storage is a database") as refused:
        home_for_warehouse(deployed.home, warehouse_label(POSTGRES_URL))
    assert f"set DAGSTER_HOME to the instance of {warehouse_label(POSTGRES_URL)}" in str(refused.value)


def test_daemon_launches_a_queued_run_through_the_code_server(deployed: DeployedInstance, tmp_path: Path) -> None:
    """The production topology as separate processes sharing only Postgres and gRPC: a code server, the daemon
    (deploy/workspace.yaml), and `dagster job launch` standing in for the webserver. The run is queued, dequeued
    by the daemon and executed by the default launcher in a run worker under the code server."""
    with start_simulator(SimulatorConfig(products=20)) as sim:
        port = free_port()
        env = process_env(
            deployed,
            DAGSTER_CODE_SERVER_HOST="127.0.0.1",
            DAGSTER_CODE_SERVER_PORT=str(port),
            HAIER_BASE_URL=sim.base_url,
            HAIER_CLIENT_ID="demo-client",
            HAIER_CLIENT_SECRET="demo-secret",
            HAIER_CUSTOMER_CODE="8800633175",
            HAIER_PASSWORD="demo-password",
            HAIER_COUNTY_CODES="110101,310104",
            # Schema `haier` of the throwaway instance database, dropped with it.
            HAIER_WAREHOUSE_URL=database_url(deployed.database),
        )
        logs = {name: tmp_path / f"{name}.log" for name in ("code_server", "daemon")}
        serve = ["code-server", "start", "-m", "haier_pipeline.definitions", "-h", "127.0.0.1", "-p", str(port)]
        code_server = start([str(BIN / "dagster"), *serve], env, tmp_path, logs["code_server"])
        daemon = None
        try:
            wait_for_code_server(port, code_server, logs["code_server"])
            daemon = start(
                [str(BIN / "dagster-daemon"), "run", "-w", str(DEPLOY_WORKSPACE)], env, tmp_path, logs["daemon"]
            )
            run_id = str(uuid.uuid4())
            # No job per cron any more: the morning's assets, selected from Dagster's implicit asset job.
            selection = ",".join(MATERIALIZED)
            submit = ["job", "launch", "-w", str(DEPLOY_WORKSPACE), "-j", "__ASSET_JOB", "-o", selection]
            submit += ["--run-id", run_id]
            launch = subprocess.run(
                [str(BIN / "dagster"), *submit],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert launch.returncode == 0, launch.stdout + launch.stderr

            with deployed.load() as instance:
                deadline = time.monotonic() + 60
                run = instance.get_run_by_id(run_id)
                while run is None or not run.is_finished:
                    assert time.monotonic() < deadline, f"run still {run and run.status}:\n{tails(logs)}"
                    time.sleep(0.25)
                    run = instance.get_run_by_id(run_id)
                assert run.status == DagsterRunStatus.SUCCESS, logs["code_server"].read_text()[-5000:]

                events = [record.dagster_event_type for record in instance.all_logs(run_id) if record.is_dagster_event]
                # Queued by the CLI (QueuedRunCoordinator), then dequeued and launched (STARTING) by the daemon.
                assert DagsterEventType.RUN_ENQUEUED in events
                assert events.index(DagsterEventType.RUN_ENQUEUED) < events.index(DagsterEventType.RUN_STARTING)
                materialized = {
                    record.asset_materialization.asset_key.path[-1]
                    for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
                }
                assert materialized == set(MATERIALIZED)
        finally:
            if daemon is not None:
                stop(daemon)
            stop(code_server)

    with psycopg.connect(database_url(deployed.database)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM haier.catalog").fetchone()
        assert count > 0
