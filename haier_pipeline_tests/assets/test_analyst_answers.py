"""What analysts read (issue 26): the catalog sells only what both the listing and the price row allow, a stock total
never checked is NULL, and the views answer with the pipeline's own data, on DuckDB and Postgres."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd

from haier_pipeline.endpoints.catalog import catalog
from haier_pipeline.endpoints.declaration import Rebuild
from haier_pipeline.warehouse.warehouse import Warehouse
from haier_pipeline_tests.pipelines import Pipeline

AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
DAY = date(2026, 12, 1)

# product code -> (listing's is_sales, the price row as (is_sales, supply price, reason) or None), expected is_sales.
PRODUCTS = {
    "ON_SALE": (True, (True, "1299.0000", None), True),
    "PRICE_SAYS_NO": (True, (False, None, "商品暂不可采"), False),
    "NOT_IN_EFFECT": (True, (True, None, "价格未生效"), False),  # a not-in-effect wording: kept, no price
    "LISTING_SAYS_NO": (False, (True, "10.0000", None), False),
    "LISTING_UNREAD": (None, (True, "20.0000", None), True),  # the price row says what the vendor offers
    "LISTING_UNREAD_NO_PRICE": (None, None, None),
    "NOT_PRICED_YET": (True, None, True),
}


def rebuild_catalog(warehouse: Warehouse, counties: list[str]) -> pd.DataFrame:
    assert isinstance(catalog.write, Rebuild)
    with warehouse.transaction() as tx:
        tx.execute("DELETE FROM {schema}.catalog WHERE account = :account")
        for statement in catalog.write.statements:
            tx.execute(statement, {"updated_at": AT, "counties": counties})
    return warehouse.query("SELECT * FROM {schema}.catalog").set_index("product_code")


def test_the_catalog_sells_only_what_the_listing_and_the_price_row_both_allow(pipeline: Pipeline) -> None:
    warehouse = pipeline.warehouse
    with warehouse.transaction() as tx:
        for code, (listed, price, _) in PRODUCTS.items():
            tx.execute(
                "INSERT INTO {schema}.products (account, product_code, is_sales, is_active) "
                "VALUES (:account, :code, :listed, true)",
                {"code": code, "listed": listed},
            )
            if price is not None:
                on_sale, supply, reason = price
                tx.execute(
                    "INSERT INTO {schema}.prices (account, product_code, is_sales, supply_price, reason, fetched_at) "
                    "VALUES (:account, :code, :on_sale, :supply, :reason, :at)",
                    {
                        "code": code,
                        "on_sale": on_sale,
                        "supply": None if supply is None else Decimal(supply),
                        "reason": reason,
                        "at": AT,
                    },
                )
        # ON_SALE was checked in one county: 3 + 4 units in two warehouses; the rest never were.
        for sec_code, stock in (("S1", 3), ("S2", 4)):
            tx.execute(
                "INSERT INTO {schema}.stock_snapshots (account, snapshot_date, product_code, county_code, sec_code, "
                "stock, fetched_at) VALUES (:account, :day, 'ON_SALE', '110101', :sec, :stock, :at)",
                {"day": DAY, "sec": sec_code, "stock": stock, "at": AT},
            )
        tx.execute(
            "INSERT INTO {schema}.stock_coverage (account, product_code, county_code, last_checked_day) "
            "VALUES (:account, 'ON_SALE', '110101', :day)",
            {"day": DAY},
        )
    rows = rebuild_catalog(warehouse, ["110101", "310104"])
    found = {code: (None if pd.isna(value) else bool(value)) for code, value in rows["is_sales"].items()}
    assert found == {code: expected for code, (_, _, expected) in PRODUCTS.items()}
    assert rows.loc["ON_SALE", "total_stock"] == 7 and rows.loc["ON_SALE", "counties_checked"] == 1
    never_checked = rows.drop(index="ON_SALE")
    assert never_checked["total_stock"].isna().all(), "never checked: NULL, not 0 (0 is 'checked, none')"
    assert (never_checked["counties_checked"] == 0).all()


def test_a_catalog_built_before_any_stock_step_has_no_totals_then_the_stock_step_gives_them(
    pipeline: Pipeline,
) -> None:
    assert pipeline.run(only=["products", "prices", "catalog"]).success
    before = pipeline.warehouse.query("SELECT total_stock, counties_checked FROM {schema}.catalog")
    assert len(before) and before["total_stock"].isna().all() and (before["counties_checked"] == 0).all()
    assert pipeline.run(only=["stock", "catalog"]).success
    after = pipeline.warehouse.query("SELECT product_code, is_sales, total_stock FROM {schema}.catalog")
    on_sale = after[after["is_sales"].astype(bool)]
    assert len(on_sale) and on_sale["total_stock"].notna().all()


def test_the_best_stocked_products_are_ones_the_account_can_buy(pipeline: Pipeline) -> None:
    """The README's first question: a product whose price is not in effect (price row isSales "0", 价格未生效) came
    first while the listing's flag said it was on sale."""
    assert pipeline.run().success
    dataset = pipeline.simulator.dataset
    not_in_effect = set(dataset.procurable_codes) - set(dataset.priced_codes)
    assert not_in_effect, "the simulator lists products whose price is not in effect"
    rows = pipeline.warehouse.query("SELECT product_code, is_sales, supply_price FROM {schema}.catalog")
    flags = dict(zip(rows["product_code"], rows["is_sales"].astype(bool), strict=True))
    assert {code for code, on_sale in flags.items() if on_sale} == set(dataset.priced_codes)
    best = pipeline.warehouse.query(
        "SELECT product_code FROM {schema}.catalog WHERE account = 'default' AND is_sales "
        "ORDER BY total_stock DESC NULLS LAST, product_code LIMIT 10"
    )
    assert len(best) == 10 and not set(best["product_code"]) & not_in_effect


def test_the_views_answer_with_the_pipelines_data(pipeline: Pipeline) -> None:
    day_one = pipeline.today
    assert pipeline.run().success
    dataset = pipeline.simulator.dataset
    pipeline.next_day()
    day_two = pipeline.today
    # Day two asks one county less: its pairs stay at day one in current_stock.
    counties = list(pipeline.simulator.config.counties)
    pipeline.simulator.config.update({"counties": counties[:-1]})
    assert pipeline.run(day=day_two).success

    changes = pipeline.warehouse.query("SELECT * FROM {schema}.price_changes WHERE account = 'default'")
    expected = {}
    for code in dataset.priced_codes:
        before = dataset.price_row(code, day_one).get("supplyPrice")
        after = dataset.price_row(code, day_two).get("supplyPrice")
        if before != after:
            expected[code] = (Decimal(str(before)), Decimal(str(after)))
    assert expected, "the simulator changes some prices from day to day"
    found = {
        row.product_code: (row.old_supply_price, row.new_supply_price, row.change, row.change_pct)
        for row in changes.itertuples(index=False)
    }
    assert found.keys() == expected.keys()
    for code, (old, new) in expected.items():
        percent = (100 * (new - old) / old).quantize(Decimal("0.01"))
        assert found[code] == (old, new, new - old, percent), code

    stock = pipeline.warehouse.query("SELECT * FROM {schema}.current_stock WHERE account = 'default'")
    assert len(stock) == len(dataset.procurable_codes) * len(counties), "every pair ever answered"
    for row in stock.itertuples(index=False):
        day = day_two if row.county_code in counties[:-1] else day_one
        answer = dataset.stock_rows(row.product_code, row.county_code, day)
        assert str(row.snapshot_date)[:10] == day.isoformat()
        assert (row.total_stock, row.warehouses) == (sum(int(r["stock"]) for r in answer), len(answer))
