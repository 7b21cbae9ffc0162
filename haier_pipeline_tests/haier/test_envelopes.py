"""The three envelope styles, and failure envelopes that arrive with HTTP 200."""

from __future__ import annotations

import pytest

from haier_pipeline.haier import HaierBusinessError
from haier_pipeline.haier.envelopes import as_rows, unwrap


@pytest.mark.parametrize(
    "answer",
    [
        [{"productCode": "A"}],
        {"success": True, "data": [{"productCode": "A"}]},
        {"code": 200, "msg": "ok", "data": [{"productCode": "A"}]},
        {"code": "200", "data": [{"productCode": "A"}]},
        {"code": "success", "data": [{"productCode": "A"}]},
    ],
)
def test_every_style_gives_the_payload(answer: object) -> None:
    assert unwrap("products", answer) == [{"productCode": "A"}]


@pytest.mark.parametrize("data", [None, "", [], {}])
def test_empty_data_is_an_empty_payload(data: object) -> None:
    assert as_rows(unwrap("stock", {"success": True, "data": data})) == []


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"success": False, "message": "约定密码错误"}, "约定密码错误"),
        ({"code": 500, "msg": "客户编码与授权信息不匹配", "data": None}, "客户编码与授权信息不匹配"),
        ({"code": "E01", "description": "no permission"}, "no permission"),
        ({"success": False}, "no reason given"),
    ],
)
def test_a_failure_envelope_is_an_error_never_an_empty_result(answer: dict, reason: str) -> None:
    with pytest.raises(HaierBusinessError) as raised:
        unwrap("prices", answer)
    assert raised.value.reason == reason
    assert raised.value.endpoint == "prices"


def test_a_single_object_is_a_list_of_one() -> None:
    assert as_rows({"saleGroupCode": "GA01"}) == [{"saleGroupCode": "GA01"}]
