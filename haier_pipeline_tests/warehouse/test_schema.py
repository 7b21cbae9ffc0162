"""ensure_schema: the contract's tables and columns, exact types, idempotent and additive."""

from __future__ import annotations

import pytest

from haier_pipeline.warehouse.tables import table_names
from haier_pipeline.warehouse.warehouse import Warehouse

from .helpers import DAY, product_frame, snapshot, stock_frame

# Copied from docs/contract ("The warehouse: schema haier"), not from tables.py, so a rename fails here.
CONTRACT_COLUMNS = {
    "products": "product_code product_model product_group brand image_url leaflet_urls is_sales "
    "no_sales_reason is_active first_seen_at last_seen_at",
    "prices": "product_code supply_price invoice_price direct_discount rebate_type rebate_money market_price "
    "is_sales reason fetched_at",
    "price_history": "product_code supply_price invoice_price direct_discount rebate_type rebate_money is_sales "
    "valid_from valid_to",
    "stock_snapshots": "snapshot_date product_code county_code sec_code stock warehouse_grade cut_time "
    "delivery_date delivery_hours is_transfer fetched_at",
    "catalog": "product_code product_model product_group brand is_sales supply_price invoice_price sale_price "
    "rebate_type total_stock counties_in_stock counties_checked stock_snapshot_date updated_at",
    "account_balances": "fetched_at sale_group_code sale_group_name payer_account_code payer_account_name balance",
    "logistics_events": "order_code source_list record fetched_at",
    "rejected_rows": "asset partition_key run_id reason payload rejected_at",
    "field_anomalies": "run_id asset partition_key row_key field raw_value reason recorded_at",
    "sync_log": "run_id sync_type status total_count success_count failed_count api_calls retries "
    "started_at completed_at message",
    # Not an asset table: `query stock`'s cache, the columns of stock_snapshots.
    "stock_lookups": "snapshot_date product_code county_code sec_code stock warehouse_grade cut_time "
    "delivery_date delivery_hours is_transfer fetched_at",
    "stock_coverage": "product_code county_code last_checked_day last_checked_at last_stock skipped_at",
    "stock_answers": "snapshot_date product_code county_code fetched_at answer refusal run_id",
    # The rows of a stock day in progress: the columns of stock_snapshots.
    "stock_staged_rows": "snapshot_date product_code county_code sec_code stock warehouse_grade cut_time "
    "delivery_date delivery_hours is_transfer fetched_at",
    # Columns that upgrades added, so history tables can tell "not recorded yet" from "changed".
    "schema_changes": "table_name column_name added_at settled_at",
}


INDEX = "ix_stock_snapshots_account_day_product_county"


def _columns(warehouse: Warehouse) -> dict[str, dict[str, tuple[str, object, object]]]:
    frame = warehouse.query(
        "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale "
        "FROM information_schema.columns WHERE table_schema = :schema",
        {"schema": warehouse.schema},
    )
    out: dict[str, dict[str, tuple[str, object, object]]] = {}
    for table, column, data_type, precision, scale in frame.itertuples(index=False):
        out.setdefault(table, {})[column] = (data_type.upper(), precision, scale)
    return out


def test_every_table_has_the_contract_columns(warehouse: Warehouse) -> None:
    columns = _columns(warehouse)
    assert set(table_names()) == set(CONTRACT_COLUMNS)
    for table, names in CONTRACT_COLUMNS.items():
        assert table in columns, table
        missing = set(names.split()) - set(columns[table])
        assert not missing, (table, missing)


def test_types_are_exact(warehouse: Warehouse) -> None:
    columns = _columns(warehouse)
    numeric = {"NUMERIC", "DECIMAL(18,4)", "DECIMAL(12,6)"}
    for name in [
        "prices.supply_price",
        "prices.market_price",
        "account_balances.balance",
        "catalog.invoice_price",
    ]:
        table, column = name.split(".")
        data_type, precision, scale = columns[table][column]
        assert data_type in numeric and (precision, scale) == (18, 4), (name, data_type)
    data_type, precision, scale = columns["prices"]["direct_discount"]
    assert data_type in numeric and (precision, scale) == (12, 6)
    expected = {
        "BOOLEAN": ["products.is_active", "prices.is_sales", "stock_snapshots.is_transfer"],
        "DATE": ["stock_snapshots.snapshot_date", "stock_snapshots.delivery_date"],
        "TIMESTAMP WITH TIME ZONE": [
            "prices.fetched_at",
            "price_history.valid_to",
            "stock_snapshots.fetched_at",
        ],
    }
    for data_type, names in expected.items():
        for name in names:
            table, column = name.split(".")
            assert columns[table][column][0] == data_type, name
    for name in ["products.leaflet_urls", "logistics_events.record", "stock_snapshots.cut_time"]:
        table, column = name.split(".")
        assert columns[table][column][0] in {"TEXT", "VARCHAR"}, name
    for name in ["stock_snapshots.stock", "catalog.total_stock", "sync_log.api_calls"]:
        table, column = name.split(".")
        assert columns[table][column][0] in {"INTEGER", "BIGINT"}, name


def test_ensure_schema_is_idempotent_and_keeps_rows(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        tx.upsert("products", product_frame(["A", "B"]))
    before = snapshot(warehouse)
    warehouse.ensure_schema()
    warehouse.ensure_schema()
    after = snapshot(warehouse)
    for name in before:
        assert before[name].equals(after[name]), name
    assert warehouse.table_counts()["products"] == 2


def test_ensure_schema_adds_back_a_dropped_column_and_a_dropped_table(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        tx.upsert("products", product_frame(["A", "B"]))
        tx.append("stock_snapshots", stock_frame(DAY, ["A"]))
        tx.execute("ALTER TABLE {schema}.products DROP COLUMN brand")
        # DuckDB refuses to drop a column of an indexed table, so the index goes first and comes back
        # before ensure_schema: adding a column to an indexed table must work.
        tx.execute(f"DROP INDEX {{schema}}.{INDEX}")
        tx.execute("ALTER TABLE {schema}.stock_snapshots DROP COLUMN warehouse_grade")
        tx.execute(f"CREATE INDEX {INDEX} ON {{schema}}.stock_snapshots (product_code)")
        tx.execute("DROP TABLE {schema}.catalog")
    assert "brand" not in _columns(warehouse)["products"]

    warehouse.ensure_schema()

    columns = _columns(warehouse)
    assert "brand" in columns["products"] and "warehouse_grade" in columns["stock_snapshots"]
    assert "catalog" in columns
    rows = warehouse.query("SELECT product_code, product_model, brand FROM {schema}.products ORDER BY 1")
    assert rows["product_code"].tolist() == ["A", "B"]
    assert rows["product_model"].tolist() == ["M-A", "M-B"]
    assert rows["brand"].isna().all()
    with warehouse.transaction() as tx:
        tx.upsert("products", product_frame(["A"]))  # writes brand again
    brand = warehouse.query("SELECT brand FROM {schema}.products WHERE product_code = 'A'")["brand"]
    assert brand.tolist() == ["Haier"]
    assert warehouse.table_counts()["stock_snapshots"] == 1


def test_ensure_schema_mends_a_stale_description_and_a_dropped_index(warehouse: Warehouse) -> None:
    """It compares what the database holds with the declarations, so an upgrade's new text reaches old warehouses."""
    with warehouse.transaction() as tx:
        tx.execute("COMMENT ON COLUMN {schema}.stock_snapshots.stock IS 'an older description'")
        tx.execute("COMMENT ON TABLE {schema}.prices IS ''")
        tx.execute(f"DROP INDEX {{schema}}.{INDEX}")
    warehouse.ensure_schema()
    assert _comments(warehouse)[("stock_snapshots", "stock")] == "Available quantity in this warehouse."
    assert warehouse.tables["prices"].comment, "the declaration describes the table"
    assert _table_comment(warehouse, "prices") == warehouse.tables["prices"].comment
    assert INDEX in _indexes(warehouse)


def _table_comment(warehouse: Warehouse, table: str) -> str:
    if warehouse.backend == "duckdb":
        sql = (
            "SELECT comment FROM duckdb_tables() WHERE schema_name = :schema AND table_name = :table "
            "AND database_name = current_database()"
        )
    else:
        sql = "SELECT obj_description(format('%s.%s', :schema::text, :table::text)::regclass, 'pg_class') AS comment"
    return warehouse.query(sql, {"schema": warehouse.schema, "table": table})["comment"][0]


def _indexes(warehouse: Warehouse) -> set[str]:
    if warehouse.backend == "duckdb":
        sql = "SELECT index_name AS name FROM duckdb_indexes() WHERE schema_name = :schema"
    else:
        sql = "SELECT indexname AS name FROM pg_indexes WHERE schemaname = :schema"
    return set(warehouse.query(sql, {"schema": warehouse.schema})["name"])


def test_table_counts_lists_every_table(warehouse: Warehouse) -> None:
    counts = warehouse.table_counts()
    assert list(counts) == list(table_names())
    assert all(n == 0 for n in counts.values())


def test_sync_log_status_is_constrained(warehouse: Warehouse) -> None:
    import pandas as pd

    with pytest.raises(Exception, match=r"(?i)check"), warehouse.transaction() as tx:
        tx.append("sync_log", pd.DataFrame({"sync_type": ["prices"], "status": ["done"]}))
    assert warehouse.table_counts()["sync_log"] == 0


def _comments(warehouse: Warehouse) -> dict[tuple[str, str], str | None]:
    if warehouse.backend == "duckdb":
        sql = (
            "SELECT table_name, column_name, comment FROM duckdb_columns() "
            "WHERE schema_name = :schema AND database_name = current_database()"
        )
    else:
        sql = (
            "SELECT c.table_name, c.column_name, "
            "col_description(format('%s.%s', c.table_schema, c.table_name)::regclass, c.ordinal_position) AS comment "
            "FROM information_schema.columns c WHERE c.table_schema = :schema"
        )
    frame = warehouse.query(sql, {"schema": warehouse.schema})
    return {(table, column): comment for table, column, comment in frame.itertuples(index=False)}


def test_every_column_is_described_in_the_database(warehouse: Warehouse) -> None:
    comments = _comments(warehouse)
    assert len(comments) == sum(len(table.columns) for table in warehouse.tables.values()) + sum(
        len(view.columns) for view in warehouse.views
    ), "every table's and every view's columns"
    undescribed = [key for key, comment in comments.items() if not comment]
    assert not undescribed
    assert comments[("current_stock", "warehouses")].startswith("Warehouse rows (storage locations, sec_code)")
    assert comments[("stock_snapshots", "stock")] == "Available quantity in this warehouse."
    assert "普通供价" in comments[("prices", "supply_price")], "the declaration's text, unicode intact"


def test_an_old_warehouse_gains_the_new_columns_and_tables_and_keeps_its_rows(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        tx.upsert("products", product_frame(["A"]))
        for table, column in [("prices", "rebate_type"), ("catalog", "sale_price"), ("sync_log", "unanswered_count")]:
            tx.execute(f"ALTER TABLE {{schema}}.{table} DROP COLUMN {column}")
        tx.execute("DROP TABLE {schema}.field_anomalies")
    warehouse.ensure_schema()
    columns = _columns(warehouse)
    assert {"rebate_type", "sale_price", "unanswered_count"} <= set(columns["prices"]) | set(columns["catalog"]) | set(
        columns["sync_log"]
    )
    assert "field_anomalies" in columns
    assert warehouse.table_counts()["products"] == 1


def test_a_column_added_again_after_a_restore_is_recorded_once_and_the_upgrade_keeps_working(
    warehouse: Warehouse,
) -> None:
    """A table restored from a backup taken before an upgrade lacks a column the upgrade already added once (and
    recorded in schema_changes): the next upgrade adds it again instead of failing on the record's key."""
    with warehouse.transaction() as tx:
        tx.upsert("products", product_frame(["A"]))
        tx.execute("INSERT INTO {schema}.catalog (account, product_code, total_stock) VALUES ('default', 'A', 7)")
        tx.execute("ALTER TABLE {schema}.catalog DROP COLUMN sale_price")
    warehouse.ensure_schema()
    with warehouse.transaction() as tx:
        # The step that owns the table adopted the column's first values.
        tx.execute("UPDATE {schema}.schema_changes SET settled_at = CURRENT_TIMESTAMP")
        tx.execute("UPDATE {schema}.catalog SET sale_price = 9.5")
        tx.execute("ALTER TABLE {schema}.catalog DROP COLUMN sale_price")  # the same restore once more
    first = warehouse.query("SELECT added_at FROM {schema}.schema_changes")["added_at"].iloc[0]

    warehouse.ensure_schema()
    warehouse.ensure_schema()

    changes = warehouse.query("SELECT table_name, column_name, added_at, settled_at FROM {schema}.schema_changes")
    assert [(row.table_name, row.column_name) for row in changes.itertuples()] == [("catalog", "sale_price")]
    assert changes["added_at"].iloc[0] >= first, "when it was last added"
    assert changes["settled_at"].isna().all(), "empty again in every row: its values are to be adopted again"
    catalog = warehouse.query("SELECT product_code, total_stock, sale_price FROM {schema}.catalog")
    assert catalog[["product_code", "total_stock"]].values.tolist() == [["A", 7]]
    assert catalog["sale_price"].isna().all()
    assert warehouse.table_counts()["products"] == 1


# Declared NOT NULL; nullable in warehouses an older version created (e.g. commit 73a5c4f).
OLD_NULLABLE = [
    ("stock_snapshots", "stock"),
    ("account_balances", "balance"),
    ("logistics_events", "source_list"),
    ("stock_lookups", "stock"),
]


def _nullable(warehouse: Warehouse) -> set[tuple[str, str]]:
    frame = warehouse.query(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = :schema "
        "AND is_nullable = 'YES'",
        {"schema": warehouse.schema},
    )
    return {(table, column) for table, column in frame.itertuples(index=False)}


def make_nullable(warehouse: Warehouse, columns: list[tuple[str, str]]) -> None:
    """The tables as an older version created them: these columns without their NOT NULL constraint. DuckDB alters
    no table that has an index, so its indexes are dropped around the change."""
    with warehouse.transaction() as tx:
        for table, column in columns:
            indexes = []
            if warehouse.backend == "duckdb":
                indexes = tx.query(
                    "SELECT index_name, sql FROM duckdb_indexes() WHERE schema_name = :schema AND table_name = :table",
                    {"schema": warehouse.schema, "table": table},
                ).values.tolist()
            for name, _ in indexes:
                tx.execute(f"DROP INDEX {{schema}}.{name}")
            tx.execute(f"ALTER TABLE {{schema}}.{table} ALTER COLUMN {column} DROP NOT NULL")
            for _, statement in indexes:
                tx.execute(statement)
    assert set(columns) <= _nullable(warehouse)


def test_an_old_warehouse_gains_the_not_null_constraints_and_keeps_its_rows(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        tx.append("stock_snapshots", stock_frame(DAY, ["A", "B"]))
    make_nullable(warehouse, OLD_NULLABLE)

    pending = warehouse.pending_upgrade()
    assert sorted(pending.not_null) == sorted(OLD_NULLABLE)
    assert pending.describe() == (
        "the next sync upgrades it: 4 NOT NULL constraints to add (stock_snapshots.stock, account_balances.balance, "
        "logistics_events.source_list, stock_lookups.stock)"
    )
    assert set(OLD_NULLABLE) <= _nullable(warehouse), "pending_upgrade changed nothing"

    warehouse.ensure_schema()

    assert not set(OLD_NULLABLE) & _nullable(warehouse)
    assert warehouse.pending_upgrade().describe() == "up to date"
    assert INDEX in _indexes(warehouse), "the index dropped to alter the table (DuckDB) is back"
    assert warehouse.table_counts()["stock_snapshots"] == 2
    with pytest.raises(Exception, match=r"(?i)null"), warehouse.transaction() as tx:
        tx.execute(
            "INSERT INTO {schema}.stock_snapshots (account, snapshot_date, product_code, county_code, stock) "
            "VALUES ('default', DATE '2024-05-02', 'C', '110101', NULL)"
        )


def test_a_column_holding_nulls_keeps_accepting_them_and_the_upgrade_names_them(warehouse: Warehouse) -> None:
    """Additive: the rows stay as they are; the sync does not fail; check says what to do."""
    make_nullable(warehouse, OLD_NULLABLE)
    with warehouse.transaction() as tx:
        tx.append("stock_snapshots", stock_frame(DAY, ["A", "B", "C"]))
        tx.execute("UPDATE {schema}.stock_snapshots SET stock = NULL WHERE product_code <> 'A'")

    warehouse.ensure_schema()

    assert ("stock_snapshots", "stock") in _nullable(warehouse)
    assert not (set(OLD_NULLABLE) - {("stock_snapshots", "stock")}) & _nullable(warehouse), "the others added"
    described = warehouse.pending_upgrade().describe()
    assert described.startswith("up to date; warning: stock_snapshots.stock is declared NOT NULL but holds 2 NULLs")
    assert f"SELECT * FROM {warehouse.schema}.stock_snapshots WHERE stock IS NULL" in described
    assert warehouse.table_counts()["stock_snapshots"] == 3

    with warehouse.transaction() as tx:
        tx.execute("DELETE FROM {schema}.stock_snapshots WHERE stock IS NULL")
    assert warehouse.pending_upgrade().not_null == [("stock_snapshots", "stock")]
    warehouse.ensure_schema()
    assert ("stock_snapshots", "stock") not in _nullable(warehouse)


def test_a_type_unlike_the_declaration_is_reported_never_changed(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        tx.execute("ALTER TABLE {schema}.sync_log ALTER COLUMN total_count TYPE BIGINT")
    described = warehouse.pending_upgrade().describe()
    assert "up to date; warning: sync_log.total_count is " in described and ", declared INTEGER;" in described
    warehouse.ensure_schema()
    assert _columns(warehouse)["sync_log"]["total_count"][0] == "BIGINT"
