"""Issue 25 through the command line, in-process: each switch of the simulator met by `check` and `sync` (DuckDB; the
price cases on Postgres too), and `check --record DIR`, whose every file is searched for every secret."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from haier_pipeline.cli.main import main
from haier_pipeline.simulator import RunningSimulator
from haier_pipeline.simulator.alternatives import chinese_numerals
from haier_pipeline.warehouse.warehouse import Warehouse
from haier_pipeline_tests.postgres import POSTGRES_URL, require_postgres
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS


def line(out: str, start: str) -> str:
    (found,) = [text for text in out.splitlines() if text.startswith(start)]
    return found


def warehouse_of(env: dict[str, str]) -> Warehouse:
    return Warehouse.from_url(env["HAIER_WAREHOUSE_URL"])


def priced_code(simulator: RunningSimulator, *, discounted: bool | None = None) -> str:
    day = simulator.config.today()
    for code in simulator.dataset.priced_codes:
        if discounted is None or bool(simulator.dataset.price_row(code, day)["stockRebatePolicy"]) is discounted:
            return code
    raise AssertionError("no such product")


@pytest.fixture(params=["duckdb", "postgres"])
def price_env(
    request: pytest.FixtureRequest, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """`cli_env` with its warehouse in DuckDB, or in a Postgres database of the test's own."""
    if request.param == "duckdb":
        yield cli_env
        return
    require_postgres()
    name = f"haier_first_contact_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    monkeypatch.setenv("HAIER_WAREHOUSE_URL", url)
    try:
        yield {**cli_env, "HAIER_WAREHOUSE_URL": url}
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---- the listing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("required", "form"), [(True, "productCodes: []"), (False, "without productCodes")])
def test_sync_lists_the_products_in_the_form_the_gateway_takes_and_check_says_which(
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    capsys: pytest.CaptureFixture[str],
    required: bool,
    form: str,
) -> None:
    simulator.config.listing_requires_codes = required
    assert main(["sync", "--only", "products"]) == 0
    assert warehouse_of(cli_env).table_counts()["products"] == len(simulator.dataset.procurable_codes)
    assert main(["check"]) == 0
    assert line(capsys.readouterr().out, "  listing").split(maxsplit=1)[1] == form


# ---- envelopes --------------------------------------------------------------------------------------


def test_an_unknown_success_code_is_read_by_meaning_and_check_says_how_to_pin_it(
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    simulator.config.update({"envelope": "code", "success_code": "0"})
    assert main(["sync", "--only", "products,prices,stock,balance"]) == 0
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "0 read as success by meaning: once Haier confirms, HAIER_SUCCESS_CODES=0" in out
    assert "products: code (code 0)" in line(out, "  envelopes")

    monkeypatch.setenv("HAIER_SUCCESS_CODES", "0")
    assert main(["check"]) == 0
    assert "pinned by HAIER_SUCCESS_CODES=0" in capsys.readouterr().out
    monkeypatch.setenv("HAIER_SUCCESS_CODES", "1")
    assert main(["check"]) == 1
    assert "(code 0)" in capsys.readouterr().err, "pinned to other codes, code 0 is a refusal"


def test_a_success_code_that_is_an_http_status_is_a_configuration_error(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAIER_SUCCESS_CODES", "0,503")
    assert main(["check"]) == 2
    assert "HAIER_SUCCESS_CODES" in capsys.readouterr().err


def test_statuses_in_the_body_are_refreshed_retried_and_paced_through_a_sync(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator.config.status_in_body = True
    assert main(["check"]) == 0  # a token the gateway then revokes
    simulator.revoke_tokens()
    simulator.reset_counters()
    simulator.config.update({"server_errors": 2, "throttle_next": 2, "retry_after": 0.05})
    assert main(["sync", "--only", "products"]) == 0
    assert simulator.counters.calls("token") == 1, "the 401 in a body refreshed the token"
    # Two 429s, the 401, two 500s, each in a 200, then the listing.
    assert simulator.counters.statuses("products") == {"200": 2 + 1 + 2 + 1}
    assert warehouse_of(cli_env).table_counts()["products"] == len(simulator.dataset.procurable_codes)


def test_a_503_in_the_body_leaves_that_price_unanswered_and_sync_exits_3(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Handled as the status: retried, then unanswered (exit 3), never a refusal of the product."""
    code = priced_code(simulator)
    simulator.config.update({"status_in_body": True, "unavailable_products": [code]})
    assert main(["sync", "--only", "products,prices"]) == 3
    rejected = warehouse_of(cli_env).query("SELECT reason, payload FROM {schema}.rejected_rows").to_dict("records")
    assert len(rejected) == 1 and code in rejected[0]["payload"]
    assert rejected[0]["reason"].startswith("unanswered after every retry") and "503" in rejected[0]["reason"]
    assert "FROM haier.rejected_rows" in capsys.readouterr().err


# ---- the token --------------------------------------------------------------------------------------


def test_check_names_the_fallback_that_served_the_token_after_a_login_page(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator.config.auth_path_html = True
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert line(out, "token:").endswith(f"from {simulator.base_url}/oauth2/token)")
    assert line(out, "  token  ").endswith("under access_token, lifetime from expires_in")


@pytest.mark.parametrize("accepted", ["bearer", "bare"])
def test_check_shows_the_scheme_it_detected_and_sync_uses_it(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str], accepted: str
) -> None:
    simulator.config.auth_scheme = accepted
    assert main(["check"]) == 0
    scheme = line(capsys.readouterr().out, "  auth scheme").split(maxsplit=2)[2]
    assert scheme == (f"{accepted} (detected: the other scheme was refused)" if accepted == "bearer" else accepted)
    assert main(["sync", "--only", "products,stock"]) == 0


def test_a_pinned_scheme_the_gateway_refuses_names_the_setting(
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    simulator.config.auth_scheme = "bearer"
    monkeypatch.setenv("HAIER_AUTH_SCHEME", "bare")
    assert main(["check"]) == 1
    captured = capsys.readouterr()
    assert "HAIER_AUTH_SCHEME" in captured.err
    assert "bare (pinned by HAIER_AUTH_SCHEME)" in line(captured.out, "  auth scheme")


# ---- 401 and 403 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("in_body", [False, True], ids=["http-403", "body-403"])
def test_a_403_stops_the_stock_step_at_its_first_answers_naming_the_whitelist(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str], in_body: bool
) -> None:
    simulator.config.update({"forbidden_endpoints": ["stock"], "status_in_body": in_body})
    assert main(["sync", "--only", "products,stock"]) == 1
    err = capsys.readouterr().err
    assert "step stock_snapshots failed" in err and "whitelist" in err and "HTTP 403" in err
    pairs = len(simulator.dataset.procurable_codes) * len(simulator.config.counties)
    assert simulator.counters.calls("stock") < pairs / 2, "stopped with the first answers, never item by item"
    assert warehouse_of(cli_env).table_counts()["rejected_rows"] == 0


def test_check_tells_a_missing_permission_from_a_dead_token_and_asks_every_other_endpoint(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator.config.unauthorized_endpoints = ("balance",)
    assert main(["check"]) == 1
    captured = capsys.readouterr()
    for endpoint in ("products:", "prices:", "stock:", "logistics:"):
        assert line(captured.out, endpoint).split()[1] == "ok"
    assert line(captured.out, "api:").split()[1] == "FAILED"
    assert "HAIER_CLIENT_ID lacks permission for the balance interface" in captured.err
    assert "HAIER_AUTH_SCHEME" not in captured.err
    assert simulator.counters.calls("token") == 2, "one refresh, no churn"


@pytest.mark.parametrize("accepted", ["bare", "bearer"])
def test_a_sync_whose_first_call_is_refused_a_permission_names_it_and_writes_every_other_step(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str], accepted: str
) -> None:
    """A sync calls the balance first: its 401 was taken for the wrong scheme, and on a bare-only gateway the switch
    to Bearer failed every step after it."""
    simulator.config.update({"unauthorized_endpoints": ["balance"], "auth_scheme": accepted})
    assert main(["sync"]) == 1
    err = capsys.readouterr().err
    assert "step account_balances failed" in err
    assert "HAIER_CLIENT_ID lacks permission for the balance interface" in err and "HAIER_AUTH_SCHEME" not in err
    failed = [line for line in err.splitlines() if "failed" in line and "step" in line]
    assert len(failed) == 1, failed
    counts = warehouse_of(cli_env).table_counts()
    assert counts["account_balances"] == 0
    assert counts["products"] and counts["prices"] and counts["stock_snapshots"] and counts["logistics_events"]
    assert simulator.counters.calls("token") == 1


# ---- prices (DuckDB and Postgres) -------------------------------------------------------------------


def test_a_price_in_chinese_numerals_on_the_second_sync_stays_and_the_sync_exits_0(
    price_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", "--only", "products,prices,catalog"]) == 0
    code = priced_code(simulator)
    warehouse = warehouse_of(price_env)
    price_sql = "SELECT supply_price, fetched_at FROM {schema}.prices WHERE product_code = :code"
    version_sql = "SELECT valid_from, valid_to FROM {schema}.price_history WHERE product_code = :code"
    catalog_sql = "SELECT supply_price, sale_price FROM {schema}.catalog WHERE product_code = :code"
    before = [warehouse.query(sql, {"code": code}).to_dict("records") for sql in (price_sql, version_sql, catalog_sql)]

    simulator.config.numeral_prices = (code,)
    assert main(["sync", "--only", "products,prices,catalog"]) == 0, "a refused row is no failure"
    after = [warehouse.query(sql, {"code": code}).to_dict("records") for sql in (price_sql, version_sql, catalog_sql)]
    assert after == before, "the price, its open version and the catalog's price stay"
    rejected = warehouse.query("SELECT asset, reason, payload FROM {schema}.rejected_rows").to_dict("records")
    supply = simulator.dataset.price_row(code, simulator.config.today())["supplyPrice"]
    assert [(row["asset"], row["reason"].split(" (got")[0]) for row in rejected] == [
        ("prices", "supply_price: is not a number")
    ]
    assert chinese_numerals(supply) in rejected[0]["payload"]
    assert "prices" in capsys.readouterr().out


def test_a_text_market_price_and_a_percentage_discount_keep_their_rows(
    price_env: dict[str, str], simulator: RunningSimulator
) -> None:
    market, discount = priced_code(simulator), priced_code(simulator, discounted=False)
    simulator.config.update({"text_market_prices": [market], "percent_discounts": [discount]})
    assert main(["sync", "--only", "products,prices,catalog"]) == 0
    warehouse = warehouse_of(price_env)
    prices = warehouse.query("SELECT * FROM {schema}.prices").set_index("product_code")
    catalog = warehouse.query("SELECT * FROM {schema}.catalog").set_index("product_code")
    assert pd.isna(prices.loc[market, "market_price"])
    assert catalog.loc[market, "sale_price"] == prices.loc[market, "supply_price"]
    assert Decimal(str(prices.loc[discount, "direct_discount"])) == Decimal("0.05")
    anomalies = warehouse.query("SELECT row_key, field, raw_value FROM {schema}.field_anomalies ORDER BY field")
    assert [tuple(row) for row in anomalies.itertuples(index=False)] == [
        (discount, "direct_discount", '"5%"'),
        (market, "market_price", '"暂无"'),
    ]
    assert warehouse.table_counts()["rejected_rows"] == 0


# ---- balances and logistics ---------------------------------------------------------------------------


def test_two_payer_accounts_of_one_sales_organisation_are_both_shown_and_stored(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A balance is keyed by sales organisation and payer account (issue 25, point 6a): the two payer accounts of one
    sales organisation are two balances, in `query balance` and in the warehouse."""
    simulator.config.two_payer_accounts = True
    customer = SIMULATOR_CREDENTIALS["customer_code"]
    expected = [("GA01", customer), ("GA01", f"{customer}01"), ("GC02", customer)]
    assert main(["query", "balance", "--json"]) == 0
    captured = capsys.readouterr()
    assert sorted((row["sale_group_code"], row["payer_account_code"]) for row in json.loads(captured.out)) == expected
    assert "refused" not in captured.err
    assert main(["sync", "--only", "balance"]) == 0
    stored = warehouse_of(cli_env).query("SELECT sale_group_code, payer_account_code FROM {schema}.account_balances")
    assert sorted(map(tuple, stored.values.tolist())) == expected


def test_a_logistics_key_the_document_does_not_name_keeps_the_order_through_sync_check_and_query(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator.config.logistics_extra_key = "getLogisticsTrackV2"
    assert main(["sync", "--only", "logistics"]) == 0
    lists = warehouse_of(cli_env).query("SELECT source_list, count(*) AS n FROM {schema}.logistics_events GROUP BY 1")
    counts = dict(lists.itertuples(index=False))
    order = simulator.dataset.logistics("SO.20190106.000003")
    assert counts == {**{name: len(rows) for name, rows in order.items() if rows}, "getLogisticsTrackV2": 1}
    assert main(["check"]) == 0
    assert "keys the document does not name: getLogisticsTrackV2" in line(capsys.readouterr().out, "logistics:")
    assert main(["query", "logistics", "SO.20190106.000003"]) == 0
    assert "getLogisticsTrackV2" in capsys.readouterr().err


# ---- check --record ---------------------------------------------------------------------------------

URL_PASSWORD = "url-pass-8842"
CUSTOMER_PASSWORD = "customer-pass-5531"


def test_check_record_keeps_the_first_answer_of_each_endpoint_and_no_secret(
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The record is meant for Haier's support: every file is searched for the client secret, each password, each
    token the gateway issued and the password of a URL."""
    simulator.config.update(
        {
            "auth_path_html": True,
            "listing_requires_codes": True,
            "auth_scheme": "bearer",
            "success_code": "0",
            "customer_password": CUSTOMER_PASSWORD,
        }
    )
    host = simulator.base_url.removeprefix("http://")
    monkeypatch.setenv("HAIER_TOKEN_URL", f"http://first-contact:{URL_PASSWORD}@{host}/oauth2/auth")
    monkeypatch.setenv("HAIER_SELLER_PASSWORD", CUSTOMER_PASSWORD)
    monkeypatch.setenv("HAIER_CUSTOMER_PASSWORD", CUSTOMER_PASSWORD)
    record = tmp_path / "first-contact"
    assert main(["check", "--record", str(record)]) == 0
    captured = capsys.readouterr()

    files = sorted(path.name for path in record.iterdir())
    assert files == [
        "balance.http",
        "detected.json",
        "logistics.http",
        "prices.http",
        "products-200.http",
        "products-400.http",
        "products.http",
        "stock.http",
        "token-fallback.http",
        "token.http",
    ]
    assert f"record:    {len(files)} files in {record}" in captured.out
    texts = {path.name: path.read_text(encoding="utf-8") for path in record.iterdir()}
    assert "<title>" in texts["token.http"] and '"access_token":"******"' in texts["token-fallback.http"]
    # The listing's first contact: the bare token refused, then without productCodes refused, then the list.
    assert "HTTP 401" in texts["products.http"] and "Authorization: (the bare token) ******" in texts["products.http"]
    asked, answered = texts["products-400.http"].split("\nHTTP ", 1)
    assert answered.startswith("400") and "productCodes" not in asked
    assert '"productCodes": []' in texts["products-200.http"] and '"code":"0"' in texts["products-200.http"]
    assert "Authorization: Bearer ******" in texts["stock.http"]
    detected = json.loads(texts["detected.json"])
    assert detected["listing_form"] == "productCodes: []"
    assert detected["auth_scheme"].startswith("bearer")
    assert detected["codes_read_as_success_by_meaning"] == ["0"]
    assert detected["token"]["token_key"] == "access_token"
    assert detected["checks"]["stock"].startswith("ok")

    tokens = simulator.state.tokens.issued()
    assert tokens, "the gateway issued the tokens the record must not hold"
    secrets = [
        SIMULATOR_CREDENTIALS["client_secret"],
        SIMULATOR_CREDENTIALS["password"],
        CUSTOMER_PASSWORD,
        URL_PASSWORD,
        *tokens,
    ]
    for name, text in {**texts, "stdout": captured.out, "stderr": captured.err}.items():
        leaked = [secret for secret in secrets if secret in text]
        assert not leaked, f"{name} holds a secret"
