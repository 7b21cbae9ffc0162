"""Each record parsed from vendor JSON: roles decide what a bad value costs, and the vague points of the
vendor document are decided once, in the declarations."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd
import pytest

from haier_pipeline.defs.haier_catalog.step import metadata_table
from haier_pipeline.endpoints.account_balances import BALANCE_ROW
from haier_pipeline.endpoints.logistics_events import LOGISTICS_RECORD
from haier_pipeline.endpoints.prices import NOT_IN_EFFECT_WORDINGS, PRICE_ROW
from haier_pipeline.endpoints.products import PRODUCT
from haier_pipeline.endpoints.stock_snapshots import NO_WAREHOUSE, STOCK_ROW
from haier_pipeline.haier import HaierError
from haier_pipeline.records import UnusableAnswer
from haier_pipeline.records.record import CONFLICTING_MEASURES, DIFFERENT_DESCRIPTION
from haier_pipeline.redaction import register_secret
from haier_pipeline.validation import validate

NOW = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
PAIR = {"snapshot_date": date(2026, 11, 26), "product_code": "GA0SZC00U", "county_code": "110101", "fetched_at": NOW}


def warehouse_row(stock: object = "30", **timeliness: object) -> dict[str, object]:
    return {
        "secCode": "C1",
        "stock": stock,
        "warehouseGrade": "0",
        "timelinessData": {"cutTime": "16:00", "achieveUserOrderCut": "2026-11-28", "hour": "48", "isTranfer": "0"}
        | timeliness,
    }


def test_a_clean_stock_row_is_typed_exactly() -> None:
    parsed = STOCK_ROW.parse([warehouse_row()], PAIR)
    assert not parsed.refused and not parsed.anomalies
    (row,) = parsed.rows
    assert row == {
        **PAIR,
        "sec_code": "C1",
        "stock": 30,
        "warehouse_grade": "0",
        "cut_time": "16:00",
        "delivery_date": date(2026, 11, 28),
        "delivery_hours": 48,
        "is_transfer": False,
    }


def test_no_warehouse_is_one_row_of_stock_zero() -> None:
    (row,) = STOCK_ROW.parse([NO_WAREHOUSE], PAIR).rows
    assert row["stock"] == 0 and row["sec_code"] is None


@pytest.mark.parametrize("row", [{"stock": "7"}, {"stock": "0"}, {"secCode": "", "stock": "7"}, {"secCode": None}])
def test_a_warehouse_row_without_its_storage_location_is_refused(row: dict) -> None:
    """Two such rows were both stored (and summed) under one key, and one of stock 0 passed for "checked, none"."""
    parsed = STOCK_ROW.parse([{**row, "stock": row.get("stock", "7")}, warehouse_row()], PAIR)
    assert [refusal.rule for refusal in parsed.refused] == ["sec_code: is missing"]
    assert [r["sec_code"] for r in parsed.rows] == ["C1"]


@pytest.mark.parametrize(
    ("stock", "reason"),
    [
        ("N/A", 'stock: is not a number (got "N/A")'),
        ("3000000000", 'stock: is out of range (0 to 2147483647) (got "3000000000")'),
        ("-5", 'stock: is out of range (0 to 2147483647) (got "-5")'),
        ("2.5", 'stock: is not a whole number (got "2.5")'),
        ("1e999999999", 'stock: is out of range (0 to 2147483647) (got "1e999999999")'),
        (None, "stock: is missing"),
        (True, "stock: is a boolean, not a number (got true)"),
    ],
)
def test_a_bad_measure_refuses_the_row_with_its_reason(stock: object, reason: str) -> None:
    parsed = STOCK_ROW.parse([warehouse_row(stock)], PAIR)
    assert not parsed.rows
    (refusal,) = parsed.refused
    assert refusal.reason == reason
    assert '"product_code": "GA0SZC00U"' in refusal.payload and '"county_code": "110101"' in refusal.payload


@pytest.mark.parametrize(
    ("timeliness", "field", "reason"),
    [
        ({"hour": "24小时"}, "delivery_hours", "is not a number"),
        ({"hour": "99999999999"}, "delivery_hours", "is out of range (0 to 2147483647)"),
        (
            {"achieveUserOrderCut": "下周"},
            "delivery_date",
            "is not a date (YYYY-MM-DD, optionally with a time and zone)",
        ),
        ({"isTranfer": "maybe"}, "is_transfer", 'is not "1" or "0"'),
        ({"cutTime": {"h": 16}}, "cut_time", "is a dict, not text"),
    ],
)
def test_a_bad_side_field_is_stored_as_null_and_the_stock_is_kept(
    timeliness: dict[str, object], field: str, reason: str
) -> None:
    parsed = STOCK_ROW.parse([warehouse_row(**timeliness)], PAIR)
    assert not parsed.refused
    (row,) = parsed.rows
    assert row["stock"] == 30, "a side field never lowers a quantity"
    assert row[field] is None
    (anomaly,) = parsed.anomalies
    assert (anomaly.row_key, anomaly.field, anomaly.reason) == ("GA0SZC00U/110101/C1", field, reason)


@pytest.mark.parametrize("grade", ["本级仓??", "2", "local"])
def test_a_warehouse_grade_other_than_0_or_1_is_stored_as_null_with_an_anomaly(grade: str) -> None:
    (row,) = STOCK_ROW.parse([{**warehouse_row(), "warehouseGrade": grade}], PAIR).rows
    assert row["warehouse_grade"] is None and row["stock"] == 30
    (anomaly,) = STOCK_ROW.parse([{**warehouse_row(), "warehouseGrade": grade}], PAIR).anomalies
    assert anomaly.field == "warehouse_grade" and anomaly.reason.startswith("does not look like a warehouse grade")


def test_timeliness_sent_as_a_string_nulls_each_value_it_would_hold() -> None:
    raw = {"secCode": "C1", "stock": "7", "timelinessData": "48h"}
    parsed = STOCK_ROW.parse([raw], PAIR)
    (row,) = parsed.rows
    assert row["stock"] == 7 and row["delivery_hours"] is None
    assert sorted(a.field for a in parsed.anomalies) == ["cut_time", "delivery_date", "delivery_hours", "is_transfer"]
    assert all(a.raw_value == '"48h"' and "timelinessData is a str" in a.reason for a in parsed.anomalies)


@pytest.mark.parametrize("sent", ["2026/1/5", "2026-1-5", "2026-01-5 16:00:00", "1767542400000", "2026/01/05"])
def test_a_day_written_without_leading_zeros_or_as_milliseconds_in_text_is_read(sent: str) -> None:
    """They were stored as NULL with an anomaly; 1767542400000 ms is 2026-01-04T16:00Z, 00:00 in Shanghai."""
    (row,) = STOCK_ROW.parse([warehouse_row(achieveUserOrderCut=sent)], PAIR).rows
    assert row["delivery_date"] == date(2026, 1, 5)


def test_zoned_times_are_converted_to_the_shanghai_day() -> None:
    rows = [
        warehouse_row(achieveUserOrderCut="2026-11-27T20:30:00Z") | {"secCode": "Z"},
        warehouse_row(achieveUserOrderCut="2026-11-28T02:00:00+08:00") | {"secCode": "E"},
        warehouse_row(achieveUserOrderCut="2026-11-28 23:59:59") | {"secCode": "N"},
        warehouse_row(achieveUserOrderCut=1764288000000) | {"secCode": "M"},  # 2025-11-28T00:00Z in ms
    ]
    days = {row["sec_code"]: row["delivery_date"] for row in STOCK_ROW.parse(rows, PAIR).rows}
    assert days == {
        "Z": date(2026, 11, 28),  # 20:30 UTC is 04:30 the next morning in Shanghai
        "E": date(2026, 11, 28),
        "N": date(2026, 11, 28),  # no zone: already Shanghai time
        "M": date(2025, 11, 28),
    }


def test_rows_that_are_not_objects_are_refused_one_by_one() -> None:
    parsed = STOCK_ROW.parse(["C1:30", warehouse_row(), 7], PAIR)
    assert len(parsed.rows) == 1
    assert [refusal.rule for refusal in parsed.refused] == [
        "the row is a str, not an object",
        "the row is a int, not an object",
    ]
    assert parsed.inputs == 3


@pytest.mark.parametrize("answer", [42, "no stock", 1.5, True])
def test_an_answer_that_is_not_rows_is_a_typed_error(answer: object) -> None:
    with pytest.raises(UnusableAnswer, match="stock: the answer is a") as raised:
        STOCK_ROW.parse(answer, PAIR)
    assert isinstance(raised.value, HaierError)


def test_one_object_is_a_list_of_one_and_none_is_no_rows() -> None:
    balance = {"saleGroupCode": "GA01", "payerAccountCode": "8800633175", "payerAccountBalance": Decimal("-12.50")}
    assert BALANCE_ROW.parse(balance, {"fetched_at": NOW}).rows[0]["balance"] == Decimal("-12.5000")
    assert BALANCE_ROW.parse(None, {"fetched_at": NOW}).inputs == 0


def test_identical_duplicates_collapse_and_rows_disagreeing_on_a_price_leave_none() -> None:
    """Which of two prices the vendor meant cannot be told: the first one served was stored, by row order alone."""
    first = {"productCode": "A1", "supplyPrice": Decimal("100.00"), "isSales": "1"}
    rows = [
        first,
        dict(first),
        {**first, "supplyPrice": Decimal("1.00")},
        {**first, "supplyPrice": Decimal("100.00"), "isSales": "0"},
        {"productCode": "B2", "reason": "价格未生效", "isSales": "1"},
    ]
    parsed = PRICE_ROW.parse(rows, {"fetched_at": NOW})
    assert [(row["product_code"], row["supply_price"]) for row in parsed.rows] == [("B2", None)]
    assert parsed.collapsed == 1
    assert [refusal.reason for refusal in parsed.refused] == [
        f"{CONFLICTING_MEASURES} (A1: supply_price)",
        f"{CONFLICTING_MEASURES} (A1: supply_price)",
        f"{CONFLICTING_MEASURES} (A1)",
    ]
    assert "100.00" in parsed.refused[0].payload and "1.00" in parsed.refused[1].payload
    assert parsed.inputs == 5, "each input counted once"


def test_a_second_row_different_only_in_descriptive_values_is_refused_and_the_first_kept() -> None:
    first = {"productCode": "A1", "supplyPrice": "100", "isSales": "1", "reason": "ok"}
    parsed = PRICE_ROW.parse([first, {**first, "reason": "changed"}], {"fetched_at": NOW})
    assert [(row["product_code"], row["reason"]) for row in parsed.rows] == [("A1", "ok")]
    assert [refusal.reason for refusal in parsed.refused] == [f"{DIFFERENT_DESCRIPTION} (A1)"]


@pytest.mark.parametrize(
    "row",
    [
        {"productCode": "A1", "supply_price": 1100, "invoice_price": 990, "isSales": "1"},
        {"productCode": "A1", "SupplyPrice": 1100, "InvoicePrice": 990, "isSales": "1"},
        {"productCode": "A1", "priceInfo": {"supplyPrice": 1100, "invoicePrice": 990}, "isSales": "1"},
    ],
)
def test_a_price_row_without_a_supply_price_or_a_reason_is_refused_not_stored_as_null(row: dict) -> None:
    """Renamed keys once replaced the current price with NULL, in a step that reported success."""
    parsed = PRICE_ROW.parse([row], {"fetched_at": NOW})
    assert parsed.rows == []
    (refusal,) = parsed.refused
    assert refusal.rule.startswith("supply_price: is missing, and no reason says")


def test_a_rebate_type_code_under_stock_rebate_policy_is_stored_as_the_rebate_type() -> None:
    rows = [
        {"productCode": "N1", "supplyPrice": "100", "stockRebatePolicy": "0.05", "rebateType": "FHQ"},
        {"productCode": "C1", "supplyPrice": "100", "stockRebatePolicy": "COM"},
        {"productCode": "C2", "supplyPrice": "100", "stockRebatePolicy": " DTDBF "},
        {"productCode": "C3", "supplyPrice": "100", "stockRebatePolicy": "COM", "rebateType": "COM"},
        {"productCode": "D1", "supplyPrice": "100", "stockRebatePolicy": "COM", "rebateType": "FHQ"},
        {"productCode": "W1", "supplyPrice": "100", "stockRebatePolicy": "abc"},
        {"productCode": "W2", "supplyPrice": "100", "stockRebatePolicy": "返利"},
        {"productCode": "W3", "supplyPrice": "100", "stockRebatePolicy": "COM1"},
        {"productCode": "X1", "supplyPrice": "100", "stockRebatePolicy": "0.0.5"},
        {"productCode": "X2", "supplyPrice": "100", "stockRebatePolicy": 3},
        # A digit makes it the discount, read strictly: never moved aside as a rebate code and lost.
        {"productCode": "X3", "supplyPrice": "100", "stockRebatePolicy": "０．０５"},
        {"productCode": "X4", "supplyPrice": "100", "stockRebatePolicy": "5折"},
    ]
    parsed = PRICE_ROW.parse(rows, {"fetched_at": NOW})
    kept = {
        row["product_code"]: (row["supply_price"], row["direct_discount"], row["rebate_type"]) for row in parsed.rows
    }
    hundred = Decimal("100.0000")
    assert kept == {
        "N1": (hundred, Decimal("0.050000"), "FHQ"),
        "C1": (hundred, None, "COM"),
        "C2": (hundred, None, "DTDBF"),
        "C3": (hundred, None, "COM"),
        # Two codes that disagree: neither is guessed, both are recorded.
        "D1": (hundred, None, None),
        # Words are no discount: an unknown rebate code costs the code (NULL, recorded), never the price.
        "W1": (hundred, None, None),
        "W2": (hundred, None, None),
        "W3": (hundred, None, None),
    }
    assert [(a.row_key, a.field, json.loads(a.raw_value)) for a in parsed.anomalies] == [
        ("D1", "rebate_type", {"rebateType": "FHQ", "stockRebatePolicy": "COM"}),
        ("W1", "rebate_type", "abc"),
        ("W2", "rebate_type", "返利"),
        ("W3", "rebate_type", "COM1"),
    ]
    assert [refusal.reason for refusal in parsed.refused] == [
        'direct_discount: is not a number (got "0.0.5")',
        "direct_discount: is above 1: the direct discount is a fraction (0.05 for 5 %), and a bare number above 1 is "
        'ambiguous (a percentage? a typo?); ask the vendor to send a fraction, or "5%" (got 3)',
        'direct_discount: is not a number (got "０．０５")',
        'direct_discount: is not a number (got "5折")',
    ]


def test_a_supply_price_sent_as_text_is_a_price_not_in_effect() -> None:
    rows = [
        {"productCode": "T1", "supplyPrice": "价格未生效", "invoicePrice": "95", "isSales": "0"},
        {"productCode": "T2", "supplyPrice": "价格未生效", "reason": "商品暂不可采"},
        {"productCode": "T3", "supplyPrice": "abc"},
        {"productCode": "T4", "supplyPrice": "12345678901234567.5"},
        {"productCode": "T5", "supplyPrice": "12.34567"},
        # A number with a unit is no status: refused, not stored as "not in effect" with every price wiped.
        {"productCode": "T6", "supplyPrice": "1299元", "invoicePrice": "1100"},
    ]
    parsed = PRICE_ROW.parse(rows, {"fetched_at": NOW})
    kept = {row["product_code"]: row for row in parsed.rows}
    assert kept["T1"]["supply_price"] is None and kept["T1"]["invoice_price"] is None
    assert kept["T1"]["reason"] == "价格未生效" and kept["T2"]["reason"] == "价格未生效; 商品暂不可采"
    assert not parsed.anomalies, "a price not in effect is not a bad value"
    assert [refusal.reason for refusal in parsed.refused] == [
        'supply_price: is not a number (got "abc")',
        'supply_price: is out of range for NUMERIC(18, 4) (got "12345678901234567.5")',
        'supply_price: has more than 4 decimal places (got "12.34567")',
        'supply_price: is not a number (got "1299元")',
    ]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (Decimal("1253.5349999999999"), Decimal("1253.5350")),  # 1299 x (1 - 0.035) in a Java double
        ("1253.5349999999999", Decimal("1253.5350")),
        (Decimal("99.99999999999999"), Decimal("100.0000")),
        (Decimal("0.30000000000000004"), Decimal("0.3000")),
    ],
)
def test_a_price_printed_from_a_binary_double_is_read_as_the_price_it_is(sent: object, stored: Decimal) -> None:
    """Refused for its 13 decimal places, such a price cost the product its price for the day."""
    (row,) = PRICE_ROW.parse(
        [{"productCode": "A1", "supplyPrice": "1299", "invoicePrice": sent}], {"fetched_at": NOW}
    ).rows
    assert row["invoice_price"] == stored


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("1.0000000000000002", Decimal("1.000000")),
        ("5.551115123125783E-17", Decimal(0)),
        ("-1.1102230246251565E-16", Decimal(0)),
    ],
)
def test_a_fraction_printed_from_a_binary_double_is_checked_as_the_fraction_it_is(sent: str, stored: Decimal) -> None:
    """0.1 + 0.2 - 0.3 leaves 5.55e-17, and 1 + 2e-16 is above 1 only before rounding."""
    row = {"productCode": "A1", "supplyPrice": "100", "invoicePrice": "90", "stockRebatePolicy": sent}
    (kept,) = PRICE_ROW.parse([row], {"fetched_at": NOW}).rows
    assert kept["direct_discount"] == stored and str(kept["direct_discount"])[0] != "-"


def test_a_price_row_the_vendor_marks_not_procurable_is_kept_without_a_price_or_a_reason() -> None:
    (kept,) = PRICE_ROW.parse([{"productCode": "B", "isSales": "0"}], {"fetched_at": NOW}).rows
    assert kept["supply_price"] is None and kept["is_sales"] is False


@pytest.mark.parametrize("sent", ["1253.53501", "12345678901234.12341", "1253.534999999"])
def test_real_digits_past_the_fourth_decimal_are_still_refused(sent: str) -> None:
    parsed = PRICE_ROW.parse([{"productCode": "A1", "supplyPrice": sent}], {"fetched_at": NOW})
    assert [refusal.rule for refusal in parsed.refused] == ["supply_price: has more than 4 decimal places"]


def test_a_listing_row_without_is_sales_is_procurable_with_an_anomaly() -> None:
    parsed = PRODUCT.parse([{"productCode": "P1", "productModel": "M"}, {"productCode": "P2", "isSales": "0"}])
    assert [row["is_sales"] for row in parsed.rows] == [True, False]
    (anomaly,) = parsed.anomalies
    assert (anomaly.row_key, anomaly.field, anomaly.reason) == ("P1", "is_sales", 'missing; read as "1"')


def test_a_listing_row_without_a_code_is_refused_and_leaflets_are_a_json_list() -> None:
    parsed = PRODUCT.parse(
        [
            {"productModel": "no code"},
            {"productCode": "P1", "isSales": "1", "productLageUrls": "https://img/1.jpg"},
            {"productCode": "P2", "isSales": "1", "productLageUrls": ["https://img/2.jpg", "https://img/3.jpg"]},
            # Several URLs in one string, joined or as JSON text: they were stored as one URL that is none.
            {"productCode": "P3", "isSales": "1", "productLageUrls": "https://img/2.jpg,https://img/3.jpg"},
            {"productCode": "P4", "isSales": "1", "productLageUrls": '["https://img/2.jpg", "https://img/3.jpg"]'},
            {"productCode": "P5", "isSales": "1", "productLageUrls": "https://img/a,b.jpg"},
            {"productCode": "P6", "isSales": "1", "productLageUrls": ""},
            {"productCode": "P7", "isSales": "1", "productLageUrls": "[]"},
        ]
    )
    assert [refusal.reason for refusal in parsed.refused] == ["product_code: is missing"]
    assert [row["leaflet_urls"] for row in parsed.rows] == [
        '["https://img/1.jpg"]',
        '["https://img/2.jpg", "https://img/3.jpg"]',
        '["https://img/2.jpg", "https://img/3.jpg"]',
        '["https://img/2.jpg", "https://img/3.jpg"]',
        '["https://img/a,b.jpg"]',
        None,
        None,
    ]


def test_unknown_vendor_keys_are_counted_with_an_example() -> None:
    rows = [
        warehouse_row(etaDays="2") | {"stockNew": "30"},
        warehouse_row() | {"stockNew": "12", "secCode": "C2"},
    ]
    parsed = STOCK_ROW.parse(rows, PAIR)
    assert parsed.unknown_keys == {"stockNew": 2, "timelinessData.etaDays": 1}
    assert parsed.unknown_examples["stockNew"] == '"30"'


def test_text_that_no_database_stores_is_a_bad_value() -> None:
    parsed = PRODUCT.parse(
        [
            {"productCode": "P1", "isSales": "1", "productModel": "bad\x00model"},
            {"productCode": "P2", "isSales": "1", "productModel": "lone \ud800 surrogate"},
            {"productCode": "P\x003", "isSales": "1"},
        ]
    )
    assert [row["product_model"] for row in parsed.rows] == [None, None]
    assert [a.reason for a in parsed.anomalies] == ["contains a NUL character", "is not valid unicode"]
    assert [refusal.rule for refusal in parsed.refused] == ["product_code: contains a NUL character"]


def test_logistics_records_are_kept_whole() -> None:
    context = {"order_code": "SO.1", "source_list": "getStockDeliveryLogisticsRecord", "fetched_at": NOW}
    parsed = LOGISTICS_RECORD.parse([{"b": 1, "a": "签收"}, {"b": 1, "a": "签收"}], context)
    assert [row["record"] for row in parsed.rows] == ['{"a": "签收", "b": 1}'] * 2, "no key: nothing collapses"
    assert not parsed.unknown_keys


def test_the_gate_refuses_a_row_that_breaks_the_declared_schema() -> None:
    parsed = PRICE_ROW.parse([{"productCode": "A1", "supplyPrice": "1"}], {"fetched_at": NOW})
    parsed.rows.append({**parsed.rows[0], "invoice_price": Decimal("12345678901234.5678")})  # a duplicate key
    parsed.rows.append({**parsed.rows[0], "product_code": "B1", "supply_price": Decimal("-1")})
    assert validate(parsed) == []
    assert len(parsed.rows) == 1
    assert sorted(refusal.rule for refusal in parsed.refused) == [
        "product_code: one row per key",
        "supply_price: is a price",
    ]
    # The quarantined payload keeps the exact decimal and a readable time, not a float and epoch milliseconds.
    duplicate = json.loads(next(r.payload for r in parsed.refused if r.rule == "product_code: one row per key"))
    assert duplicate["invoice_price"] == "12345678901234.5678"
    assert duplicate["fetched_at"] == str(NOW)


def test_a_secret_the_vendor_quotes_back_is_stored_masked_and_never_shown_in_run_metadata() -> None:
    """A gateway that echoes the request (an error text quoting passWord) must not put the password in a table."""
    echoed = "Echoed-Pw-5521"
    register_secret(echoed)
    parsed = PRODUCT.parse(
        [
            {"productCode": "P1", "productModel": "M1", "isSales": "0", "noSalesReason": f"passWord {echoed} 无效"},
            {"productCode": "P2", "productModel": f"[{echoed}]", "isSales": "1", "echo": {"passWord": echoed}},
        ]
    )
    by_code = {row["product_code"]: row for row in parsed.rows}
    assert by_code["P1"]["no_sales_reason"] == "passWord ****** 无效"
    assert by_code["P2"]["product_model"] == "[******]"
    assert echoed not in json.dumps(parsed.unknown_examples, ensure_ascii=False)
    (shown,) = metadata_table(pd.DataFrame({"vendor text": [f"quoted {echoed}"]})).records
    assert "******" in shown.data["vendor text"] and echoed not in shown.data["vendor text"]


# ---- issue 25: prices are never wrong, and never withdrawn by a refusal -------------------------------------


@pytest.mark.parametrize(
    "wording", ["价格未生效", "商品暂不可采", "暂不可采", "不可采", "未生效", "价格未维护", "暂无价格", "无有效价格"]
)
def test_each_declared_not_in_effect_wording_is_a_price_not_in_effect(wording: str) -> None:
    assert wording in NOT_IN_EFFECT_WORDINGS
    for sent in (wording, f" {wording}。", f"{wording}\u3000"):
        (kept,) = PRICE_ROW.parse(
            [{"productCode": "T1", "supplyPrice": sent, "invoicePrice": "95", "marketPrice": "120"}],
            {"fetched_at": NOW},
        ).rows
        assert (kept["supply_price"], kept["invoice_price"], kept["market_price"]) == (None, None, None)
        assert kept["reason"] == sent.strip(" 。\u3000")


def test_the_vocabulary_is_exactly_the_declared_wordings() -> None:
    """A wording added here needs its case in the test above."""
    assert len(NOT_IN_EFFECT_WORDINGS) == 8


@pytest.mark.parametrize(
    "sent",
    [
        "一千二百九十九元",  # 1299 in Chinese numerals: it closed the real price version and opened a NULL one
        "壹仟贰佰玖拾玖",  # the banker's numerals
        "暂无",  # "none for now", not one of the declared wordings
        "价格未生效请联系业务员",  # a wording with more words is no declared wording
        "1299元",
        "面议",  # "to be negotiated"
    ],
)
def test_any_other_text_in_the_supply_price_refuses_the_row(sent: str) -> None:
    parsed = PRICE_ROW.parse([{"productCode": "T1", "supplyPrice": sent, "invoicePrice": "95"}], {"fetched_at": NOW})
    assert parsed.rows == []
    assert [refusal.reason for refusal in parsed.refused] == [
        f"supply_price: is not a number (got {json.dumps(sent, ensure_ascii=False)})"
    ]


@pytest.mark.parametrize("sent", ["暂无", "-1", "12345678901234567.5", {"amount": 1}])
def test_a_bad_market_price_is_null_and_an_anomaly_and_the_row_is_kept(sent: object) -> None:
    row = {"productCode": "M1", "supplyPrice": "1299.00", "invoicePrice": "1200.00", "marketPrice": sent}
    parsed = PRICE_ROW.parse([row], {"fetched_at": NOW})
    (kept,) = parsed.rows
    assert kept["supply_price"] == Decimal("1299.0000") and kept["market_price"] is None
    assert [(anomaly.row_key, anomaly.field) for anomaly in parsed.anomalies] == [("M1", "market_price")]


@pytest.mark.parametrize(
    ("sent", "fraction"),
    [("5%", "0.050000"), ("5 ％", "0.050000"), (" 3.5% ", "0.035000"), ("0%", "0.000000"), ("100%", "1.000000")],
)
def test_a_discount_written_as_a_percentage_is_read_as_its_fraction_with_an_anomaly(sent: str, fraction: str) -> None:
    row = {"productCode": "P1", "supplyPrice": "100", "invoicePrice": "95", "stockRebatePolicy": sent}
    parsed = PRICE_ROW.parse([row], {"fetched_at": NOW})
    (kept,) = parsed.rows
    assert str(kept["direct_discount"]) == fraction
    ((field, raw, reason),) = [(a.field, json.loads(a.raw_value), a.reason) for a in parsed.anomalies]
    assert (field, raw) == ("direct_discount", sent) and reason.startswith("a percentage, read as the fraction")


@pytest.mark.parametrize("sent", [5, "5", "12.5", "150%"])
def test_a_discount_above_1_is_refused_saying_it_is_ambiguous(sent: object) -> None:
    row = {"productCode": "P1", "supplyPrice": "100", "invoicePrice": "95", "stockRebatePolicy": sent}
    parsed = PRICE_ROW.parse([row], {"fetched_at": NOW})
    assert parsed.rows == []
    (refusal,) = parsed.refused
    assert refusal.rule.startswith("direct_discount: is above 1: the direct discount is a fraction")
