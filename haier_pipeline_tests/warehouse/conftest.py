"""Warehouse fixtures: a DuckDB file per test, a throwaway schema in the real Postgres per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from haier_pipeline.warehouse import Warehouse

POSTGRES_URL = os.environ.get("HAIER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

_reachable: bool | None = None


def _require_postgres() -> None:
    global _reachable
    if _reachable is None:
        try:
            with psycopg.connect(POSTGRES_URL, connect_timeout=3):
                _reachable = True
        except psycopg.OperationalError:
            _reachable = False
    if not _reachable:
        message = (
            f"PostgreSQL is unreachable at HAIER_TEST_POSTGRES_URL={POSTGRES_URL}; start it with "
            "`pg_ctlcluster 15 main start` (or point HAIER_TEST_POSTGRES_URL at a running server)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


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
    _require_postgres()
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
