"""The analysts' views (`warehouse/views.py`): created with the tables, typed and commented alike on DuckDB and
Postgres, named by `pending_upgrade` when missing or out of date and replaced by `ensure_schema`, and computing what
their comments say, per account."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from haier_pipeline.warehouse.views import CURRENT_STOCK, PRICE_CHANGES, VIEWS
from haier_pipeline.warehouse.warehouse import Warehouse
from haier_pipeline_tests.postgres import POSTGRES_URL, login_role
from haier_pipeline_tests.warehouse.test_accounts_upgrade import build_old

# The types each backend reports for the declared ones (information_schema.columns.data_type).
SAME_TYPES = {
    "TEXT": {"TEXT", "VARCHAR"},
    "INTEGER": {"INTEGER"},
    "BIGINT": {"BIGINT"},
    "DATE": {"DATE"},
    "TIMESTAMP WITH TIME ZONE": {"TIMESTAMP WITH TIME ZONE"},
    "NUMERIC(18, 4)": {"NUMERIC", "DECIMAL(18,4)"},
    "NUMERIC(12, 2)": {"NUMERIC", "DECIMAL(12,2)"},
}


def view_columns(warehouse: Warehouse, view: str) -> list[tuple[str, str, object, object]]:
    frame = warehouse.query(
        "SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns "
        "WHERE table_schema = :schema AND table_name = :view ORDER BY ordinal_position",
        {"schema": warehouse.schema, "view": view},
    )
    return [(name, kind.upper(), precision, scale) for name, kind, precision, scale in frame.itertuples(index=False)]


def view_comments(warehouse: Warehouse, view: str) -> dict[str | None, str]:
    if warehouse.backend == "duckdb":
        columns = warehouse.query(
            "SELECT column_name, comment FROM duckdb_columns() WHERE schema_name = :schema AND table_name = :view "
            "AND database_name = current_database()",
            {"schema": warehouse.schema, "view": view},
        )
        own = warehouse.query(
            "SELECT comment FROM duckdb_views() WHERE schema_name = :schema AND view_name = :view "
            "AND database_name = current_database()",
            {"schema": warehouse.schema, "view": view},
        )
    else:
        target = f'"{warehouse.schema}"."{view}"'
        columns = warehouse.query(
            f"SELECT attname AS column_name, col_description('{target}'::regclass, attnum) AS comment "
            f"FROM pg_attribute WHERE attrelid = '{target}'::regclass AND attnum > 0"
        )
        own = warehouse.query(f"SELECT obj_description('{target}'::regclass, 'pg_class') AS comment")
    return {None: own["comment"].iloc[0], **dict(zip(columns["column_name"], columns["comment"], strict=True))}


def test_the_views_have_their_declared_columns_types_and_comments_on_both_backends(warehouse: Warehouse) -> None:
    for view in VIEWS:
        found = view_columns(warehouse, view.name)
        assert [name for name, *_ in found] == [column.name for column in view.columns], view.name
        for name, kind, precision, scale in found:
            declared = view.column_type(name)
            assert kind in SAME_TYPES[declared], f"{view.name}.{name}: {kind}, declared {declared}"
            if declared.startswith("NUMERIC"):
                assert (precision, scale) == tuple(int(n) for n in declared[8:-1].split(", ")), f"{view.name}.{name}"
        assert view_comments(warehouse, view.name) == view.comments(), f"{view.name}: every column commented"
    assert warehouse.pending_upgrade().describe() == "up to date"
    assert view_comments(warehouse, "current_stock")[None].startswith("Per (account, product, county)")


def test_a_missing_or_stale_view_is_named_by_the_pending_upgrade_and_replaced(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        tx.execute("DROP VIEW {schema}.current_stock")
        # An older definition, with other columns: Postgres cannot replace it in place, it is dropped and created.
        tx.execute("DROP VIEW {schema}.price_changes")
        tx.execute("CREATE VIEW {schema}.price_changes AS SELECT account, valid_from AS at FROM {schema}.price_history")
    described = warehouse.pending_upgrade().describe()
    assert described == (
        "the next sync upgrades it: 1 view to create (current_stock), 1 view to update (price_changes)"
    ), described
    warehouse.ensure_schema()
    assert warehouse.pending_upgrade().describe() == "up to date"
    assert [name for name, *_ in view_columns(warehouse, "price_changes")] == [c.name for c in PRICE_CHANGES.columns]

    # Same columns, another definition (its fingerprint in the comment): replaced in place.
    with warehouse.transaction() as tx:
        tx.execute("COMMENT ON VIEW {schema}.current_stock IS 'Per pair. [definition 000000000000]'")
    assert warehouse.pending_upgrade().describe() == "the next sync upgrades it: 1 view to update (current_stock)"
    warehouse.ensure_schema()
    assert view_comments(warehouse, "current_stock") == CURRENT_STOCK.comments()
    assert warehouse.pending_upgrade().describe() == "up to date"


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_a_warehouse_of_an_older_version_with_an_older_view_gets_the_declared_one_on_both_backends(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The accounts upgrade rebuilds every DuckDB table under its name (and rekeys Postgres's in place) while a view
    of an older definition reads one of them: the upgrade goes through, and the view is the declared one after it."""
    schema = request.getfixturevalue("postgres_schema") if backend == "postgres" else "haier"
    old = build_old(backend, tmp_path, schema)
    with old.transaction() as tx:
        tx.execute(
            "CREATE VIEW {schema}.current_stock AS SELECT product_code, sum(stock) AS s FROM {schema}.stock_snapshots "
            "GROUP BY product_code"
        )
    assert "1 view to update (current_stock), " in old.pending_upgrade().describe() + ", "
    old.ensure_schema()
    assert old.pending_upgrade().describe() == "up to date"
    rows = old.query("SELECT * FROM {schema}.current_stock ORDER BY county_code")
    assert rows[["account", "product_code", "county_code", "total_stock", "warehouses"]].values.tolist() == [
        ["default", "A", "110101", 35, 2],
        ["default", "A", "310104", 0, 0],
    ]


AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _stock(warehouse: Warehouse, account: str, day: date, rows: list[tuple[str, str, str | None, int]], hour: int):
    fetched = AT.replace(day=day.day, hour=hour)
    with warehouse.transaction(account) as tx:
        for product, county, sec_code, stock in rows:
            tx.execute(
                "INSERT INTO {schema}.stock_snapshots (account, snapshot_date, product_code, county_code, sec_code, "
                "stock, fetched_at) VALUES (:account, :day, :product, :county, :sec, :stock, :at)",
                {"day": day, "product": product, "county": county, "sec": sec_code, "stock": stock, "at": fetched},
            )


def test_current_stock_is_each_pairs_newest_answered_day_per_account(warehouse: Warehouse) -> None:
    first, second = date(2026, 12, 1), date(2026, 12, 2)
    _stock(
        warehouse, "default", first, [("A", "110101", "S1", 30), ("A", "110101", "S2", 5), ("A", "310104", None, 0)], 1
    )
    # The next day answers 110101 again (one warehouse left), and not 310104: that pair stays at the first day.
    _stock(warehouse, "default", second, [("A", "110101", "S1", 7)], 3)
    _stock(warehouse, "north", second, [("A", "110101", "S9", 100), ("A", "110101", "S8", 1)], 4)
    rows = warehouse.query(
        "SELECT account, product_code, county_code, snapshot_date, total_stock, warehouses, checked_at "
        "FROM {schema}.current_stock ORDER BY account, county_code"
    )
    found = [
        (r.account, r.county_code, r.snapshot_date, int(r.total_stock), int(r.warehouses), r.checked_at.hour)
        for r in rows.itertuples(index=False)
    ]
    assert found == [
        ("default", "110101", second, 7, 1, 3),
        ("default", "310104", first, 0, 0, 1),  # checked, none: 0 units, no warehouse
        ("north", "110101", second, 101, 2, 4),
    ]


def test_price_changes_compares_each_version_with_the_one_before_it_per_account(warehouse: Warehouse) -> None:
    versions = [
        # account, product, supply, invoice, valid_from (hours after AT), valid_to
        ("default", "A", "1000.0000", "950.0000", 0, 10),
        ("default", "A", "1099.9900", "1000.0000", 10, 20),
        ("default", "A", None, None, 20, 30),  # not in effect
        ("default", "A", "1099.9900", "990.0000", 30, None),  # in effect again
        ("default", "B", "0.0000", "0.0000", 0, 5),
        ("default", "B", "10.0000", "10.0000", 5, None),
        ("north", "A", "500.0000", "500.0000", 0, None),  # one version: no change
    ]
    with warehouse.transaction() as tx:
        for account, product, supply, invoice, start, end in versions:
            tx.execute(
                "INSERT INTO {schema}.price_history (account, product_code, supply_price, invoice_price, valid_from, "
                "valid_to) VALUES (:who, :product, :supply, :invoice, :start, :end)",
                {
                    "who": account,
                    "product": product,
                    "supply": None if supply is None else Decimal(supply),
                    "invoice": None if invoice is None else Decimal(invoice),
                    "start": AT.replace(hour=start % 24, day=1 + start // 24),
                    "end": None if end is None else AT.replace(hour=end % 24, day=1 + end // 24),
                },
            )
    rows = warehouse.query("SELECT * FROM {schema}.price_changes ORDER BY account, product_code, changed_at")
    found = [
        tuple(None if value is None or value != value else value for value in row)
        for row in rows[
            [
                "account",
                "product_code",
                "old_supply_price",
                "new_supply_price",
                "change",
                "change_pct",
                "old_invoice_price",
                "new_invoice_price",
            ]
        ]
        .astype(object)
        .itertuples(index=False)
    ]
    D = Decimal
    assert found == [
        ("default", "A", D("1000"), D("1099.99"), D("99.99"), D("10.00"), D("950"), D("1000")),
        ("default", "A", D("1099.99"), None, None, None, D("1000"), None),
        ("default", "A", None, D("1099.99"), None, None, None, D("990")),
        ("default", "B", D("0"), D("10"), D("10"), None, D("0"), D("10")),  # from 0: no percentage
    ]
    assert list(rows["changed_at"].dt.hour) == [10, 20, 6, 5]


def test_a_role_that_does_not_own_a_stale_view_is_told_who_may_replace_it(postgres_warehouse: Warehouse) -> None:
    """Only a view's owner may replace it: a data-only role's `check` names the view and its owner (as it does for
    a table), instead of its sync failing on the DDL."""
    schema = postgres_warehouse.schema
    with login_role(f"haier_app_{uuid.uuid4().hex[:12]}") as role:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
            admin.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
            admin.execute(f"COMMENT ON VIEW \"{schema}\".price_changes IS 'an older definition'")
        as_role = Warehouse.from_url(POSTGRES_URL.replace("postgres@", f"{role}@", 1), schema=schema)
        upgrade = as_role.pending_upgrade()
        assert upgrade.stale_views == ["price_changes"]
        assert upgrade.privilege_problem is not None
        assert "only the owner (postgres) may change views price_changes" in upgrade.privilege_problem
        postgres_warehouse.ensure_schema()  # the owner upgrades
        assert as_role.pending_upgrade().privilege_problem is None
