"""The vendor's refusals: 400 for bad parameters, HTTP 200 failure envelopes for wrong identities."""

from __future__ import annotations

import pytest

from haier_pipeline.simulator import RunningSimulator
from haier_pipeline_tests.simulator.helpers import PATHS, Api, body_for


def test_21_codes_are_refused_and_still_counted_as_a_batch(sim: RunningSimulator, api: Api) -> None:
    codes = sim.dataset.codes[:21]
    for endpoint in ("products", "prices"):
        answer = api.post(endpoint, productCodes=codes)
        assert answer.status_code == 400
        assert "20" in answer.json()["msg"]
        assert api.post(endpoint, productCodes=codes[:20]).status_code == 200
    assert sim.counters.snapshot()["largest_batch"] == 21


@pytest.mark.parametrize(
    ("endpoint", "field"),
    [
        ("products", "customerCode"),
        ("products", "sendToCode"),
        ("products", "supplierCode"),
        ("products", "searchType"),
        ("products", "passWord"),
        ("prices", "customerCode"),
        ("prices", "sendToCode"),
        ("prices", "productCodes"),
        ("prices", "priceType"),
        ("prices", "passWord"),
        ("stock", "salesCode"),
        ("stock", "senderCode"),
        ("stock", "productCode"),
        ("stock", "countyCode"),
        ("stock", "source"),
        ("stock", "sellerPassword"),
        ("logistics", "orderCode"),
        ("logistics", "sellerCode"),
        ("logistics", "sellerPassword"),
        ("balance", "customerCode"),
        ("balance", "customerPassword"),
    ],
)
def test_missing_required_field_is_400(api: Api, endpoint: str, field: str) -> None:
    body = body_for(endpoint)
    del body[field]
    answer = api.post(endpoint, body)
    assert answer.status_code == 400
    assert field in answer.json()["msg"]


@pytest.mark.parametrize(
    ("endpoint", "fields"),
    [
        ("stock", {"countyCode": "11010"}),
        ("stock", {"countyCode": "1101011"}),
        ("stock", {"countyCode": "11010a"}),
        ("stock", {"countyCode": 110101}),
        ("stock", {"productCode": ["GA0SZC00U"]}),
        ("stock", {"source": "JSH"}),
        ("prices", {"productCodes": []}),
        ("prices", {"productCodes": "GA0SZC00U"}),
        ("prices", {"priceType": "SP"}),
        ("products", {"searchType": "ALL"}),
        ("logistics", {"memberId": "42"}),
    ],
)
def test_bad_parameters_are_400(api: Api, endpoint: str, fields: dict[str, object]) -> None:
    assert api.post(endpoint, **fields).status_code == 400


def test_non_json_body_is_400(sim: RunningSimulator, api: Api) -> None:
    answer = api.session.post(
        sim.base_url + PATHS["balance"], data=b"customerCode=1", headers={"Authorization": api.token()}
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == 400


@pytest.mark.parametrize(
    ("endpoint", "fields", "message"),
    [
        ("products", {"passWord": "wrong"}, "约定密码错误"),
        ("prices", {"passWord": "wrong"}, "约定密码错误"),
        ("stock", {"sellerPassword": "wrong"}, "约定密码错误"),
        ("logistics", {"sellerPassword": "wrong"}, "约定密码错误"),
        ("balance", {"customerPassword": "wrong"}, "约定密码错误"),
        ("products", {"customerCode": "8800000000"}, "客户编码与授权信息不匹配"),
        ("stock", {"senderCode": "8800000000"}, "客户编码与授权信息不匹配"),
        ("balance", {"customerCode": "8800000000"}, "客户编码与授权信息不匹配"),
    ],
)
def test_wrong_identity_is_http_200_with_a_failure_envelope(
    api: Api, endpoint: str, fields: dict[str, object], message: str
) -> None:
    answer = api.post(endpoint, **fields)
    assert answer.status_code == 200
    body = answer.json()
    assert body["msg"] == message
    assert body.get("success") is False or body.get("code") == 500


def test_customer_password_differs_from_agreed_password(sim: RunningSimulator, api: Api) -> None:
    sim.config.customer_password = "customer-pw"
    assert api.post("prices").json()["code"] == 200  # passWord is still the agreed one
    assert api.post("stock").json()["success"] is False
    assert api.post("stock", sellerPassword="customer-pw").json()["success"] is True
    assert api.post("balance", customerPassword="customer-pw").json()["code"] == 200


@pytest.mark.parametrize(
    ("envelope", "failure"),
    [
        ("success", {"success": False, "code": "500", "msg": "约定密码错误", "data": None}),
        ("bare", {"success": False, "code": "500", "msg": "约定密码错误", "data": None}),
        ("code", {"code": 500, "msg": "约定密码错误", "data": None}),
    ],
)
def test_failure_envelope_follows_the_style(
    sim: RunningSimulator, api: Api, envelope: str, failure: dict[str, object]
) -> None:
    sim.config.envelope = envelope
    assert api.post("balance", customerPassword="wrong").json() == failure


def test_unknown_path_is_404_and_wrong_method_405(sim: RunningSimulator, api: Api) -> None:
    answer = api.session.post(sim.base_url + "/yilihuo/no-such-service", json={})
    assert answer.status_code == 404
    assert answer.json()["code"] == 404
    assert api.session.get(sim.base_url + PATHS["stock"]).status_code == 405
    snapshot = sim.counters.snapshot()
    assert snapshot["statuses"]["unknown"] == {"404": 1}
    assert snapshot["statuses"]["stock"] == {"405": 1}
