"""The fault knobs, one by one, at the simulator's HTTP face (set through /_sim/config as tests do)."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
import requests

from haier_pipeline.simulator import RunningSimulator, SimulatorConfig
from haier_pipeline.simulator.app import REFUSED_PRODUCT
from haier_pipeline_tests.simulator.helpers import PATHS, Api, FakeClock, decode


def knobs(sim: RunningSimulator, **values: object) -> None:
    answer = requests.post(sim.base_url + "/_sim/config", json=values, timeout=5)
    assert answer.status_code == 200, answer.text


def test_every_fault_knob_is_off_by_default() -> None:
    config = SimulatorConfig()
    assert (config.token_revoke_every, config.throttle_rate, config.hang_rate) == (0, 0, 0)
    assert (config.refused_products, config.account_refusal, config.success_code) == ((), "", "")


def test_token_churn_revokes_every_live_token_each_period(sim: RunningSimulator, api: Api, clock: FakeClock) -> None:
    knobs(sim, token_revoke_every=0.5)
    old = api.token()
    assert api.post("balance").status_code == 200  # starts the period
    clock.advance(0.25)
    assert api.post("balance", token=old).status_code == 200
    clock.advance(0.25)
    assert api.post("balance", token=old).status_code == 401
    api._token = None
    assert api.post("balance").status_code == 200, "a token issued after the revocation works"
    clock.advance(0.5)
    assert api.post("balance").status_code == 401, "until the next period"


def test_token_churn_spares_a_token_issued_just_before_a_revocation(
    sim: RunningSimulator, api: Api, clock: FakeClock
) -> None:
    """A token revoked before its first request reads as bad credentials to the client, as a rotating gateway never
    makes it: the client then stopped a sync after two such tokens in a row on a busy machine."""
    knobs(sim, token_revoke_every=0.5)
    assert api.post("balance").status_code == 200  # starts the period
    clock.advance(0.4)
    api._token = None
    fresh = api.token()
    clock.advance(0.1)
    assert api.post("balance", token=fresh).status_code == 200, "issued 0.1 s before the revocation: spared"
    clock.advance(0.5)
    assert api.post("balance", token=fresh).status_code == 401, "revoked at the next one"


def test_throttle_rate_answers_a_seeded_share_of_data_calls_429(sim: RunningSimulator, api: Api) -> None:
    api.token()
    knobs(sim, throttle_rate=0.5, retry_after=0.25)
    answers = [api.post("balance") for _ in range(40)]
    statuses = [answer.status_code for answer in answers]
    assert 8 <= statuses.count(429) <= 32 and statuses.count(200) + statuses.count(429) == 40
    assert {answer.headers["Retry-After"] for answer in answers if answer.status_code == 429} == {"0.25"}
    assert all(api.token_response().status_code == 200 for _ in range(10)), "tokens are not throttled"
    sim.reset_counters()
    assert [api.post("balance").status_code for _ in range(40)] == statuses, "seeded: the same sequence again"


def test_hang_rate_one_is_the_api_down_token_included(sim: RunningSimulator, api: Api) -> None:
    api.token()
    knobs(sim, hang_rate=1.0)
    sim.reset_counters()
    with pytest.raises(requests.Timeout):
        api.session.post(sim.base_url + PATHS["balance"], json={}, headers={"Authorization": api.token()}, timeout=0.3)
    with pytest.raises(requests.Timeout):
        api.session.post(sim.base_url + "/oauth2/auth", json={}, timeout=0.3)
    assert answered(sim, 2) == {"balance": {"504": 1}, "token": {"504": 1}}


def test_held_endpoints_hold_their_calls_until_released_and_then_answer(sim: RunningSimulator, api: Api) -> None:
    api.token()
    knobs(sim, held_endpoints=["balance"])
    sim.reset_counters()
    answers: list[int] = []
    caller = threading.Thread(target=lambda: answers.append(api.post("balance").status_code))
    caller.start()
    deadline = time.monotonic() + 10
    while sim.counters.calls("balance") < 1:
        assert time.monotonic() < deadline, "the held call arrives"
        time.sleep(0.01)
    assert api.post("stock", productCode=sim.dataset.procurable_codes[0]).status_code == 200, "others are answered"
    assert api.token_response().status_code == 200, "and so are tokens"
    caller.join(0.3)
    assert caller.is_alive() and not answers and sim.counters.statuses("balance") == {}, "still held"
    knobs(sim, held_endpoints=[])
    caller.join(10)
    assert answers == [200] and sim.counters.statuses("balance") == {"200": 1}


def answered(sim: RunningSimulator, calls: int) -> dict[str, dict[str, int]]:
    """The statuses once `calls` requests have had theirs: a hung call ends when the server sees the client hang up."""
    deadline = time.monotonic() + 10
    while True:
        statuses = sim.counters.snapshot()["statuses"]
        if sum(sum(per.values()) for per in statuses.values()) >= calls:
            return statuses
        assert time.monotonic() < deadline, "a hung call ends once the server sees the client hang up"
        time.sleep(0.05)


def test_hang_rate_a_share(sim: RunningSimulator, api: Api) -> None:
    api.token()
    knobs(sim, hang_rate=0.3)
    sim.reset_counters()
    for _ in range(20):
        # A client that stops waiting cannot tell a hung call from a slow one; the server's statuses can.
        with contextlib.suppress(requests.Timeout):
            api.post("balance", timeout=0.2)
    statuses = answered(sim, 20)["balance"]
    assert set(statuses) == {"200", "504"} and 0 < statuses["504"] < 20


def test_refused_products_get_a_failure_envelope_and_the_others_their_data(sim: RunningSimulator, api: Api) -> None:
    refused, fine = sim.dataset.procurable_codes[:2]
    knobs(sim, refused_products=[refused])
    answer = decode(api.post("stock", productCode=refused))
    assert answer["success"] is False and answer["msg"] == REFUSED_PRODUCT
    assert decode(api.post("stock", productCode=fine))["success"] is True
    batch = decode(api.post("prices", productCodes=[fine, refused]))
    assert batch["code"] != 200 and batch["msg"] == REFUSED_PRODUCT
    assert decode(api.post("prices", productCodes=[fine]))["code"] == 200


def test_account_refusal_refuses_every_data_call_with_its_message(sim: RunningSimulator, api: Api) -> None:
    api.token()
    knobs(sim, account_refusal="合同已过期")
    for endpoint in ("products", "prices", "stock", "logistics", "balance"):
        answer = api.post(endpoint)
        assert answer.status_code == 200
        body = decode(answer)
        assert body["msg"] == "合同已过期" and (body.get("success") is False or body["code"] != 200), endpoint


def test_success_code_replaces_200_in_code_envelopes_only(sim: RunningSimulator, api: Api) -> None:
    knobs(sim, success_code="0000")
    balance = decode(api.post("balance"))  # a `code` envelope in the mixed style
    assert balance["code"] == "0000" and len(balance["data"]) == 2
    stock = decode(api.post("stock"))  # a `success` envelope: no code to replace
    assert stock["success"] is True and "code" not in stock


@pytest.mark.parametrize(
    "bad", [{"throttle_rate": 1.5}, {"hang_rate": -0.1}, {"token_revoke_every": -1}, {"success_code": 200}]
)
def test_bad_fault_knob_values_are_refused(sim: RunningSimulator, bad: dict[str, object]) -> None:
    assert requests.post(sim.base_url + "/_sim/config", json=bad, timeout=5).status_code == 400


def test_token_hang_is_the_token_endpoint_down_and_the_data_gateway_up(sim: RunningSimulator, api: Api) -> None:
    token = api.token()
    knobs(sim, token_hang=True)
    sim.reset_counters()
    assert api.post("balance", token=token).status_code == 200
    with pytest.raises(requests.Timeout):
        api.session.post(sim.base_url + "/oauth2/auth", json={}, timeout=0.3)
    assert answered(sim, 2) == {"balance": {"200": 1}, "token": {"504": 1}}
