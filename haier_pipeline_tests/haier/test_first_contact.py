"""Issue 25, first contact with the real vendor: every alternative the vendor's document leaves open, served by a switch
of the simulator and read by the real client over HTTP (a hand-written gateway only where no switch can serve it)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from haier_pipeline.endpoints.prices import PRICE_ROW
from haier_pipeline.haier import (
    HaierAuthenticationError,
    HaierBusinessError,
    HaierPermissionError,
    HaierRequestError,
    HaierThrottledError,
)
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.haier.discovery import LISTING_EMPTY_LIST, LISTING_OMITTED
from haier_pipeline.simulator import RunningSimulator
from haier_pipeline.simulator.alternatives import NO_MARKET_PRICE, chinese_numerals
from haier_pipeline_tests.haier.test_hostile_answers import Answer, client_of, gateway
from haier_pipeline_tests.simulated import stock_for_pairs

ClientFactory = Callable[..., HaierClient]
REPO = Path(__file__).resolve().parents[2]


def statuses(simulator: RunningSimulator, endpoint: str) -> dict[str, int]:
    return simulator.counters.statuses(endpoint)


def calls(simulator: RunningSimulator, endpoint: str) -> int:
    return simulator.counters.calls(endpoint)


def pairs_of(simulator: RunningSimulator, count: int) -> list[tuple[str, str]]:
    codes = simulator.dataset.procurable_codes
    pairs = [(code, county) for code in codes for county in simulator.config.counties][:count]
    assert len(pairs) == count
    return pairs


def priced_code(simulator: RunningSimulator, *, discounted: bool | None = None) -> str:
    """A product with a price in effect today (and, if asked, a direct discount or none)."""
    day = simulator.config.today()
    for code in simulator.dataset.priced_codes:
        row = simulator.dataset.price_row(code, day)
        if discounted is None or bool(row["stockRebatePolicy"]) is discounted:
            return code
    raise AssertionError("no such product in the data set")


# ---- 1. the listing ---------------------------------------------------------------------------------


def test_a_listing_refused_without_product_codes_is_asked_with_an_empty_list_and_that_form_is_kept(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    """haier-api.md §1 marks productCodes required and says to omit it: a gateway answering 400 without it left the
    products table empty."""
    simulator.config.listing_requires_codes = True
    client = make_client()
    assert {row["productCode"] for row in client.products()} == set(simulator.dataset.procurable_codes)
    assert statuses(simulator, "products") == {"400": 1, "200": 1}
    assert client.detected()["listing_form"] == LISTING_EMPTY_LIST
    client.products()
    assert statuses(simulator, "products") == {"400": 1, "200": 2}, "the form that worked is asked first from then on"
    assert make_client().detected()["listing_form"] == LISTING_EMPTY_LIST, "for the process, not the client object"


def test_a_listing_answered_without_product_codes_keeps_the_documented_form(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    client = make_client()
    client.products()
    client.products()
    assert statuses(simulator, "products") == {"200": 2}
    assert client.detected()["listing_form"] == LISTING_OMITTED


def test_a_listing_refused_in_both_forms_names_both() -> None:
    def answer(endpoint: str, body: dict[str, Any]) -> Answer | None:
        return Answer(b'{"code": 400, "msg": "bad request"}', 400) if endpoint == "products" else None

    with gateway(answer) as api, pytest.raises(HaierRequestError) as raised:
        client_of(api).products()
    message = str(raised.value)
    assert "without productCodes" in message and "with productCodes: []" in message
    assert "check --record" in message and not raised.value.transient
    assert api.calls("products") == 2


# ---- 2. envelopes -----------------------------------------------------------------------------------


def test_an_unknown_success_code_is_read_by_meaning_and_warned_once(
    simulator: RunningSimulator, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A gateway answering code "0" with data had every call refused."""
    simulator.config.update({"envelope": "code", "success_code": "0"})
    client = make_client()
    with caplog.at_level(logging.WARNING, logger="haier_pipeline.haier"):
        assert {row["productCode"] for row in client.products()} == set(simulator.dataset.procurable_codes)
        outcomes = stock_for_pairs(client, pairs_of(simulator, 40))
        assert client.balance()
    assert [outcome.error for outcome in outcomes if outcome.error] == []
    warnings = [record.getMessage() for record in caplog.records if "HAIER_SUCCESS_CODES=0" in record.getMessage()]
    assert len(warnings) == 1, "one warning per code and process, however many answers carry it"
    assert "'0'" in warnings[0]
    assert client.detected()["codes_read_as_success_by_meaning"] == ["0"]


def test_an_unknown_code_without_a_message_is_a_success_with_rows_and_a_refusal_without_until_pinned(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    """No message and no rows cannot be told from a refusal's `data: []`: refused, saying how to pin the code."""
    simulator.config.update({"envelope": "code", "success_code": "0", "success_msg": ""})
    day = simulator.config.today()
    empty = next(pair for pair in pairs_of(simulator, 200) if not simulator.dataset.stock_rows(*pair, day))
    full = next(pair for pair in pairs_of(simulator, 200) if simulator.dataset.stock_rows(*pair, day))
    client = make_client()
    assert len(client.stock(*full)) == len(simulator.dataset.stock_rows(*full, day))
    with pytest.raises(HaierBusinessError) as raised:
        client.stock(*empty)
    assert "HAIER_SUCCESS_CODES=0" in str(raised.value) and not raised.value.transient
    assert make_client(success_codes="0").stock(*empty) == [], "pinned, code 0 is a success, with rows or without"


def test_pinned_success_codes_refuse_any_other_code_even_with_data(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.config.update({"envelope": "code", "success_code": "0"})
    with pytest.raises(HaierBusinessError) as raised:
        make_client(success_codes="1").balance()
    assert raised.value.code == "0"


def test_a_401_in_the_body_refreshes_the_token_as_the_status_does(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.config.status_in_body = True
    client = make_client()
    assert client.balance()
    simulator.revoke_tokens()
    assert client.balance(), "a new token, and the call repeated"
    assert calls(simulator, "token") == 2
    assert statuses(simulator, "balance") == {"200": 3}, "the refusal came with HTTP 200"


def test_a_500_in_the_body_is_retried_as_server_trouble(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.config.update({"status_in_body": True, "server_errors": 2})
    assert make_client().balance()
    assert calls(simulator, "balance") == 3


def test_a_500_in_the_body_that_stays_is_the_vendors_refusal_after_every_retry(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    """A refused product (code 500 and a reason in the body, HTTP 200): asked max_retries times more, then refused,
    not left unanswered for every later pass."""
    code = priced_code(simulator)
    simulator.config.refused_products = (code,)
    client = make_client()
    with pytest.raises(HaierBusinessError) as raised:
        client.price_batch([code])
    assert not raised.value.transient and raised.value.reason == "商品不存在或已停用"
    assert calls(simulator, "prices") == 1 + client.max_retries


def test_a_wrong_password_in_a_body_500_is_never_retried(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    """Asked again, a wrong password may lock the account."""
    client = make_client(password="not-the-password-3301")
    with pytest.raises(HaierBusinessError) as raised:
        client.products()
    assert raised.value.account_refused
    assert calls(simulator, "products") == 1


def test_a_503_in_the_body_is_unanswered_after_every_retry(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    code = priced_code(simulator)
    simulator.config.update({"status_in_body": True, "unavailable_products": [code]})
    client = make_client()
    with pytest.raises(HaierRequestError) as raised:
        client.price_batch([code])
    assert raised.value.status == 503 and raised.value.transient, "unanswered: a later pass may deliver it"
    assert calls(simulator, "prices") == 1 + client.max_retries


def test_a_429_in_the_body_is_paced_and_retried(simulator: RunningSimulator, make_client: ClientFactory) -> None:
    client = make_client()
    client.token()
    simulator.config.update({"status_in_body": True, "throttle_next": 3, "retry_after": 0.05})
    assert client.balance()
    assert calls(simulator, "balance") == 4
    assert client.stats.total("throttled") == 3


@pytest.mark.parametrize("in_body", [False, True], ids=["http-403", "body-403"])
def test_a_403_stops_at_its_first_answer_naming_the_whitelist(
    simulator: RunningSimulator, make_client: ClientFactory, in_body: bool
) -> None:
    simulator.config.update({"status_in_body": in_body, "forbidden_endpoints": ["balance"]})
    client = make_client()
    with pytest.raises(HaierPermissionError) as raised:
        client.balance()
    assert raised.value.status == 403 and not raised.value.transient
    assert "whitelist" in str(raised.value) and "balance" in str(raised.value)
    assert calls(simulator, "balance") == 1 and calls(simulator, "token") == 1


# ---- 3. the token -----------------------------------------------------------------------------------


def test_an_html_login_page_at_the_token_url_falls_back_to_oauth2_token(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    """/oauth2/auth is often a browser login page: its 200 was fatal, and /oauth2/token never asked."""
    simulator.config.auth_path_html = True
    client = make_client()
    assert client.balance()
    assert client.token_served_by == f"{simulator.base_url}/oauth2/token"
    assert statuses(simulator, "token") == {"200": 2}
    served_by = f"{simulator.base_url}/oauth2/token"
    expected = {"served_by": served_by, "token_key": "access_token", "lifetime_from": "expires_in"}
    assert client.detected()["token"] == expected


@pytest.mark.parametrize(
    ("shape", "expires_in_at", "key", "lifetime_from"),
    [
        ("data.token", "data", "data.token", "data.expires_in"),
        ("token", "none", "token", "the JWT's exp"),
    ],
)
def test_the_token_shape_is_detected(
    simulator: RunningSimulator,
    make_client: ClientFactory,
    shape: str,
    expires_in_at: str,
    key: str,
    lifetime_from: str,
) -> None:
    simulator.config.update({"token_shape": shape, "expires_in_at": expires_in_at})
    client = make_client()
    client.token()
    assert client.detected()["token"]["token_key"] == key
    assert client.detected()["token"]["lifetime_from"] == lifetime_from


def test_a_json_answer_without_a_token_at_the_token_url_falls_back_to_oauth2_token() -> None:
    answers = iter([Answer(b'{"code": 200, "msg": "ok", "data": {"redirect": "/login"}}')])

    def answer(endpoint: str, body: dict[str, Any]) -> Answer | None:
        return next(answers, None) if endpoint == "token" else None

    with gateway(answer) as api:
        client = client_of(api)
        assert client.balance() == []
        assert client.token_served_by == f"{api.base_url}/oauth2/token"
        assert api.calls("token") == 2


def test_no_token_from_either_url_names_both_and_what_came_instead() -> None:
    page = Answer(b"<html><body>login</body></html>", headers={"Content-Type": "text/html"})
    with (
        gateway(lambda endpoint, body: page if endpoint == "token" else None) as api,
        pytest.raises(HaierAuthenticationError) as raised,
    ):
        client_of(api).balance()
    message = str(raised.value)
    assert f"{api.base_url}/oauth2/auth" in message and f"{api.base_url}/oauth2/token" in message
    assert "HTML page" in message and "HAIER_TOKEN_URL" in message


@pytest.mark.parametrize("accepted", ["bearer", "bare"])
def test_the_authorization_scheme_is_detected_under_a_fan_out_and_kept(
    simulator: RunningSimulator, make_client: ClientFactory, accepted: str
) -> None:
    """The bare token first (the last working production client sent it); Bearer once a fresh token is refused."""
    simulator.config.auth_scheme = accepted
    client = make_client()
    outcomes = stock_for_pairs(client, pairs_of(simulator, 80))
    assert [outcome.error for outcome in outcomes if outcome.error] == []
    assert calls(simulator, "token") == 1, "the same token, sent the other way: no new one"
    assert client.detected()["auth_scheme"].startswith(accepted)
    refused = statuses(simulator, "stock").get("401", 0)
    assert (refused > 0) is (accepted == "bearer")
    before = refused
    assert client.balance() and make_client().balance()
    assert statuses(simulator, "stock").get("401", 0) == before and "401" not in statuses(simulator, "balance")


def test_a_pinned_scheme_is_never_switched(simulator: RunningSimulator, make_client: ClientFactory) -> None:
    simulator.config.auth_scheme = "bearer"
    with pytest.raises(HaierAuthenticationError) as raised:
        make_client(auth_scheme="bare").balance()
    assert "HAIER_AUTH_SCHEME" in str(raised.value)
    assert calls(simulator, "token") == 2 and statuses(simulator, "balance") == {"401": 2}


def test_a_gateway_refusing_both_schemes_says_both_were_tried(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.config.token_ttl = 0.0  # every token is dead on arrival
    with pytest.raises(HaierAuthenticationError) as raised:
        make_client().balance()
    assert "Both schemes were tried" in str(raised.value) and "HAIER_AUTH_SCHEME" in str(raised.value)


# ---- 4. 401 told from 403 ---------------------------------------------------------------------------


def test_a_401_on_one_endpoint_for_tokens_another_takes_is_a_permission_error_without_token_churn(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    """It was taken for a dead token: two refetches, then "check HAIER_AUTH_SCHEME"."""
    simulator.config.unauthorized_endpoints = ("balance",)
    client = make_client()
    assert client.products()
    with pytest.raises(HaierPermissionError) as raised:
        client.balance()
    message = str(raised.value)
    assert raised.value.status == 401 and "balance" in message and "products" in message
    assert "permission" in message and "HAIER_AUTH_SCHEME" not in message
    assert calls(simulator, "token") == 2, "one refresh, as the document asks for a 401, and no more"
    assert calls(simulator, "balance") == 2
    with pytest.raises(HaierPermissionError):
        client.balance()
    assert calls(simulator, "token") == 2 and calls(simulator, "balance") == 3, "known now: asked once, no refresh"
    assert client.products(), "the other endpoints go on"


@pytest.mark.parametrize("accepted", ["bare", "bearer"])
def test_a_401_on_the_first_call_of_a_process_is_a_permission_error_when_another_endpoint_takes_the_token(
    simulator: RunningSimulator, make_client: ClientFactory, accepted: str
) -> None:
    """A sync, the hourly balance run and the logistics run call the balance first. Its permission-only 401 was taken
    for the wrong scheme: the client switched, fetched three tokens, said "check HAIER_AUTH_SCHEME", and on a
    bare-only gateway kept Bearer, so every endpoint after it failed too."""
    simulator.config.update({"unauthorized_endpoints": ["balance"], "auth_scheme": accepted})
    client = make_client()
    with pytest.raises(HaierPermissionError) as raised:
        client.balance()
    message = str(raised.value)
    assert raised.value.status == 401 and "products" in message and "HAIER_AUTH_SCHEME" not in message
    assert calls(simulator, "token") == 1, "the token was never dead"
    assert client.detected()["auth_scheme"].startswith(accepted)
    assert client.products() and client.logistics(simulator.dataset.order_codes[0])
    assert calls(simulator, "token") == 1
    with pytest.raises(HaierPermissionError):
        client.balance()


def test_a_missing_permission_is_told_even_when_the_first_token_was_revoked_before_its_first_use(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    """The probe's answer was kept per endpoint: the revoked token's "nothing answers" stood for its successor too,
    and the missing permission was reported as a dead token."""
    simulator.config.update({"unauthorized_endpoints": ["balance"], "auth_scheme": "bare"})
    client = make_client()
    client.token()
    simulator.revoke_tokens()
    with pytest.raises(HaierPermissionError):
        client.balance()
    assert calls(simulator, "token") == 2


def test_a_gateway_taking_both_schemes_keeps_the_default_one_after_a_missing_permission(
    simulator: RunningSimulator, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Only the endpoint refusing every token had refused the bare token, yet Bearer was said to be the gateway's."""
    simulator.config.unauthorized_endpoints = ("balance",)
    client = make_client()
    with pytest.raises(HaierPermissionError):
        client.balance()
    assert client.detected()["auth_scheme"] == "bare"
    assert "HAIER_AUTH_SCHEME" not in caplog.text


def test_a_token_revoked_before_its_first_use_finds_the_scheme_with_the_next_token(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    """Both schemes refused the revoked token; the new one was only tried with the second scheme, so a bare-only
    gateway failed the call saying both schemes were tried."""
    simulator.config.auth_scheme = "bare"
    client = make_client()
    client.token()
    simulator.revoke_tokens()
    assert client.products()
    assert calls(simulator, "token") == 2
    assert client.detected()["auth_scheme"].startswith("bare")


def test_a_403_with_a_trace_id_in_every_body_stops_the_fan_out_at_its_first_answer(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    """Bodies that differ by a trace id broke the refusal streak: the 403 was refused item by item, all day."""
    client = make_client()
    pairs = pairs_of(simulator, 220)  # every pair of the data set: 55 procurable products in 4 counties
    client.token()
    simulator.config.forbidden_endpoints = ("stock",)
    with pytest.raises(HaierPermissionError) as raised:
        stock_for_pairs(client, pairs)
    assert raised.value.status == 403 and "whitelist" in str(raised.value)
    assert calls(simulator, "stock") <= client.stats.peak_senders + 1 < len(pairs), "the calls in flight, no more"


# ---- 6b. logistics, 8. balances ---------------------------------------------------------------------


def test_a_logistics_list_the_document_does_not_name_keeps_the_order_and_is_drift(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.config.logistics_extra_key = "getLogisticsTrackV2"
    order = simulator.dataset.order_codes[0]
    answer = make_client().logistics(order)
    expected = simulator.dataset.logistics(order)
    assert {name: answer[name] for name in expected} == expected, "the three lists, whole"
    assert list(answer.unknown_keys) == ["getLogisticsTrackV2"]
    assert answer["getLogisticsTrackV2"] and answer["getLogisticsTrackV2"][0]["orderCode"] == order


def test_two_payer_accounts_in_one_sales_organisation_both_arrive(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.config.two_payer_accounts = True
    rows = make_client().balance()
    keys = [(row["saleGroupCode"], row["payerAccountCode"]) for row in rows]
    assert len(keys) == len(set(keys)) == 3
    assert [group for group, _ in keys].count("GA01") == 2


# ---- 5. prices, through the client and the parse ---------------------------------------------------


def parsed_prices(client: HaierClient, code: str) -> Any:
    return PRICE_ROW.parse(client.price_batch([code]), {"fetched_at": None})


def test_a_price_in_chinese_numerals_is_refused_never_a_price_not_in_effect(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    code = priced_code(simulator)
    simulator.config.numeral_prices = (code,)
    parsed = parsed_prices(make_client(), code)
    supply = simulator.dataset.price_row(code, simulator.config.today())["supplyPrice"]
    assert parsed.rows == []
    (refusal,) = parsed.refused
    numerals = json.dumps(chinese_numerals(supply), ensure_ascii=False)
    assert refusal.reason == f"supply_price: is not a number (got {numerals})"


def test_a_text_market_price_is_an_anomaly_and_the_price_is_kept(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    code = priced_code(simulator)
    simulator.config.text_market_prices = (code,)
    parsed = parsed_prices(make_client(), code)
    (row,) = parsed.rows
    assert row["supply_price"] == simulator.dataset.price_row(code, simulator.config.today())["supplyPrice"]
    assert row["market_price"] is None
    assert [(a.field, json.loads(a.raw_value)) for a in parsed.anomalies] == [("market_price", NO_MARKET_PRICE)]


def test_a_percentage_discount_is_read_as_its_fraction_with_an_anomaly(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    code = priced_code(simulator, discounted=False)
    simulator.config.percent_discounts = (code,)
    parsed = parsed_prices(make_client(), code)
    (row,) = parsed.rows
    assert str(row["direct_discount"]) == "0.050000"
    expected = row["supply_price"] * (1 - Decimal("0.05")) - row["rebate_money"]
    assert row["invoice_price"] == expected.quantize(Decimal("0.01")), "the invoice price the discount gives"
    assert [(a.field, json.loads(a.raw_value), a.reason) for a in parsed.anomalies] == [
        ("direct_discount", "5%", "a percentage, read as the fraction 0.05")
    ]


# ---- 7. throttling ----------------------------------------------------------------------------------


def test_a_call_alone_waits_out_a_storm_longer_than_its_retries(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    """A storm of 4-6 s failed the listing and the balance, which make a step alone, after 4 tries."""
    client = make_client()
    client.token()
    simulator.config.update({"throttle_next": 3 * (client.max_retries + 1), "retry_after": 0.05})
    assert client.balance()
    assert statuses(simulator, "balance") == {"429": 3 * (client.max_retries + 1), "200": 1}


def test_a_storm_past_four_timeouts_fails_saying_it_was_the_gateway(
    simulator: RunningSimulator, make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client(timeout=1.0, pacing_dir=str(tmp_path))
    client.token()
    simulator.config.update({"throttle_rate": 1.0, "retry_after": 0.1})
    with pytest.raises(HaierThrottledError) as raised:
        client.balance()
    message = str(raised.value)
    assert "throttling storm at the gateway" in message and "another process" not in message
    assert raised.value.transient and raised.value.status == 429
    assert statuses(simulator, "balance")["429"] > client.max_retries + 1, "time, not tries"


def test_a_storm_beside_another_process_on_the_account_names_that_process(
    simulator: RunningSimulator, make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client(timeout=1.0, pacing_dir=str(tmp_path))
    client.token()
    pacer = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from haier_pipeline.haier.pacing import RateLimiter, slot_file\n"
        "limiter = RateLimiter(20, slot_file(Path(sys.argv[1]), sys.argv[2]))\n"
        "limiter.acquire()\n"
        "print('pacing', flush=True)\n"
        "while True:\n"
        "    limiter.acquire()\n"
    )
    account = f"{client.api_root}|{client.client_id}"
    other = subprocess.Popen(
        [sys.executable, "-c", pacer, str(tmp_path), account], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "pacing"
        simulator.config.update({"throttle_rate": 1.0, "retry_after": 0.1})
        with pytest.raises(HaierThrottledError) as raised:
            client.balance()
    finally:
        other.kill()
        other.wait(10)
    message = str(raised.value)
    assert f"another process on this machine (pid {other.pid})" in message and "HAIER_RATE_LIMIT" in message
