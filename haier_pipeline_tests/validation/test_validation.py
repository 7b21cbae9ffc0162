"""The pandera models split raw frames into loadable rows and quarantined rows with readable reasons."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from haier_pipeline import frames
from haier_pipeline.validation import PricesRaw, ProductsRaw, StockRaw, split_valid
from haier_pipeline.validation.convert import typed_prices, typed_stock

NOW = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


def test_bad_stock_rows_are_quarantined_with_the_rule_they_broke() -> None:
    answers = [
        (
            ("GA0SZC00U", "110101"),
            [
                {
                    "secCode": "C1",
                    "stock": "30",
                    "timelinessData": {"hour": "48", "isTranfer": "0", "achieveUserOrderCut": "2026-11-28"},
                },
                {"secCode": "C2", "stock": "N/A"},
                {"secCode": "C3", "stock": "5", "timelinessData": {"isTranfer": "maybe"}},
            ],
        ),
        (("GA0SZC00U", "11010"), []),
        (("GA0SZC00U", "310104"), []),
    ]
    split = split_valid(frames.stock_frame(answers, date(2026, 11, 26), NOW), StockRaw)
    assert split.rejected["reason"].tolist() == [
        "stock: must be a whole number (got 'N/A')",
        'is_transfer: must be "1" or "0" (got \'maybe\')',
        "county_code: str_matches('^\\d{6}$') (got '11010')",
    ]
    assert '"N/A"' in split.rejected["payload"].iloc[0]
    stock = typed_stock(split.valid)
    assert stock["stock"].tolist() == [30, 0], "a pair with no warehouse is one row of stock 0"
    assert stock["sec_code"].tolist() == ["C1", None]
    assert stock["delivery_date"].iloc[0] == date(2026, 11, 28) and stock["is_transfer"].iloc[0] is False


def test_prices_stay_exact_and_a_rebate_type_is_not_a_bad_discount() -> None:
    rows = [
        {
            "productCode": "A1",
            "supplyPrice": Decimal("2999.10"),
            "invoicePrice": Decimal("2849.15"),
            "stockRebatePolicy": Decimal("0.05"),
            "rebateMoney": 0,
            "isSales": "1",
        },
        {"productCode": "A2", "supplyPrice": Decimal("100"), "stockRebatePolicy": "COM", "isSales": "1"},
        {"productCode": "A3", "supplyPrice": "abc", "isSales": "1"},
        {"productCode": "A4", "isSales": "0", "reason": "价格未生效"},
    ]
    split = split_valid(frames.prices_frame(rows, NOW), PricesRaw)
    assert split.rejected["reason"].tolist() == ["supply_price: must be a decimal (got 'abc')"]
    prices = typed_prices(split.valid).set_index("product_code")
    assert prices.loc["A1", "supply_price"] == Decimal("2999.10")
    assert prices.loc["A1", "direct_discount"] == Decimal("0.05")
    assert prices.loc["A2", "direct_discount"] is None
    assert prices.loc["A4", "supply_price"] is None and prices.loc["A4", "is_sales"] is False


def test_a_missing_column_is_a_structural_failure_not_a_row_failure() -> None:
    frame = frames.products_frame([{"productCode": "A1", "isSales": "1"}]).drop(columns=["is_sales"])
    split = split_valid(frame, ProductsRaw)
    assert split.structural_errors and "is_sales" in split.structural_errors[0]
    assert split.rejected.empty
