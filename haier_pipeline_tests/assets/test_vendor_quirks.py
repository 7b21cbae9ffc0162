"""The real client against the simulator serving every data quirk: no step crashes, no quantity is stored
wrong or silently dropped, and each quirk ends where its field's role says, on DuckDB and on Postgres."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import dagster as dg
import pandas as pd

from haier_pipeline.defs.haier_catalog.step import QUARANTINE_DAYS
from haier_pipeline.records.record import CONFLICTING_MEASURES
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.simulator.quirks import QUIRKS, hits
from haier_pipeline_tests.pipelines import Pipeline

ROW_QUIRKS = tuple(QUIRKS)
RATE = 0.15


def materialization_metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return event.materialization.metadata


def test_every_quirk_ends_where_its_role_says_and_no_step_crashes(pipeline: Pipeline) -> None:
    sim = pipeline.simulator
    sim.config.update({"quirks": list(ROW_QUIRKS), "quirk_rate": RATE})
    pipeline.max_rejected_ratio = 0.9  # this test is about where each input ends, not about the gate
    result = pipeline.run()
    assert result.success, pipeline.failures(result)
    warehouse, dataset, day, seed = pipeline.warehouse, sim.dataset, pipeline.today, sim.dataset.seed

    def quirk(name: str, *key: object) -> bool:
        return hits(seed, RATE, ROW_QUIRKS, name, *key)

    # A listing row we could not read deactivates nothing.
    products = warehouse.query("SELECT product_code, is_active, is_sales FROM {schema}.products")
    assert products["is_active"].all()
    anomalies = warehouse.query("SELECT asset, row_key, field, raw_value, reason FROM {schema}.field_anomalies")
    missing = {code for code in dataset.codes if quirk("missing_is_sales", code)}
    listed = set(products["product_code"])
    assert missing & listed, "the quirk touched some listed products"
    is_sales = dict(zip(products["product_code"], products["is_sales"], strict=True))
    assert all(is_sales[code] for code in missing & listed), "a missing isSales reads as 1"
    product_anomalies = anomalies[anomalies["asset"] == "products"]
    assert set(product_anomalies["row_key"]) == missing & listed
    assert set(product_anomalies["reason"]) == {'missing; read as "1"'}

    # Prices: text prices kept as "not in effect", rebate codes stored as the rebate type.
    prices = warehouse.query("SELECT * FROM {schema}.prices").set_index("product_code")
    key = day.isoformat()
    text_priced = [c for c in prices.index if c in dataset.priced_codes and quirk("text_prices", c, key)]
    assert text_priced
    for code in text_priced:
        assert prices.loc[code, "reason"] == "价格未生效"
        assert pd_null(prices.loc[code, "supply_price"]) and pd_null(prices.loc[code, "invoice_price"])
    coded = [c for c in prices.index if quirk("rebate_codes", c, key) and not quirk("text_prices", c, key)]
    assert coded
    for code in coded:
        assert prices.loc[code, "rebate_type"] in {"COM", "FHQ", "BF", "DTDBF"}
        assert pd_null(prices.loc[code, "direct_discount"])

    # Stock: odd side fields are NULLed and recorded; the stock itself is kept.
    stock_anomalies = anomalies[anomalies["asset"] == "stock_snapshots"]
    assert {"delivery_hours", "delivery_date", "cut_time"} <= set(stock_anomalies["field"])
    hours = stock_anomalies[stock_anomalies["field"] == "delivery_hours"]
    assert any("小时" in raw for raw in hours["raw_value"])
    stored = warehouse.query(
        "SELECT product_code, county_code, sec_code, stock, delivery_date FROM {schema}.stock_snapshots"
    )
    by_row = {(r.product_code, r.county_code, r.sec_code): r for r in stored.itertuples(index=False)}
    nulled = [tuple(row_key.split("/")) for row_key in hours["row_key"]]
    for product, county, sec_code in nulled:
        expected = next(r for r in dataset.stock_rows(product, county, day) if r["secCode"] == sec_code)
        assert by_row[(product, county, sec_code)].stock == int(expected["stock"]), "the quantity is kept"

    # Zoned times land on the Shanghai day the vendor meant.
    zoned = 0
    for (product, county, sec_code), row in by_row.items():
        for n, vendor in enumerate(dataset.stock_rows(product, county, day)):
            touched = quirk("zoned_times", product, county, key, n) and not quirk(
                "side_fields", product, county, key, n
            )
            if vendor["secCode"] == sec_code and touched:
                zoned += 1
                assert row.delivery_date == date.fromisoformat(vendor["timelinessData"]["achieveUserOrderCut"])
    assert zoned

    # Every stored county total equals the vendor's: a pair is whole or refused, never half-summed.
    totals = stored.groupby(["product_code", "county_code"])["stock"].sum()
    for (product, county), total in totals.items():
        assert total == sum(int(r["stock"]) for r in dataset.stock_rows(product, county, day))

    # Refusals carry their reasons; each refused input is counted once in sync_log.
    rejected = warehouse.query("SELECT asset, reason FROM {schema}.rejected_rows")
    reasons = " | ".join(rejected["reason"])
    for expected in (
        "refused by the API: stock: HTTP 200: expected a list of rows, got int",
        "the row is a str, not an object",
        CONFLICTING_MEASURES,
        "stock: is out of range (0 to 2147483647)",
        "refused with its pair",
    ):
        assert expected in reasons, expected
    # Two different prices for one code: neither is stored.
    conflicting = warehouse.query(
        "SELECT payload FROM {schema}.rejected_rows WHERE asset = 'prices' AND reason LIKE :rule",
        {"rule": CONFLICTING_MEASURES + "%"},
    )
    doubted = {json.loads(payload)["vendor_row"]["productCode"] for payload in conflicting["payload"]}
    assert doubted and not doubted & set(prices.index)
    log = warehouse.query("SELECT sync_type, status, failed_count FROM {schema}.sync_log").set_index("sync_type")
    for asset in ("products", "prices", "stock_snapshots"):
        assert log.loc[asset, "status"] == "partial"
        assert log.loc[asset, "failed_count"] == (rejected["asset"] == asset).sum()

    # Drift: keys no declaration knows are counted per endpoint, with an example.
    def drift(asset: str) -> dict[str, int]:
        table = materialization_metadata(result, asset)["unknown_vendor_keys"]
        assert isinstance(table, dg.TableMetadataValue), "a table the UI sorts, not Markdown"
        return {record.data["vendor_key"]: record.data["rows"] for record in table.records}

    assert drift("stock_snapshots")["stock: stockNew"] > 0
    assert drift("prices")["prices: priceVersion"] > 0
    by_field = materialization_metadata(result, "stock_snapshots")["anomalies_by_field"].value
    assert sum(by_field.values()) == len(stock_anomalies)

    # The catalog sells at the market price when there is one, else at the supply price.
    catalog = warehouse.query("SELECT product_code, supply_price, sale_price, rebate_type FROM {schema}.catalog")
    for row in catalog.itertuples(index=False):
        if row.product_code in prices.index:
            market = prices.loc[row.product_code, "market_price"]
            expected_price = row.supply_price if pd_null(market) else market
            assert (pd_null(row.sale_price) and pd_null(expected_price)) or row.sale_price == expected_price


def last_stock_status(pipeline: Pipeline) -> tuple[str, int]:
    log = pipeline.warehouse.query(
        "SELECT status, failed_count FROM {schema}.sync_log WHERE sync_type = 'stock_snapshots' "
        "ORDER BY completed_at DESC LIMIT 1"
    )
    return str(log["status"].iloc[0]), int(log["failed_count"].iloc[0])


def test_each_run_keeps_its_own_quarantine_and_anomalies_beside_earlier_runs(pipeline: Pipeline) -> None:
    """A run's refused rows and anomalies were deleted by the next run of its asset: the query an exit 3 prints
    (by run id) then found nothing, and a refused balance fetch, kept as history, lost its only record."""
    pipeline.simulator.config.update({"quirks": ["side_fields", "string_rows"], "quirk_rate": 0.2})
    pipeline.max_rejected_ratio = 0.9
    assert pipeline.run(only=["products", "stock"]).success
    first = {table: pipeline.counts()[table] for table in ("field_anomalies", "rejected_rows")}
    assert all(first.values()), first
    assert last_stock_status(pipeline)[0] == "partial", "values stored as NULL make the step partial"
    pipeline.simulator.config.update({"quirks": []})
    clean = pipeline.run(only=["stock"])
    assert clean.success
    assert {table: pipeline.counts()[table] for table in first} == first, "the earlier run's record stays"
    for table in first:
        by_run = pipeline.warehouse.query(
            f"SELECT count(*) AS n FROM {{schema}}.{table} WHERE run_id = :run", {"run": clean.run_id}
        )
        assert int(by_run["n"].iloc[0]) == 0, f"{table}: the clean run recorded nothing of its own"
    assert last_stock_status(pipeline) == ("success", 0)


def test_quarantine_older_than_its_retention_is_deleted_by_the_next_run_of_its_asset(pipeline: Pipeline) -> None:
    pipeline.simulator.config.update({"quirks": ["side_fields"], "quirk_rate": 0.2})
    assert pipeline.run(only=["products", "stock"]).success
    old = now_utc() - timedelta(days=QUARANTINE_DAYS + 1)
    with pipeline.warehouse.transaction() as tx:
        tx.execute("UPDATE {schema}.field_anomalies SET recorded_at = :old", {"old": old})
    assert pipeline.run(only=["stock"]).success
    kept = pipeline.warehouse.query("SELECT min(recorded_at) AS oldest FROM {schema}.field_anomalies")
    assert pd.Timestamp(kept["oldest"].iloc[0]).to_pydatetime() > old + timedelta(days=1)


def test_refused_listing_rows_never_deactivate_products(pipeline: Pipeline) -> None:
    pipeline.simulator.config.listing_not_procurable = True  # every product listed: any of them may go missing
    assert pipeline.run(only=["products"]).success
    sim = pipeline.simulator
    sim.config.update({"hidden_products": 2, "quirks": ["string_rows"], "quirk_rate": 0.1})
    assert pipeline.run(only=["products"]).success
    products = pipeline.warehouse.query("SELECT product_code, is_active FROM {schema}.products")
    assert products["is_active"].all(), "a listing with refused rows deactivates nothing"
    log = pipeline.warehouse.query("SELECT message FROM {schema}.sync_log ORDER BY completed_at DESC LIMIT 1")
    assert "no deactivation" in log["message"].iloc[0]
    sim.config.update({"quirks": []})
    assert pipeline.run(only=["products"]).success
    products = pipeline.warehouse.query("SELECT product_code, is_active FROM {schema}.products")
    assert set(products.loc[~products["is_active"].astype(bool), "product_code"]) == set(sim.dataset.hidden_codes(2))


def test_prices_collapse_identical_rows_and_store_neither_of_two_that_disagree(pipeline: Pipeline) -> None:
    pipeline.max_rejected_ratio = 0.9  # this test is about which rows are kept, not about the gate
    sim = pipeline.simulator
    sim.config.update({"quirks": ["duplicates"], "quirk_rate": 0.3})
    assert pipeline.run(only=["products", "prices"]).success
    dataset, key = sim.dataset, pipeline.today.isoformat()
    prices = pipeline.warehouse.query("SELECT product_code, supply_price FROM {schema}.prices").set_index(
        "product_code"
    )
    doubled = [c for c in dataset.procurable_codes if hits(dataset.seed, 0.3, ("duplicates",), "duplicates", c, key)]
    rejected = pipeline.warehouse.query("SELECT reason, payload FROM {schema}.rejected_rows WHERE asset = 'prices'")
    doubted = [json.loads(payload)["vendor_row"]["productCode"] for payload in rejected["payload"]]
    assert doubted and set(doubted) < set(doubled), "some duplicates were identical, some not"
    assert all(doubted.count(code) == 2 for code in doubted), "both rows of a code are refused, each once"
    assert all(reason.startswith(CONFLICTING_MEASURES) for reason in rejected["reason"])
    for code in doubled:
        if code in doubted:
            assert code not in prices.index, "neither of two prices is stored"
        else:
            served = dataset.price_row(code, pipeline.today).get("supplyPrice")
            stored = prices.loc[code, "supply_price"]
            assert pd_null(stored) if served is None else stored == Decimal(served), "identical rows collapse"
    log = pipeline.warehouse.query("SELECT total_count, failed_count FROM {schema}.sync_log WHERE sync_type = 'prices'")
    assert int(log["total_count"].iloc[0]) == len(dataset.procurable_codes) + len(doubled)
    assert int(log["failed_count"].iloc[0]) == len(rejected)


def pd_null(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value) in {"<NA>", "NaT"}


def test_a_price_row_for_a_code_the_call_did_not_ask_for_never_replaces_that_code_s_own_answer(
    pipeline: Pipeline,
) -> None:
    """Each batch used to be read alone and the gate then kept whichever row for a code came first: a stray row at
    1.00 in another batch's answer could stand as the price."""
    pipeline.max_rejected_ratio = 0.9
    sim = pipeline.simulator
    sim.config.update({"quirks": ["stray_rows"], "quirk_rate": 1.0})
    assert pipeline.run(only=["products", "prices"]).success
    dataset = sim.dataset
    prices = pipeline.warehouse.query("SELECT product_code, supply_price FROM {schema}.prices").set_index(
        "product_code"
    )
    assert set(prices.index) == set(dataset.procurable_codes)
    for code in dataset.procurable_codes:
        served = dataset.price_row(code, pipeline.today).get("supplyPrice")
        stored = prices.loc[code, "supply_price"]
        assert pd_null(stored) if served is None else stored == Decimal(served), code
    rejected = pipeline.warehouse.query("SELECT reason, payload FROM {schema}.rejected_rows WHERE asset = 'prices'")
    assert len(rejected) == 2, "one stray row in each of the two batches' answers"
    for reason, payload in rejected.itertuples(index=False):
        stray = json.loads(payload)["vendor_row"]
        assert reason == f"answered for a code the call did not ask for ({stray['productCode']})"
        assert stray["supplyPrice"] == "1.00"
    log = pipeline.warehouse.query("SELECT status, failed_count FROM {schema}.sync_log WHERE sync_type = 'prices'")
    assert (log["status"].iloc[0], int(log["failed_count"].iloc[0])) == ("partial", 2)
