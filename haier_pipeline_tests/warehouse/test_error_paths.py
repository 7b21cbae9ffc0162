"""What a user sees when the warehouse cannot be used: a password with special characters, an unknown option, a
missing role, a read-only DuckDB file, a Postgres table locked by another session, a full disk. Each ends in a named
error that says what to do, never a traceback, never a secret."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from haier_pipeline.cli.main import main
from haier_pipeline.haier import HaierConfigurationError
from haier_pipeline.settings import load_settings
from haier_pipeline.warehouse.errors import (
    WarehouseConfigError,
    WarehouseError,
    WarehouseLockTimeout,
    WarehouseStorageError,
)
from haier_pipeline.warehouse.postgres_backend import PostgresBackend, schema_lock_name
from haier_pipeline.warehouse.reachability import reachability_problem
from haier_pipeline.warehouse.url import mask_url, parse_warehouse_url
from haier_pipeline.warehouse.warehouse import Warehouse
from haier_pipeline_tests.postgres import POSTGRES_URL, login_role, require_postgres
from haier_pipeline_tests.warehouse.helpers import journal_on_a_full_disk, product_frame

ROOT = Path(__file__).resolve().parents[2]
SERVER = "127.0.0.1:5432"

# Passwords whose special character, unencoded, used to move part of them into the port, host or database.
SPECIAL_PASSWORDS = ["Zq/rty9", "Zq@rty9", "Zq#rty9", "Zq?rty9", "Zq/rt@y9#x"]


def _fragments(password: str) -> list[str]:
    """The password and the pieces a parser would cut it into at a special character."""
    pieces = [password]
    for separator in "/@#?":
        pieces += [piece for piece in password.split(separator) if len(piece) >= 2]
    return pieces


def _assert_hidden(text: str, password: str) -> None:
    for fragment in _fragments(password):
        assert fragment not in text, f"{fragment!r} of the password leaked: {text}"


# ---- 1. a password with an unencoded special character ----------------------------------------------------------


@pytest.mark.parametrize("password", SPECIAL_PASSWORDS)
def test_a_password_with_an_unencoded_special_character_is_refused_masked_with_the_encoding_hint(
    password: str,
) -> None:
    url = f"postgresql://postgres:{password}@{SERVER}/db"
    assert mask_url(url) == f"postgresql://postgres:***@{SERVER}/db"
    with pytest.raises(WarehouseConfigError) as caught:
        parse_warehouse_url(url)
    message = str(caught.value)
    _assert_hidden(message, password)
    assert f"'postgresql://postgres:***@{SERVER}/db'" in message
    assert "Percent-encode" in message and "/ as %2F" in message and "@ as %40" in message and "# as %23" in message
    assert reachability_problem(url) == message


@pytest.mark.parametrize("password", SPECIAL_PASSWORDS)
def test_the_settings_error_masks_the_whole_password_too(password: str) -> None:
    environ = {"HAIER_WAREHOUSE_URL": f"postgresql://postgres:{password}@{SERVER}/db"}
    with pytest.raises(HaierConfigurationError) as caught:
        load_settings(environ, require_credentials=False)
    message = str(caught.value)
    assert "HAIER_WAREHOUSE_URL" in message and "%40" in message
    _assert_hidden(message, password)


def test_a_password_hidden_in_free_text_is_masked_up_to_the_last_at() -> None:
    text = "cannot use postgresql://etl:Zq@rty9/x@db.example:5432/w (refused)\nretry later"
    assert mask_url(text) == "cannot use postgresql://etl:***@db.example:5432/w (refused)\nretry later"
    assert mask_url("postgresql://etl:a b@c@db/w") == "postgresql://etl:***@db/w", "a space does not end it either"
    assert mask_url("postgresql://db/w?password=ab#cd&sslmode=require") == (
        "postgresql://db/w?password=***&sslmode=require"
    )


def test_a_bad_percent_escape_is_refused_without_echoing_it() -> None:
    with pytest.raises(WarehouseConfigError) as caught:
        parse_warehouse_url(f"postgresql://postgres:50%zzoff@{SERVER}/db")
    message = str(caught.value)
    assert "zzoff" not in message and "% as %25" in message


def test_a_percent_encoded_password_with_special_characters_connects() -> None:
    require_postgres()
    server, database = POSTGRES_URL.removeprefix("postgresql://").split("@", 1)[1].rsplit("/", 1)
    url = f"postgresql://postgres:Zq%2Frty9%40x%23y@{server}/{database}"
    parsed = parse_warehouse_url(url)
    assert parsed.display == f"postgresql://postgres:***@{server}/{database}"
    assert reachability_problem(url) is None  # trust auth: the password is sent, not checked


def test_check_refuses_a_password_with_special_characters_with_exit_2(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HAIER_WAREHOUSE_URL", f"postgresql://postgres:Zq@rty9@{SERVER}/db")
    assert main(["check"]) == 2
    captured = capsys.readouterr()
    _assert_hidden(captured.out + captured.err, "Zq@rty9")
    assert "HAIER_WAREHOUSE_URL" in captured.err and "@ as %40" in captured.err
    assert "Traceback" not in captured.err


# ---- 2. an unknown query parameter ---------------------------------------------------------------------------------


def test_an_unknown_connection_option_is_a_configuration_error_naming_it() -> None:
    with pytest.raises(WarehouseConfigError) as caught:
        parse_warehouse_url(f"postgresql://postgres@{SERVER}/db?foo=1&password=pg-pass-789&sslmode=prefer")
    message = str(caught.value)
    assert "HAIER_WAREHOUSE_URL" in message and "unknown connection option 'foo'" in message
    assert "password" not in message.split("(")[0], "only the unknown option is named"
    assert "pg-pass-789" not in message
    assert parse_warehouse_url(f"postgresql://postgres@{SERVER}/db?sslmode=prefer&connect_timeout=3").port == 5432


@pytest.mark.parametrize("argv", [["check"], ["sync", "--only", "prices"], ["query", "stock", "GA0SZC00U", "110101"]])
def test_every_command_refuses_an_unknown_option_with_exit_2(
    argv: list[str], cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HAIER_WAREHOUSE_URL", f"postgresql://postgres@{SERVER}/db?foo=1&password=pg-pass-789")
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "HAIER_WAREHOUSE_URL" in captured.err and "'foo'" in captured.err
    assert "pg-pass-789" not in captured.out + captured.err
    assert "Traceback" not in captured.err and "ProgrammingError" not in captured.err


# ---- 5. the server answered, but refused ---------------------------------------------------------------------------


def test_a_missing_role_is_not_reported_as_a_server_that_does_not_answer() -> None:
    require_postgres()
    url = POSTGRES_URL.replace("postgresql://postgres@", "postgresql://nouser_hp@", 1)
    assert url != POSTGRES_URL, "the test Postgres URL is expected to log in as postgres"
    problem = reachability_problem(url) or ""
    assert "no role 'nouser_hp'" in problem and "createuser" in problem and "fix the user" in problem
    assert "no Postgres answers" not in problem
    with pytest.raises(WarehouseConfigError, match="no role 'nouser_hp'"):
        Warehouse.from_url(url).table_counts()


def test_a_server_and_database_given_as_options_are_the_ones_named() -> None:
    """libpq reads `?host=`, `?port=` and `?dbname=` over the URL's own parts: the advice must name that server."""
    require_postgres()
    host, _, port = SERVER.partition(":")
    problem = reachability_problem(f"postgresql://postgres@/ignored?host={host}&port={port}&dbname=no_such_db_hp") or ""
    assert f"database 'no_such_db_hp' does not exist on {SERVER}" in problem, problem
    assert f"createdb -h {host} -p {port} no_such_db_hp" in problem, problem


def test_an_invalid_option_value_says_to_fix_the_option() -> None:
    require_postgres()
    problem = reachability_problem(f"{POSTGRES_URL}?sslmode=bogus") or ""
    assert "connection option is not valid" in problem and "sslmode" in problem
    assert "no Postgres answers" not in problem


def test_query_stock_with_a_missing_role_exits_2_naming_it(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    require_postgres()
    monkeypatch.setenv("HAIER_WAREHOUSE_URL", POSTGRES_URL.replace("postgresql://postgres@", "postgresql://nouser_hp@"))
    assert main(["query", "stock", "GA0SZC00U", "110101"]) == 2
    err = capsys.readouterr().err
    assert "no role 'nouser_hp'" in err and "Traceback" not in err


# ---- 4. a Postgres table locked by another session -----------------------------------------------------------------


@pytest.fixture
def locked_prices(postgres_warehouse: Warehouse) -> Iterator[psycopg.Connection]:
    """Another session holding ACCESS EXCLUSIVE on prices, as a migration or a forgotten psql would."""
    holder = psycopg.connect(POSTGRES_URL, application_name="held-by-test")
    # Ends the hold anyway if a regression makes the warehouse wait for it: the test then fails instead of hanging.
    holder.execute("SET idle_in_transaction_session_timeout = '15s'")
    holder.execute(f'LOCK TABLE "{postgres_warehouse.schema}".prices IN ACCESS EXCLUSIVE MODE')
    yield holder
    holder.close()


def _impatient(warehouse: Warehouse, seconds: float) -> Warehouse:
    backend = PostgresBackend(warehouse.url, warehouse.schema, write_timeout=seconds, read_timeout=seconds)
    return Warehouse(warehouse.url, backend, warehouse.schema)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("seconds", [0.5, 0.0])
def test_a_postgres_lock_held_elsewhere_times_out_naming_the_holder_and_the_setting(
    seconds: float, postgres_warehouse: Warehouse, locked_prices: psycopg.Connection
) -> None:
    warehouse = _impatient(postgres_warehouse, seconds)
    started = time.monotonic()
    with pytest.raises(WarehouseLockTimeout) as caught, warehouse.transaction() as tx:
        tx.execute("DELETE FROM {schema}.prices")
    assert time.monotonic() - started < 5, "0 means do not wait, as for DuckDB, not Postgres's wait forever"
    message = str(caught.value)
    pid = locked_prices.info.backend_pid
    assert "waiting for a lock to write to the warehouse postgres" in message
    assert f"pid {pid} (held-by-test" in message and f"AccessExclusiveLock on {warehouse.schema}.prices" in message
    assert f"pg_terminate_backend({pid})" in message and "HAIER_WAREHOUSE_LOCK_TIMEOUT" in message
    with pytest.raises(WarehouseLockTimeout, match="waiting for a lock to read"):
        warehouse.table_counts()
    locked_prices.rollback()
    assert warehouse.table_counts()["prices"] == 0, "usable again once the holder is gone"


@pytest.mark.timeout(60)
def test_a_postgres_lock_timeout_names_only_sessions_holding_locks_on_its_own_schema(
    postgres_warehouse: Warehouse, postgres_schema: str
) -> None:
    """A database shared with other schemas (other applications, other warehouses): a session that has held a lock
    there for longer must not be the one the message tells you to end."""
    other_schema = f"{postgres_schema}_other"
    with (
        psycopg.connect(POSTGRES_URL, application_name="other-schema") as unrelated,
        psycopg.connect(POSTGRES_URL, application_name="held-by-test") as holder,
    ):
        unrelated.execute(f'CREATE SCHEMA "{other_schema}"')
        unrelated.execute(f'CREATE TABLE "{other_schema}".t (x int)')
        unrelated.commit()  # a table others can see, as another application's is
        unrelated.execute(f'LOCK TABLE "{other_schema}".t IN ACCESS EXCLUSIVE MODE')
        time.sleep(1.1)  # older by whole seconds, which the holders are ordered by
        holder.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [schema_lock_name(postgres_schema)])
        with pytest.raises(WarehouseLockTimeout) as caught:
            _impatient(postgres_warehouse, 0.2).ensure_schema()
        message = str(caught.value)
        pid, other_pid = holder.info.backend_pid, unrelated.info.backend_pid
        assert f"pid {pid} (held-by-test" in message and "ExclusiveLock (advisory)" in message, message
        assert f"pg_terminate_backend({pid})" in message
        assert f"pid {other_pid}" not in message and other_schema not in message
        unrelated.rollback()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{other_schema}" CASCADE')


@pytest.mark.timeout(60)
def test_an_upgrade_blocked_by_a_running_reader_names_that_session(postgres_warehouse: Warehouse) -> None:
    """The audit: a psql reading sync_log (ACCESS SHARE, state active) blocked the upgrade's ALTER TABLE, and the
    timeout named no session, only `pg_terminate_backend(<pid>)`."""
    with postgres_warehouse.transaction() as tx:  # a warehouse an older version made
        tx.execute("ALTER TABLE {schema}.sync_log DROP COLUMN throttled")
    with psycopg.connect(POSTGRES_URL, application_name="reader-by-test") as holder:
        holder.execute(f'LOCK TABLE "{postgres_warehouse.schema}".sync_log IN ACCESS SHARE MODE')
        reading = threading.Thread(target=holder.execute, args=("SELECT pg_sleep(4) /* a long 'report' */",))
        reading.start()
        try:
            time.sleep(0.3)
            with pytest.raises(WarehouseLockTimeout) as caught:
                _impatient(postgres_warehouse, 0.5).ensure_schema()
        finally:
            reading.join()
        message = str(caught.value)
        pid = holder.info.backend_pid
        assert f"pid {pid} (reader-by-test, user postgres, active for " in message, message
        assert f"AccessShareLock on {postgres_warehouse.schema}.sync_log" in message
        assert "SELECT pg_sleep(4) /* a long '…' */" in message and "query started 2" in message
        assert f"pg_terminate_backend({pid})" in message and "<pid>" not in message
    postgres_warehouse.ensure_schema()


def test_options_given_in_the_url_survive_the_lock_timeout(postgres_schema: str) -> None:
    warehouse = Warehouse.from_url(f"{POSTGRES_URL}?options=-c%20statement_timeout%3D4321", schema=postgres_schema)
    settings = warehouse.query(
        "SELECT current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt"
    )
    assert settings.iloc[0].to_dict() == {"st": "4321ms", "lt": "1min"}


def test_the_lock_timeout_setting_reaches_postgres_sessions(postgres_schema: str) -> None:
    warehouse = Warehouse.from_url(POSTGRES_URL, schema=postgres_schema, lock_timeout=2.5, read_timeout=2.5)
    assert warehouse.query("SELECT current_setting('lock_timeout') AS lt")["lt"][0] == "2500ms"


# ---- 4b. a Postgres role without the privileges the warehouse needs -----------------------------------------------


@pytest.fixture
def unprivileged_role(postgres_schema: str) -> Iterator[str]:
    with login_role(f"{postgres_schema}_role", cleanup=[f'DROP SCHEMA IF EXISTS "{postgres_schema}" CASCADE']) as role:
        yield role


def test_a_role_without_privileges_is_a_configuration_error_whose_grant_works(
    unprivileged_role: str, postgres_schema: str
) -> None:
    url = POSTGRES_URL.replace("postgres@", f"{unprivileged_role}@", 1)
    assert url != POSTGRES_URL
    warehouse = Warehouse.from_url(url, schema=postgres_schema)
    with pytest.raises(WarehouseConfigError) as caught:
        warehouse.ensure_schema()
    message = str(caught.value)
    assert f"the Postgres role '{unprivileged_role}' lacks a privilege" in message
    assert "(permission denied for database test)" in message and "set HAIER_WAREHOUSE_URL to a role" in message
    grant = re.findall(r"`([^`]+)`", message)[0]
    assert grant == f'GRANT CREATE ON DATABASE "test" TO "{unprivileged_role}"'
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(grant)
    try:
        warehouse.ensure_schema()
        assert warehouse.table_counts()["products"] == 0, "the advice was enough"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'REVOKE CREATE ON DATABASE "test" FROM "{unprivileged_role}"')


def test_a_role_that_may_not_read_the_tables_is_told_which_grant(
    postgres_warehouse: Warehouse, unprivileged_role: str
) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'GRANT USAGE ON SCHEMA "{postgres_warehouse.schema}" TO "{unprivileged_role}"')
    url = POSTGRES_URL.replace("postgres@", f"{unprivileged_role}@", 1)
    with pytest.raises(WarehouseConfigError) as caught:
        Warehouse.from_url(url, schema=postgres_warehouse.schema).table_counts()
    message = str(caught.value)
    assert "(permission denied for table " in message, message
    assert f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{postgres_warehouse.schema}"' in message
    assert f'ALTER DEFAULT PRIVILEGES FOR ROLE "postgres" IN SCHEMA "{postgres_warehouse.schema}"' in message


def test_a_role_that_may_only_read_and_write_the_tables_uses_a_warehouse_its_owner_made(
    postgres_warehouse: Warehouse, unprivileged_role: str
) -> None:
    """Least privilege: the owner (or a migration) made the schema; the pipeline's role gets data rights only, and
    checking an up-to-date schema takes no DDL."""
    schema, role = postgres_warehouse.schema, unprivileged_role
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        admin.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
    warehouse = Warehouse.from_url(POSTGRES_URL.replace("postgres@", f"{role}@", 1), schema=schema)
    warehouse.ensure_schema()
    with warehouse.transaction() as tx:
        tx.upsert("products", product_frame(["A", "B"]))
    assert warehouse.table_counts()["products"] == 2


def test_a_role_with_data_rights_only_is_told_that_the_owner_runs_the_upgrade_naming_the_table_and_owner(
    postgres_warehouse: Warehouse, unprivileged_role: str
) -> None:
    """A pending upgrade (a warehouse an older version made) fails a data-only role's step: the message names the
    table and its owner and gives deploy/README.md's advice (the owner runs one sync), not a placeholder."""
    schema, role = postgres_warehouse.schema, unprivileged_role
    with postgres_warehouse.transaction() as tx:
        tx.execute("ALTER TABLE {schema}.catalog DROP COLUMN sale_price")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        admin.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
    warehouse = Warehouse.from_url(POSTGRES_URL.replace("postgres@", f"{role}@", 1), schema=schema)
    with pytest.raises(WarehouseConfigError) as caught:
        warehouse.ensure_schema()
    message = str(caught.value)
    assert "<" not in message, message
    assert f"the Postgres role '{role}' cannot upgrade" in message
    assert "(must be owner of table catalog; its owner is 'postgres')" in message
    assert "run one `haier-pipeline sync` with HAIER_WAREHOUSE_URL naming the owner ('postgres')" in message
    assert f'ALTER DEFAULT PRIVILEGES FOR ROLE "postgres" IN SCHEMA "{schema}"' in message
    assert "OWNER TO" not in message, "deploy/README.md: the app role does not take the tables over"
    postgres_warehouse.ensure_schema()  # the owner runs the upgrade
    warehouse.ensure_schema()
    assert warehouse.table_counts()["catalog"] == 0


# ---- 3. a DuckDB file or folder this user cannot write -------------------------------------------------------------


def _unprivileged(argv: list[str]) -> list[str]:
    """`argv` without the power to ignore file modes: root keeps CAP_DAC_OVERRIDE unless it is dropped."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file modes cannot be tested")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", "--", *argv]


def _run_unprivileged(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        _unprivileged([sys.executable, "-c", textwrap.dedent(code), *args]),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if "STILL-PRIVILEGED" in result.stdout:
        pytest.skip("this process can write a mode-444 file anyway (capabilities could not be dropped)")
    return result


# sys.argv[1]: a file this process must not be able to open for writing, or a folder it must not write in.
PROBE = """
import sys, tempfile
from pathlib import Path
try:
    if Path(sys.argv[1]).is_dir():
        tempfile.TemporaryFile(dir=sys.argv[1]).close()
    else:
        open(sys.argv[1], "r+b").close()
    print("STILL-PRIVILEGED")
    sys.exit(0)
except OSError:
    pass
"""

CLI = (
    PROBE
    + """
from haier_pipeline.cli.main import main
sys.exit(main(sys.argv[2:]))
"""
)


@pytest.fixture
def read_only_file(duckdb_warehouse: Warehouse) -> Iterator[Path]:
    path = duckdb_warehouse.path
    assert path is not None
    path.chmod(0o444)
    yield path
    path.chmod(0o644)


@pytest.fixture
def read_only_folder(duckdb_warehouse: Warehouse) -> Iterator[Path]:
    """A writable file in a folder nobody may write (no room for DuckDB's journal or our lock file)."""
    path = duckdb_warehouse.path
    assert path is not None
    (path.parent / f"{path.name}.lock").unlink(missing_ok=True)
    path.parent.chmod(0o555)
    yield path
    path.parent.chmod(0o755)


def test_a_read_only_duckdb_file_is_a_named_configuration_error(read_only_file: Path) -> None:
    result = _run_unprivileged(
        PROBE
        + """
from haier_pipeline.warehouse.errors import WarehouseConfigError
from haier_pipeline.warehouse.warehouse import Warehouse
from haier_pipeline.warehouse.reachability import reachability_problem
print("reachability:", reachability_problem(f"duckdb:///{sys.argv[1]}"))
try:
    Warehouse.from_url(f"duckdb:///{sys.argv[1]}").ensure_schema()
except WarehouseConfigError as error:
    print("error:", error)
""",
        str(read_only_file),
    )
    assert result.returncode == 0, result.stderr
    assert f"reachability: HAIER_WAREHOUSE_URL: the DuckDB warehouse {read_only_file} cannot be opened" in result.stdout
    assert f"error: cannot write the DuckDB warehouse {read_only_file}" in result.stdout
    assert f"chmod u+rw {read_only_file}" in result.stdout and "choose another HAIER_WAREHOUSE_URL" in result.stdout


@pytest.mark.parametrize("argv", [["check"], ["query", "stock", "GA0SZC00U", "110101"]])
def test_commands_on_a_read_only_duckdb_file_exit_2_without_a_traceback(
    argv: list[str], cli_env: dict[str, str], read_only_file: Path
) -> None:
    os.environ["HAIER_WAREHOUSE_URL"] = f"duckdb:///{read_only_file}"  # cli_env's monkeypatch restores it
    result = _run_unprivileged(CLI, str(read_only_file), *argv)
    assert result.returncode == 2, result.stderr
    assert str(read_only_file) in result.stderr and "HAIER_WAREHOUSE_URL" in result.stderr
    assert "Traceback" not in result.stderr and "IOException" not in result.stderr


def test_query_stock_in_a_folder_it_cannot_write_names_the_folder(
    cli_env: dict[str, str], read_only_folder: Path
) -> None:
    os.environ["HAIER_WAREHOUSE_URL"] = f"duckdb:///{read_only_folder}"
    result = _run_unprivileged(CLI, str(read_only_folder.parent), "query", "stock", "GA0SZC00U", "110101")
    assert result.returncode == 2, result.stderr
    assert f"make the folder {read_only_folder.parent} writable" in result.stderr
    assert "[Errno 13]" not in result.stderr and "Traceback" not in result.stderr


def test_a_journal_the_folder_cannot_hold_fails_the_commit_with_the_same_advice(read_only_folder: Path) -> None:
    # The lock file exists, so only DuckDB's own journal (<file>.wal, written at commit) is refused.
    read_only_folder.parent.chmod(0o755)
    (read_only_folder.parent / f"{read_only_folder.name}.lock").touch()
    read_only_folder.parent.chmod(0o555)
    result = _run_unprivileged(
        PROBE
        + """
from haier_pipeline.warehouse.errors import WarehouseConfigError
from haier_pipeline.warehouse.warehouse import Warehouse
warehouse = Warehouse.from_url(f"duckdb:///{sys.argv[2]}")
try:
    with warehouse.transaction() as tx:
        tx.execute("CREATE TABLE {schema}.journal_probe (x INTEGER)")
except WarehouseConfigError as error:
    print("error:", error)
""",
        str(read_only_folder.parent),
        str(read_only_folder),
    )
    assert result.returncode == 0, result.stderr
    assert f"error: cannot write the DuckDB warehouse {read_only_folder}" in result.stdout
    assert f"{read_only_folder.name}.wal" in result.stdout and "writable" in result.stdout


def test_a_file_that_is_not_a_duckdb_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("not a database\n")
    with pytest.raises(WarehouseConfigError) as caught:
        Warehouse.from_url(f"duckdb:///{path}").ensure_schema()
    assert f"cannot open the DuckDB warehouse {path}" in str(caught.value)
    assert "choose another HAIER_WAREHOUSE_URL" in str(caught.value)
    with pytest.raises(WarehouseError, match="cannot open the DuckDB warehouse"):
        Warehouse.from_url(f"duckdb:///{path}").table_counts()


def test_a_folder_that_cannot_be_created_is_named() -> None:
    # /proc refuses new folders even to root.
    with pytest.raises(WarehouseConfigError) as caught:
        Warehouse.from_url("duckdb:////proc/no-such-folder/warehouse.duckdb").ensure_schema()
    message = str(caught.value)
    assert "cannot create the folder of the DuckDB warehouse /proc/no-such-folder/warehouse.duckdb" in message
    assert "choose another HAIER_WAREHOUSE_URL" in message


# ---- 5. a full disk ------------------------------------------------------------------------------------------------


def test_a_duckdb_write_on_a_full_disk_names_the_disk_and_changes_nothing(duckdb_warehouse: Warehouse) -> None:
    path = duckdb_warehouse.path
    assert path is not None
    before = duckdb_warehouse.table_counts()
    probe = "CREATE TABLE {schema}.disk_probe AS SELECT range AS x FROM range(1000)"
    journal = journal_on_a_full_disk(path)
    with pytest.raises(WarehouseStorageError) as caught, duckdb_warehouse.transaction() as tx:
        tx.execute("DELETE FROM {schema}.products")
        tx.execute(probe)
    message = str(caught.value)
    assert f"the warehouse file {path} could not store a transaction: its disk is full" in message
    assert "No space left on device" in message and "Nothing of that transaction was written" in message
    assert "Free space on that disk (or point HAIER_WAREHOUSE_URL elsewhere)" in message
    assert duckdb_warehouse.table_counts() == before, "reads still work, and show nothing of the failed write"
    journal.unlink()
    with duckdb_warehouse.transaction() as tx:
        tx.execute(probe)
    assert duckdb_warehouse.query("SELECT count(*) AS n FROM {schema}.disk_probe")["n"][0] == 1000


def test_a_postgres_write_its_server_cannot_store_names_the_server_and_rolls_back(
    postgres_warehouse: Warehouse,
) -> None:
    """The server's own ENOSPC, raised for real: a server-side COPY into /dev/full (the test role is a superuser)."""
    with pytest.raises(WarehouseStorageError) as caught, postgres_warehouse.transaction() as tx:
        tx.execute("CREATE TABLE {schema}.disk_probe AS SELECT 1 AS x")
        tx.execute("COPY (SELECT 1) TO '/dev/full'")
    message = str(caught.value)
    assert f"the warehouse postgres {SERVER}/test could not store a transaction: its disk is full" in message
    assert "No space left on device" in message and "Free space on that disk" in message
    tables = postgres_warehouse.query(
        "SELECT count(*) AS n FROM information_schema.tables "
        "WHERE table_schema = :schema AND table_name = 'disk_probe'",
        {"schema": postgres_warehouse.schema},
    )
    assert tables["n"][0] == 0, "the transaction was rolled back"
