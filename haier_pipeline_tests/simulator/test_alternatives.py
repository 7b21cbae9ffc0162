"""The first-contact switches (issue 25) at the simulator's HTTP face, spoken to with the document's field names: each
serves the alternative it names, and is off by default."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from haier_pipeline.simulator import RunningSimulator, SimulatorConfig
from haier_pipeline.simulator.alternatives import LOGIN_PAGE, NO_MARKET_PRICE, chinese_numerals
from haier_pipeline_tests.simulator.helpers import PATHS, Api, decode


def knobs(sim: RunningSimulator, **values: object) -> None:
    answer = requests.post(sim.base_url + "/_sim/config", json=values, timeout=5)
    assert answer.status_code == 200, answer.text


def test_every_first_contact_switch_is_off_by_default() -> None:
    config = SimulatorConfig()
    assert (config.listing_requires_codes, config.listing_not_procurable, config.status_in_body) == (False,) * 3
    assert (config.auth_path_html, config.two_payer_accounts, config.auth_scheme) == (False, False, "any")
    assert (config.server_errors, config.throttle_next) == (0, 0)
    assert (config.success_msg, config.logistics_extra_key) == ("ok", "")
    assert config.forbidden_endpoints == config.unauthorized_endpoints == ()
    assert config.numeral_prices == config.text_market_prices == config.percent_discounts == ()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (Decimal("1299.00"), "一千二百九十九元"),
        (Decimal("1299.50"), "一千二百九十九点五元"),
        (Decimal("1050"), "一千零五十元"),
        (Decimal("10023"), "一万零二十三元"),
        (Decimal("120000.5"), "一十二万点五元"),
        (Decimal("0.74"), "零点七四元"),
    ],
)
def test_prices_in_chinese_numerals_read_as_a_clerk_types_them(value: Decimal, words: str) -> None:
    assert chinese_numerals(value) == words


def test_the_listing_requires_product_codes_when_switched(sim: RunningSimulator, api: Api) -> None:
    knobs(sim, listing_requires_codes=True)
    refused = api.post("products")
    assert refused.status_code == 400 and "productCodes" in refused.json()["msg"]
    assert {row["productCode"] for row in api.data("products", productCodes=[])} == set(sim.dataset.procurable_codes)


def test_a_success_code_and_message_of_the_switches(sim: RunningSimulator, api: Api) -> None:
    knobs(sim, envelope="code", success_code="0", success_msg="")
    body = decode(api.post("balance"))
    assert body["code"] == "0" and "msg" not in body and len(body["data"]) == 2


@pytest.mark.parametrize(
    ("knob", "status"),
    [({"server_errors": 1}, 500), ({"throttle_next": 1}, 429), ({"forbidden_endpoints": ["balance"]}, 403)],
)
def test_statuses_in_the_body_come_with_http_200(sim: RunningSimulator, api: Api, knob: dict, status: int) -> None:
    knobs(sim, **knob)
    assert api.post("balance").status_code == status
    knobs(sim, status_in_body=True, **knob)
    answer = api.post("balance")
    assert answer.status_code == 200 and answer.json()["code"] == status
    assert api.post("balance").status_code == 200


def test_a_revoked_token_is_a_401_in_the_body_when_switched(sim: RunningSimulator, api: Api) -> None:
    knobs(sim, status_in_body=True)
    token = api.token()
    sim.revoke_tokens()
    answer = api.post("balance", token=token)
    assert answer.status_code == 200 and answer.json() == {"code": 401, "msg": "token invalid"}


def test_the_token_url_serves_a_login_page_when_switched(sim: RunningSimulator, api: Api) -> None:
    knobs(sim, auth_path_html=True)
    page = api.token_response("/oauth2/auth")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert page.content == LOGIN_PAGE
    assert "access_token" in api.token_response("/oauth2/token").json()


@pytest.mark.parametrize(("accepted", "refused"), [("bearer", "bare"), ("bare", "bearer")])
def test_a_gateway_taking_one_authorization_scheme_only(
    sim: RunningSimulator, api: Api, accepted: str, refused: str
) -> None:
    knobs(sim, auth_scheme=accepted)
    assert api.post("balance", scheme=accepted).status_code == 200
    assert api.post("balance", scheme=refused).status_code == 401


def test_a_403_carries_a_trace_id_of_its_own_in_every_body(sim: RunningSimulator, api: Api) -> None:
    knobs(sim, forbidden_endpoints=["stock"])
    bodies = [api.post("stock").json() for _ in range(3)]
    assert {body["code"] for body in bodies} == {403}
    assert len({body["traceId"] for body in bodies}) == 3
    assert api.post("balance").status_code == 200, "the other endpoints answer"


def test_an_endpoint_without_permission_refuses_every_token(sim: RunningSimulator, api: Api) -> None:
    knobs(sim, unauthorized_endpoints=["balance"])
    assert api.post("balance").status_code == 401
    assert api.post("stock").status_code == 200, "the same token works elsewhere"


def test_price_switches_write_the_products_values_otherwise(sim: RunningSimulator, api: Api) -> None:
    day = sim.config.today()
    numerals, market, percent = sim.dataset.priced_codes[:3]
    knobs(sim, numeral_prices=[numerals], text_market_prices=[market], percent_discounts=[percent])
    rows = {row["productCode"]: row for row in api.data("prices", productCodes=[numerals, market, percent])}
    assert rows[numerals]["supplyPrice"] == chinese_numerals(sim.dataset.price_row(numerals, day)["supplyPrice"])
    assert rows[market]["marketPrice"] == NO_MARKET_PRICE
    supply, rebate = rows[percent]["supplyPrice"], rows[percent]["rebateMoney"]
    assert rows[percent]["stockRebatePolicy"] == "5%"
    assert rows[percent]["invoicePrice"] == (supply * Decimal("0.95") - rebate).quantize(Decimal("0.01"))


def test_two_payer_accounts_in_one_sales_organisation(sim: RunningSimulator, api: Api) -> None:
    knobs(sim, two_payer_accounts=True)
    rows = api.data("balance")
    assert [(row["saleGroupCode"], row["payerAccountCode"]) for row in rows] == [
        ("GA01", sim.config.customer_code),
        ("GA01", f"{sim.config.customer_code}01"),
        ("GC02", sim.config.customer_code),
    ]


def test_a_logistics_list_the_document_does_not_name(sim: RunningSimulator, api: Api) -> None:
    knobs(sim, logistics_extra_key="getLogisticsTrackV2")
    answer = api.data("logistics")
    assert set(answer) == {*sim.dataset.logistics("SO.20190106.000003"), "getLogisticsTrackV2"}
    assert answer["getLogisticsTrackV2"][0]["orderCode"] == "SO.20190106.000003"


def test_the_switches_are_refused_when_malformed(sim: RunningSimulator) -> None:
    for bad in ({"auth_scheme": "basic"}, {"forbidden_endpoints": ["orders"]}, {"server_errors": -1}):
        answer = requests.post(sim.base_url + "/_sim/config", json=bad, timeout=5)
        assert answer.status_code == 400, bad
    assert set(PATHS) >= {"products", "prices", "stock", "logistics", "balance"}
