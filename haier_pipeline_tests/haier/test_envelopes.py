"""The three envelope styles, and failure envelopes that arrive with HTTP 200."""

from __future__ import annotations

from decimal import Decimal

import pytest

from haier_pipeline.haier import HaierAnswerShapeError, HaierBusinessError
from haier_pipeline.haier.envelopes import (
    Envelope,
    StatusInBody,
    as_rows,
    read_envelope,
    success_codes_from,
    unwrap,
)


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


@pytest.mark.parametrize(
    "answer",
    [
        {"success": True, "code": 500, "data": [{"productCode": "A"}]},
        {"success": "true", "code": "0000", "data": [{"productCode": "A"}]},
        {"code": "SUCCESS", "data": [{"productCode": "A"}]},
    ],
)
def test_success_true_or_a_success_code_is_success(answer: dict) -> None:
    assert unwrap("products", answer) == [{"productCode": "A"}]


@pytest.mark.parametrize("code", ["0000", 0, "OK", 1, "E001"])
@pytest.mark.parametrize("data", [[{"stock": "3"}], [], {}, "", None])
def test_an_unrecognised_code_is_a_refusal_with_data_or_without(code: object, data: object) -> None:
    """`{"code": "E001", "msg": "约定密码错误", "data": []}` was read as success: a stock of 0 for every pair."""
    with pytest.raises(HaierBusinessError) as raised:
        unwrap("stock", {"code": code, "msg": "约定密码错误", "data": data})
    assert raised.value.code == str(code) and raised.value.reason == "约定密码错误"
    assert raised.value.account_refused


@pytest.mark.parametrize("answer", [{"code": "0000", "msg": "无权限"}, {"code": "0000", "msg": "无权限", "data": None}])
def test_an_unrecognised_code_without_data_is_a_failure(answer: dict) -> None:
    with pytest.raises(HaierBusinessError, match="无权限"):
        unwrap("stock", answer)


@pytest.mark.parametrize(
    "answer",
    [
        {"success": True, "result": [{"secCode": "S1", "stock": "5"}]},
        {"code": 200, "msg": "ok", "rows": [{"secCode": "S1", "stock": "5"}], "total": 1},
        {"success": True, "payload": {"list": []}},
    ],
)
def test_a_success_holding_its_payload_under_another_key_is_unusable_not_empty(answer: dict) -> None:
    with pytest.raises(HaierAnswerShapeError) as raised:
        unwrap("stock", answer)
    assert "without `data`" in str(raised.value) and not raised.value.transient


@pytest.mark.parametrize("answer", [{"success": True}, {"code": 200, "msg": "ok", "timestamp": 1764800000000}])
def test_a_success_that_omits_a_null_data_is_an_empty_payload(answer: dict) -> None:
    assert unwrap("stock", answer) is None


@pytest.mark.parametrize(
    "envelope",
    [
        {"total": 10},
        {"totalCount": "3"},
        {"hasNextPage": True},
        {"isLastPage": False},
        {"pages": 2},
        {"total": 10, "pageNum": 1, "pageSize": 2, "hasNextPage": "true"},
    ],
)
def test_one_page_of_more_is_unusable_the_missing_rows_would_read_as_absent(envelope: dict) -> None:
    with pytest.raises(HaierAnswerShapeError, match="one page of more"):
        unwrap("products", {"success": True, "data": [{"productCode": "A"}, {"productCode": "B"}], **envelope})


@pytest.mark.parametrize(
    "envelope",
    [{"total": 2}, {"total": "2", "pages": 1, "hasNextPage": False, "isLastPage": True}, {"total": True}],
)
def test_a_page_that_is_the_whole_answer_is_read(envelope: dict) -> None:
    rows = [{"productCode": "A"}, {"productCode": "B"}]
    assert unwrap("products", {"success": True, "data": rows, **envelope}) == rows


@pytest.mark.parametrize("code", [400, "403", 500, "503", -1, "-1", "FAIL", "error", "failure"])
def test_a_known_failure_code_is_a_failure_even_with_data(code: object) -> None:
    with pytest.raises(HaierBusinessError) as raised:
        unwrap("stock", {"code": code, "msg": "系统异常", "data": [{"stock": "3"}]})
    assert raised.value.reason == "系统异常"
    assert not raised.value.account_refused
    assert not raised.value.transient


@pytest.mark.parametrize(
    ("reason", "account"),
    [
        ("约定密码错误", True),
        ("客户编码与授权信息不匹配", True),
        ("合同已过期，请联系业务员", True),
        ("商品不存在或已停用", False),
    ],
)
def test_refusals_of_the_whole_account_are_told_apart_from_refusals_of_one_item(reason: str, account: bool) -> None:
    with pytest.raises(HaierBusinessError) as raised:
        unwrap("stock", {"success": False, "msg": reason})
    assert raised.value.account_refused is account
    assert ("HAIER_PASSWORD" in str(raised.value)) is account


@pytest.mark.parametrize("payload", [42, "rows", True, 3.5])
def test_a_payload_that_is_no_list_nor_object_is_a_typed_error_naming_the_endpoint(payload: object) -> None:
    with pytest.raises(HaierAnswerShapeError) as raised:
        as_rows(unwrap("stock", {"success": True, "data": payload}), "stock")
    assert raised.value.endpoint == "stock"
    assert not raised.value.transient


@pytest.mark.parametrize("success", [0, "0", "N", "no", "FAIL", Decimal("0")])
def test_success_written_as_a_number_or_a_word_for_no_is_a_failure(success: object) -> None:
    """`{"success": 0, "data": null}` once passed for "checked, none": a stock of 0 stored for a refused call."""
    with pytest.raises(HaierBusinessError) as raised:
        unwrap("stock", {"success": success, "msg": "系统繁忙,请稍后再试", "data": None})
    assert raised.value.reason == "系统繁忙,请稍后再试"
    assert raised.value.code == f"success={success}".lower()


@pytest.mark.parametrize("success", [1, "1", "Y", "yes", "OK"])
def test_success_written_as_a_number_or_a_word_for_yes_is_success(success: object) -> None:
    assert unwrap("stock", {"success": success, "data": []}) is None


@pytest.mark.parametrize("success", [None, "maybe", 2, {"ok": True}])
def test_a_success_that_reads_as_neither_is_a_failure_with_data_or_without(success: object) -> None:
    for data in (None, [{"secCode": "A1"}]):
        with pytest.raises(HaierBusinessError):
            unwrap("stock", {"success": success, "data": data})


# ---- read by meaning (issue 25) ---------------------------------------------------------------------------


@pytest.mark.parametrize("message", ["ok", "OK", "success", "成功", "操作成功", "查询成功。", "Success!"])
@pytest.mark.parametrize("data", [[{"stock": "3"}], [], None])
def test_an_unknown_code_with_a_success_message_is_a_success_with_rows_or_without(message: str, data: object) -> None:
    envelope = read_envelope("stock", {"code": "0", "msg": message, "data": data})
    assert envelope.payload == (data or None) and envelope.by_meaning and envelope.code == "0"


@pytest.mark.parametrize("data", [[{"stock": "3"}], {"saleGroupCode": "GA01"}])
def test_an_unknown_code_without_a_message_and_with_rows_is_a_success(data: object) -> None:
    assert read_envelope("balance", {"code": 0, "data": data}).payload == data


@pytest.mark.parametrize("data", [[], None, "", ["GA0SZC00U"], 42])
def test_an_unknown_code_without_a_message_or_rows_is_a_refusal_saying_how_to_pin_it(data: object) -> None:
    """A refusal's `data: []` never reads as "none": without a message there is nothing to tell them apart by."""
    with pytest.raises(HaierBusinessError) as raised:
        unwrap("stock", {"code": "0000", "data": data})
    assert "HAIER_SUCCESS_CODES=0000" in raised.value.reason


@pytest.mark.parametrize("code", ["FAIL", "error", -1, "-1", 400, "404", 599])
def test_a_failure_code_is_never_read_as_success_even_with_rows_and_no_message(code: object) -> None:
    with pytest.raises(HaierBusinessError):
        unwrap("stock", {"code": code, "data": [{"stock": "3"}]})


@pytest.mark.parametrize("answer", [{"code": "0", "data": [{"stock": "3"}]}, {"code": "0", "msg": "ok", "data": []}])
def test_pinned_success_codes_refuse_any_other_code(answer: dict) -> None:
    pinned = success_codes_from("1, 0000")
    assert pinned == {"1", "0000", "200", "success"}, "the document's codes stay success"
    with pytest.raises(HaierBusinessError):
        unwrap("stock", answer, pinned)
    assert unwrap("stock", {**answer, "code": "0000"}, pinned) == (answer["data"] or None)
    assert unwrap("stock", {**answer, "code": 200}, pinned) == (answer["data"] or None)


@pytest.mark.parametrize("setting", ["401", "200,503"])
def test_a_status_cannot_be_pinned_as_a_success_code(setting: str) -> None:
    with pytest.raises(ValueError, match="handled as that status"):
        success_codes_from(setting)


@pytest.mark.parametrize("code", [401, "403", 429, "500", 502, 503, "504"])
@pytest.mark.parametrize("success", [None, False, "false"])
def test_a_status_in_the_body_is_raised_for_the_client_to_handle_as_that_status(code: object, success: object) -> None:
    answer = {"code": code, "msg": "token invalid", "data": [{"stock": "3"}]}
    if success is not None:
        answer["success"] = success
    with pytest.raises(StatusInBody) as raised:
        unwrap("stock", answer)
    assert raised.value.status == int(code) and raised.value.reason == "token invalid"


def test_a_status_in_the_body_refusing_the_account_is_the_accounts_refusal_never_retried() -> None:
    with pytest.raises(HaierBusinessError) as raised:
        unwrap("stock", {"code": 500, "msg": "约定密码错误"})
    assert raised.value.account_refused and not isinstance(raised.value, StatusInBody)


def test_success_true_wins_over_a_status_code() -> None:
    assert unwrap("stock", {"success": True, "code": 503, "data": [{"stock": "3"}]}) == [{"stock": "3"}]


def test_the_envelope_says_how_the_answer_was_wrapped() -> None:
    assert read_envelope("stock", [{"stock": "3"}]) == Envelope([{"stock": "3"}], "bare")
    assert read_envelope("stock", {"success": True, "data": []}) == Envelope(None, "success")
    assert read_envelope("stock", {"code": 200, "data": []}) == Envelope(None, "code", "200")
