"""Knobs that shape behaviour: determinism, days, throttling, faults, latency, bad rows, envelopes."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from haier_pipeline.simulator import RunningSimulator, SimulatorConfig, start_simulator
from haier_pipeline_tests.simulator.helpers import PATHS, Api, FakeClock, unwrap


def _all_prices(api: Api, codes: list[str]) -> dict[str, dict[str, object]]:
    rows: dict[str, dict[str, object]] = {}
    for start in range(0, len(codes), 20):
        for row in api.data("prices", productCodes=codes[start : start + 20]):
            rows[row["productCode"]] = row
    return rows


def test_same_seed_same_answers_other_seed_other_catalog(sim: RunningSimulator, api: Api) -> None:
    listing = api.data("products")
    prices = api.data("prices", productCodes=sim.dataset.codes[:20])
    with start_simulator(SimulatorConfig()) as twin:
        twin_api = Api(twin.base_url)
        assert twin_api.data("products") == listing
        assert twin_api.data("prices", productCodes=sim.dataset.codes[:20]) == prices
    sim.config.seed = 8
    other = [row["productCode"] for row in api.data("products")]
    assert other[0] == "GA0SZC00U"  # the document's example stays first
    assert len(set(other) & {row["productCode"] for row in listing}) == 1


def test_next_day_changes_some_prices_but_not_all(sim: RunningSimulator, api: Api) -> None:
    codes = sim.dataset.priced_codes
    today = _all_prices(api, codes)
    sim.config.day_offset = 1
    tomorrow = _all_prices(api, codes)
    changed = [c for c in codes if today[c]["supplyPrice"] != tomorrow[c]["supplyPrice"]]
    assert 0 < len(changed) < 0.3 * len(codes)
    sim.config.day_offset = 0
    assert _all_prices(api, codes) == today


def test_next_day_changes_some_stock_but_not_all(sim: RunningSimulator, api: Api) -> None:
    pairs = [(c, "110101") for c in sim.dataset.procurable_codes[:30]]
    today = [api.data("stock", productCode=c, countyCode=k) for c, k in pairs]
    sim.config.day_offset = 1
    tomorrow = [api.data("stock", productCode=c, countyCode=k) for c, k in pairs]
    quantities = [([r["stock"] for r in a], [r["stock"] for r in b]) for a, b in zip(today, tomorrow, strict=True)]
    assert any(a != b for a, b in quantities)
    assert any(a == b for a, b in quantities)


def test_rate_limit_answers_429_with_retry_after(sim: RunningSimulator, api: Api, clock: FakeClock) -> None:
    api.token()
    sim.config.rate_limit = 5
    answers = [api.post("balance") for _ in range(8)]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 3
    assert answers[-1].headers["Retry-After"] == "1"
    assert api.token_response().status_code == 429  # the token endpoint shares the budget
    clock.advance(0.99)
    assert api.post("balance").status_code == 429, "the window is a whole second"
    clock.advance(0.02)
    assert api.post("balance").status_code == 200
    assert sim.counters.statuses("balance") == {"200": 6, "429": 4}
    assert sim.counters.snapshot()["busiest_second"] == 11  # throttled arrivals count too


def _fault_sequence(api: Api, calls: int) -> list[str]:
    seen = []
    for _ in range(calls):
        answer = api.post("balance")
        if answer.status_code != 200:
            seen.append(str(answer.status_code))
            continue
        try:
            unwrap(answer.json())
            seen.append("ok")
        except ValueError:
            seen.append("malformed")
    return seen


def test_fault_rate_gives_seeded_503s_and_malformed_bodies(sim: RunningSimulator, api: Api) -> None:
    api.token()
    sim.config.fault_rate = 0.5
    first = _fault_sequence(api, 40)
    assert {"ok", "503", "malformed"} == set(first)
    assert 8 <= first.count("ok") <= 32
    sim.reset_counters()  # restarts the seeded fault sequence
    assert _fault_sequence(api, 40) == first
    assert api.token_response().status_code == 200  # tokens never fault


def test_latency_delays_without_blocking_other_requests(sim: RunningSimulator, api: Api) -> None:
    token = api.token()
    sim.config.latency_ms = 200
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: Api(sim.base_url).post("balance", token=token), range(10)))
    assert all(a.status_code == 200 and a.elapsed.total_seconds() >= 0.2 for a in answers)
    # A server that blocked while delaying would hold one request at a time, however fast the machine.
    assert sim.counters.snapshot()["most_in_flight"] > 1


def test_bad_rows_are_deterministic_and_shaped_for_quarantine(sim: RunningSimulator, api: Api) -> None:
    data, day = sim.dataset, sim.config.today()
    sim.config.bad_row_rate = 1.0
    assert all("productCode" not in row for row in api.data("products"))
    assert {row["supplyPrice"] for row in api.data("prices", productCodes=data.codes[:5])} == {"abc"}
    code = next(c for c in data.procurable_codes if data.stock_rows(c, "110101", day))
    assert {row["stock"] for row in api.data("stock", productCode=code)} == {"N/A"}
    sim.config.bad_row_rate = 0.2
    listing = api.data("products")
    bad = [row for row in listing if "productCode" not in row]
    assert 0 < len(bad) < 0.4 * len(listing)
    assert api.data("products") == listing
    prices = api.data("prices", productCodes=data.priced_codes[:20])
    assert 0 < sum(row["supplyPrice"] == "abc" for row in prices) < 20


@pytest.mark.parametrize(
    ("envelope", "endpoint", "expected_keys"),
    [
        ("bare", "balance", None),
        ("success", "balance", {"success", "data"}),
        ("code", "stock", {"code", "msg", "data"}),
        ("mixed", "products", {"code", "msg", "data"}),
        ("mixed", "prices", {"code", "msg", "data"}),
        ("mixed", "stock", {"success", "data"}),
        ("mixed", "logistics", {"success", "data"}),
        ("mixed", "balance", {"code", "msg", "data"}),
    ],
)
def test_envelope_styles(
    sim: RunningSimulator, api: Api, envelope: str, endpoint: str, expected_keys: set[str] | None
) -> None:
    sim.config.envelope = envelope
    body = api.post(endpoint).json()
    if expected_keys is None:
        assert isinstance(body, list)
    else:
        assert set(body) == expected_keys
        assert body.get("success", True) is True and body.get("code", 200) == 200


def test_counters_count_calls_statuses_batches_and_bursts(sim: RunningSimulator, api: Api) -> None:
    api.token()
    api.post("products", productCodes=sim.dataset.codes[:7])
    api.post("prices", productCodes=sim.dataset.codes[:13])
    for _ in range(3):
        api.post("stock")
    api.post("stock", token="nope")
    api.post("logistics")
    snapshot = sim.counters.snapshot()
    assert snapshot["calls"] == {
        "token": 1,
        "products": 1,
        "prices": 1,
        "stock": 4,
        "logistics": 1,
        "balance": 0,
    }
    assert snapshot["statuses"]["stock"] == {"200": 3, "401": 1}
    assert snapshot["largest_batch"] == 13
    assert snapshot["total_requests"] == 8
    assert snapshot["busiest_second"] == 8
    json.dumps(snapshot)
    sim.counters.reset()
    assert sim.counters.snapshot()["total_requests"] == 0


def test_admin_endpoints(sim: RunningSimulator, api: Api) -> None:
    token = api.token()
    api.post("balance")
    stats = requests.get(sim.base_url + "/_sim/stats", timeout=5).json()
    assert stats["calls"]["balance"] == 1 and stats["total_requests"] == 2
    answer = requests.post(sim.base_url + "/_sim/config", json={"fault_rate": 0.2, "day_offset": 1}, timeout=5)
    assert answer.status_code == 200 and answer.json()["day_offset"] == 1
    assert (sim.config.fault_rate, sim.config.day_offset) == (0.2, 1)
    assert requests.post(sim.base_url + "/_sim/config", json={"nope": 1}, timeout=5).status_code == 400
    assert requests.post(sim.base_url + "/_sim/config", json={"envelope": "xml"}, timeout=5).status_code == 400
    assert sim.config.envelope == "mixed"
    requests.post(sim.base_url + "/_sim/config", json={"fault_rate": 0}, timeout=5)
    assert requests.post(sim.base_url + "/_sim/revoke-tokens", timeout=5).status_code == 200
    assert api.post("balance", token=token).status_code == 401
    assert requests.post(sim.base_url + "/_sim/reset", timeout=5).json() == {"ok": True}
    after = requests.get(sim.base_url + "/_sim/stats", timeout=5).json()
    assert after["total_requests"] == 0 and after["calls"]["balance"] == 0  # admin calls are not counted


def test_unknown_knob_and_types_are_rejected_locally() -> None:
    config = SimulatorConfig()
    config.update({"counties": ["110101"], "rate_limit": None, "latency_ms": 5})
    assert config.counties == ("110101",) and config.latency_ms == 5.0
    with pytest.raises(ValueError):
        config.update({"counties": ["11010"]})
    with pytest.raises(ValueError):
        config.update({"auth_path_fails": "yes"})
    with pytest.raises(ValueError):
        config.update({"fault_rate": True})
    with pytest.raises(ValueError):
        SimulatorConfig(quirks=("all", "bogus"))
    assert config.as_dict() == {**SimulatorConfig().as_dict(), "counties": ["110101"], "latency_ms": 5.0}
    with pytest.raises(ValueError):
        SimulatorConfig(token_shape="jwt")


def test_path_table_matches_the_simulator() -> None:
    from haier_pipeline.simulator.app import DATA_PATHS

    assert {name: path for path, name in DATA_PATHS.items()} == PATHS
