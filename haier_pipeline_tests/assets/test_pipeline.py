"""Every asset materialized in-process against the simulator, into a real DuckDB file and a real Postgres."""

from __future__ import annotations

import json
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from haier_pipeline.defs.haier_catalog import step as step_module
from haier_pipeline.simulator.dataset import is_bad_row
from haier_pipeline.warehouse.tables import create_table_sql
from haier_pipeline_tests.pipelines import Pipeline
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS

DATA_TABLES = ("products", "prices", "price_history", "stock_snapshots", "catalog", "logistics_events")


def test_a_full_run_fills_every_table_with_the_expected_rows(pipeline: Pipeline) -> None:
    # A gateway listing every product, procurable or not: the catalog keeps the others, flagged.
    pipeline.simulator.config.listing_not_procurable = True
    result = pipeline.run()
    assert result.success, pipeline.failures(result)
    dataset = pipeline.simulator.dataset
    procurable = set(dataset.procurable_codes)
    counties = pipeline.simulator.config.counties
    counts = pipeline.counts()

    assert counts["products"] == len(dataset.codes), "duplicates in the listing collapse to one row"
    assert counts["prices"] == len(procurable)
    assert counts["price_history"] == len(procurable)
    assert counts["catalog"] == len(dataset.codes)
    assert counts["account_balances"] == 2
    expected_logistics = sum(
        len(records)
        for order in ("SO.20190106.000003", "SO.20250612.004217")
        for records in dataset.logistics(order).values()
    )
    assert counts["logistics_events"] == expected_logistics
    assert counts["rejected_rows"] == 0

    pairs = pipeline.warehouse.query(
        "SELECT count(DISTINCT product_code || '/' || county_code) AS n, "
        "sum(CASE WHEN sec_code IS NULL THEN 1 ELSE 0 END) AS checked_none FROM {schema}.stock_snapshots"
    )
    assert int(pairs["n"].iloc[0]) == len(procurable) * len(counties), "every pair is asked, one call each"
    empty_pairs = sum(
        1 for code in procurable for county in counties if not dataset.stock_rows(code, county, pipeline.today)
    )
    assert int(pairs["checked_none"].iloc[0]) == empty_pairs, "'checked, none' is one row with null sec_code"

    sync = pipeline.warehouse.query("SELECT sync_type, status, api_calls FROM {schema}.sync_log ORDER BY sync_type")
    assert sorted(sync["sync_type"]) == sorted(
        [
            "products",
            "prices",
            "price_history",
            "stock_snapshots",
            "catalog",
            "account_balances",
            "logistics_events",
        ]
    )
    assert set(sync["status"]) == {"success"}
    stock_calls = int(sync.loc[sync["sync_type"] == "stock_snapshots", "api_calls"].iloc[0])
    assert stock_calls == len(procurable) * len(counties)


def test_catalog_sums_stock_over_warehouses_and_counties(pipeline: Pipeline) -> None:
    assert pipeline.run().success
    dataset = pipeline.simulator.dataset
    counties = pipeline.simulator.config.counties
    catalog = pipeline.warehouse.query("SELECT * FROM {schema}.catalog").set_index("product_code")
    for code in sorted(dataset.procurable_codes)[:10]:
        per_county = [
            sum(int(row["stock"]) for row in dataset.stock_rows(code, county, pipeline.today)) for county in counties
        ]
        assert catalog.loc[code, "total_stock"] == sum(per_county)
        assert catalog.loc[code, "counties_in_stock"] == sum(1 for quantity in per_county if quantity > 0)
        assert catalog.loc[code, "counties_checked"] == len(counties)
    price = dataset.price_row(sorted(dataset.priced_codes)[0], pipeline.today)
    assert catalog.loc[price["productCode"], "supply_price"] == Decimal(str(price["supplyPrice"]))


def test_a_second_run_of_the_same_day_changes_no_count(pipeline: Pipeline) -> None:
    assert pipeline.run().success
    first = pipeline.counts()
    first_tables = {name: pipeline.table(name, "product_code") for name in ("products", "price_history")}
    assert pipeline.run().success
    second = pipeline.counts()
    for table in DATA_TABLES:
        assert second[table] == first[table], table
    assert second["account_balances"] == 2 * first["account_balances"], "balances are history: one row per fetch"
    assert second["sync_log"] == 2 * first["sync_log"]
    assert pipeline.table("price_history", "product_code") == first_tables["price_history"]


def test_the_next_day_records_price_versions_and_a_new_stock_partition(pipeline: Pipeline) -> None:
    day_one = pipeline.today
    assert pipeline.run().success
    dataset = pipeline.simulator.dataset
    pipeline.next_day()
    day_two = pipeline.today
    changed = [
        code
        for code in dataset.priced_codes
        if dataset.price_row(code, day_one).get("supplyPrice") != dataset.price_row(code, day_two).get("supplyPrice")
    ]
    assert changed, "the simulator changes some prices from day to day"
    assert pipeline.run(day=day_two).success

    history = pipeline.warehouse.query("SELECT * FROM {schema}.price_history")
    closed = history[history["valid_to"].notna()]
    assert sorted(closed["product_code"]) == sorted(changed)
    assert len(history) == len(dataset.procurable_codes) + len(changed)
    open_versions = history[history["valid_to"].isna()].groupby("product_code").size()
    assert (open_versions == 1).all()

    days = pipeline.warehouse.query(
        "SELECT snapshot_date, count(*) AS n FROM {schema}.stock_snapshots GROUP BY snapshot_date ORDER BY 1"
    )
    assert [str(day)[:10] for day in days["snapshot_date"]] == [day_one.isoformat(), day_two.isoformat()]
    catalog_day = pipeline.warehouse.query(
        "SELECT DISTINCT stock_snapshot_date FROM {schema}.catalog WHERE stock_snapshot_date IS NOT NULL"
    )
    assert [str(day)[:10] for day in catalog_day["stock_snapshot_date"]] == [day_two.isoformat()]


def test_re_materializing_a_day_replaces_exactly_that_day(pipeline: Pipeline) -> None:
    day_one = pipeline.today
    assert pipeline.run(only=["products", "stock"]).success
    pipeline.next_day()
    assert pipeline.run(only=["stock"], day=pipeline.today).success
    before = pipeline.table("stock_snapshots", "snapshot_date, product_code, county_code, sec_code")
    assert pipeline.run(only=["stock"], day=pipeline.today).success
    after = pipeline.table("stock_snapshots", "snapshot_date, product_code, county_code, sec_code")
    day_one_rows = [row[:10] for row in before if str(row[0])[:10] == day_one.isoformat()]
    assert day_one_rows == [row[:10] for row in after if str(row[0])[:10] == day_one.isoformat()]
    assert len(after) == len(before)


def test_a_failure_in_the_middle_of_a_step_leaves_the_tables_as_before(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert pipeline.run().success
    before = {name: pipeline.table(name, "1, 2, 3") for name in DATA_TABLES}
    pipeline.simulator.config.hidden_products = 2  # the listing changes, so the step has something to write
    pipeline.next_day()

    def fail_after_the_data_writes(self: step_module.Step, tx: object, loaded: int, message: str) -> None:
        raise RuntimeError("disk full (injected after the data was written, before commit)")

    monkeypatch.setattr(step_module.Step, "close", fail_after_the_data_writes)
    result = pipeline.run(only=["products", "prices", "stock", "catalog"], day=pipeline.today)
    assert not result.success
    assert [failure.step for failure in pipeline.failures(result)] == ["products"]
    assert "disk full" in pipeline.failures(result)[0].cause
    for name in DATA_TABLES:
        assert pipeline.table(name, "1, 2, 3") == before[name], f"{name} changed although its step failed"
    failed = pipeline.warehouse.query("SELECT sync_type, message FROM {schema}.sync_log WHERE status = 'failed'")
    assert failed["sync_type"].tolist() == ["products"]
    assert "disk full" in failed["message"].iloc[0]


def test_malformed_rows_are_quarantined_and_the_rest_loads(pipeline: Pipeline) -> None:
    pipeline.simulator.config.bad_row_rate = 0.05
    result = pipeline.run(only=["products", "prices", "stock"])
    assert result.success, pipeline.failures(result)
    rejected = pipeline.warehouse.query(
        "SELECT asset, partition_key, reason, payload, run_id FROM {schema}.rejected_rows"
    )
    assert set(rejected["asset"]) >= {"stock_snapshots"}
    logged = dict(pipeline.warehouse.query("SELECT sync_type, partition_key FROM {schema}.sync_log").to_numpy())
    assert logged == {
        "products": None,
        "prices": None,
        "price_history": None,
        "stock_snapshots": pipeline.today.isoformat(),
    }
    quarantined = dict(rejected[["asset", "partition_key"]].drop_duplicates().to_numpy())
    assert quarantined == {asset: logged[asset] for asset in quarantined}, "the partition as sync_log names it"
    dataset = pipeline.simulator.dataset
    codeless = sum(1 for row in dataset.listing(0) if is_bad_row(dataset.seed, 0.05, "product", row["productCode"]))
    assert codeless > 1
    products = rejected[rejected["asset"] == "products"]
    assert len(products) == codeless, "every row without a code is quarantined on its own"
    assert set(products["reason"]) == {"product_code: is missing"}
    stock = rejected[rejected["asset"] == "stock_snapshots"]
    bad = stock[stock["reason"].str.startswith("stock: is not a number")]
    assert len(bad) > 0 and all('"N/A"' in payload for payload in bad["payload"])
    siblings = stock[~stock.index.isin(bad.index)]
    assert all(reason.startswith("refused with its pair (stock: is not a number)") for reason in siblings["reason"])
    assert set(rejected["run_id"]) == {result.run_id}
    sync = pipeline.warehouse.query("SELECT sync_type, status, failed_count, success_count FROM {schema}.sync_log")
    stock_log = sync[sync["sync_type"] == "stock_snapshots"].iloc[0]
    assert stock_log["status"] == "partial"
    assert stock_log["failed_count"] == len(stock)
    assert stock_log["success_count"] == pipeline.counts()["stock_snapshots"] > 0
    refused_pairs = {(p["product_code"], p["county_code"]) for p in map(json.loads, stock["payload"])}
    stored_pairs = pipeline.warehouse.query(
        "SELECT DISTINCT product_code, county_code FROM {schema}.stock_snapshots"
    ).itertuples(index=False)
    assert refused_pairs.isdisjoint(set(map(tuple, stored_pairs))), "a refused pair is not checked, never half-summed"


def test_too_many_rejected_rows_fail_the_blocking_gate_and_write_nothing(pipeline: Pipeline) -> None:
    pipeline.simulator.config.bad_row_rate = 0.02  # a few refusals, under the tolerated share: quarantined
    assert pipeline.run(only=["products", "stock"]).success
    before = pipeline.table("stock_snapshots", "1, 2, 3, 4")
    quarantine_before = pipeline.table("rejected_rows", "1, 2, 3, 4, 5, 6")
    assert quarantine_before, "the first run quarantined something"
    pipeline.simulator.config.bad_row_rate = 0.5
    result = pipeline.run(only=["stock"])
    assert not result.success
    (failure,) = pipeline.failures(result)
    assert failure.step == "stock_snapshots"
    assert "schema_gate" in failure.cause and "HAIER_MAX_REJECTED_RATIO" in failure.cause
    assert "refused_sample" in failure.cause
    assert pipeline.table("stock_snapshots", "1, 2, 3, 4") == before
    assert pipeline.table("rejected_rows", "1, 2, 3, 4, 5, 6") == quarantine_before, "the last run's quarantine stays"
    evaluations = [
        event.event_specific_data for event in result.all_events if event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    gate = next(evaluation for evaluation in evaluations if evaluation.check_name == "schema_gate")
    assert gate.passed is False
    sample = gate.metadata["refused_sample"].value
    assert len(sample) == 20 and all(row["reason"] and isinstance(row["payload"], dict) for row in sample)


def test_the_deactivation_guard_blocks_an_empty_listing(pipeline: Pipeline) -> None:
    assert pipeline.run().success
    before = pipeline.table("products", "product_code")
    catalog_before = pipeline.table("catalog", "product_code")
    pipeline.simulator.config.empty_listing = True
    result = pipeline.run(only=["products", "prices", "catalog"])
    assert not result.success
    assert [failure.step for failure in pipeline.failures(result)] == ["products"]
    assert "deactivation_guard" in pipeline.failures(result)[0].cause
    assert pipeline.table("products", "product_code") == before
    assert pipeline.table("catalog", "product_code") == catalog_before
    started = {event.step_key for event in result.all_events if event.event_type_value == "STEP_START"}
    assert started == {"products"}, "nothing downstream of a failed blocking check runs"


def test_missing_products_become_inactive_never_deleted(pipeline: Pipeline) -> None:
    pipeline.simulator.config.listing_not_procurable = True  # every product listed: any of them may go missing
    assert pipeline.run(only=["products"]).success
    first_seen = dict(
        pipeline.warehouse.query("SELECT product_code, first_seen_at FROM {schema}.products").itertuples(index=False)
    )
    pipeline.simulator.config.hidden_products = 3
    assert pipeline.run(only=["products", "catalog"]).success
    products = pipeline.warehouse.query("SELECT * FROM {schema}.products").set_index("product_code")
    hidden = set(pipeline.simulator.dataset.hidden_codes(3))
    assert len(products) == len(pipeline.simulator.dataset.codes)
    assert set(products.index[~products["is_active"].astype(bool)]) == hidden
    assert all(products.loc[code, "first_seen_at"] == first_seen[code] for code in products.index)
    assert (products.loc[sorted(hidden), "last_seen_at"] < products["last_seen_at"].max()).all()
    assert pipeline.counts()["catalog"] == len(products) - 3


def test_a_product_no_longer_procurable_or_listed_has_no_current_price(pipeline: Pipeline) -> None:
    """Its last price stayed in `prices`, open in `price_history` and in the catalog as if it were current."""
    assert pipeline.run(only=["products", "prices", "catalog"]).success
    procurable = pipeline.simulator.dataset.procurable_codes
    (hidden,) = pipeline.simulator.dataset.hidden_codes(1)
    assert hidden in procurable, "the simulator hides a procurable product"
    refused, unknown = [code for code in procurable if code != hidden][:2]
    # The listing now says `refused` is not procurable, and `hidden` is gone; `unknown`'s isSales is unreadable.
    pipeline.simulator.config.hidden_products = 1
    assert pipeline.run(only=["products"]).success
    with pipeline.warehouse.transaction() as tx:
        tx.execute("UPDATE {schema}.products SET is_sales = FALSE WHERE product_code = :code", {"code": refused})
        tx.execute("UPDATE {schema}.products SET is_sales = NULL WHERE product_code = :code", {"code": unknown})
    pipeline.simulator.reset_counters()
    assert pipeline.run(only=["prices", "catalog"]).success
    priced = set(pipeline.warehouse.query("SELECT product_code FROM {schema}.prices")["product_code"])
    assert hidden not in priced and refused not in priced and unknown in priced, "an unreadable flag is asked"
    open_versions = pipeline.warehouse.query(
        "SELECT product_code FROM {schema}.price_history WHERE valid_to IS NULL AND product_code IN (:a, :b)",
        {"a": hidden, "b": refused},
    )
    assert open_versions.empty, "their versions are closed"
    catalog = pipeline.warehouse.query(
        "SELECT supply_price, sale_price FROM {schema}.catalog WHERE product_code = :code", {"code": refused}
    )
    assert catalog.isna().all(axis=None), "the catalog shows no price for a product not procurable"
    message = pipeline.warehouse.query(
        "SELECT message FROM {schema}.sync_log WHERE sync_type = 'prices' ORDER BY completed_at DESC LIMIT 1"
    )["message"].iloc[0]
    assert "2 withdrawn (no longer among the active procurable products)" in message


def test_the_catalog_sells_at_the_market_price_when_given_and_a_market_price_of_0_is_none(pipeline: Pipeline) -> None:
    """The vendor writes 0 for "none" on its side amounts: a market price of 0 made the selling price 0."""
    assert pipeline.run(only=["products", "prices"]).success
    given, zero, *_ = pipeline.simulator.dataset.priced_codes
    with pipeline.warehouse.transaction() as tx:
        tx.execute("UPDATE {schema}.prices SET market_price = 1234.5 WHERE product_code = :code", {"code": given})
        tx.execute("UPDATE {schema}.prices SET market_price = 0 WHERE product_code = :code", {"code": zero})
    assert pipeline.run(only=["catalog"]).success
    catalog = pipeline.warehouse.query(
        "SELECT product_code, supply_price, sale_price FROM {schema}.catalog WHERE product_code IN (:a, :b)",
        {"a": given, "b": zero},
    ).set_index("product_code")
    assert catalog.loc[given, "sale_price"] == Decimal("1234.5")
    assert catalog.loc[zero, "sale_price"] == catalog.loc[zero, "supply_price"] > 0


def test_quotes_semicolons_and_chinese_survive_the_round_trip(pipeline: Pipeline) -> None:
    assert pipeline.run(only=["products", "catalog"]).success
    dataset = pipeline.simulator.dataset
    stored = dict(
        pipeline.warehouse.query("SELECT product_code, product_model FROM {schema}.catalog").itertuples(index=False)
    )
    tricky = dataset.tricky_codes
    assert tricky
    for code in tricky:
        assert stored[code] == dataset.by_code[code].model
    groups = pipeline.warehouse.query("SELECT DISTINCT product_group FROM {schema}.products")["product_group"]
    assert any("\u4e00" <= char <= "\u9fff" for group in groups for char in group)


def test_no_secret_appears_in_any_table(pipeline: Pipeline) -> None:
    pipeline.simulator.config.bad_row_rate = 0.05
    assert pipeline.run().success
    pipeline.simulator.config.bad_row_rate = 0.0
    pipeline.simulator.config.empty_listing = True
    assert not pipeline.run(only=["products"]).success
    dump = "\n".join(str(pipeline.table(name)) for name in pipeline.counts())
    assert pipeline.counts()["rejected_rows"] > 0 and len(dump) > 1000
    for secret in (SIMULATOR_CREDENTIALS["client_secret"], SIMULATOR_CREDENTIALS["password"], "eyJ"):
        assert secret not in dump, "no secret (and no JWT token) in any table"


def test_items_unanswered_after_every_retry_are_a_delivery_failure_named_in_the_step(pipeline: Pipeline) -> None:
    assert pipeline.run(only=["products"]).success
    sim = pipeline.simulator
    down = sorted(sim.dataset.procurable_codes)[0]
    sim.config.update({"unavailable_products": [down]})
    result = pipeline.run(only=["stock"])
    assert result.success, "answered pairs are written; the step is partial"
    counties = sim.config.counties
    run = pipeline.instance.get_run_by_id(result.run_id)
    assert run is not None and run.tags["haier/unanswered"] == str(len(counties)), "sync exits 3, the alert fires"
    log = pipeline.warehouse.query(
        "SELECT status, unanswered_count, failed_count, message FROM {schema}.sync_log WHERE run_id = :run",
        {"run": result.run_id},
    ).iloc[0]
    assert (log["status"], log["unanswered_count"], log["failed_count"]) == ("partial", len(counties), len(counties))
    named = log["message"].split(f"{len(counties)} unanswered after every retry: ")[1]
    assert sorted(named.split(", ")) == sorted(f"{down}/{county}" for county in counties), "the step names them"
    rejected = pipeline.warehouse.query("SELECT reason, payload FROM {schema}.rejected_rows")
    assert all(reason.startswith("unanswered after every retry: stock: HTTP 503") for reason in rejected["reason"])
    stored = pipeline.warehouse.query("SELECT DISTINCT product_code FROM {schema}.stock_snapshots")["product_code"]
    assert down not in set(stored) and len(stored) == len(sim.dataset.procurable_codes) - 1
    calls = sim.counters.snapshot()["statuses"]["stock"]["503"]
    assert calls == len(counties) * 8, "3 retries, then one more pass with its own 3 retries, per pair"


def test_a_price_column_added_by_an_upgrade_opens_no_false_versions(pipeline: Pipeline) -> None:
    """A warehouse from before rebate_type: the upgrade adds the column (NULL in every version so far). Its first
    values are adopted by the open versions; only a real change opens a version afterwards."""
    assert pipeline.run(only=["products", "prices"]).success
    typed_codes = pipeline.warehouse.query(
        "SELECT product_code FROM {schema}.prices WHERE rebate_type IS NOT NULL ORDER BY 1"
    )["product_code"]
    late = typed_codes.iloc[:2].tolist()  # their prices go unanswered in the first fetch after the upgrade
    with pipeline.warehouse.transaction() as tx:
        tx.execute("DROP VIEW {schema}.price_changes")  # a version from before the views (Postgres keeps it bound)
        for name in ("prices", "price_history"):  # rebuilt without the column (DuckDB drops none an index follows)
            table = pipeline.warehouse.tables[name]
            kept = [column for column in table.columns if column.name != "rebate_type"]
            old_shape = sa.Table(
                name,
                sa.MetaData(schema=table.schema),
                *(sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in kept),
            )
            columns = ", ".join(column.name for column in kept)
            tx.execute(f"CREATE TABLE {{schema}}.old_{name} AS SELECT {columns} FROM {{schema}}.{name}")
            tx.execute(f"DROP TABLE {{schema}}.{name}")
            tx.execute(create_table_sql(old_shape))
            tx.execute(f"INSERT INTO {{schema}}.{name} ({columns}) SELECT {columns} FROM {{schema}}.old_{name}")
            tx.execute(f"DROP TABLE {{schema}}.old_{name}")
    pipeline.warehouse.ensure_schema()  # what the upgraded pipeline does when it starts
    added = pipeline.table("schema_changes", "1, 2")
    assert [(table, column) for table, column, *_ in added] == [
        ("price_history", "rebate_type"),
        ("prices", "rebate_type"),
    ]

    history_before = pipeline.warehouse.query("SELECT count(*) AS n FROM {schema}.price_history")["n"].iloc[0]
    open_rebates = "SELECT product_code, rebate_type FROM {schema}.price_history WHERE valid_to IS NULL"
    settled = "SELECT table_name FROM {schema}.schema_changes WHERE settled_at IS NOT NULL"

    def adopting(result: dg.ExecuteInProcessResult) -> tuple[int, int]:
        (event,) = [
            e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "price_history"
        ]
        metadata = event.materialization.metadata
        return metadata["versions_opened"].value, metadata["versions_adopting_new_columns"].value

    pipeline.simulator.config.update({"unavailable_products": late})
    first = pipeline.run(only=["products", "prices"])
    assert first.success
    prices = pipeline.warehouse.query("SELECT product_code, rebate_type FROM {schema}.prices")
    typed = prices["rebate_type"].notna().sum()
    assert typed > 0, "the simulator sends rebate types"
    assert adopting(first) == (0, typed)
    versions = dict(pipeline.warehouse.query(open_rebates).itertuples(index=False))
    assert len(versions) == history_before
    assert versions == dict(prices.itertuples(index=False))
    assert [versions[code] for code in late] == [None, None], "not fetched since the upgrade: nothing to adopt yet"
    assert pipeline.warehouse.query(settled).empty, "the column waits for the prices not fetched yet"

    pipeline.simulator.config.update({"unavailable_products": []})
    second = pipeline.run(only=["prices"])
    assert second.success
    assert adopting(second) == (0, len(late)), "adopted when fetched, not opened as a new version"
    prices = pipeline.warehouse.query("SELECT product_code, rebate_type FROM {schema}.prices")
    assert dict(pipeline.warehouse.query(open_rebates).itertuples(index=False)) == dict(prices.itertuples(index=False))
    assert list(pipeline.warehouse.query(settled)["table_name"]) == ["price_history"]

    # Once adopted, the column is tracked like any other: a rebate type that changes opens a version.
    with pipeline.warehouse.transaction() as tx:
        code = tx.execute_count(
            "UPDATE {schema}.price_history SET rebate_type = 'XX' WHERE valid_to IS NULL AND product_code = :code",
            {"code": str(prices["product_code"].iloc[0])},
        )
    assert code == 1
    assert pipeline.run(only=["prices"]).success
    versions = pipeline.warehouse.query("SELECT count(*) AS n FROM {schema}.price_history")["n"].iloc[0]
    assert versions == history_before + 1


def test_a_failure_the_pipeline_foresaw_is_the_headline_of_the_step_failure(pipeline: Pipeline) -> None:
    """The UI headed an API refusal with Dagster's "Error occurred while executing op" and its stack, the cause
    below them; a defect (an error nobody foresaw) keeps its stack as the headline."""
    pipeline.simulator.config.update({"account_refusal": "约定密码错误"})
    result = pipeline.run(only=["products"])
    (event,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    failure = event.step_failure_data
    assert failure.user_failure_data is not None, "a dg.Failure: its description is what the UI shows first"
    assert failure.user_failure_data.description.startswith("HaierBusinessError: products: the API refused")
    assert "约定密码错误" in failure.user_failure_data.description
    assert failure.error.cause is not None and failure.error.cause.cls_name == "HaierBusinessError"
    assert [f.cause for f in pipeline.failures(result)] == [failure.user_failure_data.description]
