"""`catalog`: products joined with current prices and each county's newest stock; rebuilt from the warehouse."""

from collections.abc import Iterator

import dagster as dg

from haier_pipeline.assets.common import WAREHOUSE_POOL, table_asset
from haier_pipeline.assets.step import running_step
from haier_pipeline.assets.stock_checkpoint import BACKFILL_COVERAGE
from haier_pipeline.checks.rules import catalog_covers, catalog_covers_spec
from haier_pipeline.resources import PipelineSettings
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.warehouse import WarehouseResource

CATALOG_COLUMNS = (
    "product_code, product_model, product_group, brand, is_sales, supply_price, invoice_price, rebate_type, "
    "sale_price, total_stock, counties_in_stock, counties_checked, stock_snapshot_date, best_delivery_hours, "
    "counties_last_checked, updated_at"
)
# Each configured county counts as last checked (stock_coverage says which day; a call budget may leave some
# counties to an earlier day); a county no longer configured is not asked any more, and its last answer would stay
# in the sums for ever. The quantity for a county is the sum over its warehouse rows that day; a product is "in
# stock" in a county when that sum is positive. Stock is asked only for products the account can buy: one that is
# not procurable shows none checked rather than the stock it had when it last was. The selling price follows the
# old system's rule: the market price when the vendor gives one, otherwise the supply price.
REBUILD = f"""
INSERT INTO {{schema}}.catalog ({CATALOG_COLUMNS})
WITH per_county AS (
    SELECT c.product_code, c.county_code, c.last_checked_day AS day, sum(s.stock) AS stock,
           min(CASE WHEN s.stock > 0 THEN s.delivery_hours END) AS hours
    FROM {{schema}}.stock_coverage c
    JOIN {{schema}}.stock_snapshots s ON s.snapshot_date = c.last_checked_day
         AND s.product_code = c.product_code AND s.county_code = c.county_code
    WHERE c.county_code = ANY(:counties)
    GROUP BY c.product_code, c.county_code, c.last_checked_day
), per_product AS (
    SELECT product_code, sum(stock) AS total_stock,
           sum(CASE WHEN stock > 0 THEN 1 ELSE 0 END) AS counties_in_stock,
           count(*) AS counties_checked, min(hours) AS best_delivery_hours, min(day) AS oldest_day,
           '{{' || string_agg('"' || county_code || '": "' || CAST(day AS TEXT) || '"', ', ' ORDER BY county_code)
           || '}}' AS last_checked
    FROM per_county GROUP BY product_code
)
SELECT p.product_code, p.product_model, p.product_group, p.brand, p.is_sales,
       pr.supply_price, pr.invoice_price, pr.rebate_type, coalesce(nullif(pr.market_price, 0), pr.supply_price),
       coalesce(s.total_stock, 0), coalesce(s.counties_in_stock, 0), coalesce(s.counties_checked, 0),
       s.oldest_day, s.best_delivery_hours, s.last_checked, :updated_at
FROM {{schema}}.products p
LEFT JOIN {{schema}}.prices pr ON pr.product_code = p.product_code
LEFT JOIN per_product s ON s.product_code = p.product_code AND p.is_sales IS NOT FALSE
WHERE p.is_active
"""


@table_asset(
    "catalog",
    pool=WAREHOUSE_POOL,
    deps=["products", "prices", "stock_snapshots"],
    description="One row per active product: model, group, brand, current price and selling price (market price, "
    "else supply price), and over the configured counties, each as last checked (stock_snapshot_date: the oldest of "
    "those days), the total stock, counties in stock, counties checked and best delivery time; no stock for a "
    "product not procurable. Rebuilt in SQL, no API calls.",
    check_specs=[catalog_covers_spec()],
)
def catalog(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineSettings
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    with running_step(context, warehouse) as step:
        counties = list(pipeline.counties())
        store = step.warehouse
        with store.transaction() as tx:
            tx.execute(BACKFILL_COVERAGE)
            tx.execute("DELETE FROM {schema}.catalog")
            tx.execute(REBUILD, {"updated_at": now_utc(), "counties": counties})
            coverage = tx.query(
                "SELECT p.product_code, c.product_code AS in_catalog FROM {schema}.products p "
                "LEFT JOIN {schema}.catalog c ON c.product_code = p.product_code WHERE p.is_active"
            )
            rows = int(tx.query("SELECT count(*) AS n FROM {schema}.catalog")["n"].iloc[0])
            step.total = rows
            step.close(tx, loaded=rows, message=f"{rows} catalog rows")
        missing = coverage[coverage["in_catalog"].isna()]["product_code"].tolist()
        yield catalog_covers(len(coverage), rows, missing)
        preview = store.query(
            "SELECT product_code, product_model, sale_price, total_stock, counties_in_stock, counties_checked "
            "FROM {schema}.catalog ORDER BY total_stock DESC, product_code LIMIT 5"
        )
        yield dg.MaterializeResult(metadata=step.metadata(rows, rows, preview))
