"""The catalog: no call of its own, products joined with current prices and each county's newest stock."""

from __future__ import annotations

import pandas as pd

from haier_pipeline.endpoints.declaration import (
    AfterParents,
    Column,
    Endpoint,
    Outcome,
    Pool,
    Rebuild,
    Rule,
    Table,
    columns_of,
)
from haier_pipeline.endpoints.prices import PRICE_ROW
from haier_pipeline.endpoints.products import PRODUCT
from haier_pipeline.endpoints.stock_snapshots import BACKFILL_COVERAGE, STOCK_DAY
from haier_pipeline.records.kinds import BIG_COUNT, COUNT, DAY, FLAG, JSON, MOMENT, PRICE

COLUMNS = (
    *columns_of(PRODUCT, "product_code", "product_model", "product_group", "brand"),
    Column(
        "is_sales",
        FLAG,
        "Procurable: false when the listing or the price row says the product is not procurable, or its price is not "
        "in effect (a price row without a supply price); else the listing's flag (the price row's when the listing's "
        "could not be read).",
    ),
    *columns_of(PRICE_ROW, "supply_price", "invoice_price", "rebate_type"),
    Column(
        "sale_price",
        PRICE,
        "Selling price: the market price when the vendor gives one (0 counts as none), else the supply price.",
    ),
    Column(
        "total_stock",
        BIG_COUNT,
        "Units over every configured county and warehouse, each county as last checked; null when no configured "
        "county was ever checked (and for a product the listing says is not procurable, whose stock is not asked).",
    ),
    Column("counties_in_stock", COUNT, "Counties with stock when last checked."),
    Column(
        "counties_checked",
        COUNT,
        "Configured counties checked (see counties_last_checked); 0 for a product not procurable, whose stock is "
        "not asked.",
    ),
    Column("stock_snapshot_date", DAY, "The oldest of the days the totals come from; null when never checked."),
    Column("best_delivery_hours", COUNT, "Shortest delivery lead time among counties in stock."),
    Column(
        "counties_last_checked",
        JSON,
        'When each county was last checked: {"110101": "2026-11-26", ...} (JSON); the totals use that day.',
    ),
    Column("updated_at", MOMENT, "When the catalog was rebuilt."),
)
NAMES = ", ".join(column.name for column in COLUMNS)

# Each configured county counts as last checked (stock_coverage says which day; a call budget may leave some
# counties to an earlier day); a county no longer configured is not asked any more, and its last answer would stay
# in the sums for ever. The quantity for a county is the sum over its warehouse rows that day; a product is "in
# stock" in a county when that sum is positive. Stock is asked only for products the account can buy: one that is
# not procurable shows none checked rather than the stock it had when it last was, and a product never checked has no
# total (NULL, not 0: 0 is "checked, none"). A product is not for sale when the listing or its price row says so, or
# when its price is not in effect (the price row has no supply price): the listing's flag alone ranked unbuyable
# products among the best-stocked. The selling price follows the old system's rule: the market price when the vendor
# gives one, otherwise the supply price. Bound at run time: :account, its :counties (the configured counties) and
# :updated_at.
REBUILD = f"""
INSERT INTO {{schema}}.catalog (account, {NAMES})
WITH per_county AS (
    SELECT c.product_code, c.county_code, c.last_checked_day AS day, sum(s.stock) AS stock,
           min(CASE WHEN s.stock > 0 THEN s.delivery_hours END) AS hours
    FROM {{schema}}.stock_coverage c
    JOIN {{schema}}.stock_snapshots s ON s.account = c.account AND s.snapshot_date = c.last_checked_day
         AND s.product_code = c.product_code AND s.county_code = c.county_code
    WHERE c.account = :account AND c.county_code = ANY(:counties)
    GROUP BY c.product_code, c.county_code, c.last_checked_day
), per_product AS (
    SELECT product_code, sum(stock) AS total_stock,
           sum(CASE WHEN stock > 0 THEN 1 ELSE 0 END) AS counties_in_stock,
           count(*) AS counties_checked, min(hours) AS best_delivery_hours, min(day) AS oldest_day,
           '{{' || string_agg('"' || county_code || '": "' || CAST(day AS TEXT) || '"', ', ' ORDER BY county_code)
           || '}}' AS last_checked
    FROM per_county GROUP BY product_code
)
SELECT p.account, p.product_code, p.product_model, p.product_group, p.brand,
       CASE WHEN p.is_sales IS FALSE OR pr.is_sales IS FALSE
                 OR (pr.product_code IS NOT NULL AND pr.supply_price IS NULL) THEN FALSE
            ELSE coalesce(p.is_sales, pr.is_sales) END,
       pr.supply_price, pr.invoice_price, pr.rebate_type, coalesce(nullif(pr.market_price, 0), pr.supply_price),
       s.total_stock, coalesce(s.counties_in_stock, 0), coalesce(s.counties_checked, 0),
       s.oldest_day, s.best_delivery_hours, s.last_checked, :updated_at
FROM {{schema}}.products p
LEFT JOIN {{schema}}.prices pr ON pr.account = p.account AND pr.product_code = p.product_code
LEFT JOIN per_product s ON s.product_code = p.product_code AND p.is_sales IS NOT FALSE
WHERE p.account = :account AND p.is_active
"""


def covers_every_active_product(rows: pd.DataFrame, active: pd.DataFrame) -> Outcome:
    missing = sorted(set(active["product_code"]) - set(rows["product_code"]))
    return Outcome(
        passed=not missing and len(rows) == len(active),
        description=f"{len(rows)} catalog rows for {len(active)} active products; {len(missing)} missing.",
        metadata={"active_products": len(active), "catalog_rows": len(rows), "missing": missing[:10]},
    )


def headline(rows: pd.DataFrame) -> dict[str, int | float]:
    """The catalog's numbers the UI plots: what can be bought, what is in stock, and the units."""
    on_sale = rows["is_sales"].fillna(False).astype(bool)
    stock = pd.to_numeric(rows["total_stock"], errors="coerce")
    return {
        "products_on_sale": int(on_sale.sum()),
        "products_in_stock": int((stock > 0).sum()),
        "products_never_checked": int(stock.isna().sum()),
        "total_stock": int(stock.fillna(0).sum()),
    }


catalog = Endpoint(
    name="catalog",
    description="One row per active product: model, group, brand, whether it can be bought (listing and price row "
    "agree, price in effect), current price and selling price (market price, else supply price), and over the "
    "configured counties, each as last checked (stock_snapshot_date: the oldest of those days), the total stock "
    "(null when never checked), counties in stock, counties checked and best delivery time; no stock for a product "
    "not procurable. Rebuilt in SQL, no API calls.",
    write=Rebuild((BACKFILL_COVERAGE, REBUILD), figures=headline),
    table=Table(
        comment="One row per active product: products, current prices and the newest stock day, rebuilt in SQL.",
        key=("product_code",),
        columns=COLUMNS,
    ),
    deps=("products", "prices", "stock_snapshots"),
    pool=Pool.WAREHOUSE,
    cadence=AfterParents(),
    freshness=STOCK_DAY,
    rules=(
        Rule(
            "covers_every_active_product",
            "The catalog has one row per active product.",
            covers_every_active_product,
            reference="SELECT product_code FROM {schema}.products WHERE account = :account AND is_active",
            error=True,
        ),
    ),
)
