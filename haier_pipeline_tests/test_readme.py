"""Every SQL example of the README runs as written on both backends: a DuckDB file opened the way an analyst opens
it (`duckdb.connect("…/warehouse.duckdb")`), and schema `haier` of a throwaway Postgres database, each filled by a
pipeline run against the simulator."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import psycopg
import pytest
from psycopg import sql

from haier_pipeline.cli.runs import run_assets, selected_assets
from haier_pipeline.defs.haier_catalog.stock.day import STOCK_DAY_TAG
from haier_pipeline.defs.outcomes import step_failures
from haier_pipeline.defs.resources import PipelineSettings, WarehouseResource
from haier_pipeline.endpoints import steps
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.simulator import start_simulator
from haier_pipeline_tests.postgres import POSTGRES_URL, require_postgres
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS, simulator_config

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_statements() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    statements = []
    for block in blocks:
        code = "\n".join(line for line in block.splitlines() if not line.strip().startswith("--"))
        statements += [statement.strip() for statement in code.split(";") if statement.strip()]
    return statements


def fill(url: str, orders: Path) -> None:
    """Every asset, as `sync` runs them, into schema `haier` of `url`."""
    with start_simulator(simulator_config(products=20)) as simulator:
        resources = {
            "haier": HaierClient(base_url=simulator.base_url, backoff_seconds=0.05, **SIMULATOR_CREDENTIALS),
            "warehouse": WarehouseResource(url=url),
            "pipeline": PipelineSettings(
                county_weights=dict.fromkeys(simulator.config.counties, 1.0), orders_file=str(orders)
            ),
        }
        result = run_assets(
            selected_assets(list(steps())), resources, tags={STOCK_DAY_TAG: simulator.config.today().isoformat()}
        )
        assert result.success, step_failures(result)


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("orders") / "orders.csv"
    path.write_text("order_code\nSO.20190106.000003\n")
    return path


@pytest.fixture(scope="module")
def duckdb_file(tmp_path_factory: pytest.TempPathFactory, orders: Path) -> Path:
    path = tmp_path_factory.mktemp("analyst") / "warehouse.duckdb"
    fill(f"duckdb:///{path}", orders)
    return path


@pytest.fixture(scope="module")
def postgres_url(orders: Path) -> Iterator[str]:
    require_postgres()
    database = f"haier_readme_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    url = urlsplit(POSTGRES_URL)._replace(path=f"/{database}").geturl()
    try:
        fill(url, orders)
        yield url
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def test_the_readme_has_sql_examples() -> None:
    statements = readme_statements()
    assert len(statements) >= 5
    assert all("haier." in statement for statement in statements), "every example names the schema"


@pytest.mark.parametrize("statement", readme_statements(), ids=lambda text: text.split("FROM")[1].split()[0])
def test_readme_sql_runs_as_written_on_duckdb(duckdb_file: Path, statement: str) -> None:
    with duckdb.connect(str(duckdb_file), read_only=True) as con:
        con.sql(statement).fetchall()


@pytest.mark.parametrize("statement", readme_statements(), ids=lambda text: text.split("FROM")[1].split()[0])
def test_readme_sql_runs_as_written_on_postgres(postgres_url: str, statement: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute(statement).fetchall()


def test_the_first_query_an_analyst_writes_answers_on_both(duckdb_file: Path, postgres_url: str) -> None:
    with duckdb.connect(str(duckdb_file), read_only=True) as con:
        (duck,) = con.execute("SELECT count(*) FROM haier.catalog").fetchone()
    with psycopg.connect(postgres_url) as conn:
        (pg,) = conn.execute("SELECT count(*) FROM haier.catalog").fetchone()
    assert duck == pg > 0


def _rows(rows: list[tuple]) -> list[tuple]:
    """Rows as plain values (DuckDB and psycopg agree on Decimal, int, str and date), the fetch times left out: each
    warehouse was filled by its own run."""
    return sorted(tuple("(a time)" if isinstance(value, datetime) else str(value) for value in row) for row in rows)


def test_the_readme_questions_over_the_views_answer_alike_on_both_backends(
    duckdb_file: Path, postgres_url: str
) -> None:
    """Both warehouses were filled by the same simulated day: the questions over the catalog and current_stock (no
    fetch time in their answers) answer the same rows, and the best-stocked are all products the account can buy."""
    questions = [
        s for s in readme_statements() if re.search(r"FROM haier\.(catalog|current_stock) WHERE account = ", s)
    ]
    assert len(questions) >= 3
    assert all(statement.count("\n") == 0 for statement in questions), "one line each"
    for statement in questions:
        with duckdb.connect(str(duckdb_file), read_only=True) as con:
            duck = con.execute(statement).fetchall()
        with psycopg.connect(postgres_url) as conn:
            pg = conn.execute(statement).fetchall()
        assert duck, statement
        assert _rows(duck) == _rows(pg), statement
    best = next(s for s in questions if "is_sales" in s)
    with duckdb.connect(str(duckdb_file), read_only=True) as con:
        codes = [row[0] for row in con.execute(best).fetchall()]
        flags = dict(con.execute("SELECT product_code, is_sales FROM haier.catalog").fetchall())
    assert codes and all(flags[code] for code in codes)
