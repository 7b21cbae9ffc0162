"""Warehouse fixtures: a DuckDB file per test, a throwaway schema in the real Postgres per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from haier_pipeline.warehouse.warehouse import Warehouse
from haier_pipeline_tests.postgres import POSTGRES_URL, require_postgres


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "haier.duckdb"


@pytest.fixture
def duckdb_warehouse(duckdb_path: Path) -> Warehouse:
    warehouse = Warehouse.from_url(f"duckdb:///{duckdb_path}", lock_timeout=60, read_timeout=60)
    warehouse.ensure_schema()
    return warehouse


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    require_postgres()
    schema = f"haier_test_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def postgres_warehouse(postgres_schema: str) -> Warehouse:
    warehouse = Warehouse.from_url(POSTGRES_URL, schema=postgres_schema)
    warehouse.ensure_schema()
    return warehouse


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    return request.getfixturevalue(f"{request.param}_warehouse")
