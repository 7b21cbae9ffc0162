"""What the Dagster UI shows of each step (issue 26.3), asserted on the materializations themselves: previews and
per-county figures are tables with a schema (sortable, typed), and every step's headline numbers are numeric
metadata, recorded at every materialization so the UI plots them over time."""

from __future__ import annotations

import dagster as dg

from haier_pipeline.endpoints import endpoints
from haier_pipeline_tests.pipelines import Pipeline

# Every step, every time: rows, refused, anomalies, calls, throttled.
EVERY_STEP = ("dagster/row_count", "rows_loaded", "rows_rejected", "anomalies", "api_calls", "api_throttled")
# And each step's own.
OWN = {
    "stock_snapshots": {"total_stock": int, "pairs_in_stock": int, "coverage_pct": float, "pairs": int},
    "price_history": {"versions_opened": int, "changes": int},
    "catalog": {"total_stock": int, "products_on_sale": int, "products_in_stock": int},
}
NUMERIC = {int: dg.IntMetadataValue, float: dg.FloatMetadataValue}


def materializations(pipeline: Pipeline, asset: str) -> list[dict[str, dg.MetadataValue]]:
    """The asset's materializations in the pipeline's instance, oldest first: what the UI plots from."""
    records = pipeline.instance.fetch_materializations(dg.AssetKey(asset), limit=100, ascending=True).records
    return [dict(record.asset_materialization.metadata) for record in records if record.asset_materialization]


def test_every_step_records_its_headline_numbers_as_numbers_that_the_ui_plots(pipeline: Pipeline) -> None:
    assert pipeline.run().success
    pipeline.next_day()
    assert pipeline.run(day=pipeline.today).success
    for declared in endpoints():
        series = materializations(pipeline, declared.name)
        assert len(series) == 2, f"{declared.name}: one point per run"
        for metadata in series:
            for key in EVERY_STEP:
                assert isinstance(metadata[key], dg.IntMetadataValue), f"{declared.name}.{key}: {metadata[key]!r}"
            for key, kind in OWN.get(declared.name, {}).items():
                assert isinstance(metadata[key], NUMERIC[kind]), f"{declared.name}.{key}: {metadata[key]!r}"

    # The numbers are the warehouse's: the stock of the newest day, its pairs in stock, the catalog's units.
    warehouse = pipeline.warehouse
    stock = materializations(pipeline, "stock_snapshots")[-1]
    day = warehouse.query(
        "SELECT sum(stock) AS units, count(DISTINCT product_code || '/' || county_code) AS pairs "
        "FROM {schema}.stock_snapshots WHERE snapshot_date = :day",
        {"day": pipeline.today},
    )
    in_stock = warehouse.query(
        "SELECT count(*) AS n FROM {schema}.current_stock WHERE snapshot_date = :day AND total_stock > 0",
        {"day": pipeline.today},
    )
    assert stock["total_stock"].value == int(day["units"].iloc[0]) > 0
    assert stock["pairs_in_stock"].value == int(in_stock["n"].iloc[0]) > 0
    assert stock["coverage_pct"].value == 100.0 and stock["pairs"].value == int(day["pairs"].iloc[0])
    catalog = materializations(pipeline, "catalog")[-1]
    totals = warehouse.query(
        "SELECT sum(total_stock) AS units, count(*) FILTER (WHERE is_sales) AS on_sale FROM {schema}.catalog"
    )
    assert catalog["total_stock"].value == int(totals["units"].iloc[0])
    on_sale = int(totals["on_sale"].iloc[0])
    assert catalog["products_on_sale"].value == on_sale == len(pipeline.simulator.dataset.priced_codes)
    first, second = materializations(pipeline, "price_history")
    changes = warehouse.query("SELECT count(*) AS n FROM {schema}.price_changes")["n"].iloc[0]
    assert (first["changes"].value, second["changes"].value) == (0, int(changes)) and changes > 0
    assert second["versions_opened"].value == second["changes"].value, "day two opens only versions that replace"


def test_previews_and_per_county_figures_are_tables_with_a_schema(duckdb_pipeline: Pipeline) -> None:
    pipeline = duckdb_pipeline
    assert pipeline.run().success
    stock = materializations(pipeline, "stock_snapshots")[-1]
    by_county = stock["stock_by_county"]
    assert isinstance(by_county, dg.TableMetadataValue)
    assert [(column.name, column.type) for column in by_county.schema.columns] == [
        ("county_code", "string"),
        ("total_stock", "int"),
        ("products_in_stock", "int"),
        ("products_checked", "int"),
    ]
    assert all(column.description for column in by_county.schema.columns)
    rows = [record.data for record in by_county.records]
    assert {row["county_code"] for row in rows} == set(pipeline.simulator.config.counties)
    assert sum(row["total_stock"] for row in rows) == stock["total_stock"].value
    assert [row["total_stock"] for row in rows] == sorted((row["total_stock"] for row in rows), reverse=True)

    prices = materializations(pipeline, "prices")[-1]
    preview = prices["preview"]
    assert isinstance(preview, dg.TableMetadataValue) and 0 < len(preview.records) <= 5
    columns = {column.name: column for column in preview.schema.columns}
    assert columns["product_code"].type == "string" and columns["supply_price"].type == "float"
    assert columns["supply_price"].description.startswith("Ordinary supply price"), "the table's column description"
    assert all(isinstance(record.data["supply_price"], float | None) for record in preview.records)

    api = prices["api_by_endpoint"]
    assert isinstance(api, dg.TableMetadataValue)
    (endpoint,) = [record.data for record in api.records if record.data["endpoint"] == "prices"]
    assert isinstance(endpoint["calls"], int) and endpoint["calls"] > 0
    assert {column.name: column.type for column in api.schema.columns}["p95_ms"] == "float"
    catalog = materializations(pipeline, "catalog")[-1]
    assert isinstance(catalog["preview"], dg.TableMetadataValue)
    assert {column.name: column.type for column in catalog["preview"].schema.columns}["is_sales"] == "bool"
