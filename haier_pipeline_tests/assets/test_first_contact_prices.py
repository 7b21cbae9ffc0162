"""Issue 25: prices are never wrong, and never withdrawn by a refusal. The simulator's price switches through the real
client and the assets, on DuckDB and on Postgres."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from haier_pipeline.defs.outcomes import UNANSWERED_TAG
from haier_pipeline.simulator.alternatives import NO_MARKET_PRICE, chinese_numerals
from haier_pipeline_tests.pipelines import Pipeline

STEPS = ["products", "prices", "catalog"]  # prices takes price_history with it
CATALOG_PRICE = "SELECT supply_price, sale_price FROM {schema}.catalog WHERE product_code = :code"


def one(pipeline: Pipeline, sql: str, code: str) -> dict[str, Any]:
    frame = pipeline.warehouse.query(sql, {"code": code})
    assert len(frame) == 1, frame
    return {key: (None if value != value else value) for key, value in frame.iloc[0].to_dict().items()}


def state_of(pipeline: Pipeline, code: str) -> dict[str, Any]:
    """The product's current price, its price versions, and its catalog row."""
    versions = pipeline.warehouse.query(
        "SELECT supply_price, valid_from, valid_to FROM {schema}.price_history WHERE product_code = :code "
        "ORDER BY valid_from",
        {"code": code},
    )
    return {
        "price": one(pipeline, "SELECT * FROM {schema}.prices WHERE product_code = :code", code),
        "versions": [tuple(row) for row in versions.astype(object).itertuples(index=False)],
        "catalog": one(pipeline, CATALOG_PRICE, code),
    }


def priced_code(pipeline: Pipeline, *, discounted: bool | None = None) -> str:
    dataset, day = pipeline.simulator.dataset, pipeline.today
    for code in dataset.priced_codes:
        if discounted is None or bool(dataset.price_row(code, day)["stockRebatePolicy"]) is discounted:
            return code
    raise AssertionError("no such product")


def test_a_price_that_turns_into_chinese_numerals_stays_current_and_the_refusal_is_visible(pipeline: Pipeline) -> None:
    """It was read as "not in effect": the real price version closed, a NULL one opened, sync_log said success and
    nothing was in rejected_rows or field_anomalies."""
    assert pipeline.run(only=STEPS).success
    code = priced_code(pipeline)
    before = state_of(pipeline, code)
    assert before["price"]["supply_price"] is not None and len(before["versions"]) == 1

    pipeline.next_day()
    pipeline.simulator.config.numeral_prices = (code,)
    result = pipeline.run(only=STEPS)
    assert result.success, pipeline.failures(result)

    after = state_of(pipeline, code)
    assert after == before, "yesterday's price stays current: prices, its open version and the catalog alike"
    others = pipeline.warehouse.query(
        "SELECT count(*) AS n FROM {schema}.prices WHERE fetched_at > :at", {"at": before["price"]["fetched_at"]}
    )
    assert int(others["n"].iloc[0]) > 0, "the other prices were fetched again"
    rejected = pipeline.warehouse.query("SELECT asset, reason, payload FROM {schema}.rejected_rows")
    (refusal,) = rejected.itertuples(index=False)
    supply = pipeline.simulator.dataset.price_row(code, pipeline.today)["supplyPrice"]
    assert refusal.asset == "prices" and refusal.reason.startswith("supply_price: is not a number")
    assert code in refusal.payload and chinese_numerals(supply) in refusal.payload
    status = pipeline.warehouse.query(
        "SELECT status FROM {schema}.sync_log WHERE sync_type = 'prices' ORDER BY completed_at DESC LIMIT 1"
    )
    assert status["status"].iloc[0] == "partial"
    run = pipeline.instance.get_run_by_id(result.run_id)
    assert run is not None and UNANSWERED_TAG not in run.tags, "refused, not unanswered: sync exits 0"


def test_a_text_market_price_is_null_and_an_anomaly_and_the_catalog_sells_at_the_supply_price(
    pipeline: Pipeline,
) -> None:
    """A measure before, it refused the whole row, valid supply price included."""
    code = priced_code(pipeline)
    pipeline.simulator.config.text_market_prices = (code,)
    result = pipeline.run(only=STEPS)
    assert result.success, pipeline.failures(result)
    state = state_of(pipeline, code)
    supply = pipeline.simulator.dataset.price_row(code, pipeline.today)["supplyPrice"]
    assert state["price"]["supply_price"] == supply and state["price"]["market_price"] is None
    assert state["catalog"]["sale_price"] == supply
    anomaly = one(pipeline, "SELECT * FROM {schema}.field_anomalies WHERE row_key = :code", code)
    expected = ("prices", "market_price", f'"{NO_MARKET_PRICE}"')
    assert (anomaly["asset"], anomaly["field"], anomaly["raw_value"]) == expected
    assert pipeline.counts()["rejected_rows"] == 0


def test_a_percentage_discount_is_stored_as_its_fraction_with_an_anomaly(pipeline: Pipeline) -> None:
    code = priced_code(pipeline, discounted=False)
    pipeline.simulator.config.percent_discounts = (code,)
    result = pipeline.run(only=STEPS)
    assert result.success, pipeline.failures(result)
    price = state_of(pipeline, code)["price"]
    assert price["direct_discount"] == Decimal("0.05")
    assert price["invoice_price"] == (price["supply_price"] * Decimal("0.95") - price["rebate_money"]).quantize(
        Decimal("0.01")
    )
    version = one(pipeline, "SELECT direct_discount FROM {schema}.price_history WHERE product_code = :code", code)
    assert version["direct_discount"] == Decimal("0.05")
    anomaly = one(pipeline, "SELECT * FROM {schema}.field_anomalies WHERE row_key = :code", code)
    assert (anomaly["field"], anomaly["raw_value"]) == ("direct_discount", '"5%"')
    assert anomaly["reason"] == "a percentage, read as the fraction 0.05"
