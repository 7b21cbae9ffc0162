"""A warehouse written before accounts existed (the schema of 7c7bc4b, `schema_before_accounts.sql`) is upgraded
additively: every table gains `account` at the head of its key and indexes, every row it held becomes account
`default` with its values unchanged, and another account's rows can then sit beside them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import psycopg
import pytest

from haier_pipeline.warehouse.tables import RETIRED_INDEXES, table_names
from haier_pipeline.warehouse.warehouse import Warehouse
from haier_pipeline_tests.postgres import POSTGRES_URL

OLD_SCHEMA = (Path(__file__).parent / "schema_before_accounts.sql").read_text(encoding="utf-8")
ROWS = [
    "INSERT INTO {s}.products (product_code, product_model, is_sales, is_active) VALUES ('A', 'M-1', true, true), "
    "('B', 'M-2', false, false)",
    "INSERT INTO {s}.prices (product_code, supply_price, invoice_price, is_sales) VALUES ('A', 1299.5000, 1250.0000, "
    "true)",
    "INSERT INTO {s}.price_history (product_code, supply_price, valid_from, valid_to) VALUES "
    "('A', 1200.0000, TIMESTAMP WITH TIME ZONE '2026-11-01 00:00:00+00', "
    "TIMESTAMP WITH TIME ZONE '2026-11-20 00:00:00+00'), "
    "('A', 1299.5000, TIMESTAMP WITH TIME ZONE '2026-11-20 00:00:00+00', NULL)",
    "INSERT INTO {s}.stock_snapshots (snapshot_date, product_code, county_code, sec_code, stock) VALUES "
    "(DATE '2026-12-01', 'A', '110101', 'S1', 30), (DATE '2026-12-01', 'A', '110101', 'S2', 5), "
    "(DATE '2026-12-01', 'A', '310104', NULL, 0)",
    "INSERT INTO {s}.catalog (product_code, total_stock, supply_price) VALUES ('A', 35, 1299.5000)",
    "INSERT INTO {s}.account_balances (fetched_at, sale_group_code, payer_account_code, balance) VALUES "
    "(TIMESTAMP WITH TIME ZONE '2026-12-01 00:00:00+00', 'G1', 'P1', -12.5000)",
    "INSERT INTO {s}.logistics_events (order_code, source_list, record) VALUES "
    "('SO.1', 'getAllLogisticsInfoByOrderCode', '{{}}')",
    "INSERT INTO {s}.sync_log (run_id, sync_type, status, total_count) VALUES ('r1', 'products', 'success', 2)",
    "INSERT INTO {s}.rejected_rows (asset, run_id, reason) VALUES ('prices', 'r1', 'supply_price: is not a number')",
    "INSERT INTO {s}.stock_coverage (product_code, county_code, last_checked_day, last_stock) VALUES "
    "('A', '110101', DATE '2026-12-01', 35)",
    "INSERT INTO {s}.stock_answers (snapshot_date, product_code, county_code, answer) VALUES "
    "(DATE '2026-12-07', 'A', '440106', '[]')",
    # An analyst's own index on a table the upgrade re-keys.
    "CREATE INDEX ix_analyst_stock_by_county ON {s}.stock_snapshots (county_code)",
]
KEYS = {
    "products": ["account", "product_code"],
    "prices": ["account", "product_code"],
    "price_history": ["account", "product_code", "valid_from"],
    "catalog": ["account", "product_code"],
    "account_balances": ["account", "fetched_at", "sale_group_code", "payer_account_code"],
    "stock_coverage": ["account", "product_code", "county_code"],
    "stock_answers": ["account", "snapshot_date", "product_code", "county_code"],
}


def build_old(backend: str, tmp_path: Path, schema: str) -> Warehouse:
    sql = "\n".join(line for line in OLD_SCHEMA.splitlines() if not line.startswith("--"))
    statements = [statement.replace("schema_placeholder", schema) for statement in sql.split(";") if statement.strip()]
    rows = [row.format(s=schema) for row in ROWS]
    if backend == "duckdb":
        path = tmp_path / "old.duckdb"
        with duckdb.connect(str(path)) as con:
            con.execute(f"CREATE SCHEMA {schema}")
            for statement in [*statements, *rows]:
                con.execute(statement)
        return Warehouse.from_url(f"duckdb:///{path}", schema)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        for statement in [*statements, *rows]:
            conn.execute(statement)
    return Warehouse.from_url(POSTGRES_URL, schema)


@pytest.fixture(params=["duckdb", "postgres"])
def old(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    schema = "haier" if request.param == "duckdb" else f"haier_before_accounts_{tmp_path.name[-8:].lower()}"
    if request.param == "postgres":
        request.getfixturevalue("postgres_schema")  # skips (or, in CI, fails) without a Postgres
        schema = request.getfixturevalue("postgres_schema")
    return build_old(request.param, tmp_path, schema)


def contents(warehouse: Warehouse) -> dict[str, list[tuple]]:
    """Every table's rows, each without its account, in a stable order."""
    found = {}
    for name in table_names():
        frame = warehouse.query(f"SELECT * FROM {{schema}}.{name}")
        frame = frame.drop(columns=["account"], errors="ignore").astype(object)
        frame = frame.where(frame.notna(), None)
        found[name] = sorted(map(tuple, frame.itertuples(index=False)), key=repr)
    return found


def test_an_old_warehouse_is_keyed_by_account_and_keeps_every_row_as_account_default(old: Warehouse) -> None:
    pending = old.pending_upgrade()
    assert "to key by account, every row kept as account 'default'" in pending.describe()
    counts_before = {name: n for name, n in old.table_counts().items() if name != "schema_changes"}

    old.ensure_schema()

    assert old.pending_upgrade().describe() == "up to date"
    assert {name: n for name, n in old.table_counts().items() if name != "schema_changes"} == counts_before
    for name in table_names():
        if name == "schema_changes":
            continue
        accounts = old.query(f"SELECT DISTINCT account FROM {{schema}}.{name}")["account"].tolist()
        assert accounts in ([], ["default"]), name
    prices = old.query("SELECT account, product_code, supply_price, invoice_price FROM {schema}.prices")
    assert prices.astype(str).values.tolist() == [["default", "A", "1299.5000", "1250.0000"]], "numbers unchanged"
    history = old.query("SELECT supply_price FROM {schema}.price_history ORDER BY valid_from")["supply_price"]
    assert history.astype(str).tolist() == ["1200.0000", "1299.5000"]
    stock = old.query("SELECT sum(stock) AS units FROM {schema}.stock_snapshots")["units"].iloc[0]
    assert stock == 35

    # The key leads with the account: another account's product A sits beside the default one's.
    with old.transaction(account="north") as tx:
        tx.upsert("products", pd.DataFrame({"product_code": ["A"], "is_active": [True]}))
        tx.upsert("stock_coverage", pd.DataFrame({"product_code": ["A"], "county_code": ["110101"]}))
    keyed = old.query("SELECT account, product_code FROM {schema}.products ORDER BY account, product_code")
    assert keyed.values.tolist() == [["default", "A"], ["default", "B"], ["north", "A"]]
    for table, key in KEYS.items():
        assert old.tables[table].primary_key.columns.keys() == key, table


def index_names(warehouse: Warehouse) -> set[str]:
    if warehouse.backend == "duckdb":
        found = warehouse.query(
            "SELECT index_name AS name FROM duckdb_indexes() WHERE schema_name = :schema", {"schema": warehouse.schema}
        )
    else:
        found = warehouse.query(
            "SELECT indexname AS name FROM pg_catalog.pg_indexes WHERE schemaname = :schema",
            {"schema": warehouse.schema},
        )
    return set(found["name"])


def test_the_upgrade_replaces_the_old_indexes_by_account_led_ones_and_keeps_an_analysts(old: Warehouse) -> None:
    assert "4 indexes to drop, replaced by one led by the account" in old.pending_upgrade().describe()
    old.ensure_schema()
    indexes = index_names(old)
    assert "ix_stock_snapshots_account_day_product_county" in indexes
    assert "ix_logistics_events_account_order_code" in indexes
    assert not indexes & set(RETIRED_INDEXES), "an index the account does not lead would only slow the writes"
    assert "ix_analyst_stock_by_county" in indexes, "an index the pipeline did not make is kept"


def test_an_upgraded_warehouse_holds_what_a_fresh_one_would(old: Warehouse, tmp_path: Path) -> None:
    """The upgrade leaves the same columns and keys as a warehouse created now (its rows aside)."""
    old.ensure_schema()
    fresh = Warehouse.from_url(f"duckdb:///{tmp_path / 'fresh.duckdb'}")
    fresh.ensure_schema()
    for name in table_names():
        upgraded = set(old.query(f"SELECT * FROM {{schema}}.{name} LIMIT 0").columns)
        created = set(fresh.query(f"SELECT * FROM {{schema}}.{name} LIMIT 0").columns)
        assert upgraded == created, name
    with old.transaction(account="default") as tx, pytest.raises(Exception, match=r"(?i)duplicate|unique|constraint"):
        tx.execute("INSERT INTO {schema}.products (account, product_code, is_active) VALUES ('default', 'A', true)")


def test_a_balance_without_its_payer_account_keeps_the_old_key_until_it_is_mended(old: Warehouse) -> None:
    """Balances are keyed by payer account too (two payer accounts of one sales organisation); a row from before,
    without one, is kept and named, and the key waits for it instead of failing every sync."""
    with old.transaction() as tx:
        tx.execute("UPDATE {schema}.account_balances SET payer_account_code = NULL")
    old.ensure_schema()
    described = old.pending_upgrade().describe()
    assert described.startswith("up to date; warning: account_balances.payer_account_code is declared NOT NULL")
    assert old.table_counts()["account_balances"] == 1
    with old.transaction() as tx:
        tx.execute("UPDATE {schema}.account_balances SET payer_account_code = 'P1'")
    old.ensure_schema()
    assert old.pending_upgrade().describe() == "up to date"
    assert old.table_counts()["account_balances"] == 1
