"""Each endpoint answers with the document's field names (typos included) and the dataset's rows."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

from haier_pipeline.simulator import RunningSimulator
from haier_pipeline.simulator.dataset import TRICKY_MODELS
from haier_pipeline_tests.simulator.helpers import Api, decode

PRODUCT_KEYS = {
    "productCode",
    "productModel",
    "productGroupNamd",
    "productBrandName",
    "productImageUrl",
    "productLageUrls",
    "isSales",
    "noSalesReason",
}


def test_listing_without_codes_has_every_product_and_some_twice(sim: RunningSimulator, api: Api) -> None:
    sim.config.listing_not_procurable = True  # the whole catalog, as a gateway listing every product would
    rows = api.data("products")
    data = sim.dataset
    assert all(set(row) == PRODUCT_KEYS for row in rows)
    counts = Counter(row["productCode"] for row in rows)
    assert set(counts) == set(data.codes) and len(counts) == 120
    assert sorted(code for code, n in counts.items() if n > 1) == sorted(data.duplicate_codes)
    assert len(rows) == 120 + len(data.duplicate_codes)
    assert 2 <= len(data.duplicate_codes) <= 3
    first = rows[0]
    assert first["productCode"] == "GA0SZC00U" and first["productModel"] == "EC6001-HT3"
    assert first["productGroupNamd"] == "电热水器" and first["productBrandName"] == "海尔"
    assert all(isinstance(row["productLageUrls"], list) for row in rows)
    assert {row["productBrandName"] for row in rows} >= {"海尔", "卡萨帝", "统帅"}
    assert len({row["productGroupNamd"] for row in rows}) >= 6


def test_the_listing_without_codes_lists_procurable_products_only(sim: RunningSimulator, api: Api) -> None:
    """haier-api.md §1: "omit it to list every procurable product of the account"."""
    rows = api.data("products")
    assert {row["productCode"] for row in rows} == set(sim.dataset.procurable_codes)
    assert {row["isSales"] for row in rows} == {"1"}
    assert api.data("products", productCodes=[]) == rows, "an empty list is the same as none"


def test_not_procurable_products_carry_a_reason(sim: RunningSimulator, api: Api) -> None:
    sim.config.listing_not_procurable = True  # a gateway listing every product, procurable or not
    rows = {row["productCode"]: row for row in api.data("products")}
    not_sales = sorted(code for code, row in rows.items() if row["isSales"] == "0")
    assert not_sales == sorted(sim.dataset.not_procurable_codes)
    assert len(not_sales) == 10  # round(120 * 8 %)
    assert all(rows[code]["noSalesReason"] in ("产品未投放", "产品已退市") for code in not_sales)
    assert {row["isSales"] for row in rows.values()} == {"0", "1"}


def test_listing_with_codes_answers_only_those(sim: RunningSimulator, api: Api) -> None:
    wanted = [*sim.dataset.codes[5:8], "ZZ9ZZZ99Z"]
    rows = api.data("products", productCodes=wanted)
    assert [row["productCode"] for row in rows] == wanted[:3]
    assert (
        api.data("products", productCodes=[sim.dataset.duplicate_codes[0]])[0]["productCode"]
        == (sim.dataset.duplicate_codes[0])
    )


def test_quotes_semicolons_and_chinese_survive_in_models(sim: RunningSimulator, api: Api) -> None:
    tricky = sim.dataset.tricky_codes
    rows = api.data("products", productCodes=tricky)
    models = {row["productModel"] for row in rows}
    assert models == set(TRICKY_MODELS)
    joined = "".join(models)
    assert "'" in joined and '"' in joined and ";" in joined and "云鼎" in joined


def test_hidden_products_and_empty_listing(sim: RunningSimulator, api: Api) -> None:
    sim.config.listing_not_procurable = True
    sim.config.hidden_products = 5
    listed = {row["productCode"] for row in api.data("products")}
    assert listed == set(sim.dataset.codes[:-5])
    assert sim.dataset.hidden_codes(5) == sim.dataset.codes[-5:]
    assert api.data("products", productCodes=sim.dataset.codes[-5:]) == []
    sim.config.empty_listing = True
    assert api.data("products") == []


def test_prices_follow_the_invoice_formula(sim: RunningSimulator, api: Api) -> None:
    data = sim.dataset
    codes = data.priced_codes[:20]
    answer = api.post("prices", productCodes=codes)
    # Money travels as JSON numbers with two decimals.
    assert re.search(r'"supplyPrice":\d+\.\d\d[,}]', answer.text)
    rows = decode(answer)["data"]
    assert [row["productCode"] for row in rows] == codes
    policies = set()
    for row in rows:
        supply, policy, rebate = row["supplyPrice"], Decimal(row["stockRebatePolicy"]), row["rebateMoney"]
        assert row["isSales"] == "1"
        assert supply.as_tuple().exponent == -2
        expected = (supply * (1 - policy) - rebate).quantize(Decimal("0.01"))
        assert row["invoicePrice"] == expected
        policies.add(policy)
        if "marketPrice" in row:
            assert row["marketPrice"] > supply
    assert policies <= {Decimal("0"), Decimal("0.03"), Decimal("0.05")}
    assert row_for(api, "GA0SZC00U") == data.price_row("GA0SZC00U", sim.config.today())


def row_for(api: Api, code: str) -> dict[str, object]:
    return api.data("prices", productCodes=[code])[0]


def test_price_flags_for_unprocurable_unpriced_and_unknown_codes(sim: RunningSimulator, api: Api) -> None:
    data = sim.dataset
    assert len(data.price_not_in_effect_codes) == 6  # round(120 * 5 %)
    not_sales, no_price = data.not_procurable_codes[0], data.price_not_in_effect_codes[0]
    rows = api.data("prices", productCodes=[not_sales, no_price, "ZZ9ZZZ99Z"])
    assert [r["productCode"] for r in rows] == [not_sales, no_price, "ZZ9ZZZ99Z"]
    assert (rows[0]["isSales"], rows[0]["reason"], rows[0]["supplyPrice"]) == ("0", "商品暂不可采", None)
    assert rows[1]["reason"] == "价格未生效" and "supplyPrice" not in rows[1]
    assert (rows[2]["isSales"], rows[2]["reason"]) == ("0", "商品暂不可采")


def test_stock_rows_have_string_quantities_and_timeliness(sim: RunningSimulator, api: Api) -> None:
    data, day = sim.dataset, sim.config.today()
    pairs = [(c, k) for c in data.procurable_codes[:40] for k in sim.config.counties]
    empty = [p for p in pairs if not data.stock_rows(*p, day)]
    assert 0.1 < len(empty) / len(pairs) < 0.4
    code, county = next(p for p in pairs if len(data.stock_rows(*p, day)) >= 2)
    rows = api.data("stock", productCode=code, countyCode=county)
    assert rows == data.stock_rows(code, county, day)
    assert rows[0]["warehouseGrade"] == "0" and {r["warehouseGrade"] for r in rows[1:]} == {"1"}
    for row in rows:
        assert set(row) == {"secCode", "stock", "warehouseGrade", "timelinessData"}
        assert isinstance(row["stock"], str) and row["stock"].isdigit()
        assert re.fullmatch(r"[A-Z][1-9][A-Z][1-9]", row["secCode"])
        timeliness = row["timelinessData"]
        assert set(timeliness) == {"cutTime", "achieveUserOrderCut", "hour", "isTranfer"}
        assert re.fullmatch(r"\d\d:\d\d", timeliness["cutTime"])
        assert timeliness["achieveUserOrderCut"] > day.isoformat()
        assert timeliness["isTranfer"] in ("0", "1") and timeliness["hour"].isdigit()
    assert api.data("stock", productCode=empty[0][0], countyCode=empty[0][1]) == []


def test_stock_for_unknown_or_unprocurable_products_is_empty(sim: RunningSimulator, api: Api) -> None:
    assert api.data("stock", productCode="ZZ9ZZZ99Z") == []
    assert api.data("stock", productCode=sim.dataset.not_procurable_codes[0]) == []


def test_logistics_known_and_unknown_orders(sim: RunningSimulator, api: Api) -> None:
    lists = (
        "getAllLogisticsInfoByOrderCode",
        "getStockDeliveryLogisticsRecord",
        "getStockDeliveryLogisticsRecordThirdparty",
    )
    known = api.data("logistics")
    assert set(known) == set(lists)
    assert [len(known[name]) for name in lists] == [2, 2, 1]
    assert known[lists[0]][0]["orderCode"] == "SO.20190106.000003"
    assert sim.dataset.order_codes[0] == "SO.20190106.000003" and len(sim.dataset.order_codes) == 3
    assert api.data("logistics", orderCode="SO.20000101.000001") == {name: [] for name in lists}
    assert api.post("logistics", deliveryRecordCode="SO.20190106.000003.F1", memberId=42).status_code == 200


def test_balance_has_two_sales_organisations(api: Api) -> None:
    rows = api.data("balance")
    assert len(rows) == 2
    for row in rows:
        assert set(row) == {
            "saleGroupCode",
            "saleGroupName",
            "payerAccountCode",
            "payerAccountName",
            "payerAccountBalance",
        }
        assert row["payerAccountCode"] == "8800633175"
        assert isinstance(row["payerAccountBalance"], Decimal)
    assert [row["saleGroupCode"] for row in rows] == ["GA01", "GC02"]
