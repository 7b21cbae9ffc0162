"""HAIER_WAREHOUSE_URL parsing: accepted forms, and errors that name the variable and hide passwords."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from haier_pipeline.warehouse.errors import WarehouseConfigError
from haier_pipeline.warehouse.url import mask_url, parse_warehouse_url
from haier_pipeline.warehouse.warehouse import Warehouse


def test_duckdb_relative_path_is_relative_to_the_current_directory(tmp_path: Path) -> None:
    parsed = parse_warehouse_url("duckdb:///data/haier.duckdb", cwd=tmp_path)
    assert parsed.backend == "duckdb"
    assert parsed.path == tmp_path / "data" / "haier.duckdb"


def test_duckdb_four_slashes_is_absolute() -> None:
    parsed = parse_warehouse_url("duckdb:////var/lib/haier/haier.duckdb")
    assert parsed.path == Path("/var/lib/haier/haier.duckdb")


def test_duckdb_memory_is_for_code_that_keeps_its_warehouse() -> None:
    parsed = parse_warehouse_url("duckdb:///:memory:", allow_memory=True)
    assert parsed.backend == "duckdb" and parsed.path is None


def test_a_configured_duckdb_memory_url_is_refused_saying_to_give_a_file() -> None:
    with pytest.raises(WarehouseConfigError) as caught:
        parse_warehouse_url("duckdb:///:memory:")
    message = str(caught.value)
    assert message.startswith("HAIER_WAREHOUSE_URL='duckdb:///:memory:' is an in-memory database")
    assert "give a file path, such as duckdb:///data/warehouse.duckdb" in message


@pytest.mark.parametrize("argv", [["check"], ["sync", "--only", "balance"], ["query", "balance"]])
def test_every_command_refuses_an_in_memory_warehouse_with_exit_2(
    argv: list[str], cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Each step opens its own connection: an in-memory warehouse would vanish with it, and the sync exit 0."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("haier-pipeline")), *argv],
        env={**os.environ, **cli_env, "HAIER_WAREHOUSE_URL": "duckdb:///:memory:"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "HAIER_WAREHOUSE_URL='duckdb:///:memory:' is an in-memory database" in result.stderr
    assert "give a file path, such as duckdb:///data/warehouse.duckdb" in result.stderr
    assert "Traceback" not in result.stderr and "warehouse: ok" not in result.stdout


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bob:s3cret@db.example:6543/warehouse",
        "postgres://bob:s3cret@db.example:6543/warehouse",
        "postgresql+psycopg://bob:s3cret@db.example:6543/warehouse",
        "postgresql+psycopg2://bob:s3cret@db.example:6543/warehouse",
    ],
)
def test_postgres_spellings_all_go_to_psycopg(url: str) -> None:
    parsed = parse_warehouse_url(url)
    assert parsed.backend == "postgres"
    assert parsed.conninfo == "postgresql://bob:s3cret@db.example:6543/warehouse"
    assert (parsed.host, parsed.port, parsed.database) == ("db.example", 6543, "warehouse")
    assert "s3cret" not in repr(parsed)
    assert "s3cret" not in parsed.display


def test_describe_and_repr_never_show_the_password() -> None:
    warehouse = Warehouse.from_url("postgresql://bob:s3cret@db.example:6543/warehouse")
    assert warehouse.describe() == "postgres db.example:6543/warehouse schema haier"
    assert "s3cret" not in repr(warehouse)


def test_describe_duckdb(tmp_path: Path) -> None:
    warehouse = Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb")
    assert warehouse.describe() == f"duckdb file {tmp_path}/w.duckdb schema haier"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "haier.duckdb",
        "mysql://bob:s3cret@db/warehouse",
        "sqlite:///x.db",
        "duckdb://host/haier.duckdb",
        "duckdb:///",
        "duckdb:///data/",
        "duckdb:///x.duckdb?mode=ro",
        "postgresql://bob:s3cret@db:notaport/warehouse",
        "postgresql://bob:s3cret@db/a/b",
    ],
)
def test_malformed_urls_name_the_variable_mask_the_password_and_show_the_forms(url: str) -> None:
    with pytest.raises(WarehouseConfigError) as caught:
        Warehouse.from_url(url)
    message = str(caught.value)
    assert "HAIER_WAREHOUSE_URL" in message
    assert "s3cret" not in message
    assert "duckdb:///data/warehouse.duckdb" in message
    assert "postgresql://user:password@host:5432/database" in message
    if "bob" in url:
        assert "bob:***@" in message


def test_config_error_is_a_value_error() -> None:
    assert issubclass(WarehouseConfigError, ValueError)


def test_mask_url() -> None:
    assert mask_url("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"
    assert mask_url("postgresql://u@h/db?password=x&sslmode=require") == (
        "postgresql://u@h/db?password=***&sslmode=require"
    )
    assert mask_url("duckdb:///data/haier.duckdb") == "duckdb:///data/haier.duckdb"
    # Every form a password travels in: userinfo, query parameters of any secret-sounding name, libpq keywords.
    assert mask_url("postgresql://db/w?user=u&sslpassword=k1&token=t2&api_key=k3") == (
        "postgresql://db/w?user=u&sslpassword=***&token=***&api_key=***"
    )
    assert mask_url("host=db password='p q' dbname=w") == "host=db password=*** dbname=w"
    assert mask_url("https://id:sec@gateway.example/oauth2/auth") == "https://id:***@gateway.example/oauth2/auth"


def test_resource_repr_masks_the_password() -> None:
    from haier_pipeline.defs.resources import WarehouseResource

    resource = WarehouseResource(url="postgresql://bob:s3cret@db/warehouse")
    assert "s3cret" not in repr(resource)
    assert "s3cret" not in str(resource)
    assert WarehouseResource().url == "duckdb:///data/warehouse.duckdb"


def test_unreachable_postgres_error_hides_the_password() -> None:
    from haier_pipeline.warehouse.errors import WarehouseError

    warehouse = Warehouse.from_url("postgresql://bob:s3cret@127.0.0.1:1/warehouse")
    with pytest.raises(WarehouseError) as caught:
        warehouse.table_counts()
    assert "s3cret" not in str(caught.value)
    assert "127.0.0.1:1/warehouse" in str(caught.value)


def test_reachability_names_what_to_fix(tmp_path: Path) -> None:
    from haier_pipeline.warehouse.reachability import reachability_problem

    assert reachability_problem(f"duckdb:///{tmp_path}/new/folder/warehouse.duckdb") is None, "created on first sync"
    assert "is a folder" in (reachability_problem(f"duckdb:///{tmp_path}") or "")
    refused = reachability_problem("postgresql://bob:s3cret@127.0.0.1:1/warehouse") or ""
    assert "no Postgres answers at 127.0.0.1:1" in refused and "s3cret" not in refused


def test_reachability_names_a_missing_postgres_database() -> None:
    from haier_pipeline.warehouse.reachability import reachability_problem
    from haier_pipeline_tests.postgres import POSTGRES_URL, require_postgres

    require_postgres()
    assert reachability_problem(POSTGRES_URL) is None
    missing = POSTGRES_URL.rsplit("/", 1)[0] + "/no_such_database_4711"
    problem = reachability_problem(missing) or ""
    assert "database 'no_such_database_4711' does not exist" in problem and "createdb" in problem


@pytest.mark.parametrize(
    ("url", "said"),
    [
        # Called "no scheme", though it has one.
        ("duckdb:/x.db", "a slash short: duckdb:/ is not a DuckDB URL"),
        ("duckdb:/x.db", "Write duckdb:///x.db for x.db in the current folder, or duckdb:////x.db for /x.db"),
        ("duckdb:x.db", "Write duckdb:///x.db"),
        ("duckdb://x.db", "Write duckdb:///x.db for x.db in the current folder"),
        ("data/warehouse.duckdb", "no scheme: a file path"),
        ("data/warehouse.duckdb", "Write a DuckDB file as duckdb:///data/warehouse.duckdb"),
        ("/srv/haier/w.duckdb", "duckdb:////srv/haier/w.duckdb"),
        ("'duckdb:///x.duckdb'", "it is quoted"),
        ("jdbc:postgresql://bob:s3cret@db/w", "Drop the jdbc: prefix: postgresql://bob:***@db/w"),
        ("postgresql+asyncpg://bob:s3cret@db/w", "driver 'asyncpg' is not used here"),
        ("postgresql:/bob:s3cret@db/w", "Write postgresql://bob:***@db/w"),
        ("duckdb:///~/w.duckdb", "~ is not expanded in a URL"),
        # The colon missing: was told to write duckdb:///duckdb//x.db.
        ("duckdb//x.db", "the colon is missing: the scheme ends with ://"),
        ("duckdb//x.db", "Write duckdb:///x.db (relative to the current folder)"),
        ("duckdb////srv/haier/w.duckdb", "Write duckdb:////srv/haier/w.duckdb (an absolute path)"),
        ("postgresql//bob:s3cret@db/w", "Write postgresql://bob:***@db/w"),
        # A misspelt scheme: was given the accepted forms only.
        ("postgress://bob:s3cret@db:5432/w", "unsupported scheme 'postgress': did you mean postgresql?"),
        ("postgress://bob:s3cret@db:5432/w", "Write postgresql://bob:***@db:5432/w"),
        ("duckbd://x.db", "Write duckdb:///x.db"),
        ("mysql://bob:s3cret@db/w", "unsupported scheme 'mysql'): 'mysql://bob:***@db/w'. Use one of"),
        # An unencoded @ in the password: the URL as given was masked only to the first @.
        ("postgresql//bob:pre@s3cret@db/w", "'postgresql//bob:***@db/w'. Write postgresql://bob:***@db/w"),
        ("postgresql:/bob:pre@s3cret@db/w", "'postgresql:/bob:***@db/w'. Write postgresql://bob:***@db/w"),
    ],
)
def test_each_warehouse_url_mistake_gets_its_own_words(url: str, said: str) -> None:
    with pytest.raises(WarehouseConfigError) as caught:
        parse_warehouse_url(url)
    message = str(caught.value)
    assert said in message and "s3cret" not in message, message


def test_a_host_name_with_invalid_in_it_is_named_as_a_host_that_does_not_resolve() -> None:
    """`db.invalid` got "a connection option is not valid"."""
    from haier_pipeline.warehouse.reachability import reachability_error

    error = reachability_error("postgresql://bob:s3cret@db.invalid/warehouse")
    assert isinstance(error, WarehouseConfigError), error
    assert "the host name 'db.invalid' does not resolve" in str(error) and "connection option" not in str(error)
    assert "s3cret" not in str(error)
