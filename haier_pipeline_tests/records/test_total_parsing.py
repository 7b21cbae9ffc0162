"""Property: whatever JSON the vendor sends, every record's parse ends in typed rows, NULLed descriptive
values with anomalies, refused rows, or `UnusableAnswer`; never another exception, and never a row the
gate or the database refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haier_pipeline.endpoints import endpoints
from haier_pipeline.endpoints.stock_snapshots import STOCK_ROW
from haier_pipeline.records import Record, UnusableAnswer
from haier_pipeline.validation import validate
from haier_pipeline.warehouse.convert import convert_frame
from haier_pipeline.warehouse.warehouse import Warehouse

RECORDS = tuple(endpoint.record for endpoint in endpoints() if endpoint.record is not None)

NOW = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
CONTEXT = {
    "snapshot_date": date(2026, 11, 26),
    "product_code": "GA0SZC00U",
    "county_code": "110101",
    "fetched_at": NOW,
    "order_code": "SO.20190106.000003",
    "source_list": "getStockDeliveryLogisticsRecord",
}
TABLE_OF = {
    "products": "products",
    "prices": "prices",
    "stock": "stock_snapshots",
    "balance": "account_balances",
    "logistics": "logistics_events",
}

# What JSON carries, as the client decodes it (floats arrive as Decimal), plus the nasty corners.
nasty_text = st.sampled_from(
    [
        "",
        " ",
        "NaN",
        "Infinity",
        "-inf",
        "1e999999999",
        "-0",
        "0x1F",
        "1,000",
        "价格未生效",
        "24小时",
        "COM",
        "\x00",
        "a\x00b",
        "\ud800",
        "2026-13-40",
        "2026-11-27T20:30:00Z",
        "9999-12-31T23:00:00-05:00",
        "０１",
    ]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    nasty_text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


# Keys and measures are valid half the time, so that most rows are kept and their other values reach storage.
VALID = {
    "productCode": st.sampled_from(["GA0SZC00U", "BB1ABC12D", "A1"]),
    "saleGroupCode": st.sampled_from(["GA01", "GC02"]),
    "stock": st.sampled_from(["0", "30", 7, Decimal("12")]),
    "payerAccountBalance": st.sampled_from([Decimal("1.50"), "-3", 0]),
}


def vendor_rows(record: Record) -> st.SearchStrategy[Any]:
    """Rows that use the record's own keys (so values reach every parser) mixed with anything at all."""
    keys = sorted({f.vendor.split(".")[0] for f in record.fields if f.vendor} | {"unknownKey"})
    nested = {f.vendor.split(".")[1] for f in record.fields if f.vendor and "." in f.vendor}
    value = json_values | st.dictionaries(st.sampled_from(sorted(nested) or ["x"]), scalars, max_size=4)
    required = {key: st.one_of(VALID[key], json_values) for key in keys if key in VALID}
    optional = {key: value for key in keys if key not in VALID}
    row = st.fixed_dictionaries(required, optional=optional)
    return st.lists(row | json_values, max_size=6) | json_values


@pytest.mark.parametrize("record", RECORDS, ids=lambda record: record.endpoint)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_answer_parses_to_rows_the_gate_and_the_warehouse_accept(record: Record, data: st.DataObject) -> None:
    answer = data.draw(vendor_rows(record))
    try:
        parsed = record.parse(answer, CONTEXT)
    except UnusableAnswer as error:
        assert record.endpoint in str(error)
        assert not isinstance(answer, list | dict) and answer is not None
        return
    expected_inputs = len(answer) if isinstance(answer, list) else (0 if answer is None else 1)
    assert parsed.inputs == expected_inputs, "every input counted exactly once"
    if parsed.rows:
        kept = len(parsed.rows)
        assert validate(parsed) == [] and len(parsed.rows) == kept, "the gate agrees with the parse"
        convert_frame(WAREHOUSE.tables[TABLE_OF[record.endpoint]], parsed.frame())  # raises on what no column holds
    stored_text = [r.reason + r.payload for r in parsed.refused] + [a.raw_value + a.reason for a in parsed.anomalies]
    assert all("\x00" not in text and text.encode("utf-8") for text in stored_text)


def test_a_signalling_nan_in_a_flag_is_an_anomaly_not_a_crash() -> None:
    """Found by the property above: Decimal("sNaN") raised on the `in ("1", 1)` comparison."""
    answer = [{"secCode": "S1", "stock": "3", "timelinessData": {"isTranfer": Decimal("sNaN")}}]
    parsed = STOCK_ROW.parse(answer, CONTEXT)
    assert [row["stock"] for row in parsed.rows] == [3] and parsed.rows[0]["is_transfer"] is None
    assert [(anomaly.field, anomaly.reason) for anomaly in parsed.anomalies] == [("is_transfer", 'is not "1" or "0"')]


WAREHOUSE = Warehouse.from_url("duckdb:///:memory:")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=vendor_rows(STOCK_ROW))
def test_parsed_stock_rows_are_stored_by_a_real_database(answer: Any) -> None:
    try:
        parsed = STOCK_ROW.parse(answer, CONTEXT)
    except UnusableAnswer:
        return
    WAREHOUSE.ensure_schema()
    with WAREHOUSE.transaction() as tx:
        tx.replace("stock_snapshots", parsed.frame(), {"snapshot_date": [CONTEXT["snapshot_date"]]})
        stored = tx.query("SELECT * FROM {schema}.stock_snapshots ORDER BY sec_code NULLS FIRST")
    assert len(stored) == len(parsed.rows)
    assert sorted(stored["stock"].astype(int)) == sorted(row["stock"] for row in parsed.rows)


def test_nasty_values_round_trip_through_postgres() -> None:
    """The values hypothesis finds hardest, stored by the real Postgres (the property above uses DuckDB)."""
    from haier_pipeline_tests.postgres import POSTGRES_URL, require_postgres

    require_postgres()
    rows = [
        {"secCode": "S1", "stock": "2147483647", "warehouseGrade": "\ud800a\x00b", "timelinessData": "48h"},
        {"secCode": "S2", "stock": 0, "timelinessData": {"achieveUserOrderCut": "9999-12-31", "hour": "-0"}},
        {"secCode": "S3", "stock": Decimal("5E+0"), "timelinessData": {"cutTime": "价格未生效", "isTranfer": 1}},
    ]
    parsed = STOCK_ROW.parse(rows, CONTEXT)
    assert len(parsed.rows) == 3 and parsed.anomalies
    import uuid

    import psycopg

    schema = f"haier_test_{uuid.uuid4().hex[:10]}"
    warehouse = Warehouse.from_url(POSTGRES_URL, schema)
    warehouse.ensure_schema()
    try:
        with warehouse.transaction() as tx:
            tx.append("stock_snapshots", parsed.frame())
        stored = warehouse.query("SELECT warehouse_grade, stock FROM {schema}.stock_snapshots ORDER BY stock")
        assert stored["stock"].tolist() == [0, 5, 2147483647]
        assert pd.isna(stored["warehouse_grade"].iloc[2]), "a lone surrogate is not stored: the value is NULL"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
