"""Fixtures: a pipeline wired to the simulator and a real warehouse: a DuckDB file, or a throwaway Postgres schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from unittest import mock

import psycopg
import pytest
from dagster import DagsterInstance, ExecuteInProcessResult

from haier_pipeline.cli.runs import run_assets, selected_assets
from haier_pipeline.defs.haier_catalog.stock.day import STOCK_DAY_TAG
from haier_pipeline.defs.outcomes import StepFailure, step_failures
from haier_pipeline.defs.resources import PipelineSettings, WarehouseResource
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.simulator import RunningSimulator, start_simulator
from haier_pipeline.warehouse.warehouse import Warehouse
from haier_pipeline_tests.postgres import POSTGRES_URL, require_postgres
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS, simulator_config

# The simulator draws per day which prices change and which rows a quirk touches, so a test run on the real day
# would pass or fail with the date (on some days no price changes, or a quirk touches no row). Every pipeline
# serves this day instead. It lies in the past, so "the next day" is one the clock has seen; the stock day
# guard follows the simulator's clock, as it follows the real one in production.
FIRST_DAY = date(2026, 12, 1)


@dataclass
class Pipeline:
    simulator: RunningSimulator
    resource: WarehouseResource
    orders_file: Path
    max_deactivate_ratio: float = 0.2
    max_rejected_ratio: float = 0.1
    stock_call_budget: int | None = None
    stock_deadline: float | None = None
    instance: DagsterInstance = field(default_factory=DagsterInstance.ephemeral)

    @property
    def warehouse(self) -> Warehouse:
        return self.resource.get_warehouse()

    @property
    def today(self) -> date:
        return self.simulator.config.today()

    def resources(self) -> dict[str, object]:
        return {
            "haier": HaierClient(
                base_url=self.simulator.base_url, backoff_seconds=0.05, second_pass_pause=0.2, **SIMULATOR_CREDENTIALS
            ),
            "warehouse": self.resource,
            "pipeline": PipelineSettings(
                county_weights=dict.fromkeys(self.simulator.config.counties, 1.0),
                orders_file=str(self.orders_file),
                max_deactivate_ratio=self.max_deactivate_ratio,
                max_rejected_ratio=self.max_rejected_ratio,
                stock_call_budget=self.stock_call_budget,
                stock_deadline=self.stock_deadline,
            ),
        }

    def run(self, only: Sequence[str] | None = None, day: date | None = None) -> ExecuteInProcessResult:
        """`day` is the stock day the run asks for; stock accepts only "today", here the simulator's day."""
        tags = {STOCK_DAY_TAG: (day or self.today).isoformat()}
        return run_assets(selected_assets(only), self.resources(), self.instance, tags=tags)

    def failures(self, result: ExecuteInProcessResult) -> list[StepFailure]:
        return step_failures(result)

    def next_day(self) -> None:
        self.simulator.config.day_offset += 1

    def counts(self) -> dict[str, int]:
        return self.warehouse.table_counts()

    def table(self, name: str, order_by: str = "1") -> list[tuple]:
        frame = self.warehouse.query(f"SELECT * FROM {{schema}}.{name} ORDER BY {order_by}")
        return [tuple(row) for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False)]


@contextmanager
def make_pipeline(backend: str, tmp_path: Path) -> Iterator[Pipeline]:
    orders = tmp_path / "orders.csv"
    orders.write_text("order_code,delivery_record_code,member_id\nSO.20190106.000003,,\nSO.20250612.004217,,\n")
    schema = "haier"
    if backend == "duckdb":
        resource = WarehouseResource(url=f"duckdb:///{tmp_path / 'haier.duckdb'}")
    else:
        require_postgres()
        schema = f"haier_test_{uuid.uuid4().hex[:10]}"
        resource = WarehouseResource(url=POSTGRES_URL, schema_name=schema)
    with (
        start_simulator(simulator_config(products=40)) as simulator,
        mock.patch("haier_pipeline.shanghai_time.today_in_shanghai", simulator.config.today),
    ):
        simulator.config.day_offset = (FIRST_DAY - simulator.config.today()).days
        yield Pipeline(simulator, resource, orders)
    if backend == "postgres":
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["duckdb", "postgres"])
def pipeline(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pipeline]:
    """The pipeline on each backend in turn."""
    with make_pipeline(request.param, tmp_path) as built:
        yield built


@pytest.fixture
def duckdb_pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    with make_pipeline("duckdb", tmp_path) as built:
        yield built
