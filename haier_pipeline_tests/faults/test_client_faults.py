"""The real client against the real simulator over HTTP, one fault at a time (or a storm of them).

Each test shrinks time through the simulator's knobs and the client's fields (timeouts, pauses) and
asserts the outcome: every pair delivered, or a typed failure that names the endpoint and the cause.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from haier_pipeline.haier import (
    HaierAuthenticationError,
    HaierBusinessError,
    HaierConfigurationError,
    HaierThrottledError,
    HaierUnavailableError,
)
from haier_pipeline.haier.auth import TokenCache
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.haier.fan_out import ACCOUNT_REFUSAL_STREAK
from haier_pipeline.haier.senders import FEWEST_SENDERS, SPARE_SENDERS
from haier_pipeline.simulator import RunningSimulator, start_simulator
from haier_pipeline.simulator.app import REFUSED_PRODUCT
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS, simulator_config, stock_for_pairs

ClientFactory = Callable[..., HaierClient]
PAIRS = 150
QUIET = 0.2  # seconds before the second pass (2 s by default), to keep the tests short
REPO = Path(__file__).resolve().parents[2]


def stock_pairs(client: HaierClient, simulator: RunningSimulator, count: int = PAIRS) -> list[tuple[str, str]]:
    codes = dict.fromkeys(row["productCode"] for row in client.products() if row.get("isSales") == "1")
    pairs = [(code, county) for code in codes for county in simulator.config.counties][:count]
    assert len(pairs) == count
    return pairs


def statuses(simulator: RunningSimulator, endpoint: str) -> dict[str, int]:
    return simulator.counters.statuses(endpoint)


def start(simulator: RunningSimulator, client: HaierClient, **knobs: object) -> list[tuple[str, str]]:
    """The pairs to ask, a live token, fresh counters, then the knobs."""
    pairs = stock_pairs(client, simulator)
    client.token()
    simulator.reset_counters()
    simulator.config.update(knobs)
    return pairs


# ---- every pair delivered --------------------------------------------------------------------------


def test_token_churn_every_half_second_delivers_every_pair(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    client = make_client(second_pass_pause=QUIET)
    pairs = start(simulator, client, token_revoke_every=0.5)
    outcomes = stock_for_pairs(client, pairs)
    assert [outcome.error for outcome in outcomes if outcome.error] == []
    assert statuses(simulator, "stock")["401"] > 0, "tokens were revoked under the fan-out"
    assert simulator.counters.calls("token") >= 2


def test_random_429s_and_server_errors_deliver_every_pair(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    client = make_client(second_pass_pause=QUIET)
    # 15 % random 429s; fault_rate 0.1 is 5 % 503s plus 5 % garbled 200s.
    pairs = start(simulator, client, throttle_rate=0.15, fault_rate=0.1, retry_after=0.2)
    outcomes = stock_for_pairs(client, pairs)
    assert [outcome.error for outcome in outcomes if outcome.error] == []
    seen = statuses(simulator, "stock")
    assert seen["429"] > 0 and seen["503"] > 0
    assert seen["200"] >= PAIRS


def test_unanswered_items_get_one_more_pass_after_the_storm(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    client = make_client(max_retries=0, second_pass_pause=QUIET)  # one attempt per pass: passes are countable
    pairs = start(simulator, client, throttle_rate=0.3, retry_after=0)
    outcomes = stock_for_pairs(client, pairs)
    throttled = statuses(simulator, "stock")["429"]
    delivered = sum(outcome.error is None for outcome in outcomes)
    # One pass alone would deliver exactly PAIRS - throttled; the second pass delivers some of those again.
    assert delivered > PAIRS - throttled
    assert simulator.counters.calls("stock") <= 2 * PAIRS, "one more pass, not more"
    left = [outcome for outcome in outcomes if outcome.error is not None]
    assert all(isinstance(o.error, HaierThrottledError) and o.unanswered and not o.refused for o in left)


def test_garbled_bodies_are_retried_until_every_pair_is_delivered(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    client = make_client(second_pass_pause=QUIET)
    pairs = start(simulator, client, fault_rate=0.3)
    outcomes = stock_for_pairs(client, pairs)
    assert [outcome.error for outcome in outcomes if outcome.error] == []
    assert client.stats.total("retries") > 0


def test_calls_that_time_out_are_retried_and_every_pair_delivered(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    client = make_client(timeout=0.3, second_pass_pause=QUIET)
    pairs = start(simulator, client, hang_rate=0.1)
    outcomes = stock_for_pairs(client, pairs)
    assert [outcome.error for outcome in outcomes if outcome.error] == []
    assert client.stats.by_endpoint()["stock"]["failures"] > 0, "some calls timed out"


# ---- the API gone: fail fast ----------------------------------------------------------------------


def test_api_down_stops_the_fan_out_with_the_breakers_message(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    client = make_client(timeout=0.3, breaker_seconds=1.0)
    pairs = start(simulator, client, hang_rate=1.0)
    with pytest.raises(HaierUnavailableError) as raised:
        stock_for_pairs(client, pairs)
    message = str(raised.value)
    assert message.startswith("stock: no answer, ReadTimeout on ")
    assert "check HAIER_BASE_URL and HAIER_TIMEOUT" in message
    # Without the breaker: PAIRS x 4 attempts. With it: a few rounds of the senders, which no answer multiplies.
    senders = client.stats.peak_senders
    assert 0 < senders <= FEWEST_SENDERS + SPARE_SENDERS
    assert simulator.counters.calls("stock") <= 4 * senders < PAIRS * 4


def test_api_down_before_the_first_token_is_one_call(simulator: RunningSimulator, make_client: ClientFactory) -> None:
    simulator.config.hang_rate = 1.0
    client = make_client(timeout=0.3)
    with pytest.raises(HaierUnavailableError, match=r"^token: no answer, ReadTimeout on 1 call"):
        client.balance()
    assert simulator.counters.calls("token") == 1


def test_the_token_endpoint_down_at_the_hourly_refresh_loses_no_pair(
    simulator: RunningSimulator, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refresh due ten minutes before the token's end finds the token endpoint down: the token, still valid,
    carries every pair, and the next try, once the endpoint is back, refreshes it."""
    now = [0.0]
    cache = TokenCache(clock=lambda: now[0])
    monkeypatch.setattr(HaierClient, "_tokens", lambda _client: cache)  # the token's hour, on a clock turned here
    client = make_client(timeout=0.3, breaker_seconds=0.2)
    pairs = start(simulator, client, token_hang=True)
    now[0] = 3001.0  # the simulator's tokens live 3600 s: 599 s left, inside the vendor's margin
    outcomes = stock_for_pairs(client, pairs)
    assert [outcome for outcome in outcomes if outcome.error is not None or outcome.unanswered] == []
    assert simulator.counters.calls("token") == 1, "one try, not one per pair"
    assert statuses(simulator, "stock") == {"200": PAIRS}
    simulator.config.token_hang = False
    now[0] += 30
    time.sleep(0.2)  # the token's breaker, tripped by the try that got no answer, closes
    client.balance()
    assert cache.fetches == 2 and statuses(simulator, "token").get("200") == 1


# ---- refusals: the item, or the whole account -------------------------------------------------------


# More counties than the account-refusal streak: a product refused in every county fills a fan-out's first answers.
TEN_COUNTIES = ("110101", "110102", "110105", "110106", "310101", "310104", "310115", "440103", "440104", "440106")


@pytest.mark.parametrize("position", ["first", "middle"])
def test_a_refused_product_costs_only_its_own_pairs(
    simulator: RunningSimulator, make_client: ClientFactory, position: str
) -> None:
    """A discontinued product asked first, in ten counties, once passed for a refused account and stopped the
    whole stock step: the same refusal on the first 5 answers. The simulator's refusal carries code 500, which the
    document lists as server trouble: each refused pair is asked max_retries times more, then it is the vendor's
    refusal (refused, not unanswered)."""
    simulator.config.update({"counties": TEN_COUNTIES})
    client = make_client()
    pairs = stock_pairs(client, simulator)
    refused_code = pairs[0 if position == "first" else len(pairs) // 2][0]
    simulator.reset_counters()
    simulator.config.refused_products = (refused_code,)
    outcomes = stock_for_pairs(client, pairs)
    refused = [outcome for outcome in outcomes if outcome.error is not None]
    assert {outcome.item[0] for outcome in refused} == {refused_code}
    assert len(refused) == sum(code == refused_code for code, _ in pairs)
    for outcome in refused:
        assert isinstance(outcome.error, HaierBusinessError) and outcome.error.reason == REFUSED_PRODUCT
        assert outcome.refused and not outcome.unanswered
    assert simulator.counters.calls("stock") == PAIRS + client.max_retries * len(refused), "retried as a 500 is"


def test_a_refused_product_costs_only_its_own_price_not_its_batch(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    """The vendor refuses a price batch that names a refused product: its other 19 codes are asked again alone."""
    client = make_client()
    codes = list(dict.fromkeys(row["productCode"] for row in client.products() if row.get("isSales") == "1"))
    refused_code = codes[3]
    simulator.config.refused_products = (refused_code,)
    simulator.reset_counters()
    outcomes = client.prices(codes)
    refused = [outcome for outcome in outcomes if outcome.error is not None]
    assert [outcome.item for outcome in refused] == [[refused_code]]
    assert isinstance(refused[0].error, HaierBusinessError) and refused[0].error.reason == REFUSED_PRODUCT
    priced = [row["productCode"] for outcome in outcomes if outcome.error is None for row in outcome.value or []]
    assert sorted(priced) == sorted(code for code in codes if code != refused_code)
    batches = -(-len(codes) // 20)
    # The refused batch and the refused code are each asked max_retries times more (code 500: server trouble).
    retried = 2 * client.max_retries
    assert simulator.counters.calls("prices") == batches + 20 + retried, "the refused batch's codes asked one each"


def test_a_product_the_api_never_answers_costs_only_its_own_price_not_its_batch(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    """A 503 for every call naming one product left its whole batch of 20 unanswered: past the gate's 10 % at 110
    products, so the sync wrote no price at all."""
    client = make_client(second_pass_pause=QUIET)
    codes = list(dict.fromkeys(row["productCode"] for row in client.products() if row.get("isSales") == "1"))
    unavailable = codes[3]
    simulator.config.unavailable_products = (unavailable,)
    outcomes = client.prices(codes)
    assert [outcome.item for outcome in outcomes if outcome.error is not None] == [[unavailable]]
    assert all(outcome.unanswered for outcome in outcomes if outcome.error is not None)
    priced = [row["productCode"] for outcome in outcomes if outcome.error is None for row in outcome.value or []]
    assert sorted(priced) == sorted(code for code in codes if code != unavailable)


def test_price_batches_of_an_outage_are_not_split_into_twenty_times_the_calls(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    client = make_client(second_pass_pause=QUIET)
    codes = list(dict.fromkeys(row["productCode"] for row in client.products() if row.get("isSales") == "1"))
    simulator.config.unavailable_products = tuple(codes[::20])  # one in every batch: every batch unanswered
    outcomes = client.prices(codes)
    assert outcomes and all(outcome.unanswered and len(outcome.item) > 1 for outcome in outcomes)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"password": "wrong-password-5150"}, "约定密码错误"),
        ({"account_refusal": "合同已过期"}, "合同已过期"),
        ({"account_refusal": "账户状态异常"}, "the first answers, for 5 different items, were all this refusal"),
    ],
    ids=["wrong-password", "expired-contract", "same-refusal-on-the-first-answers"],
)
def test_a_refused_account_stops_the_fan_out_at_once(
    simulator: RunningSimulator, make_client: ClientFactory, fault: dict[str, str], expected: str
) -> None:
    client = make_client(**{key: value for key, value in fault.items() if key == "password"})
    pairs = stock_pairs(make_client(), simulator)
    simulator.reset_counters()
    simulator.config.update({key: value for key, value in fault.items() if key != "password"})
    with pytest.raises(HaierBusinessError) as raised:
        stock_for_pairs(client, pairs)
    assert raised.value.account_refused
    assert expected in str(raised.value)
    assert "wrong-password-5150" not in str(raised.value)
    senders = client.stats.peak_senders
    # The streak counts products: at most ACCOUNT_REFUSAL_STREAK products' counties answer, plus the calls in flight;
    # a refusal that is no account's (code 500, server trouble by the document) is asked max_retries times more.
    retried = 1 if fault.get("account_refusal") in (None, "合同已过期") else 1 + client.max_retries
    most = (senders + ACCOUNT_REFUSAL_STREAK * len(simulator.config.counties)) * retried
    assert simulator.counters.calls("stock") <= most < PAIRS, "stopped with the first answers"


def test_tokens_refused_as_soon_as_issued_are_bad_credentials(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    client = make_client()
    pairs = stock_pairs(client, simulator)
    simulator.config.token_ttl = 0.0  # the gateway refuses every token it issues
    simulator.revoke_tokens()
    simulator.reset_counters()
    with pytest.raises(HaierAuthenticationError) as raised:
        stock_for_pairs(client, pairs)
    assert "HAIER_AUTH_SCHEME" in str(raised.value)
    assert simulator.counters.calls("token") == 2, "two fresh tokens, then stop"


# ---- envelopes ---------------------------------------------------------------------------------------


def test_a_code_outside_pinned_success_codes_is_a_refusal_never_data(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    """With HAIER_SUCCESS_CODES pinned, a code other than those is an error, never an empty result. Read as success, a
    refusal's `data: []` was a stock of 0 for every pair. (Unpinned, such a code is read by meaning: see
    test_first_contact.)"""
    client = make_client(success_codes="200")
    pairs = start(simulator, client, envelope="code", success_code="0000")
    with pytest.raises(HaierBusinessError) as raised:
        stock_for_pairs(client, pairs)
    assert raised.value.code == "0000" and "stock" in str(raised.value)
    assert simulator.counters.calls("stock") < PAIRS, "the same refusal on every product stops the step"


# ---- https only --------------------------------------------------------------------------------------


def test_plain_http_to_a_remote_host_is_refused_before_any_connection() -> None:
    client = HaierClient(base_url="http://10.255.255.1", timeout=0.2, **SIMULATOR_CREDENTIALS)
    with pytest.raises(HaierConfigurationError) as raised:
        client.balance()  # a connection attempt would end in a timeout, not a configuration error
    message = str(raised.value)
    assert "HAIER_BASE_URL='http://10.255.255.1'" in message and "HAIER_ALLOW_INSECURE_HTTP=1" in message
    assert SIMULATOR_CREDENTIALS["client_secret"] not in message


def non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 1))  # no packet is sent: this only picks the outgoing interface
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_no_request_reaches_a_listening_plain_http_host_that_is_not_loopback() -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with start_simulator(simulator_config(), host="0.0.0.0") as listening:
        url = f"http://{address}:{listening.port}"
        with pytest.raises(HaierConfigurationError):
            HaierClient(base_url=url, **SIMULATOR_CREDENTIALS).balance()
        assert listening.counters.snapshot()["total_requests"] == 0, "the secret never left"
        assert HaierClient(base_url=url, allow_insecure_http=True, **SIMULATOR_CREDENTIALS).balance()
        assert listening.counters.snapshot()["total_requests"] == 2, "allowed: token and balance arrive"


# ---- one rate limit per machine ---------------------------------------------------------------------


# The simulator in its own process, as the vendor's gateway is, started without the CLI's imports.
SERVE = """
import sys
from haier_pipeline.simulator import SimulatorConfig, serve
from haier_pipeline_tests.simulated import simulator_config
serve(simulator_config(rate_limit=float(sys.argv[1]), latency_ms=20), port=int(sys.argv[2]))
"""


@contextmanager
def gateway_process(rate: float) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(rate), str(port)], cwd=REPO, stdout=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                requests.get(f"{base_url}/_sim/stats", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                assert server.poll() is None, "the simulator process died"
                time.sleep(0.05)
        yield base_url
    finally:
        server.terminate()
        server.wait(10)


def test_two_processes_share_one_rate_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process and a worker process, one account, each with its own Dagster instance and working directory
    (as two syncs from two project folders), against a gateway enforcing the limit: the machine-wide pacing file
    keeps them under it together."""
    rate = 100
    for home in ("here", "there"):
        (tmp_path / home).mkdir()
        (tmp_path / home / "dagster.yaml").write_text("")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "here"))
    monkeypatch.chdir(tmp_path / "here")
    command = [sys.executable, "-m", "haier_pipeline_tests.faults.pacing_worker"]
    environment = {**os.environ, "DAGSTER_HOME": str(tmp_path / "there"), "PYTHONPATH": str(REPO)}
    worker = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tmp_path / "there", env=environment
    )
    try:  # the worker imports the client while the simulator starts
        with gateway_process(rate) as base_url:
            client = HaierClient(base_url=base_url, **SIMULATOR_CREDENTIALS)
            codes = dict.fromkeys(row["productCode"] for row in client.products() if row.get("isSales") == "1")
            pairs = [(code, county) for code in codes for county in ("110101", "310104", "440106")][:100]
            say(worker, json.dumps({"base_url": base_url, "rate": rate, "pairs": pairs}))
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
            requests.post(f"{base_url}/_sim/reset", timeout=5).raise_for_status()
            say(worker, "go")
            here = stock_for_pairs(client, pairs)
            there = json.loads(worker.communicate(timeout=60)[0])
            stock = requests.get(f"{base_url}/_sim/stats", timeout=5).json()["statuses"]["stock"]
    finally:
        worker.kill()
    assert [outcome.error for outcome in here if outcome.error] == []
    assert there == {"delivered": len(pairs), "asked": len(pairs)}
    assert sum(stock.values()) >= 2 * len(pairs)
    assert stock.get("429", 0) <= 0.01 * sum(stock.values()), f"throttled answers: {stock}"


def say(worker: subprocess.Popen[str], line: str) -> None:
    assert worker.stdin is not None
    worker.stdin.write(line + "\n")
    worker.stdin.flush()
