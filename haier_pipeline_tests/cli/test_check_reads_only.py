"""`haier-pipeline check` only connects and reads: it names what the next sync will create or add to the warehouse and
creates, adds or alters nothing itself (real Postgres, real DuckDB files)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from haier_pipeline.cli.main import main
from haier_pipeline.warehouse.warehouse import Warehouse
from haier_pipeline_tests.postgres import POSTGRES_URL, login_role, require_postgres


def _columns(warehouse: Warehouse) -> dict[str, set[str]]:
    frame = warehouse.query(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = :schema",
        {"schema": warehouse.schema},
    )
    found: dict[str, set[str]] = {}
    for table, column in frame.itertuples(index=False):
        found.setdefault(table, set()).add(column)
    return found


@pytest.fixture
def empty_database() -> Iterator[str]:
    """The URL of a Postgres database of this test's own, with nothing in it."""
    require_postgres()
    name = f"haier_check_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _schemas(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname = 'haier'")]


def test_check_on_an_empty_postgres_database_creates_nothing_and_names_what_the_next_sync_does(
    cli_env: dict[str, str], empty_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HAIER_WAREHOUSE_URL", empty_database)
    assert main(["check"]) == 0
    assert _schemas(empty_database) == [], "check created nothing"
    assert "schema haier; it does not exist yet: the first sync creates it)" in capsys.readouterr().out

    warehouse = Warehouse.from_url(empty_database)
    warehouse.ensure_schema()  # what the first sync does
    assert main(["check"]) == 0
    assert "schema haier; up to date)" in capsys.readouterr().out

    with warehouse.transaction() as tx:
        tx.execute("ALTER TABLE {schema}.catalog DROP COLUMN sale_price")
    assert main(["check"]) == 0
    assert "sale_price" not in _columns(warehouse)["catalog"], "check added nothing"
    assert "the next sync upgrades it: 1 column to add (catalog.sale_price))" in capsys.readouterr().out


def old_duckdb_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *changes: str) -> Warehouse:
    """The configured warehouse, as an older version left it: today's schema with `changes` undone."""
    url = f"duckdb:///{tmp_path / 'old' / 'warehouse.duckdb'}"
    monkeypatch.setenv("HAIER_WAREHOUSE_URL", url)
    warehouse = Warehouse.from_url(url)
    warehouse.ensure_schema()
    with warehouse.transaction() as tx:
        for change in changes:
            tx.execute(change)
    return warehouse


def test_check_on_an_old_duckdb_warehouse_names_the_upgrade_and_leaves_it_as_it_was(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = old_duckdb_warehouse(
        tmp_path,
        monkeypatch,
        "ALTER TABLE {schema}.catalog DROP COLUMN sale_price",
        "ALTER TABLE {schema}.prices DROP COLUMN rebate_type",
        "DROP TABLE {schema}.field_anomalies",
    )
    assert main(["check"]) == 0

    columns = _columns(warehouse)
    assert "sale_price" not in columns["catalog"] and "rebate_type" not in columns["prices"]
    assert "field_anomalies" not in columns
    assert warehouse.query("SELECT count(*) AS n FROM {schema}.schema_changes")["n"].iloc[0] == 0
    assert (
        "the next sync upgrades it: 1 table to create (field_anomalies), 2 columns to add (prices.rebate_type, "
        "catalog.sale_price))"
    ) in capsys.readouterr().out

    warehouse.ensure_schema()  # what the next sync does
    assert main(["check"]) == 0
    assert f"warehouse: ok (duckdb file {warehouse.path} schema haier; up to date)" in capsys.readouterr().out


def test_check_creates_no_duckdb_file_in_an_existing_folder(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "warehouse"
    folder.mkdir()
    monkeypatch.setenv("HAIER_WAREHOUSE_URL", f"duckdb:///{folder}/warehouse.duckdb")
    assert main(["check"]) == 0
    assert "does not exist yet: the first sync creates it" in capsys.readouterr().out
    assert list(folder.iterdir()) == [], "no file, journal or lock file"


@pytest.mark.parametrize("command", [["check"], ["sync", "--only", "balance"]])
def test_the_default_file_of_earlier_versions_is_named_instead_of_starting_an_empty_warehouse_beside_it(
    command: list[str],
    cli_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A sync started data/warehouse.duckdb empty beside data/haier.duckdb, splitting the history in two."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HAIER_WAREHOUSE_URL", raising=False)
    (tmp_path / "data").mkdir()
    Warehouse.from_url(f"duckdb:///{tmp_path}/data/haier.duckdb").ensure_schema()
    assert main(command) == 2
    err = capsys.readouterr().err
    earlier, default = tmp_path / "data" / "haier.duckdb", tmp_path / "data" / "warehouse.duckdb"
    assert f"{earlier}, the default warehouse of earlier versions, does" in err
    assert f"mv {earlier} {default}" in err and f"HAIER_WAREHOUSE_URL=duckdb:///{earlier}" in err
    assert not default.exists()


def test_check_names_the_not_null_constraints_an_old_warehouse_lacks_and_adds_none(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A warehouse created by an older version (commit 73a5c4f) had `account_balances.balance` nullable."""
    warehouse = old_duckdb_warehouse(
        tmp_path, monkeypatch, "ALTER TABLE {schema}.account_balances ALTER COLUMN balance DROP NOT NULL"
    )
    assert main(["check"]) == 0
    assert "the next sync upgrades it: 1 NOT NULL constraint to add (account_balances.balance))" in (
        capsys.readouterr().out
    )
    assert main(["check"]) == 0, "check added nothing"
    assert "1 NOT NULL constraint to add" in capsys.readouterr().out

    warehouse.ensure_schema()  # what the next sync does
    assert main(["check"]) == 0
    assert "schema haier; up to date)" in capsys.readouterr().out


@pytest.fixture
def app_role(empty_database: str) -> Iterator[str]:
    with login_role(f"haier_app_{uuid.uuid4().hex[:12]}", empty_database) as role:
        yield role


def test_check_fails_for_a_role_that_could_not_run_the_pending_upgrade_or_use_the_tables_after_it(
    cli_env: dict[str, str],
    empty_database: str,
    app_role: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The audit: check said ok to a data-only role, then every step of its sync failed; after the owner upgraded,
    check said "up to date" while a table the upgrade created was not granted to it."""
    owner = Warehouse.from_url(empty_database)
    owner.ensure_schema()
    with owner.transaction() as tx:  # the warehouse as an older version made it
        tx.execute("ALTER TABLE {schema}.catalog DROP COLUMN sale_price")
        tx.execute("DROP TABLE {schema}.field_anomalies")
    with psycopg.connect(empty_database, autocommit=True) as admin:
        admin.execute(f'GRANT USAGE ON SCHEMA haier TO "{app_role}"')
        admin.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA haier TO "{app_role}"')
    monkeypatch.setenv("HAIER_WAREHOUSE_URL", empty_database.replace("postgres@", f"{app_role}@", 1))

    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert f"the Postgres role '{app_role}' cannot run the pending upgrade" in err, err
    assert "only the owner (postgres) may change tables catalog" in err
    assert "it lacks CREATE on the schema, to create tables field_anomalies" in err
    assert "run one `haier-pipeline sync` with HAIER_WAREHOUSE_URL naming the owner ('postgres')" in err
    assert "<" not in err and "Traceback" not in err
    assert "sale_price" not in _columns(owner)["catalog"], "check changed nothing"

    owner.ensure_schema()  # the owner runs one sync
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert "may not read and write every table of the schema haier: it lacks privileges on field_anomalies " in err
    assert "(SELECT, INSERT, UPDATE, DELETE)" in err
    grant, default = re.findall(r"`([^`]+)`", err)[:2]
    assert grant == f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "haier" TO "{app_role}"'
    assert default.startswith('ALTER DEFAULT PRIVILEGES FOR ROLE "postgres" IN SCHEMA "haier" GRANT')

    with psycopg.connect(empty_database, autocommit=True) as admin:
        admin.execute(grant)
        admin.execute(default)
    assert main(["check"]) == 0
    assert "schema haier; up to date)" in capsys.readouterr().out
