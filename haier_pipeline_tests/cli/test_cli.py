"""The command line, in-process, against the simulator over HTTP and a real DuckDB file."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from haier_pipeline.cli.main import main
from haier_pipeline.shanghai_time import today_in_shanghai
from haier_pipeline.simulator import RunningSimulator
from haier_pipeline.warehouse.warehouse import Warehouse
from haier_pipeline_tests.cli.usage import usage_error
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict]:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def stock_calls(simulator: RunningSimulator) -> int:
    return simulator.counters.snapshot()["calls"].get("stock", 0)


def test_check_prints_the_masked_configuration_and_tests_the_connection(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "token:     ok" in out and "api:       ok" in out and "warehouse: ok" in out
    listing = [row["productCode"] for row in simulator.dataset.listing(0)]
    assert len(listing) > len(set(listing)), "the simulator lists some codes twice"
    assert f"products:  ok ({len(set(listing))} listed" in out, "products, as sync counts them"
    assert "client_secret" in out and "******" in out
    for secret in (SIMULATOR_CREDENTIALS["client_secret"], SIMULATOR_CREDENTIALS["password"]):
        assert secret not in out


@pytest.mark.parametrize(("auth_path_fails", "served_by"), [(False, "/oauth2/auth"), (True, "/oauth2/token")])
def test_check_names_the_token_url_that_served_the_token(
    auth_path_fails: bool,
    served_by: str,
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It named HAIER_TOKEN_URL even when the /oauth2/token fallback served the token."""
    simulator.config.auth_path_fails = auth_path_fails
    assert main(["check"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("token:")]
    assert line.endswith(f"from {simulator.base_url}{served_by})"), line


def test_check_names_every_missing_variable_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("HAIER_BASE_URL", "HAIER_CLIENT_ID", "HAIER_CLIENT_SECRET", "HAIER_CUSTOMER_CODE", "HAIER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HAIER_COUNTY_CODES", "110101")
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    for name in ("HAIER_BASE_URL", "HAIER_CLIENT_ID", "HAIER_CLIENT_SECRET", "HAIER_CUSTOMER_CODE", "HAIER_PASSWORD"):
        assert name in err


def test_check_creates_no_warehouse_file(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    future = tmp_path / "not-yet" / "warehouse.duckdb"
    monkeypatch.setenv("HAIER_WAREHOUSE_URL", f"duckdb:///{future}")
    assert main(["check"]) == 0
    assert "does not exist yet: the first sync creates it" in capsys.readouterr().out
    assert not future.parent.exists()


def test_check_with_a_wrong_seller_password_fails_loudly(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stock and logistics take the seller password alone: balance and the listing would pass without it."""
    monkeypatch.setenv("HAIER_SELLER_PASSWORD", "not-the-seller-password-772")
    assert main(["check"]) == 1
    captured = capsys.readouterr()
    assert "products:  ok" in captured.out and "stock:     ok" not in captured.out
    assert "约定密码错误" in captured.err and "HAIER_SELLER_PASSWORD" in captured.err
    assert "not-the-seller-password-772" not in captured.out + captured.err


def test_check_with_a_wrong_password_fails_loudly(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HAIER_PASSWORD", "not-the-password-771")
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert "约定密码错误" in err and "HAIER_PASSWORD" in err
    assert "not-the-password-771" not in err


def test_query_products_lists_everything_once(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator.config.listing_not_procurable = True  # a gateway listing every product, procurable or not
    rows = run_json(capsys, "query", "products")
    assert len(rows) == len(simulator.dataset.codes)
    assert {"product_code", "product_model", "product_group", "brand", "is_sales", "leaflet_urls"} <= set(rows[0])
    code = simulator.dataset.codes[0]
    (one,) = run_json(capsys, "query", "products", code)
    assert one["product_code"] == code and isinstance(one["is_sales"], bool)


def test_query_prices_batches_any_number_of_codes(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    codes = simulator.dataset.codes[:45]
    simulator.counters.reset()
    rows = run_json(capsys, "query", "prices", *codes)
    assert sorted(row["product_code"] for row in rows) == sorted(codes)
    assert simulator.counters.snapshot()["calls"]["prices"] == 3
    priced = next(row for row in rows if row["supply_price"] is not None)
    assert isinstance(priced["supply_price"], str), "money is exact in JSON: a decimal string"


def test_query_stock_is_cached_in_the_warehouse_for_the_ttl(
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = sorted(simulator.dataset.procurable_codes)[0]
    first = run_json(capsys, "query", "stock", code, "110101")
    assert stock_calls(simulator) == 1
    second = run_json(capsys, "query", "stock", code, "110101")
    assert stock_calls(simulator) == 1, "answered from the warehouse while younger than HAIER_STOCK_CACHE_TTL"
    assert second == first
    expected = simulator.dataset.stock_rows(code, "110101", simulator.config.today())
    assert len(first) == max(1, len(expected))
    assert first[0]["snapshot_date"] == today_in_shanghai().isoformat()
    monkeypatch.setenv("HAIER_STOCK_CACHE_TTL", "0")
    run_json(capsys, "query", "stock", code, "110101")
    assert stock_calls(simulator) == 2
    warehouse = Warehouse.from_url(cli_env["HAIER_WAREHOUSE_URL"])
    count = "SELECT count(*) AS n FROM {schema}.%s WHERE product_code = :code"
    cached = warehouse.query(count % "stock_lookups", {"code": code})
    assert int(cached["n"].iloc[0]) == len(first), "the answer is cached, replacing the earlier one"
    snapshots = warehouse.query(count % "stock_snapshots", {"code": code})
    assert int(snapshots["n"].iloc[0]) == 0, "a lookup never writes the asset's table"
    assert warehouse.table_counts()["sync_log"] == 0


def test_query_stock_reads_a_fresh_snapshot_of_a_sync(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", "--only", "products,stock"]) == 0
    capsys.readouterr()
    calls = stock_calls(simulator)
    code = sorted(simulator.dataset.procurable_codes)[0]
    assert main(["query", "stock", code, "110101", "--json"]) == 0
    answer = capsys.readouterr()
    assert stock_calls(simulator) == calls, "answered from stock_snapshots, no API call"
    rows = json.loads(answer.out)
    assert rows and rows[0]["snapshot_date"] == today_in_shanghai().isoformat()
    assert "(from the warehouse (a sync)" in answer.err


def test_query_logistics_and_balance(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = run_json(
        capsys, "query", "logistics", "SO.20190106.000003", "--delivery-record-code", "SO.20190106.000003.F1"
    )
    lists = simulator.dataset.logistics("SO.20190106.000003")
    assert len(rows) == sum(len(records) for records in lists.values())
    assert {row["source_list"] for row in rows} == {name for name, records in lists.items() if records}
    assert all(json.loads(row["record"]) for row in rows)
    balances = run_json(capsys, "query", "balance")
    assert sorted(row["sale_group_code"] for row in balances) == ["GA01", "GC02"]


def test_query_prints_a_readable_table_by_default(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "balance"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["fetched_at", "sale_group_code"]
    assert "(2 rows)" in out


# Tables a clean sync leaves empty: nothing refused or NULLed, no lookup made, the stock checkpoint committed.
BOOKKEEPING_EMPTY_AFTER_A_CLEAN_SYNC = (
    "rejected_rows",
    "field_anomalies",
    "stock_lookups",
    "schema_changes",
    "stock_answers",
    "stock_staged_rows",
)


def test_sync_exit_codes_and_the_failing_step_on_stderr(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync"]) == 0
    out = capsys.readouterr().out
    assert "stock_snapshots    success" in out
    counts = Warehouse.from_url(cli_env["HAIER_WAREHOUSE_URL"]).table_counts()
    assert all(counts[table] > 0 for table in counts if table not in BOOKKEEPING_EMPTY_AFTER_A_CLEAN_SYNC), counts

    simulator.config.empty_listing = True
    assert main(["sync", "--only", "products,catalog"]) == 1
    err = capsys.readouterr().err
    assert "step products failed" in err and "deactivation_guard" in err
    assert "step catalog did not run: a step it depends on failed" in err, "a selected step is never left unsaid"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--only", "bogus"], "argument --only: unknown step 'bogus'; choose from products,prices,stock"),
        # It said "unknown step none given".
        (["--only", ""], "argument --only: no step given; choose from products,prices,stock,catalog,balance,logistics"),
        (["--only", " , "], "argument --only: no step given; choose from"),
        (["--only", "stocks,price"], "unknown steps 'stocks', 'price'; choose from"),
        (["--only", "stocks,prices"], "unknown step 'stocks'"),
        (["--date", "2026-13-40"], "argument --date: '2026-13-40' is not a date: use YYYY-MM-DD"),
        (["--date", "2026-02-30"], "is not a date"),
        (["--timings", "/tmp"], "argument --timings: /tmp is a folder; name a file in it, e.g. /tmp/timings.json"),
        (["--timings", "/proc/version/t.json"], "/proc/version is a file, not a folder"),
    ],
)
def test_argument_errors_are_argparse_usage_errors(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = usage_error(["sync", *argv], capsys)
    assert says in err and "environment variable" not in err


def test_no_secret_reaches_the_dagster_instance_or_the_output(
    cli_env: dict[str, str], simulator: RunningSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", "-v"]) == 0
    simulator.config.empty_listing = True
    assert main(["sync", "--only", "products", "-v"]) == 1
    captured = capsys.readouterr()
    stored = [path for path in (tmp_path / "dagster_home").rglob("*") if path.is_file()]
    assert stored, "the runs were recorded in DAGSTER_HOME"
    texts = [captured.out, captured.err] + [path.read_bytes().decode("utf-8", "replace") for path in stored]
    # What the storage keeps compressed, as the UI reads it: each run's job snapshot (resources and their config).
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        runs = instance.get_runs()
        texts += [dg.serialize_value(instance.get_job_snapshot(run.job_snapshot_id)) for run in runs]
    assert len(runs) == 2
    for secret in (SIMULATOR_CREDENTIALS["client_secret"], SIMULATOR_CREDENTIALS["password"]):
        assert not [text for text in texts if secret in text]


def test_sync_records_stock_only_for_today(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", "--only", "products"]) == 0
    yesterday = (today_in_shanghai() - timedelta(days=1)).isoformat()
    with pytest.raises(SystemExit) as exited:
        main(["sync", "--only", "stock", "--date", yesterday])
    assert exited.value.code == 2
    assert f"{yesterday}: stock can be recorded only for today ({today_in_shanghai()}" in capsys.readouterr().err
    warehouse = Warehouse.from_url(cli_env["HAIER_WAREHOUSE_URL"])
    assert warehouse.table_counts()["stock_snapshots"] == 0, "nothing written"
    assert main(["sync", "--only", "stock", "--date", today_in_shanghai().isoformat()]) == 0
    days = warehouse.query("SELECT DISTINCT snapshot_date FROM {schema}.stock_snapshots")
    assert [str(day) for day in days["snapshot_date"]] == [today_in_shanghai().isoformat()]


@pytest.mark.parametrize("command", ["sync", "check", "query", "simulator", "demo", "ui"])
def test_every_subcommand_has_help_with_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert "examples:" in capsys.readouterr().out


@pytest.mark.parametrize("lookup", ["products", "prices", "stock", "logistics", "balance"])
def test_every_query_lookup_has_help_with_an_example_of_each_option(
    lookup: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`query` subcommands had no examples, and --delivery-record-code and --member-id no help text."""
    with pytest.raises(SystemExit) as exited:
        main(["query", lookup, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    options, _, examples = out.partition("\nexamples:\n")
    assert examples.count(f"haier-pipeline query {lookup}") >= 2, out
    for option in re.findall(r"^  (--[a-z-]+)", options, flags=re.MULTILINE):
        assert option in examples, f"no example of {option}"
        described = options.split(option, 1)[1].split("\n  --", 1)[0]
        assert len(described.split()) >= 4, f"{option} has no help text"


def test_demo_runs_every_asset_against_the_simulator_and_prints_a_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    for name in ("HAIER_BASE_URL", "HAIER_WAREHOUSE_URL", "HAIER_COUNTY_CODES", "HAIER_ORDERS_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["demo", "--products", "20", "--latency-ms", "0"]) == 0
    out = capsys.readouterr().out
    counts = Warehouse.from_url("duckdb:///data/warehouse.duckdb").table_counts()
    assert all(counts[table] > 0 for table in counts if table not in BOOKKEEPING_EMPTY_AFTER_A_CLEAN_SYNC), counts
    assert f"catalog            {counts['catalog']:>7}" in out
    assert "API calls:" in out and "throttled 0" in out
    assert "FROM haier.catalog" in out, "the summary shows one query to try, as analysts write it"


def test_demo_writes_its_own_file_never_the_configured_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    for name in ("HAIER_BASE_URL", "HAIER_COUNTY_CODES", "HAIER_ORDERS_FILE"):
        monkeypatch.delenv(name, raising=False)
    production = tmp_path / "production.duckdb"
    monkeypatch.setenv("HAIER_WAREHOUSE_URL", f"duckdb:///{production}")
    assert main(["demo", "--products", "10", "--latency-ms", "0"]) == 0
    assert "never HAIER_WAREHOUSE_URL" in capsys.readouterr().out
    assert not production.exists()
    assert Warehouse.from_url("duckdb:///data/warehouse.duckdb").table_counts()["catalog"] > 0


@pytest.mark.parametrize(
    "warehouse_url", [None, "duckdb:///data/warehouse.duckdb", "duckdb:///./data/warehouse.duckdb"]
)
def test_demo_refuses_a_folder_whose_real_warehouse_is_the_demos_file(
    warehouse_url: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("HAIER_BASE_URL", "https://openplat-bj-aliyun.haier.net")
    if warehouse_url is None:
        monkeypatch.delenv("HAIER_WAREHOUSE_URL", raising=False)
    else:
        monkeypatch.setenv("HAIER_WAREHOUSE_URL", warehouse_url)
    assert main(["demo", "--products", "10", "--latency-ms", "0"]) == 2
    err = capsys.readouterr().err
    assert "configured for a real API" in err and "Run the demo from another folder" in err
    assert not (tmp_path / "data").exists(), "nothing written"


def test_the_rejected_share_a_step_tolerates_is_configurable(
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    simulator.config.bad_row_rate = 0.5
    assert main(["sync", "--only", "products,stock"]) == 1, "half the rows refused: past the default 10 %"
    assert "HAIER_MAX_REJECTED_RATIO" in capsys.readouterr().err
    monkeypatch.setenv("HAIER_MAX_REJECTED_RATIO", "0.9")
    assert main(["sync", "--only", "products,stock"]) == 0
    out = capsys.readouterr().out
    assert "stock_snapshots    partial" in out
    assert "rows quarantined, with their reasons: SELECT asset, reason, payload FROM haier.rejected_rows" in out


def test_check_names_a_missing_orders_file_and_an_unreachable_warehouse_with_exit_2(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HAIER_ORDERS_FILE", str(tmp_path / "missing.csv"))
    monkeypatch.setenv("HAIER_WAREHOUSE_URL", "postgresql://etl@127.0.0.1:1/warehouse?password=pg-pass-789")
    assert main(["check"]) == 2
    captured = capsys.readouterr()
    assert "HAIER_ORDERS_FILE=" in captured.err and "missing.csv' does not exist" in captured.err
    assert "no Postgres answers at 127.0.0.1:1" in captured.err
    assert "warehouse_url          postgresql://etl@127.0.0.1:1/warehouse?password=***" in captured.out
    assert "pg-pass-789" not in captured.out + captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("mysql://u:pw-9876@db/w", "unsupported scheme 'mysql'"),
        ("sqlite:///x.db", "unsupported scheme 'sqlite'"),
        ("data/warehouse.duckdb", "no scheme"),
        # os.access says yes to root everywhere; creating a file there fails.
        ("duckdb:////proc/no-such-folder/warehouse.duckdb", "/proc is not a writable folder"),
    ],
)
def test_sync_refuses_a_warehouse_url_it_cannot_open_with_exit_2(
    cli_env: dict[str, str], url: str, named: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HAIER_WAREHOUSE_URL", url)
    assert main(["sync", "--only", "balance"]) == 2
    err = capsys.readouterr().err
    assert "HAIER_WAREHOUSE_URL" in err and named in err and "Traceback" not in err and "pw-9876" not in err


def test_sync_refuses_a_missing_postgres_database_with_exit_2(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from haier_pipeline_tests.postgres import POSTGRES_URL, require_postgres

    require_postgres()
    monkeypatch.setenv("HAIER_WAREHOUSE_URL", POSTGRES_URL.rsplit("/", 1)[0] + "/no_such_database_4711")
    assert main(["sync", "--only", "balance"]) == 2
    err = capsys.readouterr().err
    assert "database 'no_such_database_4711' does not exist" in err and "createdb" in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["stock", "GA0SZC00U", "11010"], "'11010' is not a 6-digit county code"),
        (["stock", "GA0SZC00U", "1101O1"], "'1101O1' is not a 6-digit county code"),
        (["prices", "GA0SZC00U", "code with spaces"], "'code with spaces' is not a product code"),
        (["products", ""], "'' is not a product code"),
    ],
)
def test_query_refuses_a_malformed_code_before_any_call(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = usage_error(["query", *argv], capsys)
    assert err.startswith(f"usage: haier-pipeline query {argv[0]}") and says in err


def test_query_prices_prints_every_price_but_a_refused_products_and_names_that_one(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    codes = simulator.dataset.priced_codes[:3]
    simulator.config.refused_products = (codes[1],)
    assert main(["query", "prices", *codes, "--json"]) == 0
    captured = capsys.readouterr()
    assert sorted(row["product_code"] for row in json.loads(captured.out)) == sorted([codes[0], codes[2]])
    assert f"warning: the price of {codes[1]} was refused" in captured.err
    simulator.config.refused_products = tuple(codes)
    assert main(["query", "prices", *codes]) == 1, "nothing priced: the refusal is the answer"


@pytest.mark.parametrize("argv", [["sync", "--only", "balance"], ["check"]])
def test_a_warehouse_that_does_not_answer_is_an_operational_failure_exit_1_saying_what_to_check(
    argv: list[str], cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Postgres down or restarting read as "Configuration is incomplete or malformed" (exit 2) in a scheduled job."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on: Postgres down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HAIER_WAREHOUSE_URL", f"postgresql://etl:pg-pass-789@127.0.0.1:{port}/warehouse")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"haier-pipeline {argv[0]}: the warehouse did not answer: no Postgres answers at 127.0.0.1:{port}"
    )
    assert f"pg_isready -h 127.0.0.1 -p {port}" in err and "then run the command again" in err
    assert "Configuration is incomplete" not in err and "pg-pass-789" not in err and "Traceback" not in err
