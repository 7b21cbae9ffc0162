"""Bulk writes on both backends: upsert, append, replace, exact values, rollback."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd
import pytest

from haier_pipeline.warehouse.errors import WarehouseError
from haier_pipeline.warehouse.warehouse import Warehouse

from .helpers import AT, DAY, assert_same_contents, price_frame, product_frame, snapshot, stock_frame

SHANGHAI = timezone(timedelta(hours=8))
NASTY = [
    'it\'s "quoted"',
    "a; b; c",
    "'; DROP TABLE x; --",
    "海尔 冰箱 BCD-470WGHTDEDGCU1",
    "tab\there, newline\nthere, backslash \\N and \\",
    "50% off :name {schema} $1 %(x)s",
]


def test_upsert_inserts_then_updates_and_keeps_rows_not_in_frame(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        assert tx.upsert("products", product_frame(["A", "B", "C"], model="v1")) == 3
    with warehouse.transaction() as tx:
        assert tx.upsert("products", product_frame(["B", "D"], model="v2")) == 2
    rows = warehouse.query("SELECT product_code, product_model FROM {schema}.products ORDER BY product_code")
    assert rows.values.tolist() == [["A", "v1-A"], ["B", "v2-B"], ["C", "v1-C"], ["D", "v2-D"]]


def test_upsert_updates_only_the_columns_in_the_frame(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        tx.upsert("products", product_frame(["A"]))
        tx.upsert("products", pd.DataFrame({"product_code": ["A"], "is_active": [False]}))
    row = warehouse.query("SELECT product_model, brand, is_active FROM {schema}.products").iloc[0]
    assert (row["product_model"], row["brand"], bool(row["is_active"])) == ("M-A", "Haier", False)


def test_upsert_rejects_duplicate_keys_and_names_them(warehouse: Warehouse) -> None:
    frame = product_frame(["A", "B", "A", "C", "C"])
    with (
        pytest.raises(ValueError, match=r"products.*'A'.*'C'|products.*'C'.*'A'"),
        warehouse.transaction() as tx,
    ):
        tx.upsert("products", frame)
    assert warehouse.table_counts()["products"] == 0


def test_composite_key_upsert(warehouse: Warehouse) -> None:
    frame = pd.DataFrame(
        {
            "fetched_at": [AT, AT, AT + timedelta(hours=1)],
            "sale_group_code": ["G1", "G2", "G1"],
            "payer_account_code": ["P1", "P1", "P1"],
            "balance": [Decimal("10.5"), Decimal("-3"), Decimal("11")],
        }
    )
    with warehouse.transaction() as tx:
        assert tx.upsert("account_balances", frame) == 3
        assert tx.upsert("account_balances", frame.iloc[:1].assign(balance=[Decimal("99")])) == 1
    rows = warehouse.query("SELECT balance FROM {schema}.account_balances ORDER BY fetched_at, sale_group_code")
    assert rows["balance"].tolist() == [Decimal("99.0000"), Decimal("-3.0000"), Decimal("11.0000")]


def test_unknown_column_and_unknown_table_are_rejected(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        with pytest.raises(ValueError, match="not in the table: \\['colour'\\]"):
            tx.upsert("products", product_frame(["A"]).assign(colour="red"))
        with pytest.raises(ValueError, match="unknown table"):
            tx.append("nope", pd.DataFrame())


def test_decimals_round_trip_exactly(warehouse: Warehouse) -> None:
    values = {
        "A": Decimal("1234.5678"),
        "B": Decimal("0.1"),
        "C": Decimal("99999999999999.9999"),
        "D": Decimal("-0.0001"),
        "E": None,
    }
    frame = price_frame(values).assign(direct_discount=[Decimal("0.123456"), Decimal("0.1"), None, Decimal("1"), None])
    with warehouse.transaction() as tx:
        tx.upsert("prices", frame)
    rows = warehouse.query("SELECT * FROM {schema}.prices ORDER BY product_code")
    got = rows["supply_price"].tolist()
    assert got[:4] == [
        Decimal("1234.5678"),
        Decimal("0.1"),
        Decimal("99999999999999.9999"),
        Decimal("-0.0001"),
    ]
    assert all(isinstance(v, Decimal) for v in got[:4])
    assert got[4] is None
    assert rows["direct_discount"].tolist()[:2] == [Decimal("0.123456"), Decimal("0.1")]
    # The sum is computed by the database on exact values.
    total = warehouse.query("SELECT SUM(supply_price) AS s FROM {schema}.prices WHERE product_code IN ('A', 'B')")
    assert total["s"][0] == Decimal("1234.6678")


def test_out_of_range_and_unconvertible_values_name_table_column_and_value(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        with pytest.raises(ValueError, match=r"prices\.supply_price.*1E\+15|prices\.supply_price.*1000000000000000"):
            tx.upsert("prices", price_frame({"A": Decimal("1000000000000000")}))
        with pytest.raises(ValueError, match=r"prices\.supply_price.*2\.00005.*more than 4 decimal places"):
            tx.upsert("prices", price_frame({"A": Decimal("2.00005")}))  # never rounded: stored wrong otherwise
        with pytest.raises(ValueError, match=r"stock_snapshots\.stock.*'N/A'"):
            tx.append("stock_snapshots", stock_frame(DAY, ["A"]).assign(stock=["N/A"]))
        with pytest.raises(ValueError, match=r"prices\.fetched_at.*naive"):
            tx.upsert("prices", price_frame({"A": None}).assign(fetched_at=[datetime(2024, 1, 1)]))
        with pytest.raises(ValueError, match=r"products\.is_active.*'yes'"):
            tx.upsert("products", product_frame(["A"]).assign(is_active=["yes"]))


def test_timestamps_keep_the_instant(warehouse: Warehouse) -> None:
    local = datetime(2024, 5, 1, 16, 30, 15, 123456, tzinfo=SHANGHAI)
    frame = pd.DataFrame(
        {
            "product_code": ["A", "B", "C"],
            "fetched_at": [local, pd.Timestamp("2024-05-01 08:30:15.123456", tz="UTC"), None],
        }
    )
    with warehouse.transaction() as tx:
        tx.upsert("prices", frame)
    rows = warehouse.query("SELECT product_code, fetched_at FROM {schema}.prices ORDER BY product_code")
    stamps = rows["fetched_at"].tolist()
    assert stamps[0] == local and stamps[1] == local
    assert stamps[0].utcoffset() == timedelta(0)
    assert pd.isna(stamps[2])
    # Parameters too: an aware datetime compares as an instant.
    hit = warehouse.query("SELECT COUNT(*) AS n FROM {schema}.prices WHERE fetched_at = :t", {"t": local})
    assert hit["n"][0] == 2


def test_dates_ints_bools_and_result_types(warehouse: Warehouse) -> None:
    frame = stock_frame(DAY, ["A", "B"]).assign(
        stock=[7, 0],
        delivery_date=[date(2024, 5, 3), None],
        is_transfer=[True, None],
        delivery_hours=[24.0, None],
    )
    with warehouse.transaction() as tx:
        tx.append("stock_snapshots", frame)
    rows = warehouse.query(
        "SELECT snapshot_date, stock, delivery_date, is_transfer, delivery_hours, fetched_at "
        "FROM {schema}.stock_snapshots ORDER BY product_code"
    )
    assert rows["snapshot_date"].tolist() == [DAY, DAY]
    assert str(rows["stock"].dtype) == "Int64" and rows["stock"].tolist() == [7, 0]
    assert str(rows["delivery_hours"].dtype) == "Int64" and pd.isna(rows["delivery_hours"][1])
    assert str(rows["is_transfer"].dtype) == "boolean" and rows["is_transfer"].tolist()[0] is True
    assert rows["delivery_hours"].tolist()[0] == 24
    assert rows["delivery_date"].tolist()[0] == date(2024, 5, 3)
    assert str(rows["fetched_at"].dtype).startswith("datetime64") and str(rows["fetched_at"].dt.tz) == "UTC"


@pytest.mark.parametrize("text", NASTY)
def test_awkward_text_round_trips_as_data(warehouse: Warehouse, text: str) -> None:
    frame = pd.DataFrame({"product_code": [text], "product_model": [text], "is_active": [True]})
    with warehouse.transaction() as tx:
        tx.upsert("products", frame)
        tx.upsert("products", frame)  # the key itself goes through ON CONFLICT
    rows = warehouse.query("SELECT product_code, product_model FROM {schema}.products")
    assert rows.values.tolist() == [[text, text]]
    found = warehouse.query("SELECT COUNT(*) AS n FROM {schema}.products WHERE product_code = :code", {"code": text})
    assert found["n"][0] == 1


def test_json_columns_accept_lists_and_dicts(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        tx.upsert("products", product_frame(["A"]).assign(leaflet_urls=[["https://x/1.pdf", "https://x/说明.pdf"]]))
        record = {
            "order_code": ["O1"],
            "source_list": ["getStockDeliveryLogisticsRecord"],
            "record": [{"状态": "已签收"}],
        }
        tx.append("logistics_events", pd.DataFrame(record))
    assert warehouse.query("SELECT leaflet_urls FROM {schema}.products")["leaflet_urls"][0] == (
        '["https://x/1.pdf", "https://x/说明.pdf"]'
    )
    assert warehouse.query("SELECT record FROM {schema}.logistics_events")["record"][0] == '{"状态": "已签收"}'


def test_replace_replaces_exactly_the_matched_day(warehouse: Warehouse) -> None:
    day1, day2 = DAY, DAY + timedelta(days=1)
    with warehouse.transaction() as tx:
        tx.append("stock_snapshots", stock_frame(day1, ["A", "B", "C"]))
        tx.append("stock_snapshots", stock_frame(day2, ["A", "B"], stock=9))
    for _ in range(2):  # re-running the same day changes nothing
        with warehouse.transaction() as tx:
            assert tx.replace("stock_snapshots", stock_frame(day1, ["A", "D"], stock=1), {"snapshot_date": [day1]}) == 2
        rows = warehouse.query("SELECT snapshot_date, product_code, stock FROM {schema}.stock_snapshots ORDER BY 1, 2")
        assert rows.values.tolist() == [[day1, "A", 1], [day1, "D", 1], [day2, "A", 9], [day2, "B", 9]]


def test_replace_by_list_and_with_null_in_match(warehouse: Warehouse) -> None:
    def events(codes: list[str], source: str) -> pd.DataFrame:
        return pd.DataFrame(
            {"order_code": codes, "source_list": [source] * len(codes), "fetched_at": [AT] * len(codes)}
        )

    def rejected(partition: str | None, reason: str) -> pd.DataFrame:
        return pd.DataFrame({"asset": ["stock"], "partition_key": [partition], "reason": [reason]})

    with warehouse.transaction() as tx:
        tx.append("logistics_events", events(["O1", "O1", "O2", "O3"], "old"))
        tx.replace("logistics_events", events(["O1", "O2"], "new"), {"order_code": ["O1", "O2"]})
        tx.append("rejected_rows", rejected(None, "old"))
        tx.append("rejected_rows", rejected("2024-05-01", "other partition"))
        tx.replace("rejected_rows", rejected(None, "new"), {"asset": ["stock"], "partition_key": [None]})
        # Repeated values are just values: they must not widen the slice to NULL partitions.
        tx.replace(
            "rejected_rows",
            rejected("2024-05-02", "x"),
            {"asset": ["stock"], "partition_key": ["2024-05-02"] * 2},
        )
        with pytest.raises(ValueError, match="outside the replaced slice"):
            tx.replace("logistics_events", events(["O9"], "x"), {"order_code": ["O1"]})
    got = warehouse.query("SELECT order_code, source_list FROM {schema}.logistics_events ORDER BY 1, 2")
    assert got.values.tolist() == [["O1", "new"], ["O2", "new"], ["O3", "old"]]
    got = warehouse.query("SELECT partition_key, reason FROM {schema}.rejected_rows ORDER BY reason")
    assert got.values.tolist() == [[None, "new"], ["2024-05-01", "other partition"], ["2024-05-02", "x"]]


def test_append_and_empty_frames(warehouse: Warehouse) -> None:
    log = pd.DataFrame(
        {
            "run_id": ["r1"],
            "sync_type": ["prices"],
            "status": ["partial"],
            "api_calls": [12],
            "started_at": [AT],
            "completed_at": [AT + timedelta(seconds=3)],
        }
    )
    with warehouse.transaction() as tx:
        assert tx.append("sync_log", log) == 1
        assert tx.append("sync_log", log) == 1
        assert tx.append("sync_log", log.iloc[:0]) == 0
        assert tx.upsert("products", pd.DataFrame()) == 0
    assert warehouse.table_counts()["sync_log"] == 2


def test_exception_in_transaction_leaves_every_table_as_before(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        tx.upsert("products", product_frame(["A", "B"]))
        tx.upsert("prices", price_frame({"A": Decimal("1"), "B": Decimal("2")}))
        tx.scd2("price_history", price_frame({"A": Decimal("1")}), ["product_code"], ["supply_price"], AT)
        tx.append("stock_snapshots", stock_frame(DAY, ["A"]))
    before = snapshot(warehouse)

    with pytest.raises(RuntimeError, match="boom"), warehouse.transaction() as tx:
        tx.upsert("products", product_frame(["A", "C"], active=False, model="x"))
        tx.upsert("prices", price_frame({"A": Decimal("9"), "C": Decimal("3")}))
        tx.scd2(
            "price_history",
            price_frame({"A": Decimal("9")}),
            ["product_code"],
            ["supply_price"],
            AT + timedelta(1),
        )
        tx.replace("stock_snapshots", stock_frame(DAY, ["B"]), {"snapshot_date": [DAY]})
        tx.upsert("catalog", pd.DataFrame({"product_code": ["A"]}))
        tx.append("sync_log", pd.DataFrame({"sync_type": ["x"], "status": ["failed"]}))
        tx.execute("DELETE FROM {schema}.products WHERE product_code = 'B'")
        assert tx.query("SELECT COUNT(*) AS n FROM {schema}.products")["n"][0] == 2
        raise RuntimeError("boom")

    assert_same_contents(before, snapshot(warehouse))


def test_database_error_mid_transaction_rolls_back_and_surfaces(warehouse: Warehouse) -> None:
    before = snapshot(warehouse)
    with pytest.raises(Exception, match=r"(?i)check") as caught, warehouse.transaction() as tx:
        tx.upsert("products", product_frame(["A"]))
        tx.append("sync_log", pd.DataFrame({"sync_type": ["prices"], "status": ["done"]}))
    assert not isinstance(caught.value, WarehouseError)
    assert_same_contents(before, snapshot(warehouse))


def test_reads_inside_and_outside_a_transaction(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        tx.upsert("products", product_frame(["A"]))
        assert tx.query("SELECT COUNT(*) AS n FROM {schema}.products")["n"][0] == 1
        # A plain read while this process is writing neither deadlocks nor sees uncommitted rows.
        assert warehouse.query("SELECT COUNT(*) AS n FROM {schema}.products")["n"][0] == 0
    assert warehouse.query("SELECT COUNT(*) AS n FROM {schema}.products")["n"][0] == 1


def test_a_finished_transaction_cannot_be_reused(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        pass
    with pytest.raises(WarehouseError, match="has ended"):
        tx.upsert("products", product_frame(["A"]))


def test_query_parameters_casts_and_literals(warehouse: Warehouse) -> None:
    with warehouse.transaction() as tx:
        tx.upsert("products", product_frame(["A", "B", "C"]))
    got = warehouse.query(
        "SELECT product_code, '50%: :not_a_param' AS lit, CAST(:n AS INTEGER) + 1 AS n1, 2::BIGINT AS two "
        "FROM {schema}.products WHERE product_code = ANY(:codes) AND brand = :brand ORDER BY 1",
        {"codes": ["A", "C"], "brand": "Haier", "n": 41},
    )
    assert got["product_code"].tolist() == ["A", "C"]
    assert got["lit"][0] == "50%: :not_a_param"
    assert got["n1"][0] == 42 and got["two"][0] == 2
    with pytest.raises(KeyError, match=":missing"):
        warehouse.query("SELECT :missing AS x")


def test_now_is_timezone_aware_utc(warehouse: Warehouse) -> None:
    got = warehouse.query("SELECT CAST(:t AS TIMESTAMP WITH TIME ZONE) AS t", {"t": datetime(2024, 1, 1, tzinfo=UTC)})
    assert got["t"][0] == datetime(2024, 1, 1, tzinfo=UTC)
