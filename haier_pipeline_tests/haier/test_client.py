"""The real client against the real simulator over HTTP."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests

from haier_pipeline.haier import (
    HaierAuthenticationError,
    HaierBusinessError,
    HaierRequestError,
    HaierThrottledError,
    HaierUnavailableError,
)
from haier_pipeline.haier.answers import retry_after_seconds
from haier_pipeline.haier.auth import TokenCache, TokenGrant
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.haier.senders import senders_for
from haier_pipeline.simulator import RunningSimulator, SimulatorConfig, dataset_for
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS, simulator_process, stock_for_pairs

ClientFactory = Callable[..., HaierClient]


def listing_codes(client: HaierClient) -> list[str]:
    return list(dict.fromkeys(row["productCode"] for row in client.products()))


def calls(simulator: RunningSimulator, endpoint: str) -> int:
    return simulator.counters.snapshot()["calls"].get(endpoint, 0)


def statuses(simulator: RunningSimulator, endpoint: str) -> dict[str, int]:
    return simulator.counters.snapshot()["statuses"].get(endpoint, {})


# ---- token ----------------------------------------------------------------------------------------


def test_one_token_is_shared_by_every_thread(simulator: RunningSimulator, make_client: ClientFactory) -> None:
    client = make_client()
    codes = listing_codes(client)[:10]
    outcomes = stock_for_pairs(client, [(code, county) for code in codes for county in simulator.config.counties])
    assert all(outcome.error is None for outcome in outcomes)
    assert len(outcomes) == 10 * len(simulator.config.counties)
    assert calls(simulator, "token") == 1


@pytest.mark.parametrize("shape", ["access_token", "token", "data.access_token", "data.token"])
@pytest.mark.parametrize("expires_in_at", ["top", "data", "none"])
def test_every_token_shape_and_expiry_placement(
    simulator: RunningSimulator, make_client: ClientFactory, shape: str, expires_in_at: str
) -> None:
    simulator.config.token_shape = shape
    simulator.config.expires_in_at = expires_in_at
    client = make_client()
    assert client.balance(), "a data call with the parsed token must succeed"
    assert calls(simulator, "token") == 1


def test_token_falls_back_to_oauth2_token(simulator: RunningSimulator, make_client: ClientFactory) -> None:
    simulator.config.auth_path_fails = True
    client = make_client()
    assert client.balance()
    assert statuses(simulator, "token").get("404") == 1
    assert statuses(simulator, "token").get("200") == 1


def test_wrong_client_secret_is_an_authentication_error_without_the_secret(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    client = make_client(client_secret="not-the-secret-5521")
    with pytest.raises(HaierAuthenticationError) as raised:
        client.balance()
    assert "HAIER_CLIENT_SECRET" in str(raised.value)
    assert "not-the-secret-5521" not in str(raised.value)


def test_token_is_refreshed_ten_minutes_before_expiry_by_exactly_one_thread() -> None:
    now = [1000.0]
    fetches: list[float] = []
    gate = threading.Event()

    def fetch() -> TokenGrant:
        gate.wait(5)
        fetches.append(now[0])
        return TokenGrant(token=f"token-{len(fetches)}", lifetime=3600)

    cache = TokenCache(clock=lambda: now[0])
    gate.set()
    assert cache.get(fetch) == "token-1"
    now[0] += 2999  # 601 s before expiry: still good
    assert cache.get(fetch) == "token-1"
    now[0] += 2  # 599 s before expiry: inside the vendor's 10-minute margin
    gate.clear()
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(fetch))) for _ in range(16)]
    for thread in threads:
        thread.start()
    # While one thread fetches, the others go on with the token that is still valid instead of waiting on it.
    deadline = time.monotonic() + 5
    while len(results) < 15 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert results == ["token-1"] * 15
    gate.set()
    for thread in threads:
        thread.join(5)
    assert results == ["token-1"] * 15 + ["token-2"]
    assert len(fetches) == 2
    assert cache.get(fetch) == "token-2"


def no_answer_from_the_token_url() -> TokenGrant:
    raise HaierUnavailableError("token", "ReadTimeout on http://127.0.0.1:1/oauth2/auth", 1, 30.0)


def test_a_failed_refresh_keeps_the_valid_token_and_tries_again_30_seconds_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    grants = iter(["token-1", "token-2"])
    attempts: list[float] = []

    def fetch() -> TokenGrant:
        attempts.append(now[0])
        return TokenGrant(token=next(grants), lifetime=3600)

    cache = TokenCache(clock=lambda: now[0])
    assert cache.get(fetch) == "token-1"
    now[0] += 3001  # inside the 10-minute margin: a refresh is due, and the token endpoint does not answer
    with caplog.at_level(logging.WARNING, logger="haier_pipeline.haier"):
        assert cache.get(no_answer_from_the_token_url) == "token-1"
    assert "token refresh failed (token: no answer" in caplog.text and "valid 599 s more" in caplog.text
    now[0] += 29
    assert cache.get(fetch) == "token-1" and attempts == [1000.0], "no second try within 30 s"
    now[0] += 1
    assert cache.get(fetch) == "token-2" and attempts == [1000.0, 4031.0]


def test_a_refresh_failing_until_the_token_expires_fails_the_call() -> None:
    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])
    assert cache.get(lambda: TokenGrant(token="token-1", lifetime=3600)) == "token-1"
    now[0] += 3001
    while now[0] < 1000.0 + 3599:  # every try fails; the token stays in use while it is valid
        assert cache.get(no_answer_from_the_token_url) == "token-1"
        now[0] += 30
    with pytest.raises(HaierUnavailableError, match=r"^token: no answer"):
        cache.get(no_answer_from_the_token_url)
    with pytest.raises(HaierUnavailableError):  # and a process with no token at all fails at once, as before
        TokenCache().get(no_answer_from_the_token_url)


def test_a_revoked_token_is_refreshed_once_and_the_call_repeated(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    client = make_client()
    assert client.balance()
    simulator.revoke_tokens()
    assert client.balance()
    assert calls(simulator, "token") == 2
    assert statuses(simulator, "balance") == {"200": 2, "401": 1}


def test_tokens_dying_early_on_the_server_are_recovered(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.config.token_ttl = 0.3
    client = make_client()
    codes = listing_codes(client)[:20]
    threading.Event().wait(0.4)
    assert len(client.products(codes)) == 20
    assert calls(simulator, "token") >= 2


# ---- batching, envelopes, business failures -------------------------------------------------------


def test_45_codes_are_asked_20_20_5(simulator: RunningSimulator, make_client: ClientFactory) -> None:
    client = make_client()
    codes = listing_codes(client)[:45]
    assert len(codes) == 45
    simulator.counters.reset()
    outcomes = client.prices(codes)
    assert [len(outcome.item) for outcome in outcomes] == [20, 20, 5]
    rows = [row for outcome in outcomes for row in outcome.value or []]
    assert sorted(row["productCode"] for row in rows) == sorted(codes)
    snapshot = simulator.counters.snapshot()
    assert snapshot["calls"]["prices"] == 3
    assert snapshot["largest_batch"] == 20


def test_prices_are_exact_decimals(simulator: RunningSimulator, make_client: ClientFactory) -> None:
    client = make_client()
    rows = [row for outcome in client.prices(listing_codes(client)[:20]) for row in outcome.value or []]
    priced = [row for row in rows if row.get("supplyPrice") is not None]
    assert priced
    assert all(isinstance(row["supplyPrice"], Decimal | int) for row in priced)


@pytest.mark.parametrize("envelope", ["bare", "success", "code", "mixed"])
def test_every_envelope_style_gives_the_same_payload(
    simulator: RunningSimulator, make_client: ClientFactory, envelope: str
) -> None:
    simulator.config.envelope = envelope
    simulator.config.listing_not_procurable = True  # the whole catalog, procurable or not
    client = make_client()
    products = client.products()
    assert len({row["productCode"] for row in products}) == simulator.config.products
    assert len(client.balance()) == 2
    assert set(client.logistics("SO.20190106.000003")) == {
        "getAllLogisticsInfoByOrderCode",
        "getStockDeliveryLogisticsRecord",
        "getStockDeliveryLogisticsRecordThirdparty",
    }


def test_wrong_password_is_a_business_error_not_an_empty_catalog(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    client = make_client(password="wrong-password-3318")
    with pytest.raises(HaierBusinessError) as raised:
        client.products()
    message = str(raised.value)
    assert "约定密码错误" in message
    assert "HAIER_PASSWORD" in message
    assert "wrong-password-3318" not in message
    assert calls(simulator, "products") == 1, "a business failure is never retried"


def test_a_bad_county_is_a_400_and_not_retried(simulator: RunningSimulator, make_client: ClientFactory) -> None:
    client = make_client()
    with pytest.raises(HaierRequestError) as raised:
        client.stock(listing_codes(client)[0], "11010")
    assert raised.value.status == 400
    assert calls(simulator, "stock") == 1


# ---- retries, throttling, pacing ------------------------------------------------------------------


def test_server_faults_are_retried_until_every_row_is_delivered(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    client = make_client()
    codes = listing_codes(client)[:15]
    pairs = [(code, county) for code in codes for county in simulator.config.counties]
    simulator.config.fault_rate = 0.25
    outcomes = stock_for_pairs(client, pairs)
    assert [outcome.item for outcome in outcomes] == pairs
    assert all(outcome.error is None for outcome in outcomes)
    assert client.stats.total("retries") > 0
    assert statuses(simulator, "stock").get("503", 0) > 0


def test_429_is_honoured_and_every_row_delivered(simulator: RunningSimulator, make_client: ClientFactory) -> None:
    client = make_client(rate_limit=400)
    codes = listing_codes(client)[:20]
    pairs = [(code, county) for code in codes for county in simulator.config.counties][:60]
    simulator.config.rate_limit = 40
    outcomes = stock_for_pairs(client, pairs)
    assert all(outcome.error is None for outcome in outcomes)
    assert statuses(simulator, "stock").get("429", 0) > 0
    assert client.stats.total("throttled") == statuses(simulator, "stock")["429"]


def test_throttled_after_every_retry_and_the_second_pass_is_a_typed_unanswered_error(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    client = make_client(max_retries=1, second_pass_pause=0)
    code = listing_codes(client)[0]
    simulator.config.throttle_rate = 1.0
    simulator.config.retry_after = 0
    outcomes = stock_for_pairs(client, [(code, county) for county in simulator.config.counties[:3]])
    errors = [outcome.error for outcome in outcomes]
    assert all(isinstance(error, HaierThrottledError) and error.status == 429 for error in errors)
    assert all(outcome.unanswered and not outcome.refused for outcome in outcomes)
    assert "HAIER_RATE_LIMIT" in str(errors[0])
    # Two attempts in the first pass, two more in the second.
    assert statuses(simulator, "stock") == {"429": 3 * 4}


def fan_out_against_a_gateway(
    latency_ms: float, pairs: int, rate: float = 100, products: int = 120
) -> tuple[HaierClient, dict[str, Any]]:
    """`pairs` stock calls at `rate` against a gateway in its own process (as the vendor's is: in this process it
    would share the interpreter lock with the client and see requests late and bunched) answering after
    `latency_ms` and enforcing `rate`; every pair is answered, and at most one throttled on the way.

    One, not none: the gateway dates a request when its event loop gets to it, and on a loaded 2-core machine (the
    suite's other workers) a stalled loop can date two requests sent 20 ms apart as one instant, a window one request
    over. A client that does not pace gets a 429 for most of its calls past the first second's."""
    with simulator_process(products=products, latency_ms=latency_ms, rate=rate) as base_url:
        client = HaierClient(base_url=base_url, rate_limit=rate, **SIMULATOR_CREDENTIALS)
        codes = [row["productCode"] for row in client.products() if row.get("isSales") == "1"]
        asked = [(code, county) for code in dict.fromkeys(codes) for county in ("110101", "310104", "440106")]
        requests.post(f"{base_url}/_sim/reset", timeout=5).raise_for_status()
        outcomes = stock_for_pairs(client, asked[:pairs])
        snapshot = requests.get(f"{base_url}/_sim/stats", timeout=5).json()
    assert all(outcome.error is None for outcome in outcomes)
    stock = snapshot["statuses"]["stock"]
    assert stock.get("200") == pairs and stock.get("429", 0) <= 1 and set(stock) <= {"200", "429"}, stock
    return client, snapshot


def test_no_one_second_window_exceeds_the_rate_limit() -> None:
    _, snapshot = fan_out_against_a_gateway(20, 150, rate=50, products=60)
    # Close to the limit, and over it by no more than the one request a stalled gateway loop can bunch (see above).
    assert 45 <= snapshot["busiest_second"] <= 51, snapshot["busiest_second"]


def test_a_slow_gateway_gets_as_many_calls_in_flight_as_the_limit_needs() -> None:
    """At 600 ms an answer, 100 calls/s take 60 in flight (Little's law). A fixed pool of 32 threads capped the
    fan-out at 53 calls/s; the senders follow the latency the answers show."""
    client, snapshot = fan_out_against_a_gateway(600, 240)
    assert snapshot["most_in_flight"] > 32, snapshot["most_in_flight"]
    assert client.stats.peak_senders <= senders_for(100, 0.6 * 2, client.max_workers)


def test_fast_answers_keep_the_senders_few() -> None:
    """Each sender holds a pacing slot ahead: at 20 ms an answer a handful keep 100 calls/s going, and more would
    only hand out slots that a Ctrl-C, a deadline or another process of the account waits behind."""
    client, snapshot = fan_out_against_a_gateway(20, 150)
    assert 0 < client.stats.peak_senders <= senders_for(100, 0.1, client.max_workers) < 32
    assert snapshot["most_in_flight"] <= client.stats.peak_senders + 1  # the token's call, at most


def test_a_fan_out_that_starts_without_a_token_sends_no_burst() -> None:
    """The threads wait for the token before they take pacing slots: holding slots while the token's own call
    queued behind them, they would all send at once when it arrived (the gateway throttled 3-14 of them)."""
    codes = dataset_for(SimulatorConfig().seed, 60).procurable_codes
    pairs = [(code, county) for code in codes for county in ("110101", "310104", "440106")][:150]
    with simulator_process(products=60, latency_ms=20, rate=50) as base_url:
        client = HaierClient(base_url=base_url, rate_limit=50, **SIMULATOR_CREDENTIALS)
        outcomes = stock_for_pairs(client, pairs)
        snapshot = requests.get(f"{base_url}/_sim/stats", timeout=5).json()
    assert all(outcome.error is None for outcome in outcomes)
    assert snapshot["statuses"]["stock"] == {"200": 150}, "the gateway never had to throttle"


# ---- secrets --------------------------------------------------------------------------------------


def test_secrets_never_reach_logs_or_errors(
    simulator: RunningSimulator, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client()
    token = client.token()
    simulator.revoke_tokens()
    client.balance()
    errors: list[str] = []
    for bad in (make_client(password="bad-password-8812"), make_client(client_secret="bad-secret-4471")):
        try:
            bad.balance()
        except Exception as error:  # every failure text is inspected
            errors.append(str(error))
    try:
        client.stock("GA0SZC00U", "bad")
    except HaierRequestError as error:
        errors.append(str(error))
    assert len(errors) == 3
    text = caplog.text + "\n".join(errors)
    for secret in (
        SIMULATOR_CREDENTIALS["client_secret"],
        SIMULATOR_CREDENTIALS["password"],
        "bad-password-8812",
        "bad-secret-4471",
        token,
    ):
        assert secret not in text


def test_call_statistics_per_endpoint(simulator: RunningSimulator, make_client: ClientFactory) -> None:
    client = make_client()
    with client.track() as tracked:
        client.balance()
        client.products()
    by_endpoint = tracked.by_endpoint()
    assert by_endpoint["balance"]["calls"] == 1
    assert by_endpoint["products"]["calls"] == 1
    assert by_endpoint["products"]["p95_ms"] >= by_endpoint["products"]["p50_ms"] > 0
    assert tracked.as_metadata()["api_calls"] == tracked.total("calls")


def test_a_stream_hands_the_interpreter_over_every_millisecond_and_restores_the_setting(
    make_client: Callable[..., HaierClient],
) -> None:
    """While answers stream, a sender waking for its pacing slot must not wait 5 ms for the consumer to let go of
    the interpreter lock; afterwards the process's own setting is back, also when the consumer stopped early."""
    client = make_client()
    before = sys.getswitchinterval()
    seen = [sys.getswitchinterval() for _ in client.stream(lambda n: n * 2, range(5))]
    assert seen and max(seen) <= 0.001
    assert sys.getswitchinterval() == before
    early = client.stream(lambda n: n, range(100))
    next(early)
    assert sys.getswitchinterval() <= 0.001
    early.close()
    assert sys.getswitchinterval() == before


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        ("0.25", 0.25),
        ("-3", 0.0),
        ("86400", 60.0),  # at most a minute: a gateway's typo must not park the sync for a day
        ("Fri, 04 Dec 2026 15:00:05 GMT", 5.0),  # RFC 9110 allows an HTTP date
        ("Fri, 04 Dec 2026 23:00:05 +0800", 5.0),
        ("Fri, 04 Dec 2026 14:59:00 GMT", 0.0),  # already past
        ("Fri, 04 Dec 2026 15:00:05", None),  # a date without a zone is no instant
        ("nan", None),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_as_an_http_date(header: str | None, seconds: float | None) -> None:
    now = datetime(2026, 12, 4, 15, 0, 0, tzinfo=UTC)
    assert retry_after_seconds(header, now) == seconds


def test_a_password_inside_a_configured_url_is_masked_in_logs_and_errors(
    simulator: RunningSimulator, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="haier_pipeline")
    client = make_client(token_url=f"{simulator.base_url}/oauth2/auth?password=Pw-URL-4561")
    client.balance()
    assert "token fetched from" in caplog.text
    refused = make_client(
        client_id="url-secret-client", token_url=f"{simulator.base_url}/nope?access_token=Tk-URL-7772"
    )
    with pytest.raises(HaierAuthenticationError) as raised:
        refused.balance()
    assert "answered HTTP 404" in str(raised.value)
    for secret in ("Pw-URL-4561", "Tk-URL-7772"):
        assert secret not in caplog.text and secret not in str(raised.value)
